/*
 * mount: stale and live mounts at the mount point, and the mount's device
 * (see mount.h).
 *
 * A FUSE mount whose daemon died answers every access with ENOTCONN ("transport
 * endpoint is not connected") until someone unmounts it; mounting over it would
 * work but leave the dead mount underneath, so it is detached first.  A live
 * meta-fuse mount belongs to another fused and is left alone.
 */
#include "mount.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mountinfo.h"

#define MOUNT_FSTYPE "fuse.meta-fuse"

int mount_device(const char *real_path, char *buf, size_t len)
{
	return mountinfo_find(real_path, buf, len, NULL, 0);
}

int mount_state(const char *path, enum mount_state *ret)
{
	char real[PATH_MAX], fstype[64];
	struct statfs sfs;
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOTCONN) {
			*ret = MOUNT_STALE;
			return 0;
		}
		if (errno == ENOENT) {
			*ret = MOUNT_MISSING;
			return 0;
		}
		return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*ret = MOUNT_FREE;
	if (!realpath(path, real))
		return 0;
	if (mountinfo_find(real, NULL, 0, fstype, sizeof(fstype)) < 0 ||
	    strncmp(fstype, "fuse", 4) != 0)
		return 0;
	/*
	 * stat() may be answered from the kernel's attribute cache even when the
	 * daemon is gone; statfs() always asks the daemon.
	 */
	if (statfs(path, &sfs) < 0 && errno == ENOTCONN)
		*ret = MOUNT_STALE;
	else if (strcmp(fstype, MOUNT_FSTYPE) == 0)
		*ret = MOUNT_LIVE_OURS;
	return 0;
}

int mount_detach(const char *path)
{
	pid_t pid;
	int status;

	if (umount2(path, MNT_DETACH) == 0)
		return 0;
	if (errno != EPERM)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPERM;
}

int mount_start_unmounter(const char *real_path, const char *dev, int *ret_fd, pid_t *ret_pid)
{
	char here[64];
	sigset_t all;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid > 0) {
		close(p[0]);
		*ret_fd = p[1];
		*ret_pid = pid;
		return 0;
	}

	/*
	 * The child: no descriptor but stdio and the pipe (above all not /dev/fuse,
	 * which would keep the mount alive), no signals from the terminal's process
	 * group, nothing but waiting.
	 */
	if (dup2(p[0], 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	setsid();
	prctl(PR_SET_NAME, "fused-unmount", 0, 0, 0);
	for (;;) {
		char c;
		ssize_t n = read(3, &c, 1);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	if (mountinfo_find(real_path, here, sizeof(here), NULL, 0) == 0 && strcmp(here, dev) == 0)
		umount2(real_path, MNT_DETACH);
	_exit(0);
}
