/*
 * snapshot_diff: what changed between two snapshots, directory by directory.
 *
 * Node ids hash the virtual path, so a directory of the new tree is matched with
 * the old one by id, and their children, both sorted by name (snap_name_cmp),
 * are merged in one pass: the whole diff is O(nodes) with one index probe per
 * directory.  Every reader that must know what changed asks this one function
 * and decides what to do with the answer: fused turns it into kernel cache
 * invalidations, kvwatch into the directories its change hook hears of.
 *
 * Pure: reads two validated snapshots, allocates nothing, no I/O, no logging.
 */
#ifndef MF_SNAPSHOT_DIFF_H
#define MF_SNAPSHOT_DIFF_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;
struct snap_node;

/* Why a directory of the new tree is reported (a bit set). */
enum snapshot_dir_change {
	SNAPSHOT_DIR_NEW = 1 << 0,     /* no directory with its id in the old tree */
	SNAPSHOT_DIR_LISTING = 1 << 1, /* a name appeared, went, or names another node */
	SNAPSHOT_DIR_FILES = 1 << 2,   /* a child file's size, times, source or hash id */
	SNAPSHOT_DIR_TIMES = 1 << 3,   /* its own mtime or ctime */
};

/*
 * Callbacks, each optional (NULL).  One that returns non-zero ends the diff, and
 * snapshot_diff() returns that value.  Nodes are borrowed from new (old for a name
 * that went), valid as long as the snapshots.
 */
struct snapshot_diff_ops {
	/* In directory dir_id (present in both trees): a name that appeared, went,
	 * or names a node of another id or type now. */
	int (*entry)(void *ctx, uint64_t dir_id, const char *name, size_t len);
	/* A file under the same name and id in both trees whose size, mtime, ctime,
	 * source or hash id changed. */
	int (*file)(void *ctx, const struct snap_node *file);
	/* A directory of the new tree that is new or changed (how: the bits above),
	 * after its entries and files. */
	int (*dir)(void *ctx, const struct snap_node *dir, unsigned how);
};

/*
 * Compare old with new: every directory of new in node order (parents before
 * children).  Either side may be NULL, standing for a tree of an empty root.
 * Returns 0, or the first non-zero value a callback returned.
 */
int snapshot_diff(const struct snapshot *old, const struct snapshot *new,
                  const struct snapshot_diff_ops *ops, void *ctx);

#endif
