/*
 * core_api.h: the platform-independent core's interface as the Apple glue
 * uses it (fusion/runtime/ios/core implements it; this file is the glue's
 * side of that agreement and is replaced by core/trustfuse_core.h).
 */
#ifndef TF_CORE_API_H
#define TF_CORE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TF_MODE_OFF = 0, TF_MODE_DETECT = 1, TF_MODE_DEFEND = 2 };

typedef struct tf_policy tf_policy;
tf_policy *tf_policy_parse(const uint8_t *buf, size_t len);
const char *tf_policy_get(const tf_policy *p, const char *key);
bool tf_policy_protects(const tf_policy *p, const char *host);
int tf_policy_mode(const tf_policy *p, const char *threat);
size_t tf_policy_pinned_count(const tf_policy *p);
const uint8_t *tf_policy_pinned_ca(const tf_policy *p, size_t i, size_t *len);
bool tf_policy_signer_allowed(const tf_policy *p, const uint8_t digest[32]);

void tf_sha256(const uint8_t *b, size_t n, uint8_t out[32]);
int tf_codesign_read(const uint8_t *superblob, size_t len, char team[32], uint8_t cdhash[20]);
void tf_ios_signer_digest(const char *team, const char *bundle, uint8_t out[32]);

typedef struct {
	uint8_t *key; size_t key_len;          /* PKCS#8 PrivateKeyInfo */
	size_t ncerts; uint8_t *cert[8]; size_t cert_len[8]; /* DER, leaf first */
	uint8_t attest_key[32];
} tf_identity;
int tf_vault_open(const uint8_t *vault, size_t vlen, const uint8_t *pepper, size_t plen,
		  const uint8_t digest[32], const uint8_t *policy, size_t polen, tf_identity *out);

typedef struct { const char *device_id, *os_version, *device_model; } tf_device;
typedef struct { const char *key; char *value; } tf_kv;
int tf_threat_event(const tf_policy *p, const char *threat, const char *reason_code,
		    const char *reason_data, const tf_device *dev, int *total,
		    tf_kv *out, size_t max, size_t *n);
const char *tf_threat_event_name(const char *threat);

char *tf_measure(const tf_policy *p, const char *bundle, const char *team, const uint8_t app_cdhash[20],
		 const uint8_t rt_cdhash[20], const char *version, const char *build);
char *tf_attest_body(const tf_identity *id, const char *nonce, const char *measurement,
		     const char *device_id, const char *threats);
int tf_json_string(const char *json, size_t len, const char *key, char *out, size_t outlen);
#endif
