/*
 * tf_macho.c: finds a Mach-O slice's LC_CODE_SIGNATURE and reads the team id
 * and cdhash of its CodeDirectory.
 *
 * FORMAT (Apple's <mach-o/loader.h>, <mach-o/fat.h>, cs_blobs.h):
 *   fat header (big-endian): 0xcafebabe | nfat | nfat × {cputype, subtype, offset, size, align}
 *                            0xcafebabf: the same with 64-bit offset and size (+ reserved)
 *   thin (little-endian): 0xfeedfacf (64-bit, 32-byte header) or 0xfeedface (28 bytes);
 *                         ncmds at 16, sizeofcmds at 20; load commands {cmd, cmdsize, …}
 *   LC_CODE_SIGNATURE 0x1d: {cmd, cmdsize, dataoff, datasize} relative to the slice
 *   SuperBlob (big-endian): 0xfade0cc0 | length | count | count × {type, offset}
 *   CodeDirectory 0xfade0c02 at slot 0 or 0x1000…0x1004: length at 4, version at 8,
 *     hashType (u8) at 37, teamOffset at 48 (version ≥ 0x20200)
 * The cdhash is the hash of the whole CodeDirectory blob with its own hash
 * type, truncated to 20 bytes; of several directories the SHA-256 one is the
 * one the kernel records, so it is the one read here.
 */
#include <string.h>

#include "trustfuse_core.h"

#define CPU_ARM64 0x0100000cu
#define CPU_ARM64_32 0x0200000cu

static uint32_t be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static uint32_t le32(const uint8_t *p) {
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Reads the SuperBlob sig[0:n]. */
static int read_signature(const uint8_t *sig, size_t n, tf_codesig *out) {
	if (n < 12 || be32(sig) != 0xfade0cc0u)
		return TF_ERR_FORMAT;
	uint32_t len = be32(sig + 4), count = be32(sig + 8);
	if (len > n || len < 12 || count > (len - 12) / 8)
		return TF_ERR_FORMAT;
	const uint8_t *best = NULL;
	uint32_t bestlen = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t type = be32(sig + 12 + 8 * i), off = be32(sig + 16 + 8 * i);
		if (type != 0 && (type < 0x1000 || type > 0x1004))
			continue;
		if (off > len || len - off < 52)
			return TF_ERR_FORMAT;
		const uint8_t *cd = sig + off;
		uint32_t cdlen = be32(cd + 4);
		if (be32(cd) != 0xfade0c02u || cdlen < 52 || cdlen > len - off)
			return TF_ERR_FORMAT;
		if (cd[37] == 2 && (best == NULL || best[37] != 2)) { /* CS_HASHTYPE_SHA256 */
			best = cd;
			bestlen = cdlen;
		}
	}
	if (best == NULL)
		return TF_ERR_NOTFOUND; /* no SHA-256 CodeDirectory */
	uint8_t h[32];
	tf_sha256(best, bestlen, h);
	memcpy(out->cdhash, h, 20);
	out->hash_type = best[37];
	out->team_id[0] = 0;
	uint32_t team = be32(best + 8) >= 0x20200u ? be32(best + 48) : 0;
	if (team != 0) {
		if (team >= bestlen)
			return TF_ERR_FORMAT;
		size_t k = 0;
		while (team + k < bestlen && best[team + k] != 0 && k < sizeof out->team_id - 1) {
			out->team_id[k] = (char)best[team + k];
			k++;
		}
		if (team + k >= bestlen || best[team + k] != 0)
			return TF_ERR_FORMAT; /* unterminated or longer than 63 bytes */
		out->team_id[k] = 0;
	}
	return TF_OK;
}

static int read_thin(const uint8_t *m, size_t n, tf_codesig *out) {
	if (n < 28)
		return TF_ERR_FORMAT;
	uint32_t magic = le32(m);
	size_t hdr;
	if (magic == 0xfeedfacfu)
		hdr = 32;
	else if (magic == 0xfeedfaceu)
		hdr = 28;
	else
		return TF_ERR_FORMAT;
	uint32_t ncmds = le32(m + 16), size = le32(m + 20);
	if (n < hdr || size > n - hdr)
		return TF_ERR_FORMAT;
	out->cputype = le32(m + 4);
	size_t off = hdr, end = hdr + size;
	for (uint32_t i = 0; i < ncmds; i++) {
		if (end - off < 8)
			return TF_ERR_FORMAT;
		uint32_t cmd = le32(m + off), cmdsize = le32(m + off + 4);
		if (cmdsize < 8 || cmdsize > end - off)
			return TF_ERR_FORMAT;
		if (cmd == 0x1d) {
			if (cmdsize < 16)
				return TF_ERR_FORMAT;
			uint32_t dataoff = le32(m + off + 8), datasize = le32(m + off + 12);
			if (dataoff > n || datasize > n - dataoff)
				return TF_ERR_FORMAT;
			return read_signature(m + dataoff, datasize, out);
		}
		off += cmdsize;
	}
	return TF_ERR_NOTFOUND;
}

int tf_macho_codesig(const uint8_t *f, size_t len, uint32_t cputype, tf_codesig *out) {
	memset(out, 0, sizeof *out);
	if (len < 8)
		return TF_ERR_FORMAT;
	uint32_t magic = be32(f);
	if (magic != 0xcafebabeu && magic != 0xcafebabfu)
		return read_thin(f, len, out);
	int wide = magic == 0xcafebabfu;
	size_t entry = wide ? 32 : 20;
	uint32_t nfat = be32(f + 4);
	if (nfat == 0 || nfat > (len - 8) / entry)
		return TF_ERR_FORMAT;
	/* cputype 0: the slice a device runs (first arm64, else arm64_32, else the first). */
	static const uint32_t order[] = {CPU_ARM64, CPU_ARM64_32};
	long pick = -1;
	for (size_t k = 0; k < 2 && pick < 0; k++)
		for (uint32_t i = 0; i < nfat && pick < 0; i++) {
			uint32_t want = cputype ? cputype : order[k];
			if (be32(f + 8 + entry * i) == want)
				pick = (long)i;
		}
	if (pick < 0) {
		if (cputype)
			return TF_ERR_NOTFOUND;
		pick = 0;
	}
	const uint8_t *a = f + 8 + entry * (size_t)pick;
	uint64_t off = wide ? be64(a + 8) : be32(a + 8), size = wide ? be64(a + 16) : be32(a + 12);
	if (off > len || size > len - off)
		return TF_ERR_FORMAT;
	return read_thin(f + off, (size_t)size, out);
}
