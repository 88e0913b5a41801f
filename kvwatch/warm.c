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

int warm_publish(struct publisher *p, const char *state_dir, struct snapshot **ret, char *err,
                 size_t errlen)
{
	struct snapshot *cur = NULL, *saved = NULL, *src;
	struct snap_header h;
	char path[PATH_MAX], tmp[PATH_MAX], why[256];
	uint64_t gen = 0;
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", p->runtime_dir, SNAP_FILE_NAME);
	if (snapshot_open(path, &cur, why, sizeof(why)) == 0)
		gen = snapshot_generation(cur);
	if (cur == NULL) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, SNAP_FILE_NAME);
		r = snapshot_open(path, &saved, why, sizeof(why));
		if (r < 0)
			return errbuf_set(err, errlen, r, "%s", why);
		gen = snapshot_generation(saved);
	}
	src = cur != NULL ? cur : saved;
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

	snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", p->runtime_dir, SNAP_FILE_NAME);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		errbuf_set(err, errlen, r, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	r = fchmod(fd, 0444) < 0 ? -errno : 0; /* published read-only, see guard.h */
	if (r == 0)
		r = write_all(fd, &h, sizeof(h));
	if (r == 0)
		r = write_all(fd, (const char *)snapshot_header(src) + sizeof(h),
		              h.total_size - sizeof(h));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	snprintf(path, sizeof(path), "%s/%s", p->runtime_dir, SNAP_FILE_NAME);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		errbuf_set(err, errlen, r, "writing %s: %s", path, strerror(-r));
		goto out;
	}
	p->generation = h.generation;
	*ret = src;
	src = NULL;
out:
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

#define COPY_CHUNK (1u << 20)

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
