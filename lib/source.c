/*
 * source: openat2 beneath the files volume (see source.h).
 *
 * Sources are opened O_NONBLOCK so that a FIFO planted in the volume cannot hang
 * a FUSE worker in open(); the type is checked with fstat before the descriptor
 * is handed out.  O_NONBLOCK means nothing for a regular file's reads.
 *
 * The kept descriptors of source_get() live in a small direct-mapped table,
 * one entry per slot (the hash of the path picks it), each entry counted by
 * its users: a slot's entry replaced or expired is closed by the last one to
 * let go.  Every source_get() also looks at one more slot in turn and drops
 * its entry when expired, so kept descriptors go with the traffic; a quiet
 * server's go at source_sweep().
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
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "path.h"

#define SOURCE_OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* Slots of the table of kept descriptors (a power of two). */
#define KEEP_SLOTS 64

struct source_file {
	int fd;
	int dirfd; /* the volume's descriptor it was opened beneath */
	atomic_uint refs;
	int64_t opened_ms;
	uint64_t key; /* hash of rel */
	char rel[];
};

struct keep_slot {
	pthread_mutex_t lock;
	struct source_file *file; /* holds a reference; NULL when empty */
};

struct source {
	char *volume;
	pthread_mutex_t lock;       /* guards the fields below, but for the fast path's reads */
	_Atomic int volume_fd;      /* -1 until opened */
	_Atomic int64_t checked_ms; /* when the path was last compared, CLOCK_MONOTONIC_COARSE */
	dev_t volume_dev;
	ino_t volume_ino;
	int *retired; /* earlier volume descriptors, closed only at the end */
	size_t nretired;
	struct keep_slot keep[KEEP_SLOTS];
	atomic_uint sweep_next; /* the slot source_get() looks at next */
};

static atomic_bool openat2_missing;

static int64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Compare the volume's path with the directory held open, and open the new one
 * when the path names another directory than the one open (the volume was
 * unmounted and mounted again, or replaced).  An old descriptor may be in use
 * by another thread, so it is kept until source_free().  Called with the lock.
 */
static int recheck(struct source *src, int64_t now)
{
	struct stat st;
	int fd, old = atomic_load(&src->volume_fd), *p;

	if (stat(src->volume, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (old >= 0 && src->volume_dev == st.st_dev && src->volume_ino == st.st_ino) {
		atomic_store(&src->checked_ms, now);
		return old;
	}
	fd = open(src->volume, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (old >= 0) {
		p = realloc(src->retired, (src->nretired + 1) * sizeof(*p));
		if (!p) {
			close(fd);
			return old; /* keep the old one rather than fail */
		}
		src->retired = p;
		src->retired[src->nretired++] = old;
	}
	src->volume_dev = st.st_dev;
	src->volume_ino = st.st_ino;
	atomic_store(&src->volume_fd, fd);
	atomic_store(&src->checked_ms, now);
	return fd;
}

/*
 * The descriptor of the volume: the one open while its check is younger than
 * SOURCE_RECHECK_MS (no system call, no lock), else checked again.  A volume
 * that is missing is looked for at every call, so it is seen as soon as it
 * is back.
 */
static int volume_fd(struct source *src, bool force)
{
	int64_t now = coarse_ms();
	int fd = atomic_load_explicit(&src->volume_fd, memory_order_acquire);

	if (!force && fd >= 0 &&
	    now - atomic_load_explicit(&src->checked_ms, memory_order_relaxed) < SOURCE_RECHECK_MS)
		return fd;
	pthread_mutex_lock(&src->lock);
	fd = atomic_load(&src->volume_fd);
	if (force || fd < 0 || now - atomic_load(&src->checked_ms) >= SOURCE_RECHECK_MS)
		fd = recheck(src, now);
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
	for (size_t i = 0; i < KEEP_SLOTS; i++)
		pthread_mutex_init(&src->keep[i].lock, NULL);
	atomic_init(&src->volume_fd, -1);
	atomic_init(&src->checked_ms, 0);
	(void)volume_fd(src, true);
	*ret = src;
	return 0;
}

void source_free(struct source *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < KEEP_SLOTS; i++) {
		source_put(src->keep[i].file);
		pthread_mutex_destroy(&src->keep[i].lock);
	}
	if (atomic_load(&src->volume_fd) >= 0)
		close(atomic_load(&src->volume_fd));
	for (size_t i = 0; i < src->nretired; i++)
		close(src->retired[i]);
	free(src->retired);
	pthread_mutex_destroy(&src->lock);
	free(src->volume);
	free(src);
}

int source_volume_status(struct source *src)
{
	int fd = volume_fd(src, true);

	return fd < 0 ? fd : 0;
}

void source_recheck(struct source *src)
{
	atomic_store(&src->checked_ms, INT64_MIN / 2);
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
	dirfd = volume_fd(src, false);
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

/* The size of rel, opened with flags and closed again. */
static int size_with(struct source *src, const char *rel, int flags, uint64_t *ret_size)
{
	struct stat st;
	int fd;

	fd = open_source(src, rel, flags, &st);
	if (fd < 0)
		return fd;
	close(fd);
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

int source_size(struct source *src, const char *rel, uint64_t *ret_size)
{
	return size_with(src, rel, SOURCE_OPEN_FLAGS, ret_size);
}

int source_file_fd(const struct source_file *f)
{
	return f->fd;
}

void source_put(struct source_file *f)
{
	if (f && atomic_fetch_sub(&f->refs, 1) == 1) {
		close(f->fd);
		free(f);
	}
}

/* Whether f may serve still: younger than SOURCE_RECHECK_MS, beneath the current volume. */
static bool is_fresh(const struct source_file *f, int dirfd, int64_t now)
{
	return now - f->opened_ms < SOURCE_RECHECK_MS && f->dirfd == dirfd;
}

/* Drop slot's entry when it is no longer fresh. */
static void sweep_slot(struct keep_slot *slot, int dirfd, int64_t now)
{
	struct source_file *old = NULL;

	pthread_mutex_lock(&slot->lock);
	if (slot->file && !is_fresh(slot->file, dirfd, now)) {
		old = slot->file;
		slot->file = NULL;
	}
	pthread_mutex_unlock(&slot->lock);
	source_put(old);
}

void source_sweep(struct source *src)
{
	int dirfd = atomic_load(&src->volume_fd);
	int64_t now = coarse_ms();

	for (size_t i = 0; i < KEEP_SLOTS; i++)
		sweep_slot(&src->keep[i], dirfd, now);
}

int source_get(struct source *src, const char *rel, struct stat *ret_st,
               struct source_file **ret_file)
{
	size_t len = strlen(rel);
	uint64_t key = hash64(rel, len, 0);
	struct keep_slot *slot = &src->keep[key & (KEEP_SLOTS - 1)];
	struct source_file *f = NULL, *old;
	int64_t now = coarse_ms();
	int dirfd = volume_fd(src, false), fd;

	if (dirfd < 0)
		return dirfd == -ENOTDIR ? -ENOENT : dirfd;
	sweep_slot(&src->keep[atomic_fetch_add(&src->sweep_next, 1) & (KEEP_SLOTS - 1)], dirfd,
	           now);
	pthread_mutex_lock(&slot->lock);
	if (slot->file && slot->file->key == key && is_fresh(slot->file, dirfd, now) &&
	    strcmp(slot->file->rel, rel) == 0) {
		f = slot->file;
		atomic_fetch_add(&f->refs, 1);
	}
	pthread_mutex_unlock(&slot->lock);
	if (f) {
		if (fstat(f->fd, ret_st) < 0) {
			int r = -errno;

			source_put(f);
			return r;
		}
		*ret_file = f;
		return f->fd;
	}

	fd = source_open(src, rel, ret_st);
	if (fd < 0)
		return fd;
	f = malloc(sizeof(*f) + len + 1);
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->fd = fd;
	f->dirfd = dirfd;
	atomic_init(&f->refs, 2); /* the caller's and the slot's */
	f->opened_ms = now;
	f->key = key;
	memcpy(f->rel, rel, len + 1);
	pthread_mutex_lock(&slot->lock);
	old = slot->file;
	slot->file = f;
	pthread_mutex_unlock(&slot->lock);
	source_put(old);
	*ret_file = f;
	return fd;
}

int source_measure(struct source *src, const char *rel, uint64_t *ret_size)
{
	return size_with(src, rel, O_PATH | O_CLOEXEC, ret_size);
}
