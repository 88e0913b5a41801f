/*
 * tree_place: the decisions the full build (tree.c) and the patch (tree_patch.c)
 * must make identically, in one place: whether a record is placed, hidden or
 * skipped (and why), how its size reads, how directories are dated, and the
 * growable arrays both use.  Internal to lib/.
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

/* Why a record is skipped; tree_skip_reasons[] holds the TREE_SKIP_* texts of tree.h. */
enum tree_skip {
	TREE_SKIP_NO_PATH,
	TREE_SKIP_UNSAFE,
	TREE_SKIP_NO_RULE,
	TREE_SKIP_NO_NAME,
	TREE_SKIP_MAX,
};

extern const char *const tree_skip_reasons[TREE_SKIP_MAX];

/*
 * Place rec (derived already) into path (SNAP_PATH_MAX bytes).  *ret is the rule
 * that placed or hid it, or the enum tree_skip reason when skipped.
 */
enum tree_outcome tree_place(const struct rules *rules, const struct record *rec, char *path,
                             uint32_t *ret);

/* A decimal byte count; 0 when absent or not a number. */
uint64_t tree_parse_size(struct strview v);

/* Grow *array (of *cap elements of size bytes) to hold at least n; 0 or -ENOMEM. */
int tree_grow(void *array, size_t *cap, size_t n, size_t size);

/*
 * Room for out's count nodes: where nodes_fn says (out->file set), or on the heap
 * when nodes_fn is NULL.  0 or -errno.
 */
int tree_nodes_room(tree_nodes_fn nodes_fn, void *nodes_ctx, size_t count,
                    struct snapshot_build *out);

/* Date every directory by its newest descendant (children follow their parents). */
void tree_date_directories(struct snapshot_build *out);

/*
 * Make every id of out unique and at least SNAP_ID_RESERVED (the root keeps 1):
 * in node order, the first holder keeps an id, the next rehashes its path with
 * seed 1, 2, ... (docs/snapshot-format.md, "Node ids").  0 or -ENOMEM.
 */
int tree_fix_ids(struct snapshot_build *out);

#endif
