/*
 * tree_place: the decisions the full build (tree.c) and the patch (tree_patch.c)
 * must make identically, in one place: whether a record is placed, hidden or
 * skipped (and why), what its file node carries (size, times, flags), how
 * contested names get their " (n)", how directories are dated, how colliding
 * ids are rehashed, and the growable arrays both use.  Internal to lib/.
 */
#ifndef MF_TREE_PLACE_H
#define MF_TREE_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "rules.h"
#include "snapshot_writer.h"
#include "tree.h"

enum tree_outcome {
	TREE_PLACED,
	TREE_HIDDEN,
	TREE_SKIPPED,
};

/*
 * Why a record is skipped, or (from TREE_SKIP_RECORDS on) which value a placed
 * file does without; tree_skip_reasons[] holds the TREE_SKIP_* and TREE_NOTE_*
 * texts of tree.h.
 */
enum tree_skip {
	TREE_SKIP_NO_PATH,
	TREE_SKIP_UNSAFE,
	TREE_SKIP_NO_RULE,
	TREE_SKIP_NO_NAME,
	TREE_NOTE_SIZE,
	TREE_NOTE_TIME,
	TREE_SKIP_MAX,
};

#define TREE_SKIP_RECORDS TREE_NOTE_SIZE /* reasons below keep a record out: "skipped" */

extern const char *const tree_skip_reasons[TREE_SKIP_MAX];

/*
 * Place rec (derived already) into path (SNAP_PATH_MAX bytes).  *ret is the rule
 * that placed or hid it, or the enum tree_skip reason when skipped.
 */
enum tree_outcome tree_place(const struct rules *rules, const struct record *rec, char *path,
                             uint32_t *ret);

/* A file node's values from its (placed) record. */
struct tree_file {
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint16_t flags; /* SNAP_NODE_F_SIZE_UNKNOWN, SNAP_NODE_F_SIZE_MEASURED */
	uint32_t notes; /* 1 << TREE_NOTE_* for each value it does without */
};

/*
 * Size: decimal digits up to INT64_MAX (what stat can show); anything else leaves
 * the size 0 and flagged unknown.  Times: tree_parse_time_ns(); a missing or
 * unusable ctime is the mtime and the other way round.
 */
void tree_file_of(const struct record *rec, struct tree_file *ret);

/*
 * tree_file_of(), and then, when sizes measures, the source's size in place of a
 * claim that differs or is unusable (flagged SIZE_MEASURED, no longer
 * SIZE_UNKNOWN), counted in sizes.  The notes stay the record's own.
 */
void tree_file_measure(const struct record *rec, struct tree_sizes *sizes, struct tree_file *ret);

/* A decimal byte count that stat can show (at most INT64_MAX): true and *ret. */
bool tree_parse_size(struct strview v, uint64_t *ret);

/* Grow *array (of *cap elements of size bytes) to hold at least n; 0 or -ENOMEM. */
int tree_grow(void *array, size_t *cap, size_t n, size_t size);

/*
 * Room for out's count nodes: where nodes_fn says (out->file set), or on the heap
 * when nodes_fn is NULL.  0 or -errno.
 */
int tree_nodes_room(tree_nodes_fn nodes_fn, void *nodes_ctx, size_t count,
                    struct snapshot_build *out);

/*
 * Date every directory by its newest descendant (children follow their parents),
 * leaving out files dated more than TREE_FUTURE_SLACK_NS after now_ns: one absurd
 * value must not pin every directory above it.  A directory with no such time
 * keeps 0.
 */
void tree_date_directories(struct snapshot_build *out, int64_t now_ns);

/* The wall clock in nanoseconds, for tree_date_directories(). */
int64_t tree_now_ns(void);

/*
 * Contested names of one directory.  Its entries are sorted by name, then
 * directories first, then files by hash id; in each run of equal names the first
 * keeps the name and every later file takes the first " (n)", n = 2, 3, ..., that
 * is neither the name of an entry of the directory (taken(), a binary search of
 * the caller's) nor given before.  Linear in the entries, whatever the runs.
 */
struct tree_uniq {
	char *names; /* the names given, NUL-terminated */
	size_t len, cap;
	uint64_t *slots; /* high half of the hash << 32 | (offset + 1) in names; 0 empty */
	size_t size, count;
	size_t *used;  /* the slots taken, count of them: a reset clears only those */
	unsigned next; /* the suffix to try next in the current run */
};

typedef bool (*tree_taken_fn)(void *ctx, const char *name, size_t len);

void tree_uniq_init(struct tree_uniq *u);
void tree_uniq_free(struct tree_uniq *u);
/* A new directory: forget the names given. */
void tree_uniq_reset(struct tree_uniq *u);
/* A new run of equal names starts (its first entry keeps the name). */
void tree_uniq_run(struct tree_uniq *u);
/*
 * The next file of the current run, whose unsuffixed name is name: its free
 * " (n)" variant, valid until the next call, in *ret (NUL-terminated) and its
 * length.  Returns the length or -ENOMEM / -ENAMETOOLONG.
 */
int tree_uniq_next(struct tree_uniq *u, const char *name, size_t len, tree_taken_fn taken,
                   void *ctx, const char **ret);

/*
 * Make every id of out unique and at least SNAP_ID_RESERVED (the root keeps 1):
 * in node order, the first holder keeps an id, the next rehashes its path with
 * seed 1, 2, ... (docs/snapshot-format.md, "Node ids").  0 or -ENOMEM.
 */
int tree_fix_ids(struct snapshot_build *out);

#endif
