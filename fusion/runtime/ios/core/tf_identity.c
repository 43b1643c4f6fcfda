/*
 * tf_identity.c: the attested identity's protocol pieces: the identity key's
 * SubjectPublicKeyInfo, the clientDataHash App Attest signs, the POST
 * /v1/certificate body and answer, and the renewal decision from the issued
 * certificate's validity.
 */
#include <string.h>

#include "tf_internal.h"

int tf_policy_identity(const tf_policy *p) {
	const char *m = tf_policy_get(p, "mtls.identity");
	if (m != NULL && strcmp(m, "attested") == 0)
		return TF_ID_ATTESTED;
	if (m != NULL && strcmp(m, "attested-or-embedded") == 0)
		return TF_ID_EITHER;
	return TF_ID_EMBEDDED;
}

/* FORMAT (RFC 5480): SubjectPublicKeyInfo ::= SEQUENCE {
 *   AlgorithmIdentifier SEQUENCE { id-ecPublicKey 1.2.840.10045.2.1, prime256v1 1.2.840.10045.3.1.7 },
 *   subjectPublicKey BIT STRING (0 unused bits) 04 || X || Y } */
static const uint8_t p256_spki_prefix[26] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
};

int tf_p256_spki(const uint8_t *point, size_t len, uint8_t out[TF_P256_SPKI_SIZE]) {
	if (point == NULL || len != 65 || point[0] != 0x04)
		return TF_ERR_FORMAT;
	memcpy(out, p256_spki_prefix, sizeof p256_spki_prefix);
	memcpy(out + sizeof p256_spki_prefix, point, 65);
	return TF_OK;
}

int tf_identity_client_data_hash(const char *nonce, const uint8_t *spki, size_t spkilen, uint8_t out[32]) {
	uint8_t raw[128];
	int n = nonce != NULL ? tf_base64url_decode(nonce, strlen(nonce), raw, sizeof raw) : TF_ERR_FORMAT;
	if (n < 0)
		return TF_ERR_FORMAT;
	tf_sha256_ctx c;
	tf_sha256_init(&c);
	tf_sha256_update(&c, raw, (size_t)n);
	tf_sha256_update(&c, spki, spkilen);
	tf_sha256_final(&c, out);
	return TF_OK;
}

/* FORMAT: tf_attest_request's object with ,"identityPublicKey":base64 before
 * its closing brace. */
int tf_certificate_request(const tf_ios_measurement *m, const char *nonce, const uint8_t *attest_key, size_t attest_keylen,
	const char *device_id, unsigned threats_mask, const char *app_attest_key_id, const char *app_attestation,
	const uint8_t *spki, size_t spkilen, char *out, size_t cap) {
	if (spki == NULL || spkilen == 0)
		return TF_ERR_ARG;
	int rc = tf_attest_request(m, nonce, attest_key, attest_keylen, device_id, threats_mask, app_attest_key_id,
		app_attestation, out, cap);
	if (rc != TF_OK)
		return rc;
	tf_buf b = {out, strlen(out) - 1, cap, 0}; /* over the closing '}' */
	tf_buf_raw(&b, ",\"identityPublicKey\":\"");
	tf_buf_base64(&b, spki, spkilen);
	tf_buf_raw(&b, "\"}");
	rc = tf_buf_end(&b);
	if (rc != TF_OK)
		tf_wipe(out, cap);
	return rc;
}

/* ---- time ---- */

/* days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* digits reads n ASCII digits at s; -1 when one is not a digit. */
static int64_t digits(const char *s, size_t n) {
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int64_t y, int64_t m) {
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return dm[m - 1] + (m == 2 && leap);
}

/* unix_time checks a calendar time and converts it (leap seconds refused). */
static int unix_time(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi, int64_t s, int64_t *out) {
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
		s < 0 || s > 59)
		return TF_ERR_FORMAT;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	return TF_OK;
}

/* rfc3339 parses YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) (Go's time.RFC3339Nano
 * output); the fraction is dropped. */
static int rfc3339(const char *s, size_t n, int64_t *out) {
	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return TF_ERR_FORMAT;
	int64_t t;
	if (unix_time(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2), digits(s + 11, 2), digits(s + 14, 2),
		    digits(s + 17, 2), &t) != TF_OK)
		return TF_ERR_FORMAT;
	size_t i = 19;
	if (s[i] == '.') {
		size_t start = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return TF_ERR_FORMAT;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
		*out = t;
		return TF_OK;
	}
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return TF_ERR_FORMAT;
	int64_t oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
	if (oh < 0 || oh > 23 || om < 0 || om > 59)
		return TF_ERR_FORMAT;
	int64_t off = oh * 3600 + om * 60;
	*out = s[i] == '+' ? t - off : t + off;
	return TF_OK;
}

/* ---- the /v1/certificate answer ---- */

typedef struct {
	const char *p, *end;
} cursor;

static void ws(cursor *c) {
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int eat(cursor *c, char ch) {
	ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

/* string reads a JSON string without escapes or control characters. */
static int string(cursor *c, const char **s, size_t *n) {
	if (!eat(c, '"'))
		return TF_ERR_FORMAT;
	const char *start = c->p;
	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' || (unsigned char)*c->p < 0x20)
			return TF_ERR_FORMAT;
		c->p++;
	}
	if (c->p == c->end)
		return TF_ERR_FORMAT;
	*s = start;
	*n = (size_t)(c->p - start);
	c->p++;
	return TF_OK;
}

/* scalar skips a number, true, false or null. */
static int scalar(cursor *c) {
	ws(c);
	const char *start = c->p;
	while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || (*c->p >= 'a' && *c->p <= 'z') || *c->p == '-' ||
		*c->p == '+' || *c->p == '.' || *c->p == 'E'))
		c->p++;
	return c->p > start ? TF_OK : TF_ERR_FORMAT;
}

/* take decodes base64 s into the buffer at *used. */
static int take_der(const char *s, size_t n, uint8_t *buf, size_t cap, size_t *used, const uint8_t **der, size_t *len) {
	int k = tf_base64_decode(s, n, buf + *used, cap - *used);
	if (k <= 0)
		return k == 0 ? TF_ERR_FORMAT : k;
	*der = buf + *used;
	*len = (size_t)k;
	*used += (size_t)k;
	return TF_OK;
}

static int key_is(const char *k, size_t n, const char *want) { return strlen(want) == n && memcmp(k, want, n) == 0; }

enum { F_CERT = 1, F_CHAIN = 2, F_EXP = 4, F_TOKEN = 8, F_TEXP = 16, F_ALL = 31 };

/* field reads the value of key k into out. */
static int field(cursor *c, const char *k, size_t kn, unsigned *seen, uint8_t *buf, size_t cap, size_t *used, tf_issued *out) {
	const char *s;
	size_t n;
	unsigned f = key_is(k, kn, "certificate") ? F_CERT : key_is(k, kn, "chain") ? F_CHAIN : key_is(k, kn, "expiresAt") ? F_EXP
		: key_is(k, kn, "token") ? F_TOKEN : key_is(k, kn, "tokenExpiresAt") ? F_TEXP : 0;
	if (f & *seen)
		return TF_ERR_FORMAT;
	*seen |= f;
	int rc;
	switch (f) {
	case F_CHAIN:
		if (!eat(c, '['))
			return TF_ERR_FORMAT;
		if (eat(c, ']'))
			return TF_ERR_FORMAT; /* no issuer certificate */
		do {
			if (out->nchain == TF_ISSUED_MAX_CHAIN)
				return TF_ERR_FORMAT;
			if ((rc = string(c, &s, &n)) != TF_OK ||
				(rc = take_der(s, n, buf, cap, used, &out->chain[out->nchain], &out->chainlen[out->nchain])) != TF_OK)
				return rc;
			out->nchain++;
		} while (eat(c, ','));
		return eat(c, ']') ? TF_OK : TF_ERR_FORMAT;
	case 0:
		ws(c);
		if (c->p < c->end && *c->p == '"')
			return string(c, &s, &n);
		return scalar(c);
	}
	if ((rc = string(c, &s, &n)) != TF_OK)
		return rc;
	switch (f) {
	case F_CERT:
		return take_der(s, n, buf, cap, used, &out->cert, &out->certlen);
	case F_EXP:
		return rfc3339(s, n, &out->expires_at);
	case F_TEXP:
		return rfc3339(s, n, &out->token_expires_at);
	default: /* F_TOKEN */
		if (n == 0)
			return TF_ERR_FORMAT;
		if (cap - *used <= n)
			return TF_ERR_SPACE;
		memcpy(buf + *used, s, n);
		buf[*used + n] = 0;
		out->token = (const char *)buf + *used;
		*used += n + 1;
		return TF_OK;
	}
}

/* FORMAT: {"certificate":b64,"chain":[b64,…],"expiresAt":rfc3339,"token":s,"tokenExpiresAt":rfc3339}
 * in any order, other keys with string, number, boolean or null values skipped. */
int tf_certificate_response(const char *json, size_t len, uint8_t *buf, size_t cap, tf_issued *out) {
	cursor c = {json, json + len};
	size_t used = 0;
	unsigned seen = 0;
	int rc = TF_ERR_FORMAT;
	memset(out, 0, sizeof *out);
	if (json == NULL || !eat(&c, '{'))
		goto fail;
	do {
		const char *k;
		size_t kn;
		if ((rc = string(&c, &k, &kn)) != TF_OK)
			goto fail;
		rc = TF_ERR_FORMAT;
		if (!eat(&c, ':'))
			goto fail;
		if ((rc = field(&c, k, kn, &seen, buf, cap, &used, out)) != TF_OK)
			goto fail;
	} while (eat(&c, ','));
	rc = TF_ERR_FORMAT;
	if (!eat(&c, '}'))
		goto fail;
	ws(&c);
	if (c.p != c.end || seen != F_ALL)
		goto fail;
	return TF_OK;
fail:
	memset(out, 0, sizeof *out);
	if (cap > 0)
		memset(buf, 0, used < cap ? used : cap);
	return rc;
}

/* ---- certificate validity ---- */

/* der reads one TLV at *p: tag, content and its length (definite, ≤ 4 length bytes). */
static int der(const uint8_t **p, const uint8_t *end, uint8_t *tag, const uint8_t **val, size_t *len) {
	const uint8_t *q = *p;
	if (end - q < 2)
		return TF_ERR_FORMAT;
	*tag = *q++;
	size_t l = *q++;
	if (l & 0x80) {
		size_t nb = l & 0x7f;
		if (nb < 1 || nb > 4 || (size_t)(end - q) < nb)
			return TF_ERR_FORMAT;
		l = 0;
		while (nb--)
			l = l << 8 | *q++;
	}
	if ((size_t)(end - q) < l)
		return TF_ERR_FORMAT;
	*val = q;
	*len = l;
	*p = q + l;
	return TF_OK;
}

/* x509_time reads a UTCTime (YYMMDDHHMMSSZ, 1950-2049) or GeneralizedTime
 * (YYYYMMDDHHMMSSZ). */
static int x509_time(uint8_t tag, const uint8_t *v, size_t n, int64_t *out) {
	const char *s = (const char *)v;
	int64_t y;
	if (tag == 0x17 && n == 13 && s[12] == 'Z') {
		y = digits(s, 2);
		y = y < 0 ? -1 : y < 50 ? 2000 + y : 1900 + y;
	} else if (tag == 0x18 && n == 15 && s[14] == 'Z') {
		y = digits(s, 4);
		s += 2;
	} else
		return TF_ERR_FORMAT;
	return unix_time(y, digits(s + 2, 2), digits(s + 4, 2), digits(s + 6, 2), digits(s + 8, 2), digits(s + 10, 2), out);
}

/* FORMAT (RFC 5280): Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {
 *   [0] version OPTIONAL, serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE,
 *   validity SEQUENCE { notBefore Time, notAfter Time }, … }, … } */
int tf_cert_validity(const uint8_t *cert, size_t len, int64_t *not_before, int64_t *not_after) {
	const uint8_t *p = cert, *end = cert + len, *v;
	size_t l;
	uint8_t t;
	if (cert == NULL || der(&p, end, &t, &v, &l) != TF_OK || t != 0x30)
		return TF_ERR_FORMAT;
	p = v, end = v + l;
	if (der(&p, end, &t, &v, &l) != TF_OK || t != 0x30)
		return TF_ERR_FORMAT;
	p = v, end = v + l;
	if (der(&p, end, &t, &v, &l) != TF_OK)
		return TF_ERR_FORMAT;
	if (t == 0xa0 && der(&p, end, &t, &v, &l) != TF_OK) /* the serial after a version */
		return TF_ERR_FORMAT;
	if (t != 0x02)
		return TF_ERR_FORMAT;
	for (int i = 0; i < 3; i++) /* signature, issuer, validity */
		if (der(&p, end, &t, &v, &l) != TF_OK || t != 0x30)
			return TF_ERR_FORMAT;
	const uint8_t *vp = v, *vend = v + l, *tv;
	if (der(&vp, vend, &t, &tv, &l) != TF_OK || x509_time(t, tv, l, not_before) != TF_OK)
		return TF_ERR_FORMAT;
	if (der(&vp, vend, &t, &tv, &l) != TF_OK || x509_time(t, tv, l, not_after) != TF_OK || vp != vend)
		return TF_ERR_FORMAT;
	return TF_OK;
}

int tf_identity_renew(int64_t now, int64_t not_before, int64_t not_after) {
	if (not_after <= not_before || now >= not_after)
		return 1;
	/* left < lifetime / 3 (certificate dates are far from overflowing). */
	return 3 * (not_after - now) < not_after - not_before;
}
