/*
 * urlsession.c: the NSURLSession hooks, installed by the constructor.
 *
 * Challenges. +[NSURLSession sessionWithConfiguration:delegate:delegateQueue:]
 * is replaced: a nil delegate becomes the runtime's own TFSessionDelegate;
 * an app delegate's class has its challenge handlers wrapped
 * (URLSession:didReceiveChallenge:completionHandler: and
 * URLSession:task:didReceiveChallenge:completionHandler:), or gets the
 * session-level one when it has neither (patch_delegate). Client
 * certificate and server trust challenges are session-wide: they reach the
 * session-level handler, or the task-level one when there is no
 * session-level handler. For a protected host
 * the runtime answers them (client identity; server chain evaluated against
 * the pinned CAs only); for any other host the app's own handler runs, or
 * default handling. +[NSURLSession sessionWithConfiguration:] and
 * +[NSURLSession sharedSession] return sessions with TFSessionDelegate (the
 * shared one is made once, from defaultSessionConfiguration).
 *
 * Token header. NSURLSession is a class cluster, so the request-taking task
 * factories are replaced on the concrete class of the first session made
 * (dataTask, uploadTask and downloadTask with a request, dataTask with a
 * URL): a request to a protected host gets a copy with the token header.
 * The cached token only: a hook never blocks the caller on the network.
 */
#include "glue.h"

static os_unfair_lock lock;

/* --- challenge handling -------------------------------------------------- */

typedef void (*sess_imp)(id, SEL, id, id, void *);
typedef void (*task_imp)(id, SEL, id, id, id, void *);

struct patched {
	Class cls;
	sess_imp sess; /* the class's own handlers (NULL: it had none) */
	task_imp task;
};
static struct patched classes[128];
static size_t nclasses;

static void complete(void *block, NSInteger disposition, id credential)
{
	struct tf_block *b = block;
	((void (*)(void *, NSInteger, id))b->invoke)(block, disposition, credential);
}

static const struct patched *lookup(id self)
{
	const struct patched *r = NULL;
	os_unfair_lock_lock(&lock);
	for (Class c = object_getClass(self); c && !r; c = class_getSuperclass(c))
		for (size_t i = 0; i < nclasses; i++)
			if (classes[i].cls == c) {
				r = &classes[i];
				break;
			}
	os_unfair_lock_unlock(&lock);
	return r;
}

/* answer handles a challenge for a protected host; false for other hosts. */
static bool answer(id challenge, void *block)
{
	if (!tf_g_policy)
		return false;
	id space = MSG(id)(challenge, SEL_("protectionSpace"));
	const char *host = tf_utf8(MSG(id)(space, SEL_("host")));
	const char *method = tf_utf8(MSG(id)(space, SEL_("authenticationMethod")));
	if (!host || !method || !tf_policy_host_protected(tf_g_policy, host))
		return false;
	if (!strcmp(method, "NSURLAuthenticationMethodClientCertificate")) {
		id cred = tf_identity_credential();
		if (tf_g_defended || (!cred && tf_identity_mode() == TF_ID_EMBEDDED))
			complete(block, TF_CancelAuthenticationChallenge, nil);
		else if (!cred) /* attested, none yet or expired: on without one (/v1/certificate needs none; the API refuses) */
			complete(block, TF_PerformDefaultHandling, nil);
		else
			complete(block, TF_UseCredential, cred);
		return true;
	}
	if (!strcmp(method, "NSURLAuthenticationMethodServerTrust")) {
		if (tf_g_defended) {
			complete(block, TF_CancelAuthenticationChallenge, nil);
			return true;
		}
		if (!tf_g_anchors)
			return false;
		SecTrustRef trust = (SecTrustRef)MSG(id)(space, SEL_("serverTrust"));
		if (trust && SecTrustSetAnchorCertificates(trust, tf_g_anchors) == errSecSuccess &&
		    SecTrustSetAnchorCertificatesOnly(trust, true) == errSecSuccess && SecTrustEvaluateWithError(trust, NULL)) {
			complete(block, TF_UseCredential, MSG(id, id)(CLS("NSURLCredential"), SEL_("credentialForTrust:"), (id)trust));
			return true;
		}
		tf_threat(TF_MITM, "PIN_MISMATCH", host);
		complete(block, TF_CancelAuthenticationChallenge, nil);
		return true;
	}
	return false;
}

static void hook_sess(id self, SEL cmd, id session, id challenge, void *block)
{
	if (answer(challenge, block))
		return;
	const struct patched *p = lookup(self);
	if (p && p->sess)
		p->sess(self, cmd, session, challenge, block);
	else
		complete(block, TF_PerformDefaultHandling, nil);
}

static void hook_task(id self, SEL cmd, id session, id task, id challenge, void *block)
{
	if (answer(challenge, block))
		return;
	const struct patched *p = lookup(self);
	if (p && p->task)
		p->task(self, cmd, session, task, challenge, block);
	else
		complete(block, TF_PerformDefaultHandling, nil);
}

static const char sess_types[] = "v@:@@@?", task_types[] = "v@:@@@@?";

/* patch_delegate installs the handlers on the delegate's class, once. A
 * class that inherits them from a patched superclass is left alone. The
 * handlers the class has (its own or inherited) are wrapped; a class with
 * neither gets the session-level one. A class with only the task-level one
 * keeps it alone: NSURLSession then sends it the session-wide challenges
 * too, and adding a session-level handler would take them from the app's
 * code for the hosts the runtime does not protect. */
static void patch_delegate(id delegate)
{
	Class c = object_getClass(delegate);
	SEL ss = SEL_("URLSession:didReceiveChallenge:completionHandler:");
	SEL ts = SEL_("URLSession:task:didReceiveChallenge:completionHandler:");
	os_unfair_lock_lock(&lock);
	Method ms = class_getInstanceMethod(c, ss), mt = class_getInstanceMethod(c, ts);
	bool done = (ms && method_getImplementation(ms) == (IMP)hook_sess) ||
		    (mt && method_getImplementation(mt) == (IMP)hook_task) || nclasses == sizeof classes / sizeof *classes;
	if (!done) {
		struct patched *p = &classes[nclasses++];
		p->cls = c;
		if (ms) {
			p->sess = (sess_imp)method_getImplementation(ms);
			class_replaceMethod(c, ss, (IMP)hook_sess, sess_types);
		}
		if (mt) {
			p->task = (task_imp)method_getImplementation(mt);
			class_replaceMethod(c, ts, (IMP)hook_task, task_types);
		}
		if (!ms && !mt)
			class_addMethod(c, ss, (IMP)hook_sess, sess_types);
	}
	os_unfair_lock_unlock(&lock);
}

static id own_delegate(void)
{
	static id d;
	static Class cls;
	os_unfair_lock_lock(&lock);
	if (!cls) {
		cls = objc_allocateClassPair((Class)CLS("NSObject"), "TFSessionDelegate", 0);
		if (cls) {
			class_addMethod(cls, SEL_("URLSession:didReceiveChallenge:completionHandler:"), (IMP)hook_sess, sess_types);
			objc_registerClassPair(cls);
		} else { /* the name is taken: another copy of the runtime made it */
			cls = (Class)CLS("TFSessionDelegate");
		}
		d = MSG(id)(MSG(id)((id)cls, SEL_("alloc")), SEL_("init"));
	}
	os_unfair_lock_unlock(&lock);
	return d;
}

/* --- token header ----------------------------------------------------- */

/* with_token returns req, or a copy carrying the token header when req goes
 * to a protected host (not the attestation endpoint itself). */
static id with_token(id req)
{
	if (!req || !tf_g_policy)
		return req;
	id url = MSG(id)(req, SEL_("URL"));
	const char *host = tf_utf8(MSG(id)(url, SEL_("host")));
	const char *abs = tf_utf8(MSG(id)(url, SEL_("absoluteString")));
	const char *ep = tf_policy_get(tf_g_policy, "attest.endpoint");
	const char *hdr = tf_policy_get(tf_g_policy, "attest.tokenHeader");
	if (!host || !abs || !tf_policy_host_protected(tf_g_policy, host) || (ep && *ep && !strncmp(abs, ep, strlen(ep))))
		return req;
	char tok[2048];
	if (!tf_token_copy(tok, sizeof tok)) {
		tf_log("no attestation token; request to a protected host sent without it", NULL);
		tf_attest_refresh();
		return req;
	}
	id m = MSG(id)(req, SEL_("mutableCopy"));
	id v = tf_nsstring(tok), k = tf_nsstring(hdr && *hdr ? hdr : "TrustFuse-Token");
	MSG(void, id, id)(m, SEL_("setValue:forHTTPHeaderField:"), v, k);
	CFRelease(v);
	CFRelease(k);
	return MSG(id)(m, SEL_("autorelease"));
}

enum { F_DATA, F_DATA_CH, F_UP_DATA, F_UP_FILE, F_UP_DATA_CH, F_UP_FILE_CH, F_DOWN, F_DOWN_CH, F_URL, F_URL_CH, NF };
static const char *const factories[NF] = {
	"dataTaskWithRequest:", "dataTaskWithRequest:completionHandler:",
	"uploadTaskWithRequest:fromData:", "uploadTaskWithRequest:fromFile:",
	"uploadTaskWithRequest:fromData:completionHandler:", "uploadTaskWithRequest:fromFile:completionHandler:",
	"downloadTaskWithRequest:", "downloadTaskWithRequest:completionHandler:",
	"dataTaskWithURL:", "dataTaskWithURL:completionHandler:",
};
static IMP orig[NF];

static id f0(id self, SEL cmd, id req, int f) { return ((id (*)(id, SEL, id))orig[f])(self, cmd, with_token(req)); }
static id f1(id self, SEL cmd, id req, id a, int f) { return ((id (*)(id, SEL, id, id))orig[f])(self, cmd, with_token(req), a); }
static id f2(id self, SEL cmd, id req, id a, id b, int f)
{
	return ((id (*)(id, SEL, id, id, id))orig[f])(self, cmd, with_token(req), a, b);
}
static id h_data(id s, SEL c, id r) { return f0(s, c, r, F_DATA); }
static id h_data_ch(id s, SEL c, id r, id h) { return f1(s, c, r, h, F_DATA_CH); }
static id h_up_data(id s, SEL c, id r, id d) { return f1(s, c, r, d, F_UP_DATA); }
static id h_up_file(id s, SEL c, id r, id u) { return f1(s, c, r, u, F_UP_FILE); }
static id h_up_data_ch(id s, SEL c, id r, id d, id h) { return f2(s, c, r, d, h, F_UP_DATA_CH); }
static id h_up_file_ch(id s, SEL c, id r, id u, id h) { return f2(s, c, r, u, h, F_UP_FILE_CH); }
static id h_down(id s, SEL c, id r) { return f0(s, c, r, F_DOWN); }
static id h_down_ch(id s, SEL c, id r, id h) { return f1(s, c, r, h, F_DOWN_CH); }
/* A URL becomes a request so that the header can be added. */
static id h_url(id s, SEL c, id u)
{
	(void)c;
	return h_data(s, SEL_(factories[F_DATA]), MSG(id, id)(CLS("NSURLRequest"), SEL_("requestWithURL:"), u));
}
static id h_url_ch(id s, SEL c, id u, id h)
{
	(void)c;
	return h_data_ch(s, SEL_(factories[F_DATA_CH]), MSG(id, id)(CLS("NSURLRequest"), SEL_("requestWithURL:"), u), h);
}
static const IMP hooks[NF] = {
	(IMP)h_data, (IMP)h_data_ch, (IMP)h_up_data, (IMP)h_up_file, (IMP)h_up_data_ch,
	(IMP)h_up_file_ch, (IMP)h_down, (IMP)h_down_ch, (IMP)h_url, (IMP)h_url_ch,
};

/* patch_factories replaces the task factories of the session's concrete
 * class, once (every session of this process shares that class). The URL
 * variants are patched only once the request variants they call are. */
static void patch_factories(id session)
{
	static Class done;
	Class c = session ? object_getClass(session) : NULL;
	os_unfair_lock_lock(&lock);
	if (c && !done) {
		done = c;
		for (int f = 0; f < NF; f++) {
			Method m = class_getInstanceMethod(c, SEL_(factories[f]));
			if (m && (f < F_URL || (orig[F_DATA] && orig[F_DATA_CH])))
				orig[f] = class_replaceMethod(c, SEL_(factories[f]), hooks[f], method_getTypeEncoding(m));
		}
	}
	os_unfair_lock_unlock(&lock);
}

/* --- session constructors ----------------------------------------------- */

typedef id (*ctor3)(id, SEL, id, id, id);
typedef id (*ctor1)(id, SEL, id);
typedef id (*ctor0)(id, SEL);
static ctor3 orig_ctor3;

static id h_ctor3(id cls, SEL cmd, id config, id delegate, id queue)
{
	if (delegate)
		patch_delegate(delegate);
	else
		delegate = own_delegate();
	id s = orig_ctor3(cls, cmd, config, delegate, queue);
	patch_factories(s);
	return s;
}

static id h_ctor1(id cls, SEL cmd, id config)
{
	(void)cmd;
	return h_ctor3(cls, SEL_("sessionWithConfiguration:delegate:delegateQueue:"), config, nil, nil);
}

static id h_shared(id cls, SEL cmd)
{
	(void)cmd;
	static id shared;
	static os_unfair_lock once;
	os_unfair_lock_lock(&once);
	if (!shared) {
		id config = MSG(id)(CLS("NSURLSessionConfiguration"), SEL_("defaultSessionConfiguration"));
		shared = MSG(id)(h_ctor3(cls, SEL_("sessionWithConfiguration:delegate:delegateQueue:"), config, nil, nil), SEL_("retain"));
	}
	os_unfair_lock_unlock(&once);
	return shared;
}

void tf_hooks_install(void)
{
	Class meta = object_getClass(CLS("NSURLSession"));
	if (!meta) {
		tf_log("NSURLSession missing; no hooks", NULL);
		return;
	}
	Method m3 = class_getInstanceMethod(meta, SEL_("sessionWithConfiguration:delegate:delegateQueue:"));
	Method m1 = class_getInstanceMethod(meta, SEL_("sessionWithConfiguration:"));
	Method m0 = class_getInstanceMethod(meta, SEL_("sharedSession"));
	if (!m3 || !m1 || !m0) {
		tf_log("NSURLSession lacks a session constructor; no hooks", NULL);
		return;
	}
	orig_ctor3 = (ctor3)method_getImplementation(m3);
	method_setImplementation(m3, (IMP)h_ctor3);
	method_setImplementation(m1, (IMP)h_ctor1);
	method_setImplementation(m0, (IMP)h_shared);
}

/* tf_session is the runtime's own session (attestation), with its delegate. */
id tf_session(void)
{
	id config = MSG(id)(CLS("NSURLSessionConfiguration"), SEL_("ephemeralSessionConfiguration"));
	return MSG(id, id, id, id)(CLS("NSURLSession"), SEL_("sessionWithConfiguration:delegate:delegateQueue:"), config, nil, nil);
}
