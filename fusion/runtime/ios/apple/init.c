/*
 * init.c: the constructor. dyld runs it when the app loads
 * TrustFuse.framework (LC_LOAD_DYLIB added by fuse), before main. It reads
 * the framework's resources, reads the main executable's own code signature,
 * unseals the vault for (team id, bundle id), puts the client identity in
 * the keychain, installs the NSURLSession hooks and starts the checks on a
 * background queue. Every failure leaves the app running without the
 * identity (the server then refuses the handshake).
 */
#include "glue.h"

tf_policy *tf_g_policy;
id tf_g_credential;
CFArrayRef tf_g_anchors;
tf_identity tf_g_identity;
volatile int tf_g_defended;
char tf_g_team[32], tf_g_bundle[256];
uint8_t tf_g_app_cdhash[20], tf_g_rt_cdhash[20];

void tf_log(const char *msg, const char *detail)
{
	NSLog(CFSTR("trustfuse: %s%s"), msg, detail ? detail : "");
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

/* image_signature finds the LC_CODE_SIGNATURE blob of a loaded image in
 * memory: __LINKEDIT is mapped, so the blob sits at
 * slide + linkedit.vmaddr + (dataoff - linkedit.fileoff). */
static bool image_signature(uint32_t idx, const uint8_t **blob, size_t *len)
{
	const struct tf_mach_header_64 *h = _dyld_get_image_header(idx);
	if (!h || h->magic != TF_MH_MAGIC_64)
		return false;
	const uint8_t *lc = (const uint8_t *)(h + 1);
	const struct tf_segment_command_64 *le = NULL;
	const struct tf_linkedit_data_command *cs = NULL;
	for (uint32_t i = 0; i < h->ncmds; i++) {
		const struct tf_load_command *c = (const void *)lc;
		if (c->cmd == TF_LC_SEGMENT_64 && !strcmp(((const struct tf_segment_command_64 *)c)->segname, "__LINKEDIT"))
			le = (const void *)c;
		if (c->cmd == TF_LC_CODE_SIGNATURE)
			cs = (const void *)c;
		lc += c->cmdsize;
	}
	if (!le || !cs || cs->dataoff < le->fileoff || cs->dataoff + (uint64_t)cs->datasize > le->fileoff + le->filesize)
		return false;
	*blob = (const uint8_t *)(uintptr_t)(_dyld_get_image_vmaddr_slide(idx) + le->vmaddr + (cs->dataoff - le->fileoff));
	*len = cs->datasize;
	return true;
}

static bool image_cdhash(uint32_t idx, char team[32], uint8_t cdhash[20])
{
	const uint8_t *blob;
	size_t len;
	return image_signature(idx, &blob, &len) && tf_codesign_read(blob, len, team, cdhash) == 0;
}

static uint32_t image_index(const void *header)
{
	for (uint32_t i = 0, n = _dyld_image_count(); i < n; i++)
		if (_dyld_get_image_header(i) == header)
			return i;
	return UINT32_MAX;
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

	const void *ak[] = {kSecValueRef, kSecAttrLabel, kSecAttrAccessible};
	const void *av1[] = {key, label, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly};
	const void *av2[] = {cert, label, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly};
	q = dict(ak, av1, 3);
	OSStatus s1 = SecItemAdd(q, NULL);
	CFRelease(q);
	q = dict(ak, av2, 3);
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

/* install_identity turns the unsealed identity into the NSURLCredential the
 * challenge handler answers with (+[NSURLCredential
 * credentialWithIdentity:certificates:persistence:], the intermediates
 * after the leaf). */
static void install_identity(void)
{
	uint8_t *raw;
	size_t rawlen;
	bool ec;
	if (!tf_g_identity.ncerts || !tf_pkcs8_to_seckey(tf_g_identity.key, tf_g_identity.key_len, &raw, &rawlen, &ec)) {
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
	SecCertificateRef certs[8] = {0};
	for (size_t i = 0; i < tf_g_identity.ncerts && i < 8; i++) {
		CFDataRef cd = CFDataCreate(NULL, tf_g_identity.cert[i], (CFIndex)tf_g_identity.cert_len[i]);
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
	size_t nint = tf_g_identity.ncerts > 1 ? tf_g_identity.ncerts - 1 : 0;
	CFArrayRef chain = CFArrayCreate(NULL, (const void **)&certs[1], (CFIndex)nint, &kCFTypeArrayCallBacks);
	tf_g_credential = MSG(id, id, id, NSUInteger)(CLS("NSURLCredential"), SEL_("credentialWithIdentity:certificates:persistence:"),
						 (id)ident, (id)chain, 1 /* NSURLCredentialPersistenceForSession */);
	if (tf_g_credential)
		MSG(id)(tf_g_credential, SEL_("retain"));
	tf_log("client certificate unsealed", NULL);
}

static void load_anchors(void)
{
	size_t n = tf_policy_pinned_count(tf_g_policy), m = 0;
	if (!n)
		return;
	const void **certs = calloc(n, sizeof *certs);
	for (size_t i = 0; certs && i < n; i++) {
		size_t len;
		const uint8_t *der = tf_policy_pinned_ca(tf_g_policy, i, &len);
		CFDataRef d = CFDataCreate(NULL, der, (CFIndex)len);
		if ((certs[m] = SecCertificateCreateWithData(NULL, d)))
			m++;
		CFRelease(d);
	}
	tf_g_anchors = CFArrayCreate(NULL, certs, (CFIndex)m, &kCFTypeArrayCallBacks);
	free(certs);
}

__attribute__((constructor)) static void trustfuse_init(void)
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
	if (!pol || !(tf_g_policy = tf_policy_parse(pol, polen))) {
		tf_log("no policy; runtime inactive", NULL);
		return;
	}
	CFStringRef bid = CFBundleGetIdentifier(CFBundleGetMainBundle());
	if (!bid || !CFStringGetCString(bid, tf_g_bundle, sizeof tf_g_bundle, kCFStringEncodingUTF8))
		tf_g_bundle[0] = 0;
	/* dyld image 0 is the main executable. */
	if (!image_cdhash(0, tf_g_team, tf_g_app_cdhash))
		tf_log("the main executable's code signature is unreadable", NULL);
	char rtteam[32];
	uint32_t self_idx = image_index(self.dli_fbase);
	if (self_idx == UINT32_MAX || !image_cdhash(self_idx, rtteam, tf_g_rt_cdhash))
		tf_log("the runtime's code signature is unreadable", NULL);

	uint8_t *vault = slurp(dir, "vault.bin", &vlen), *pepper = slurp(dir, "key.bin", &klen);
	uint8_t digest[32];
	tf_ios_signer_digest(tf_g_team, tf_g_bundle, digest);
	if (vault && pepper && tf_vault_open(vault, vlen, pepper, klen, digest, pol, polen, &tf_g_identity) == 0)
		install_identity();
	else
		tf_log("vault not unsealed (re-signed app or edited policy?); no client certificate", NULL);
	free(vault);
	if (pepper)
		memset(pepper, 0, klen);
	free(pepper);
	free(pol);
	load_anchors();
	tf_hooks_install();
	tf_checks_start();
	if (tf_g_credential)
		tf_attest_refresh();
}
