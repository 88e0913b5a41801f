/*
 * Unit tests of lib/source: source_open(), source_size() and source_measure() on a real volume in
 * a private temporary directory: regular files of several sizes, a missing file,
 * a directory, a FIFO, symlinks inside and out of the volume, unsafe paths, and
 * a volume that is not there, and a volume replaced under a running reader
 * (noticed within SOURCE_RECHECK_MS, or at once after source_recheck()); the
 * descriptors source_get() keeps: shared, fresh sizes, replaced files within
 * and past their time, misses not kept, the sweep, more files than slots.
 * Table-driven; each failing case prints its path.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "source.h"

static char root[64]; /* the temporary directory; the volume is root/vol */

/* root/dir/rel with bytes bytes. */
static void put_in(const char *dir, const char *rel, size_t bytes)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, rel);
	f = fopen(path, "we");
	assert_non_null(f);
	for (size_t i = 0; i < bytes; i++)
		fputc((int)(i & 0xff), f);
	assert_int_equal(fclose(f), 0);
}

static void put(const char *rel, size_t bytes)
{
	put_in("vol", rel, bytes);
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

/* The cases through a size function (source_size, source_measure): its failures. */
static int check_cases(struct source *src,
                       int (*size_of)(struct source *, const char *, uint64_t *))
{
	int failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 0xdeadbeef;
		int r = size_of(src, cases[i].rel, &size);
		uint64_t want = cases[i].want < 0 ? 0xdeadbeef : cases[i].size;

		if (r != cases[i].want || size != want) {
			printf("case %zu \"%s\": expected %d and size %" PRIu64
			       ", got %d and %" PRIu64 "\n",
			       i, cases[i].rel, cases[i].want, want, r, size);
			failures++;
		}
	}
	return failures;
}

static void test_source_size(void **state)
{
	struct source *src = volume("vol");
	int failures = check_cases(src, source_size);

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
	int failures = check_cases(src, source_measure);

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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The size of "a.mkv" as src opens it now, or -errno. */
static long long size_of_a(struct source *src)
{
	struct stat st;
	int fd = source_open(src, "a.mkv", &st);

	if (fd < 0)
		return fd;
	close(fd);
	return (long long)st.st_size;
}

/* Move root/swap aside, to root/swap.round. */
static void move_swap_aside(int round)
{
	char from[256], to[256];

	snprintf(from, sizeof(from), "%s/swap", root);
	snprintf(to, sizeof(to), "%s/swap.%d", root, round);
	assert_int_equal(rename(from, to), 0);
}

/* Put a new directory at root/swap holding a.mkv of bytes bytes; the old one moves aside. */
static void replace_swap(size_t bytes, int round)
{
	move_swap_aside(round);
	assert_int_equal(mkdir(at("swap"), 0755), 0);
	put_in("swap", "a.mkv", bytes);
}

static void expect_size(struct source *src, long long want, const char *when)
{
	long long got = size_of_a(src);

	if (got != want)
		printf("%s: expected a.mkv of %lld bytes, got %lld\n", when, want, got);
	assert_int_equal(got, want);
}

/* The size and descriptor of rel through source_get(), put at once; -errno. */
static long long get_size(struct source *src, const char *rel, int *ret_fd)
{
	struct stat st;
	struct source_file *f = NULL;
	int fd = source_get(src, rel, &st, &f);

	source_put(f);
	if (ret_fd)
		*ret_fd = fd;
	return fd < 0 ? fd : (long long)st.st_size;
}

static void expect_get(struct source *src, const char *rel, long long want, const char *when)
{
	long long got = get_size(src, rel, NULL);

	if (got != want)
		printf("%s: expected \"%s\" of %lld bytes, got %lld\n", when, rel, want, got);
	assert_int_equal(got, want);
}

/*
 * A volume replaced while a reader runs (a directory put in place of the old
 * one, as a remount does): the open keeps the checked volume for at most
 * SOURCE_RECHECK_MS, then finds the new one; source_recheck() makes the next
 * open look at once; a volume gone is missed at once and found again at once.
 */
static void test_source_volume_replaced(void **state)
{
	struct source *src;
	int64_t t0;

	assert_int_equal(mkdir(at("swap"), 0755), 0);
	put_in("swap", "a.mkv", 10);
	src = volume("swap");
	expect_size(src, 10, "at start");

	/* Checked now; replaced; within the interval the open still uses the checked volume. */
	source_recheck(src);
	expect_size(src, 10, "after a re-check");
	t0 = now_ms();
	replace_swap(20, 1);
	if (now_ms() - t0 < SOURCE_RECHECK_MS / 2)
		expect_size(src, 10, "replaced, within the interval (no stat per open)");
	else
		printf("the machine took %lld ms to replace a directory: the cached case is not "
		       "checked\n",
		       (long long)(now_ms() - t0));
	/* Past the interval: the new volume, whatever the load. */
	usleep((SOURCE_RECHECK_MS + 50) * 1000);
	expect_size(src, 20, "replaced, past SOURCE_RECHECK_MS");

	/*
	 * A new generation asks for a check: the next open sees the replacement,
	 * also past a descriptor kept from the old volume.
	 */
	expect_get(src, "a.mkv", 20, "kept before the replacement");
	replace_swap(30, 2);
	source_recheck(src);
	expect_size(src, 30, "replaced, after source_recheck()");
	expect_get(src, "a.mkv", 30, "replaced, after source_recheck(), kept before");

	/* Gone: missed at the next check, and every open looks until it is back. */
	move_swap_aside(3);
	source_recheck(src);
	expect_size(src, -ENOENT, "volume gone");
	assert_int_equal(source_volume_status(src), -ENOENT);
	assert_int_equal(mkdir(at("swap"), 0755), 0);
	put_in("swap", "a.mkv", 40);
	expect_size(src, 40, "volume back");
	assert_int_equal(source_volume_status(src), 0);
	source_free(src);
}

/* source_get() finds what source_open() finds, for every case of the table. */
static void test_source_get_agrees(void **state)
{
	struct source *src = volume("vol");
	int failures = 0;

	for (int round = 0; round < 2; round++) { /* the second from kept descriptors */
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct stat st = {0};
			struct source_file *f = NULL;
			int fd = source_get(src, cases[i].rel, &st, &f);
			int r = fd < 0 ? fd : 0;

			if (r != cases[i].want ||
			    (r == 0 && (uint64_t)st.st_size != cases[i].size) ||
			    (r == 0 && source_file_fd(f) != fd) || (r < 0 && f)) {
				printf("round %d case %zu \"%s\": expected %d and size %" PRIu64
				       ", got %d and %lld\n",
				       round, i, cases[i].rel, cases[i].want, cases[i].size, r,
				       (long long)st.st_size);
				failures++;
			}
			source_put(f);
		}
	}
	source_free(src);
	assert_int_equal(failures, 0);
}

/*
 * Kept descriptors: one open serves the requests that follow within
 * SOURCE_RECHECK_MS, with a new fstat each (a file grown in place shows its
 * size); a file replaced is served as it was within that time and as it is
 * after it; failures are not kept; source_sweep() closes what expired.
 */
static void test_source_get_kept(void **state)
{
	struct source *src;
	struct stat st;
	struct source_file *f1 = NULL, *f2 = NULL;
	int fd1, fd2, fd;
	int64_t t0;

	assert_int_equal(mkdir(at("keep"), 0755), 0);
	put_in("keep", "k.mkv", 100);
	src = volume("keep");

	/* One descriptor for two requests at once, still open after both let go. */
	source_recheck(src);
	fd1 = source_get(src, "k.mkv", &st, &f1);
	fd2 = source_get(src, "k.mkv", &st, &f2);
	assert_true(fd1 >= 0);
	if (fd2 != fd1)
		printf("expected the kept descriptor %d, got %d\n", fd1, fd2);
	assert_int_equal(fd2, fd1);
	source_put(f1);
	source_put(f2);
	assert_int_not_equal(fcntl(fd1, F_GETFD), -1);

	/* Grown in place: the same descriptor, the new size. */
	{
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/keep/k.mkv", root);
		f = fopen(path, "ae");
		assert_non_null(f);
		fputs("0123456789", f);
		assert_int_equal(fclose(f), 0);
	}
	t0 = now_ms();
	assert_int_equal(get_size(src, "k.mkv", &fd), 110);
	if (now_ms() - t0 < SOURCE_RECHECK_MS / 2)
		assert_int_equal(fd, fd1);

	/* Replaced by a rename: the old file within the time, the new one after it. */
	put_in("keep", "k.new", 200);
	{
		char from[256], to[256];

		snprintf(from, sizeof(from), "%s/keep/k.new", root);
		snprintf(to, sizeof(to), "%s/keep/k.mkv", root);
		t0 = now_ms();
		assert_int_equal(rename(from, to), 0);
	}
	if (now_ms() - t0 < SOURCE_RECHECK_MS / 2)
		expect_get(src, "k.mkv", 110, "replaced, within SOURCE_RECHECK_MS");
	usleep((SOURCE_RECHECK_MS + 50) * 1000);
	expect_get(src, "k.mkv", 200, "replaced, past SOURCE_RECHECK_MS");

	/* A failure is not kept: the file is found as soon as it is there. */
	expect_get(src, "late.mkv", -ENOENT, "missing");
	put_in("keep", "late.mkv", 30);
	expect_get(src, "late.mkv", 30, "created after a miss");

	/* Expired descriptors are closed by the sweep. */
	assert_true(get_size(src, "k.mkv", &fd) == 200 && fd >= 0);
	usleep((SOURCE_RECHECK_MS + 50) * 1000);
	source_sweep(src);
	if (fcntl(fd, F_GETFD) != -1)
		printf("expected descriptor %d closed by the sweep, it is open\n", fd);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	source_free(src);
}

/* More files than slots, read in turns: every one its own bytes, every descriptor closed. */
static void test_source_get_many(void **state)
{
	enum { FILES = 150 };
	struct source *src;
	int failures = 0;

	assert_int_equal(mkdir(at("many"), 0755), 0);
	for (int i = 0; i < FILES; i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "f%03d", i);
		put_in("many", rel, (size_t)i);
	}
	src = volume("many");
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < FILES; i++) {
			char rel[32];
			long long got;

			snprintf(rel, sizeof(rel), "f%03d", i);
			got = get_size(src, rel, NULL);
			if (got != i) {
				printf("round %d \"%s\": expected %d bytes, got %lld\n", round, rel,
				       i, got);
				failures++;
			}
		}
	}
	source_free(src);
	assert_int_equal(failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_size),
	    cmocka_unit_test(test_source_open_agrees),
	    cmocka_unit_test(test_source_measure),
	    cmocka_unit_test(test_source_size_no_volume),
	    cmocka_unit_test(test_source_volume_replaced),
	    cmocka_unit_test(test_source_get_agrees),
	    cmocka_unit_test(test_source_get_kept),
	    cmocka_unit_test(test_source_get_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
