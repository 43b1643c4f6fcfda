/*
 * hosttest: runs the TrustFuse iOS core on the host for the Go tests in
 * fusion/runtime/ios. Binary inputs are hex arguments or files; results go
 * to stdout. Exit status: 0 ok, 2 malformed input (TF_ERR_FORMAT), 3 vault
 * refused (TF_ERR_UNSEAL), 4 not found, 1 anything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tf_internal.h"

static int fail(int rc) {
	switch (rc) {
	case TF_ERR_FORMAT: fprintf(stderr, "format\n"); return 2;
	case TF_ERR_UNSEAL: fprintf(stderr, "unseal\n"); return 3;
	case TF_ERR_NOTFOUND: fprintf(stderr, "not found\n"); return 4;
	default: fprintf(stderr, "error %d\n", rc); return 1;
	}
}

static uint8_t *readfile(const char *path, size_t *n) {
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *b = malloc(cap);
	size_t k;
	while (b != NULL && (k = fread(b + len, 1, cap - len, f)) > 0) {
		len += k;
		if (len == cap)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	if (b == NULL)
		exit(1);
	*n = len;
	return b;
}

static uint8_t *unhex(const char *s, size_t *n) {
	size_t l = strlen(s);
	uint8_t *b = malloc(l / 2 + 1);
	if (b == NULL || l % 2)
		exit(1);
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			exit(1);
		b[i] = (uint8_t)v;
	}
	*n = l / 2;
	return b;
}

static void puthex(const uint8_t *p, size_t n) {
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* puthexes prints a JSON array of the n byte strings p[i] (lengths len[i]) as hex. */
static void puthexes(const uint8_t *const *p, const size_t *len, size_t n) {
	printf("[");
	for (size_t i = 0; i < n; i++) {
		printf(i ? ",\"" : "\"");
		puthex(p[i], len[i]);
		printf("\"");
	}
	printf("]");
}

static void print_json_string(const char *s) {
	char out[1 << 16];
	tf_buf b;
	tf_buf_init(&b, out, sizeof out);
	tf_buf_jstring(&b, s);
	fputs(out, stdout);
}

/* Parses the policy file into p (its arena is static). */
static int load_policy(const char *path, tf_policy *p, uint8_t **raw, size_t *rawlen) {
	static char arena[1 << 20];
	*raw = readfile(path, rawlen);
	return tf_policy_parse(*raw, *rawlen, p, arena, sizeof arena);
}

static void measurement_args(char **a, tf_ios_measurement *m) {
	size_t n;
	uint8_t *app = unhex(a[2], &n), *rt = unhex(a[3], &n);
	m->bundle_id = a[0];
	m->team_id = a[1];
	memcpy(m->app_cdhash, app, 20);
	memcpy(m->runtime_cdhash, rt, 20);
	m->version = a[4];
	m->build = a[5];
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 1;
	const char *cmd = argv[1];
	char **a = argv + 2;
	int na = argc - 2;
	size_t n1, n2, n3, n4;
	uint8_t out[32];
	if (strcmp(cmd, "sha256") == 0 && na == 1) {
		uint8_t *m = unhex(a[0], &n1);
		tf_sha256(m, n1, out);
		puthex(out, 32);
	} else if (strcmp(cmd, "hmac") == 0 && na == 2) {
		uint8_t *k = unhex(a[0], &n1), *m = unhex(a[1], &n2);
		tf_hmac_sha256(k, n1, m, n2, out);
		puthex(out, 32);
	} else if (strcmp(cmd, "hkdf") == 0 && na == 4) {
		uint8_t *ikm = unhex(a[0], &n1), *salt = unhex(a[1], &n2), *info = unhex(a[2], &n3);
		size_t l = (size_t)atoi(a[3]);
		uint8_t *o = malloc(l + 1);
		int rc = tf_hkdf_sha256(ikm, n1, salt, n2, info, n3, o, l);
		if (rc != TF_OK)
			return fail(rc);
		puthex(o, l);
	} else if (strcmp(cmd, "aes") == 0 && na == 2) {
		uint8_t *k = unhex(a[0], &n1), *blk = unhex(a[1], &n2);
		tf_aes256 c;
		if (n1 != 32 || n2 != 16)
			return 1;
		tf_aes256_init(&c, k);
		tf_aes256_encrypt(&c, blk, out);
		puthex(out, 16);
	} else if ((strcmp(cmd, "gcm-seal") == 0 || strcmp(cmd, "gcm-open") == 0) && na == 4) {
		uint8_t *k = unhex(a[0], &n1), *iv = unhex(a[1], &n2), *aad = unhex(a[2], &n3), *in = unhex(a[3], &n4);
		uint8_t *o = malloc(n4 + 16);
		if (n1 != 32)
			return 1;
		if (cmd[4] == 's') {
			tf_gcm_seal(k, iv, n2, aad, n3, in, n4, o);
			puthex(o, n4 + 16);
		} else {
			int rc = tf_gcm_open(k, iv, n2, aad, n3, in, n4, o);
			if (rc != TF_OK)
				return fail(rc);
			puthex(o, n4 - 16);
		}
	} else if (strcmp(cmd, "policy") == 0 && na == 1) {
		tf_policy p;
		uint8_t *raw;
		int rc = load_policy(a[0], &p, &raw, &n1);
		if (rc != TF_OK)
			return fail(rc);
		printf("{");
		for (size_t i = 0; i < p.n; i++) {
			printf(i ? "," : "");
			print_json_string(p.e[i].key);
			printf(":");
			print_json_string(p.e[i].value);
		}
		printf("}");
	} else if (strcmp(cmd, "image-expected") == 0 && na == 2) {
		/* image-expected IMAGE APP_DIR */
		printf("%d", tf_image_expected(a[0], a[1]));
	} else if (strcmp(cmd, "policy-check") == 0 && na == 4) {
		/* policy-check POLICY TEAM BUNDLE HOST */
		tf_policy p;
		uint8_t *raw, digest[32];
		int rc = load_policy(a[0], &p, &raw, &n1);
		if (rc != TF_OK)
			return fail(rc);
		tf_ios_signer_digest(a[1], a[2], digest);
		printf("{\"signerAllowed\":%d,\"hostProtected\":%d,\"identity\":%d}", tf_policy_signer_allowed(&p, digest),
			tf_policy_host_protected(&p, a[3]), tf_policy_identity(&p));
	} else if (strcmp(cmd, "unseal") == 0 && na == 5) {
		/* unseal VAULT PEPPER_FILE TEAM BUNDLE POLICY */
		uint8_t *v = readfile(a[0], &n1), *pepper = readfile(a[1], &n2), *pol = readfile(a[4], &n3);
		uint8_t digest[32];
		tf_identity id;
		if (n2 != TF_PEPPER_SIZE)
			return 1;
		tf_ios_signer_digest(a[2], a[3], digest);
		uint8_t *pt = malloc(n1);
		int rc = tf_vault_open(v, n1, pepper, digest, pol, n3, pt, n1, &id);
		if (rc != TF_OK)
			return fail(rc);
		printf("{\"key\":\"");
		puthex(id.key, id.keylen);
		printf("\",\"chain\":");
		puthexes(id.chain, id.chainlen, id.nchain);
		printf(",\"attestKey\":\"");
		puthex(id.attest_key, id.attest_keylen);
		printf("\"}");
	} else if (strcmp(cmd, "measure") == 0 && na == 6) {
		tf_ios_measurement m;
		char j[2048];
		measurement_args(a, &m);
		int rc = tf_measurement_json(&m, j, sizeof j, out);
		if (rc != TF_OK)
			return fail(rc);
		printf("%s\n", j);
		puthex(out, 32);
	} else if (strcmp(cmd, "attest-request") == 0 && na == 12) {
		/* attest-request BUNDLE TEAM APPCD RTCD VERSION BUILD NONCE ATTESTKEYHEX DEVICEID THREATMASK
		 *                APPATTESTKEYID APPATTESTATION ("" for none) */
		tf_ios_measurement m;
		static char body[1 << 16];
		measurement_args(a, &m);
		uint8_t *ak = unhex(a[7], &n1);
		int rc = tf_attest_request(&m, a[6], ak, n1, a[8][0] ? a[8] : NULL, (unsigned)atoi(a[9]), a[10], a[11], body,
					   sizeof body);
		if (rc != TF_OK)
			return fail(rc);
		fputs(body, stdout);
	} else if (strcmp(cmd, "certificate-request") == 0 && na == 13) {
		/* certificate-request (attest-request's 12 arguments) SPKIHEX */
		tf_ios_measurement m;
		static char body[1 << 16];
		measurement_args(a, &m);
		uint8_t *ak = unhex(a[7], &n1), *spki = unhex(a[12], &n2);
		int rc = tf_certificate_request(&m, a[6], ak, n1, a[8][0] ? a[8] : NULL, (unsigned)atoi(a[9]), a[10], a[11],
						spki, n2, body, sizeof body);
		if (rc != TF_OK)
			return fail(rc);
		fputs(body, stdout);
	} else if (strcmp(cmd, "p256-spki") == 0 && na == 1) {
		uint8_t *pt = unhex(a[0], &n1), spki[TF_P256_SPKI_SIZE];
		int rc = tf_p256_spki(pt, n1, spki);
		if (rc != TF_OK)
			return fail(rc);
		puthex(spki, sizeof spki);
	} else if (strcmp(cmd, "client-data-hash") == 0 && na == 2) {
		/* client-data-hash NONCE SPKIHEX */
		uint8_t *spki = unhex(a[1], &n1);
		int rc = tf_identity_client_data_hash(a[0], spki, n1, out);
		if (rc != TF_OK)
			return fail(rc);
		puthex(out, 32);
	} else if (strcmp(cmd, "certificate-response") == 0 && (na == 1 || na == 2)) {
		/* certificate-response FILE [BUFSIZE] */
		uint8_t *j = readfile(a[0], &n1);
		size_t cap = na == 2 ? (size_t)atoi(a[1]) : n1;
		uint8_t *buf = malloc(cap + 1);
		tf_issued is;
		int rc = tf_certificate_response((const char *)j, n1, buf, cap, &is);
		if (rc != TF_OK)
			return fail(rc);
		printf("{\"certificate\":\"");
		puthex(is.cert, is.certlen);
		printf("\",\"chain\":");
		puthexes(is.chain, is.chainlen, is.nchain);
		printf(",\"expiresAt\":%lld,\"token\":", (long long)is.expires_at);
		print_json_string(is.token);
		printf(",\"tokenExpiresAt\":%lld}", (long long)is.token_expires_at);
	} else if (strcmp(cmd, "cert-validity") == 0 && na == 1) {
		uint8_t *c = readfile(a[0], &n1);
		int64_t nb, nf;
		int rc = tf_cert_validity(c, n1, &nb, &nf);
		if (rc != TF_OK)
			return fail(rc);
		printf("%lld %lld", (long long)nb, (long long)nf);
	} else if (strcmp(cmd, "renew") == 0 && na == 3) {
		/* renew NOW NOTBEFORE NOTAFTER */
		printf("%d", tf_identity_renew(strtoll(a[0], NULL, 10), strtoll(a[1], NULL, 10), strtoll(a[2], NULL, 10)));
	} else if (strcmp(cmd, "threat") == 0 && na == 5) {
		/* threat POLICY THREAT REASONCODE REASONDATA TOTAL; device values are fixed test strings */
		tf_policy p;
		uint8_t *raw;
		int rc = load_policy(a[0], &p, &raw, &n1);
		if (rc != TF_OK)
			return fail(rc);
		tf_device dev = {"dev-id", "17.5", "iPhone15,2", "Apple", "Apple", "17.5", "Europe/Paris", "ext-1", "com.example.demo"};
		int total = atoi(a[4]);
		tf_verdict v;
		static char json[1 << 16];
		rc = tf_threat_fire(&p, atoi(a[1]), a[2], a[3], &dev, &total, &v, json, sizeof json);
		if (rc != TF_OK)
			return fail(rc);
		printf("{\"mode\":%d,\"score\":%d,\"total\":%d,\"sendEvent\":%d,\"enforceNow\":%d,\"failSafe\":%d,"
			"\"failSafeMs\":%lld,\"exitOnDefend\":%d,\"event\":%s}",
			v.mode, v.score, v.total, v.send_event, v.enforce_now, v.failsafe, (long long)v.failsafe_ms,
			v.exit_on_defend, json[0] ? json : "null");
	} else if (strcmp(cmd, "macho") == 0 && (na == 1 || na == 2)) {
		uint8_t *f = readfile(a[0], &n1);
		tf_codesig cs;
		int rc = tf_macho_codesig(f, n1, na == 2 ? (uint32_t)strtoul(a[1], NULL, 0) : 0, &cs);
		if (rc != TF_OK)
			return fail(rc);
		printf("{\"teamId\":");
		print_json_string(cs.team_id);
		printf(",\"cdhash\":\"");
		puthex(cs.cdhash, 20);
		printf("\",\"hashType\":%d,\"cputype\":%u}", cs.hash_type, cs.cputype);
	} else {
		fprintf(stderr, "usage: hosttest sha256|hmac|hkdf|aes|gcm-seal|gcm-open|policy|policy-check|unseal|measure|attest-request|certificate-request|p256-spki|client-data-hash|certificate-response|cert-validity|renew|threat|macho …\n");
		return 1;
	}
	printf("\n");
	return 0;
}
