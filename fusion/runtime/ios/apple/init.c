/*
 * init.c: the constructor. dyld runs it when the app loads
 * TrustFuse.framework (LC_LOAD_DYLIB added by fuse), before main. It reads
 * the framework's resources, reads the main executable's own code signature,
 * unseals the vault for (team id, bundle id), puts the client identity in
 * the keychain (embedded mode; identity.c for the attested modes), installs the NSURLSession hooks and starts the checks on a
 * background queue. Every failure leaves the app running without the
 * identity (the server then refuses the handshake).
 */
#include "glue.h"

tf_policy *tf_g_policy;
id tf_g_credential;
CFArrayRef tf_g_anchors;
tf_identity tf_g_identity;
volatile int tf_g_defended;
char tf_g_bundle[256];
tf_codesig tf_g_app_sig, tf_g_rt_sig;

static tf_policy policy;

void tf_log(const char *msg, const char *detail)
{
	NSLog(CFSTR("trustfuse: %s%s"), msg, detail ? detail : "");
}

id tf_json_object(const void *json, size_t len)
{
	id data = MSG(id, const void *, NSUInteger)(CLS("NSData"), SEL_("dataWithBytes:length:"), json, len);
	id obj = MSG(id, id, NSUInteger, void *)(CLS("NSJSONSerialization"), SEL_("JSONObjectWithData:options:error:"), data, 0, NULL);
	return obj && MSG(BOOL, id)(obj, SEL_("isKindOfClass:"), CLS("NSDictionary")) ? obj : nil;
}

id tf_nsstring(const char *s)
{
	return (id)CFStringCreateWithCString(NULL, s, kCFStringEncodingUTF8);
}

const char *tf_utf8(id s)
{
	return s ? MSG(const char *)(s, SEL_("UTF8String")) : NULL;
}

/* slurp reads dir/name whole (resources are small: at most 1 MiB). */
static uint8_t *slurp(const char *dir, const char *name, size_t *n)
{
	char path[1024];
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return NULL;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	size_t cap = 1 << 20, len = 0;
	uint8_t *b = malloc(cap);
	ssize_t r;
	while (b && len < cap && (r = read(fd, b + len, cap - len)) > 0)
		len += (size_t)r;
	close(fd);
	if (b && len == cap) { /* too large for a resource of ours */
		free(b);
		return NULL;
	}
	*n = len;
	return b;
}

/* image_codesig reads the code signature of a loaded image from its file
 * (mapped read-only, so a large executable costs no memory): the slice
 * whose cputype is the loaded header's. */
static bool image_codesig(const char *path, const void *header, tf_codesig *out)
{
	const struct tf_mach_header_64 *h = header;
	int fd = path && h ? open(path, O_RDONLY) : -1;
	if (fd < 0)
		return false;
	long size = lseek(fd, 0, SEEK_END);
	void *m = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	close(fd);
	if (m == MAP_FAILED)
		return false;
	int r = tf_macho_codesig(m, (size_t)size, h->cputype, out);
	munmap(m, (size_t)size);
	return r == TF_OK;
}

static CFDictionaryRef dict(const void **k, const void **v, CFIndex n)
{
	return CFDictionaryCreate(NULL, k, v, n, &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks);
}

/*
 * keychain_identity makes a SecIdentityRef from the unsealed PKCS#8 key and
 * leaf certificate. iOS has no public SecIdentityCreate, and SecPKCS12Import
 * would need a PKCS#12 built here (PBE + MAC code for nothing), so the key
 * and the certificate are added to the app's own keychain (default access
 * group, this device only, after first unlock) under one label and the
 * identity is read back: Security pairs them by the public key hash.
 */
static SecIdentityRef keychain_identity(SecKeyRef key, SecCertificateRef cert)
{
	CFStringRef label = CFSTR("io.trustfuse.identity");
	const void *dk[] = {kSecClass, kSecAttrLabel};
	const void *dv1[] = {kSecClassKey, label}, *dv2[] = {kSecClassCertificate, label};
	CFDictionaryRef q = dict(dk, dv1, 2);
	SecItemDelete(q);
	CFRelease(q);
	q = dict(dk, dv2, 2);
	SecItemDelete(q);
	CFRelease(q);

	const void *ak[] = {kSecClass, kSecValueRef, kSecAttrLabel, kSecAttrAccessible};
	const void *av1[] = {kSecClassKey, key, label, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly};
	const void *av2[] = {kSecClassCertificate, cert, label, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly};
	q = dict(ak, av1, 4);
	OSStatus s1 = SecItemAdd(q, NULL);
	CFRelease(q);
	q = dict(ak, av2, 4);
	OSStatus s2 = SecItemAdd(q, NULL);
	CFRelease(q);
	if ((s1 != errSecSuccess && s1 != errSecDuplicateItem) || (s2 != errSecSuccess && s2 != errSecDuplicateItem))
		return NULL;

	const void *ik[] = {kSecClass, kSecAttrLabel, kSecReturnRef};
	const void *iv[] = {kSecClassIdentity, label, kCFBooleanTrue};
	q = dict(ik, iv, 3);
	CFTypeRef ident = NULL;
	OSStatus s = SecItemCopyMatching(q, &ident);
	CFRelease(q);
	return s == errSecSuccess ? (SecIdentityRef)ident : NULL;
}

/* tf_install_embedded turns the unsealed identity into the NSURLCredential the
 * challenge handler answers with (+[NSURLCredential
 * credentialWithIdentity:certificates:persistence:], the intermediates
 * after the leaf). */
void tf_install_embedded(void)
{
	uint8_t *raw;
	size_t rawlen;
	bool ec;
	if (!tf_g_identity.nchain || !tf_pkcs8_to_seckey(tf_g_identity.key, tf_g_identity.keylen, &raw, &rawlen, &ec)) {
		tf_log("client key not usable", NULL);
		return;
	}
	CFDataRef kd = CFDataCreate(NULL, raw, (CFIndex)rawlen);
	memset(raw, 0, rawlen);
	free(raw);
	const void *k[] = {kSecAttrKeyType, kSecAttrKeyClass};
	const void *v[] = {ec ? kSecAttrKeyTypeECSECPrimeRandom : kSecAttrKeyTypeRSA, kSecAttrKeyClassPrivate};
	CFDictionaryRef attrs = dict(k, v, 2);
	SecKeyRef key = SecKeyCreateWithData(kd, attrs, NULL);
	CFRelease(attrs);
	CFRelease(kd);
	SecCertificateRef certs[16] = {0};
	for (size_t i = 0; i < tf_g_identity.nchain; i++) {
		CFDataRef cd = CFDataCreate(NULL, tf_g_identity.chain[i], (CFIndex)tf_g_identity.chainlen[i]);
		certs[i] = SecCertificateCreateWithData(NULL, cd);
		CFRelease(cd);
	}
	SecIdentityRef ident = key && certs[0] ? keychain_identity(key, certs[0]) : NULL;
	if (key)
		CFRelease(key);
	if (!ident) {
		tf_log("the keychain refused the client identity", NULL);
		return;
	}
	size_t nint = tf_g_identity.nchain - 1;
	CFArrayRef chain = CFArrayCreate(NULL, (const void **)&certs[1], (CFIndex)nint, &kCFTypeArrayCallBacks);
	tf_g_credential = MSG(id, id, id, NSUInteger)(CLS("NSURLCredential"), SEL_("credentialWithIdentity:certificates:persistence:"),
						 (id)ident, (id)chain, 1 /* NSURLCredentialPersistenceForSession */);
	if (tf_g_credential)
		MSG(id)(tf_g_credential, SEL_("retain"));
	tf_log("client certificate unsealed", NULL);
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* spki_pinned: the SHA-256 of the certificate's SPKI is in pin.spki. */
static bool spki_pinned(const uint8_t *der, size_t n)
{
	const uint8_t *spki;
	size_t len;
	uint8_t sum[32];
	char hex[65];
	const char *pins = tf_policy_get(tf_g_policy, "pin.spki");
	if (!pins || !tf_cert_spki(der, n, &spki, &len))
		return false;
	tf_sha256(spki, len, sum);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	for (const char *p = pins; *p; p += *p == ',') {
		if (!strncmp(p, hex, 64) && (p[64] == ',' || !p[64]))
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

/* load_anchors decodes pin.cas (comma-separated hex DER) and keeps, as on
 * Android, exactly the CAs whose SPKI digest pin.spki lists. */
static void load_anchors(void)
{
	const char *cas = tf_policy_get(tf_g_policy, "pin.cas");
	const void *certs[16];
	CFIndex m = 0;
	size_t cap = cas ? strlen(cas) / 2 : 0;
	uint8_t *der = cap ? malloc(cap) : NULL;
	for (const char *p = cas; der && *p && m < 16;) {
		size_t n = 0;
		int hi, lo;
		while (*p && *p != ',' && (hi = unhex(p[0])) >= 0 && (lo = unhex(p[1])) >= 0) {
			der[n++] = (uint8_t)(hi << 4 | lo);
			p += 2;
		}
		if (*p && *p != ',')
			break; /* malformed hex: no pin from here on */
		if (*p)
			p++;
		CFDataRef d = CFDataCreate(NULL, der, (CFIndex)n);
		SecCertificateRef c = spki_pinned(der, n) ? SecCertificateCreateWithData(NULL, d) : NULL;
		CFRelease(d);
		if (c)
			certs[m++] = c;
		else
			tf_log("pinned CA ignored: its SPKI digest is not pinned", NULL);
	}
	free(der);
	if (m)
		tf_g_anchors = CFArrayCreate(NULL, certs, m, &kCFTypeArrayCallBacks);
}

static void start(void);

__attribute__((constructor)) static void trustfuse_init(void)
{
	void *pool = objc_autoreleasePoolPush();
	start();
	objc_autoreleasePoolPop(pool);
}

static void start(void)
{
	Dl_info self;
	if (!dladdr((const void *)trustfuse_init, &self) || !self.dli_fname)
		return;
	char dir[1024];
	size_t dl = strlen(self.dli_fname);
	const char *slash = strrchr(self.dli_fname, '/');
	if (!slash || dl >= sizeof dir)
		return;
	memcpy(dir, self.dli_fname, (size_t)(slash - self.dli_fname));
	dir[slash - self.dli_fname] = 0;

	size_t polen, vlen, klen;
	uint8_t *pol = slurp(dir, "policy.bin", &polen);
	char *arena = pol ? malloc(3 * polen + 2) : NULL;
	if (!arena || tf_policy_parse(pol, polen, &policy, arena, 3 * polen + 2) != TF_OK) {
		tf_log("no policy; runtime inactive", NULL);
		free(pol);
		free(arena);
		return;
	}
	tf_g_policy = &policy; /* arena stays: the entries point into it */
	CFStringRef bid = CFBundleGetIdentifier(CFBundleGetMainBundle());
	if (!bid || !CFStringGetCString(bid, tf_g_bundle, sizeof tf_g_bundle, kCFStringEncodingUTF8))
		tf_g_bundle[0] = 0;
	/* dyld image 0 is the main executable. */
	if (!image_codesig(_dyld_get_image_name(0), _dyld_get_image_header(0), &tf_g_app_sig))
		tf_log("the main executable's code signature is unreadable", NULL);
	if (!image_codesig(self.dli_fname, self.dli_fbase, &tf_g_rt_sig))
		tf_log("the runtime's code signature is unreadable", NULL);

	uint8_t *vault = slurp(dir, "vault.bin", &vlen), *pepper = slurp(dir, "key.bin", &klen);
	uint8_t digest[32];
	tf_ios_signer_digest(tf_g_app_sig.team_id, tf_g_bundle, digest);
	/* The plaintext stays: the identity points into it. */
	uint8_t *plain = vault && vlen > 65 ? malloc(vlen) : NULL;
	if (plain && pepper && klen == TF_PEPPER_SIZE &&
	    tf_vault_open(vault, vlen, pepper, digest, pol, polen, plain, vlen, &tf_g_identity) == TF_OK) {
		/* Attested modes: the certificate of an earlier run, if still valid;
		 * attest.c certifies the Secure Enclave key (identity.c). */
		if (tf_identity_mode() == TF_ID_EMBEDDED)
			tf_install_embedded();
		else
			tf_identity_restore();
	} else {
		tf_log("vault not unsealed (re-signed app or edited policy?); no client certificate", NULL);
		free(plain);
	}
	free(vault);
	if (pepper)
		tf_wipe(pepper, klen);
	free(pepper);
	free(pol);
	load_anchors();
	tf_hooks_install();
	tf_checks_start();
	if (tf_g_credential || (tf_g_identity.nchain && tf_identity_mode() != TF_ID_EMBEDDED))
		tf_attest_refresh();
}
