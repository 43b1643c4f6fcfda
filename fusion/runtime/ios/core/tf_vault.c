/*
 * tf_vault.c: opens the vault pkg/vault.Seal writes.
 *
 * FORMAT (see pkg/vault): "TFV1" | version 1 | salt[32] | nonce[12] |
 * AES-256-GCM(K, nonce, plaintext, AAD) with
 *   K   = HKDF-SHA256(IKM = pepper || signerDigest, salt, "trustfuse vault v1", 32)
 *   AAD = vault[0:37] || SHA-256(policy)
 * plaintext = u32 len | PKCS#8 | u16 count | count × (u32 len | DER) | u32 len | attest key,
 * big-endian.
 */
#include <string.h>

#include "trustfuse_core.h"

#define HEADER 49 /* magic 4 + version 1 + salt 32 + nonce 12 */
#define AAD_PREFIX 37

void tf_ios_signer_digest(const char *team_id, const char *bundle_id, uint8_t out[32]) {
	tf_sha256_ctx c;
	tf_sha256_init(&c);
	tf_sha256_update(&c, team_id, strlen(team_id));
	tf_sha256_update(&c, ".", 1);
	tf_sha256_update(&c, bundle_id, strlen(bundle_id));
	tf_sha256_final(&c, out);
}

/* Reads a big-endian length of n bytes and that many bytes after it. */
static int take(const uint8_t *pt, size_t len, size_t *off, int n, const uint8_t **p, size_t *plen) {
	if (len - *off < (size_t)n)
		return TF_ERR_FORMAT;
	uint32_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | pt[*off + (size_t)i];
	*off += (size_t)n;
	if (p == NULL) { /* a bare count */
		*plen = v;
		return TF_OK;
	}
	if (v > len - *off)
		return TF_ERR_FORMAT;
	*p = pt + *off;
	*plen = v;
	*off += v;
	return TF_OK;
}

static int parse_plaintext(const uint8_t *pt, size_t len, tf_identity *id) {
	size_t off = 0, count;
	memset(id, 0, sizeof *id);
	/* An empty key is an attested-mode vault: the chain is the issuer CA's. */
	if (take(pt, len, &off, 4, &id->key, &id->keylen) != TF_OK)
		return TF_ERR_FORMAT;
	if (take(pt, len, &off, 2, NULL, &count) != TF_OK || count == 0 || count > 16)
		return TF_ERR_FORMAT;
	for (size_t i = 0; i < count; i++)
		if (take(pt, len, &off, 4, &id->chain[i], &id->chainlen[i]) != TF_OK || id->chainlen[i] == 0)
			return TF_ERR_FORMAT;
	id->nchain = count;
	if (take(pt, len, &off, 4, &id->attest_key, &id->attest_keylen) != TF_OK || off != len)
		return TF_ERR_FORMAT;
	return TF_OK;
}

int tf_vault_open(const uint8_t *vault, size_t vaultlen, const uint8_t pepper[32], const uint8_t signer_digest[32],
	const uint8_t *policy, size_t policylen, uint8_t *out, size_t outcap, tf_identity *id) {
	uint8_t ikm[64], key[32], aad[AAD_PREFIX + 32];
	static const char info[] = "trustfuse vault v1";
	if (vaultlen > TF_VAULT_MAX || vaultlen < HEADER + 16 || memcmp(vault, "TFV1", 4) != 0 || vault[4] != 1)
		return TF_ERR_FORMAT;
	size_t ptlen = vaultlen - HEADER - 16;
	if (outcap < ptlen)
		return TF_ERR_SPACE;
	memcpy(ikm, pepper, 32);
	memcpy(ikm + 32, signer_digest, 32);
	tf_hkdf_sha256(ikm, sizeof ikm, vault + 5, 32, (const uint8_t *)info, sizeof info - 1, key, sizeof key);
	memcpy(aad, vault, AAD_PREFIX);
	tf_sha256(policy, policylen, aad + AAD_PREFIX);
	int rc = tf_gcm_open(key, vault + 37, 12, aad, sizeof aad, vault + HEADER, vaultlen - HEADER, out);
	tf_wipe(ikm, sizeof ikm);
	tf_wipe(key, sizeof key);
	if (rc != TF_OK)
		return rc;
	if (parse_plaintext(out, ptlen, id) != TF_OK) {
		tf_wipe(out, ptlen);
		memset(id, 0, sizeof *id);
		return TF_ERR_FORMAT;
	}
	return TF_OK;
}
