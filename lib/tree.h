/*
 * tree: records + rules -> the virtual tree, in snapshot layout.
 *
 * tree_build() places every record with the rules, makes each rendered name
 * unique within its directory (" (2)", " (3)"... in hash-id order), creates the
 * directories, sorts children, assigns stable ids (hash of the virtual path),
 * dates directories by their newest descendant and counts everything: files,
 * directories, bytes, files per top-level category, hidden records per rule and
 * skipped records with their reasons.  No record is dropped silently.
 *
 * It reads records and rules and writes only the snapshot_build it returns; the
 * caller (kvwatch, a test, the benchmark) writes it with snapshot_write().
 */
#ifndef MF_TREE_H
#define MF_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "rules.h"
#include "snapshot_writer.h"

/* Why a record is not in the tree although no rule hid it (snap_skip reasons). */
#define TREE_SKIP_NO_FILE_PATH "no filePath"
#define TREE_SKIP_UNSAFE_PATH  "filePath leaves the files volume"
#define TREE_SKIP_UNPLACED     "no rule placed it"
#define TREE_SKIP_BAD_NAME     "rendered path has no usable name"

/*
 * Values a placed file does without (the file stays in the tree).  They are listed
 * with the skip reasons, with a count and an example, but not counted in the
 * header's skipped: docs/kvwatch.md, "Sizes and times".
 */
#define TREE_NOTE_BAD_SIZE "size missing or unusable (file kept, size read from the source)"
#define TREE_NOTE_BAD_TIME "mtime or ctime unusable (value ignored)"

/*
 * Measuring sizes (kvwatch: the source beneath files_volume, docs/kvwatch.md
 * "Sizes and times").  measure gives the size of a placed file's source: 0 and
 * *ret_size, or -errno when it cannot tell (the file keeps the KV store's size,
 * or stays SIZE_UNKNOWN).  A file whose measured size differs from the KV store's,
 * or that had no usable one, shows the measured size, flagged
 * SNAP_NODE_F_SIZE_MEASURED.  The build or patch counts into the struct, which its
 * caller owns and zeroes; one per build, as builds may run on several threads.
 */
#define TREE_SIZES_EXAMPLE_MAX 128
struct tree_sizes {
	int (*measure)(void *ctx, const struct record *rec, uint64_t *ret_size);
	void *ctx;
	uint64_t measured;  /* files measured */
	uint64_t corrected; /* of them, files whose size was the KV store's claim no more */
	uint64_t failed;    /* files measure could not tell */
	/* The first corrected file: its hash id (cut at TREE_SIZES_EXAMPLE_MAX bytes)
	 * and its measured size. */
	char example[TREE_SIZES_EXAMPLE_MAX + 1];
	uint64_t example_size;
};

/* Files dated later than this past the build's time do not date their directories. */
#define TREE_FUTURE_SLACK_NS (86400 * (int64_t)1000000000)

/*
 * Build the tree of records[0..count).  Records need not be sorted; the result
 * does not depend on their order (but for which record a skip reason names as
 * its example).  Records must have been through record_derive().  Every
 * non-empty value of a placed record beyond the core properties (filePath,
 * size, times and the derived names, which the node carries itself) is kept as
 * a property, for xattrs and the API.  Returns 0 and a
 * snapshot_build the caller frees with snapshot_build_free(), or -ENOMEM /
 * -EOVERFLOW.
 */
int tree_build(const struct rules *rules, const struct schema *schema,
               const struct record *const *records, size_t count, struct snapshot_build **ret);

/*
 * The next record for tree_build_next(), or NULL after the last.  The record and
 * the bytes it points to need only stay valid until the next call.
 */
typedef const struct record *(*tree_next_fn)(void *ctx);

/*
 * tree_build() of the records next(ctx) returns, in that order, without an array
 * of them all: the same tree, byte for byte, as tree_build() of the same records
 * in the same order.
 */
int tree_build_next(const struct rules *rules, const struct schema *schema, tree_next_fn next,
                    void *ctx, struct snapshot_build **ret);

/*
 * The same build, fed record by record as they arrive (kvwatch places the records
 * of a full load while redis-server is still sending the next ones).  new, then
 * add for every record (record_derive()d; it need not outlive the call), then
 * finish, which frees the builder in every case; free drops an unfinished one.
 */
struct tree_builder;
int tree_builder_new(const struct rules *rules, const struct schema *schema,
                     struct tree_builder **ret);
int tree_builder_add(struct tree_builder *b, const struct record *rec);
/* Measure the size of every file placed from now on (NULL: never); sizes outlives b. */
void tree_builder_set_sizes(struct tree_builder *b, struct tree_sizes *sizes);
int tree_builder_finish(struct tree_builder *b, struct snapshot_build **ret);
void tree_builder_free(struct tree_builder *b);

/*
 * A time value of the KV store in nanoseconds since the epoch: whole or fractional
 * epoch seconds, milliseconds, microseconds or nanoseconds (told apart by
 * magnitude), or ISO 8601 ("2023-12-29T00:00:00.000Z", "+01:00" offsets, years
 * 0000-9999).  Returns 0 and *ret, -EINVAL when unparsable or -ERANGE when the
 * time does not fit signed 64-bit nanoseconds (before 1677-09-22 or after
 * 2262-04-11); *ret is untouched on failure.
 */
int tree_parse_time_ns(const char *s, size_t len, int64_t *ret);

struct snapshot;

/*
 * One record of a tree_patch() delta: its version in the snapshot being patched
 * (NULL when it was not in the record set) and its version now (NULL when it is
 * gone).  Both have had record_derive() run on them.
 */
struct tree_change {
	const struct record *old;
	const struct record *new;
};

/*
 * A record of the current set by hash id, record_derive()d, or NULL when absent;
 * what it returns may be reused by the next call.
 */
typedef const struct record *(*tree_lookup_fn)(void *ctx, const char *hash_id, size_t len);

/*
 * The tree tree_build() would make of old's records with changes[0..count)
 * applied, made from old without placing the unchanged records again: old's
 * nodes, properties and strings are copied, the files of the changed records
 * are taken out and put in again where the rules place them now, directories
 * are created and dropped, contested names settled as tree_build() does, and
 * ids, directory times and statistics computed over.  old must be the tree of
 * exactly those records under the same rules and schema.  lookup finds the
 * unchanged records whose file names may carry a " (n)" suffix.  The example
 * hash id of a skip reason may differ from tree_build()'s (which takes the first
 * in record order): it is one record with that reason.  Returns 0 and a build
 * the caller frees, -EAGAIN when the patch declines (too many changes, too much
 * garbage in the copied strings, an id collision, a delta that does not match
 * old: call tree_build()), or -ENOMEM / -EOVERFLOW.
 */
int tree_patch(const struct snapshot *old, const struct rules *rules, const struct schema *schema,
               const struct tree_change *changes, size_t count, tree_lookup_fn lookup,
               void *lookup_ctx, struct snapshot_build **ret);

/*
 * Room for the count nodes of a build or a patch: 0 and the nodes with the
 * snapshot_file that holds them (snapshot_begin(); the build takes the file), or
 * -errno.
 */
typedef int (*tree_nodes_fn)(void *ctx, uint32_t count, struct snap_node **nodes,
                             struct snapshot_file **file);

/*
 * tree_builder_finish() writing its nodes where nodes_fn says (kvwatch: into the
 * new file, so that the largest section is neither allocated twice nor copied).
 */
int tree_builder_finish_into(struct tree_builder *b, tree_nodes_fn nodes_fn, void *nodes_ctx,
                             struct snapshot_build **ret);

/*
 * tree_patch() writing its nodes where nodes_fn says (kvwatch: into the new file)
 * and measuring, when sizes is not NULL, the files it places: the changed records'
 * (old's other files keep the size they have).
 */
int tree_patch_into(const struct snapshot *old, const struct rules *rules,
                    const struct schema *schema, const struct tree_change *changes, size_t count,
                    tree_lookup_fn lookup, void *lookup_ctx, tree_nodes_fn nodes_fn,
                    void *nodes_ctx, struct tree_sizes *sizes, struct snapshot_build **ret);

/* tree_patch() declines deltas larger than this. */
#define TREE_PATCH_MAX 4096

#endif
