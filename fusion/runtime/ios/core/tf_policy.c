/*
 * tf_policy.c: reads the runtime policy, java.util.Properties text written
 * by androidrt.Policy.Encode, exactly as Properties.load reads it.
 */
#include <string.h>

#include "trustfuse_core.h"

/* Logical-line reader (Properties.LineReader): joins a physical line ending
 * in an odd number of backslashes with the next one, minus that next line's
 * leading white space. Bytes are ISO-8859-1 characters. */
typedef struct {
	const uint8_t *s;
	size_t n, i;
	int bs;  /* the previous character returned was an unpaired backslash */
} lreader;

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\f'; }
static int is_nl(int c) { return c == '\n' || c == '\r'; }

static void skip_newline(lreader *r) {
	if (r->i < r->n && r->s[r->i] == '\r')
		r->i++;
	if (r->i < r->n && r->s[r->i] == '\n')
		r->i++;
}

/* Next character of the logical line, or -1 at its end. */
static int lnext(lreader *r) {
	for (;;) {
		if (r->i >= r->n || is_nl(r->s[r->i]))
			return -1;
		int c = r->s[r->i++];
		if (c != '\\') {
			r->bs = 0;
			return c;
		}
		if (!r->bs && (r->i >= r->n || is_nl(r->s[r->i]))) {
			if (r->i >= r->n)
				return -1; /* a backslash at the end of input is dropped */
			skip_newline(r);
			while (r->i < r->n && is_ws(r->s[r->i]))
				r->i++;
			continue;
		}
		r->bs = !r->bs;
		return c;
	}
}

/* Peek at the next logical character without consuming it. */
static int lpeek(lreader *r) {
	lreader copy = *r;
	return lnext(&copy);
}

typedef struct {
	char *p;
	size_t n, cap;
	int overflow;
} arena;

static void put_byte(arena *a, uint8_t b) {
	if (a->n < a->cap)
		a->p[a->n++] = (char)b;
	else
		a->overflow = 1;
}

static void put_utf8(arena *a, uint32_t cp) {
	if (cp < 0x80) {
		put_byte(a, (uint8_t)cp);
	} else if (cp < 0x800) {
		put_byte(a, (uint8_t)(0xc0 | cp >> 6));
		put_byte(a, (uint8_t)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		put_byte(a, (uint8_t)(0xe0 | cp >> 12));
		put_byte(a, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
		put_byte(a, (uint8_t)(0x80 | (cp & 0x3f)));
	} else {
		put_byte(a, (uint8_t)(0xf0 | cp >> 18));
		put_byte(a, (uint8_t)(0x80 | ((cp >> 12) & 0x3f)));
		put_byte(a, (uint8_t)(0x80 | ((cp >> 6) & 0x3f)));
		put_byte(a, (uint8_t)(0x80 | (cp & 0x3f)));
	}
}

static int hexval(int c) {
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one UTF-16 unit sequence into UTF-8, pairing surrogates; a lone
 * surrogate becomes U+FFFD (what a JSON encoder writes for it). */
typedef struct {
	uint32_t hi; /* pending high surrogate, or 0 */
} utf16;

static void emit(arena *a, utf16 *u, uint32_t unit) {
	if (u->hi) {
		if (unit >= 0xdc00 && unit <= 0xdfff) {
			put_utf8(a, 0x10000 + ((u->hi - 0xd800) << 10) + (unit - 0xdc00));
			u->hi = 0;
			return;
		}
		put_utf8(a, 0xfffd);
		u->hi = 0;
	}
	if (unit >= 0xd800 && unit <= 0xdbff)
		u->hi = unit;
	else if (unit >= 0xdc00 && unit <= 0xdfff)
		put_utf8(a, 0xfffd);
	else
		put_utf8(a, unit);
}

static void flush(arena *a, utf16 *u) {
	if (u->hi)
		put_utf8(a, 0xfffd);
	u->hi = 0;
}

/* Reads the key (is_key: stops at an unescaped separator) or the value up to
 * the end of the logical line, decoding escapes as Properties.loadConvert. */
static int read_part(lreader *r, arena *a, int is_key) {
	utf16 u = {0};
	for (;;) {
		int c = lpeek(r);
		if (c < 0)
			break;
		if (is_key && (c == '=' || c == ':' || is_ws(c)))
			break;
		lnext(r);
		if (c != '\\') {
			emit(a, &u, (uint32_t)c);
			continue;
		}
		c = lnext(r);
		if (c < 0)
			break;
		switch (c) {
		case 't': emit(a, &u, '\t'); break;
		case 'n': emit(a, &u, '\n'); break;
		case 'r': emit(a, &u, '\r'); break;
		case 'f': emit(a, &u, '\f'); break;
		case 'u': {
			uint32_t v = 0;
			for (int k = 0; k < 4; k++) {
				int h = hexval(lnext(r));
				if (h < 0)
					return TF_ERR_FORMAT;
				v = v << 4 | (uint32_t)h;
			}
			emit(a, &u, v);
			break;
		}
		default: emit(a, &u, (uint32_t)c);
		}
	}
	flush(a, &u);
	put_byte(a, 0);
	return TF_OK;
}

int tf_policy_parse(const uint8_t *src, size_t srclen, tf_policy *p, char *arenabuf, size_t arenacap) {
	lreader r = {src, srclen, 0, 0};
	arena a = {arenabuf, 0, arenacap, 0};
	p->n = 0;
	while (r.i < r.n) {
		/* Skip blank lines and leading white space; drop comments. */
		while (r.i < r.n && (is_ws(r.s[r.i]) || is_nl(r.s[r.i])))
			r.i++;
		if (r.i >= r.n)
			break;
		if (r.s[r.i] == '#' || r.s[r.i] == '!') {
			while (r.i < r.n && !is_nl(r.s[r.i]))
				r.i++;
			continue;
		}
		r.bs = 0;
		size_t k = a.n;
		if (read_part(&r, &a, 1) != TF_OK)
			return TF_ERR_FORMAT;
		/* Separator: white space, then at most one '=' or ':', then white space. */
		int c;
		while ((c = lpeek(&r)) >= 0 && is_ws(c))
			lnext(&r);
		if (c == '=' || c == ':') {
			lnext(&r);
			while ((c = lpeek(&r)) >= 0 && is_ws(c))
				lnext(&r);
		}
		size_t v = a.n;
		if (read_part(&r, &a, 0) != TF_OK)
			return TF_ERR_FORMAT;
		lnext(&r); /* at the line's end; consumes a backslash ending the input */
		skip_newline(&r);
		if (a.overflow)
			return TF_ERR_SPACE;
		const char *key = a.p + k, *val = a.p + v;
		size_t i;
		for (i = 0; i < p->n; i++)
			if (strcmp(p->e[i].key, key) == 0)
				break;
		if (i == p->n) {
			if (p->n == TF_POLICY_MAX_KEYS)
				return TF_ERR_FORMAT;
			p->e[p->n++].key = key;
		}
		p->e[i].value = val;
	}
	return TF_OK;
}

const char *tf_policy_get(const tf_policy *p, const char *key) {
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->e[i].key, key) == 0)
			return p->e[i].value;
	return NULL;
}

int tf_policy_bool(const tf_policy *p, const char *key) {
	const char *v = tf_policy_get(p, key);
	return v != NULL && strcmp(v, "true") == 0;
}

int64_t tf_policy_long(const tf_policy *p, const char *key) {
	const char *v = tf_policy_get(p, key);
	if (v == NULL || *v == 0)
		return 0;
	int neg = 0;
	if (*v == '-' || *v == '+') {
		neg = *v == '-';
		v++;
		if (*v == 0)
			return 0;
	}
	/* Accumulate negatively so INT64_MIN parses, as Long.parseLong. */
	int64_t x = 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return 0;
		int d = *v - '0';
		if (x < (INT64_MIN + d) / 10)
			return 0;
		x = x * 10 - d;
	}
	if (!neg) {
		if (x == INT64_MIN)
			return 0;
		x = -x;
	}
	return x;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int tf_policy_host_protected(const tf_policy *p, const char *host) {
	const char *list = tf_policy_get(p, "mtls.hosts");
	if (list == NULL || host == NULL)
		return 0;
	size_t hl = strlen(host);
	while (*list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		if (n == hl) {
			size_t i = 0;
			while (i < n && lower((unsigned char)list[i]) == lower((unsigned char)host[i]))
				i++;
			if (i == n)
				return 1;
		}
		if (!end)
			break;
		list = end + 1;
	}
	return 0;
}
