/*
 * http_metrics: the shared counters file (see http_metrics.h).
 */
#include "http_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_file.h"

const uint64_t http_metrics_bucket_us[HTTP_METRICS_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, UINT64_MAX,
};

/* The head of the layout is a struct metrics_head, field for field. */
_Static_assert(offsetof(struct http_metrics_file, route_count) ==
                   offsetof(struct metrics_head, count),
               "route_count is the head's count");
_Static_assert(offsetof(struct http_metrics_file, server) == offsetof(struct metrics_head, name),
               "server is the head's name");
_Static_assert(offsetof(struct http_metrics_file, connections) == sizeof(struct metrics_head),
               "the head ends where the HTTP fields start");

static const struct metrics_layout layout = {
    .magic = HTTP_METRICS_MAGIC,
    .version = HTTP_METRICS_VERSION,
    .head_size = sizeof(struct http_metrics_file),
    .item_size = sizeof(struct http_metrics_route),
    .items_max = HTTP_METRICS_ROUTES_MAX,
};

struct http_metrics {
	struct metrics_file *file;
	struct http_metrics_file *f; /* its data */
};

struct route_names {
	const char *const *names;
	unsigned count;
};

static void fill_routes(void *data, void *ctx)
{
	struct http_metrics_file *f = data;
	const struct route_names *rn = ctx;

	for (unsigned i = 0; i < rn->count; i++)
		snprintf(f->routes[i].name, sizeof(f->routes[i].name), "%s", rn->names[i]);
}

int http_metrics_new(const char *runtime_dir, const char *server, const char *const *routes,
                     unsigned count, struct http_metrics **ret, int *ret_file_err)
{
	struct route_names rn = {routes, count};
	struct http_metrics *m;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = metrics_file_new(runtime_dir, server, &layout, count, fill_routes, &rn, &m->file,
	                     ret_file_err);
	if (r < 0) {
		free(m);
		return r;
	}
	m->f = metrics_file_data(m->file);
	*ret = m;
	return 0;
}

void http_metrics_free(struct http_metrics *m)
{
	if (!m)
		return;
	metrics_file_free(m->file);
	free(m);
}

const char *http_metrics_path(const struct http_metrics *m)
{
	return metrics_file_path(m->file);
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

int http_metrics_load(const char *path, struct http_metrics_file **ret)
{
	struct http_metrics_file *f;
	int r;

	r = metrics_file_load(path, &layout, (void **)&f);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < f->route_count; i++)
		if (!metrics_name_is_terminated(f->routes[i].name, sizeof(f->routes[i].name))) {
			free(f);
			return -EBADMSG;
		}
	*ret = f;
	return 0;
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
