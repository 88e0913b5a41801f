/*
 * source: openat2 beneath the files volume (see source.h).
 *
 * Sources are opened O_NONBLOCK so that a FIFO planted in the volume cannot hang
 * a FUSE worker in open(); the type is checked with fstat before the descriptor
 * is handed out.  O_NONBLOCK means nothing for a regular file's reads.
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "path.h"

#define SOURCE_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

struct source {
	char *volume;
	pthread_mutex_t lock; /* guards the fields below */
	int volume_fd;        /* -1 until opened */
	dev_t volume_dev;
	ino_t volume_ino;
	int *retired; /* earlier volume descriptors, closed only at the end */
	size_t nretired;
};

static atomic_bool openat2_missing;

/*
 * The descriptor of the volume as it is now: when the path names another
 * directory than the one open (the volume was unmounted and mounted again),
 * open the new one.  An old descriptor may be in use by another thread, so it
 * is kept until source_free().
 */
static int volume_fd(struct source *src)
{
	struct stat st;
	int fd, *p;

	if (stat(src->volume, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	pthread_mutex_lock(&src->lock);
	fd = src->volume_fd;
	if (fd >= 0 && src->volume_dev == st.st_dev && src->volume_ino == st.st_ino)
		goto out;
	fd = open(src->volume, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		fd = -errno;
		goto out;
	}
	if (src->volume_fd >= 0) {
		p = realloc(src->retired, (src->nretired + 1) * sizeof(*p));
		if (!p) {
			close(fd);
			fd = src->volume_fd; /* keep the old one rather than fail */
			goto out;
		}
		src->retired = p;
		src->retired[src->nretired++] = src->volume_fd;
	}
	src->volume_fd = fd;
	src->volume_dev = st.st_dev;
	src->volume_ino = st.st_ino;
out:
	pthread_mutex_unlock(&src->lock);
	return fd;
}

int source_new(const char *files_volume, struct source **ret)
{
	struct source *src = calloc(1, sizeof(*src));

	if (!src)
		return -ENOMEM;
	src->volume = strdup(files_volume);
	if (!src->volume) {
		free(src);
		return -ENOMEM;
	}
	pthread_mutex_init(&src->lock, NULL);
	src->volume_fd = -1;
	(void)volume_fd(src);
	*ret = src;
	return 0;
}

void source_free(struct source *src)
{
	if (!src)
		return;
	if (src->volume_fd >= 0)
		close(src->volume_fd);
	for (size_t i = 0; i < src->nretired; i++)
		close(src->retired[i]);
	free(src->retired);
	pthread_mutex_destroy(&src->lock);
	free(src->volume);
	free(src);
}

int source_volume_status(struct source *src)
{
	int fd = volume_fd(src);

	return fd < 0 ? fd : 0;
}

static int open_beneath(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)flags,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* Without openat2: every component opened with O_NOFOLLOW, so no symlink is followed. */
static int open_walk(int dirfd, const char *rel, int flags)
{
	char comp[256];
	const char *p = rel;
	int cur = dirfd, fd;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || n >= sizeof(comp)) {
			fd = -EINVAL;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (!slash) {
			fd = openat(cur, comp, flags | O_NOFOLLOW);
			fd = fd < 0 ? -errno : fd;
			break;
		}
		fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			fd = -errno;
			break;
		}
		if (cur != dirfd)
			close(cur);
		cur = fd;
		p = slash + 1;
	}
	if (cur != dirfd)
		close(cur);
	/*
	 * O_NOFOLLOW on a symlink: ELOOP (last component; with O_PATH the link itself
	 * opens, and open_source() refuses it) or ENOTDIR (O_DIRECTORY).
	 */
	return fd;
}

/* source_open() with flags (SOURCE_OPEN_FLAGS, or O_PATH to look without reading). */
static int open_source(struct source *src, const char *rel, int flags, struct stat *ret_st)
{
	struct stat st;
	int dirfd, fd;

	if (!path_is_safe_source(rel, strlen(rel)))
		return -EINVAL;
	dirfd = volume_fd(src);
	if (dirfd < 0)
		return dirfd == -ENOTDIR ? -ENOENT : dirfd;

	fd = -ENOSYS;
	if (!atomic_load_explicit(&openat2_missing, memory_order_relaxed)) {
		fd = open_beneath(dirfd, rel, flags);
		if (fd == -ENOSYS)
			atomic_store_explicit(&openat2_missing, true, memory_order_relaxed);
	}
	if (fd == -ENOSYS)
		fd = open_walk(dirfd, rel, flags);
	if (fd < 0)
		return fd == -ENOTDIR ? -ENOENT : fd;

	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : S_ISLNK(st.st_mode) ? -ELOOP : -EPERM;
	}
	if (ret_st)
		*ret_st = st;
	return fd;
}

int source_open(struct source *src, const char *rel, struct stat *ret_st)
{
	return open_source(src, rel, SOURCE_OPEN_FLAGS, ret_st);
}

int source_size(struct source *src, const char *rel, uint64_t *ret_size)
{
	struct stat st;
	int fd;

	fd = source_open(src, rel, &st);
	if (fd < 0)
		return fd;
	close(fd);
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int source_measure(struct source *src, const char *rel, uint64_t *ret_size)
{
	struct stat st;
	int fd;

	fd = open_source(src, rel, O_PATH | O_CLOEXEC, &st);
	if (fd < 0)
		return fd;
	close(fd);
	*ret_size = (uint64_t)st.st_size;
	return 0;
}
