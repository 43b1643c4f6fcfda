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
static unsigned fired, acked;
char tf_g_device_id[65];
static char os_version[32], device_model[64], time_zone[64];

static void exit_now(void *ctx)
{
	(void)ctx;
	tf_log("exiting (exitOnDefend)", NULL);
	exit(78);
}

static void defend(int threat, bool exit_after)
{
	tf_g_defended = 1;
	tf_log("enforcing defense against ", tf_threat_code(threat));
	if (exit_after)
		dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, 2000 * NSEC_PER_MSEC),
				 dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), NULL, exit_now);
}

/* TrustFuseAcknowledge tells the runtime the app acted on a detect event
 * (fail-safe enforcement of that threat is then skipped). Exported: apps
 * call it through dlsym(RTLD_DEFAULT, "TrustFuseAcknowledge") with the
 * event's threatCode. */
__attribute__((visibility("default"))) void TrustFuseAcknowledge(const char *threat_code)
{
	for (int t = 0; t < TF_THREATS; t++)
		if (threat_code && !strcmp(tf_threat_code(t), threat_code)) {
			os_unfair_lock_lock(&lock);
			acked |= 1u << t;
			os_unfair_lock_unlock(&lock);
		}
}

unsigned tf_threats_fired(void)
{
	os_unfair_lock_lock(&lock);
	unsigned r = fired;
	os_unfair_lock_unlock(&lock);
	return r;
}

struct pending {
	int threat;
	bool exit_after;
};

static void failsafe(void *ctx)
{
	struct pending *p = ctx;
	os_unfair_lock_lock(&lock);
	bool ok = acked & (1u << p->threat);
	os_unfair_lock_unlock(&lock);
	if (!ok) {
		tf_log("fail-safe: threat not acknowledged in time: ", tf_threat_code(p->threat));
		defend(p->threat, p->exit_after);
	}
	free(p);
}

/* post sends the core's event JSON as the userInfo of a notification. */
static void post(const char *json)
{
	id info = tf_json_object(json, strlen(json));
	char name[300];
	snprintf(name, sizeof name, "%s.trustfuse.THREAT", tf_g_bundle);
	id nm = tf_nsstring(name);
	CFNotificationCenterPostNotification(CFNotificationCenterGetLocalCenter(), (CFStringRef)nm, NULL,
					     (CFDictionaryRef)info, true);
	CFRelease(nm);
}

void tf_threat(int threat, const char *reason_code, const char *reason_data)
{
	if (!tf_g_policy)
		return;
	tf_device dev = {
		.device_id = tf_g_device_id, .os_version = os_version, .device_model = device_model,
		.device_manufacturer = "Apple", .device_brand = "Apple", .sdk_version = os_version,
		.time_zone = time_zone, .external_id = "", .package = tf_g_bundle,
	};
	tf_verdict v = {0};
	char *json = malloc(16384);
	if (!json)
		return;
	os_unfair_lock_lock(&lock);
	int r = tf_threat_fire(tf_g_policy, threat, reason_code, reason_data, &dev, &total, &v, json, 16384);
	if (r == TF_OK && v.mode != TF_MODE_OFF)
		fired |= 1u << threat;
	os_unfair_lock_unlock(&lock);
	if (r == TF_OK && v.mode != TF_MODE_OFF && v.send_event)
		post(json);
	free(json);
	if (r != TF_OK || v.mode == TF_MODE_OFF)
		return;
	tf_log("threat ", tf_threat_code(threat));
	if (v.enforce_now) {
		defend(threat, v.exit_on_defend);
	} else if (v.failsafe) {
		struct pending *p = malloc(sizeof *p);
		if (!p)
			return;
		*p = (struct pending){threat, tf_policy_bool(tf_g_policy, "exitOnDefend")};
		dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, v.failsafe_ms * NSEC_PER_MSEC),
				 dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_DEFAULT, 0), p, failsafe);
	}
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
			tf_threat(TF_DEBUGGER, "P_TRACED", "sysctl");
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
			tf_threat(TF_ROOT, "JAILBREAK_PATH", paths[i]);
			return;
		}
	/* Sandbox escape probes: an App Store sandbox cannot write outside its
	 * container, and fork fails (EPERM). */
	int fd = open("/private/trustfuse-probe", O_WRONLY | O_CREAT, 0644);
	if (fd >= 0) {
		close(fd);
		unlink("/private/trustfuse-probe");
		tf_threat(TF_ROOT, "SANDBOX_WRITE", "/private");
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0) {
		waitpid(pid, NULL, 0);
		tf_threat(TF_ROOT, "SANDBOX_FORK", "fork");
		return;
	}
	const char *ins = getenv("DYLD_INSERT_LIBRARIES");
	if (ins && *ins)
		tf_threat(TF_ROOT, "DYLD_INSERT_LIBRARIES", ins);
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
				tf_threat(TF_HOOKING, "HOOK_LIBRARY", name);
				return;
			}
	}
}

/* check_images: every loaded image must be iOS's own code or inside the
 * app bundle (the directory of dyld image 0, the main executable); the
 * first other one is an unexpected dylib (tf_image_expected). */
static void check_images(void)
{
	char app[1024];
	const char *exe = _dyld_get_image_name(0);
	const char *slash = exe ? strrchr(exe, '/') : NULL;
	if (!slash || (size_t)(slash - exe) >= sizeof app)
		return;
	memcpy(app, exe, (size_t)(slash - exe));
	app[slash - exe] = 0;
	for (uint32_t i = 1, n = _dyld_image_count(); i < n; i++) {
		const char *name = _dyld_get_image_name(i);
		if (!tf_image_expected(name, app)) {
			tf_threat(TF_TAMPER, "UNEXPECTED_LIBRARY", name);
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
	const char *signers = tf_policy_get(tf_g_policy, "signers");
	uint8_t d[32];
	char hex[65];
	tf_ios_signer_digest(tf_g_app_sig.team_id, tf_g_bundle, d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	bool allowed = false;
	for (const char *p = signers; p && *p && !allowed; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
		allowed = !strncmp(p, hex, 64) && (p[64] == ',' || !p[64]);
	if (!tf_g_app_sig.team_id[0])
		tf_threat(TF_TAMPER, "SIGNATURE_UNREADABLE", "main executable");
	else if (pkg && *pkg && strcmp(pkg, tf_g_bundle))
		tf_threat(TF_TAMPER, "BUNDLE_ID_MISMATCH", tf_g_bundle);
	else if (signers && *signers && !allowed)
		tf_threat(TF_TAMPER, "SIGNER_MISMATCH", tf_g_app_sig.team_id);
	else
		check_images();
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
		tf_sha256(idfv, strlen(idfv), h);
	} else {
		arc4random_buf(h, sizeof h);
	}
	for (int i = 0; i < 32; i++)
		snprintf(tf_g_device_id + 2 * i, 3, "%02x", h[i]);
	snprintf(os_version, sizeof os_version, "%s", ver ? ver : "");
	size_t len = sizeof device_model - 1;
	if (sysctlbyname("hw.machine", device_model, &len, NULL, 0) != 0)
		device_model[0] = 0;
	id tz = MSG(id)(CLS("NSTimeZone"), SEL_("localTimeZone"));
	const char *tzn = tz ? tf_utf8(MSG(id)(tz, SEL_("name"))) : NULL;
	snprintf(time_zone, sizeof time_zone, "%s", tzn ? tzn : "");
}

static void run(void *ctx)
{
	(void)ctx;
	void *pool = objc_autoreleasePoolPush();
	device_info();
	if (tf_threat_mode(tf_g_policy, TF_TAMPER) != TF_MODE_OFF)
		check_tamper();
	if (tf_threat_mode(tf_g_policy, TF_DEBUGGER) != TF_MODE_OFF)
		check_debugger();
	if (tf_threat_mode(tf_g_policy, TF_ROOT) != TF_MODE_OFF)
		check_jailbreak();
	if (tf_threat_mode(tf_g_policy, TF_HOOKING) != TF_MODE_OFF)
		check_hooking();
	objc_autoreleasePoolPop(pool);
}

void tf_checks_start(void)
{
	dispatch_async_f(dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_BACKGROUND, 0), NULL, run);
}
