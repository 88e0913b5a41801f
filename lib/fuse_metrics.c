/*
 * fuse_metrics: fused's operation counters (see fuse_metrics.h).
 */
#include "fuse_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* 10 µs .. 1 s: a lookup answered from memory takes microseconds, a 1 MiB read
 * spliced from a local file a few hundred, a read through WebDAV milliseconds. */
const uint64_t fuse_metrics_bucket_ns[FUSE_METRICS_BUCKETS] = {
    10000,   25000,   50000,    100000,    250000,     500000,
    1000000, 2500000, 10000000, 100000000, 1000000000, UINT64_MAX,
};

_Static_assert(sizeof(struct fuse_metrics_op) == 192, "an operation is three cache lines");
_Static_assert(offsetof(struct fuse_metrics_file, ops) == 128, "operations start at 128");

static const struct metrics_layout layout = {
    .magic = FUSE_METRICS_MAGIC,
    .version = FUSE_METRICS_VERSION,
    .head_size = sizeof(struct fuse_metrics_file),
    .item_size = sizeof(struct fuse_metrics_op),
    .items_max = FUSE_METRICS_OPS_MAX,
};

struct fuse_metrics {
	struct metrics_file *file;
	struct fuse_metrics_file *f; /* its data */
};

struct op_names {
	const char *const *names;
	unsigned count;
};

static void fill_ops(void *data, void *ctx)
{
	struct fuse_metrics_file *f = data;
	const struct op_names *on = ctx;

	for (unsigned i = 0; i < on->count; i++)
		memcpy(f->ops[i].name, on->names[i], strlen(on->names[i]) + 1);
}

int fuse_metrics_new(const char *runtime_dir, const char *const *ops, unsigned count,
                     struct fuse_metrics **ret, int *ret_file_err)
{
	struct op_names on = {ops, count};
	struct fuse_metrics *m;
	int r;

	if (count == 0 || count > FUSE_METRICS_OPS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < count; i++)
		if (!ops[i] || strlen(ops[i]) >= METRICS_FILE_NAME_MAX)
			return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = metrics_file_new(runtime_dir, FUSE_METRICS_NAME, &layout, count, fill_ops, &on,
	                     &m->file, ret_file_err);
	if (r < 0) {
		free(m);
		return r;
	}
	m->f = metrics_file_data(m->file);
	*ret = m;
	return 0;
}

void fuse_metrics_free(struct fuse_metrics *m)
{
	if (!m)
		return;
	metrics_file_free(m->file);
	free(m);
}

const char *fuse_metrics_path(const struct fuse_metrics *m)
{
	return metrics_file_path(m->file);
}

const struct fuse_metrics_file *fuse_metrics_data(const struct fuse_metrics *m)
{
	return m->f;
}

void fuse_metrics_record(struct fuse_metrics *m, unsigned op, bool ok, uint64_t latency_ns)
{
	struct fuse_metrics_op *o;
	unsigned b = 0;

	if (!m || op >= m->f->head.count)
		return;
	o = &m->f->ops[op];
	while (b < FUSE_METRICS_BUCKETS - 1 && latency_ns > fuse_metrics_bucket_ns[b])
		b++;
	__atomic_fetch_add(ok ? &o->ok : &o->errors, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&o->latency_sum_ns, latency_ns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&o->latency[b], 1, __ATOMIC_RELAXED);
}

int fuse_metrics_load(const char *path, struct fuse_metrics_file **ret)
{
	struct fuse_metrics_file *f;
	int r;

	r = metrics_file_load(path, &layout, (void **)&f);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < f->head.count; i++)
		if (!metrics_name_is_terminated(f->ops[i].name, sizeof(f->ops[i].name))) {
			free(f);
			return -EBADMSG;
		}
	*ret = f;
	return 0;
}

/* An operation name as a label value: '"', '\' and newlines escaped. */
static void put_op(FILE *out, const char *metric, const char *name)
{
	fprintf(out, "%s{op=\"", metric);
	for (; *name; name++) {
		if (*name == '\n')
			fputs("\\n", out);
		else if (*name == '"' || *name == '\\')
			fprintf(out, "\\%c", *name);
		else
			fputc(*name, out);
	}
	fputc('"', out);
}

/* A bucket's bound in seconds, without an exponent: 10000 ns -> "0.00001". */
static void put_seconds(FILE *out, uint64_t ns)
{
	char s[32];
	size_t n;

	n = (size_t)snprintf(s, sizeof(s), "%" PRIu64 ".%09" PRIu64, ns / 1000000000,
	                     ns % 1000000000);
	while (n > 0 && s[n - 1] == '0')
		s[--n] = '\0';
	if (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	fputs(s, out);
}

int fuse_metrics_prometheus(const struct fuse_metrics_file *f, FILE *out)
{
	uint32_t count = f ? f->head.count : 0;

	fputs("# HELP mf_fuse_metrics_available Whether fused's operation counters could be "
	      "read.\n"
	      "# TYPE mf_fuse_metrics_available gauge\n",
	      out);
	fprintf(out, "mf_fuse_metrics_available %d\n", f != NULL);
	fputs("# HELP mf_fuse_start_timestamp_seconds When the fused that keeps the counters "
	      "started.\n"
	      "# TYPE mf_fuse_start_timestamp_seconds gauge\n",
	      out);
	if (f)
		fprintf(out, "mf_fuse_start_timestamp_seconds %.3f\n",
		        (double)f->head.start_ns / 1e9);
	fputs("# HELP mf_fuse_operations_total FUSE requests fused answered, by operation and "
	      "result (error: an errno).\n"
	      "# TYPE mf_fuse_operations_total counter\n",
	      out);
	for (uint32_t i = 0; i < count; i++) {
		put_op(out, "mf_fuse_operations_total", f->ops[i].name);
		fprintf(out, ",result=\"ok\"} %" PRIu64 "\n", f->ops[i].ok);
		put_op(out, "mf_fuse_operations_total", f->ops[i].name);
		fprintf(out, ",result=\"error\"} %" PRIu64 "\n", f->ops[i].errors);
	}
	fputs("# HELP mf_fuse_operation_duration_seconds Time fused took to answer a FUSE "
	      "request.\n"
	      "# TYPE mf_fuse_operation_duration_seconds histogram\n",
	      out);
	for (uint32_t i = 0; i < count; i++) {
		const struct fuse_metrics_op *o = &f->ops[i];
		uint64_t cum = 0;

		for (int b = 0; b < FUSE_METRICS_BUCKETS; b++) {
			cum += o->latency[b];
			put_op(out, "mf_fuse_operation_duration_seconds_bucket", o->name);
			fputs(",le=\"", out);
			if (b == FUSE_METRICS_BUCKETS - 1)
				fputs("+Inf", out);
			else
				put_seconds(out, fuse_metrics_bucket_ns[b]);
			fprintf(out, "\"} %" PRIu64 "\n", cum);
		}
		put_op(out, "mf_fuse_operation_duration_seconds_sum", o->name);
		fprintf(out, "} %.9f\n", (double)o->latency_sum_ns / 1e9);
		put_op(out, "mf_fuse_operation_duration_seconds_count", o->name);
		fprintf(out, "} %" PRIu64 "\n", cum);
	}
	return ferror(out) ? -EIO : 0;
}
