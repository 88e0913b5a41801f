/*
 * sizes: the size a file shows is its source's, measured by kvwatch.
 *
 * The KV store's size is a claim; a reader that trusted it served 10 bytes of
 * a file whose reads return 4,567 until the first open corrected it.  kvwatch
 * therefore measures the source beneath files_volume of every file it places
 * new or changed (a load's records, a live patch's, an announced file whose
 * source moved), the way the readers find it (source_measure(): openat2 beneath the
 * volume, O_PATH, fstat; a path or a symlink leading out is never looked at),
 * and the tree shows the measured size where the claim differs (tree.h,
 * struct tree_sizes).  A source that is not there (read through
 * source_webdav_url, or missing) keeps the claim.
 *
 * One sizes_run per build or patch, owned by whoever runs it; builds run on
 * several threads at once (the load's, the build's, the loop's patches), so a
 * run has a volume descriptor and counters of its own and shares nothing.  A
 * full build from the record set takes the size of a record the published tree
 * holds unchanged (its filePath and its size claim the same) from that tree
 * instead of measuring it again: an entry the record set maps to it
 * (store_iter_node(): a rules reload, a build for a change of state), or,
 * after a load (or new rules asking for other properties) replaced the record
 * set, one the previous set maps (store_mapped()).  So a resync costs no stat
 * per unchanged file.  Nothing here logs but sizes_report(), on the loop.
 */
#ifndef MF_KVWATCH_SIZES_H
#define MF_KVWATCH_SIZES_H

#include <stdbool.h>
#include <stdint.h>

#include "tree.h"

struct snap_node;
struct snapshot;
struct source;
struct store_iter;

struct sizes_run {
	struct tree_sizes tree;        /* handed to the tree; tree.ctx is the run */
	struct source *src;            /* NULL: not measuring */
	const struct store_iter *iter; /* set: a mapped entry's size is its node's */
	struct store *prev;            /* set: the record set of the published tree, whose
	                                  unchanged records' sizes are that tree's */
	int volume_error;              /* -errno: files_volume could not be opened */
	uint64_t reused;               /* sizes taken from the published tree */
	uint64_t missing;              /* no such file (or read through WebDAV) */
	uint64_t refused;              /* leaves the volume, a symlink, not a regular file */
	uint64_t denied;               /* kvwatch may not search the way there */
	uint64_t other;                /* any other error */
};

/*
 * Start a run measuring beneath files_volume (NULL: sizes are the KV store's).
 * A volume that cannot be opened is noted (volume_error) and nothing is
 * measured.  0, or -ENOMEM.
 */
int sizes_run_begin(struct sizes_run *run, const char *files_volume);

/* What to hand the tree: NULL when the run does not measure. */
struct tree_sizes *sizes_run_tree(struct sizes_run *run);

/*
 * Has the source of node (a file of snap) another size now than node shows?
 * false when the run does not measure or the source cannot be measured.
 */
bool sizes_moved(struct sizes_run *run, const struct snapshot *snap, const struct snap_node *node);

/* Close the run's volume; the counts stay.  Safe on a zeroed run and twice. */
void sizes_run_end(struct sizes_run *run);

/*
 * The run's summary, on the loop: for a full build one line (info when a size
 * was corrected or a file could not be measured, else debug), for a patch debug
 * only.  A volume that cannot be opened is said once until it opens again
 * (*volume_logged: the -errno said last, 0 none); files_volume names it.
 */
void sizes_report(const struct sizes_run *run, bool full, const char *files_volume,
                  int *volume_logged);

#endif
