/*
 * mount: what fused checks and sets around the mount(2) that libfuse (or the
 * supervisor) performs: a stale mount left at the mount point by a crashed
 * fused, a live one held by another fused, and the mount's read-ahead.
 *
 * Nothing here mounts; main.c does, through fuse_session_mount().
 */
#ifndef MF_FUSED_MOUNT_H
#define MF_FUSED_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum mount_state {
	MOUNT_FREE,      /* a directory with nothing of ours on it */
	MOUNT_STALE,     /* a FUSE mount whose daemon is gone (ENOTCONN) */
	MOUNT_LIVE_OURS, /* a live fuse.meta-fuse mount: another fused serves it */
	MOUNT_MISSING,   /* no such directory */
	MOUNT_STATE_MAX,
};

/* Where path stands; -errno when it cannot be told (EACCES, ENOTDIR...). */
int mount_state(const char *path, enum mount_state *ret);

/*
 * Lazily detach the (stale) mount at path: umount2(MNT_DETACH), or
 * `fusermount3 -u -z` without the privilege for it.  Returns 0 or -errno.
 */
int mount_detach(const char *path);

/*
 * The "major:minor" of the topmost mount at real_path (an absolute path without
 * symlinks, resolved before the mount) from /proc/self/mountinfo; the mount's
 * bdi is /sys/class/bdi/<major:minor>.  Returns 0 or -ENOENT.
 */
int mount_device(const char *real_path, char *buf, size_t len);

/*
 * Fork a process that keeps fused's privileges and, once the descriptor it
 * returns in *ret_fd is closed (fused exited, however: SIGTERM, a crash,
 * SIGKILL), detaches the mount at real_path if it is still the one of device
 * dev ("major:minor").  fused keeps *ret_fd open (close-on-exec) for its
 * lifetime.  This replaces fusermount3's auto_unmount, which cannot tell a dead
 * mount from a live one once the kernel stopped sending opendir (see ops.c).
 * Returns 0 and the child's pid in *ret_pid, or -errno.
 */
int mount_start_unmounter(const char *real_path, const char *dev, int *ret_fd, pid_t *ret_pid);

#endif
