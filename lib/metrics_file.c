/*
 * metrics_file: the shared counters file of a worker (see metrics_file.h).
 */
#include "metrics_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct metrics_file {
	struct metrics_head *head; /* the counters, the head first */
	size_t size;
	bool mapped;
	char *path;
};

static size_t layout_size(const struct metrics_layout *l, uint32_t count)
{
	return l->head_size + (size_t)count * l->item_size;
}

static void fill_head(struct metrics_head *h, const char *name, const struct metrics_layout *l,
                      uint32_t count, size_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memcpy(h->magic, l->magic, sizeof(h->magic));
	h->version = l->version;
	h->count = count;
	h->size = size;
	h->pid = getpid();
	h->start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	snprintf(h->name, sizeof(h->name), "%s", name);
}

/* Create, size, map and fill the file under a temporary name, then rename it. */
static int map_file(struct metrics_file *m, const char *runtime_dir, const char *name,
                    const struct metrics_layout *l, uint32_t count,
                    void (*fill)(void *data, void *ctx), void *ctx)
{
	char *tmp = NULL;
	void *p;
	int fd, r;

	if (asprintf(&tmp, "%s/%s", runtime_dir, METRICS_FILE_DIR) < 0)
		return -ENOMEM;
	/* A worker run alone; under the supervisor it exists, the readers' own. */
	r = mkdir(tmp, 0755) < 0 && errno != EEXIST ? -errno : 0;
	free(tmp);
	tmp = NULL;
	if (r < 0)
		return r;
	if (asprintf(&m->path, "%s/%s/%s%s", runtime_dir, METRICS_FILE_DIR, name,
	             METRICS_FILE_SUFFIX) < 0) {
		m->path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&tmp, "%s.tmp.%d", m->path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (ftruncate(fd, (off_t)m->size) < 0) {
		r = -errno;
		goto out_unlink;
	}
	p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto out_unlink;
	}
	fill_head(p, name, l, count, m->size);
	if (fill)
		fill(p, ctx);
	if (rename(tmp, m->path) < 0) {
		r = -errno;
		munmap(p, m->size);
		goto out_unlink;
	}
	m->head = p;
	m->mapped = true;
	r = 0;
	goto out_close;
out_unlink:
	unlink(tmp);
out_close:
	close(fd);
out:
	free(tmp);
	return r;
}

int metrics_file_new(const char *runtime_dir, const char *name, const struct metrics_layout *l,
                     uint32_t count, void (*fill)(void *data, void *ctx), void *ctx,
                     struct metrics_file **ret, int *ret_file_err)
{
	struct metrics_file *m;
	int r;

	if (count == 0 || count > l->items_max || !name || !*name || strchr(name, '/') ||
	    strlen(name) >= METRICS_FILE_NAME_MAX)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->size = layout_size(l, count);
	r = runtime_dir ? map_file(m, runtime_dir, name, l, count, fill, ctx) : -ENOENT;
	if (ret_file_err)
		*ret_file_err = r;
	if (r < 0) {
		free(m->path);
		m->path = NULL;
		m->head = calloc(1, m->size);
		if (!m->head) {
			free(m);
			return -ENOMEM;
		}
		fill_head(m->head, name, l, count, m->size);
		if (fill)
			fill(m->head, ctx);
	}
	*ret = m;
	return 0;
}

void metrics_file_free(struct metrics_file *m)
{
	if (!m)
		return;
	if (m->mapped) {
		/* Only our own file: another instance may have replaced it since. */
		struct metrics_head head;
		int fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd >= 0) {
			if (read(fd, &head, sizeof(head)) == (ssize_t)sizeof(head) &&
			    head.pid == m->head->pid && head.start_ns == m->head->start_ns)
				unlink(m->path);
			close(fd);
		}
		munmap(m->head, m->size);
	} else {
		free(m->head);
	}
	free(m->path);
	free(m);
}

void *metrics_file_data(const struct metrics_file *m)
{
	return m->head;
}

const char *metrics_file_path(const struct metrics_file *m)
{
	return m->mapped ? m->path : NULL;
}

bool metrics_name_is_terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int metrics_file_load(const char *path, const struct metrics_layout *l, void **ret)
{
	struct metrics_head *h = NULL;
	struct stat st;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = -EBADMSG;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size < l->head_size ||
	    (size_t)st.st_size > layout_size(l, l->items_max))
		goto out;
	h = malloc((size_t)st.st_size);
	if (!h) {
		r = -ENOMEM;
		goto out;
	}
	n = pread(fd, h, (size_t)st.st_size, 0);
	if (n != st.st_size || memcmp(h->magic, l->magic, sizeof(h->magic)) != 0 ||
	    h->version != l->version || h->count == 0 || h->count > l->items_max ||
	    h->size != (uint64_t)st.st_size || h->size != layout_size(l, h->count) ||
	    !metrics_name_is_terminated(h->name, sizeof(h->name)))
		goto out;
	*ret = h;
	h = NULL;
	r = 0;
out:
	free(h);
	close(fd);
	return r;
}
