/* jsonw: see jsonw.h. */
#include "jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

int jsonw_init(struct jsonw *w)
{
	memset(w, 0, sizeof(*w));
	w->f = open_memstream(&w->buf, &w->len);
	if (w->f == NULL)
		return -ENOMEM;
	/* One thread writes each stream: no stdio lock per character. */
	__fsetlocking(w->f, FSETLOCKING_BYCALLER);
	return 0;
}

void jsonw_init_stream(struct jsonw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
}

int jsonw_finish(struct jsonw *w, char **ret, size_t *ret_len)
{
	bool bad = w->failed || ferror(w->f);

	if (fclose(w->f) != 0)
		bad = true;
	w->f = NULL;
	if (bad) {
		free(w->buf);
		w->buf = NULL;
		return -ENOMEM;
	}
	*ret = w->buf;
	*ret_len = w->len;
	w->buf = NULL;
	return 0;
}

void jsonw_discard(struct jsonw *w)
{
	if (w->f)
		fclose(w->f);
	free(w->buf);
	w->f = NULL;
	w->buf = NULL;
}

/* The separator before a value (or a key) at the current level. */
static void sep(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->has_item[w->depth])
		putc(',', w->f);
	w->has_item[w->depth] = true;
}

static void open_level(struct jsonw *w, char c)
{
	sep(w);
	putc(c, w->f);
	if (w->depth + 1 >= JSONW_DEPTH_MAX) {
		w->failed = true;
		return;
	}
	w->depth++;
	w->has_item[w->depth] = false;
}

static void close_level(struct jsonw *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	else
		w->failed = true;
	putc(c, w->f);
}

void jsonw_object_begin(struct jsonw *w)
{
	open_level(w, '{');
}

void jsonw_object_end(struct jsonw *w)
{
	close_level(w, '}');
}

void jsonw_array_begin(struct jsonw *w)
{
	open_level(w, '[');
}

void jsonw_array_end(struct jsonw *w)
{
	close_level(w, ']');
}

void jsonw_keyn(struct jsonw *w, const char *key, size_t len)
{
	sep(w);
	json_put_string(w->f, key, len);
	putc(':', w->f);
	w->after_key = true;
}

void jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_keyn(w, key, strlen(key));
}

void jsonw_stringn(struct jsonw *w, const char *s, size_t len)
{
	sep(w);
	json_put_string(w->f, s, len);
}

void jsonw_string(struct jsonw *w, const char *s)
{
	jsonw_stringn(w, s, strlen(s));
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
	sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void jsonw_double(struct jsonw *w, double v)
{
	sep(w);
	if (isfinite(v))
		fprintf(w->f, "%.6g", v);
	else
		fputs("null", w->f);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	sep(w);
	fputs(v ? "true" : "false", w->f);
}

void jsonw_null(struct jsonw *w)
{
	sep(w);
	fputs("null", w->f);
}

char *jsonw_format_time(int64_t ns, char *buf, size_t buflen)
{
	time_t secs = (time_t)(ns / 1000000000);
	long ms = (long)((ns % 1000000000) / 1000000);
	struct tm tm;
	size_t n;

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, buflen, "1970-01-01T00:00:00.000Z");
		return buf;
	}
	n = strftime(buf, buflen, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, buflen - n, ".%03ldZ", ms);
	return buf;
}

void jsonw_time(struct jsonw *w, int64_t ns)
{
	char buf[40];

	if (ns == 0) {
		jsonw_null(w);
		return;
	}
	sep(w);
	fprintf(w->f, "\"%s\"", jsonw_format_time(ns, buf, sizeof(buf)));
}

void jsonw_base64(struct jsonw *w, const void *data, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	size_t i = 0;

	sep(w);
	putc('"', w->f);
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		putc(b64[v >> 18], w->f);
		putc(b64[(v >> 12) & 63], w->f);
		putc(b64[(v >> 6) & 63], w->f);
		putc(b64[v & 63], w->f);
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		putc(b64[v >> 18], w->f);
		putc(b64[(v >> 12) & 63], w->f);
		putc(i + 1 < len ? b64[(v >> 6) & 63] : '=', w->f);
		putc('=', w->f);
	}
	putc('"', w->f);
}

void jsonw_raw(struct jsonw *w, const char *json, size_t len)
{
	sep(w);
	fwrite(json, 1, len, w->f);
}

void jsonw_kv_string(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

void jsonw_kv_u64(struct jsonw *w, const char *key, uint64_t v)
{
	jsonw_key(w, key);
	jsonw_u64(w, v);
}

void jsonw_kv_i64(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_i64(w, v);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}

void jsonw_kv_time(struct jsonw *w, const char *key, int64_t ns)
{
	jsonw_key(w, key);
	jsonw_time(w, ns);
}
