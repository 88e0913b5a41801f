/*
 * http_metrics: the shared counters file (see http_metrics.h).
 */
#include "http_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const uint64_t http_metrics_bucket_us[HTTP_METRICS_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, UINT64_MAX,
};

struct http_metrics {
	struct http_metrics_file *f;
	size_t size;
	bool mapped;
	char *path;
};

static size_t file_size(unsigned count)
{
	return sizeof(struct http_metrics_file) + count * sizeof(struct http_metrics_route);
}

static void fill(struct http_metrics_file *f, const char *server, const char *const *routes,
                 unsigned count, size_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memcpy(f->magic, HTTP_METRICS_MAGIC, sizeof(f->magic));
	f->version = HTTP_METRICS_VERSION;
	f->route_count = count;
	f->size = size;
	f->pid = getpid();
	f->start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	snprintf(f->server, sizeof(f->server), "%s", server);
	for (unsigned i = 0; i < count; i++)
		snprintf(f->routes[i].name, sizeof(f->routes[i].name), "%s", routes[i]);
}

/* Create, size, map and fill the file under a temporary name, then rename it. */
static int map_file(struct http_metrics *m, const char *runtime_dir, const char *server,
                    const char *const *routes, unsigned count)
{
	char *tmp = NULL;
	void *p;
	int fd, r;

	if (asprintf(&tmp, "%s/%s", runtime_dir, HTTP_METRICS_DIR) < 0)
		return -ENOMEM;
	/* A worker run alone; under the supervisor it exists, the readers' own. */
	r = mkdir(tmp, 0755) < 0 && errno != EEXIST ? -errno : 0;
	free(tmp);
	tmp = NULL;
	if (r < 0)
		return r;
	if (asprintf(&m->path, "%s/%s/%s%s", runtime_dir, HTTP_METRICS_DIR, server,
	             HTTP_METRICS_SUFFIX) < 0) {
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
	fill(p, server, routes, count, m->size);
	if (rename(tmp, m->path) < 0) {
		r = -errno;
		munmap(p, m->size);
		goto out_unlink;
	}
	m->f = p;
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

int http_metrics_new(const char *runtime_dir, const char *server, const char *const *routes,
                     unsigned count, struct http_metrics **ret, int *ret_file_err)
{
	struct http_metrics *m;
	int r;

	if (count == 0 || count > HTTP_METRICS_ROUTES_MAX || !server || !*server ||
	    strchr(server, '/'))
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->size = file_size(count);
	r = runtime_dir ? map_file(m, runtime_dir, server, routes, count) : -ENOENT;
	if (ret_file_err)
		*ret_file_err = r;
	if (r < 0) {
		free(m->path);
		m->path = NULL;
		m->f = calloc(1, m->size);
		if (!m->f) {
			free(m);
			return -ENOMEM;
		}
		fill(m->f, server, routes, count, m->size);
	}
	*ret = m;
	return 0;
}

void http_metrics_free(struct http_metrics *m)
{
	if (!m)
		return;
	if (m->mapped) {
		/* Only our own file: another instance may have replaced it since. */
		struct http_metrics_file head;
		int fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		if (fd >= 0) {
			if (read(fd, &head, sizeof(head)) == (ssize_t)sizeof(head) &&
			    head.pid == m->f->pid && head.start_ns == m->f->start_ns)
				unlink(m->path);
			close(fd);
		}
		munmap(m->f, m->size);
	} else {
		free(m->f);
	}
	free(m->path);
	free(m);
}

const char *http_metrics_path(const struct http_metrics *m)
{
	return m->mapped ? m->path : NULL;
}

const struct http_metrics_file *http_metrics_data(const struct http_metrics *m)
{
	return m->f;
}

void http_metrics_record(struct http_metrics *m, unsigned route, unsigned status, uint64_t bytes,
                         uint64_t latency_us)
{
	struct http_metrics_route *rt;
	unsigned cls = status / 100, b = 0;

	if (!m)
		return;
	if (route >= m->f->route_count)
		route = m->f->route_count - 1;
	rt = &m->f->routes[route];
	if (cls < 1 || cls > 5)
		cls = 5;
	while (b < HTTP_METRICS_BUCKETS - 1 && latency_us > http_metrics_bucket_us[b])
		b++;
	__atomic_fetch_add(&rt->responses[cls - 1], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&rt->bytes, bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&rt->latency_sum_us, latency_us, __ATOMIC_RELAXED);
	__atomic_fetch_add(&rt->latency[b], 1, __ATOMIC_RELAXED);
}

void http_metrics_connection(struct http_metrics *m)
{
	if (m)
		__atomic_fetch_add(&m->f->connections, 1, __ATOMIC_RELAXED);
}

static bool has_nul(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int http_metrics_load(const char *path, struct http_metrics_file **ret)
{
	struct http_metrics_file *f = NULL;
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
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(*f) ||
	    (size_t)st.st_size > file_size(HTTP_METRICS_ROUTES_MAX))
		goto out;
	f = malloc((size_t)st.st_size);
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	n = pread(fd, f, (size_t)st.st_size, 0);
	if (n != st.st_size || memcmp(f->magic, HTTP_METRICS_MAGIC, sizeof(f->magic)) != 0 ||
	    f->version != HTTP_METRICS_VERSION || f->route_count == 0 ||
	    f->route_count > HTTP_METRICS_ROUTES_MAX || f->size != (uint64_t)st.st_size ||
	    f->size != file_size(f->route_count) || !has_nul(f->server, sizeof(f->server)))
		goto out;
	for (uint32_t i = 0; i < f->route_count; i++)
		if (!has_nul(f->routes[i].name, sizeof(f->routes[i].name)))
			goto out;
	*ret = f;
	f = NULL;
	r = 0;
out:
	free(f);
	close(fd);
	return r;
}

/* A label value: the names are ours, but a '"' or '\' must still not break the line. */
static void label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void labels(FILE *out, const struct http_metrics_file *f,
                   const struct http_metrics_route *rt)
{
	fputs("{server=\"", out);
	label(out, f->server);
	if (rt) {
		fputs("\",route=\"", out);
		label(out, rt->name);
	}
	fputc('"', out);
}

int http_metrics_prometheus(const struct http_metrics_file *const *files, size_t n, FILE *out)
{
	fputs("# HELP mf_http_responses_total HTTP responses by route and status class.\n"
	      "# TYPE mf_http_responses_total counter\n",
	      out);
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < files[i]->route_count; j++)
			for (int c = 0; c < 5; c++) {
				fputs("mf_http_responses_total", out);
				labels(out, files[i], &files[i]->routes[j]);
				fprintf(out, ",code=\"%dxx\"} %" PRIu64 "\n", c + 1,
				        files[i]->routes[j].responses[c]);
			}
	fputs("# HELP mf_http_response_bytes_total Response body bytes by route.\n"
	      "# TYPE mf_http_response_bytes_total counter\n",
	      out);
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < files[i]->route_count; j++) {
			fputs("mf_http_response_bytes_total", out);
			labels(out, files[i], &files[i]->routes[j]);
			fprintf(out, "} %" PRIu64 "\n", files[i]->routes[j].bytes);
		}
	fputs("# HELP mf_http_request_duration_seconds Time from request to response queued.\n"
	      "# TYPE mf_http_request_duration_seconds histogram\n",
	      out);
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < files[i]->route_count; j++) {
			const struct http_metrics_route *rt = &files[i]->routes[j];
			uint64_t cum = 0;

			for (int b = 0; b < HTTP_METRICS_BUCKETS; b++) {
				cum += rt->latency[b];
				fputs("mf_http_request_duration_seconds_bucket", out);
				labels(out, files[i], rt);
				if (b == HTTP_METRICS_BUCKETS - 1)
					fputs(",le=\"+Inf\"", out);
				else
					fprintf(out, ",le=\"%g\"",
					        (double)http_metrics_bucket_us[b] / 1e6);
				fprintf(out, "} %" PRIu64 "\n", cum);
			}
			fputs("mf_http_request_duration_seconds_sum", out);
			labels(out, files[i], rt);
			fprintf(out, "} %.6f\n", (double)rt->latency_sum_us / 1e6);
			fputs("mf_http_request_duration_seconds_count", out);
			labels(out, files[i], rt);
			fprintf(out, "} %" PRIu64 "\n", cum);
		}
	fputs("# HELP mf_http_connections_total Connections accepted.\n"
	      "# TYPE mf_http_connections_total counter\n",
	      out);
	for (size_t i = 0; i < n; i++) {
		fputs("mf_http_connections_total", out);
		labels(out, files[i], NULL);
		fprintf(out, "} %" PRIu64 "\n", files[i]->connections);
	}
	return ferror(out) ? -EIO : 0;
}
