/*
 * fuzz_template: libFuzzer target for the template compiler and renderer and for
 * name sanitising.  Input: a template, a newline, then bytes used as property
 * values.  Any template must either compile or be refused with a message; a
 * compiled template must render to -ENOENT or to an absolute path of safe names
 * that fits the buffer, whatever the values hold ('/', '..', invalid UTF-8,
 * NUL, 10 KB).  Every broken invariant abort()s so libFuzzer reports it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "record.h"
#include "snapshot_format.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* Undefined behaviour is a finding too: stop at the first report. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void check_path(const char *buf, int r, size_t buflen)
{
	const char *p = buf;

	if (r == -ENOENT || r == -ENAMETOOLONG)
		return;
	if (r < 0 || (size_t)r >= buflen || strlen(buf) != (size_t)r || buf[0] != '/')
		abort();
	while (*p == '/') {
		const char *end = strchr(p + 1, '/');
		size_t len;

		if (end == NULL)
			end = buf + r;
		len = (size_t)(end - p - 1);
		if (!names_is_safe(p + 1, len))
			abort();
		p = end;
	}
}

static void check_names(const char *v, size_t len)
{
	char out[3 * 1024 + 1], sfx[SNAP_NAME_MAX + 1];
	size_t n;
	int r;

	if (len > 1024)
		len = 1024;
	n = names_append_value_cut(out, 0, sizeof(out) - 1, v, len);
	n = names_fix_component(out, n, false);
	/* Safe, and never hidden: a rendered name starts with a dot only when allowed. */
	if (n == 0 || !names_is_safe(out, n) || out[0] == '.')
		abort();
	r = names_add_suffix(out, n, 2, sfx, sizeof(sfx));
	if (r < 0 || !names_is_safe(sfx, (size_t)r) || sfx[r] != '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tlen = nl != NULL ? (size_t)(nl - data) : size;
	const char *rest = nl != NULL ? text + tlen + 1 : text + size;
	size_t rlen = size - (size_t)(rest - text);
	struct schema schema;
	struct template *t = NULL;
	struct strview *vals;
	struct record rec;
	char err[256], buf[SNAP_PATH_MAX], small[64];
	int r;

	check_names(rest, rlen);
	if (schema_init(&schema) < 0)
		return 0;
	r = template_compile(text, tlen, &schema, &t, err, sizeof(err));
	if (r < 0) {
		if (err[0] == '\0' || t != NULL)
			abort(); /* a refusal always says why */
		schema_free(&schema);
		return 0;
	}
	vals = calloc(schema.count, sizeof(*vals));
	if (vals == NULL)
		abort();
	rec.values = vals;

	/* Nothing present. */
	r = template_render(t, &rec, buf, sizeof(buf));
	check_path(buf, r, sizeof(buf));
	if (r == -ENAMETOOLONG)
		abort(); /* SNAP_PATH_MAX always suffices */

	/* Every property holds the rest of the input. */
	for (uint32_t i = 0; i < schema.count; i++)
		vals[i] = (struct strview){rest, (uint32_t)rlen};
	record_derive(&rec);
	r = template_render(t, &rec, buf, sizeof(buf));
	check_path(buf, r, sizeof(buf));
	if (r == -ENAMETOOLONG)
		abort();
	r = template_render(t, &rec, small, sizeof(small));
	check_path(small, r, sizeof(small));

	/* Some present, some not, with different pieces of the input. */
	for (uint32_t i = 0; i < schema.count; i++) {
		uint8_t bit = rlen > 0 ? (uint8_t)rest[i % rlen] : 0;

		if (bit & 1)
			vals[i] = (struct strview){rest + i % (rlen + 1),
			                           (uint32_t)(rlen - i % (rlen + 1))};
		else
			vals[i] = (struct strview){NULL, 0};
	}
	record_derive(&rec);
	r = template_render(t, &rec, buf, sizeof(buf));
	check_path(buf, r, sizeof(buf));
	if (r == -ENAMETOOLONG)
		abort();

	free(vals);
	template_free(t);
	schema_free(&schema);
	return 0;
}
