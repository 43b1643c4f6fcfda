/* tf_internal.h: helpers shared by the core's files; not part of the API. */
#ifndef TF_INTERNAL_H
#define TF_INTERNAL_H

#include "trustfuse_core.h"

/* A bounded output buffer; overflow is sticky and leaves the buffer NUL-terminated. */
typedef struct {
	char *p;
	size_t n, cap;
	int overflow;
} tf_buf;

void tf_buf_init(tf_buf *b, char *p, size_t cap);
void tf_buf_raw(tf_buf *b, const char *s);
void tf_buf_bytes(tf_buf *b, const void *p, size_t n);
/* A JSON string as RFC 8785 (JSON.stringify) writes it; invalid UTF-8 bytes
 * become U+FFFD one for one, as Go's encoding/json does. NULL is "". */
void tf_buf_jstring(tf_buf *b, const char *s);
void tf_buf_hex(tf_buf *b, const uint8_t *p, size_t n);
void tf_buf_base64url(tf_buf *b, const uint8_t *p, size_t n);
/* Standard base64 with padding (RFC 4648 §4). */
void tf_buf_base64(tf_buf *b, const uint8_t *p, size_t n);
/* Standard base64 with padding decoded; the length or TF_ERR_FORMAT / TF_ERR_SPACE. */
int tf_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap);
/* TF_OK, or TF_ERR_SPACE after an overflow. */
int tf_buf_end(tf_buf *b);

#endif
