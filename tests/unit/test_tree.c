/*
 * Unit tests of lib/tree.c: placing records, directories, uniqueness of names,
 * stable ids, directory times, statistics and skipped records, plus a round trip
 * through the writer and the reader.  Records are built from small tables.
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

#include "hash.h"
#include "snapshot.h"
#include "tree.h"
#include "tree_place.h"

/* A record as a test writes it: hash id and "key=value" pairs. */
struct rec_spec {
	const char *id;
	const char *props[8];
};

struct fixture {
	struct schema schema;
	struct rules *rules;
	struct record *records;
	const struct record **ptrs;
	size_t count;
	struct snapshot_build *build;
};

static const char test_rules[] =
    "rules = ("
    " { name = \"hide-samples\"; priority = 90; hide = true;"
    "   when = { property = \"fileName\"; op = \"contains\"; value = \"sample\"; }; },"
    " { name = \"flat\"; priority = 50; template = \"/Col/{title}.{extension}\"; },"
    " { name = \"nested\"; priority = 40; template = \"/Col/{group}/{title}.{extension}\";"
    "   when = { property = \"group\"; op = \"exists\"; }; },"
    " { name = \"catch-all\"; priority = 0; template = \"/Other/{fileName}\"; }"
    ");";

static struct rules *compile_rules(struct schema *schema, const char *text)
{
	config_t cf;
	struct rules *rules = NULL;
	char err[256];

	config_init(&cf);
	if (config_read_string(&cf, text) != CONFIG_TRUE)
		fail_msg("test rules do not parse: line %d: %s", config_error_line(&cf),
		         config_error_text(&cf));
	if (rules_from_setting(config_lookup(&cf, "rules"), schema, &rules, err, sizeof(err)) < 0)
		fail_msg("test rules do not compile: %s", err);
	config_destroy(&cf);
	return rules;
}

static void build(struct fixture *f, const struct rec_spec *specs, size_t n)
{
	int r;

	f->records = calloc(n, sizeof(*f->records));
	f->ptrs = calloc(n ? n : 1, sizeof(*f->ptrs));
	assert_non_null(f->records);
	for (size_t i = 0; i < n; i++) {
		struct record *rec = &f->records[i];

		rec->hash_id.ptr = specs[i].id;
		rec->hash_id.len = (uint32_t)strlen(specs[i].id);
		rec->values = calloc(f->schema.count, sizeof(*rec->values));
		for (size_t k = 0; k < 8 && specs[i].props[k] != NULL; k++) {
			const char *kv = specs[i].props[k], *eq = strchr(kv, '=');
			int idx = schema_find(&f->schema, kv, (size_t)(eq - kv));

			if (idx < 0)
				fail_msg("property \"%.*s\" is not in the schema", (int)(eq - kv),
				         kv);
			rec->values[idx].ptr = eq + 1;
			rec->values[idx].len = (uint32_t)strlen(eq + 1);
		}
		record_derive(rec);
		f->ptrs[i] = rec;
	}
	f->count = n;
	r = tree_build(f->rules, &f->schema, f->ptrs, n, &f->build);
	assert_int_equal(r, 0);
}

static void fixture_reset(struct fixture *f)
{
	for (size_t i = 0; i < f->count; i++)
		free(f->records[i].values);
	free(f->records);
	free(f->ptrs);
	snapshot_build_free(f->build);
	f->records = NULL;
	f->ptrs = NULL;
	f->build = NULL;
	f->count = 0;
}

static int setup_test_rules(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(schema_init(&f->schema), 0);
	assert_int_equal(schema_intern(&f->schema, "group", 5) >= 0, 1);
	f->rules = compile_rules(&f->schema, test_rules);
	*state = f;
	return 0;
}

static int setup_default_rules(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_int_equal(schema_init(&f->schema), 0);
	if (rules_default(&f->schema, &f->rules, err, sizeof(err)) < 0)
		fail_msg("default rules: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_reset(f);
	rules_free(f->rules);
	schema_free(&f->schema);
	free(f);
	return 0;
}

static const char *str(const struct snapshot_build *b, struct snap_str s)
{
	return b->strings + s.off;
}

/* The node at an absolute path of the build, or NULL: a reader-free walk for tests. */
static const struct snap_node *find(const struct snapshot_build *b, const char *path)
{
	const struct snap_node *n = &b->nodes[0];

	while (*path == '/')
		path++;
	while (*path != '\0') {
		const char *end = strchr(path, '/');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		const struct snap_node *next = NULL;

		if (n->type != SNAP_NODE_DIR)
			return NULL;
		for (uint32_t i = 0; i < n->child_count; i++) {
			const struct snap_node *c = &b->nodes[n->first_child + i];

			if (c->name.len == len && memcmp(str(b, c->name), path, len) == 0)
				next = c;
		}
		if (next == NULL)
			return NULL;
		n = next;
		path += len;
		while (*path == '/')
			path++;
	}
	return n;
}

static const struct snap_node *must_find(const struct snapshot_build *b, const char *path)
{
	const struct snap_node *n = find(b, path);

	if (n == NULL)
		fail_msg("expected \"%s\" in the tree, not found", path);
	return n;
}

static void test_inception_example(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"h1",
	     {"title=Inception", "year=2010",
	      "filePath=media1/Movies/Inception (2010)/Inception.mkv", "size=1234",
	      "mtime=1703808000000"}},
	};
	const struct snap_node *n;

	build(f, specs, 1);
	n = must_find(f->build, "/Movies/Inception (2010)/Inception.mkv");
	assert_int_equal(n->type, SNAP_NODE_FILE);
	assert_string_equal(str(f->build, n->source),
	                    "media1/Movies/Inception (2010)/Inception.mkv");
	assert_string_equal(str(f->build, n->hash_id), "h1");
	assert_int_equal(n->size, 1234);
	assert_int_equal(n->mtime_ns, 1703808000000LL * 1000000);
	assert_int_equal(f->build->files, 1);
	assert_int_equal(f->build->directories, 3); /* /, /Movies, /Movies/Inception (2010) */
	assert_int_equal(f->build->total_bytes, 1234);
	assert_int_equal(f->build->category_count, 1);
	assert_string_equal(str(f->build, f->build->categories[0].name), "Movies");
	assert_int_equal(f->build->categories[0].files, 1);
}

static void test_ids_hash_the_path(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"a", {"title=A", "filePath=x/a.mkv"}},
	    {"b", {"title=B", "group=G", "filePath=x/b.mkv"}},
	};
	const char *paths[] = {"/Col", "/Col/A.mkv"};

	build(f, specs, 2);
	assert_int_equal(f->build->nodes[0].id, SNAP_ROOT_ID);
	for (size_t i = 0; i < 2; i++) {
		uint64_t want = hash64(paths[i], strlen(paths[i]), 0);
		const struct snap_node *n = must_find(f->build, paths[i]);

		if (n->id != want)
			fail_msg("%s: expected id %016llx, got %016llx", paths[i],
			         (unsigned long long)want, (unsigned long long)n->id);
	}
}

static void test_ids_stable_across_builds(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec one[] = {{"a", {"title=A", "filePath=x/a.mkv"}}};
	const struct rec_spec two[] = {
	    {"z", {"title=Zed", "filePath=x/z.mkv"}},
	    {"a", {"title=A", "filePath=x/a.mkv"}},
	};
	uint64_t before;

	build(f, one, 1);
	before = must_find(f->build, "/Col/A.mkv")->id;
	fixture_reset(f);
	build(f, two, 2);
	assert_int_equal(must_find(f->build, "/Col/A.mkv")->id, before);
}

static void test_collisions_get_suffixes_in_hash_id_order(void **state)
{
	struct fixture *f = *state;
	/* Same rendered name three times, plus a file already named like the first suffix. */
	const struct rec_spec specs[] = {
	    {"c", {"title=Same", "filePath=x/3.mkv", "size=3"}},
	    {"a", {"title=Same", "filePath=x/1.mkv", "size=1"}},
	    {"d", {"title=Same (2)", "filePath=x/4.mkv", "size=4"}},
	    {"b", {"title=Same", "filePath=x/2.mkv", "size=2"}},
	};

	build(f, specs, 4);
	assert_int_equal(must_find(f->build, "/Col/Same.mkv")->size, 1);
	/* "Same (2).mkv" belongs to the record that rendered it; "b" moves on to (3). */
	assert_int_equal(must_find(f->build, "/Col/Same (2).mkv")->size, 4);
	assert_int_equal(must_find(f->build, "/Col/Same (3).mkv")->size, 2);
	assert_int_equal(must_find(f->build, "/Col/Same (4).mkv")->size, 3);
	assert_int_equal(f->build->files, 4);
}

/* Sorting compares the first 16 bytes as words: names that share them still order right. */
static void test_long_names_sharing_a_prefix(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"c", {"title=Season Finale Extended Cut", "filePath=x/3.mkv", "size=3"}},
	    {"a", {"title=Season Finale Extended Cut", "filePath=x/1.mkv", "size=1"}},
	    {"e", {"title=Season Finale Extended Cut (2)", "filePath=x/5.mkv", "size=5"}},
	    {"f", {"title=Season Finale Ex", "filePath=x/6.mkv", "size=6"}},
	    {"b", {"title=Season Finale Extended Cut", "filePath=x/2.mkv", "size=2"}},
	    {"g", {"title=Season Finale Extended", "filePath=x/7.mkv", "size=7"}},
	    {"h", {"title=Season Finale Ew", "filePath=x/8.mkv", "size=8"}},
	};
	static const char *const order[] = {
	    "Season Finale Ew.mkv",
	    "Season Finale Ex.mkv",
	    "Season Finale Extended Cut (2).mkv",
	    "Season Finale Extended Cut (3).mkv",
	    "Season Finale Extended Cut (4).mkv",
	    "Season Finale Extended Cut.mkv",
	    "Season Finale Extended.mkv",
	};
	const struct snap_node *col;

	build(f, specs, 7);
	assert_int_equal(must_find(f->build, "/Col/Season Finale Extended Cut.mkv")->size, 1);
	assert_int_equal(must_find(f->build, "/Col/Season Finale Extended Cut (2).mkv")->size, 5);
	assert_int_equal(must_find(f->build, "/Col/Season Finale Extended Cut (3).mkv")->size, 2);
	assert_int_equal(must_find(f->build, "/Col/Season Finale Extended Cut (4).mkv")->size, 3);
	assert_int_equal(must_find(f->build, "/Col/Season Finale Ex.mkv")->size, 6);
	col = must_find(f->build, "/Col");
	assert_int_equal(col->child_count, 7);
	for (uint32_t k = 0; k < col->child_count; k++)
		assert_string_equal(str(f->build, f->build->nodes[col->first_child + k].name),
		                    order[k]);
}

static void test_collisions_independent_of_input_order(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec fwd[] = {
	    {"a", {"title=S", "filePath=x/1.mkv", "size=1"}},
	    {"b", {"title=S", "filePath=x/2.mkv", "size=2"}},
	};
	const struct rec_spec rev[] = {fwd[1], fwd[0]};

	build(f, fwd, 2);
	assert_int_equal(must_find(f->build, "/Col/S (2).mkv")->size, 2);
	fixture_reset(f);
	build(f, rev, 2);
	assert_int_equal(must_find(f->build, "/Col/S.mkv")->size, 1);
	assert_int_equal(must_find(f->build, "/Col/S (2).mkv")->size, 2);
}

static void test_values_never_create_directories(void **state)
{
	struct fixture *f = *state;
	const char rules_text[] = "rules = ( { name = \"r\"; template = \"/Col/{title}\"; } );";
	const struct rec_spec specs[] = {
	    {"a", {"title=G", "filePath=x/a", "size=1"}},
	    {"b", {"title=G/x", "filePath=x/b", "size=2"}},
	};

	rules_free(f->rules);
	f->rules = compile_rules(&f->schema, rules_text);
	build(f, specs, 2);
	/* '/' in a value never makes a directory: "G/x" stays one file name beside "G". */
	assert_int_equal(must_find(f->build, "/Col/G")->type, SNAP_NODE_FILE);
	assert_null(find(f->build, "/Col/G/x"));
	assert_int_equal(f->build->files, 2);
	assert_int_equal(f->build->directories, 2);
}

static void test_file_and_directory_same_name(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"a", {"title=G", "group=Box", "filePath=x/a.mkv", "size=1"}}, /* /Col/Box/G.mkv */
	    {"b", {"title=Box", "filePath=x/Box", "size=2"}},              /* /Col/Box. */
	};
	const char rules_text[] =
	    "rules = ( { name = \"nested\"; priority = 2; template = \"/Col/{group}/{title}.mkv\";"
	    " when = { property = \"group\"; op = \"exists\"; }; },"
	    " { name = \"flat\"; priority = 1; template = \"/Col/{title}\"; } );";

	rules_free(f->rules);
	f->rules = compile_rules(&f->schema, rules_text);
	build(f, specs, 2);
	assert_int_equal(must_find(f->build, "/Col/Box")->type, SNAP_NODE_DIR);
	assert_int_equal(must_find(f->build, "/Col/Box (2)")->type, SNAP_NODE_FILE);
	assert_int_equal(must_find(f->build, "/Col/Box (2)")->size, 2);
}

static void test_skipped_and_hidden_are_counted(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"nopath", {"title=No path"}},
	    {"dotdot", {"title=Up", "filePath=../etc/passwd"}},
	    {"abs", {"title=Abs", "filePath=/etc/passwd"}},
	    {"inner", {"title=Inner", "filePath=a/../../etc/passwd"}},
	    {"sample", {"title=S", "filePath=x/movie-sample.mkv"}},
	    {"good", {"title=Good", "filePath=x/good.mkv"}},
	};
	uint64_t unsafe = 0, nopath = 0;

	build(f, specs, 6);
	assert_int_equal(f->build->files, 1);
	assert_int_equal(f->build->hidden, 1);
	assert_int_equal(f->build->skipped, 4);
	for (uint32_t i = 0; i < f->build->skip_count; i++) {
		const struct snap_skip *s = &f->build->skips[i];

		if (strcmp(str(f->build, s->reason), TREE_SKIP_UNSAFE_PATH) == 0)
			unsafe = s->count;
		if (strcmp(str(f->build, s->reason), TREE_SKIP_NO_FILE_PATH) == 0) {
			nopath = s->count;
			assert_string_equal(str(f->build, s->example), "nopath");
		}
	}
	assert_int_equal(unsafe, 3);
	assert_int_equal(nopath, 1);
	assert_int_equal(f->build->rules[0].hidden, 1); /* hide-samples */
	/* Nothing unsafe reached the tree. */
	for (uint32_t i = 0; i < f->build->node_count; i++)
		if (f->build->nodes[i].type == SNAP_NODE_FILE)
			assert_string_equal(str(f->build, f->build->nodes[i].source), "x/good.mkv");
}

static void test_directory_times_come_from_content(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"a", {"title=A", "group=G", "filePath=x/a.mkv", "mtime=1000"}},
	    {"b", {"title=B", "group=G", "filePath=x/b.mkv", "mtime=3000"}},
	    {"c", {"title=C", "group=H", "filePath=x/c.mkv", "mtime=2000"}},
	};

	build(f, specs, 3);
	/* "flat" outranks "nested": both take the flat rule's path; check the root instead. */
	assert_int_equal(f->build->nodes[0].mtime_ns, 3000LL * 1000000000);
	assert_int_equal(must_find(f->build, "/Col")->mtime_ns, 3000LL * 1000000000);
}

/* The count of skip-section entry reason, or 0. */
static uint64_t reason_count(const struct snapshot_build *b, const char *reason)
{
	for (uint32_t i = 0; i < b->skip_count; i++)
		if (strcmp(str(b, b->skips[i].reason), reason) == 0)
			return b->skips[i].count;
	return 0;
}

/* Sizes stat cannot show and times that do not fit: flagged, counted, never served. */
static void test_unusable_sizes_and_times(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"ok", {"filePath=x/ok.mkv", "size=9223372036854775807", "mtime=1700000000"}},
	    {"nosize", {"filePath=x/nosize.mkv", "mtime=1600000000"}},
	    {"empty", {"filePath=x/empty.mkv", "size="}},
	    {"unit", {"filePath=x/unit.mkv", "size=12kB"}},
	    {"neg", {"filePath=x/neg.mkv", "size=-1"}},
	    {"huge", {"filePath=x/huge.mkv", "size=9223372036854775808"}},
	    {"wrap", {"filePath=y/wrap.mkv", "size=1", "mtime=9999999999", "ctime=1500000000"}},
	    {"iso", {"filePath=y/iso.mkv", "size=1", "mtime=2300-01-01T00:00:00Z"}},
	    {"future", {"filePath=y/future.mkv", "size=1", "mtime=4102444800"}},
	    {"past", {"filePath=y/past.mkv", "size=1", "mtime=1400000000"}},
	};
	struct {
		const char *path;
		uint64_t size;
		uint16_t flags;
		int64_t mtime_s;
	} want[] = {
	    {"/Other/ok.mkv", INT64_MAX, 0, 1700000000},
	    {"/Other/nosize.mkv", 0, SNAP_NODE_F_SIZE_UNKNOWN, 1600000000},
	    {"/Other/empty.mkv", 0, SNAP_NODE_F_SIZE_UNKNOWN, 0},
	    {"/Other/unit.mkv", 0, SNAP_NODE_F_SIZE_UNKNOWN, 0},
	    {"/Other/neg.mkv", 0, SNAP_NODE_F_SIZE_UNKNOWN, 0},
	    {"/Other/huge.mkv", 0, SNAP_NODE_F_SIZE_UNKNOWN, 0},
	    {"/Other/wrap.mkv", 1, 0, 1500000000}, /* the ctime stands in */
	    {"/Other/iso.mkv", 1, 0, 0},
	    {"/Other/future.mkv", 1, 0, 4102444800},
	};

	build(f, specs, sizeof(specs) / sizeof(specs[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct snap_node *n = must_find(f->build, want[i].path);

		if (n->size != want[i].size || n->flags != want[i].flags ||
		    n->mtime_ns != want[i].mtime_s * 1000000000)
			fail_msg("%s: expected size %llu flags %u mtime %lld, got %llu %u %lld",
			         want[i].path, (unsigned long long)want[i].size, want[i].flags,
			         (long long)want[i].mtime_s, (unsigned long long)n->size, n->flags,
			         (long long)(n->mtime_ns / 1000000000));
	}
	assert_int_equal(reason_count(f->build, TREE_NOTE_BAD_SIZE), 5);
	assert_int_equal(reason_count(f->build, TREE_NOTE_BAD_TIME), 2);
	assert_int_equal(f->build->skipped, 0);
	assert_int_equal(f->build->files, 10);
	/* The folder's time: the newest plausible one (1700000000), not the year 2100. */
	assert_int_equal(must_find(f->build, "/Other")->mtime_ns, 1700000000LL * 1000000000);
	assert_int_equal(f->build->nodes[0].mtime_ns, 1700000000LL * 1000000000);
}

/* The sources a test measures: filePath -> size, or -errno. */
static const struct {
	const char *path;
	int r;
	uint64_t size;
} disk[] = {
    {"m/small.mkv", 0, 4567},   /* the KV store says 10 */
    {"m/large.mkv", 0, 3},      /* says 4567 */
    {"m/same.mkv", 0, 100},     /* says 100 */
    {"m/zero.mkv", 0, 2048},    /* says 0 */
    {"m/nosize.mkv", 0, 77},    /* says nothing */
    {"m/huge.mkv", 0, 12},      /* says 2^64 - 1 */
    {"m/gone.mkv", -ENOENT, 0}, /* says 50: not here, the claim stays */
    {"m/out.mkv", -EXDEV, 0},   /* a symlink out of the volume: not measured */
    {"m/gone-nosize.mkv", -ENOENT, 0},
    {"m/toolarge.mkv", 0, (uint64_t)INT64_MAX + 1}, /* not a size stat shows */
};

static int measure_disk(void *ctx, const struct record *rec, uint64_t *ret)
{
	size_t *calls = ctx;

	(*calls)++;
	for (size_t i = 0; i < sizeof(disk) / sizeof(disk[0]); i++) {
		if (strlen(disk[i].path) != rec->values[PROP_FILE_PATH].len ||
		    memcmp(disk[i].path, rec->values[PROP_FILE_PATH].ptr,
		           rec->values[PROP_FILE_PATH].len) != 0)
			continue;
		if (disk[i].r == 0)
			*ret = disk[i].size;
		return disk[i].r;
	}
	return -ENOENT;
}

/*
 * A measured size replaces a claim that differs or is unusable, flagged
 * SIZE_MEASURED; a source that cannot be measured keeps today's claim (or stays
 * unknown); hidden and skipped records are not measured; the notes stay the
 * records' own and the counts say what happened.
 */
static void test_measured_sizes(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"small", {"filePath=m/small.mkv", "size=10"}},
	    {"large", {"filePath=m/large.mkv", "size=4567"}},
	    {"same", {"filePath=m/same.mkv", "size=100"}},
	    {"zero", {"filePath=m/zero.mkv", "size=0"}},
	    {"nosize", {"filePath=m/nosize.mkv"}},
	    {"huge", {"filePath=m/huge.mkv", "size=18446744073709551615"}},
	    {"gone", {"filePath=m/gone.mkv", "size=50"}},
	    {"out", {"filePath=m/out.mkv", "size=60"}},
	    {"gone-nosize", {"filePath=m/gone-nosize.mkv", "size=x"}},
	    {"toolarge", {"filePath=m/toolarge.mkv", "size=5"}},
	    {"hidden", {"filePath=m/sample.mkv", "size=1"}},
	    {"skipped", {"filePath=../m/escape.mkv", "size=1"}},
	};
	const struct {
		const char *path;
		uint64_t size;
		uint16_t flags;
	} want[] = {
	    {"/Other/small.mkv", 4567, SNAP_NODE_F_SIZE_MEASURED},
	    {"/Other/large.mkv", 3, SNAP_NODE_F_SIZE_MEASURED},
	    {"/Other/same.mkv", 100, 0},
	    {"/Other/zero.mkv", 2048, SNAP_NODE_F_SIZE_MEASURED},
	    {"/Other/nosize.mkv", 77, SNAP_NODE_F_SIZE_MEASURED},
	    {"/Other/huge.mkv", 12, SNAP_NODE_F_SIZE_MEASURED},
	    {"/Other/gone.mkv", 50, 0},
	    {"/Other/out.mkv", 60, 0},
	    {"/Other/gone-nosize.mkv", 0, SNAP_NODE_F_SIZE_UNKNOWN},
	    {"/Other/toolarge.mkv", 5, 0},
	};
	struct tree_sizes sizes = {.measure = measure_disk};
	struct tree_builder *tb;
	size_t calls = 0;

	sizes.ctx = &calls;
	build(f, specs, sizeof(specs) / sizeof(specs[0]));
	snapshot_build_free(f->build);
	f->build = NULL;
	assert_int_equal(tree_builder_new(f->rules, &f->schema, &tb), 0);
	tree_builder_set_sizes(tb, &sizes);
	for (size_t i = 0; i < f->count; i++)
		assert_int_equal(tree_builder_add(tb, f->ptrs[i]), 0);
	assert_int_equal(tree_builder_finish(tb, &f->build), 0);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct snap_node *n = must_find(f->build, want[i].path);

		if (n->size != want[i].size || n->flags != want[i].flags)
			fail_msg("%s: expected size %llu flags %u, got %llu %u", want[i].path,
			         (unsigned long long)want[i].size, want[i].flags,
			         (unsigned long long)n->size, n->flags);
	}
	if (calls != 10 || sizes.measured != 6 || sizes.corrected != 5 || sizes.failed != 4)
		fail_msg("expected 10 calls, 6 measured, 5 corrected, 4 failed; got %zu, %llu, "
		         "%llu, %llu",
		         calls, (unsigned long long)sizes.measured,
		         (unsigned long long)sizes.corrected, (unsigned long long)sizes.failed);
	assert_string_equal(sizes.example, "small");
	assert_int_equal(sizes.example_size, 4567);
	/* The records' own notes: nosize, huge and gone-nosize said no usable size. */
	assert_int_equal(reason_count(f->build, TREE_NOTE_BAD_SIZE), 3);
	assert_int_equal(f->build->total_bytes, 4567 + 3 + 100 + 2048 + 77 + 12 + 50 + 60 + 0 + 5);
}

/* 3,000 files of one name and names that look like their variants: ranks skip them. */
static void test_many_same_names(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	struct rec_spec *specs = calloc(N + 2, sizeof(*specs));
	char(*ids)[16] = calloc(N, sizeof(*ids));
	char name[64];

	assert_non_null(specs);
	assert_non_null(ids);
	for (size_t i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "d%05zu", N - 1 - i); /* reversed input */
		specs[i] = (struct rec_spec){ids[i], {"filePath=BDMV/STREAM/00000.m2ts"}};
	}
	specs[N] = (struct rec_spec){"nat", {"filePath=a/00000 (2).m2ts"}};
	specs[N + 1] = (struct rec_spec){"nat2", {"filePath=a/00000 (10).m2ts"}};
	build(f, specs, N + 2);
	assert_int_equal(f->build->files, N + 2);
	/* d00000 keeps the name, d00001 skips (2) (taken) and gets (3), ... */
	for (size_t i = 0; i < N; i++) {
		size_t n = i == 0 ? 0 : i + 2 + (i >= 8);
		const struct snap_node *nd;

		if (n == 0)
			snprintf(name, sizeof(name), "/Other/00000.m2ts");
		else
			snprintf(name, sizeof(name), "/Other/00000 (%zu).m2ts", n);
		nd = must_find(f->build, name);
		if (strcmp(str(f->build, nd->hash_id), ids[N - 1 - i]) != 0)
			fail_msg("%s: expected %s, got %s", name, ids[N - 1 - i],
			         str(f->build, nd->hash_id));
		if (nd->flags != (n ? SNAP_NODE_F_SUFFIXED : 0) + SNAP_NODE_F_SIZE_UNKNOWN)
			fail_msg("%s: expected flags %u, got %u", name,
			         (n ? SNAP_NODE_F_SUFFIXED : 0) + SNAP_NODE_F_SIZE_UNKNOWN,
			         nd->flags);
	}
	assert_int_equal(must_find(f->build, "/Other/00000 (2).m2ts")->flags,
	                 SNAP_NODE_F_SIZE_UNKNOWN);
	free(specs);
	free(ids);
}

static void test_breadth_first_sorted_layout(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"1", {"title=b", "filePath=x/1"}}, {"2", {"title=a", "filePath=x/2"}},
	    {"3", {"title=B", "filePath=x/3"}}, {"4", {"filePath=y/zz"}},
	    {"5", {"title=é", "filePath=x/5"}},
	};
	const struct snapshot_build *b;

	build(f, specs, 5);
	b = f->build;
	for (uint32_t i = 0; i < b->node_count; i++) {
		const struct snap_node *n = &b->nodes[i];

		if (n->type != SNAP_NODE_DIR || n->child_count == 0)
			continue;
		assert_true(n->first_child > i);
		for (uint32_t k = 0; k < n->child_count; k++) {
			const struct snap_node *c = &b->nodes[n->first_child + k];

			assert_int_equal(c->parent, i);
			if (k > 0 && strcmp(str(b, b->nodes[n->first_child + k - 1].name),
			                    str(b, c->name)) >= 0)
				fail_msg("children of node %u not sorted at %u", i, k);
		}
	}
}

static void test_round_trip_through_reader(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"a", {"title=A", "group=G", "filePath=x/a.mkv", "size=10"}},
	    {"b", {"title=B", "filePath=x/b.mkv", "size=20"}},
	};
	struct snapshot_kv_state kv = {.connected = true, .leader = "redis://127.0.0.1:6379"};
	char dir[] = "/tmp/mf-tree-XXXXXX", err[256], path[512];
	const struct snap_node *n;
	struct snapshot *s;

	build(f, specs, 2);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(snapshot_write(f->build, &kv, 7, 1, dir, SNAP_FILE_NAME), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_FILE_NAME);
	if (snapshot_open(path, &s, err, sizeof(err)) < 0)
		fail_msg("reader refused the writer's snapshot: %s", err);
	assert_int_equal(snapshot_generation(s), 7);
	assert_int_equal(snapshot_lookup_path(s, "/Col/B.mkv", &n), 0);
	assert_int_equal(n->size, 20);
	assert_string_equal(snapshot_prop(s, n, "title"), "B");
	assert_ptr_equal(snapshot_lookup_id(s, n->id), n);
	snapshot_free(s);
	unlink(path);
	rmdir(dir);
}

static void test_colliding_ids_are_rehashed(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"a", {"title=A", "filePath=x/a.mkv"}},
	    {"b", {"title=B", "filePath=x/b.mkv"}},
	    {"c", {"title=C", "filePath=x/c.mkv"}},
	};
	struct snap_node *a, *b, *c;
	uint64_t a_id;

	build(f, specs, 3);
	a = (struct snap_node *)must_find(f->build, "/Col/A.mkv");
	b = (struct snap_node *)must_find(f->build, "/Col/B.mkv");
	c = (struct snap_node *)must_find(f->build, "/Col/C.mkv");
	/* Forge what a 64-bit collision and a reserved value would look like. */
	a_id = a->id;
	b->id = a_id;
	c->id = SNAP_ERROR_FILE_ID;
	assert_int_equal(tree_fix_ids(f->build), 0);
	/* A comes first in node order and keeps its id; B and C rehash with seed 1. */
	assert_int_equal(a->id, a_id);
	assert_int_equal(b->id, hash64("/Col/B.mkv", 10, 1));
	assert_int_equal(c->id, hash64("/Col/C.mkv", 10, 1));
	assert_int_equal(must_find(f->build, "/Col")->id, hash64("/Col", 4, 0));
	/* An unchanged tree is left alone. */
	assert_int_equal(tree_fix_ids(f->build), 0);
	assert_int_equal(b->id, hash64("/Col/B.mkv", 10, 1));
}

static void test_parse_time(void **state)
{
	struct {
		const char *in;
		int want_r;
		int64_t want;
	} cases[] = {
	    {"1703808000", 0, 1703808000LL * 1000000000},
	    {"1703808000000", 0, 1703808000LL * 1000000000},
	    {"1703808000.5", 0, 1703808000LL * 1000000000 + 500000000},
	    {"1703808000000000", 0, 1703808000LL * 1000000000},
	    {"2023-12-29T00:00:00Z", 0, 1703808000LL * 1000000000},
	    {"2023-12-29T00:00:00.250Z", 0, 1703808000LL * 1000000000 + 250000000},
	    {"2023-12-29T01:00:00+01:00", 0, 1703808000LL * 1000000000},
	    {"2023-12-29 00:00:00", 0, 1703808000LL * 1000000000},
	    {"2024-02-29T00:00:00Z", 0, 1709164800LL * 1000000000},
	    {"1969-12-31T23:59:59Z", 0, -1000000000LL},
	    {"1900-01-01T00:00:00Z", 0, -2208988800LL * 1000000000},
	    {"2262-04-11T23:47:15Z", 0, 9223372035LL * 1000000000},
	    {"9223372035", 0, 9223372035LL * 1000000000},
	    {"9223372036853", 0, 9223372036853LL * 1000000},
	    {"9223372036854775", 0, 9223372036854775LL * 1000},
	    {"9223372036854775807", 0, INT64_MAX},
	    /* Out of range: signed overflow or a wrap before. */
	    {"2262-04-11T23:47:17Z", -ERANGE, 0},
	    {"2263-01-01T00:00:00Z", -ERANGE, 0},
	    {"9999-12-31T23:59:59Z", -ERANGE, 0},
	    {"1677-01-01T00:00:00Z", -ERANGE, 0},
	    {"0000-01-01T00:00:00Z", -ERANGE, 0},
	    {"9999999999", -ERANGE, 0},
	    {"9223372037", -ERANGE, 0},
	    {"99999999999999", -ERANGE, 0},
	    {"99999999999999999", -ERANGE, 0},
	    {"9223372036854775808", -ERANGE, 0},
	    {"99999999999999999999999", -ERANGE, 0},
	    /* Not a time. */
	    {"", -EINVAL, 0},
	    {"yesterday", -EINVAL, 0},
	    {"12abc", -EINVAL, 0},
	    {"-5", -EINVAL, 0},
	    {"2023-13-29T00:00:00Z", -EINVAL, 0},
	    {"2023-02-30T00:00:00Z", -EINVAL, 0},
	    {"2023-02-29T00:00:00Z", -EINVAL, 0},
	    {"2023-12-29T24:00:00Z", -EINVAL, 0},
	    {"2023-12-29T00:00:00+25:00", -EINVAL, 0},
	    {"2023-12-29T00:00:00Zjunk", -EINVAL, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = 0;
		int r = tree_parse_time_ns(cases[i].in, strlen(cases[i].in), &got);

		if (r != cases[i].want_r || got != cases[i].want)
			fail_msg("\"%s\": expected %d/%lld, got %d/%lld", cases[i].in,
			         cases[i].want_r, (long long)cases[i].want, r, (long long)got);
	}
}

/*
 * tree_build_next() reading records one at a time from a scratch record whose
 * bytes are scribbled over before every next record: the build must keep no
 * pointer into a record it was given.
 */
struct scratch_iter {
	const struct record *const *src;
	size_t count, next;
	struct record rec;
	struct strview *vals;
	uint32_t nvals;
	char buf[4096];
};

static const struct record *scratch_next(void *ctx)
{
	struct scratch_iter *it = ctx;
	const struct record *from;
	size_t used = 0;

	memset(it->buf, 'X', sizeof(it->buf));
	if (it->next == it->count)
		return NULL;
	from = it->src[it->next++];
	memcpy(it->buf, from->hash_id.ptr, from->hash_id.len);
	it->rec.hash_id = (struct strview){it->buf, from->hash_id.len};
	used = from->hash_id.len;
	for (uint32_t k = 0; k < it->nvals; k++) {
		it->vals[k] = (struct strview){NULL, 0};
		if (from->values[k].ptr == NULL)
			continue;
		assert_true(used + from->values[k].len <= sizeof(it->buf));
		memcpy(it->buf + used, from->values[k].ptr, from->values[k].len);
		it->vals[k] = (struct strview){it->buf + used, from->values[k].len};
		used += from->values[k].len;
	}
	it->rec.values = it->vals;
	record_derive(&it->rec);
	return &it->rec;
}

static void expect_same_bytes(const char *what, const void *a, size_t alen, const void *b,
                              size_t blen)
{
	if (alen != blen)
		fail_msg("%s: expected %zu bytes, got %zu", what, alen, blen);
	if (alen > 0 && memcmp(a, b, alen) != 0)
		fail_msg("%s: expected the same bytes as tree_build(), got others", what);
}

static void test_build_next_matches_build(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"c", {"title=Same", "filePath=x/3.mkv", "size=3", "mtime=1700000000"}},
	    {"nopath", {"title=No path"}},
	    {"a", {"title=Same", "filePath=x/1.mkv", "size=1"}},
	    {"g", {"title=Deep", "group=G1", "filePath=y/deep.mkv", "ctime=1600000000"}},
	    {"dotdot", {"title=Up", "filePath=../etc/passwd"}},
	    {"sample", {"title=S", "filePath=x/movie-sample.mkv"}},
	    {"d", {"title=Same (2)", "filePath=x/4.mkv", "size=4"}},
	    {"h", {"title=Deeper", "group=G1", "filePath=y/deeper.avi"}},
	    {"b", {"title=Same", "filePath=x/2.mkv", "size=2"}},
	    {"o", {"filePath=z/other.iso"}},
	};
	const size_t n = sizeof(specs) / sizeof(specs[0]);
	struct scratch_iter it = {0};
	struct snapshot_build *b = NULL, *want;

	build(f, specs, n);
	want = f->build;
	it.src = f->ptrs;
	it.count = f->count;
	it.nvals = f->schema.count;
	it.vals = calloc(it.nvals, sizeof(*it.vals));
	assert_non_null(it.vals);
	assert_int_equal(tree_build_next(f->rules, &f->schema, scratch_next, &it, &b), 0);
	assert_int_equal(it.next, n);
	expect_same_bytes("strings", want->strings, want->strings_size, b->strings,
	                  b->strings_size);
	expect_same_bytes("nodes", want->nodes, want->node_count * sizeof(*want->nodes), b->nodes,
	                  b->node_count * sizeof(*b->nodes));
	expect_same_bytes("props", want->props, want->prop_count * sizeof(*want->props), b->props,
	                  b->prop_count * sizeof(*b->props));
	expect_same_bytes("rules", want->rules, want->rule_count * sizeof(*want->rules), b->rules,
	                  b->rule_count * sizeof(*b->rules));
	expect_same_bytes("skips", want->skips, want->skip_count * sizeof(*want->skips), b->skips,
	                  b->skip_count * sizeof(*b->skips));
	expect_same_bytes("categories", want->categories,
	                  want->category_count * sizeof(*want->categories), b->categories,
	                  b->category_count * sizeof(*b->categories));
	assert_int_equal(b->files, 7);
	assert_int_equal(b->hidden, 1);
	assert_int_equal(b->skipped, 2);
	/* The examples are the skipped records' ids, copied before the scratch changed. */
	for (uint32_t i = 0; i < b->skip_count; i++) {
		const char *reason = str(b, b->skips[i].reason);
		const char *want_id =
		    strcmp(reason, TREE_SKIP_NO_FILE_PATH) == 0 ? "nopath" : "dotdot";

		if (strcmp(reason, TREE_NOTE_BAD_SIZE) == 0)
			continue; /* these records have no size: a note, not a skip */

		if (strcmp(str(b, b->skips[i].example), want_id) != 0)
			fail_msg("skip \"%s\": expected example \"%s\", got \"%s\"", reason,
			         want_id, str(b, b->skips[i].example));
	}
	/* Contested names were settled by the copied hash ids, as tree_build() does. */
	assert_int_equal(must_find(b, "/Col/Same.mkv")->size, 1);
	assert_int_equal(must_find(b, "/Col/Same (3).mkv")->size, 2);
	assert_int_equal(must_find(b, "/Col/Same (4).mkv")->size, 3);
	snapshot_build_free(b);
	free(it.vals);
}

/* Many records: the temporaries grow past their first mapping and the ids stay unique. */
static void test_build_next_large(void **state)
{
	struct fixture *f = *state;
	enum { N = 20000 };
	struct rec_spec *specs = calloc(N, sizeof(*specs));
	char(*text)[3][48] = calloc(N, sizeof(*text));
	struct scratch_iter it = {0};
	struct snapshot_build *b = NULL;

	assert_non_null(specs);
	assert_non_null(text);
	for (size_t i = 0; i < N; i++) {
		snprintf(text[i][0], sizeof(text[i][0]), "%08zx", i * 2654435761u % 100000007u);
		snprintf(text[i][1], sizeof(text[i][1]), "title=T%zu", i % 15000);
		snprintf(text[i][2], sizeof(text[i][2]), "group=G%zu", i % 700);
		specs[i].id = text[i][0];
		specs[i].props[0] = text[i][1];
		specs[i].props[1] = i % 3 ? text[i][2] : "size=1";
		specs[i].props[2] = "filePath=x/f.mkv";
	}
	build(f, specs, N);
	it.src = f->ptrs;
	it.count = f->count;
	it.nvals = f->schema.count;
	it.vals = calloc(it.nvals, sizeof(*it.vals));
	assert_int_equal(tree_build_next(f->rules, &f->schema, scratch_next, &it, &b), 0);
	assert_int_equal(b->files, N);
	expect_same_bytes("strings", f->build->strings, f->build->strings_size, b->strings,
	                  b->strings_size);
	expect_same_bytes("nodes", f->build->nodes, f->build->node_count * sizeof(*b->nodes),
	                  b->nodes, b->node_count * sizeof(*b->nodes));
	/* Every node is its parent's child, in the parent's range. */
	for (uint32_t i = 1; i < b->node_count; i++) {
		const struct snap_node *p = &b->nodes[b->nodes[i].parent];

		if (i < p->first_child || i >= p->first_child + p->child_count)
			fail_msg("node %u: expected within its parent's children, got outside", i);
	}
	snapshot_build_free(b);
	free(it.vals);
	free(specs);
	free(text);
}

struct nodes_dir {
	const char *dir;
	int calls;
};

static int nodes_into_file(void *ctx, uint32_t count, struct snap_node **nodes,
                           struct snapshot_file **file)
{
	struct nodes_dir *nd = ctx;

	nd->calls++;
	return snapshot_begin(nd->dir, "into", count, file, nodes);
}

static unsigned char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	FILE *fp;
	unsigned char *data;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	data = malloc((size_t)n);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	unlink(path);
	*len = (size_t)n;
	return data;
}

/* A build finished with its nodes in the new file writes the same bytes as a plain one. */
static void test_finish_into_file(void **state)
{
	struct fixture *f = *state;
	const struct rec_spec specs[] = {
	    {"c", {"title=Same", "filePath=x/3.mkv", "size=3", "mtime=1700000000"}},
	    {"a", {"title=Same", "filePath=x/1.mkv", "size=1"}},
	    {"g", {"title=Deep", "group=G1", "filePath=y/deep.mkv", "ctime=1600000000"}},
	    {"o", {"filePath=z/other.iso"}},
	};
	struct snapshot_kv_state kv = {.connected = true};
	char dir[] = "/tmp/mf-tree-XXXXXX";
	struct nodes_dir nd = {dir, 0};
	struct scratch_iter it = {0};
	struct tree_builder *tb;
	struct snapshot_build *b = NULL;
	const struct record *rec;
	unsigned char *want, *got;
	size_t want_len, got_len;

	assert_non_null(mkdtemp(dir));
	build(f, specs, 4);
	assert_int_equal(snapshot_write(f->build, &kv, 3, 1, dir, "plain"), 0);
	want = slurp(dir, "plain", &want_len);

	it.src = f->ptrs;
	it.count = f->count;
	it.nvals = f->schema.count;
	it.vals = calloc(it.nvals, sizeof(*it.vals));
	assert_int_equal(tree_builder_new(f->rules, &f->schema, &tb), 0);
	while ((rec = scratch_next(&it)) != NULL)
		assert_int_equal(tree_builder_add(tb, rec), 0);
	assert_int_equal(tree_builder_finish_into(tb, nodes_into_file, &nd, &b), 0);
	assert_int_equal(nd.calls, 1);
	assert_non_null(b->file);
	assert_int_equal(snapshot_write(b, &kv, 3, 1, NULL, NULL), 0);
	snapshot_build_free(b);
	got = slurp(dir, "into", &got_len);
	expect_same_bytes("file", want, want_len, got, got_len);
	free(want);
	free(got);
	free(it.vals);
	assert_int_equal(rmdir(dir), 0);
}

static void test_empty_input(void **state)
{
	struct fixture *f = *state;

	build(f, NULL, 0);
	assert_int_equal(f->build->node_count, 1);
	assert_int_equal(f->build->files, 0);
	assert_int_equal(f->build->directories, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_inception_example, setup_default_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_ids_hash_the_path, setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_ids_stable_across_builds, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_collisions_get_suffixes_in_hash_id_order,
	                                    setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_long_names_sharing_a_prefix, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_collisions_independent_of_input_order,
	                                    setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_values_never_create_directories, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_file_and_directory_same_name, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_skipped_and_hidden_are_counted, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_directory_times_come_from_content,
	                                    setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_breadth_first_sorted_layout, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_through_reader, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_colliding_ids_are_rehashed, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test_setup_teardown(test_unusable_sizes_and_times, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_many_same_names, setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_measured_sizes, setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_input, setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_build_next_matches_build, setup_test_rules,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_build_next_large, setup_test_rules, teardown),
	    cmocka_unit_test_setup_teardown(test_finish_into_file, setup_test_rules, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
