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
#include <sys/stat.h>
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

/*
 * The served file changed in place under a loaded generation, as `truncate -s
 * 4096`, `cp other.snapshot vfs.snapshot` or a stray write would: every node of
 * the generation still reads as it was validated (no SIGBUS, no foreign bytes),
 * and the next reload refuses a damaged file or switches to a valid one.
 */
enum damage { DAMAGE_TRUNCATE_4096, DAMAGE_TRUNCATE_0, DAMAGE_OVERWRITE, DAMAGE_CP_OVER };

#define DAMAGE_FILES 300

/* cp: the existing file opened with O_TRUNC and another snapshot written into it. */
static void cp_over(const char *to)
{
	char odir[64], opath[128], buf[65536];
	ssize_t n;
	int in, out;

	snprintf(odir, sizeof(odir), "/tmp/mf-test-gen-other.XXXXXX");
	assert_non_null(mkdtemp(odir));
	assert_int_equal(tsnap_write(odir, 9, files, 1, NULL), 0);
	snprintf(opath, sizeof(opath), "%s/vfs.snapshot", odir);
	in = open(opath, O_RDONLY);
	out = open(to, O_WRONLY | O_TRUNC);
	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	unlink(opath);
	rmdir(odir);
}

static void damage_file(enum damage how, const char *p)
{
	static char junk[4096];
	struct stat sb;
	int fd;

	switch (how) {
	case DAMAGE_TRUNCATE_4096:
		assert_int_equal(truncate(p, 4096), 0);
		break;
	case DAMAGE_TRUNCATE_0:
		assert_int_equal(truncate(p, 0), 0);
		break;
	case DAMAGE_OVERWRITE:
		/* Everything after the first page, the file keeping its size. */
		memset(junk, 'x', sizeof(junk));
		fd = open(p, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(fstat(fd, &sb), 0);
		for (off_t o = 4096; o < sb.st_size; o += (off_t)sizeof(junk)) {
			size_t n = (size_t)(sb.st_size - o) < sizeof(junk)
			               ? (size_t)(sb.st_size - o)
			               : sizeof(junk);

			assert_int_equal(pwrite(fd, junk, n, o), (ssize_t)n);
		}
		close(fd);
		break;
	case DAMAGE_CP_OVER:
		cp_over(p);
		break;
	}
}

/* Every file of the table is there with its size, found by path and by id. */
static void expect_intact(const struct generation *g, const struct tspec *want, size_t n,
                          const char *what)
{
	const struct snap_node *node;

	if (g->number != 3)
		fail_msg("%s: expected generation 3, got %llu", what,
		         (unsigned long long)g->number);
	if (snapshot_header(g->snap)->files != n)
		fail_msg("%s: expected %zu files, got %llu", what, n,
		         (unsigned long long)snapshot_header(g->snap)->files);
	for (size_t i = 0; i < n; i++) {
		char back[256];
		int r = snapshot_lookup_path(g->snap, want[i].path, &node);

		if (r < 0)
			fail_msg("%s: \"%s\": expected found, got %d", what, want[i].path, r);
		if (node->size != want[i].size)
			fail_msg("%s: \"%s\": expected size %llu, got %llu", what, want[i].path,
			         (unsigned long long)want[i].size, (unsigned long long)node->size);
		if (snapshot_lookup_id(g->snap, node->id) != node)
			fail_msg("%s: \"%s\": expected found by its id", what, want[i].path);
		snapshot_node_path(g->snap, node, back, sizeof(back));
		if (strcmp(back, want[i].path) != 0)
			fail_msg("%s: expected path \"%s\", got \"%s\"", what, want[i].path, back);
	}
}

static void test_changed_in_place(void **state)
{
	static const struct {
		enum damage how;
		const char *what;
		int reload; /* what the next reload says */
		uint64_t served;
	} cases[] = {
	    {DAMAGE_TRUNCATE_4096, "truncate -s 4096", GEN_RELOAD_REFUSED, 3},
	    {DAMAGE_TRUNCATE_0, "truncate -s 0", GEN_RELOAD_REFUSED, 3},
	    {DAMAGE_OVERWRITE, "bytes overwritten in place", GEN_RELOAD_REFUSED, 3},
	    {DAMAGE_CP_OVER, "cp other.snapshot over it", GEN_RELOAD_SWITCHED, 9},
	};
	struct tspec *many = calloc(DAMAGE_FILES, sizeof(*many));
	char(*paths)[64] = calloc(DAMAGE_FILES, sizeof(*paths));

	assert_non_null(many);
	assert_non_null(paths);
	for (size_t i = 0; i < DAMAGE_FILES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/Movies/Film %03zu (2001)/Film %03zu.mkv", i,
		         i);
		many[i] = (struct tspec){paths[i], 1000 + i, 1000000000000000000LL, NULL, NULL};
	}
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct gen_store *st;
		struct generation *g;
		struct stat sb;

		unlink(path);
		assert_int_equal(tsnap_write(dir, 3, many, DAMAGE_FILES, NULL), 0);
		assert_int_equal(stat(path, &sb), 0);
		if (sb.st_size <= 8192)
			fail_msg("expected a snapshot over two pages, got %lld bytes",
			         (long long)sb.st_size);
		assert_int_equal(gen_store_new(dir, &st), 0);
		expect_reload(st, GEN_RELOAD_SWITCHED, cases[k].what, 3);
		g = gen_store_get(st);
		damage_file(cases[k].how, path);
		expect_intact(g, many, DAMAGE_FILES, cases[k].what);
		expect_reload(st, cases[k].reload, cases[k].what, cases[k].served);
		expect_intact(g, many, DAMAGE_FILES, cases[k].what);
		generation_put(g);
		gen_store_free(st);
	}
	free(paths);
	free(many);
}

/*
 * An older snapshot renamed into place is refused (the tree does not roll back),
 * once; a writer that restarted its numbering at 1 builds later and is taken.
 */
static void test_rollback(void **state)
{
	static const struct {
		uint64_t gen;
		int64_t built;
		int reload;
		uint64_t served;
		const char *what;
	} steps[] = {
	    {5, 5000, GEN_RELOAD_SWITCHED, 5, "generation 5"},
	    {4, 4000, GEN_RELOAD_REFUSED, 5, "generation 4 put back"},
	    {5, 5000, GEN_RELOAD_REFUSED, 5, "a copy of generation 5"},
	    {3, 5000, GEN_RELOAD_REFUSED, 5, "a lower generation built at the same time"},
	    {6, 4500, GEN_RELOAD_SWITCHED, 6, "a higher generation, clock stepped back"},
	    {1, 7000, GEN_RELOAD_SWITCHED, 1, "a restarted writer's first generation"},
	    {2, 7100, GEN_RELOAD_SWITCHED, 2, "and its second"},
	};
	struct gen_store *st;
	char tmp[160], err[256];

	snprintf(tmp, sizeof(tmp), "%s/stage", dir);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(gen_store_new(dir, &st), 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct generation *old = NULL, *new = NULL;
		char staged[192];
		int r;

		tsnap_build_ns = steps[i].built;
		assert_int_equal(tsnap_write(tmp, steps[i].gen, files, 2, NULL), 0);
		snprintf(staged, sizeof(staged), "%s/vfs.snapshot", tmp);
		assert_int_equal(rename(staged, path), 0);
		r = gen_store_reload(st, &old, &new, err, sizeof(err));
		if (r != steps[i].reload)
			fail_msg("%s: expected %s, got %s (%s)", steps[i].what,
			         result_name(steps[i].reload), result_name(r), err);
		if (r == GEN_RELOAD_REFUSED && !strstr(err, "not newer"))
			fail_msg("%s: expected a reason saying \"not newer\", got \"%s\"",
			         steps[i].what, err);
		generation_put(old);
		generation_put(new);
		expect_reload(st, GEN_RELOAD_UNCHANGED, steps[i].what, steps[i].served);
	}
	tsnap_build_ns = 2000000000;
	gen_store_free(st);
	rmdir(tmp);
}

static void test_error_text(void **state)
{
	struct {
		const char *what;
		bool snapshot;
		bool connected;
		bool resyncing; /* a warm start's saved tree, no error recorded */
		const char *reason;
		const char *want[4];
	} cases[] = {
	    {"healthy", true, true, false, NULL, {NULL}},
	    {"no snapshot",
	     false,
	     false,
	     false,
	     NULL,
	     {"no tree to show yet", "No snapshot has been published", "What to check", NULL}},
	    {"refused snapshot",
	     false,
	     false,
	     false,
	     "vfs.snapshot: body checksum mismatch",
	     {"could not be read: vfs.snapshot: body checksum mismatch", NULL}},
	    {"store down",
	     true,
	     false,
	     false,
	     NULL,
	     {"cannot reach its metadata store", "Last error:         connection refused",
	      "Redis in use:       redis://10.0.0.1:6379", "The 2 files shown here"}},
	    {"warm start",
	     true,
	     false,
	     true,
	     NULL,
	     {"has just started and is loading the library",
	      "The 2 files shown here are the tree saved at its last run", "What to check", NULL}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snapshot_kv_state kv = {
		    .connected = cases[i].connected,
		    .resyncing = cases[i].resyncing,
		    .error_since_ns = cases[i].resyncing ? 0 : 1700000000000000000LL,
		    .error = cases[i].resyncing ? "" : "connection refused",
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
	    cmocka_unit_test_setup_teardown(test_changed_in_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
