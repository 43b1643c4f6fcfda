/*
 * attest.c: the attestation client (docs/attestation.md, as on Android):
 * POST {} to <attest.endpoint>/v1/challenge, read "nonce"; POST the body the
 * core builds (tf_attest_request: the iOS measurement, proof, deviceInfo,
 * threats) to /v1/attest; cache "token" for three quarters of
 * attest.tokenTtlMs (serve's expiresAt is not read here). Runs on a
 * background queue, never on the caller of a task factory. Responses are
 * read with NSJSONSerialization.
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

static void fetch(void *ctx)
{
	(void)ctx;
	void *pool = objc_autoreleasePoolPush();
	const char *ep = tf_policy_get(tf_g_policy, "attest.endpoint");
	int64_t ttl = tf_policy_long(tf_g_policy, "attest.tokenTtlMs");
	static char body[16384];
	char url[1024], nonce[256], tok[2048], ver[64], build[64];
	struct reply *c = NULL, *a = NULL;
	if (!ep || !*ep || !tf_g_credential)
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
	if (tf_attest_request(&m, nonce, tf_g_identity.attest_key, tf_g_identity.attest_keylen, tf_g_device_id,
			      tf_threats_fired(), body, sizeof body) != TF_OK) {
		tf_log("attestation: cannot build the request", NULL);
		goto out;
	}
	snprintf(url, sizeof url, "%s/v1/attest", ep);
	a = post(url, body);
	if (!json_field(a, "token", tok, sizeof tok)) {
		tf_log("attestation refused by ", ep);
		goto out;
	}
	os_unfair_lock_lock(&lock);
	snprintf(token, sizeof token, "%s", tok);
	token_until = time(NULL) + (long)(ttl * 3 / 4000);
	os_unfair_lock_unlock(&lock);
out:
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
