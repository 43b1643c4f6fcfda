/*
 * trustfuse_core.h: the platform-independent core of the TrustFuse iOS
 * runtime. Strict C11, standard library only, no heap allocation: every
 * function writes into buffers the caller passes. The Apple glue
 * (fusion/runtime/ios/apple) gathers the inputs (files, code signature,
 * Info.plist values, check results) and acts on the outputs (SecIdentity,
 * NSURLSession, NSNotificationCenter); the host tests in fusion/runtime/ios
 * compile the same files for Linux.
 *
 * Every function returning int returns TF_OK (0) or a negative TF_ERR_*.
 * The core has no mutable global state: calls on different data may run on
 * different threads at once.
 */
#ifndef TRUSTFUSE_CORE_H
#define TRUSTFUSE_CORE_H

#include <stddef.h>
#include <stdint.h>

enum {
	TF_OK = 0,
	TF_ERR_FORMAT = -1,   /* malformed input (policy, vault, Mach-O) */
	TF_ERR_UNSEAL = -2,   /* vault authentication failed: wrong key part or policy, or corrupted */
	TF_ERR_SPACE = -3,    /* the caller's output buffer is too small */
	TF_ERR_ARG = -4,      /* invalid argument */
	TF_ERR_NOTFOUND = -5  /* a required item is absent (policy key, code signature) */
};

/* ---- SHA-256 (FIPS 180-4) ---- */
typedef struct {
	uint32_t h[8];
	uint64_t len;      /* bytes hashed so far */
	uint8_t buf[64];
	size_t n;          /* bytes in buf */
} tf_sha256_ctx;

void tf_sha256_init(tf_sha256_ctx *c);
void tf_sha256_update(tf_sha256_ctx *c, const void *p, size_t n);
void tf_sha256_final(tf_sha256_ctx *c, uint8_t out[32]);
void tf_sha256(const void *p, size_t n, uint8_t out[32]);

/* ---- HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) ---- */
typedef struct {
	tf_sha256_ctx inner, outer;
} tf_hmac_ctx;

void tf_hmac_init(tf_hmac_ctx *c, const uint8_t *key, size_t keylen);
void tf_hmac_update(tf_hmac_ctx *c, const void *p, size_t n);
void tf_hmac_final(tf_hmac_ctx *c, uint8_t out[32]);
void tf_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]);
/* out of outlen ≤ 255*32 bytes; TF_ERR_ARG when outlen is too large. */
int tf_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
	const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen);

/* ---- AES-256 (FIPS 197) and GCM (NIST SP 800-38D) ---- */
typedef struct {
	uint32_t rk[60];
} tf_aes256;

void tf_aes256_init(tf_aes256 *a, const uint8_t key[32]);
void tf_aes256_encrypt(const tf_aes256 *a, const uint8_t in[16], uint8_t out[16]);

/* GCM with 16-byte tags and IVs of ivlen ≥ 1 bytes (12 is the fast path).
 * tf_gcm_seal writes ptlen bytes of ciphertext then the 16-byte tag to out. */
void tf_gcm_seal(const uint8_t key[32], const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
	const uint8_t *pt, size_t ptlen, uint8_t *out);
/* tf_gcm_open checks the tag (constant time) of in (ciphertext || tag, inlen ≥ 16)
 * and writes inlen-16 bytes of plaintext to out, or returns TF_ERR_UNSEAL and
 * writes nothing useful (out is zeroed). */
int tf_gcm_open(const uint8_t key[32], const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
	const uint8_t *in, size_t inlen, uint8_t *out);

/* Constant-time comparison: 1 when equal. */
int tf_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
/* Zeroes n bytes in a way the compiler keeps. */
void tf_wipe(void *p, size_t n);

/* ---- policy (fusion/runtime/android Policy.Encode: java.util.Properties text) ---- */
#define TF_POLICY_MAX_KEYS 128

typedef struct {
	const char *key, *value; /* NUL-terminated UTF-8, inside the arena */
} tf_policy_entry;

typedef struct {
	tf_policy_entry e[TF_POLICY_MAX_KEYS];
	size_t n;
} tf_policy;

/* Parses the policy as java.util.Properties.load does (ISO-8859-1 text,
 * \uXXXX escapes, comments, continuation lines; a repeated key keeps its last
 * value) into p, storing the decoded strings in arena (arenacap ≥ 3·srclen + 2
 * always suffices, else TF_ERR_SPACE). TF_ERR_FORMAT for a malformed \u
 * escape or more than TF_POLICY_MAX_KEYS keys. */
int tf_policy_parse(const uint8_t *src, size_t srclen, tf_policy *p, char *arena, size_t arenacap);
/* The value of key, or NULL when absent. */
const char *tf_policy_get(const tf_policy *p, const char *key);
/* "true" (exactly, as the runtime's propTrue) → 1, anything else 0. */
int tf_policy_bool(const tf_policy *p, const char *key);
/* Decimal integer as Java's Long.parseLong; 0 when absent or malformed. */
int64_t tf_policy_long(const tf_policy *p, const char *key);
/* 1 when host (ASCII case-insensitive) is in the comma-separated mtls.hosts. */
int tf_policy_host_protected(const tf_policy *p, const char *host);
/* 1 when the lowercase hex of digest is in the comma-separated "signers"
 * (on iOS the fuse pipeline lists tf_ios_signer_digest of the app's team id
 * and bundle id there); the tamper check fires otherwise. */
int tf_policy_signer_allowed(const tf_policy *p, const uint8_t digest[32]);

/* ---- vault (pkg/vault format) ---- */
#define TF_PEPPER_SIZE 32
#define TF_VAULT_MAX 1048576

/* The signer digest on iOS: SHA-256("<teamID>.<bundleID>"). */
void tf_ios_signer_digest(const char *team_id, const char *bundle_id, uint8_t out[32]);

typedef struct {
	const uint8_t *key; size_t keylen;         /* PKCS#8 DER private key */
	const uint8_t *chain[16]; size_t chainlen[16]; size_t nchain; /* DER certificates, leaf first */
	const uint8_t *attest_key; size_t attest_keylen; /* may be empty */
} tf_identity;

/* Opens a vault sealed by pkg/vault.Seal. The plaintext goes to out (outcap ≥
 * vaultlen - 65); id points into out. TF_ERR_FORMAT: bad header or plaintext
 * structure (or more than 16 certificates); TF_ERR_UNSEAL: another pepper,
 * signer digest or policy, or a changed byte. On failure out is wiped. */
int tf_vault_open(const uint8_t *vault, size_t vaultlen, const uint8_t pepper[32], const uint8_t signer_digest[32],
	const uint8_t *policy, size_t policylen, uint8_t *out, size_t outcap, tf_identity *id);

/* ---- threats and Threat-Events (same keys, names and scoring as Android) ---- */
enum tf_threat { TF_TAMPER, TF_DEBUGGER, TF_ROOT, TF_EMULATOR, TF_HOOKING, TF_MITM, TF_THREATS };

/* "tamper", … as in the policy; NULL for an unknown threat. */
const char *tf_threat_code(int threat);
/* "AppTampered", "DebuggerAttached", "RootedDevice", "EmulatorDetected",
 * "HookingFrameworkDetected", "MitMDetected". */
const char *tf_threat_event_name(int threat);

enum tf_mode { TF_MODE_OFF, TF_MODE_DETECT, TF_MODE_DEFEND };

/* The Threat-Event notification is named "<CFBundleIdentifier>" this suffix,
 * as the Android broadcast action is "<package>.trustfuse.THREAT". */
#define TF_THREAT_NOTIFICATION_SUFFIX ".trustfuse.THREAT"
/* threat.<t>.mode: detect, defend, else off (as the Android runtime). */
int tf_threat_mode(const tf_policy *p, int threat);

/* Device and app values the glue fills in for an event. */
typedef struct {
	const char *device_id, *os_version, *device_model, *device_manufacturer, *device_brand, *sdk_version;
	const char *time_zone, *external_id, *package;
} tf_device;

/* What tf_threat_fire decided. */
typedef struct {
	int mode;            /* TF_MODE_*; TF_MODE_OFF: nothing happened */
	int score, total;    /* the threat's score, the running total after it */
	int send_event;      /* 1: post the event (policy events=true) */
	int enforce_now;     /* 1: defend: withhold the identity, refuse protected hosts */
	int failsafe;        /* 1: detect with failSafe.enforce: enforce after failsafe_ms unless acknowledged */
	int64_t failsafe_ms;
	int exit_on_defend;  /* 1: enforce_now and the policy's exitOnDefend */
} tf_verdict;

/* Applies a fired threat (reason_code/reason_data from the check) to the
 * running total *total (the caller serializes calls sharing it) and, when events are on, writes the Threat-Event as a
 * JSON object of string values (the Android extras, same keys) to json
 * (NUL-terminated). TF_ERR_SPACE when json is too small. */
int tf_threat_fire(const tf_policy *p, int threat, const char *reason_code, const char *reason_data,
	const tf_device *dev, int *total, tf_verdict *v, char *json, size_t jsoncap);

/* tf_image_expected reports whether a loaded image (a dyld image path)
 * belongs in the app's process: under iOS's own code locations (/usr/lib,
 * /System/Library, the cryptexes, /Developer) or inside the app bundle
 * app_dir. Anything else (a tweak injected by a jailbreak, a library
 * DYLD_INSERT_LIBRARIES named) is an unexpected dylib: tamper. Relative
 * paths and "." or ".." segments are unexpected. */
int tf_image_expected(const char *image, const char *app_dir);

/* ---- measurement and attestation (pkg/attest IOSMeasurement) ---- */
typedef struct {
	const char *bundle_id, *team_id;
	uint8_t app_cdhash[20], runtime_cdhash[20];
	const char *version, *build; /* CFBundleShortVersionString, CFBundleVersion */
} tf_ios_measurement;

/* The RFC 8785 JSON of m (NUL-terminated) and, when sum is not NULL, its SHA-256. */
int tf_measurement_json(const tf_ios_measurement *m, char *out, size_t cap, uint8_t sum[32]);
/* base64url (no padding) decoding; returns the decoded length or TF_ERR_FORMAT / TF_ERR_SPACE. */
int tf_base64url_decode(const char *s, size_t n, uint8_t *out, size_t cap);
/* The POST /v1/attest body for nonce (the challenge's base64url string): the
 * measurement under "ios", proof = HMAC-SHA256(attest_key, nonceRaw ||
 * measurementSHA256), deviceInfo {"id": device_id} when not NULL, the
 * fired threat codes (threats_mask bit i = threat i), and, when both are
 * neither NULL nor empty, the App Attest key id and attestation object
 * (standard base64, as DCAppAttestService gives them; serve checks them). */
int tf_attest_request(const tf_ios_measurement *m, const char *nonce, const uint8_t *attest_key, size_t attest_keylen,
	const char *device_id, unsigned threats_mask, const char *app_attest_key_id, const char *app_attestation,
	char *out, size_t cap);

/* ---- attested identity (docs/runtime.md, "Attested identity on iOS") ----
 * In the attested modes the client key is a Secure Enclave P-256 key made on
 * the device; serve certifies it when App Attest vouches for the request
 * (clientDataHash = SHA-256(nonceRaw || SPKI DER of the key)). */
#define TF_P256_SPKI_SIZE 91

enum tf_identity_mode { TF_ID_EMBEDDED, TF_ID_ATTESTED, TF_ID_EITHER };
/* tf_policy_identity reads mtls.identity: "attested" → TF_ID_ATTESTED,
 * "attested-or-embedded" → TF_ID_EITHER, anything else or absent →
 * TF_ID_EMBEDDED (as the Android runtime reads it). */
int tf_policy_identity(const tf_policy *p);
#define TF_ISSUED_MAX_CHAIN 8

/* tf_p256_spki writes the DER SubjectPublicKeyInfo (id-ecPublicKey,
 * prime256v1) of a P-256 public key given as SecKeyCopyExternalRepresentation
 * gives it: the 65-byte ANSI X9.63 point 04 || X || Y. TF_ERR_FORMAT for any
 * other length or a compressed or infinity point (whether the point is on the
 * curve is serve's check). */
int tf_p256_spki(const uint8_t *point, size_t len, uint8_t out[TF_P256_SPKI_SIZE]);
/* tf_identity_client_data_hash: SHA-256(nonceRaw || spki), nonceRaw being the
 * base64url challenge nonce decoded; TF_ERR_FORMAT for a malformed nonce. */
int tf_identity_client_data_hash(const char *nonce, const uint8_t *spki, size_t spkilen, uint8_t out[32]);
/* tf_certificate_request: the POST /v1/certificate body: tf_attest_request's
 * body plus "identityPublicKey" (standard base64 of spki). The App Attest
 * key id and object are those attestKey made for
 * tf_identity_client_data_hash(nonce, spki). TF_ERR_ARG when spki is empty. */
int tf_certificate_request(const tf_ios_measurement *m, const char *nonce, const uint8_t *attest_key, size_t attest_keylen,
	const char *device_id, unsigned threats_mask, const char *app_attest_key_id, const char *app_attestation,
	const uint8_t *spki, size_t spkilen, char *out, size_t cap);

/* The 200 answer of POST /v1/certificate; pointers into the caller's buffer. */
typedef struct {
	const uint8_t *cert; size_t certlen;                       /* the issued certificate, DER */
	const uint8_t *chain[TF_ISSUED_MAX_CHAIN]; size_t chainlen[TF_ISSUED_MAX_CHAIN]; size_t nchain; /* issuer CA(s), DER */
	int64_t expires_at;                                        /* Unix seconds */
	const char *token;                                         /* NUL-terminated JWS */
	int64_t token_expires_at;
} tf_issued;

/* tf_certificate_response parses {"certificate": base64, "chain": [base64,
 * …], "expiresAt": RFC 3339, "token": s, "tokenExpiresAt": RFC 3339} (other
 * keys with scalar values are skipped), decoding into buf (cap ≥ len always
 * suffices, else TF_ERR_SPACE). TF_ERR_FORMAT: not such an object, a field
 * missing, repeated or of the wrong type, an escape in a string (serve writes
 * none in these fields), bad base64 or time, no chain or more than
 * TF_ISSUED_MAX_CHAIN certificates. */
int tf_certificate_response(const char *json, size_t len, uint8_t *buf, size_t cap, tf_issued *out);
/* tf_cert_validity reads notBefore and notAfter (Unix seconds) of a DER
 * X.509 certificate (UTCTime or GeneralizedTime, "Z" form as RFC 5280
 * requires); TF_ERR_FORMAT otherwise. */
int tf_cert_validity(const uint8_t *der, size_t len, int64_t *not_before, int64_t *not_after);
/* tf_identity_renew: 1 when a certificate valid from not_before to
 * not_after should be renewed at now: less than a third of its lifetime is
 * left (or it has expired, or its validity is empty); else 0. */
int tf_identity_renew(int64_t now, int64_t not_before, int64_t not_after);

/* ---- Mach-O code signature ---- */
typedef struct {
	char team_id[64];    /* "" when the CodeDirectory has none */
	uint8_t cdhash[20];  /* of the CodeDirectory that seals the slice (SHA-256 one when present), truncated */
	int hash_type;       /* CS_HASHTYPE_* of that CodeDirectory: 1 SHA-1, 2 SHA-256 */
	uint32_t cputype;    /* of the slice read */
} tf_codesig;

/* Reads the code signature of a thin Mach-O, or of the slice of a fat file
 * whose cputype is cputype (0: the slice a device runs: the first arm64, else
 * arm64_32, else the first, as pkg/ipa picks the sealed slice).
 * TF_ERR_NOTFOUND without LC_CODE_SIGNATURE, without a SHA-256
 * CodeDirectory, or without a slice of that cputype; TF_ERR_FORMAT on
 * malformed structure. */
int tf_macho_codesig(const uint8_t *file, size_t len, uint32_t cputype, tf_codesig *out);

#endif
