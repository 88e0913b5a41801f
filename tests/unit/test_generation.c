/*
 * Unit tests of fused's generation store and ERROR.txt text: what a reload does
 * with a missing, a valid, the same, a corrupt and a disconnected snapshot, that
 * references keep an old generation alive, and what ERROR.txt says in each case.
 * Table-driven where there is a table; each failure prints expected and got.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error_file.h"
#include "fused_testsnap.h"
#include "generation.h"
#include "snapshot.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/mf-test-gen.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/vfs.snapshot", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

static const struct tspec files[] = {
    {"/Movies/A (2001)/A.mkv", 100, 1000000000000000000LL, "m/a.mkv", "title=A;year=2001"},
    {"/TV/S/Season 01/S - S01E01.mkv", 200, 1000000000000000000LL, "t/e1.mkv", NULL},
};

static const char *result_name(int r)
{
	switch (r) {
	case GEN_RELOAD_UNCHANGED:
		return "unchanged";
	case GEN_RELOAD_SWITCHED:
		return "switched";
	case GEN_RELOAD_REFUSED:
		return "refused";
	default:
		return "error";
	}
}

static void expect_reload(struct gen_store *st, int want, const char *what, uint64_t want_gen)
{
	struct generation *old = NULL, *new = NULL, *cur;
	char err[256];
	int r;

	r = gen_store_reload(st, &old, &new, err, sizeof(err));
	if (r != want)
		fail_msg("%s: expected %s, got %s (%s)", what, result_name(want), result_name(r),
		         err);
	if (r == GEN_RELOAD_SWITCHED && (!old || !new || new->number != want_gen))
		fail_msg("%s: expected a switch to generation %llu", what,
		         (unsigned long long)want_gen);
	generation_put(old);
	generation_put(new);
	cur = gen_store_get(st);
	if (cur->number != want_gen)
		fail_msg("%s: expected generation %llu served, got %llu", what,
		         (unsigned long long)want_gen, (unsigned long long)cur->number);
	generation_put(cur);
}

static void corrupt(const char *p)
{
	int fd = open(p, O_WRONLY);
	char junk[8] = "garbage!";

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 200), (ssize_t)sizeof(junk));
	close(fd);
}

static void test_reload_sequence(void **state)
{
	struct gen_store *st;
	struct generation *g, *held;
	char tmp[160];

	assert_int_equal(gen_store_new(dir, &st), 0);
	assert_string_equal(gen_store_path(st), path);

	/* No file: the placeholder, with ERROR.txt. */
	expect_reload(st, GEN_RELOAD_UNCHANGED, "no snapshot yet", 0);
	g = gen_store_get(st);
	assert_null(g->snap);
	assert_non_null(g->error_text);
	if (!strstr(g->error_text, "no tree to show yet"))
		fail_msg("placeholder ERROR.txt: expected \"no tree to show yet\", got \"%s\"",
		         g->error_text);
	generation_put(g);

	/* A corrupt first file: refused, and the placeholder says why. */
	assert_int_equal(tsnap_write(dir, 1, files, 2, NULL), 0);
	corrupt(path);
	expect_reload(st, GEN_RELOAD_REFUSED, "corrupt first snapshot", 0);
	g = gen_store_get(st);
	if (!strstr(g->error_text, "could not be read"))
		fail_msg("ERROR.txt of a refused first file: expected \"could not be read\", "
		         "got \"%s\"",
		         g->error_text);
	generation_put(g);
	expect_reload(st, GEN_RELOAD_UNCHANGED, "the same corrupt file again", 0);

	/* A good one. */
	unlink(path);
	assert_int_equal(tsnap_write(dir, 5, files, 2, NULL), 0);
	expect_reload(st, GEN_RELOAD_SWITCHED, "first good snapshot", 5);
	g = gen_store_get(st);
	assert_null(g->error_text);
	held = g; /* a request in flight on generation 5 */
	expect_reload(st, GEN_RELOAD_UNCHANGED, "the same file", 5);

	/* A corrupt replacement (written beside and renamed, as kvwatch does). */
	snprintf(tmp, sizeof(tmp), "%s/new", dir);
	assert_int_equal(tsnap_write(dir, 6, files, 1, NULL), 0);
	assert_int_equal(rename(path, tmp), 0);
	corrupt(tmp);
	assert_int_equal(rename(tmp, path), 0);
	expect_reload(st, GEN_RELOAD_REFUSED, "corrupt replacement", 5);
	expect_reload(st, GEN_RELOAD_UNCHANGED, "corrupt replacement again", 5);

	/* A truncated one. */
	assert_int_equal(truncate(path, 100), 0);
	expect_reload(st, GEN_RELOAD_REFUSED, "truncated replacement", 5);

	/* Disconnected: served, with ERROR.txt. */
	{
		struct snapshot_kv_state down = {.connected = false,
		                                 .error_since_ns = 1700000000000000000LL,
		                                 .error = "connection refused",
		                                 .leader = "redis://10.0.0.1:6379"};

		unlink(path);
		assert_int_equal(tsnap_write(dir, 7, files, 2, &down), 0);
		expect_reload(st, GEN_RELOAD_SWITCHED, "disconnected snapshot", 7);
		g = gen_store_get(st);
		assert_non_null(g->error_text);
		assert_int_equal(g->error_len, strlen(g->error_text));
		assert_true(g->error_mtime_ns == 1700000000000000000LL);
		generation_put(g);
	}

	/* The held generation is intact although two others replaced it. */
	assert_non_null(held->snap);
	assert_int_equal(snapshot_header(held->snap)->files, 2);
	{
		const struct snap_node *n = NULL;

		assert_int_equal(snapshot_lookup_path(held->snap, "/Movies/A (2001)/A.mkv", &n), 0);
		assert_int_equal(n->size, 100);
	}
	generation_put(held);

	/* The file removed: the current generation stays. */
	unlink(path);
	expect_reload(st, GEN_RELOAD_UNCHANGED, "snapshot removed", 7);
	gen_store_free(st);
}

static void test_error_text(void **state)
{
	struct {
		const char *what;
		bool snapshot;
		bool connected;
		const char *reason;
		const char *want[4];
	} cases[] = {
	    {"healthy", true, true, NULL, {NULL}},
	    {"no snapshot",
	     false,
	     false,
	     NULL,
	     {"no tree to show yet", "No snapshot has been published", "What to check", NULL}},
	    {"refused snapshot",
	     false,
	     false,
	     "vfs.snapshot: body checksum mismatch",
	     {"could not be read: vfs.snapshot: body checksum mismatch", NULL}},
	    {"store down",
	     true,
	     false,
	     NULL,
	     {"cannot reach its metadata store", "Last error:         connection refused",
	      "Redis in use:       redis://10.0.0.1:6379", "The 2 files shown here"}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snapshot_kv_state kv = {.connected = cases[i].connected,
		                               .error_since_ns = 1700000000000000000LL,
		                               .error = "connection refused",
		                               .leader = "redis://10.0.0.1:6379"};
		struct snapshot *s = NULL;
		char err[256], *text = NULL;
		size_t len = 0;
		int64_t mtime = 0;

		if (cases[i].snapshot) {
			unlink(path);
			assert_int_equal(tsnap_write(dir, 3, files, 2, &kv), 0);
			assert_int_equal(snapshot_open(path, &s, err, sizeof(err)), 0);
		}
		assert_int_equal(
		    error_file_render(s, path, cases[i].reason, 42, &text, &len, &mtime), 0);
		if (!cases[i].want[0]) {
			if (text)
				fail_msg("%s: expected no ERROR.txt, got \"%s\"", cases[i].what,
				         text);
		} else {
			if (!text)
				fail_msg("%s: expected an ERROR.txt, got none", cases[i].what);
			assert_int_equal(len, strlen(text));
			for (int k = 0; k < 4 && cases[i].want[k]; k++)
				if (!strstr(text, cases[i].want[k]))
					fail_msg("%s: expected \"%s\" in \"%s\"", cases[i].what,
					         cases[i].want[k], text);
			if (!cases[i].snapshot && mtime != 42)
				fail_msg("%s: expected mtime 42, got %lld", cases[i].what,
				         (long long)mtime);
		}
		free(text);
		snapshot_free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reload_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_text, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
