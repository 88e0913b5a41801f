/*
 * Unit tests of lib/source: source_open(), source_size() and source_measure() on a real volume in
 * a private temporary directory: regular files of several sizes, a missing file,
 * a directory, a FIFO, symlinks inside and out of the volume, unsafe paths, and
 * a volume that is not there.  Table-driven; each failing case prints its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "source.h"

static char root[64]; /* the temporary directory; the volume is root/vol */

static void put(const char *rel, size_t bytes)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vol/%s", root, rel);
	f = fopen(path, "we");
	assert_non_null(f);
	for (size_t i = 0; i < bytes; i++)
		fputc((int)(i & 0xff), f);
	assert_int_equal(fclose(f), 0);
}

/* root/rel: "" names root itself. */
static const char *at(const char *rel)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	return path;
}

static int setup(void **state)
{
	char target[256];

	snprintf(root, sizeof(root), "/tmp/mf-test-source.XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_int_equal(mkdir(at("vol"), 0755), 0);
	assert_int_equal(mkdir(at("vol/media"), 0755), 0);
	put("media/empty.mkv", 0);
	put("media/small.mkv", 10);
	put("media/page.mkv", 4096);
	put("media/odd.mkv", 4567);
	assert_int_equal(mkfifo(at("vol/media/fifo"), 0644), 0);
	assert_int_equal(close(open(at("outside.mkv"), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
	assert_int_equal(symlink("odd.mkv", at("vol/media/inside-link.mkv")), 0);
	assert_int_equal(symlink("../../outside.mkv", at("vol/media/escape.mkv")), 0);
	snprintf(target, sizeof(target), "%s", at("vol/media/odd.mkv"));
	assert_int_equal(symlink(target, at("vol/media/absolute.mkv")), 0);
	put("media/locked.mkv", 77);
	assert_int_equal(chmod(at("vol/media/locked.mkv"), 0), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static struct source *volume(const char *sub)
{
	struct source *src;

	assert_int_equal(source_new(at(sub), &src), 0);
	return src;
}

/* The table both functions are checked against: one path, one outcome. */
static const struct {
	const char *rel;
	int want; /* 0 or -errno */
	uint64_t size;
} cases[] = {
    {"media/empty.mkv", 0, 0},
    {"media/small.mkv", 0, 10},
    {"media/page.mkv", 0, 4096},
    {"media/odd.mkv", 0, 4567},
    {"media/inside-link.mkv", 0, 4567}, /* a symlink within the volume is followed */
    {"media/missing.mkv", -ENOENT, 0},
    {"media/odd.mkv/below", -ENOENT, 0}, /* a file is not a directory */
    {"media", -EISDIR, 0},
    {"media/fifo", -EPERM, 0},         /* opened without hanging, then refused */
    {"media/escape.mkv", -EXDEV, 0},   /* leads out of the volume */
    {"media/absolute.mkv", -EXDEV, 0}, /* absolute: refused even pointing inside */
    {"../outside.mkv", -EINVAL, 0},    /* not a safe relative path: no look */
    {"/etc/passwd", -EINVAL, 0},
    {"media/./odd.mkv", -EINVAL, 0},
    {"", -EINVAL, 0},
};

static void test_source_size(void **state)
{
	struct source *src = volume("vol");
	int failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 0xdeadbeef;
		int r = source_size(src, cases[i].rel, &size);
		uint64_t want = cases[i].want < 0 ? 0xdeadbeef : cases[i].size;

		if (r != cases[i].want || size != want) {
			printf("case %zu \"%s\": expected %d and size %" PRIu64
			       ", got %d and %" PRIu64 "\n",
			       i, cases[i].rel, cases[i].want, want, r, size);
			failures++;
		}
	}
	source_free(src);
	assert_int_equal(failures, 0);
}

/* source_size() says what source_open() finds: the same outcome, the same size. */
static void test_source_open_agrees(void **state)
{
	struct source *src = volume("vol");
	int failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stat st = {0};
		int fd = source_open(src, cases[i].rel, &st);
		int r = fd < 0 ? fd : 0;

		if (fd >= 0)
			close(fd);
		if (r != cases[i].want || (r == 0 && (uint64_t)st.st_size != cases[i].size)) {
			printf("case %zu \"%s\": expected %d and size %" PRIu64
			       ", got %d and %lld\n",
			       i, cases[i].rel, cases[i].want, cases[i].size, r,
			       (long long)st.st_size);
			failures++;
		}
	}
	source_free(src);
	assert_int_equal(failures, 0);
}

/*
 * source_measure() comes to the outcome source_size() does, with the same size,
 * without opening anything for reading: a file nobody may read is measured too
 * (source_size() refuses it unless run as root).
 */
static void test_source_measure(void **state)
{
	struct source *src = volume("vol");
	int failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 0xdeadbeef;
		int r = source_measure(src, cases[i].rel, &size);
		uint64_t want = cases[i].want < 0 ? 0xdeadbeef : cases[i].size;

		if (r != cases[i].want || size != want) {
			printf("case %zu \"%s\": expected %d and size %" PRIu64
			       ", got %d and %" PRIu64 "\n",
			       i, cases[i].rel, cases[i].want, want, r, size);
			failures++;
		}
	}
	{
		uint64_t size = 0;
		int r = source_measure(src, "media/locked.mkv", &size);

		if (r != 0 || size != 77) {
			printf("media/locked.mkv (mode 0): expected 0 and size 77, got %d and "
			       "%" PRIu64 "\n",
			       r, size);
			failures++;
		}
	}
	source_free(src);
	assert_int_equal(failures, 0);
}

/* A volume that is not there: every file is missing, the size untouched. */
static void test_source_size_no_volume(void **state)
{
	struct source *src = volume("no-such-volume");
	uint64_t size = 7;
	int r;

	r = source_size(src, "media/odd.mkv", &size);
	if (r != -ENOENT || size != 7)
		printf("expected -ENOENT and size 7, got %d and %" PRIu64 "\n", r, size);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(size, 7);
	r = source_measure(src, "media/odd.mkv", &size);
	if (r != -ENOENT || size != 7)
		printf("measure: expected -ENOENT and size 7, got %d and %" PRIu64 "\n", r, size);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(size, 7);
	assert_int_equal(source_volume_status(src), -ENOENT);
	source_free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_size),
	    cmocka_unit_test(test_source_open_agrees),
	    cmocka_unit_test(test_source_measure),
	    cmocka_unit_test(test_source_size_no_volume),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
