/*
 * attest.c: the attestation client (docs/attestation.md, as on Android):
 * POST {} to <attest.endpoint>/v1/challenge, read "nonce"; POST the body the
 * core builds (nonce, proof over the measurement, deviceInfo, threats) to
 * /v1/attest; cache "token" for three quarters of attest.tokenTtlMs. Runs
 * on a background queue, never on the caller of a task factory.
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

static void fetch(void *ctx)
{
	(void)ctx;
	const char *ep = tf_policy_get(tf_g_policy, "attest.endpoint");
	const char *ttl = tf_policy_get(tf_g_policy, "attest.tokenTtlMs");
	char url[1024], nonce[256], tok[2048];
	char *m = NULL, *body = NULL;
	struct reply *c = NULL, *a = NULL;
	if (!ep || !*ep || !tf_g_credential)
		goto out;
	snprintf(url, sizeof url, "%s/v1/challenge", ep);
	c = post(url, "{}");
	if (!c || c->status != 200 || !c->body || tf_json_string(c->body, c->len, "nonce", nonce, sizeof nonce) != 0) {
		tf_log("attestation: no challenge from ", ep);
		goto out;
	}
	CFStringRef kv = CFSTR("CFBundleShortVersionString"), kb = CFSTR("CFBundleVersion");
	char ver[64] = "", build[64] = "";
	CFStringRef v = CFBundleGetValueForInfoDictionaryKey(CFBundleGetMainBundle(), kv);
	CFStringRef b = CFBundleGetValueForInfoDictionaryKey(CFBundleGetMainBundle(), kb);
	if (v)
		CFStringGetCString(v, ver, sizeof ver, kCFStringEncodingUTF8);
	if (b)
		CFStringGetCString(b, build, sizeof build, kCFStringEncodingUTF8);
	m = tf_measure(tf_g_policy, tf_g_bundle, tf_g_team, tf_g_app_cdhash, tf_g_rt_cdhash, ver, build);
	char threats[200];
	tf_threats_json(threats, sizeof threats);
	body = m ? tf_attest_body(&tf_g_identity, nonce, m, tf_g_device_id, threats) : NULL;
	snprintf(url, sizeof url, "%s/v1/attest", ep);
	a = body ? post(url, body) : NULL;
	if (!a || a->status != 200 || !a->body || tf_json_string(a->body, a->len, "token", tok, sizeof tok) != 0) {
		tf_log("attestation refused by ", ep);
		goto out;
	}
	long ms = 0;
	for (const char *p = ttl; p && *p >= '0' && *p <= '9'; p++)
		ms = ms * 10 + (*p - '0');
	os_unfair_lock_lock(&lock);
	snprintf(token, sizeof token, "%s", tok);
	token_until = time(NULL) + ms * 3 / 4000;
	os_unfair_lock_unlock(&lock);
out:
	free(m);
	free(body);
	if (c)
		free(c->body), free(c);
	if (a)
		free(a->body), free(a);
	os_unfair_lock_lock(&lock);
	running = false;
	os_unfair_lock_unlock(&lock);
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
