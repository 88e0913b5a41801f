/*
 * source: opens a file's source beneath the files volume, and nothing else.
 *
 * A record's filePath comes from the key-value store, so it is not trusted: it is
 * checked with path_is_safe_source() (relative, no "..") and then opened with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to a descriptor of
 * the volume, so that no symlink inside the volume can lead out of it.  Where
 * openat2 is missing (Linux < 5.6) the path is walked one component at a time
 * with O_NOFOLLOW, which refuses every symlink.  Only regular files are served.
 *
 * The volume directory is held open (O_PATH) and opened again when its path
 * comes to name another directory (a volume unmounted and mounted again), or
 * when it was not there before.  Nothing here logs; errors come back as -errno for the caller
 * to report.
 */
#ifndef MF_SOURCE_H
#define MF_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct source;

/* Owner: the caller; source_free() closes the volume. Fails only with -ENOMEM. */
int source_new(const char *files_volume, struct source **ret);
void source_free(struct source *src);

/* 0 when the volume directory is open, else -errno of the last attempt. */
int source_volume_status(struct source *src);

/*
 * Open rel (a record's filePath) for reading; *ret_st (may be NULL) gets its
 * fstat.  Returns a descriptor (>= 0) or:
 *   -EXDEV   the path, or a symlink on it, leaves the volume (refused)
 *   -ELOOP   a symlink loop, or a symlink where none is allowed (refused)
 *   -EINVAL  the path is not a safe relative path (refused without a look)
 *   -ENOENT  no such file (also: a component is not a directory)
 *   -EISDIR  / -EPERM  not a regular file
 *   -EACCES  and other -errno from the open itself
 */
int source_open(struct source *src, const char *rel, struct stat *ret_st);

/*
 * The size of rel's source as an open would find it: opened as source_open()
 * does, fstat'ed and closed again.  0 and *ret_size, or source_open()'s -errno
 * (*ret_size untouched).  What fused shows, davd lists and apid reports for a
 * file whose size the snapshot does not know.
 */
int source_size(struct source *src, const char *rel, uint64_t *ret_size);

/*
 * source_size() without opening the file for reading: the same path resolution
 * (openat2 beneath the volume, the same refusals and -errno), but O_PATH, so only
 * the right to search the directories is needed, a FIFO or a device is never
 * opened and nothing is read.  What kvwatch measures sizes with: it runs as a user
 * of its own, which may not read the readers' files.
 */
int source_measure(struct source *src, const char *rel, uint64_t *ret_size);

#endif
