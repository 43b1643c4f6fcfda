/*
 * attest.c: the attestation client (docs/attestation.md, as on Android):
 * POST {} to <attest.endpoint>/v1/challenge, read "nonce"; POST the body the
 * core builds (tf_attest_request: the iOS measurement, proof, deviceInfo,
 * threats) to /v1/attest; cache "token" for three quarters of
 * attest.tokenTtlMs (serve's expiresAt is not read here). Runs on a
 * background queue, never on the caller of a task factory. Responses are
 * read with NSJSONSerialization.
 *
 * App Attest, when the policy's attest.appAttest is optional or required:
 * DeviceCheck is dlopen'ed then (so an app that does not ask never loads
 * it, and the binary gains no load command), DCAppAttestService is reached
 * by name, and, when -isSupported, the key id of a Secure Enclave key is
 * attested with clientDataHash = SHA-256(nonceRaw) (serve's check). The key
 * id is kept in NSUserDefaults: it is not secret (the SHA-256 of the public
 * key; the private key never leaves the Secure Enclave) and, unlike a
 * keychain item, it is deleted with the app, as the key is. A key that
 * cannot be attested (e.g. an id restored from another device's backup) is
 * forgotten and one new key is made. No object is sent when the device
 * cannot make one; serve then refuses a required release
 * (app_attest_missing).
 *
 * Attested identity (mtls.identity attested or attested-or-embedded, when
 * identity.c says a certificate is due): the challenge's nonce goes to POST
 * /v1/certificate instead, with App Attest always (whatever
 * attest.appAttest says) over SHA-256(nonceRaw || SPKI of the Secure
 * Enclave identity key); its answer brings the certificate and the token.
 */
#include "glue.h"

static os_unfair_lock lock;
static char token[2048];
static long token_until;
static bool running;

struct reply {
	dispatch_semaphore_t done;
	long status;
	char *body;
	size_t len;
};

/* post sends body as JSON to url through the runtime's session (so the
 * challenge hooks apply) and waits up to 30 s. The reply is heap memory: a
 * late completion after a timeout still writes to live memory. */
static struct reply *post(const char *url, const char *body)
{
	struct reply *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->done = dispatch_semaphore_create(0);
	id u = tf_nsstring(url);
	id nsurl = MSG(id, id)(CLS("NSURL"), SEL_("URLWithString:"), u);
	CFRelease(u);
	if (!nsurl)
		return r;
	id req = MSG(id, id)(CLS("NSMutableURLRequest"), SEL_("requestWithURL:"), nsurl);
	MSG(void, id)(req, SEL_("setHTTPMethod:"), (id)CFSTR("POST"));
	MSG(void, id, id)(req, SEL_("setValue:forHTTPHeaderField:"), (id)CFSTR("application/json"), (id)CFSTR("Content-Type"));
	MSG(void, id)(req, SEL_("setHTTPBody:"), MSG(id, const void *, NSUInteger)(CLS("NSData"), SEL_("dataWithBytes:length:"), body, strlen(body)));
	static id session;
	if (!session)
		session = MSG(id)(tf_session(), SEL_("retain"));
	id task = MSG(id, id, void *)(session, SEL_("dataTaskWithRequest:completionHandler:"), req, ^(id data, id resp, id err) {
		if (!err && resp) {
			r->status = MSG(NSInteger)(resp, SEL_("statusCode"));
			size_t n = data ? MSG(NSUInteger)(data, SEL_("length")) : 0;
			if ((r->body = malloc(n + 1))) {
				if (n)
					memcpy(r->body, MSG(const void *)(data, SEL_("bytes")), n);
				r->body[n] = 0;
				r->len = n;
			}
		}
		dispatch_semaphore_signal(r->done);
	});
	MSG(void)(task, SEL_("resume"));
	dispatch_semaphore_wait(r->done, dispatch_time(DISPATCH_TIME_NOW, 30000 * NSEC_PER_MSEC));
	return r;
}

/* json_field copies obj[key] (an NSString) into out. */
static bool json_field(const struct reply *r, const char *key, char *out, size_t cap)
{
	id obj = r && r->status == 200 && r->body ? tf_json_object(r->body, r->len) : nil;
	id k = tf_nsstring(key);
	id v = obj ? MSG(id, id)(obj, SEL_("objectForKey:"), k) : nil;
	CFRelease(k);
	const char *s = v && MSG(BOOL, id)(v, SEL_("isKindOfClass:"), CLS("NSString")) ? tf_utf8(v) : NULL;
	return s && snprintf(out, cap, "%s", s) < (int)cap;
}

static void info_string(const char *key, char *out, size_t cap)
{
	id k = tf_nsstring(key);
	CFStringRef v = CFBundleGetValueForInfoDictionaryKey(CFBundleGetMainBundle(), (CFStringRef)k);
	CFRelease(k);
	if (!v || !CFStringGetCString(v, out, (CFIndex)cap, kCFStringEncodingUTF8))
		out[0] = 0;
}

#define APP_ATTEST_KEY_ID "io.trustfuse.appAttestKeyId"

/* An App Attest completion: a key id (generateKey) or a base64 object
 * (attestKey). Heap memory, never freed after a timeout, like post's. */
struct aa_reply {
	dispatch_semaphore_t done;
	bool ok;
	char key_id[128];
	char *object;
};

static struct aa_reply *aa_new(void)
{
	struct aa_reply *r = calloc(1, sizeof *r);
	if (r)
		r->done = dispatch_semaphore_create(0);
	return r;
}

/* aa_wait waits up to 30 s; false on timeout (then r stays allocated). */
static bool aa_wait(struct aa_reply *r)
{
	return dispatch_semaphore_wait(r->done, dispatch_time(DISPATCH_TIME_NOW, 30000 * NSEC_PER_MSEC)) == 0;
}

/* app_attest_service is DCAppAttestService.sharedService when always (a
 * certificate request) or the policy asks for App Attest, and the device
 * supports it; else nil. */
static id app_attest_service(bool always)
{
	const char *mode = tf_policy_get(tf_g_policy, "attest.appAttest");
	if (!always && (!mode || (strcmp(mode, "optional") != 0 && strcmp(mode, "required") != 0)))
		return nil;
	if (!CLS("DCAppAttestService"))
		dlopen("/System/Library/Frameworks/DeviceCheck.framework/DeviceCheck", RTLD_LAZY);
	id cls = CLS("DCAppAttestService");
	id svc = cls ? MSG(id)(cls, SEL_("sharedService")) : nil;
	return svc && MSG(BOOL)(svc, SEL_("isSupported")) ? svc : nil;
}

/* generate_key makes a new App Attest key and returns its id (in r). */
static struct aa_reply *generate_key(id svc)
{
	struct aa_reply *r = aa_new();
	if (!r)
		return NULL;
	MSG(void, void *)(svc, SEL_("generateKeyWithCompletionHandler:"), ^(id key_id, id err) {
		const char *s = !err && key_id ? tf_utf8(key_id) : NULL;
		r->ok = s && *s && snprintf(r->key_id, sizeof r->key_id, "%s", s) < (int)sizeof r->key_id;
		dispatch_semaphore_signal(r->done);
	});
	return aa_wait(r) ? r : NULL;
}

/* attest_key attests key_id for cdh and returns the object (in r). */
static struct aa_reply *attest_key(id svc, const char *key_id, const uint8_t cdh[32])
{
	struct aa_reply *r = aa_new();
	if (!r)
		return NULL;
	id kid = tf_nsstring(key_id);
	id hash = MSG(id, const void *, NSUInteger)(CLS("NSData"), SEL_("dataWithBytes:length:"), cdh, 32);
	MSG(void, id, id, void *)(svc, SEL_("attestKey:clientDataHash:completionHandler:"), kid, hash, ^(id obj, id err) {
		id b64 = !err && obj ? MSG(id, NSUInteger)(obj, SEL_("base64EncodedStringWithOptions:"), 0) : nil;
		const char *s = b64 ? tf_utf8(b64) : NULL;
		if (s && (r->object = malloc(strlen(s) + 1))) {
			memcpy(r->object, s, strlen(s) + 1);
			r->ok = true;
		}
		dispatch_semaphore_signal(r->done);
	});
	CFRelease(kid);
	return aa_wait(r) ? r : NULL;
}

/* app_attest fills key_id and *object (standard base64, the caller frees
 * it) with svc for the clientDataHash cdh, or returns false. */
static bool app_attest(id svc, const uint8_t cdh[32], char *key_id, size_t cap, char **object)
{
	id defaults = MSG(id)(CLS("NSUserDefaults"), SEL_("standardUserDefaults"));
	id dkey = tf_nsstring(APP_ATTEST_KEY_ID);
	bool ok = false;
	for (int fresh = 0; fresh < 2 && !ok; fresh++) {
		id stored = fresh ? nil : MSG(id, id)(defaults, SEL_("stringForKey:"), dkey);
		const char *s = stored ? tf_utf8(stored) : NULL;
		if (s && *s) {
			if (snprintf(key_id, cap, "%s", s) >= (int)cap)
				continue;
		} else {
			if (!fresh)
				continue; /* nothing stored: the next round makes a key */
			struct aa_reply *g = generate_key(svc);
			bool made = g && g->ok && snprintf(key_id, cap, "%s", g->key_id) < (int)cap;
			free(g);
			if (!made)
				break;
			id v = tf_nsstring(key_id);
			MSG(void, id, id)(defaults, SEL_("setObject:forKey:"), v, dkey);
			CFRelease(v);
		}
		struct aa_reply *a = attest_key(svc, key_id, cdh);
		ok = a && a->ok;
		if (ok)
			*object = a->object;
		else if (a)
			free(a->object);
		free(a);
		if (!ok && !fresh)
			MSG(void, id)(defaults, SEL_("removeObjectForKey:"), dkey);
	}
	CFRelease(dkey);
	if (!ok)
		tf_log("attestation: no App Attest object", NULL);
	return ok;
}

/* attest_object is app_attest for /v1/attest: clientDataHash =
 * SHA-256(nonceRaw), when the policy asks for App Attest. */
static bool attest_object(const char *nonce, char *key_id, size_t cap, char **object)
{
	id svc = app_attest_service(false);
	uint8_t raw[128], cdh[32];
	int n = svc ? tf_base64url_decode(nonce, strlen(nonce), raw, sizeof raw) : -1;
	if (n < 0)
		return false;
	tf_sha256(raw, (size_t)n, cdh);
	return app_attest(svc, cdh, key_id, cap, object);
}

enum { CERT_OK, CERT_FAILED, CERT_UNABLE };

/* certificate asks serve to certify the Secure Enclave identity key
 * (identity.c): App Attest over SHA-256(nonceRaw || SPKI), POST the core's
 * /v1/certificate body, install the answer and copy its token to tok
 * (valid until *until). CERT_UNABLE: the device cannot attest a key;
 * CERT_FAILED: refused, offline or malformed (the current identity stays). */
static int certificate(const char *ep, const char *nonce, const tf_ios_measurement *m, char *tok, size_t cap, long *until)
{
	static char body[32768];
	uint8_t spki[TF_P256_SPKI_SIZE], cdh[32];
	char url[1024], aa_key[128];
	char *aa_object = NULL;
	id svc = app_attest_service(true);
	if (!svc || !tf_identity_key(spki))
		return CERT_UNABLE;
	if (tf_identity_client_data_hash(nonce, spki, sizeof spki, cdh) != TF_OK ||
	    !app_attest(svc, cdh, aa_key, sizeof aa_key, &aa_object))
		return CERT_FAILED;
	int rc = tf_certificate_request(m, nonce, tf_g_identity.attest_key, tf_g_identity.attest_keylen, tf_g_device_id,
					tf_threats_fired(), aa_key, aa_object, spki, sizeof spki, body, sizeof body);
	free(aa_object);
	if (rc != TF_OK)
		return CERT_FAILED;
	snprintf(url, sizeof url, "%s/v1/certificate", ep);
	struct reply *r = post(url, body);
	uint8_t *buf = r && r->status == 200 && r->body ? malloc(r->len) : NULL;
	tf_issued is;
	int result = CERT_FAILED;
	if (buf && tf_certificate_response(r->body, r->len, buf, r->len, &is) == TF_OK && tf_identity_install(&is, spki) &&
	    snprintf(tok, cap, "%s", is.token) < (int)cap) {
		long now = time(NULL);
		*until = now + (long)(is.token_expires_at - now) * 3 / 4;
		result = CERT_OK;
	} else {
		tf_log("identity: no certificate from ", ep);
	}
	free(buf);
	if (r)
		free(r->body), free(r);
	return result;
}

static void fetch(void *ctx)
{
	(void)ctx;
	void *pool = objc_autoreleasePoolPush();
	const char *ep = tf_policy_get(tf_g_policy, "attest.endpoint");
	int64_t ttl = tf_policy_long(tf_g_policy, "attest.tokenTtlMs");
	static char body[32768];
	char url[1024], nonce[256], tok[2048], ver[64], build[64], aa_key[128];
	char *aa_object = NULL;
	struct reply *c = NULL, *a = NULL;
	long until = 0;
	/* No vault, or no identity and none to certify (an embedded one that did
	 * not install, a device that cannot attest): nothing to attest. */
	if (!ep || !*ep || !tf_g_identity.nchain || (!tf_g_credential && !tf_identity_due()))
		goto out;
	snprintf(url, sizeof url, "%s/v1/challenge", ep);
	c = post(url, "{}");
	if (!json_field(c, "nonce", nonce, sizeof nonce)) {
		tf_log("attestation: no challenge from ", ep);
		goto out;
	}
	info_string("CFBundleShortVersionString", ver, sizeof ver);
	info_string("CFBundleVersion", build, sizeof build);
	tf_ios_measurement m = {.bundle_id = tf_g_bundle, .team_id = tf_g_app_sig.team_id, .version = ver, .build = build};
	memcpy(m.app_cdhash, tf_g_app_sig.cdhash, 20);
	memcpy(m.runtime_cdhash, tf_g_rt_sig.cdhash, 20);
	if (tf_identity_due()) {
		int r = certificate(ep, nonce, &m, tok, sizeof tok, &until);
		if (r == CERT_OK)
			goto store;
		if (r == CERT_FAILED)
			goto out;
		tf_identity_unable();
		if (!tf_g_credential)
			goto out;
	}
	if (!attest_object(nonce, aa_key, sizeof aa_key, &aa_object))
		aa_key[0] = 0;
	if (tf_attest_request(&m, nonce, tf_g_identity.attest_key, tf_g_identity.attest_keylen, tf_g_device_id,
			      tf_threats_fired(), aa_key, aa_object, body, sizeof body) != TF_OK) {
		tf_log("attestation: cannot build the request", NULL);
		goto out;
	}
	snprintf(url, sizeof url, "%s/v1/attest", ep);
	a = post(url, body);
	if (!json_field(a, "token", tok, sizeof tok)) {
		tf_log("attestation refused by ", ep);
		goto out;
	}
	until = time(NULL) + (long)(ttl * 3 / 4000);
store:
	os_unfair_lock_lock(&lock);
	snprintf(token, sizeof token, "%s", tok);
	token_until = until;
	os_unfair_lock_unlock(&lock);
out:
	free(aa_object);
	if (c)
		free(c->body), free(c);
	if (a)
		free(a->body), free(a);
	os_unfair_lock_lock(&lock);
	running = false;
	os_unfair_lock_unlock(&lock);
	objc_autoreleasePoolPop(pool);
}

void tf_attest_refresh(void)
{
	os_unfair_lock_lock(&lock);
	bool start = !running;
	running = true;
	os_unfair_lock_unlock(&lock);
	if (start)
		dispatch_async_f(dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), NULL, fetch);
}

bool tf_token_copy(char *buf, size_t len)
{
	os_unfair_lock_lock(&lock);
	bool ok = token[0] && time(NULL) < token_until && strlen(token) < len;
	if (ok)
		memcpy(buf, token, strlen(token) + 1);
	os_unfair_lock_unlock(&lock);
	return ok;
}
