/* Which loaded images belong in the app's process (the tamper check's
 * "unexpected dylibs"). */
#include <string.h>

#include "trustfuse_core.h"

/* The places iOS loads its own code from: the shared cache's paths
 * (/usr/lib, /System/Library), the cryptexes iOS 16 and later mount, and
 * /Developer (the DeveloperDiskImage a debugging Xcode mounts; the debugger
 * check covers that case). */
static const char *const system_prefixes[] = {
	"/usr/lib/", "/System/Library/", "/System/Cryptexes/", "/private/preboot/Cryptexes/", "/Developer/",
};

static int has_prefix(const char *s, const char *prefix, size_t n)
{
	return memcmp(s, prefix, n) == 0;
}

/* dot_segment reports whether the path has a "." or ".." segment, which
 * could lead out of a directory its prefix names. */
static int dot_segment(const char *p)
{
	for (const char *seg = p; *seg;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 1;
		if (!end)
			break;
		seg = end + 1;
	}
	return 0;
}

int tf_image_expected(const char *image, const char *app_dir)
{
	if (!image || !*image)
		return 1; /* dyld gives no name for some images: nothing to judge */
	if (image[0] != '/' || dot_segment(image))
		return 0;
	size_t il = strlen(image);
	for (size_t i = 0; i < sizeof system_prefixes / sizeof *system_prefixes; i++) {
		size_t n = strlen(system_prefixes[i]);
		if (il > n && has_prefix(image, system_prefixes[i], n))
			return 1;
	}
	size_t al = app_dir ? strlen(app_dir) : 0;
	while (al > 1 && app_dir[al - 1] == '/')
		al--;
	/* Inside the app bundle: "<app_dir>/…". */
	return al > 0 && il > al + 1 && has_prefix(image, app_dir, al) && image[al] == '/';
}
