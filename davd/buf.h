/*
 * buf: a growable byte buffer for the text davd writes (XML, HTML).  An
 * allocation failure is remembered (failed) rather than reported at each
 * append, so writers append freely and check once at the end.
 */
#ifndef MF_DAVD_BUF_H
#define MF_DAVD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
/* A number in decimal. */
void buf_add_u64(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Markup text: & < > " ' as entities; the one escaping of XML and HTML output. */
void buf_add_escaped(struct buf *b, const char *s, size_t len);
/* A path percent-encoded (http_path_encode). */
void buf_add_encoded(struct buf *b, const char *path, size_t len);
void buf_free(struct buf *b);

#endif
