/*
 * checks.c: the threat checks, run once on a background queue
 * (dispatch_async_f), and Threat-Events.
 *
 * An event is posted to the app's local notification center
 * (CFNotificationCenterGetLocalCenter, which is NSNotificationCenter's
 * defaultCenter) under "<bundle id>.trustfuse.THREAT" with a userInfo of
 * NSString keys and values built by the core (the Android extras). Defend
 * withholds the identity and refuses protected hosts (urlsession.c reads
 * tf_g_defended), and exits 2 s later when exitOnDefend is set; a detect
 * event under failSafe.enforce is enforced after failSafe.afterMs unless the
 * app calls TrustFuseAcknowledge(threatCode).
 */
#include "glue.h"

static os_unfair_lock lock;
static int total;
static char acked[8][16];
char tf_g_device_id[65];
static char fired[8][16];
static char os_version[32], device_model[64];

static void exit_now(void *ctx)
{
	(void)ctx;
	tf_log("exiting (exitOnDefend)", NULL);
	exit(78);
}

static void defend(const char *threat)
{
	tf_g_defended = 1;
	tf_log("enforcing defense against ", threat);
	const char *e = tf_policy_get(tf_g_policy, "exitOnDefend");
	if (e && !strcmp(e, "true"))
		dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, 2000 * NSEC_PER_MSEC),
				 dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), NULL, exit_now);
}

static bool is_acked(const char *threat)
{
	bool r = false;
	os_unfair_lock_lock(&lock);
	for (size_t i = 0; i < 8 && !r; i++)
		r = !strcmp(acked[i], threat);
	os_unfair_lock_unlock(&lock);
	return r;
}

/* TrustFuseAcknowledge tells the runtime the app acted on a detect event
 * (fail-safe enforcement is then skipped). Exported: apps call it through
 * dlsym(RTLD_DEFAULT, "TrustFuseAcknowledge"). */
__attribute__((visibility("default"))) void TrustFuseAcknowledge(const char *threat)
{
	os_unfair_lock_lock(&lock);
	for (size_t i = 0; i < 8; i++)
		if (!acked[i][0] || !strcmp(acked[i], threat)) {
			snprintf(acked[i], sizeof acked[i], "%s", threat);
			break;
		}
	os_unfair_lock_unlock(&lock);
}

static void failsafe(void *ctx)
{
	const char *threat = ctx;
	if (!is_acked(threat)) {
		tf_log("fail-safe: threat not acknowledged in time: ", threat);
		defend(threat);
	}
}

static void post(tf_kv *kv, size_t n)
{
	const void *keys[40], *vals[40];
	size_t m = 0;
	for (size_t i = 0; i < n && m < 40; i++, m++) {
		keys[m] = tf_nsstring(kv[i].key);
		vals[m] = tf_nsstring(kv[i].value ? kv[i].value : "");
	}
	CFDictionaryRef info = CFDictionaryCreate(NULL, keys, vals, (CFIndex)m, &kCFTypeDictionaryKeyCallBacks,
						  &kCFTypeDictionaryValueCallBacks);
	char name[300];
	snprintf(name, sizeof name, "%s.trustfuse.THREAT", tf_g_bundle);
	id nm = tf_nsstring(name);
	CFNotificationCenterPostNotification(CFNotificationCenterGetLocalCenter(), (CFStringRef)nm, NULL, info, true);
	CFRelease(nm);
	CFRelease(info);
	for (size_t i = 0; i < m; i++) {
		CFRelease(keys[i]);
		CFRelease(vals[i]);
	}
}

void tf_threat(const char *threat, const char *reason_code, const char *reason_data)
{
	if (!tf_g_policy)
		return;
	tf_device dev = {tf_g_device_id, os_version, device_model};
	tf_kv kv[40];
	size_t n = 0;
	os_unfair_lock_lock(&lock);
	int mode = tf_threat_event(tf_g_policy, threat, reason_code, reason_data, &dev, &total, kv, 40, &n);
	os_unfair_lock_unlock(&lock);
	if (mode == TF_MODE_OFF)
		return;
	os_unfair_lock_lock(&lock);
	for (size_t i = 0; i < 8; i++)
		if (!fired[i][0] || !strcmp(fired[i], threat)) {
			snprintf(fired[i], sizeof fired[i], "%s", threat);
			break;
		}
	os_unfair_lock_unlock(&lock);
	tf_log("threat ", threat);
	const char *ev = tf_policy_get(tf_g_policy, "events");
	if (ev && !strcmp(ev, "true"))
		post(kv, n);
	for (size_t i = 0; i < n; i++)
		free(kv[i].value);
	const char *fs = tf_policy_get(tf_g_policy, "failSafe.enforce");
	const char *after = tf_policy_get(tf_g_policy, "failSafe.afterMs");
	if (mode == TF_MODE_DEFEND) {
		defend(threat);
	} else if (fs && !strcmp(fs, "true")) {
		int64_t ms = 0;
		for (const char *c = after; c && *c >= '0' && *c <= '9'; c++)
			ms = ms * 10 + (*c - '0');
		dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, ms * NSEC_PER_MSEC),
				 dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), (void *)threat, failsafe);
	}
}

void tf_threats_json(char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "[");
	os_unfair_lock_lock(&lock);
	for (size_t i = 0; i < 8 && fired[i][0] && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s\"%s\"", i ? "," : "", fired[i]);
	os_unfair_lock_unlock(&lock);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static bool contains_fold(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	for (; *s; s++) {
		size_t i = 0;
		while (i < n && s[i] && (s[i] | 0x20) == needle[i])
			i++;
		if (i == n)
			return true;
	}
	return false;
}

static void check_debugger(void)
{
	int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, getpid()};
	uint8_t info[KINFO_PROC_SIZE] = {0};
	size_t len = sizeof info;
	if (sysctl(mib, 4, info, &len, NULL, 0) == 0 && len == sizeof info) {
		int32_t flag;
		memcpy(&flag, info + KINFO_P_FLAG_OFFSET, sizeof flag);
		if (flag & P_TRACED)
			tf_threat("debugger", "P_TRACED", "sysctl");
	}
}

static void check_jailbreak(void)
{
	static const char *const paths[] = {
		"/Applications/Cydia.app", "/Applications/Sileo.app", "/Applications/Zebra.app",
		"/Library/MobileSubstrate/MobileSubstrate.dylib", "/usr/sbin/sshd", "/usr/bin/ssh", "/bin/bash",
		"/etc/apt", "/private/var/lib/apt", "/var/jb", "/var/binpack", "/usr/libexec/cydia", "/.bootstrapped",
	};
	for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
		if (access(paths[i], F_OK) == 0) {
			tf_threat("root", "JAILBREAK_PATH", paths[i]);
			return;
		}
	/* Sandbox escape probes: an App Store sandbox cannot write outside its
	 * container, and fork fails (EPERM). */
	int fd = open("/private/trustfuse-probe", O_WRONLY | O_CREAT, 0644);
	if (fd >= 0) {
		close(fd);
		unlink("/private/trustfuse-probe");
		tf_threat("root", "SANDBOX_WRITE", "/private");
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		tf_threat("root", "SANDBOX_FORK", "fork");
		return;
	}
	const char *ins = getenv("DYLD_INSERT_LIBRARIES");
	if (ins && *ins)
		tf_threat("root", "DYLD_INSERT_LIBRARIES", ins);
}

static void check_hooking(void)
{
	static const char *const libs[] = {
		"frida", "cynject", "mobilesubstrate", "substrate", "libhooker", "substitute", "tweakinject",
		"sslkillswitch", "libcycript",
	};
	for (uint32_t i = 0, n = _dyld_image_count(); i < n; i++) {
		const char *name = _dyld_get_image_name(i);
		for (size_t j = 0; name && j < sizeof libs / sizeof *libs; j++)
			if (contains_fold(name, libs[j])) {
				tf_threat("hooking", "HOOK_LIBRARY", name);
				return;
			}
	}
}

/* check_tamper: the app must be the one fused: its bundle id is the
 * policy's package and (team id, bundle id) is an allowed signer. The
 * executable's cdhash cannot be in the policy (the policy is sealed in
 * CodeResources, which the executable's signature covers): serve checks it
 * through the attestation measurement. */
static void check_tamper(void)
{
	const char *pkg = tf_policy_get(tf_g_policy, "package");
	uint8_t d[32];
	tf_ios_signer_digest(tf_g_team, tf_g_bundle, d);
	if (!tf_g_team[0])
		tf_threat("tamper", "SIGNATURE_UNREADABLE", "main executable");
	else if (pkg && *pkg && strcmp(pkg, tf_g_bundle))
		tf_threat("tamper", "BUNDLE_ID_MISMATCH", tf_g_bundle);
	else if (!tf_policy_signer_allowed(tf_g_policy, d))
		tf_threat("tamper", "SIGNER_MISMATCH", tf_g_team);
}

static void device_info(void)
{
	/* deviceID: hex SHA-256 of identifierForVendor (UIKit, present in
	 * every app); a random per-process id when it is unavailable. */
	uint8_t h[32];
	id dev = MSG(id)(CLS("UIDevice"), SEL_("currentDevice"));
	const char *idfv = dev ? tf_utf8(MSG(id)(MSG(id)(dev, SEL_("identifierForVendor")), SEL_("UUIDString"))) : NULL;
	const char *ver = dev ? tf_utf8(MSG(id)(dev, SEL_("systemVersion"))) : NULL;
	if (idfv) {
		tf_sha256((const uint8_t *)idfv, strlen(idfv), h);
	} else {
		arc4random_buf(h, sizeof h);
	}
	for (int i = 0; i < 32; i++)
		snprintf(tf_g_device_id + 2 * i, 3, "%02x", h[i]);
	snprintf(os_version, sizeof os_version, "%s", ver ? ver : "");
	size_t len = sizeof device_model - 1;
	if (sysctlbyname("hw.machine", device_model, &len, NULL, 0) != 0)
		device_model[0] = 0;
}

static void run(void *ctx)
{
	(void)ctx;
	device_info();
	if (tf_policy_mode(tf_g_policy, "tamper") != TF_MODE_OFF)
		check_tamper();
	if (tf_policy_mode(tf_g_policy, "debugger") != TF_MODE_OFF)
		check_debugger();
	if (tf_policy_mode(tf_g_policy, "root") != TF_MODE_OFF)
		check_jailbreak();
	if (tf_policy_mode(tf_g_policy, "hooking") != TF_MODE_OFF)
		check_hooking();
}

void tf_checks_start(void)
{
	dispatch_async_f(dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_BACKGROUND, 0), NULL, run);
}
