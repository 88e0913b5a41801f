/*
 * Unit tests of lib/snapshot_diff.c: for pairs of trees written with the real
 * writer and loaded through the real reader, the names, files and directories
 * reported (and why a directory is), nothing for an unchanged tree, a missing
 * side standing for an empty root, and a callback's non-zero value ending the
 * walk.  Table-driven; a failing case prints both lists.
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
#include "snapshot.h"
#include "snapshot_diff.h"

#define MAXF 6

struct recorder {
	const struct snapshot *old, *new;
	char out[1024];
	size_t len;
	int stop_after; /* > 0: the n-th callback returns 7 */
	int calls;
};

static int note(struct recorder *rec, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int note(struct recorder *rec, const char *fmt, ...)
{
	va_list ap;

	if (rec->len && rec->len < sizeof(rec->out) - 1)
		rec->out[rec->len++] = ',';
	va_start(ap, fmt);
	rec->len += (size_t)vsnprintf(rec->out + rec->len, sizeof(rec->out) - rec->len, fmt, ap);
	va_end(ap);
	return ++rec->calls == rec->stop_after ? 7 : 0;
}

static void node_path(const struct snapshot *s, const struct snap_node *n, char *buf, size_t len)
{
	if (snapshot_node_path(s, n, buf, len) < 0)
		snprintf(buf, len, "?");
}

static int on_entry(void *ctx, uint64_t dir_id, const char *name, size_t len)
{
	struct recorder *rec = ctx;
	const struct snapshot *s = rec->new ? rec->new : rec->old;
	char p[256];

	node_path(s, snapshot_lookup_id(s, dir_id), p, sizeof(p));
	return note(rec, "E %s%s%.*s", p, strcmp(p, "/") ? "/" : "", (int)len, name);
}

static int on_file(void *ctx, const struct snap_node *f)
{
	struct recorder *rec = ctx;
	char p[256];

	node_path(rec->new, f, p, sizeof(p));
	return note(rec, "F %s", p);
}

static int on_dir(void *ctx, const struct snap_node *d, unsigned how)
{
	struct recorder *rec = ctx;
	char p[256];

	node_path(rec->new, d, p, sizeof(p));
	return note(rec, "D %s %s%s%s%s", p, how & SNAPSHOT_DIR_NEW ? "n" : "",
	            how & SNAPSHOT_DIR_LISTING ? "l" : "", how & SNAPSHOT_DIR_FILES ? "f" : "",
	            how & SNAPSHOT_DIR_TIMES ? "t" : "");
}

struct tcase {
	const char *what;
	struct tspec before[MAXF];
	int nbefore; /* -1: no old snapshot */
	struct tspec after[MAXF];
	int nafter; /* -1: no new snapshot */
	int stop_after;
	int want_r;
	const char *want; /* in report order */
};

#define F(p, s, m)                  \
	{                           \
		p, s, m, NULL, NULL \
	}

static const struct tcase cases[] = {
    {"unchanged",
     {F("/M/A/a.mkv", 10, 5), F("/T/S/e.mkv", 20, 5)},
     2,
     {F("/M/A/a.mkv", 10, 5), F("/T/S/e.mkv", 20, 5)},
     2,
     0,
     0,
     ""},
    {"a file added",
     {F("/M/A/a.mkv", 10, 5)},
     1,
     {F("/M/A/a.mkv", 10, 5), F("/M/A/b.srt", 1, 5)},
     2,
     0,
     0,
     "E /M/A/b.srt,D /M/A l"},
    {"a file gone",
     {F("/M/A/a.mkv", 10, 5), F("/M/A/b.srt", 1, 5)},
     2,
     {F("/M/A/a.mkv", 10, 5)},
     1,
     0,
     0,
     "E /M/A/b.srt,D /M/A l"},
    {"a size",
     {F("/M/A/a.mkv", 10, 5)},
     1,
     {F("/M/A/a.mkv", 11, 5)},
     1,
     0,
     0,
     "F /M/A/a.mkv,D /M/A f"},
    {"an mtime",
     {F("/M/A/a.mkv", 10, 5)},
     1,
     {F("/M/A/a.mkv", 10, 6)},
     1,
     0,
     0,
     "F /M/A/a.mkv,D /M/A f"},
    {"a source",
     {{"/M/A/a.mkv", 10, 5, "x/a.mkv", NULL}},
     1,
     {{"/M/A/a.mkv", 10, 5, "y/a.mkv", NULL}},
     1,
     0,
     0,
     "F /M/A/a.mkv,D /M/A f"},
    {"a new directory",
     {F("/M/A/a.mkv", 10, 5)},
     1,
     {F("/M/A/a.mkv", 10, 5), F("/M/B/b.mkv", 10, 5)},
     2,
     0,
     0,
     "E /M/B,D /M l,D /M/B n"},
    {"a directory gone",
     {F("/M/A/a.mkv", 10, 5), F("/M/B/b.mkv", 10, 5)},
     2,
     {F("/M/A/a.mkv", 10, 5)},
     1,
     0,
     0,
     "E /M/B,D /M l"},
    {"a file became a directory",
     {F("/M/A", 10, 5)},
     1,
     {F("/M/A/a.mkv", 10, 5)},
     1,
     0,
     0,
     "E /M/A,D /M l,D /M/A n"},
    {"names around a prefix",
     {F("/M/Up", 1, 5), F("/M/Up.mkv", 2, 5)},
     2,
     {F("/M/Up", 1, 5), F("/M/Up-", 3, 5), F("/M/Up.mkv", 2, 5)},
     3,
     0,
     0,
     "E /M/Up-,D /M l"},
    {"no old tree",
     {{0}},
     -1,
     {F("/M/a.mkv", 1, 5), F("/T/b.mkv", 1, 5)},
     2,
     0,
     0,
     "E /M,E /T,D / l"},
    {"no new tree", {F("/M/a.mkv", 1, 5)}, 1, {{0}}, -1, 0, 0, "E /M"},
    {"a callback ends the walk",
     {F("/M/A/a.mkv", 10, 5), F("/M/B/b.mkv", 10, 5)},
     2,
     {F("/M/A/a.mkv", 11, 5), F("/M/B/b.mkv", 11, 5)},
     2,
     2,
     7,
     "F /M/A/a.mkv,D /M/A f"},
};

static struct snapshot *load(const char *dir, const struct tspec *files, int n, uint64_t gen)
{
	struct snapshot *s = NULL;
	char path[128], err[256];

	if (n < 0)
		return NULL;
	assert_int_equal(tsnap_write(dir, gen, files, (size_t)n, NULL), 0);
	snprintf(path, sizeof(path), "%s/vfs.snapshot", dir);
	if (snapshot_load(path, &s, err, sizeof(err)) < 0)
		fail_msg("loading the tree: expected 0, got \"%s\"", err);
	unlink(path);
	return s;
}

static void test_diff_table(void **state)
{
	static const struct snapshot_diff_ops ops = {
	    .entry = on_entry, .file = on_file, .dir = on_dir};
	char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/mf-test-diff.XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct recorder rec = {.stop_after = c->stop_after};
		int r;

		rec.old = load(dir, c->before, c->nbefore, 1);
		rec.new = load(dir, c->after, c->nafter, 2);
		r = snapshot_diff(rec.old, rec.new, &ops, &rec);
		if (r != c->want_r || strcmp(rec.out, c->want) != 0)
			fail_msg("%s: expected %d \"%s\", got %d \"%s\"", c->what, c->want_r,
			         c->want, r, rec.out);
		snapshot_free((struct snapshot *)rec.old);
		snapshot_free((struct snapshot *)rec.new);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_diff_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
