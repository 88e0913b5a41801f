/*
 * snapshot_share: one sealed in-memory copy of the published snapshot, handed by
 * kvwatch to every reader, so that fused, davd and apid map the same pages
 * instead of each holding a private copy of vfs.snapshot.
 *
 * A reader cannot simply map vfs.snapshot: anyone allowed to truncate the file
 * in place (root, an operator's slip) would make every access beyond the new end
 * fault with SIGBUS.  A memfd sealed against shrinking, growing and writing
 * cannot change at all, so a mapping of it never faults and always holds the
 * bytes that were validated.  A tmpfs file cannot be sealed, and a memfd has no
 * name in the runtime directory, so kvwatch hands it over a Unix socket there,
 * vfs.sock: a reader connects, receives one message (SHARE_MAGIC, the copy's
 * size, and the descriptor as SCM_RIGHTS) and the connection is closed.
 *
 * The copy is made before vfs.snapshot is renamed into place, so a reader woken
 * by the new file finds its copy already served; a reader still checks that the
 * copy's header is the file's header, and loads a private copy of the file
 * whenever no shared copy matching it can be had (kvwatch gone, standalone
 * runs on a file made by another tool).  docs/snapshot-format.md, "Sharing".
 *
 * Nothing here logs: functions return -errno and a one-line reason.
 */
#ifndef MF_SNAPSHOT_SHARE_H
#define MF_SNAPSHOT_SHARE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SNAP_SHARE_NAME "vfs.sock"
#define SHARE_MAGIC     "MFSHARE1"

/* The seals a shared copy must carry before a reader maps it. */
#define SHARE_SEALS_REQUIRED (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* ---- kvwatch's side ---- */

struct snapshot_share;

/*
 * Listen on dir/vfs.sock (replacing a socket left by an earlier run) and answer
 * every connection on a thread of its own, so that a busy event loop never
 * keeps a reader waiting.  Until snapshot_share_set() is called a reader is
 * told that there is no copy yet.  The caller owns *ret.
 */
int snapshot_share_open(const char *dir, struct snapshot_share **ret, char *why, size_t wl);

/*
 * Copy the first size bytes of fd (a finished snapshot file; data: the same
 * bytes mapped by the caller, read instead of fd when not NULL) into a new sealed
 * memfd and serve it from now on; the previous copy is closed (readers that
 * mapped it keep it).  Returns 1 when the copy went into the prepared spare, 0
 * into a new memfd.  On failure the previous copy is no longer served either:
 * it is not the file about to be published.
 */
int snapshot_share_set(struct snapshot_share *sh, int fd, const void *data, uint64_t size,
                       char *why, size_t wl);

/*
 * Like snapshot_share_set(), but the copy is made on a thread of its own and
 * this returns at once; a reader connecting meanwhile waits for it (at most
 * SHARE_MAKING_WAIT_MS) instead of being told there is none.  fd is duplicated,
 * the caller keeps its own.  done (may be NULL) is called on that thread with
 * the result, the reason of a failure and the time the copy took.  A later
 * snapshot_share_set*() or snapshot_share_close() waits for the thread.  For
 * kvwatch's warm start, which publishes the saved tree without waiting for
 * its copy.  0, or what snapshot_share_set() returns when no thread can start.
 */
typedef void snapshot_share_done_fn(void *ctx, int r, const char *why, int64_t ns);
int snapshot_share_set_async(struct snapshot_share *sh, int fd, uint64_t size,
                             snapshot_share_done_fn *done, void *ctx, char *why, size_t wl);
/* How long a reader waits for kvwatch's answer before it loads the file itself. */
#define SHARE_FETCH_TIMEOUT_MS 2000
/* kvwatch answers "no copy" before that, rather than leave the reader to time out. */
#define SHARE_MAKING_WAIT_MS (SHARE_FETCH_TIMEOUT_MS - 500)

/*
 * Allocate a memfd of size bytes, on a thread, for the next
 * snapshot_share_set() (which then only copies bytes: at 100,000 files 10 ms
 * instead of 25).  Nothing when one is ready or being made.  The spare costs its
 * size in memory until it is taken or dropped; kvwatch prepares it with its
 * spare file, while live changes flow.
 */
void snapshot_share_prepare(struct snapshot_share *sh, uint64_t size);
/* Give the spare back (waiting for its thread). */
void snapshot_share_drop_spare(struct snapshot_share *sh);

/* Stop answering, remove the socket, close the copy and the spare. */
void snapshot_share_close(struct snapshot_share *sh);

/* ---- a reader's side ---- */

/*
 * Ask the socket at path for the shared copy, waiting at most timeout_ms.  The
 * peer must run as uid owner (the owner of vfs.snapshot) or as root.  On success
 * *ret_fd is the copy, size checked against its header's claim and sealed with
 * SHARE_SEALS_REQUIRED; the caller owns it.  -ENOENT, -ECONNREFUSED: nobody
 * serves a copy (a normal case); -ENODATA: kvwatch has none yet; anything else
 * is a fault of the peer, described in why.
 */
int snapshot_share_fetch(const char *path, uid_t owner, int timeout_ms, int *ret_fd, char *why,
                         size_t wl);

#endif
