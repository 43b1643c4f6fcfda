/*
 * keyder.c: PKCS#8 PrivateKeyInfo -> the bytes SecKeyCreateWithData takes
 * (Security/SecKey.h): an RSA key as its PKCS#1 RSAPrivateKey DER, a P-256
 * key as ANSI X9.63 04 || X || Y || D.
 *
 * FORMAT (RFC 5208, RFC 5915):
 *   PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE { OID, params },
 *                                 privateKey OCTET STRING, ... }
 *   RSA: privateKey = RSAPrivateKey (PKCS#1)
 *   EC:  privateKey = ECPrivateKey ::= SEQUENCE { 1, OCTET STRING d(32),
 *                       [0] parameters OPTIONAL, [1] BIT STRING publicKey OPTIONAL }
 *
 * And the SubjectPublicKeyInfo of a certificate, for the SPKI pins (RFC 5280):
 *   Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
 *       serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ... }, ... }
 */
#include "glue.h"

/* der_next reads one TLV at *p (< end): tag, content pointer and length. */
static bool der_next(const uint8_t **p, const uint8_t *end, uint8_t *tag, const uint8_t **val, size_t *len)
{
	const uint8_t *q = *p;
	if (end - q < 2)
		return false;
	*tag = *q++;
	size_t l = *q++;
	if (l & 0x80) {
		int nb = (int)(l & 0x7f);
		if (nb < 1 || nb > 3 || end - q < nb)
			return false;
		l = 0;
		while (nb--)
			l = (l << 8) | *q++;
	}
	if ((size_t)(end - q) < l)
		return false;
	*val = q;
	*len = l;
	*p = q + l;
	return true;
}

static const uint8_t oid_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t oid_ec[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t oid_p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

bool tf_pkcs8_to_seckey(const uint8_t *p8, size_t n, uint8_t **out, size_t *outlen, bool *is_ec)
{
	const uint8_t *p = p8, *end = p8 + n, *v, *seq, *alg, *oid, *key;
	size_t l, seql, algl, oidl, keyl;
	uint8_t t;
	if (!der_next(&p, end, &t, &seq, &seql) || t != 0x30)
		return false;
	p = seq;
	end = seq + seql;
	if (!der_next(&p, end, &t, &v, &l) || t != 0x02)
		return false;
	if (!der_next(&p, end, &t, &alg, &algl) || t != 0x30)
		return false;
	if (!der_next(&p, end, &t, &key, &keyl) || t != 0x04)
		return false;
	const uint8_t *ap = alg;
	if (!der_next(&ap, alg + algl, &t, &oid, &oidl) || t != 0x06)
		return false;
	if (oidl == sizeof oid_rsa && !memcmp(oid, oid_rsa, oidl)) {
		if (!(*out = malloc(keyl)))
			return false;
		memcpy(*out, key, keyl);
		*outlen = keyl;
		*is_ec = false;
		return true;
	}
	if (oidl != sizeof oid_ec || memcmp(oid, oid_ec, oidl))
		return false;
	if (!der_next(&ap, alg + algl, &t, &v, &l) || t != 0x06 || l != sizeof oid_p256 || memcmp(v, oid_p256, l))
		return false;
	/* ECPrivateKey */
	p = key;
	end = key + keyl;
	if (!der_next(&p, end, &t, &seq, &seql) || t != 0x30)
		return false;
	p = seq;
	end = seq + seql;
	const uint8_t *d = NULL, *pub = NULL;
	size_t dl = 0, publ = 0;
	if (!der_next(&p, end, &t, &v, &l) || t != 0x02)
		return false;
	if (!der_next(&p, end, &t, &d, &dl) || t != 0x04 || dl > 32)
		return false;
	while (p < end) {
		if (!der_next(&p, end, &t, &v, &l))
			return false;
		if (t == 0xa1) { /* [1] { BIT STRING 00 04 X Y } */
			const uint8_t *bp = v;
			if (!der_next(&bp, v + l, &t, &pub, &publ) || t != 0x03 || publ != 66 || pub[0] != 0 || pub[1] != 4)
				return false;
		}
	}
	if (!pub) /* the public point is not recomputed here: Go's encoder always writes it */
		return false;
	if (!(*out = calloc(1, 97)))
		return false;
	memcpy(*out, pub + 1, 65);
	memcpy(*out + 65 + (32 - dl), d, dl); /* D left-padded to 32 bytes */
	*outlen = 97;
	*is_ec = true;
	return true;
}

bool tf_cert_spki(const uint8_t *der, size_t n, const uint8_t **spki, size_t *len)
{
	const uint8_t *p = der, *v, *tbs;
	size_t l, tbsl;
	uint8_t t;
	if (!der_next(&p, der + n, &t, &v, &l) || t != 0x30)
		return false;
	p = v;
	if (!der_next(&p, v + l, &t, &tbs, &tbsl) || t != 0x30)
		return false;
	p = tbs;
	const uint8_t *end = tbs + tbsl;
	if (!der_next(&p, end, &t, &v, &l))
		return false;
	int skip = t == 0xa0 ? 5 : 4; /* fields before the SPKI, after the one just read */
	while (skip--)
		if (!der_next(&p, end, &t, &v, &l))
			return false;
	const uint8_t *start = p;
	if (!der_next(&p, end, &t, &v, &l) || t != 0x30)
		return false;
	*spki = start;
	*len = (size_t)(p - start);
	return true;
}
