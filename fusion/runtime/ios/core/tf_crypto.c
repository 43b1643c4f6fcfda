/*
 * tf_crypto.c: SHA-256 (FIPS 180-4), HMAC (RFC 2104), HKDF (RFC 5869),
 * AES-256 (FIPS 197) and GCM (NIST SP 800-38D), written for clarity over
 * speed: the runtime decrypts one vault of a few KiB per launch.
 *
 * Side channels: the GHASH multiply is branch-free; the tag comparison is
 * constant time. The AES S-box is a table lookup, so AES is not protected
 * against cache-timing attacks by a co-resident process; the key it handles
 * is derived once per launch in the app's own process.
 */
#include <string.h>

#include "trustfuse_core.h"

static uint32_t rd32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void wr64(uint8_t *p, uint64_t v) {
	wr32(p, (uint32_t)(v >> 32));
	wr32(p + 4, (uint32_t)v);
}

void tf_wipe(void *p, size_t n) {
	volatile uint8_t *v = p;
	while (n--)
		*v++ = 0;
}

int tf_ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return (int)(1u & (((unsigned)d - 1u) >> 8));
}

/* ---- SHA-256 ---- */

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void sha256_block(uint32_t h[8], const uint8_t *p) {
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = rd32(p + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void tf_sha256_init(tf_sha256_ctx *c) {
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(c->h, iv, sizeof iv);
	c->len = 0;
	c->n = 0;
}

void tf_sha256_update(tf_sha256_ctx *c, const void *data, size_t n) {
	const uint8_t *p = data;
	c->len += n;
	while (n > 0) {
		if (c->n == 0 && n >= 64) {
			sha256_block(c->h, p);
			p += 64; n -= 64;
			continue;
		}
		size_t k = 64 - c->n < n ? 64 - c->n : n;
		memcpy(c->buf + c->n, p, k);
		c->n += k; p += k; n -= k;
		if (c->n == 64) {
			sha256_block(c->h, c->buf);
			c->n = 0;
		}
	}
}

void tf_sha256_final(tf_sha256_ctx *c, uint8_t out[32]) {
	uint64_t bits = c->len * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (c->n < 56 ? 56 : 120) - c->n;
	wr64(pad + padlen, bits);
	tf_sha256_update(c, pad, padlen + 8);
	for (int i = 0; i < 8; i++)
		wr32(out + 4 * i, c->h[i]);
	tf_wipe(c, sizeof *c);
}

void tf_sha256(const void *p, size_t n, uint8_t out[32]) {
	tf_sha256_ctx c;
	tf_sha256_init(&c);
	tf_sha256_update(&c, p, n);
	tf_sha256_final(&c, out);
}

/* ---- HMAC / HKDF ---- */

void tf_hmac_init(tf_hmac_ctx *c, const uint8_t *key, size_t keylen) {
	uint8_t k[64] = {0}, pad[64];
	if (keylen > 64)
		tf_sha256(key, keylen, k);
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	tf_sha256_init(&c->inner);
	tf_sha256_update(&c->inner, pad, 64);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	tf_sha256_init(&c->outer);
	tf_sha256_update(&c->outer, pad, 64);
	tf_wipe(k, sizeof k);
	tf_wipe(pad, sizeof pad);
}

void tf_hmac_update(tf_hmac_ctx *c, const void *p, size_t n) { tf_sha256_update(&c->inner, p, n); }

void tf_hmac_final(tf_hmac_ctx *c, uint8_t out[32]) {
	uint8_t ih[32];
	tf_sha256_final(&c->inner, ih);
	tf_sha256_update(&c->outer, ih, 32);
	tf_sha256_final(&c->outer, out);
	tf_wipe(ih, sizeof ih);
}

void tf_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t n, uint8_t out[32]) {
	tf_hmac_ctx c;
	tf_hmac_init(&c, key, keylen);
	tf_hmac_update(&c, msg, n);
	tf_hmac_final(&c, out);
}

int tf_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
	const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen) {
	if (outlen > 255 * 32)
		return TF_ERR_ARG;
	uint8_t prk[32], t[32];
	static const uint8_t zero[32];
	/* Extract: an absent salt is HashLen zero bytes (RFC 5869 §2.2). */
	if (saltlen == 0)
		tf_hmac_sha256(zero, sizeof zero, ikm, ikmlen, prk);
	else
		tf_hmac_sha256(salt, saltlen, ikm, ikmlen, prk);
	/* Expand: T(i) = HMAC(PRK, T(i-1) || info || i). */
	size_t done = 0;
	for (uint8_t i = 1; done < outlen; i++) {
		tf_hmac_ctx c;
		tf_hmac_init(&c, prk, sizeof prk);
		if (i > 1)
			tf_hmac_update(&c, t, sizeof t);
		tf_hmac_update(&c, info, infolen);
		tf_hmac_update(&c, &i, 1);
		tf_hmac_final(&c, t);
		size_t k = outlen - done < 32 ? outlen - done : 32;
		memcpy(out + done, t, k);
		done += k;
	}
	tf_wipe(prk, sizeof prk);
	tf_wipe(t, sizeof t);
	return TF_OK;
}

/* ---- AES-256 ---- */

static const uint8_t sbox[256] = {
	0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
	0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
	0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
	0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
	0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
	0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
	0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
	0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
	0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
	0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
	0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
	0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
	0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
	0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
	0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
	0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

static uint32_t subword(uint32_t w) {
	return (uint32_t)sbox[w >> 24] << 24 | (uint32_t)sbox[(w >> 16) & 0xff] << 16 |
		(uint32_t)sbox[(w >> 8) & 0xff] << 8 | sbox[w & 0xff];
}

/* FIPS 197 §5.2 KeyExpansion with Nk = 8, Nr = 14. */
void tf_aes256_init(tf_aes256 *a, const uint8_t key[32]) {
	uint32_t rcon = 1;
	for (int i = 0; i < 8; i++)
		a->rk[i] = rd32(key + 4 * i);
	for (int i = 8; i < 60; i++) {
		uint32_t t = a->rk[i - 1];
		if (i % 8 == 0) {
			t = subword(t << 8 | t >> 24) ^ rcon << 24;
			rcon = (rcon << 1) ^ ((rcon >> 7) * 0x11b);
		} else if (i % 8 == 4) {
			t = subword(t);
		}
		a->rk[i] = a->rk[i - 8] ^ t;
	}
}

static uint8_t xtime(uint8_t x) { return (uint8_t)(x << 1 ^ ((x >> 7) * 0x1b)); }

/* FIPS 197 §5.1 Cipher on the state s (column-major, s[4c+r]). */
void tf_aes256_encrypt(const tf_aes256 *a, const uint8_t in[16], uint8_t out[16]) {
	uint8_t s[16], t[16];
	for (int c = 0; c < 4; c++)
		wr32(t + 4 * c, rd32(in + 4 * c) ^ a->rk[c]);
	memcpy(s, t, 16);
	for (int round = 1; round <= 14; round++) {
		/* SubBytes and ShiftRows: row r moves left by r columns. */
		for (int c = 0; c < 4; c++)
			for (int r = 0; r < 4; r++)
				t[4 * c + r] = sbox[s[4 * ((c + r) % 4) + r]];
		if (round < 14) { /* MixColumns */
			for (int c = 0; c < 4; c++) {
				uint8_t *col = t + 4 * c, a0 = col[0], a1 = col[1], a2 = col[2], a3 = col[3];
				uint8_t all = a0 ^ a1 ^ a2 ^ a3;
				col[0] = a0 ^ all ^ xtime(a0 ^ a1);
				col[1] = a1 ^ all ^ xtime(a1 ^ a2);
				col[2] = a2 ^ all ^ xtime(a2 ^ a3);
				col[3] = a3 ^ all ^ xtime(a3 ^ a0);
			}
		}
		for (int c = 0; c < 4; c++) /* AddRoundKey */
			wr32(s + 4 * c, rd32(t + 4 * c) ^ a->rk[4 * round + c]);
	}
	memcpy(out, s, 16);
	tf_wipe(s, sizeof s);
	tf_wipe(t, sizeof t);
}

/* ---- GCM ---- */

/* x = x·h in GF(2^128) with GCM's bit order (SP 800-38D §6.3, Algorithm 1),
 * without secret-dependent branches. */
static void gf_mul(uint8_t x[16], const uint8_t h[16]) {
	uint8_t z[16] = {0}, v[16];
	memcpy(v, h, 16);
	for (int i = 0; i < 128; i++) {
		uint8_t bit = (uint8_t)-((x[i / 8] >> (7 - i % 8)) & 1);
		for (int j = 0; j < 16; j++)
			z[j] ^= v[j] & bit;
		uint8_t lsb = (uint8_t)-(v[15] & 1);
		for (int j = 15; j > 0; j--)
			v[j] = (uint8_t)(v[j] >> 1 | v[j - 1] << 7);
		v[0] = (uint8_t)(v[0] >> 1) ^ (0xe1 & lsb);
	}
	memcpy(x, z, 16);
}

/* GHASH over data, zero-padded to whole blocks. */
static void ghash_update(uint8_t y[16], const uint8_t h[16], const uint8_t *p, size_t n) {
	while (n > 0) {
		size_t k = n < 16 ? n : 16;
		for (size_t i = 0; i < k; i++)
			y[i] ^= p[i];
		gf_mul(y, h);
		p += k; n -= k;
	}
}

static void incr32(uint8_t ctr[16]) {
	wr32(ctr + 12, rd32(ctr + 12) + 1);
}

/* Shared by seal and open: derive H and J0, run GCTR over in (from J0+1),
 * and compute the tag over aad and the ciphertext ct (in for open, out for seal). */
static void gcm(const uint8_t key[32], const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
	const uint8_t *in, size_t n, uint8_t *out, int sealing, uint8_t tag[16]) {
	tf_aes256 a;
	uint8_t h[16] = {0}, j0[16] = {0}, ctr[16], ks[16], y[16] = {0}, lens[16];
	tf_aes256_init(&a, key);
	tf_aes256_encrypt(&a, h, h);
	if (ivlen == 12) {
		memcpy(j0, iv, 12);
		j0[15] = 1;
	} else {
		ghash_update(j0, h, iv, ivlen);
		memset(lens, 0, 8);
		wr64(lens + 8, (uint64_t)ivlen * 8);
		ghash_update(j0, h, lens, 16);
	}
	ghash_update(y, h, aad, aadlen);
	if (!sealing)
		ghash_update(y, h, in, n);
	memcpy(ctr, j0, 16);
	for (size_t off = 0; off < n; off += 16) {
		incr32(ctr);
		tf_aes256_encrypt(&a, ctr, ks);
		size_t k = n - off < 16 ? n - off : 16;
		for (size_t i = 0; i < k; i++)
			out[off + i] = in[off + i] ^ ks[i];
	}
	if (sealing)
		ghash_update(y, h, out, n);
	wr64(lens, (uint64_t)aadlen * 8);
	wr64(lens + 8, (uint64_t)n * 8);
	ghash_update(y, h, lens, 16);
	tf_aes256_encrypt(&a, j0, tag);
	for (int i = 0; i < 16; i++)
		tag[i] ^= y[i];
	tf_wipe(&a, sizeof a);
	tf_wipe(h, sizeof h);
	tf_wipe(ks, sizeof ks);
}

void tf_gcm_seal(const uint8_t key[32], const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
	const uint8_t *pt, size_t ptlen, uint8_t *out) {
	gcm(key, iv, ivlen, aad, aadlen, pt, ptlen, out, 1, out + ptlen);
}

int tf_gcm_open(const uint8_t key[32], const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
	const uint8_t *in, size_t inlen, uint8_t *out) {
	uint8_t tag[16];
	if (inlen < 16)
		return TF_ERR_UNSEAL;
	size_t n = inlen - 16;
	gcm(key, iv, ivlen, aad, aadlen, in, n, out, 0, tag);
	if (!tf_ct_equal(tag, in + n, 16)) {
		tf_wipe(out, n);
		return TF_ERR_UNSEAL;
	}
	return TF_OK;
}
