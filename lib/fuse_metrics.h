/*
 * fuse_metrics: fused's per-operation counters (lookup, getattr, read, ...):
 * requests answered, by result, and a latency histogram, kept where apid can
 * read them for /metrics.
 *
 * The counters live in runtime_dir/metrics/fused.metrics (metrics_file.c: the
 * same shared-mapped file davd and apid keep their HTTP counters in, with a
 * layout of its own).  fused adds to them with relaxed atomic additions in the
 * thread that answered the request: no lock, no system call.  apid reads the
 * file (fuse_metrics_load) and prints it in the Prometheus text format
 * (fuse_metrics_prometheus).  The layout, version 1, native byte order:
 *
 *   struct fuse_metrics_file: a struct metrics_head (magic "MFFUSEM\n", count =
 *   operations), 56 reserved bytes, then count struct fuse_metrics_op of 192
 *   bytes each (so that each operation's counters start a cache line).
 *
 * What an operation's result and latency are is fused's to say (fused/ops.c);
 * here they are numbers.
 */
#ifndef MF_FUSE_METRICS_H
#define MF_FUSE_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "metrics_file.h"

#define FUSE_METRICS_MAGIC   "MFFUSEM\n"
#define FUSE_METRICS_VERSION 1
#define FUSE_METRICS_OPS_MAX 40
#define FUSE_METRICS_BUCKETS 12      /* latency buckets, the last one +Inf */
#define FUSE_METRICS_NAME    "fused" /* the writer: runtime_dir/metrics/fused.metrics */

/* Upper bounds of the latency buckets in nanoseconds (the last is +Inf). */
extern const uint64_t fuse_metrics_bucket_ns[FUSE_METRICS_BUCKETS];

struct fuse_metrics_op {
	char name[METRICS_FILE_NAME_MAX]; /* "lookup", "read" */
	uint64_t ok;
	uint64_t errors; /* answered with an errno */
	uint64_t latency_sum_ns;
	uint64_t latency[FUSE_METRICS_BUCKETS]; /* not cumulative: one bucket per request */
	uint64_t reserved[5];
};

struct fuse_metrics_file {
	struct metrics_head head;
	uint64_t reserved[7];
	struct fuse_metrics_op ops[];
};

struct fuse_metrics;

/*
 * Counters for count operations named ops[i] (1..FUSE_METRICS_OPS_MAX, names
 * shorter than METRICS_FILE_NAME_MAX) in runtime_dir/metrics/fused.metrics;
 * when the file cannot be had, *ret_file_err (may be NULL) gets the -errno and
 * the counters live in memory.  Returns 0, -EINVAL or -ENOMEM.  Owner: the
 * caller; fuse_metrics_free() removes the file.
 */
int fuse_metrics_new(const char *runtime_dir, const char *const *ops, unsigned count,
                     struct fuse_metrics **ret, int *ret_file_err);
void fuse_metrics_free(struct fuse_metrics *m);

/* The file's path, NULL when the counters are in memory only. */
const char *fuse_metrics_path(const struct fuse_metrics *m);
/* The live counters. */
const struct fuse_metrics_file *fuse_metrics_data(const struct fuse_metrics *m);

/* Count one answered request of operation op (< count; m may be NULL). Thread-safe. */
void fuse_metrics_record(struct fuse_metrics *m, unsigned op, bool ok, uint64_t latency_ns);

/*
 * Read and check a counters file (the head, NUL-ended operation names) into a
 * malloc'd copy the caller frees.  Returns 0, -ENOENT, -EBADMSG for a file
 * that is not one, -ENOMEM.
 */
int fuse_metrics_load(const char *path, struct fuse_metrics_file **ret);

/*
 * Print f (NULL: fused's counters could not be read; the families are still
 * described) in the Prometheus text format:
 *   mf_fuse_metrics_available                        1 or 0
 *   mf_fuse_start_timestamp_seconds                  when fused started
 *   mf_fuse_operations_total{op,result="ok"|"error"}
 *   mf_fuse_operation_duration_seconds_bucket{op,le} (+ _sum, _count)
 * Returns 0 or -EIO when out failed.
 */
int fuse_metrics_prometheus(const struct fuse_metrics_file *f, FILE *out);

#endif
