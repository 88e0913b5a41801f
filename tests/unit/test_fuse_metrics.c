/*
 * Unit tests of lib/fuse_metrics (and lib/metrics_file beneath it): the counters
 * file fused keeps and apid reads.  Created in runtime_dir/metrics, counts and
 * latency buckets as another process reads them, the Prometheus text (checked
 * line by line), files that are not such a file refused (another layout's, cut
 * short or too long, a wrong version, a name without its NUL, a symlink),
 * counters kept in memory when the file cannot be had, and a file replaced by
 * another instance left alone at the end.  Table-driven where there is a table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fuse_metrics.h"
#include "http_metrics.h"

static const char *const ops[] = {"lookup", "read", "mkdir"};

static char dir[64], path[160];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/mf-test-fmetrics.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/" METRICS_FILE_DIR "/fused.metrics", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *prometheus(const struct fuse_metrics_file *f)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(fuse_metrics_prometheus(f, out), 0);
	assert_int_equal(fclose(out), 0);
	return text;
}

static void test_counts(void **state)
{
	static const struct {
		unsigned op;
		bool ok;
		uint64_t ns;
	} record[] = {
	    {0, true, 5000},       /* <= 10 µs */
	    {0, true, 10000},      /* <= 10 µs: a bound is inclusive */
	    {0, false, 30000},     /* <= 50 µs */
	    {1, true, 400000},     /* <= 500 µs */
	    {1, true, 5000000000}, /* +Inf */
	    {2, false, 1000},      /* EROFS */
	    {7, true, 1000},       /* no such operation: not counted */
	};
	static const struct {
		const char *line;
	} want[] = {
	    {"# TYPE mf_fuse_operations_total counter\n"},
	    {"mf_fuse_metrics_available 1\n"},
	    {"mf_fuse_operations_total{op=\"lookup\",result=\"ok\"} 2\n"},
	    {"mf_fuse_operations_total{op=\"lookup\",result=\"error\"} 1\n"},
	    {"mf_fuse_operations_total{op=\"read\",result=\"ok\"} 2\n"},
	    {"mf_fuse_operations_total{op=\"mkdir\",result=\"error\"} 1\n"},
	    {"# TYPE mf_fuse_operation_duration_seconds histogram\n"},
	    {"mf_fuse_operation_duration_seconds_bucket{op=\"lookup\",le=\"0.00001\"} 2\n"},
	    {"mf_fuse_operation_duration_seconds_bucket{op=\"lookup\",le=\"0.000025\"} 2\n"},
	    {"mf_fuse_operation_duration_seconds_bucket{op=\"lookup\",le=\"0.00005\"} 3\n"},
	    {"mf_fuse_operation_duration_seconds_bucket{op=\"read\",le=\"0.0005\"} 1\n"},
	    {"mf_fuse_operation_duration_seconds_bucket{op=\"read\",le=\"1\"} 1\n"},
	    {"mf_fuse_operation_duration_seconds_bucket{op=\"read\",le=\"+Inf\"} 2\n"},
	    {"mf_fuse_operation_duration_seconds_sum{op=\"lookup\"} 0.000045000\n"},
	    {"mf_fuse_operation_duration_seconds_count{op=\"lookup\"} 3\n"},
	    {"mf_fuse_operation_duration_seconds_count{op=\"mkdir\"} 1\n"},
	};
	struct fuse_metrics_file *f = NULL;
	struct fuse_metrics *m;
	int err = 1, failures = 0;
	char *text;

	assert_int_equal(fuse_metrics_new(dir, ops, 3, &m, &err), 0);
	assert_int_equal(err, 0);
	assert_string_equal(fuse_metrics_path(m), path); /* metrics/ made when missing */
	for (size_t i = 0; i < sizeof(record) / sizeof(record[0]); i++)
		fuse_metrics_record(m, record[i].op, record[i].ok, record[i].ns);
	fuse_metrics_record(NULL, 0, true, 1); /* no counters: nothing */

	/* What another process (apid) reads. */
	assert_int_equal(fuse_metrics_load(path, &f), 0);
	assert_string_equal(f->head.name, "fused");
	assert_int_equal(f->head.count, 3);
	assert_int_equal(f->head.pid, getpid());
	assert_string_equal(f->ops[1].name, "read");
	assert_int_equal(f->ops[0].ok, 2);
	assert_int_equal(f->ops[0].errors, 1);
	assert_int_equal(f->ops[0].latency[0], 2);
	assert_int_equal(f->ops[1].latency[FUSE_METRICS_BUCKETS - 1], 1);
	text = prometheus(f);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i].line)) {
			printf("expected the line %s", want[i].line);
			failures++;
		}
	if (failures)
		printf("in:\n%s", text);
	free(text);
	free(f);
	assert_int_equal(failures, 0);

	fuse_metrics_free(m);
	assert_int_equal(access(path, F_OK), -1); /* removed at the end */
}

static void test_unavailable(void **state)
{
	char *text = prometheus(NULL);

	if (!strstr(text, "mf_fuse_metrics_available 0\n") ||
	    !strstr(text, "# TYPE mf_fuse_operation_duration_seconds histogram\n") ||
	    strstr(text, "mf_fuse_operations_total{"))
		fail_msg("expected the families described and no counts, got:\n%s", text);
	free(text);
}

/* Write len bytes of img to path. */
static void write_image(const void *img, size_t len)
{
	FILE *out = fopen(path, "we");

	assert_non_null(out);
	assert_int_equal(fwrite(img, 1, len, out), len);
	assert_int_equal(fclose(out), 0);
}

static void test_refused(void **state)
{
	const char *routes[] = {"GET"};
	struct fuse_metrics_file *f = NULL, *img;
	struct http_metrics *hm;
	struct fuse_metrics *m;
	size_t size;
	char link[200], http_path[200];
	int err;

	/* A valid image to spoil, from a live file. */
	assert_int_equal(fuse_metrics_new(dir, ops, 3, &m, &err), 0);
	assert_int_equal(fuse_metrics_load(path, &img), 0);
	size = img->head.size;
	fuse_metrics_free(m);

	static const struct {
		const char *what;
		size_t offset, len; /* bytes set to value; len 0: the file cut short */
		char value;
	} cases[] = {
	    {"the magic", offsetof(struct metrics_head, magic) + 2, 1, 'X'},
	    {"the version", offsetof(struct metrics_head, version), 1, 9},
	    {"the count", offsetof(struct metrics_head, count), 1, 2},
	    {"the size field", offsetof(struct metrics_head, size) + 1, 1, 1},
	    {"the writer's name without its NUL", offsetof(struct metrics_head, name),
	     METRICS_FILE_NAME_MAX, 'x'},
	    {"an operation's name without its NUL",
	     offsetof(struct fuse_metrics_file, ops) + sizeof(struct fuse_metrics_op),
	     METRICS_FILE_NAME_MAX, 'x'},
	    {"cut short", 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = malloc(size);
		int r;

		assert_non_null(copy);
		memcpy(copy, img, size);
		memset(copy + cases[i].offset, cases[i].value, cases[i].len);
		write_image(copy, cases[i].len ? size : size - 1);
		free(copy);
		r = fuse_metrics_load(path, &f);
		if (r != -EBADMSG)
			fail_msg("%s: expected %d, got %d", cases[i].what, -EBADMSG, r);
	}
	/* Longer than its count says, and longer than any count allows. */
	{
		size_t big = sizeof(struct fuse_metrics_file) +
		             (FUSE_METRICS_OPS_MAX + 1) * sizeof(struct fuse_metrics_op);
		char *longer = calloc(1, big);

		assert_non_null(longer);
		memcpy(longer, img, size);
		write_image(longer, size + 1);
		assert_int_equal(fuse_metrics_load(path, &f), -EBADMSG);
		write_image(longer, big);
		assert_int_equal(fuse_metrics_load(path, &f), -EBADMSG);
		free(longer);
	}
	write_image(img, size);
	assert_int_equal(fuse_metrics_load(path, &f), 0); /* the unspoilt image loads */
	free(f);
	{
		struct http_metrics_file *hf = NULL;

		assert_int_equal(http_metrics_load(path, &hf), -EBADMSG); /* not HTTP counters */
	}
	free(img);

	/* A symlink to a valid file is not followed. */
	snprintf(link, sizeof(link), "%s/link.metrics", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(fuse_metrics_load(link, &f), -ELOOP);
	unlink(link);
	unlink(path);
	assert_int_equal(fuse_metrics_load(path, &f), -ENOENT);

	/* davd's HTTP counters are not fused's, nor the other way round. */
	assert_int_equal(http_metrics_new(dir, "davd", routes, 1, &hm, &err), 0);
	snprintf(http_path, sizeof(http_path), "%s/" METRICS_FILE_DIR "/davd.metrics", dir);
	assert_int_equal(fuse_metrics_load(http_path, &f), -EBADMSG);
	http_metrics_free(hm);
}

static void test_memory_and_replaced(void **state)
{
	const char *long_name[] = {"a name of exactly thirty-two byt"};
	struct fuse_metrics *m, *other;
	struct stat st;
	int err = 0;

	assert_int_equal(fuse_metrics_new(dir, ops, 0, &m, &err), -EINVAL);
	assert_int_equal(fuse_metrics_new(dir, ops, FUSE_METRICS_OPS_MAX + 1, &m, &err), -EINVAL);
	assert_int_equal(fuse_metrics_new(dir, long_name, 1, &m, &err), -EINVAL);

	/* No runtime directory: counters in memory, the caller told why. */
	assert_int_equal(fuse_metrics_new("/nonexistent/dir", ops, 3, &m, &err), 0);
	assert_int_equal(err, -ENOENT);
	assert_null(fuse_metrics_path(m));
	fuse_metrics_record(m, 1, true, 1);
	assert_int_equal(fuse_metrics_data(m)->ops[1].ok, 1);
	assert_string_equal(fuse_metrics_data(m)->ops[2].name, "mkdir");
	fuse_metrics_free(m);

	/* A second instance replaces the file; the first leaves it in place at its end. */
	assert_int_equal(fuse_metrics_new(dir, ops, 3, &m, &err), 0);
	assert_int_equal(fuse_metrics_new(dir, ops, 2, &other, &err), 0);
	fuse_metrics_free(m);
	assert_int_equal(stat(path, &st), 0);
	fuse_metrics_free(other);
	assert_int_equal(stat(path, &st), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_unavailable),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_memory_and_replaced),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
