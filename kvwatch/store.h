/*
 * store: kvwatch's record set, every file's hash id and the values of the
 * schema's properties, keyed by hash id.
 *
 * It is built to cost little beyond the snapshot it publishes.  An entry is
 * either
 *   - owned: one blob with the id and all values (a file just loaded or changed,
 *     or one the tree does not show: no filePath, hidden, unplaced), or
 *   - mapped: the file's node in the published snapshot already holds its id,
 *     its filePath (the node's source) and every non-core value (the node's
 *     properties), so the entry keeps only a node index plus a few bytes of core
 *     values the snapshot holds in parsed form (raw size, mtime, ctime, and
 *     fileName/extension/stem when given and not equal to what filePath implies).
 * After each publish, store_rebind() maps every entry the new snapshot holds
 * exactly (byte for byte) and frees its blob; nothing is mapped on a guess.
 *
 * The index is open addressing with linear probing: 8 bytes per slot, at most
 * 70 % full.  A bulk store (the result of a full load) takes its blobs from an
 * mmap'ed arena that is released as a whole at the first rebind.  Not thread
 * safe: one thread uses a store at a time.  Views returned point into the store
 * or its snapshot and stay valid until the entry changes or the next rebind.
 */
#ifndef MF_KVWATCH_STORE_H
#define MF_KVWATCH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct snap_node;
struct snapshot;
struct store;

/* schema is borrowed and must outlive the store.  bulk: blobs from an arena. */
int store_new(const struct schema *schema, bool bulk, struct store **ret);
/* Also releases the snapshot the store maps, if any. */
void store_free(struct store *s);

/*
 * A configuration reload brings a new schema.  store_set_schema() points s at
 * schema when it names the same properties in the same order (-EINVAL if not);
 * store_reschema() copies every record of s into a new store of schema, by
 * property name (a property s lacks is absent; one schema lacks is dropped).
 */
int store_set_schema(struct store *s, const struct schema *schema);
int store_reschema(struct store *s, const struct schema *schema, struct store **ret);

uint32_t store_count(const struct store *s);
uint32_t store_nprops(const struct store *s);

/*
 * Insert or replace the record id with values[0..nprops) (ptr NULL or len 0 =
 * absent).  Bytes are copied.  -ENOMEM, -EINVAL for an empty or over-long id.
 */
int store_put(struct store *s, const char *id, size_t id_len, const struct strview *values);
/* store_put() unless id already holds exactly these values: 1 put, 0 unchanged, -errno. */
int store_put_changed(struct store *s, const char *id, size_t id_len, const struct strview *values);
/* Returns whether id was there. */
bool store_remove(struct store *s, const char *id, size_t id_len);
bool store_contains(const struct store *s, const char *id, size_t id_len);
/* Fill values[0..nprops) (raw, not derived); false when id is absent. */
bool store_get(struct store *s, const char *id, size_t id_len, struct strview *values);

/* Iterate: it starts at 0; returns false at the end. */
bool store_next(struct store *s, uint64_t *it, struct strview *ret_id, struct strview *values);

/*
 * The records of every entry one at a time, derived values filled in, for
 * tree_build_next() (store_iter_next() is a tree_next_fn): owned entries in index
 * order, then mapped ones in node order (the snapshot read front to back).  The
 * record store_iter_next() returns is overwritten by the next call; its views
 * point into the store, valid while the store is unchanged.  Nothing may change
 * the store during the iteration.
 */
struct store_iter {
	struct store *store;
	uint64_t *mapped; /* by node index: the mapped entries */
	uint32_t words;
	uint32_t slot; /* the next index slot, then (past the last) done */
	uint32_t word; /* the next word of mapped */
	uint64_t bits; /* what is left of mapped[word - 1] */
	uint32_t node; /* the last record's node when it is mapped, else 0 */
	struct strview *vals;
	struct record rec;
};
int store_iter_init(struct store *s, struct store_iter *it);
const struct record *store_iter_next(void *it);
/*
 * The node of the snapshot the store maps that holds the record store_iter_next()
 * returned last, unchanged since that snapshot was published; NULL when the
 * record is owned (new or changed since).
 */
const struct snap_node *store_iter_node(const struct store_iter *it);

/*
 * The node of the snapshot s maps that holds id's record unchanged, with the
 * size value the record has (*ret_size, ptr NULL when absent; valid while s is
 * unchanged); NULL when id is not in s or is owned (new or changed since).
 */
const struct snap_node *store_mapped(struct store *s, const char *id, size_t len,
                                     struct strview *ret_size);
void store_iter_free(struct store_iter *it);

/*
 * Take every file node of snap into an empty store as a mapped entry (start-up:
 * the previous run's tree, to serve and compare against).  Core values are
 * rebuilt from the node's parsed fields.  The store takes ownership of snap.
 */
int store_import_snapshot(struct store *s, struct snapshot *snap);

/*
 * snap was just published from this store's records: map every entry it holds
 * exactly, turn entries of the previous snapshot that it does not hold into
 * owned ones, release the previous snapshot and, for a bulk store, the arena.
 * The store takes ownership of snap, also on error (then nothing is mapped to it).
 */
int store_rebind(struct store *s, struct snapshot *snap);

/* The snapshot the store maps (borrowed), or NULL. */
struct snapshot *store_snapshot(const struct store *s);

struct store_diff {
	uint64_t added;   /* in fresh, not in cur */
	uint64_t removed; /* in cur, not in fresh */
	uint64_t changed; /* in both, some value differs */
	uint64_t files;   /* entries of cur with a filePath */
	uint64_t lost;    /* of those, absent from fresh or without a filePath there */
};
void store_diff(struct store *cur, struct store *fresh, struct store_diff *ret);

/* Copy id's state in src (present with its values, or absent) into dst. */
int store_copy_entry(struct store *dst, struct store *src, const char *id, size_t id_len);

struct store_stats {
	uint64_t entries;
	uint64_t mapped;
	uint64_t owned;
	uint64_t index_bytes;
	uint64_t owned_bytes; /* blobs, malloc'ed or in the arena */
	uint64_t core_bytes;  /* core values of mapped entries */
};
void store_stats(const struct store *s, struct store_stats *ret);

#endif
