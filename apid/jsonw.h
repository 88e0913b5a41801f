/*
 * jsonw: the JSON writer of apid's responses.
 *
 * A thin layer over json_put_string() (lib/json.c, the one escaping function):
 * it keeps track of commas and nesting so that handlers write values in order
 * and never spell punctuation themselves.  The text goes to an open_memstream()
 * buffer the response then owns, or, for a streamed response, to a stream of the
 * caller's (jsonw_init_stream()).  An allocation failure is remembered and
 * reported once by jsonw_finish(); the calls in between need no checks.
 */
#ifndef MF_APID_JSONW_H
#define MF_APID_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSONW_DEPTH_MAX 32

struct jsonw {
	FILE *f;
	char *buf;
	size_t len;
	uint32_t depth;
	bool after_key;
	bool failed;
	bool has_item[JSONW_DEPTH_MAX];
};

/* 0 or -ENOMEM. */
int jsonw_init(struct jsonw *w);
/*
 * Write to f, which the caller owns and closes (a streamed response writes its
 * text piece by piece); jsonw_finish() and jsonw_discard() are not used then.
 */
void jsonw_init_stream(struct jsonw *w, FILE *f);
/* Hand the text to the caller (*ret freed with free()); 0 or -ENOMEM. */
int jsonw_finish(struct jsonw *w, char **ret, size_t *ret_len);
/* Drop an unfinished writer. */
void jsonw_discard(struct jsonw *w);

void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
/* The name of the next member of the current object. */
void jsonw_key(struct jsonw *w, const char *key);
/* The same for a name of any bytes (a property name read from the store). */
void jsonw_keyn(struct jsonw *w, const char *key, size_t len);

void jsonw_string(struct jsonw *w, const char *s);
void jsonw_stringn(struct jsonw *w, const char *s, size_t len);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_i64(struct jsonw *w, int64_t v);
void jsonw_double(struct jsonw *w, double v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* An ISO 8601 UTC time ("2024-01-15T10:30:00.000Z"); null for 0. */
void jsonw_time(struct jsonw *w, int64_t ns);
/* A string of the bytes data[0..len) in base64 (RFC 4648, padded). */
void jsonw_base64(struct jsonw *w, const void *data, size_t len);
/* Text that is already JSON (a document read and checked by jansson). */
void jsonw_raw(struct jsonw *w, const char *json, size_t len);

/* key + value in one call, for the common members. */
void jsonw_kv_string(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_u64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kv_i64(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);
void jsonw_kv_time(struct jsonw *w, const char *key, int64_t ns);

/* Format ns as ISO 8601 UTC into buf (25 bytes suffice); returns buf. */
char *jsonw_format_time(int64_t ns, char *buf, size_t buflen);

#endif
