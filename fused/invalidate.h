/*
 * invalidate: what the kernel must forget when generation `old` is replaced by
 * generation `new`.
 *
 * The kernel caches names (dentries, also negative ones), attributes and
 * directory listings for the configured timeouts, and file pages for as long as
 * it likes (fused opens unchanged files with keep_cache).  A new generation
 * makes some of that wrong.  invalidate_diff() compares the two trees by node id
 * (ids are hashes of virtual paths, so the same path has the same id in both)
 * and reports, through the sink:
 *   - entry(parent, name): a name that appeared, disappeared or now names a
 *     different node in a directory present in both (drops the dentry, a
 *     negative one too, and with it the whole subtree below it);
 *   - inode(id): a directory whose listing or attributes changed (drops its
 *     cached listing and attributes), a file whose size, mtime or source changed
 *     (drops its attributes and cached pages).
 * ERROR.txt counts as a child of the root.  Nothing is reported for an
 * unchanged tree.  This file only computes; main.c sends the notifications, from
 * a thread that is not serving a FUSE request.
 */
#ifndef MF_FUSED_INVALIDATE_H
#define MF_FUSED_INVALIDATE_H

#include <stddef.h>
#include <stdint.h>

struct generation;

struct inval_sink {
	void (*entry)(void *ctx, uint64_t parent, const char *name, size_t len);
	void (*inode)(void *ctx, uint64_t id);
	void *ctx;
};

struct inval_stats {
	uint64_t entries;
	uint64_t inodes;
};

void invalidate_diff(const struct generation *old, const struct generation *new,
                     const struct inval_sink *sink, struct inval_stats *ret_stats);

#endif
