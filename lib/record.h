/*
 * record: one file's metadata as read from the KV store: its hash id and the
 * values of the properties the configuration needs.
 *
 * A schema is the ordered list of property names the suite fetches.  Rules are
 * compiled against it (a variable becomes an index), kvwatch MGETs exactly these
 * properties in this order, and a record stores its values in the same order, so
 * no property is ever looked up by name per file.  The core properties sit at
 * fixed indices.
 */
#ifndef MF_RECORD_H
#define MF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum schema_core {
	PROP_FILE_PATH, /* "filePath", relative to files_volume */
	PROP_SIZE,      /* "size", bytes */
	PROP_MTIME,     /* "mtime", seconds or milliseconds since the epoch, or ISO 8601 */
	PROP_CTIME,     /* "ctime" */
	PROP_FILE_NAME, /* "fileName"; derived from filePath when absent */
	PROP_EXTENSION, /* "extension"; derived: after the last '.' of fileName, no dot */
	PROP_STEM,      /* "stem"; derived: fileName without ".extension" */
	PROP_CORE_MAX,
};

/* Owner: whoever called schema_init(); schema_free() releases the names. */
struct schema {
	char **names;
	uint32_t count;
	uint32_t cap;
};

int schema_init(struct schema *schema);
void schema_free(struct schema *schema);
/*
 * Index of name, adding it when new.  Returns the index (>= 0), -EINVAL for an
 * empty name or one holding NUL, or -ENOMEM.
 */
int schema_intern(struct schema *schema, const char *name, size_t len);
/* Index of name, or -ENOENT. */
int schema_find(const struct schema *schema, const char *name, size_t len);
/* The same names in the same order. */
bool schema_equal(const struct schema *a, const struct schema *b);

/* A borrowed byte string; ptr == NULL means absent. */
struct strview {
	const char *ptr;
	uint32_t len;
};

/*
 * values has schema->count entries.  The record borrows every byte it points to;
 * its owner (kvwatch's store, a test's table) keeps them alive while it is used.
 */
struct record {
	struct strview hash_id;
	struct strview *values;
};

/*
 * Fill fileName, extension and stem from filePath where the KV store gave none
 * (pointers into the existing values, nothing allocated).  An empty value counts
 * as absent everywhere.
 */
void record_derive(struct record *r);

static inline bool record_has(const struct record *r, uint32_t index)
{
	return r->values[index].ptr != NULL && r->values[index].len > 0;
}

#endif
