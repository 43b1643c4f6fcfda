/*
 * tf_measure.c: the iOS release measurement (pkg/attest IOSMeasurement) and
 * the POST /v1/attest body.
 */
#include <string.h>

#include "tf_internal.h"

/* FORMAT: RFC 8785 JSON, keys in code-unit order:
 * {"appCdhash":hex40,"build":s,"bundleId":s,"platform":"ios",
 *  "runtimeCdhash":hex40,"teamId":s,"version":s} */
static void measurement(tf_buf *b, const tf_ios_measurement *m) {
	tf_buf_raw(b, "{\"appCdhash\":\"");
	tf_buf_hex(b, m->app_cdhash, 20);
	tf_buf_raw(b, "\",\"build\":");
	tf_buf_jstring(b, m->build);
	tf_buf_raw(b, ",\"bundleId\":");
	tf_buf_jstring(b, m->bundle_id);
	tf_buf_raw(b, ",\"platform\":\"ios\",\"runtimeCdhash\":\"");
	tf_buf_hex(b, m->runtime_cdhash, 20);
	tf_buf_raw(b, "\",\"teamId\":");
	tf_buf_jstring(b, m->team_id);
	tf_buf_raw(b, ",\"version\":");
	tf_buf_jstring(b, m->version);
	tf_buf_raw(b, "}");
}

int tf_measurement_json(const tf_ios_measurement *m, char *out, size_t cap, uint8_t sum[32]) {
	tf_buf b;
	tf_buf_init(&b, out, cap);
	measurement(&b, m);
	int rc = tf_buf_end(&b);
	if (rc == TF_OK && sum != NULL)
		tf_sha256(b.p, b.n, sum);
	return rc;
}

/* FORMAT: {"nonce":s,"ios":measurement,"proof":base64url,
 * "deviceInfo":{"id":s} (when a device id is given),"threats":[codes] (when any),
 * "appAttestKeyId":base64,"appAttestation":base64 (when both are given)} */
int tf_attest_request(const tf_ios_measurement *m, const char *nonce, const uint8_t *attest_key, size_t attest_keylen,
	const char *device_id, unsigned threats_mask, const char *app_attest_key_id, const char *app_attestation,
	char *out, size_t cap) {
	uint8_t raw[128], sum[32], proof[32];
	char mj[1024];
	int rc = tf_measurement_json(m, mj, sizeof mj, sum);
	if (rc != TF_OK)
		return rc;
	int n = tf_base64url_decode(nonce, strlen(nonce), raw, sizeof raw);
	if (n < 0)
		return TF_ERR_FORMAT;
	tf_hmac_ctx h;
	tf_hmac_init(&h, attest_key, attest_keylen);
	tf_hmac_update(&h, raw, (size_t)n);
	tf_hmac_update(&h, sum, sizeof sum);
	tf_hmac_final(&h, proof);

	tf_buf b;
	tf_buf_init(&b, out, cap);
	tf_buf_raw(&b, "{\"nonce\":");
	tf_buf_jstring(&b, nonce);
	tf_buf_raw(&b, ",\"ios\":");
	tf_buf_raw(&b, mj);
	tf_buf_raw(&b, ",\"proof\":\"");
	tf_buf_base64url(&b, proof, sizeof proof);
	tf_buf_raw(&b, "\"");
	if (device_id != NULL) {
		tf_buf_raw(&b, ",\"deviceInfo\":{\"id\":");
		tf_buf_jstring(&b, device_id);
		tf_buf_raw(&b, "}");
	}
	if (threats_mask & ((1u << TF_THREATS) - 1)) {
		tf_buf_raw(&b, ",\"threats\":[");
		int first = 1;
		for (int t = 0; t < TF_THREATS; t++) {
			if (!(threats_mask & (1u << t)))
				continue;
			if (!first)
				tf_buf_raw(&b, ",");
			tf_buf_jstring(&b, tf_threat_code(t));
			first = 0;
		}
		tf_buf_raw(&b, "]");
	}
	if (app_attest_key_id != NULL && *app_attest_key_id && app_attestation != NULL && *app_attestation) {
		tf_buf_raw(&b, ",\"appAttestKeyId\":");
		tf_buf_jstring(&b, app_attest_key_id);
		tf_buf_raw(&b, ",\"appAttestation\":");
		tf_buf_jstring(&b, app_attestation);
	}
	tf_buf_raw(&b, "}");
	tf_wipe(proof, sizeof proof);
	return tf_buf_end(&b);
}
