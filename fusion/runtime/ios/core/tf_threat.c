/*
 * tf_threat.c: threat modes, scoring and Threat-Event payloads, the same as
 * the Android runtime's Guard.fire / Guard.event (smali/io/trustfuse/runtime/Guard.smali).
 */
#include <string.h>

#include "tf_internal.h"

static const char *const codes[TF_THREATS] = {"tamper", "debugger", "root", "emulator", "hooking", "mitm"};
static const char *const names[TF_THREATS] = {"AppTampered", "DebuggerAttached", "RootedDevice",
	"EmulatorDetected", "HookingFrameworkDetected", "MitMDetected"};

const char *tf_threat_code(int t) { return t >= 0 && t < TF_THREATS ? codes[t] : NULL; }
const char *tf_threat_event_name(int t) { return t >= 0 && t < TF_THREATS ? names[t] : NULL; }

/* "threat.<code>.<name>" into key (64 bytes hold every threat key). */
static const char *threat_key(char key[64], int t, const char *name) {
	tf_buf b;
	tf_buf_init(&b, key, 64);
	tf_buf_raw(&b, "threat.");
	tf_buf_raw(&b, codes[t]);
	tf_buf_raw(&b, ".");
	tf_buf_raw(&b, name);
	return key;
}

/* The decimal form of v, as Java's String.valueOf(int). */
static const char *decimal(char out[16], int32_t v) {
	char tmp[16];
	size_t n = 0, i = 0;
	uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (v < 0)
		out[i++] = '-';
	while (n > 0)
		out[i++] = tmp[--n];
	out[i] = 0;
	return out;
}

int tf_threat_mode(const tf_policy *p, int t) {
	char key[64];
	if (tf_threat_code(t) == NULL)
		return TF_MODE_OFF;
	const char *m = tf_policy_get(p, threat_key(key, t, "mode"));
	if (m != NULL && strcmp(m, "detect") == 0)
		return TF_MODE_DETECT;
	if (m != NULL && strcmp(m, "defend") == 0)
		return TF_MODE_DEFEND;
	return TF_MODE_OFF;
}

static void field(tf_buf *b, const char *key, const char *value, int first) {
	if (!first)
		tf_buf_raw(b, ",");
	tf_buf_jstring(b, key);
	tf_buf_raw(b, ":");
	tf_buf_jstring(b, value);
}

/* FORMAT: the Threat-Event is a JSON object of string values, keys in this
 * order (the Android extras; docs/runtime.md lists their meaning):
 * threatCode threatEventName message reasonCode reasonData mode
 * failSafeEnforce deviceID osVersion deviceModel deviceManufacturer
 * deviceBrand sdkVersion fusedAppToken buildDate timeZone externalID
 * threatScore totalScore package. */
int tf_threat_fire(const tf_policy *p, int t, const char *reason_code, const char *reason_data,
	const tf_device *dev, int *total, tf_verdict *v, char *json, size_t jsoncap) {
	char key[64], score[16], tot[16];
	memset(v, 0, sizeof *v);
	if (json != NULL && jsoncap > 0)
		json[0] = 0;
	v->mode = tf_threat_mode(p, t);
	if (v->mode == TF_MODE_OFF)
		return TF_OK;
	/* Java: (int) Long.parseLong(score), then AtomicInteger.addAndGet (both wrap). */
	v->score = (int)(int32_t)(uint32_t)(uint64_t)tf_policy_long(p, threat_key(key, t, "score"));
	*total = (int)(int32_t)((uint32_t)*total + (uint32_t)v->score);
	v->total = *total;
	v->send_event = tf_policy_bool(p, "events");
	v->enforce_now = v->mode == TF_MODE_DEFEND;
	v->exit_on_defend = v->enforce_now && tf_policy_bool(p, "exitOnDefend");
	v->failsafe = v->mode == TF_MODE_DETECT && tf_policy_bool(p, "failSafe.enforce");
	if (v->failsafe)
		v->failsafe_ms = tf_policy_long(p, "failSafe.afterMs");
	if (!v->send_event)
		return TF_OK;
	static const tf_device none;
	if (dev == NULL)
		dev = &none;
	tf_buf b;
	tf_buf_init(&b, json, jsoncap);
	tf_buf_raw(&b, "{");
	field(&b, "threatCode", codes[t], 1);
	field(&b, "threatEventName", names[t], 0);
	field(&b, "message", tf_policy_get(p, threat_key(key, t, "message")), 0);
	field(&b, "reasonCode", reason_code, 0);
	field(&b, "reasonData", reason_data, 0);
	field(&b, "mode", v->mode == TF_MODE_DEFEND ? "defend" : "detect", 0);
	field(&b, "failSafeEnforce", v->failsafe ? "true" : "false", 0);
	field(&b, "deviceID", dev->device_id, 0);
	field(&b, "osVersion", dev->os_version, 0);
	field(&b, "deviceModel", dev->device_model, 0);
	field(&b, "deviceManufacturer", dev->device_manufacturer, 0);
	field(&b, "deviceBrand", dev->device_brand, 0);
	field(&b, "sdkVersion", dev->sdk_version, 0);
	field(&b, "fusedAppToken", tf_policy_get(p, "fusedAppToken"), 0);
	field(&b, "buildDate", tf_policy_get(p, "buildDate"), 0);
	field(&b, "timeZone", dev->time_zone, 0);
	field(&b, "externalID", dev->external_id, 0);
	field(&b, "threatScore", decimal(score, v->score), 0);
	field(&b, "totalScore", decimal(tot, v->total), 0);
	field(&b, "package", dev->package, 0);
	tf_buf_raw(&b, "}");
	return tf_buf_end(&b);
}
