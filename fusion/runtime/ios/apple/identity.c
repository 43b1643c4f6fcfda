/*
 * identity.c: the attested client identity (policy mtls.identity attested
 * or attested-or-embedded; docs/runtime.md "Attested identity on iOS").
 *
 * The key is a P-256 key the Secure Enclave makes (SecKeyCreateRandomKey,
 * kSecAttrTokenIDSecureEnclave, permanent, application tag
 * "io.trustfuse.identity", access control private-key-usage, this device
 * only after first unlock): its private half never exists outside the
 * enclave, so nothing in the package or the keychain can be copied to
 * another device. attest.c asks serve (POST /v1/certificate) to certify it,
 * with an App Attest object over SHA-256(nonceRaw || the key's SPKI); the
 * certificate serve issues is added to the keychain under the label the
 * key carries, and the identity Security pairs from the two (by public key
 * hash) answers the client-certificate challenges of the protected hosts.
 *
 * Renewal: when less than a third of the certificate's lifetime is left
 * (checked on each use and by a timer set at issuance) attest.c certifies
 * the same key again; the current certificate stays in use until the new
 * one arrives, and, offline, until it expires. The certificate survives a
 * restart in the keychain (tf_identity_restore). A device without a Secure
 * Enclave or App Attest cannot attest: in attested-or-embedded mode the
 * embedded identity from the vault is installed then; in attested mode there
 * is no client identity.
 */
#include "glue.h"

#define ID_TAG "io.trustfuse.identity"
#define ID_LABEL "io.trustfuse.identity.attested"

static os_unfair_lock lock;
static int64_t not_before, not_after; /* of the installed attested certificate; 0: none */
static bool unable;                   /* this device cannot attest a key (for the process's lifetime) */

static CFDictionaryRef dict(const void **k, const void **v, CFIndex n)
{
	return CFDictionaryCreate(NULL, k, v, n, &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks);
}

int tf_identity_mode(void)
{
	return tf_g_policy ? tf_policy_identity(tf_g_policy) : TF_ID_EMBEDDED;
}

/* secure_enclave_key finds the identity key, or makes it (+1, NULL when the
 * device has no Secure Enclave or refuses). */
static SecKeyRef secure_enclave_key(void)
{
	CFDataRef tag = CFDataCreate(NULL, (const uint8_t *)ID_TAG, (CFIndex)strlen(ID_TAG));
	const void *qk[] = {kSecClass, kSecAttrApplicationTag, kSecAttrKeyType, kSecAttrTokenID, kSecReturnRef};
	const void *qv[] = {kSecClassKey, tag, kSecAttrKeyTypeECSECPrimeRandom, kSecAttrTokenIDSecureEnclave, kCFBooleanTrue};
	CFDictionaryRef q = dict(qk, qv, 5);
	CFTypeRef found = NULL;
	OSStatus s = SecItemCopyMatching(q, &found);
	CFRelease(q);
	if (s == errSecSuccess && found) {
		CFRelease(tag);
		return (SecKeyRef)found;
	}
	SecAccessControlRef ac = SecAccessControlCreateWithFlags(NULL, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
								 kSecAccessControlPrivateKeyUsage, NULL);
	int bits = 256;
	CFNumberRef size = CFNumberCreate(NULL, kCFNumberIntType, &bits);
	SecKeyRef key = NULL;
	if (ac && size) {
		const void *pk[] = {kSecAttrIsPermanent, kSecAttrApplicationTag, kSecAttrLabel, kSecAttrAccessControl};
		const void *pv[] = {kCFBooleanTrue, tag, CFSTR(ID_LABEL), ac};
		CFDictionaryRef priv = dict(pk, pv, 4);
		const void *ak[] = {kSecAttrKeyType, kSecAttrKeySizeInBits, kSecAttrTokenID, kSecPrivateKeyAttrs};
		const void *av[] = {kSecAttrKeyTypeECSECPrimeRandom, size, kSecAttrTokenIDSecureEnclave, priv};
		CFDictionaryRef attrs = dict(ak, av, 4);
		key = SecKeyCreateRandomKey(attrs, NULL);
		CFRelease(attrs);
		CFRelease(priv);
	}
	if (ac)
		CFRelease(ac);
	if (size)
		CFRelease(size);
	CFRelease(tag);
	return key;
}

bool tf_identity_key(uint8_t spki[TF_P256_SPKI_SIZE])
{
	SecKeyRef key = secure_enclave_key();
	SecKeyRef pub = key ? SecKeyCopyPublicKey(key) : NULL;
	CFDataRef point = pub ? SecKeyCopyExternalRepresentation(pub, NULL) : NULL;
	bool ok = point && tf_p256_spki(CFDataGetBytePtr(point), (size_t)CFDataGetLength(point), spki) == TF_OK;
	if (point)
		CFRelease(point);
	if (pub)
		CFRelease(pub);
	if (key)
		CFRelease(key);
	if (!ok)
		tf_log("identity: no Secure Enclave key", NULL);
	return ok;
}

static void renew_timer(void *ctx)
{
	(void)ctx;
	tf_attest_refresh();
}

/* use makes the NSURLCredential of ident (with the issuer chain, from the
 * vault in attested mode) current for the validity nb..na, and sets the
 * renewal timer. */
static void use(SecIdentityRef ident, int64_t nb, int64_t na)
{
	const void *certs[16];
	CFIndex n = 0;
	for (size_t i = 0; tf_identity_mode() == TF_ID_ATTESTED && i < tf_g_identity.nchain; i++) {
		CFDataRef d = CFDataCreate(NULL, tf_g_identity.chain[i], (CFIndex)tf_g_identity.chainlen[i]);
		SecCertificateRef c = SecCertificateCreateWithData(NULL, d);
		CFRelease(d);
		if (c)
			certs[n++] = c;
	}
	CFArrayRef chain = CFArrayCreate(NULL, certs, n, &kCFTypeArrayCallBacks);
	for (CFIndex i = 0; i < n; i++)
		CFRelease(certs[i]);
	id cred = MSG(id, id, id, NSUInteger)(CLS("NSURLCredential"), SEL_("credentialWithIdentity:certificates:persistence:"),
					      (id)ident, (id)chain, 1 /* NSURLCredentialPersistenceForSession */);
	CFRelease(chain);
	if (!cred)
		return;
	/* The previous credential is not released: a challenge handler on
	 * another thread may be answering with it (one per renewal). */
	MSG(id)(cred, SEL_("retain"));
	os_unfair_lock_lock(&lock);
	tf_g_credential = cred;
	not_before = nb;
	not_after = na;
	os_unfair_lock_unlock(&lock);
	int64_t now = time(NULL), renew_at = na - (na - nb) / 3;
	if (renew_at > now)
		dispatch_after_f(dispatch_time(DISPATCH_TIME_NOW, (renew_at - now) * 1000 * NSEC_PER_MSEC),
				 dispatch_get_global_queue(DISPATCH_QUEUE_PRIORITY_BACKGROUND, 0), NULL, renew_timer);
}

/* keychain_identity reads back the identity the label names (+1, or NULL). */
static SecIdentityRef keychain_identity(void)
{
	const void *k[] = {kSecClass, kSecAttrLabel, kSecReturnRef};
	const void *v[] = {kSecClassIdentity, CFSTR(ID_LABEL), kCFBooleanTrue};
	CFDictionaryRef q = dict(k, v, 3);
	CFTypeRef ident = NULL;
	OSStatus s = SecItemCopyMatching(q, &ident);
	CFRelease(q);
	return s == errSecSuccess ? (SecIdentityRef)ident : NULL;
}

bool tf_identity_install(const tf_issued *is, const uint8_t spki[TF_P256_SPKI_SIZE])
{
	const uint8_t *certkey;
	size_t keylen;
	int64_t nb, na;
	if (!tf_cert_spki(is->cert, is->certlen, &certkey, &keylen) || keylen != TF_P256_SPKI_SIZE ||
	    memcmp(certkey, spki, keylen) != 0 || tf_cert_validity(is->cert, is->certlen, &nb, &na) != TF_OK) {
		tf_log("identity: the issued certificate is not for the identity key", NULL);
		return false;
	}
	CFDataRef d = CFDataCreate(NULL, is->cert, (CFIndex)is->certlen);
	SecCertificateRef cert = SecCertificateCreateWithData(NULL, d);
	CFRelease(d);
	if (!cert)
		return false;
	const void *dk[] = {kSecClass, kSecAttrLabel};
	const void *dv[] = {kSecClassCertificate, CFSTR(ID_LABEL)};
	CFDictionaryRef q = dict(dk, dv, 2);
	SecItemDelete(q); /* the certificate it renews */
	CFRelease(q);
	const void *ak[] = {kSecClass, kSecValueRef, kSecAttrLabel, kSecAttrAccessible};
	const void *av[] = {kSecClassCertificate, cert, CFSTR(ID_LABEL), kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly};
	q = dict(ak, av, 4);
	OSStatus s = SecItemAdd(q, NULL);
	CFRelease(q);
	CFRelease(cert);
	SecIdentityRef ident = s == errSecSuccess || s == errSecDuplicateItem ? keychain_identity() : NULL;
	if (!ident) {
		tf_log("identity: the keychain did not pair the certificate with the Secure Enclave key", NULL);
		return false;
	}
	use(ident, nb, na);
	CFRelease(ident);
	tf_log("identity: attested client certificate installed", NULL);
	return true;
}

void tf_identity_restore(void)
{
	SecIdentityRef ident = keychain_identity();
	SecCertificateRef cert = NULL;
	CFDataRef der = ident && SecIdentityCopyCertificate(ident, &cert) == errSecSuccess && cert ? SecCertificateCopyData(cert) : NULL;
	int64_t nb, na;
	if (der && tf_cert_validity(CFDataGetBytePtr(der), (size_t)CFDataGetLength(der), &nb, &na) == TF_OK && time(NULL) < na)
		use(ident, nb, na);
	if (der)
		CFRelease(der);
	if (cert)
		CFRelease(cert);
	if (ident)
		CFRelease(ident);
}

bool tf_identity_due(void)
{
	if (tf_identity_mode() == TF_ID_EMBEDDED)
		return false;
	os_unfair_lock_lock(&lock);
	bool due = !unable && (!not_after || tf_identity_renew(time(NULL), not_before, not_after));
	os_unfair_lock_unlock(&lock);
	return due;
}

void tf_identity_unable(void)
{
	os_unfair_lock_lock(&lock);
	bool first = !unable;
	unable = true;
	os_unfair_lock_unlock(&lock);
	if (!first)
		return;
	if (tf_identity_mode() == TF_ID_EITHER) {
		tf_log("identity: this device cannot attest a key; embedded client certificate", NULL);
		tf_install_embedded();
	} else {
		tf_log("identity: this device cannot attest a key (no Secure Enclave or App Attest); no client certificate", NULL);
	}
}

id tf_identity_credential(void)
{
	if (tf_identity_mode() == TF_ID_EMBEDDED)
		return tf_g_credential;
	os_unfair_lock_lock(&lock);
	id cred = tf_g_credential;
	bool expired = !unable && not_after && time(NULL) >= not_after;
	os_unfair_lock_unlock(&lock);
	if (tf_identity_due())
		tf_attest_refresh();
	return expired ? nil : cred;
}
