/* stdio.h: the libSystem formatting function the runtime calls (no SDK
 * here; prototype as in Apple's libc headers, exported by sdk/libSystem.tbd). */
#ifndef TF_LIBC_STDIO_H
#define TF_LIBC_STDIO_H
#include <stddef.h>
int snprintf(char *, size_t, const char *, ...);
#endif
