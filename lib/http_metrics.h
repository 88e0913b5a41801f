/*
 * http_metrics: per-route request counters and latency histograms of an HTTP
 * worker, kept where apid can read them for /metrics.
 *
 * Each server (davd, apid) owns one small file,
 * runtime_dir/metrics/<server>.metrics (lib/metrics_file.c, which fused's
 * operation counters use too), mapped shared: it creates it at start
 * (written under a temporary name, then renamed into place), adds to its
 * counters with relaxed atomic additions on the request path (no lock, no
 * system call), and removes it when it stops.  The metrics/ subdirectory
 * belongs to the readers' user (the supervisor creates it so, while
 * runtime_dir itself stays the writer's); a server run alone creates it when
 * missing.  apid reads every such file (http_metrics_load) and prints them in
 * the Prometheus text format (http_metrics_prometheus).  The layout is
 * fixed-size, native-endian (the file never leaves the machine), described
 * below and in docs/http.md; a reader checks magic, version and size before
 * use.  When the file cannot be created the counters live in process memory
 * only.
 */
#ifndef MF_HTTP_METRICS_H
#define MF_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HTTP_METRICS_MAGIC      "MFHTTPM\n"
#define HTTP_METRICS_VERSION    1
#define HTTP_METRICS_ROUTES_MAX 32
#define HTTP_METRICS_NAME_MAX   32         /* bytes of a route or server name, with the NUL */
#define HTTP_METRICS_BUCKETS    12         /* latency buckets, the last one +Inf */
#define HTTP_METRICS_SUFFIX     ".metrics" /* METRICS_FILE_SUFFIX (metrics_file.h) */
#define HTTP_METRICS_DIR        "metrics"  /* beneath runtime_dir: METRICS_FILE_DIR */

/* Upper bounds of the latency buckets in microseconds (the last is +Inf). */
extern const uint64_t http_metrics_bucket_us[HTTP_METRICS_BUCKETS];

/* Responses are counted per status class: 1xx .. 5xx. */
struct http_metrics_route {
	char name[HTTP_METRICS_NAME_MAX]; /* "GET", "PROPFIND", "/api/fuse/stats" */
	uint64_t responses[5];            /* [0] 1xx ... [4] 5xx */
	uint64_t bytes;                   /* response body bytes announced */
	uint64_t latency_sum_us;
	uint64_t latency[HTTP_METRICS_BUCKETS]; /* not cumulative: one bucket per request */
};

/* Its head is a struct metrics_head (metrics_file.h), field for field. */
struct http_metrics_file {
	char magic[8];
	uint32_t version;
	uint32_t route_count;
	uint64_t size; /* of the whole file */
	int64_t pid;
	int64_t start_ns; /* CLOCK_REALTIME when the server started */
	char server[HTTP_METRICS_NAME_MAX];
	uint64_t connections; /* accepted since start */
	uint64_t reserved[7];
	struct http_metrics_route routes[];
};

struct http_metrics;

/*
 * Counters for server ("davd") with count routes named routes[i] (at most
 * HTTP_METRICS_ROUTES_MAX, names truncated to fit).  Creates
 * runtime_dir/HTTP_METRICS_DIR (0755, when missing) and in it <server>.metrics;
 * when that fails, returns -errno in *ret_file_err (may be NULL) and keeps the
 * counters in memory, so the caller only warns.  Returns 0 or -ENOMEM /
 * -EINVAL.  Owner: the caller; http_metrics_free() removes the file.
 */
int http_metrics_new(const char *runtime_dir, const char *server, const char *const *routes,
                     unsigned count, struct http_metrics **ret, int *ret_file_err);
void http_metrics_free(struct http_metrics *m);

/* The file's path, NULL when the counters are in memory only. */
const char *http_metrics_path(const struct http_metrics *m);
/* The live counters (for tests and for a server that exports its own). */
const struct http_metrics_file *http_metrics_data(const struct http_metrics *m);

/* Count one response (route >= count is counted as the last route). Thread-safe. */
void http_metrics_record(struct http_metrics *m, unsigned route, unsigned status, uint64_t bytes,
                         uint64_t latency_us);
void http_metrics_connection(struct http_metrics *m);

/*
 * Read and check a metrics file (magic, version, size, route count, NUL-ended
 * names) into a malloc'd copy the caller frees.  Returns 0, -ENOENT, -EBADMSG
 * for a file that is not one, -ENOMEM.
 */
int http_metrics_load(const char *path, struct http_metrics_file **ret);

/*
 * Print files[0..n) in the Prometheus text format, one HELP/TYPE per family:
 *   mf_http_responses_total{server,route,code="2xx"}
 *   mf_http_response_bytes_total{server,route}
 *   mf_http_request_duration_seconds_bucket{server,route,le} (+ _sum, _count)
 *   mf_http_connections_total{server}
 * Returns 0 or -EIO when out failed.
 */
int http_metrics_prometheus(const struct http_metrics_file *const *files, size_t n, FILE *out);

#endif
