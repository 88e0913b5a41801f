/*
 * buf: see buf.h.  The escaping is driven by a table of what each byte needs,
 * so a name of plain ASCII costs one lookup per byte and one copy.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static bool reserve(struct buf *b, size_t more)
{
	size_t want;
	char *p;

	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	want = b->cap ? b->cap : 4096;
	while (want < b->len + more + 1)
		want *= 2;
	p = realloc(b->p, want);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = want;
	return true;
}

char *buf_reserve(struct buf *b, size_t n)
{
	return reserve(b, n) ? b->p + b->len : NULL;
}

void buf_commit(struct buf *b, char *end)
{
	b->len = (size_t)(end - b->p);
	b->p[b->len] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

size_t buf_u64_length(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

char *buf_put_u64(char *dst, uint64_t v)
{
	size_t n = buf_u64_length(v);

	for (size_t i = n; i > 0; i--) {
		dst[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	return dst + n;
}

void buf_add_u64(struct buf *b, uint64_t v)
{
	char *p = buf_reserve(b, BUF_U64_MAX);

	if (p)
		buf_commit(b, buf_put_u64(p, v));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* What a byte of text needs: copied, an entity, U+FFFD, or a look at its UTF-8 sequence. */
enum {
	COPY,
	ENTITY,
	REPLACE,
	MULTIBYTE,
};

static const unsigned char byte_class[256] = {
    [0 ... 8] = REPLACE,         /* control characters but tab and newline */
    [11 ... 12] = REPLACE,       /* vertical tab, form feed */
    ['\r'] = ENTITY,             /* "&#13;", which a parser keeps */
    [14 ... 0x1f] = REPLACE,     /* the rest of C0 */
    ['&'] = ENTITY,              /* markup */
    ['<'] = ENTITY,              /* markup */
    ['>'] = ENTITY,              /* "]]>" in text */
    ['"'] = ENTITY,              /* attribute values */
    ['\''] = ENTITY,             /* attribute values */
    [0x80 ... 0xff] = MULTIBYTE, /* UTF-8, checked */
};

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* The entity of a byte of class ENTITY. */
static const struct {
	char text[7];
	unsigned char len;
} entities[128] = {
    ['&'] = {"&amp;", 5},  ['<'] = {"&lt;", 4},   ['>'] = {"&gt;", 4},
    ['"'] = {"&quot;", 6}, ['\''] = {"&#39;", 5}, ['\r'] = {"&#13;", 5},
};

/*
 * The escaping itself: writes at dst, or only counts when dst is NULL, so that
 * buf_escaped_length() cannot disagree with what buf_put_escaped() writes.
 */
static size_t escape(char *dst, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	while (i < len) {
		const char *piece;
		size_t run = i, n;

		while (run < len && byte_class[u[run]] == COPY)
			run++;
		if (dst)
			memcpy(dst + o, s + i, run - i);
		o += run - i;
		i = run;
		if (i == len)
			break;
		switch (byte_class[u[i]]) {
		case ENTITY:
			piece = entities[u[i]].text;
			n = entities[u[i]].len;
			i++;
			break;
		case REPLACE:
			piece = replacement;
			n = sizeof(replacement) - 1;
			i++;
			break;
		default:
			n = utf8_sequence_length(u + i, len - i);
			if (n == 0) {
				piece = replacement;
				n = sizeof(replacement) - 1;
				i++;
			} else if (n == 3 && u[i] == 0xef && u[i + 1] == 0xbf && u[i + 2] >= 0xbe) {
				/* U+FFFE and U+FFFF are no XML characters either. */
				i += n;
				piece = replacement;
				n = sizeof(replacement) - 1;
			} else {
				piece = s + i;
				i += n;
			}
			break;
		}
		if (dst)
			memcpy(dst + o, piece, n);
		o += n;
	}
	return o;
}

char *buf_put_escaped(char *dst, const char *s, size_t len)
{
	return dst + escape(dst, s, len);
}

size_t buf_escaped_length(const char *s, size_t len)
{
	return escape(NULL, s, len);
}

void buf_add_escaped(struct buf *b, const char *s, size_t len)
{
	char *p = buf_reserve(b, BUF_ESCAPED_MAX(len));

	if (p)
		buf_commit(b, buf_put_escaped(p, s, len));
}

/*
 * What each byte takes in an href: 1 for the bytes it keeps (RFC 3986's
 * unreserved ones and '/'), 3 for a %XX escape.  The same set as
 * http_path_encode()'s, as a table for the listings' hot path; test_davd
 * checks the two agree on every byte.
 */
static const unsigned char href_len[256] = {
    [0 ... 0x2c] = 3,  ['-'] = 1,         ['.'] = 1,         ['/'] = 1,           ['0' ... '9'] = 1,
    [':' ... '@'] = 3, ['A' ... 'Z'] = 1, ['[' ... '^'] = 3, ['_'] = 1,           ['`'] = 3,
    ['a' ... 'z'] = 1, ['{' ... '}'] = 3, ['~'] = 1,         [0x7f ... 0xff] = 3,
};

char *buf_put_encoded(char *dst, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (href_len[u[i]] == 1) {
			*dst++ = s[i];
		} else {
			dst[0] = '%';
			dst[1] = hex[u[i] >> 4];
			dst[2] = hex[u[i] & 15];
			dst += 3;
		}
	}
	return dst;
}

size_t buf_encoded_length(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += href_len[u[i]];
	return n;
}

void buf_add_encoded(struct buf *b, const char *path, size_t len)
{
	char *p = buf_reserve(b, BUF_ENCODED_MAX(len));

	if (p)
		buf_commit(b, buf_put_encoded(p, path, len));
}

void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}
