/* tf_json.c: bounded JSON output for Threat-Events and attestation requests. */
#include <string.h>

#include "tf_internal.h"

void tf_buf_init(tf_buf *b, char *p, size_t cap) {
	b->p = p;
	b->n = 0;
	b->cap = cap;
	b->overflow = cap == 0;
	if (cap > 0)
		p[0] = 0;
}

void tf_buf_bytes(tf_buf *b, const void *p, size_t n) {
	if (b->overflow || b->cap - b->n <= n) { /* keep room for the NUL */
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0;
}

void tf_buf_raw(tf_buf *b, const char *s) { tf_buf_bytes(b, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (Unicode Table 3-7), or 0. */
static size_t utf8_len(const unsigned char *s) {
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void tf_buf_jstring(tf_buf *b, const char *str) {
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	tf_buf_bytes(b, "\"", 1);
	while (*s) {
		unsigned c = *s;
		char esc[6] = {'\\', 0};
		switch (c) {
		case '"': case '\\': esc[1] = (char)c; tf_buf_bytes(b, esc, 2); s++; continue;
		case '\b': tf_buf_bytes(b, "\\b", 2); s++; continue;
		case '\t': tf_buf_bytes(b, "\\t", 2); s++; continue;
		case '\n': tf_buf_bytes(b, "\\n", 2); s++; continue;
		case '\f': tf_buf_bytes(b, "\\f", 2); s++; continue;
		case '\r': tf_buf_bytes(b, "\\r", 2); s++; continue;
		}
		if (c < 0x20) {
			esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hexd[c >> 4]; esc[5] = hexd[c & 15];
			tf_buf_bytes(b, esc, 6);
			s++;
			continue;
		}
		size_t n = utf8_len(s);
		if (n == 0) {
			tf_buf_bytes(b, "\xef\xbf\xbd", 3);
			s++;
			continue;
		}
		tf_buf_bytes(b, s, n);
		s += n;
	}
	tf_buf_bytes(b, "\"", 1);
}

void tf_buf_hex(tf_buf *b, const uint8_t *p, size_t n) {
	static const char hexd[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		char h[2] = {hexd[p[i] >> 4], hexd[p[i] & 15]};
		tf_buf_bytes(b, h, 2);
	}
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of p in alphabet, padded with '=' to a multiple of 4 when pad. */
static void base64(tf_buf *b, const uint8_t *p, size_t n, const char *alphabet, int pad) {
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t k = n - i < 3 ? n - i : 3;
		if (k > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (k > 2)
			v |= p[i + 2];
		char o[4] = {'=', '=', '=', '='};
		for (size_t j = 0; j <= k; j++)
			o[j] = alphabet[(v >> (18 - 6 * j)) & 63];
		tf_buf_bytes(b, o, pad ? 4 : k + 1);
	}
}

void tf_buf_base64url(tf_buf *b, const uint8_t *p, size_t n) { base64(b, p, n, b64url, 0); }

void tf_buf_base64(tf_buf *b, const uint8_t *p, size_t n) { base64(b, p, n, b64std, 1); }

/* decode64 decodes s in alphabet; padded: the length is a multiple of 4 and
 * ends in the '=' padding it needs (else no padding). Non-zero trailing bits
 * are refused (no encoder writes them). */
static int decode64(const char *s, size_t n, uint8_t *out, size_t cap, const char *alphabet, int padded) {
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	if (padded) {
		if (n % 4 != 0)
			return TF_ERR_FORMAT;
		for (int i = 0; i < 2 && n > 0 && s[n - 1] == '='; i++)
			n--;
	}
	if (n % 4 == 1)
		return TF_ERR_FORMAT;
	for (size_t i = 0; i < n; i++) {
		const char *c = s[i] ? strchr(alphabet, s[i]) : NULL;
		if (c == NULL)
			return TF_ERR_FORMAT;
		acc = acc << 6 | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap)
				return TF_ERR_SPACE;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return TF_ERR_FORMAT;
	return (int)o;
}

int tf_base64url_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
	return decode64(s, n, out, cap, b64url, 0);
}

int tf_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap) { return decode64(s, n, out, cap, b64std, 1); }

int tf_buf_end(tf_buf *b) { return b->overflow ? TF_ERR_SPACE : TF_OK; }
