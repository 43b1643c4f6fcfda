/*
 * hosttest/main.c: runs the glue's portable DER code (keyder.c) on the host
 * for TestKeyDER (fusion/runtime/ios). Not part of the framework.
 *
 *   keyder pkcs8 FILE   prints "ec HEX" or "rsa HEX" (SecKeyCreateWithData input), exit 1 if refused
 *   keyder spki FILE    prints the certificate's SubjectPublicKeyInfo as HEX, exit 1 if not found
 */
#include "glue.h"

int printf(const char *, ...);
typedef struct FILE FILE;
FILE *fopen(const char *, const char *);
size_t fread(void *, size_t, size_t, FILE *);

static void hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	FILE *f = argc == 3 ? fopen(argv[2], "rb") : NULL;
	if (!f)
		return 2;
	size_t n = fread(buf, 1, sizeof buf, f);
	if (!strcmp(argv[1], "pkcs8")) {
		uint8_t *out;
		size_t len;
		bool ec;
		if (!tf_pkcs8_to_seckey(buf, n, &out, &len, &ec))
			return 1;
		printf("%s ", ec ? "ec" : "rsa");
		hex(out, len);
		return 0;
	}
	const uint8_t *spki;
	size_t len;
	if (strcmp(argv[1], "spki") || !tf_cert_spki(buf, n, &spki, &len))
		return 1;
	hex(spki, len);
	return 0;
}
