/*
 * Unit tests of fused's invalidate_diff(): for pairs of trees (written with the
 * real writer, loaded through the generation store), exactly the names and
 * inodes that changed are reported, and nothing for an unchanged tree.
 * Table-driven; a failing case prints both the expected and the reported lists.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fused_testsnap.h"
#include "generation.h"
#include "invalidate.h"
#include "snapshot.h"

struct recorder {
	const struct generation *old, *new;
	char items[64][300];
	size_t count;
};

static void id_path(const struct recorder *rec, uint64_t id, char *buf, size_t len)
{
	const struct snap_node *n = NULL;

	if (id == SNAP_ERROR_FILE_ID) {
		snprintf(buf, len, "/ERROR.txt");
		return;
	}
	if (rec->new->snap)
		n = snapshot_lookup_id(rec->new->snap, id);
	if (n && snapshot_node_path(rec->new->snap, n, buf, len) >= 0)
		return;
	if (rec->old->snap)
		n = snapshot_lookup_id(rec->old->snap, id);
	if (n && snapshot_node_path(rec->old->snap, n, buf, len) >= 0)
		return;
	snprintf(buf, len, "?%llu", (unsigned long long)id);
}

static void rec_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct recorder *rec = ctx;
	char p[256];

	id_path(rec, parent, p, sizeof(p));
	if (rec->count < 64)
		snprintf(rec->items[rec->count++], 300, "E %s%s%.*s", p, strcmp(p, "/") ? "/" : "",
		         (int)len, name);
}

static void rec_inode(void *ctx, uint64_t id)
{
	struct recorder *rec = ctx;
	char p[256];

	id_path(rec, id, p, sizeof(p));
	if (rec->count < 64)
		snprintf(rec->items[rec->count++], 300, "I %s", p);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* "E /a/b,I /a" sorted, for comparison. */
static void joined(struct recorder *rec, char *out, size_t len)
{
	size_t n = 0;

	qsort(rec->items, rec->count, sizeof(rec->items[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < rec->count; i++)
		n += (size_t)snprintf(out + n, len > n ? len - n : 0, "%s%s", i ? "," : "",
		                      rec->items[i]);
}

#define MAXF 8
/* A file: path, size, mtime; FS adds a source. */
#define F(p, s, m)                  \
	{                           \
		p, s, m, NULL, NULL \
	}
#define FS(p, s, m, src)           \
	{                          \
		p, s, m, src, NULL \
	}

struct tcase {
	const char *what;
	struct tspec before[MAXF];
	size_t nbefore; /* 0 with before_none: no snapshot at all (the placeholder) */
	bool before_none;
	bool before_down; /* KV store unreachable in the first tree */
	struct tspec after[MAXF];
	size_t nafter;
	bool after_down;
	const char *want; /* sorted, comma separated */
};

static const struct tcase cases[] = {
    {"unchanged tree",
     {F("/Movies/A/a.mkv", 10, 5), F("/TV/S/e1.mkv", 20, 5)},
     2,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5), F("/TV/S/e1.mkv", 20, 5)},
     2,
     false,
     ""},
    {"file added to a directory",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5), F("/Movies/A/b.srt", 1, 5)},
     2,
     false,
     "E /Movies/A/b.srt,I /Movies/A"},
    {"file removed",
     {F("/Movies/A/a.mkv", 10, 5), F("/Movies/A/b.srt", 1, 5)},
     2,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     "E /Movies/A/b.srt,I /Movies/A"},
    {"file size changed",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     false,
     {F("/Movies/A/a.mkv", 11, 5)},
     1,
     false,
     "I /Movies/A/a.mkv"},
    {"file mtime changed",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 6)},
     1,
     false,
     "I /Movies/A/a.mkv"},
    {"file source changed",
     {FS("/Movies/A/a.mkv", 10, 5, "m1/a.mkv")},
     1,
     false,
     false,
     {FS("/Movies/A/a.mkv", 10, 5, "m2/a.mkv")},
     1,
     false,
     "I /Movies/A/a.mkv"},
    {"new directory: only its name in the parent",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5), F("/Movies/B/b.mkv", 1, 5), F("/Movies/B/c.mkv", 1, 5)},
     3,
     false,
     "E /Movies/B,I /Movies"},
    {"directory removed with its files",
     {F("/Movies/A/a.mkv", 10, 5), F("/Movies/B/b.mkv", 1, 5)},
     2,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     "E /Movies/B,I /Movies"},
    {"new top-level category",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5), F("/Anime/X/x.mkv", 1, 5)},
     2,
     false,
     "E /Anime,I /"},
    {"store goes down: ERROR.txt appears",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     false,
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     true,
     "E /ERROR.txt,I /,I /ERROR.txt"},
    {"store comes back: ERROR.txt goes",
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     true,
     {F("/Movies/A/a.mkv", 10, 5)},
     1,
     false,
     "E /ERROR.txt,I /,I /ERROR.txt"},
    {"first snapshot replaces the placeholder",
     {F(NULL, 0, 0)},
     0,
     true,
     false,
     {F("/Movies/A/a.mkv", 10, 5), F("/TV/S/e.mkv", 1, 5)},
     2,
     false,
     "E /ERROR.txt,E /Movies,E /TV,I /,I /ERROR.txt"},
};

static void test_diff_table(void **state)
{
	char dir[] = "/tmp/mf-test-inval.XXXXXX";

	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct snapshot_kv_state down = {.connected = false,
		                                 .error_since_ns = 1500000000,
		                                 .error = "connection refused",
		                                 .leader = "redis://127.0.0.1:1"};
		struct generation *old = NULL, *new = NULL, *g1, *g2;
		struct gen_store *st;
		struct recorder rec = {0};
		struct inval_sink sink = {rec_entry, rec_inode, &rec};
		char err[256], got[4096], path[300];
		int r;

		snprintf(path, sizeof(path), "%s/vfs.snapshot", dir);
		unlink(path);
		assert_int_equal(gen_store_new(dir, &st), 0);
		if (!c->before_none) {
			assert_int_equal(tsnap_write(dir, 1, c->before, c->nbefore,
			                             c->before_down ? &down : NULL),
			                 0);
			r = gen_store_reload(st, &old, &new, err, sizeof(err));
			if (r != GEN_RELOAD_SWITCHED)
				fail_msg("%s: first reload: expected switched, got %d (%s)",
				         c->what, r, err);
			generation_put(old);
			generation_put(new);
		}
		g1 = gen_store_get(st);
		/* A different file, so that the store sees a new one. */
		unlink(path);
		assert_int_equal(
		    tsnap_write(dir, 2, c->after, c->nafter, c->after_down ? &down : NULL), 0);
		r = gen_store_reload(st, &old, &new, err, sizeof(err));
		if (r != GEN_RELOAD_SWITCHED)
			fail_msg("%s: second reload: expected switched, got %d (%s)", c->what, r,
			         err);
		g2 = new;
		assert_ptr_equal(old, g1);
		rec.old = g1;
		rec.new = g2;
		invalidate_diff(g1, g2, &sink, NULL);
		joined(&rec, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: expected \"%s\", got \"%s\"", c->what, c->want, got);
		generation_put(old);
		generation_put(new);
		generation_put(g1);
		gen_store_free(st);
	}
	unlink(dir);
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_diff_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
