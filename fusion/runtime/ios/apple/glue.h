/* glue.h: state shared by the Apple glue's files (set once by the
 * constructor in init.c, before any hook is installed). */
#ifndef TF_GLUE_H
#define TF_GLUE_H

#include "apple.h"
#include "core_api.h"

extern tf_policy *tf_g_policy;      /* NULL: runtime inactive */
extern id tf_g_credential;          /* NSURLCredential with the client identity; nil if sealed */
extern CFArrayRef tf_g_anchors;     /* pinned CA certificates (SecCertificateRef) */
extern tf_identity tf_g_identity;   /* valid when tf_g_credential != nil */
extern volatile int tf_g_defended;  /* a defend-mode threat fired */
extern char tf_g_team[32], tf_g_bundle[256];
extern uint8_t tf_g_app_cdhash[20], tf_g_rt_cdhash[20];

void tf_log(const char *msg, const char *detail);
id tf_nsstring(const char *s);      /* autoreleased-free: a +1 CFString, never released (long-lived) */
const char *tf_utf8(id nsstring);

void tf_hooks_install(void);
id tf_session(void);
void tf_checks_start(void);
void tf_threat(const char *threat, const char *reason_code, const char *reason_data);
extern char tf_g_device_id[65];     /* the Threat-Event deviceID (set by the checks) */
/* tf_threats_json writes the distinct threat codes fired so far as a JSON array. */
void tf_threats_json(char *buf, size_t len);
void tf_attest_refresh(void);
/* tf_token_copy copies the cached token into buf; false when none is fresh. */
bool tf_token_copy(char *buf, size_t len);
bool tf_pkcs8_to_seckey(const uint8_t *p8, size_t n, uint8_t **out, size_t *outlen, bool *is_ec);
#endif
