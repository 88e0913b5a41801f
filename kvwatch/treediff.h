/*
 * treediff: which virtual directories changed between two generations.
 *
 * FUSE and WebDAV give media servers no change events, so kvwatch hands the
 * change hook the directories whose listing changed: a directory of the new
 * tree is reported when the old tree had no directory with its id (ids hash the
 * path), or when its children differ in name, type or id, or a child file in
 * size, mtime, ctime, source or hash id (lib/snapshot_diff.c decides, as it does
 * for fused).  A directory that disappeared shows up through its surviving
 * parent.  Pure: reads two mapped snapshots, no I/O.
 */
#ifndef MF_KVWATCH_TREEDIFF_H
#define MF_KVWATCH_TREEDIFF_H

#include <stddef.h>

struct snapshot;

/*
 * The changed directories of new as absolute paths, in node order (parents
 * before children).  old == NULL means everything changed and yields "/" alone;
 * so does a list that would pass max entries.  The caller frees with
 * treediff_free().  -ENOMEM.
 */
int treediff_dirs(const struct snapshot *old, const struct snapshot *new, size_t max, char ***ret,
                  size_t *ret_count);
void treediff_free(char **dirs, size_t count);

#endif
