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
#endif
