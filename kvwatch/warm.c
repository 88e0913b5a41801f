/*
 * warm: the saved copy of the last snapshot and the warm start (see warm.h).
 */
#include "warm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "hash.h"
#include "publish.h"
#include "snapshot.h"
#include "snapshot_format.h"

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The body of the file being validated, copied meanwhile: at 1,000,000 files
 * the saved tree is ~400 MB, and validating it and copying it take about as
 * long each, so they run side by side (the copy in the kernel, from the same
 * descriptor the validation maps) and the start waits for the longer of the
 * two, not for both.
 */
struct body_copy {
	pthread_t thread;
	int in, out;
	uint64_t size;
	int result;
};

#define COPY_CHUNK (1u << 20)

/* in[off, size) to out at the same offsets, through a buffer. */
static int copy_rw(int in, int out, uint64_t off, uint64_t size)
{
	char *buf = malloc(COPY_CHUNK);
	int r = 0;

	if (buf == NULL)
		return -ENOMEM;
	while (off < size && r == 0) {
		ssize_t n =
		    pread(in, buf, size - off < COPY_CHUNK ? size - off : COPY_CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ENODATA; /* cut under us */
			break;
		}
		for (ssize_t w = 0, k; w < n && r == 0; w += k) {
			k = pwrite(out, buf + w, (size_t)(n - w), (off_t)off + w);
			if (k < 0 && errno == EINTR)
				k = 0;
			else if (k < 0)
				r = -errno;
		}
		off += (uint64_t)n;
	}
	free(buf);
	return r;
}

static void *copy_body(void *arg)
{
	struct body_copy *c = arg;
	loff_t in_off = sizeof(struct snap_header), out_off = in_off;
	int r = 0;

	while (r == 0 && (uint64_t)in_off < c->size) {
		ssize_t n = copy_file_range(c->in, &in_off, c->out, &out_off,
		                            (size_t)(c->size - (uint64_t)in_off), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 &&
		    (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			r = copy_rw(c->in, c->out, (uint64_t)in_off, c->size);
			break;
		}
		if (n < 0)
			r = -errno;
		else if (n == 0)
			r = -ENODATA;
	}
	c->result = r;
	return NULL;
}

/*
 * Validate path's snapshot into *ret while its body is copied into out; 0 when
 * both went well, else -errno with the reason in why.
 */
static int open_copying(const char *path, int out, struct snapshot **ret, char *why, size_t wl)
{
	struct body_copy c = {.out = out};
	char reason[256];
	struct stat st;
	bool copying;
	int r;

	c.in = open(path, O_RDONLY | O_CLOEXEC);
	if (c.in < 0)
		return errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
	if (fstat(c.in, &st) < 0 || ftruncate(out, 0) < 0) {
		r = errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
		close(c.in);
		return r;
	}
	c.size = (uint64_t)st.st_size;
	copying = pthread_create(&c.thread, NULL, copy_body, &c) == 0;
	/*
	 * The copy takes the second CPU and is the longer of the two: a validation
	 * on two threads as well would take CPU time from it (a thread of three on
	 * two CPUs) and end later for it.  So one thread validates, as fast as one
	 * goes, while the copy runs.
	 */
	if (copying)
		snapshot_set_parallel_min(SIZE_MAX);
	r = snapshot_open_fd(c.in, ret, reason, sizeof(reason));
	if (copying)
		snapshot_set_parallel_min(SNAPSHOT_PARALLEL_MIN);
	if (r < 0)
		errbuf_set(why, wl, 0, "%s: %s", path, reason);
	if (copying)
		pthread_join(c.thread, NULL);
	else
		copy_body(&c); /* no thread: one after the other */
	close(c.in);
	if (r == 0 && c.result < 0) {
		snapshot_free(*ret);
		*ret = NULL;
		r = errbuf_set(why, wl, c.result, "copying %s: %s", path, strerror(-c.result));
	}
	return r;
}

int warm_publish(struct publisher *p, const char *state_dir, struct snapshot **ret, char *err,
                 size_t errlen)
{
	const char *const dirs[] = {p->runtime_dir, state_dir};
	struct snapshot *src = NULL;
	struct snap_header h;
	char path[PATH_MAX], tmp[PATH_MAX], why[512];
	uint64_t gen;
	int fd, r = -ENOENT;

	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", p->runtime_dir, SNAP_FILE_NAME);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return errbuf_set(err, errlen, r, "%s: %s", tmp, strerror(-r));
	}
	/* A restart finds its own tree in runtime_dir; a reboot the copy in state_dir. */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && src == NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], SNAP_FILE_NAME);
		r = open_copying(path, fd, &src, why, sizeof(why));
	}
	if (src == NULL) {
		errbuf_set(err, errlen, r, "%s", why);
		goto out;
	}
	gen = snapshot_generation(src);
	/* Generations never go back for the readers. */
	if (gen < p->generation)
		gen = p->generation;
	memcpy(&h, snapshot_header(src), sizeof(h));
	h.generation = gen + 1;
	h.kv_connected = 0;
	h.kv_flags = (h.kv_flags & ~SNAP_KV_HELD) | SNAP_KV_RESYNCING;
	h.kv_held_removals = 0;
	h.header_checksum = 0;
	h.header_checksum = hash64(&h, sizeof(h), 0);

	r = fchmod(fd, 0444) < 0 ? -errno : 0; /* published read-only, see guard.h */
	if (r == 0 && pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		r = errno ? -errno : -EIO;
	if (r == 0 && ftruncate(fd, (off_t)h.total_size) < 0)
		r = -errno;
	if (r == 0)
		publish_share_async(p, fd, h.total_size);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	fd = -1;
	snprintf(path, sizeof(path), "%s/%s", p->runtime_dir, SNAP_FILE_NAME);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		errbuf_set(err, errlen, r, "writing %s: %s", path, strerror(-r));
		goto out;
	}
	p->generation = h.generation;
	*ret = src;
	src = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	snapshot_free(src);
	return r;
}

/* ---- the copy into state_dir ---- */

struct warm_save {
	pthread_t thread;
	char src[PATH_MAX];
	char dir[PATH_MAX];
	uint64_t generation;
	atomic_bool done;
	int result;
	char err[256];
};

static int copy_fd(int in, int out, uint64_t size)
{
	char *buf = malloc(COPY_CHUNK);
	uint64_t left = size;
	int r = 0;

	if (buf == NULL)
		return -ENOMEM;
	while (left > 0 && r == 0) {
		ssize_t n = read(in, buf, left < COPY_CHUNK ? left : COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else if (n == 0)
			r = -ENODATA; /* cut under us */
		else
			r = write_all(out, buf, (size_t)n);
		if (n > 0)
			left -= (uint64_t)n;
	}
	free(buf);
	return r;
}

static int save(struct warm_save *ws)
{
	struct snap_header h;
	char tmp[PATH_MAX + 32], dst[PATH_MAX + 32];
	struct stat st;
	int in, out = -1, r;

	in = open(ws->src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errbuf_set(ws->err, sizeof(ws->err), -errno, "%s: %s", ws->src,
		                  strerror(errno));
	r = fstat(in, &st) < 0 ? -errno : 0;
	if (r == 0 && pread(in, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		r = -ENODATA;
	if (r == 0 && (h.generation != ws->generation || h.total_size != (uint64_t)st.st_size ||
	               h.total_size < sizeof(h)))
		r = -ESTALE; /* replaced or changed since it was published: not ours */
	if (r < 0) {
		errbuf_set(ws->err, sizeof(ws->err), r, "%s: %s", ws->src, strerror(-r));
		goto out;
	}
	if (mkdir(ws->dir, 0700) < 0 && errno != EEXIST) {
		r = errbuf_set(ws->err, sizeof(ws->err), -errno, "state_dir \"%s\": %s", ws->dir,
		               strerror(errno));
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", ws->dir, SNAP_FILE_NAME);
	snprintf(dst, sizeof(dst), "%s/%s", ws->dir, SNAP_FILE_NAME);
	out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0) {
		r = errbuf_set(ws->err, sizeof(ws->err), -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	r = fchmod(out, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = copy_fd(in, out, h.total_size);
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		errbuf_set(ws->err, sizeof(ws->err), r, "%s: %s", dst, strerror(-r));
	}
out:
	close(in);
	return r;
}

static void *save_main(void *arg)
{
	struct warm_save *ws = arg;

	ws->result = save(ws);
	atomic_store(&ws->done, true);
	return NULL;
}

struct warm_save *warm_save_start(const char *runtime_dir, const char *state_dir,
                                  uint64_t generation)
{
	struct warm_save *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		return NULL;
	snprintf(ws->src, sizeof(ws->src), "%s/%s", runtime_dir, SNAP_FILE_NAME);
	snprintf(ws->dir, sizeof(ws->dir), "%s", state_dir);
	ws->generation = generation;
	atomic_init(&ws->done, false);
	if (pthread_create(&ws->thread, NULL, save_main, ws) != 0) {
		free(ws);
		return NULL;
	}
	return ws;
}

bool warm_save_done(struct warm_save *ws)
{
	return atomic_load(&ws->done);
}

int warm_save_end(struct warm_save *ws, char *err, size_t errlen)
{
	int r;

	pthread_join(ws->thread, NULL);
	r = ws->result;
	if (r < 0)
		errbuf_set(err, errlen, r, "%s", ws->err);
	free(ws);
	return r;
}
