/*
 * Unit tests of kvwatch's record store: the hash index under random inserts and
 * removals (against a plain reference), values kept byte for byte, records for
 * tree_build, and the snapshot backing: after a publish every placed file is
 * mapped to its node and still reads back exactly (explicit fileName/extension,
 * odd time formats, values the tree does not show), changes turn entries back
 * into owned ones, diffs count what a resync found, and a previous run's
 * snapshot can be imported.
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

#include "rules.h"
#include "snapshot.h"
#include "snapshot_writer.h"
#include "store.h"
#include "tree.h"

static struct schema schema;
static struct rules *rules;
static char dir[] = "/tmp/mf-store-XXXXXX";

static int setup(void **state)
{
	char err[256];

	if (schema_init(&schema) < 0 || rules_default(&schema, &rules, err, sizeof(err)) < 0) {
		fprintf(stderr, "rules_default: %s\n", err);
		return -1;
	}
	if (mkdtemp(dir) == NULL)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_FILE_NAME);
	unlink(path);
	rmdir(dir);
	rules_free(rules);
	schema_free(&schema);
	return 0;
}

/* A record given as "name=value" pairs. */
struct rec {
	const char *id;
	const char *kv[8];
};

static void fill(const struct rec *r, struct strview *v)
{
	memset(v, 0, sizeof(*v) * schema.count);
	for (int i = 0; i < 8 && r->kv[i] != NULL; i++) {
		const char *eq = strchr(r->kv[i], '=');
		int k = schema_find(&schema, r->kv[i], (size_t)(eq - r->kv[i]));

		if (k < 0)
			fail_msg("\"%s\": unknown property", r->kv[i]);
		v[k] = (struct strview){eq + 1, (uint32_t)strlen(eq + 1)};
	}
}

static bool sv_same(struct strview a, struct strview b)
{
	uint32_t la = a.ptr ? a.len : 0, lb = b.ptr ? b.len : 0;

	return la == lb && (la == 0 || memcmp(a.ptr, b.ptr, la) == 0);
}

static void expect_values(struct store *s, const struct rec *r)
{
	struct strview *want = calloc(schema.count, sizeof(*want));
	struct strview *got = calloc(schema.count, sizeof(*got));

	fill(r, want);
	if (!store_get(s, r->id, strlen(r->id), got))
		fail_msg("%s: expected present, got absent", r->id);
	for (uint32_t k = 0; k < schema.count; k++)
		if (!sv_same(want[k], got[k]))
			fail_msg("%s.%s: expected \"%.*s\", got \"%.*s\"", r->id, schema.names[k],
			         (int)want[k].len, want[k].ptr ? want[k].ptr : "", (int)got[k].len,
			         got[k].ptr ? got[k].ptr : "");
	free(want);
	free(got);
}

static void put(struct store *s, const struct rec *r)
{
	struct strview *v = calloc(schema.count, sizeof(*v));

	fill(r, v);
	assert_int_equal(store_put(s, r->id, strlen(r->id), v), 0);
	free(v);
}

/* Build, write and map the tree of s, as kvwatch publishes it. */
static uint64_t publish(struct store *s, uint64_t gen)
{
	struct snapshot_kv_state kv = {.connected = true};
	struct snapshot_build *b = NULL;
	struct store_iter it;
	struct snapshot *snap;
	char path[256], err[256];
	uint64_t files;

	assert_int_equal(store_iter_init(s, &it), 0);
	assert_int_equal(tree_build_next(rules, &schema, store_iter_next, &it, &b), 0);
	store_iter_free(&it);
	files = b->files;
	assert_int_equal(snapshot_write(b, &kv, gen, 1, dir, SNAP_FILE_NAME), 0);
	snapshot_build_free(b);
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_FILE_NAME);
	if (snapshot_open(path, &snap, err, sizeof(err)) < 0)
		fail_msg("snapshot_open: %s", err);
	assert_int_equal(store_rebind(s, snap), 0);
	return files;
}

static const struct rec library[] = {
    {"m1",
     {"filePath=media1/Movies/Inception (2010)/Inception.mkv", "title=Inception", "year=2010",
      "size=1234", "mtime=1703808000000"}},
    /* Explicit fileName and extension equal to what filePath implies. */
    {"m2",
     {"filePath=media1/Movies/Up.2009.mkv", "fileName=Up.2009.mkv", "extension=mkv", "title=Up",
      "year=2009", "size=7", "mtime=2023-12-29T00:00:00Z"}},
    /* An explicit fileName that differs; a fractional epoch. */
    {"m3",
     {"filePath=x/a.mkv", "fileName=Other Name.mkv", "stem=weird", "size=0012",
      "mtime=1703808000.5", "ctime=1703808000"}},
    /* Not shown: no filePath, unsafe paths, a dotfile (hidden). */
    {"d1", {"title=No Path"}},
    {"d2", {"filePath=../etc/passwd", "title=Evil"}},
    {"d3", {"filePath=/etc/shadow"}},
    {"d4", {"filePath=media/.hidden.mkv"}},
    {"e1", {"filePath=media1/TV/Show/S01E02.mkv", "title=Show", "season=1", "episode=2"}},
};
#define NLIB (sizeof(library) / sizeof(library[0]))

/*
 * store_iter gives every record once, with the values store_get() gives and the
 * derived ones filled in, and tree_build_next() over it builds the same tree as
 * tree_build() over the same records in an array.
 */
static void expect_iter_matches_records(struct store *s)
{
	uint32_t count = store_count(s), np = schema.count;
	struct record *recs = calloc(count + 1, sizeof(*recs));
	const struct record **ptrs = calloc(count + 1, sizeof(*ptrs));
	struct strview *vals = calloc((size_t)(count + 1) * np, sizeof(*vals));
	struct snapshot_build *a = NULL, *b = NULL;
	struct store_iter it;
	const struct record *rec;
	size_t n = 0;

	assert_non_null(recs);
	assert_non_null(ptrs);
	assert_non_null(vals);
	assert_int_equal(store_iter_init(s, &it), 0);
	while ((rec = store_iter_next(&it)) != NULL) {
		struct record *want;

		if (n >= count)
			fail_msg("expected %u records from the iterator, got more", count);
		for (size_t j = 0; j < n; j++)
			if (sv_same(recs[j].hash_id, rec->hash_id))
				fail_msg("record \"%.*s\" given twice", (int)rec->hash_id.len,
				         rec->hash_id.ptr);
		want = &recs[n];
		want->values = &vals[n * np];
		if (!store_get(s, rec->hash_id.ptr, rec->hash_id.len, want->values))
			fail_msg("record \"%.*s\": expected in the store, not there",
			         (int)rec->hash_id.len, rec->hash_id.ptr);
		want->hash_id = rec->hash_id;
		record_derive(want);
		for (uint32_t k = 0; k < np; k++)
			if (!sv_same(want->values[k], rec->values[k]))
				fail_msg("%.*s.%s: expected \"%.*s\", got \"%.*s\"",
				         (int)rec->hash_id.len, rec->hash_id.ptr, schema.names[k],
				         (int)want->values[k].len,
				         want->values[k].ptr ? want->values[k].ptr : "",
				         (int)rec->values[k].len,
				         rec->values[k].ptr ? rec->values[k].ptr : "");
		ptrs[n] = want;
		n++;
	}
	store_iter_free(&it);
	if (n != count)
		fail_msg("expected %u records, got %zu", count, n);

	assert_int_equal(tree_build(rules, &schema, ptrs, n, &a), 0);
	assert_int_equal(store_iter_init(s, &it), 0);
	assert_int_equal(tree_build_next(rules, &schema, store_iter_next, &it, &b), 0);
	store_iter_free(&it);
	assert_int_equal(a->strings_size, b->strings_size);
	assert_memory_equal(a->strings, b->strings, a->strings_size);
	assert_int_equal(a->node_count, b->node_count);
	assert_memory_equal(a->nodes, b->nodes, a->node_count * sizeof(*a->nodes));
	snapshot_build_free(a);
	snapshot_build_free(b);
	free(recs);
	free(ptrs);
	free(vals);
}

static void test_store_snapshot_backing(void **state)
{
	struct store *s;
	struct store_stats st;
	uint64_t files;

	assert_int_equal(store_new(&schema, true, &s), 0);
	for (size_t i = 0; i < NLIB; i++)
		put(s, &library[i]);
	assert_int_equal(store_count(s), NLIB);
	for (size_t i = 0; i < NLIB; i++)
		expect_values(s, &library[i]);
	expect_iter_matches_records(s);

	files = publish(s, 1);
	assert_int_equal(files, 4); /* m1 m2 m3 e1 */
	store_stats(s, &st);
	if (st.mapped != 4 || st.owned != NLIB - 4)
		fail_msg("expected 4 mapped, %zu owned, got %llu mapped, %llu owned", NLIB - 4,
		         (unsigned long long)st.mapped, (unsigned long long)st.owned);
	for (size_t i = 0; i < NLIB; i++)
		expect_values(s, &library[i]);
	expect_iter_matches_records(s); /* mapped and owned entries */

	/* An update makes the entry owned again; a second publish maps it anew. */
	{
		struct rec m1b = {"m1",
		                  {"filePath=media1/Movies/Inception (2010)/Inception.mkv",
		                   "title=Inception", "year=2010", "size=99999"}};

		put(s, &m1b);
		assert_true(store_remove(s, "e1", 2));
		assert_false(store_remove(s, "e1", 2));
		store_stats(s, &st);
		assert_int_equal(st.mapped, 2);
		expect_values(s, &m1b);
		expect_iter_matches_records(s);
		assert_int_equal(publish(s, 2), 3);
		store_stats(s, &st);
		assert_int_equal(st.mapped, 3);
		expect_values(s, &m1b);
		for (size_t i = 1; i < NLIB - 1; i++)
			expect_values(s, &library[i]);
		assert_false(store_contains(s, "e1", 2));
	}
	store_free(s);
}

static void test_store_diff_and_import(void **state)
{
	struct store *cur, *fresh, *imp;
	struct store_diff d;
	struct store_stats st;
	struct snapshot *snap;
	char path[256], err[256];
	struct rec changed = {"m2", {"filePath=media1/Movies/Up.2009.mkv", "title=Up (new)"}};
	struct rec added = {"n1", {"filePath=new/file.mkv"}};

	assert_int_equal(store_new(&schema, false, &cur), 0);
	for (size_t i = 0; i < NLIB; i++)
		put(cur, &library[i]);
	publish(cur, 3);

	/* The same content read again: nothing changed. */
	assert_int_equal(store_new(&schema, true, &fresh), 0);
	for (size_t i = 0; i < NLIB; i++)
		put(fresh, &library[i]);
	store_diff(cur, fresh, &d);
	if (d.added || d.removed || d.changed)
		fail_msg("expected no change, got +%llu -%llu ~%llu", (unsigned long long)d.added,
		         (unsigned long long)d.removed, (unsigned long long)d.changed);
	put(fresh, &changed);
	put(fresh, &added);
	store_remove(fresh, "d1", 2);
	store_remove(fresh, "e1", 2);
	store_diff(cur, fresh, &d);
	if (d.added != 1 || d.removed != 2 || d.changed != 1)
		fail_msg("expected +1 -2 ~1, got +%llu -%llu ~%llu", (unsigned long long)d.added,
		         (unsigned long long)d.removed, (unsigned long long)d.changed);
	/* Files: the 7 with a filePath; lost: e1 (d1 had no filePath to lose). */
	if (d.files != 7 || d.lost != 1)
		fail_msg("expected 7 files, 1 lost, got %llu, %llu", (unsigned long long)d.files,
		         (unsigned long long)d.lost);
	/* Losing a filePath counts as losing the file. */
	{
		struct rec nopath = {"m3", {"title=gone"}};

		put(fresh, &nopath);
		store_diff(cur, fresh, &d);
		assert_int_equal(d.lost, 2);
	}
	/* Copying an entry's state: present, then absent. */
	assert_int_equal(store_copy_entry(fresh, cur, "e1", 2), 0);
	assert_true(store_contains(fresh, "e1", 2));
	assert_int_equal(store_copy_entry(fresh, cur, "n1", 2), 0);
	assert_false(store_contains(fresh, "n1", 2));
	store_free(fresh);

	/* Import the published snapshot as a restarted kvwatch would. */
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_FILE_NAME);
	assert_int_equal(snapshot_open(path, &snap, err, sizeof(err)), 0);
	assert_int_equal(store_new(&schema, false, &imp), 0);
	assert_int_equal(store_import_snapshot(imp, snap), 0);
	assert_int_equal(store_count(imp), 4);
	store_stats(imp, &st);
	assert_int_equal(st.mapped, 4);
	{
		struct rec m1 = {"m1",
		                 {"filePath=media1/Movies/Inception (2010)/Inception.mkv",
		                  "title=Inception", "year=2010", "size=1234",
		                  "mtime=1703808000000", "ctime=1703808000000"}};

		expect_values(imp, &m1);
	}
	/* The imported tree rebuilds to the same files. */
	store_diff(imp, cur, &d);
	assert_int_equal(d.removed, 0);
	assert_int_equal(publish(imp, 4), 4);
	store_free(imp);
	store_free(cur);
}

static void test_store_index(void **state)
{
	enum { N = 20000 };
	static bool present[N];
	struct strview *v = calloc(schema.count, sizeof(*v));
	unsigned seed = 12345;
	struct store *s;
	uint32_t count = 0;
	uint64_t it = 0, seen = 0;
	struct strview id;

	assert_int_equal(store_new(&schema, false, &s), 0);
	for (int round = 0; round < 200000; round++) {
		char buf[16];
		int k;
		size_t len;

		seed = seed * 1103515245 + 12345;
		k = (int)((seed >> 8) % N);
		len = (size_t)snprintf(buf, sizeof(buf), "id%d", k);
		if ((seed >> 4) & 1) {
			v[0] = (struct strview){buf, (uint32_t)len};
			assert_int_equal(store_put(s, buf, len, v), 0);
			count += !present[k];
			present[k] = true;
		} else {
			bool was = store_remove(s, buf, len);

			if (was != present[k])
				fail_msg("remove %s: expected %d, got %d", buf, present[k], was);
			count -= present[k];
			present[k] = false;
		}
		if (round % 9973 == 0)
			for (int j = 0; j < N; j++) {
				len = (size_t)snprintf(buf, sizeof(buf), "id%d", j);
				if (store_contains(s, buf, len) != present[j])
					fail_msg("round %d, %s: expected %d, got %d", round, buf,
					         present[j], !present[j]);
			}
	}
	assert_int_equal(store_count(s), count);
	while (store_next(s, &it, &id, v)) {
		assert_true(sv_same(id, v[0]));
		seen++;
	}
	assert_int_equal(seen, count);
	assert_int_equal(store_put(s, "", 0, v), -EINVAL);
	store_free(s);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_store_snapshot_backing),
	    cmocka_unit_test(test_store_diff_and_import),
	    cmocka_unit_test(test_store_index),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
