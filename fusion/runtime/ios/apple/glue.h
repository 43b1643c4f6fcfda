/* glue.h: state shared by the Apple glue's files (set once by the
 * constructor in init.c, before any hook is installed). */
#ifndef TF_GLUE_H
#define TF_GLUE_H

#include "apple.h"
#include "trustfuse_core.h"

extern tf_policy *tf_g_policy;      /* NULL: runtime inactive */
extern id tf_g_credential;          /* NSURLCredential with the client identity; nil if sealed */
extern CFArrayRef tf_g_anchors;     /* pinned CA certificates (SecCertificateRef); NULL: none */
extern tf_identity tf_g_identity;   /* valid when the vault opened */
extern volatile int tf_g_defended;  /* a defend-mode threat fired */
extern char tf_g_bundle[256];
extern tf_codesig tf_g_app_sig, tf_g_rt_sig; /* the main executable's and the runtime's */
extern char tf_g_device_id[65];     /* the Threat-Event deviceID (set by the checks) */

void tf_log(const char *msg, const char *detail);
id tf_nsstring(const char *s);      /* a +1 CFString (toll-free NSString) the caller releases */
const char *tf_utf8(id nsstring);
/* tf_json_object parses JSON bytes with NSJSONSerialization (an NSDictionary, or nil). */
id tf_json_object(const void *json, size_t len);

void tf_hooks_install(void);
id tf_session(void);
void tf_checks_start(void);
/* tf_threat applies a fired threat (enum tf_threat): event, fail-safe, defense. */
void tf_threat(int threat, const char *reason_code, const char *reason_data);
/* tf_threats_fired is the mask of threats fired so far (bit i = threat i). */
unsigned tf_threats_fired(void);
void tf_attest_refresh(void);
/* tf_token_copy copies the cached token into buf; false when none is fresh. */
bool tf_token_copy(char *buf, size_t len);
bool tf_pkcs8_to_seckey(const uint8_t *p8, size_t n, uint8_t **out, size_t *outlen, bool *is_ec);
/* tf_cert_spki finds a DER certificate's SubjectPublicKeyInfo (whole TLV). */
bool tf_cert_spki(const uint8_t *der, size_t n, const uint8_t **spki, size_t *len);

/* The attested identity (identity.c). */
/* tf_identity_mode is tf_policy_identity of the runtime's policy. */
int tf_identity_mode(void);
/* tf_install_embedded makes the vault's key and chain the client identity (init.c). */
void tf_install_embedded(void);
/* tf_identity_key writes the SPKI of the Secure Enclave identity key, made
 * on first use; false when the device cannot make one. */
bool tf_identity_key(uint8_t spki[TF_P256_SPKI_SIZE]);
/* tf_identity_install stores the certificate serve issued for spki in the
 * keychain and makes the paired identity current; false when it is not for
 * spki or the keychain refuses. */
bool tf_identity_install(const tf_issued *is, const uint8_t spki[TF_P256_SPKI_SIZE]);
/* tf_identity_restore makes the certificate of an earlier run current, if
 * it has not expired. */
void tf_identity_restore(void);
/* tf_identity_due: an attested mode needs a (new) certificate now. */
bool tf_identity_due(void);
/* tf_identity_unable: the device cannot attest a key (no Secure Enclave or
 * App Attest): the embedded identity in attested-or-embedded mode, none in
 * attested mode; no further certificate is asked for in this process. */
void tf_identity_unable(void);
/* tf_identity_credential is the credential for a client-certificate
 * challenge (nil: none, or the attested certificate expired); it starts a
 * renewal when one is due. */
id tf_identity_credential(void);
#endif
