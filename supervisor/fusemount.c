/*
 * fusemount: the supervisor mounts FUSE itself and hands the descriptor to
 * fused, which never needs a privilege for it.
 *
 * A first mount is a plain mount(2) of /dev/fuse, read-only, with
 * fd=N,rootmode,user_id,group_id and allow_other/default_permissions.  When
 * fused dies its mount stays behind, dead (every access fails with ENOTCONN,
 * "transport endpoint is not connected": never the empty directory beneath).
 * The fresh mount for the next fused is then made with the new mount API and
 * moved *beneath* the dead one (MOVE_MOUNT_BENEATH, Linux 6.5), and the dead one
 * is detached on top: the mount point goes from "dead" to "served" in one step,
 * so a scanner never sees the underlying directory.  On an older kernel the dead
 * mount is detached first and the fresh one mounted at once after it; the
 * window between the two calls is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "mountinfo.h"
#include "supervisor.h"

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif

#define FUSE_TYPE    "fuse"
#define FUSE_SUBTYPE "meta-fuse"

/*
 * Is the topmost mount at real_path one of ours (fuse.meta-fuse)?  Its
 * "major:minor" goes to dev (when not NULL).
 */
static bool find_our_mount(const char *real_path, char *dev, size_t devlen)
{
	char fstype[64];

	return mountinfo_find(real_path, dev, devlen, fstype, sizeof(fstype)) == 0 &&
	       strcmp(fstype, FUSE_TYPE "." FUSE_SUBTYPE) == 0;
}

static bool is_our_mount(const char *real_path)
{
	return find_our_mount(real_path, NULL, 0);
}

static void mount_options(const struct config *cfg, int fd, char *buf, size_t len)
{
	snprintf(buf, len, "fd=%d,rootmode=40000,user_id=%u,group_id=%u%s,default_permissions", fd,
	         (unsigned)cfg->uid, (unsigned)cfg->gid,
	         cfg->fuse.allow_other ? ",allow_other" : "");
}

/* The new mount API: a detached mount of fd, or -errno. */
static int make_detached_mount(const struct config *cfg, int fd)
{
	char num[16];
	int fs, mnt, r;

	fs = (int)syscall(SYS_fsopen, FUSE_TYPE, FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
#define SET_STR(k, v) syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, k, v, 0)
#define SET_FLAG(k)   syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, k, NULL, 0)
	snprintf(num, sizeof(num), "%d", fd);
	r = (int)SET_STR("source", FUSE_SUBTYPE);
	if (r == 0)
		r = (int)SET_STR("subtype", FUSE_SUBTYPE);
	if (r == 0)
		r = (int)SET_STR("fd", num);
	if (r == 0)
		r = (int)SET_STR("rootmode", "40000");
	if (r == 0) {
		snprintf(num, sizeof(num), "%u", (unsigned)cfg->uid);
		r = (int)SET_STR("user_id", num);
	}
	if (r == 0) {
		snprintf(num, sizeof(num), "%u", (unsigned)cfg->gid);
		r = (int)SET_STR("group_id", num);
	}
	if (r == 0)
		r = (int)SET_FLAG("default_permissions");
	if (r == 0 && cfg->fuse.allow_other)
		r = (int)SET_FLAG("allow_other");
	if (r == 0)
		r = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
#undef SET_STR
#undef SET_FLAG
	if (r < 0) {
		r = -errno;
		close(fs);
		return r;
	}
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
	                   MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	r = mnt < 0 ? -errno : mnt;
	close(fs);
	return r;
}

/* Replace the (dead) mount at mp by a fresh one of fd without an unmounted moment. */
static int mount_beneath(const struct config *cfg, int fd, const char *mp)
{
	int mnt = make_detached_mount(cfg, fd), r;

	if (mnt < 0)
		return mnt;
	r = (int)syscall(SYS_move_mount, mnt, "", AT_FDCWD, mp,
	                 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH);
	r = r < 0 ? -errno : 0;
	close(mnt);
	if (r < 0)
		return r;
	/* The dead mount is now on top of the fresh one: detach it. */
	if (umount2(mp, MNT_DETACH) < 0)
		log_warn("detaching the previous mount at \"%s\"", mp);
	return 0;
}

int fusemount_mount(struct supervisor *s)
{
	const struct config *cfg = s->cfg;
	const char *mp = cfg->fuse.mount_point;
	char opts[256], real[PATH_MAX];
	struct stat st;
	int fd, r;

	if (stat(mp, &st) < 0 && errno == ENOTCONN && !s->mounted) {
		log_warnx("\"%s\" holds a stale FUSE mount: detaching it", mp);
		if (umount2(mp, MNT_DETACH) < 0)
			log_warn("detaching the stale mount at \"%s\"", mp);
	}
	if (mkdir(mp, 0755) == 0)
		log_info("created the mount point \"%s\"", mp);
	if (!s->mounted && realpath(mp, real) && is_our_mount(real)) {
		log_errorx("\"%s\" is already served by a running meta-fuse; stop it first", mp);
		return -EBUSY;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_errorx("cannot open /dev/fuse: %s", strerror(-r));
		return r;
	}
	if (s->mounted) {
		r = mount_beneath(cfg, fd, mp);
		if (r == 0)
			goto done;
		log_warnx("cannot mount beneath the previous mount at \"%s\" (%s): detaching "
		          "it first, the mount point is unserved for a moment",
		          mp, strerror(-r));
		fusemount_detach_all(s);
	}
	mount_options(cfg, fd, opts, sizeof(opts));
	if (mount(FUSE_SUBTYPE, mp, FUSE_TYPE "." FUSE_SUBTYPE, MS_RDONLY | MS_NOSUID | MS_NODEV,
	          opts) < 0) {
		r = -errno;
		log_errorx("cannot mount FUSE at \"%s\": %s", mp, strerror(-r));
		close(fd);
		return r;
	}
done:
	if (s->fuse_fd >= 0)
		close(s->fuse_fd);
	s->fuse_fd = fd;
	s->mounted = true;
	if (!s->mount_point || strcmp(s->mount_point, mp) != 0) {
		free(s->mount_point);
		s->mount_point = strdup(mp);
	}
	return 0;
}

int fusemount_detach_all(struct supervisor *s)
{
	char real[PATH_MAX];
	int n = 0;

	if (s->fuse_fd >= 0) {
		close(s->fuse_fd);
		s->fuse_fd = -1;
	}
	if (!s->mounted || !s->mount_point)
		return 0;
	if (!realpath(s->mount_point, real)) {
		/* A dead mount cannot be resolved (ENOTCONN): the path is the path. */
		snprintf(real, sizeof(real), "%s", s->mount_point);
	}
	while (n < 64 && is_our_mount(real)) {
		if (umount2(real, MNT_DETACH) < 0) {
			log_warn("unmounting \"%s\"", real);
			break;
		}
		n++;
	}
	s->mounted = false;
	return n;
}

int fusemount_read_ahead_open(struct supervisor *s)
{
	char real[PATH_MAX], dev[32], path[96];
	int fd;

	if (s->cfg->fuse.read_ahead_kb == 0 || !s->mount_point || !realpath(s->mount_point, real) ||
	    !find_our_mount(real, dev, sizeof(dev)))
		return -1;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		log_debug("cannot open \"%s\": %m; read-ahead left as is", path);
	return fd;
}
