/*
 * record: the schema (property names in fetch order) and the derived variables
 * of a record.  See record.h.
 *
 * The schema is built once at start-up while the rules compile, so its lookups
 * are plain linear scans; nothing here runs per file except record_derive(),
 * which only points into bytes the record already holds.
 */
#include "record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const core_names[PROP_CORE_MAX] = {
    [PROP_FILE_PATH] = "filePath", [PROP_SIZE] = "size",          [PROP_MTIME] = "mtime",
    [PROP_CTIME] = "ctime",        [PROP_FILE_NAME] = "fileName", [PROP_EXTENSION] = "extension",
    [PROP_STEM] = "stem",
};

int schema_init(struct schema *schema)
{
	*schema = (struct schema){0};
	for (int i = 0; i < PROP_CORE_MAX; i++) {
		int r = schema_intern(schema, core_names[i], strlen(core_names[i]));

		if (r < 0) {
			schema_free(schema);
			return r;
		}
	}
	return 0;
}

void schema_free(struct schema *schema)
{
	if (schema == NULL)
		return;
	for (uint32_t i = 0; i < schema->count; i++)
		free(schema->names[i]);
	free(schema->names);
	*schema = (struct schema){0};
}

int schema_find(const struct schema *schema, const char *name, size_t len)
{
	for (uint32_t i = 0; i < schema->count; i++)
		if (strncmp(schema->names[i], name, len) == 0 && schema->names[i][len] == '\0')
			return (int)i;
	return -ENOENT;
}

bool schema_equal(const struct schema *a, const struct schema *b)
{
	if (a->count != b->count)
		return false;
	for (uint32_t i = 0; i < a->count; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return false;
	return true;
}

int schema_intern(struct schema *schema, const char *name, size_t len)
{
	int r = schema_find(schema, name, len);
	char *copy;

	if (r >= 0)
		return r;
	if (len == 0 || memchr(name, '\0', len) != NULL)
		return -EINVAL;
	if (schema->count == schema->cap) {
		uint32_t cap = schema->cap ? schema->cap * 2 : 16;
		char **names;

		if (cap > INT32_MAX / 2)
			return -ENOMEM;
		names = realloc(schema->names, cap * sizeof(*names));
		if (names == NULL)
			return -ENOMEM;
		schema->names = names;
		schema->cap = cap;
	}
	copy = strndup(name, len);
	if (copy == NULL)
		return -ENOMEM;
	schema->names[schema->count] = copy;
	return (int)schema->count++;
}

/*
 * The '.' that starts fileName's extension, or NULL: the last dot with something
 * after it and something other than dots before it ("a.b.mkv" -> ".mkv";
 * ".hidden", "name", "name." and "..x" have no extension).
 */
static const char *find_extension_dot(const char *name, uint32_t len)
{
	const char *dot = memrchr(name, '.', len);
	uint32_t first = 0;

	if (dot == NULL || dot == name + len - 1)
		return NULL;
	while (first < len && name[first] == '.')
		first++;
	return dot > name + first ? dot : NULL;
}

void record_derive(struct record *r)
{
	struct strview *v = r->values;
	const char *dot;

	if (!record_has(r, PROP_FILE_NAME) && record_has(r, PROP_FILE_PATH)) {
		const char *path = v[PROP_FILE_PATH].ptr;
		uint32_t len = v[PROP_FILE_PATH].len;
		const char *slash = memrchr(path, '/', len);
		const char *base = slash != NULL ? slash + 1 : path;

		v[PROP_FILE_NAME] = (struct strview){base, (uint32_t)(path + len - base)};
		if (v[PROP_FILE_NAME].len == 0)
			v[PROP_FILE_NAME].ptr = NULL; /* "dir/": no name */
	}
	if (!record_has(r, PROP_FILE_NAME))
		return;
	dot = find_extension_dot(v[PROP_FILE_NAME].ptr, v[PROP_FILE_NAME].len);
	if (!record_has(r, PROP_EXTENSION) && dot != NULL)
		v[PROP_EXTENSION] = (struct strview){
		    dot + 1, (uint32_t)(v[PROP_FILE_NAME].ptr + v[PROP_FILE_NAME].len - dot - 1)};
	if (!record_has(r, PROP_STEM))
		v[PROP_STEM] = dot != NULL
		                   ? (struct strview){v[PROP_FILE_NAME].ptr,
		                                      (uint32_t)(dot - v[PROP_FILE_NAME].ptr)}
		                   : v[PROP_FILE_NAME];
}
