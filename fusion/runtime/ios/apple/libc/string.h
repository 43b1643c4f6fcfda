/* string.h: the libSystem string functions the runtime calls (no SDK here;
 * prototypes as in Apple's libc headers, exported by sdk/libSystem.tbd). */
#ifndef TF_LIBC_STRING_H
#define TF_LIBC_STRING_H
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
int strcmp(const char *, const char *);
int strncmp(const char *, const char *, size_t);
char *strchr(const char *, int);
char *strrchr(const char *, int);
#endif
