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
 * comes to name another directory (a volume unmounted and mounted again, or a
 * directory put in its place), or when it was not there before.  The path is
 * compared at most once every SOURCE_RECHECK_MS, not at every open (a stat per
 * request was a seventh of a small GET's system calls): a volume replaced is
 * noticed within that time, or at once after source_recheck().  A volume that
 * is missing is looked for at every open.  Nothing here logs; errors come back
 * as -errno for the caller to report.
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

/* The longest a replaced volume goes unnoticed, in milliseconds. */
#define SOURCE_RECHECK_MS 1000

/* Check the volume now: 0 when its directory is there and open, else -errno. */
int source_volume_status(struct source *src);

/* Have the next open check the volume's path again (a new generation came). */
void source_recheck(struct source *src);

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
 * An open source shared by the requests that read it at about the same time
 * (source_get); counted, closed by the last source_put().
 */
struct source_file;

/*
 * rel's source as source_open() finds it, but the descriptor is shared and kept
 * open for SOURCE_RECHECK_MS after its open, so that repeated requests for one
 * file (small GETs, ranges of one video) skip the open: a file replaced or
 * deleted in the volume is served as it was for at most that long.  *ret_st is
 * a new fstat of the descriptor (a file that changed in place has its size).
 * Returns the descriptor (borrowed: read it with pread() or dup() it, never
 * close it) and *ret_file, to hand to source_put() when done; or -errno as
 * source_open().  Failures are not kept.
 */
int source_get(struct source *src, const char *rel, struct stat *ret_st,
               struct source_file **ret_file);
/* f's descriptor, as source_get() returned it. */
int source_file_fd(const struct source_file *f);
/* Done with f (NULL is allowed). */
void source_put(struct source_file *f);
/*
 * Close the kept descriptors past SOURCE_RECHECK_MS, which source_get() would
 * no longer serve; each source_get() also sweeps one slot of its own.
 */
void source_sweep(struct source *src);

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
