/*
 * buf: a growable byte buffer for the text davd writes (XML, HTML), and the
 * encoders that write into it.  An allocation failure is remembered (failed)
 * rather than reported at each append, so writers append freely and check
 * once at the end.
 *
 * Writers of many small pieces (a PROPFIND reply: some thirty per entry)
 * reserve room for a whole piece at once (buf_reserve(), or space of their
 * own) and write it with the buf_put_*() encoders, which take a pointer, write
 * at most their stated bound and return the end: no length or capacity check
 * per piece.
 */
#ifndef MF_DAVD_BUF_H
#define MF_DAVD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

void buf_add(struct buf *b, const void *data, size_t len);
/*
 * Room for n more bytes: where to write them, or NULL (failed).  buf_commit()
 * then takes everything written up to end (at most the n bytes reserved).
 */
char *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, char *end);
void buf_adds(struct buf *b, const char *s);
/* A number in decimal. */
void buf_add_u64(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Markup text, the one escaping of XML and HTML output: & < > " ' become
 * entities and CR "&#13;" (so that a parser keeps it); a byte that XML 1.0
 * cannot carry — a control character other than tab and newline, a byte of
 * invalid UTF-8, U+FFFE or U+FFFF — becomes U+FFFD, so the text is always
 * well-formed, whatever the name.  Valid text without those characters is
 * copied as it is.
 */
void buf_add_escaped(struct buf *b, const char *s, size_t len);
/* The same at dst, which has room for BUF_ESCAPED_MAX(len) bytes; returns the end. */
#define BUF_ESCAPED_MAX(len) (6 * (size_t)(len))
char *buf_put_escaped(char *dst, const char *s, size_t len);
/* The bytes buf_put_escaped() writes for s[0..len). */
size_t buf_escaped_length(const char *s, size_t len);
/* A number in decimal at dst (room for BUF_U64_MAX); returns the end. */
#define BUF_U64_MAX 20
char *buf_put_u64(char *dst, uint64_t v);
size_t buf_u64_length(uint64_t v);
/* Literal text: at most the size of the literal. */
#define BUF_PUT_LITERAL(p, lit) (memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)
/*
 * A path percent-encoded as http_path_encode() does (every byte but RFC 3986's
 * unreserved ones and '/'): at most BUF_ENCODED_MAX(len) bytes, none of which
 * markup escapes.
 */
#define BUF_ENCODED_MAX(len) (3 * (size_t)(len))
void buf_add_encoded(struct buf *b, const char *path, size_t len);
/* The same at dst (room for BUF_ENCODED_MAX(len)); returns the end. */
char *buf_put_encoded(char *dst, const char *path, size_t len);
/* The bytes buf_put_encoded() writes. */
size_t buf_encoded_length(const char *path, size_t len);
void buf_free(struct buf *b);

#endif
