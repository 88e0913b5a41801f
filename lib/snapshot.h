/*
 * snapshot: the reader side of vfs.snapshot.  A struct snapshot is one mapped,
 * fully validated generation; after snapshot_open() succeeds every offset, count
 * and string in it has been checked, so the accessors below do no further checks
 * and never fail on a node or string they were handed by this same snapshot.
 *
 * Data returned is borrowed const memory, valid until snapshot_free().  Readers
 * hold a generation, never single objects.  Nothing here logs above debug: errors
 * come back as -errno plus a one-line reason in err.
 */
#ifndef MF_SNAPSHOT_H
#define MF_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot_format.h"

struct snapshot;

/*
 * Read the snapshot at path (or an open fd, which is not kept) into private
 * memory and validate that copy.  Whatever happens to the file afterwards
 * (truncated, overwritten in place) the snapshot keeps the bytes that were
 * validated and no access to it can fault: the way for a reader of a file that
 * another process writes.  Costs the file's size in memory and one copy.
 *
 * On failure returns -errno (-EINVAL, -EBADMSG for a corrupt file, -ENOENT, ...)
 * and writes a one-line reason to err ("vfs.snapshot: body checksum mismatch").
 * The caller owns the returned snapshot.
 */
int snapshot_load(const char *path, struct snapshot **ret, char *err, size_t errlen);
int snapshot_load_fd(int fd, struct snapshot **ret, char *err, size_t errlen);
/*
 * Like snapshot_load(), but map the file (MAP_PRIVATE, no copy): its pages are
 * shared with the page cache, so a later truncation makes an access fault
 * (SIGBUS) and a write in place shows through.  Only for a file that nobody but
 * the caller can change (kvwatch mapping what it has just written).
 */
int snapshot_open(const char *path, struct snapshot **ret, char *err, size_t errlen);
int snapshot_open_fd(int fd, struct snapshot **ret, char *err, size_t errlen);
/*
 * Map a memfd sealed against shrinking and writing (snapshot_share.h) and
 * validate it: -EPERM for a descriptor without those seals.  The pages are
 * shared with every other process mapping the copy, and none can change, so the
 * mapping is as safe as a private copy and costs no memory of the caller's
 * beyond the pages its lookups touch.
 */
int snapshot_map_sealed_fd(int fd, struct snapshot **ret, char *err, size_t errlen);
/* Validate a snapshot held in memory (the buffer is borrowed, must outlive it). */
int snapshot_open_buffer(const void *data, size_t size, struct snapshot **ret, char *err,
                         size_t errlen);
void snapshot_free(struct snapshot *s);

/*
 * From how many bytes on the functions above read and validate a snapshot on two
 * threads, when the calling thread may run on two CPUs (default
 * SNAPSHOT_PARALLEL_MIN); the verdict and its reason are the same either way.
 * 0: always, even on one CPU; SIZE_MAX: never.  Process-wide: for tests,
 * benchmarks, and a single-threaded caller that keeps the second CPU busy itself
 * meanwhile (kvwatch's warm start, which copies the file).  Below the default a thread's start and join cost more than the
 * second CPU saves (docs/snapshot-format.md has the measurement).
 */
#define SNAPSHOT_PARALLEL_MIN (4u << 20)
void snapshot_set_parallel_min(size_t bytes);

const struct snap_header *snapshot_header(const struct snapshot *s);
uint64_t snapshot_generation(const struct snapshot *s);

/* The string a snap_str of this snapshot names: a NUL-terminated C string. */
const char *snapshot_str(const struct snapshot *s, struct snap_str str);

uint32_t snapshot_node_count(const struct snapshot *s);
const struct snap_node *snapshot_root(const struct snapshot *s);
const struct snap_node *snapshot_node(const struct snapshot *s, uint32_t index);
uint32_t snapshot_node_index(const struct snapshot *s, const struct snap_node *node);
static inline bool snapshot_node_is_dir(const struct snap_node *n)
{
	return n->type == SNAP_NODE_DIR;
}

/* NULL when absent. */
const struct snap_node *snapshot_lookup_id(const struct snapshot *s, uint64_t id);
const struct snap_node *snapshot_lookup_child(const struct snapshot *s, const struct snap_node *dir,
                                              const char *name, size_t len);
/*
 * path is absolute and normalised ("/", "/Movies/X"); a trailing '/' is allowed and
 * empty components are skipped ("." and ".." are not resolved: they are not found).
 * Returns 0, -ENOENT, -ENOTDIR (a file in the middle) or -ENAMETOOLONG (a component
 * over SNAP_NAME_MAX, a path over SNAP_PATH_MAX bytes).
 */
int snapshot_lookup_path(const struct snapshot *s, const char *path, const struct snap_node **ret);

/* The children of dir as one contiguous, name-sorted slice (count 0 for files). */
const struct snap_node *snapshot_children(const struct snapshot *s, const struct snap_node *dir,
                                          uint32_t *ret_count);
/* NULL for the root. */
const struct snap_node *snapshot_parent(const struct snapshot *s, const struct snap_node *node);

/*
 * Write the absolute virtual path of node into buf ("/" for the root).  Returns its
 * length, or -ENAMETOOLONG if it does not fit.
 */
int snapshot_node_path(const struct snapshot *s, const struct snap_node *node, char *buf,
                       size_t buflen);

const struct snap_prop *snapshot_props(const struct snapshot *s, const struct snap_node *node,
                                       uint32_t *ret_count);
/* The value of one property of a file node, NULL when absent. */
const char *snapshot_prop(const struct snapshot *s, const struct snap_node *node, const char *key);

const struct snap_rule *snapshot_rules(const struct snapshot *s, uint32_t *ret_count);
const struct snap_category *snapshot_categories(const struct snapshot *s, uint32_t *ret_count);
const struct snap_skip *snapshot_skips(const struct snapshot *s, uint32_t *ret_count);

#endif
