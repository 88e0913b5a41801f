/*
 * Unit tests for tree_patch (lib/tree_patch.c), differential: tree_build() is the
 * oracle.  A random library goes through thousands of random batches of adds,
 * updates and removes (contested names, names that look like " (n)" variants,
 * files moving between directories, directories emptied, records becoming
 * hidden or skipped and back); after each batch the patched tree must equal a
 * full build of all records node for node and in every statistic.  Patches are
 * chained: each patches the snapshot of the previous patch.
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
#include <libconfig.h>

#include "names.h"
#include "snapshot.h"
#include "tree.h"

#define SLOTS     160
#define VAL_MAX   96
#define BATCH_MAX 6

static const char test_rules[] =
    "rules = ("
    " { name = \"hide-samples\"; priority = 90; hide = true;"
    "   when = { property = \"fileName\"; op = \"contains\"; value = \"sample\"; }; },"
    " { name = \"nested\"; priority = 60; template = \"/Col/{group}/{title}.{extension}\";"
    "   when = { property = \"group\"; op = \"exists\"; }; },"
    " { name = \"flat\"; priority = 50; template = \"/Col/{title}.{extension}\"; },"
    " { name = \"catch-all\"; priority = 0; template = \"/Other/{fileName}\"; }"
    ");";

/* One record of the library: its own copies of the values. */
struct slot {
	bool present;
	char id[16];
	char buf[48][VAL_MAX];
	struct strview *values;
	struct record rec;
};

struct world {
	struct schema schema;
	struct rules *rules;
	struct slot slots[SLOTS];
	char dir[64];
	unsigned seed;
	int group, title;
	bool same_names; /* most files render to one name in one folder */
	uint64_t patched, declined;
};

static unsigned rnd(struct world *w, unsigned n)
{
	w->seed = w->seed * 1103515245u + 12345u;
	return (w->seed >> 8) % n;
}

static void set(struct world *w, struct slot *s, uint32_t idx, const char *v)
{
	(void)w;
	if (v == NULL) {
		s->values[idx] = (struct strview){NULL, 0};
		return;
	}
	snprintf(s->buf[idx], VAL_MAX, "%s", v);
	s->values[idx] = (struct strview){s->buf[idx], (uint32_t)strlen(s->buf[idx])};
}

/* A random size and mtime. */
static void set_size_time(struct world *w, struct slot *s)
{
	char v[VAL_MAX];

	snprintf(v, sizeof(v), "%u", rnd(w, 5000));
	set(w, s, PROP_SIZE, v);
	snprintf(v, sizeof(v), "%u", 1600000000u + rnd(w, 1000000));
	set(w, s, PROP_MTIME, v);
}

/*
 * Most files render to /Col/Dup.mkv, a few to a directory of that name (which
 * keeps the name: every file of the run is suffixed), to a directory or a file
 * named like one of the variants, or elsewhere.
 */
static void randomize_same(struct world *w, struct slot *s)
{
	static const char *const titles[] = {"Dup", "Dup", "Dup", "Dup", "Dup", "Dup", "Solo"};
	static const char *const groups[] = {"Dup.mkv", "Dup (3).mkv", "G"};
	char v[VAL_MAX];

	for (uint32_t i = 0; i < w->schema.count; i++)
		s->values[i] = (struct strview){NULL, 0};
	snprintf(v, sizeof(v), "d/x%u.mkv", rnd(w, 4));
	set(w, s, PROP_FILE_PATH, v);
	if (rnd(w, 40) == 0)
		set(w, s, (uint32_t)w->title, "Dup (2)");
	else if (rnd(w, 20) != 0)
		set(w, s, (uint32_t)w->title, titles[rnd(w, 7)]);
	if (rnd(w, 12) == 0)
		set(w, s, (uint32_t)w->group, groups[rnd(w, 3)]);
	set_size_time(w, s);
	record_derive(&s->rec);
}

static void randomize(struct world *w, struct slot *s)
{
	static const char *const titles[] = {"Alpha", "Beta",     "Alpha (2)", "Gamma (3)",
	                                     "Delta", "Beta (2)", "G1",        "Alpha (3)"};
	static const char *const groups[] = {"G1", "G2", "Alpha", "Beta (2)"};
	static const char *const exts[] = {"mkv", "avi", "mkv", "mp4"};
	char v[VAL_MAX];
	unsigned k;

	if (w->same_names) {
		randomize_same(w, s);
		return;
	}
	k = rnd(w, 100);
	for (uint32_t i = 0; i < w->schema.count; i++)
		s->values[i] = (struct strview){NULL, 0};
	if (k < 4) {
		/* no filePath */
	} else if (k < 7) {
		set(w, s, PROP_FILE_PATH, "../evil.mkv");
	} else {
		static const char *const stems[] = {"f", "f", "f", "sample-", ".f"};
		static const char *const tails[] = {"", "", "", " (2)", " (3)"};
		unsigned e = rnd(w, 5);

		/* Without an extension (e == 4) a " (n)" suffix goes at the end. */
		snprintf(v, sizeof(v), "d%u/%s%u%s%s%s", rnd(w, 4), stems[rnd(w, 5)], rnd(w, 6),
		         tails[rnd(w, 5)], e < 4 ? "." : "", e < 4 ? exts[e] : "");
		set(w, s, PROP_FILE_PATH, v);
	}
	if (rnd(w, 10) != 0)
		set(w, s, (uint32_t)w->title, titles[rnd(w, 8)]);
	if (rnd(w, 2) == 0)
		set(w, s, (uint32_t)w->group, groups[rnd(w, 4)]);
	set_size_time(w, s);
	/* Hostile values: kept files without a size or a time, counted as notes. */
	if (rnd(w, 12) == 0) {
		static const char *const bad_sizes[] = {"", "-1", "12kB", "9223372036854775808"};

		set(w, s, PROP_SIZE, bad_sizes[rnd(w, 4)]);
	}
	if (rnd(w, 12) == 0) {
		static const char *const bad_times[] = {"9999999999", "2300-01-01T00:00:00Z",
		                                        "soon", "4102444800"};

		set(w, s, PROP_MTIME, bad_times[rnd(w, 4)]);
	}
	if (rnd(w, 3) == 0) {
		snprintf(v, sizeof(v), "%u", 1500000000u + rnd(w, 1000000));
		set(w, s, PROP_CTIME, v);
	}
	record_derive(&s->rec);
}

/* A record with its own copy of the values (the old version of a change). */
struct copy {
	struct record rec;
	struct strview *values;
	char *bytes;
};

static void copy_record(struct world *w, const struct slot *s, struct copy *c)
{
	size_t total = strlen(s->id) + 1, off;

	for (uint32_t i = 0; i < w->schema.count; i++)
		total += s->values[i].len + 1;
	c->bytes = malloc(total);
	c->values = calloc(w->schema.count, sizeof(*c->values));
	assert_non_null(c->bytes);
	assert_non_null(c->values);
	memcpy(c->bytes, s->id, strlen(s->id) + 1);
	c->rec.hash_id = (struct strview){c->bytes, (uint32_t)strlen(s->id)};
	off = strlen(s->id) + 1;
	for (uint32_t i = 0; i < w->schema.count; i++) {
		if (s->values[i].ptr == NULL)
			continue;
		memcpy(c->bytes + off, s->values[i].ptr, s->values[i].len);
		c->values[i] = (struct strview){c->bytes + off, s->values[i].len};
		off += s->values[i].len + 1;
	}
	c->rec.values = c->values;
}

static const struct record *lookup(void *ctx, const char *id, size_t len)
{
	struct world *w = ctx;

	for (size_t i = 0; i < SLOTS; i++)
		if (w->slots[i].present && strlen(w->slots[i].id) == len &&
		    memcmp(w->slots[i].id, id, len) == 0)
			return &w->slots[i].rec;
	return NULL;
}

/*
 * Set: builds and patches measure sizes with measure_path(), a function of the
 * filePath alone (a quarter of the sources are missing, a quarter have the size
 * the KV store claims, the rest another one); corrected counts the patches'.
 */
static bool measuring;
static uint64_t corrected;

static int measure_path(void *ctx, const struct record *rec, uint64_t *ret)
{
	const struct strview *v = &rec->values[PROP_FILE_PATH];
	uint64_t h = 1469598103934665603ull;

	(void)ctx;
	for (uint32_t i = 0; i < v->len; i++)
		h = (h ^ (unsigned char)v->ptr[i]) * 1099511628211ull;
	switch (h % 4) {
	case 0:
		return -ENOENT;
	case 1:
		*ret =
		    rec->values[PROP_SIZE].ptr ? strtoull(rec->values[PROP_SIZE].ptr, NULL, 10) : 0;
		return 0;
	default:
		*ret = h % 7919;
		return 0;
	}
}

static struct snapshot_build *full_build(struct world *w)
{
	struct tree_sizes sizes = {.measure = measure_path};
	struct snapshot_build *b = NULL;
	struct tree_builder *tb;

	assert_int_equal(tree_builder_new(w->rules, &w->schema, &tb), 0);
	if (measuring)
		tree_builder_set_sizes(tb, &sizes);
	for (size_t i = 0; i < SLOTS; i++)
		if (w->slots[i].present)
			assert_int_equal(tree_builder_add(tb, &w->slots[i].rec), 0);
	assert_int_equal(tree_builder_finish(tb, &b), 0);
	return b;
}

static struct snapshot *to_snapshot(struct world *w, const struct snapshot_build *b)
{
	struct snapshot_kv_state kv = {.connected = true};
	struct snapshot *s = NULL;
	char path[128], err[256];
	int r;

	r = snapshot_write(b, &kv, 1, 1, w->dir, "t.snapshot");
	if (r < 0)
		fail_msg("snapshot_write: expected 0, got %d", r);
	snprintf(path, sizeof(path), "%s/t.snapshot", w->dir);
	if (snapshot_open(path, &s, err, sizeof(err)) < 0)
		fail_msg("snapshot_open: expected 0, got an error: %s", err);
	return s;
}

static const char *bstr(const struct snapshot_build *b, struct snap_str s)
{
	return snapshot_build_str(b, s);
}

#define SAME_NUM(what, a, b)                                                        \
	do {                                                                        \
		if ((uint64_t)(a) != (uint64_t)(b))                                 \
			fail_msg("%s (%s): expected %llu, got %llu", what, ctx,     \
			         (unsigned long long)(b), (unsigned long long)(a)); \
	} while (0)

#define SAME_STR(what, pa, sa, pb, sb)                                                            \
	do {                                                                                      \
		if ((sa).len != (sb).len || strcmp(bstr(pa, sa), bstr(pb, sb)) != 0)              \
			fail_msg("%s (%s): expected \"%s\", got \"%s\"", what, ctx, bstr(pb, sb), \
			         bstr(pa, sa));                                                   \
	} while (0)

/* a (patched) must equal b (built). */
static void compare(const struct snapshot_build *a, const struct snapshot_build *b, const char *ctx)
{
	SAME_NUM("node count", a->node_count, b->node_count);
	for (uint32_t i = 0; i < b->node_count; i++) {
		const struct snap_node *x = &a->nodes[i], *y = &b->nodes[i];
		char what[64];

		snprintf(what, sizeof(what), "node %u \"%s\"", i, bstr(b, y->name));
		SAME_STR(what, a, x->name, b, y->name);
		SAME_NUM(what, x->id, y->id);
		SAME_NUM(what, x->type, y->type);
		SAME_NUM(what, x->flags, y->flags);
		SAME_NUM(what, x->size, y->size);
		SAME_NUM(what, x->mtime_ns, y->mtime_ns);
		SAME_NUM(what, x->ctime_ns, y->ctime_ns);
		SAME_NUM(what, x->parent, y->parent);
		SAME_NUM(what, x->first_child, y->first_child);
		SAME_NUM(what, x->child_count, y->child_count);
		SAME_STR(what, a, x->source, b, y->source);
		SAME_STR(what, a, x->hash_id, b, y->hash_id);
		SAME_NUM(what, x->rule, y->rule);
		SAME_NUM(what, x->prop_count, y->prop_count);
		for (uint32_t k = 0; k < y->prop_count; k++) {
			const struct snap_prop *pa = snapshot_build_prop(a, x->prop_first + k);
			const struct snap_prop *pb = snapshot_build_prop(b, y->prop_first + k);

			SAME_STR(what, a, pa->key, b, pb->key);
			SAME_STR(what, a, pa->value, b, pb->value);
		}
	}
	SAME_NUM("files", a->files, b->files);
	SAME_NUM("directories", a->directories, b->directories);
	SAME_NUM("total bytes", a->total_bytes, b->total_bytes);
	SAME_NUM("skipped", a->skipped, b->skipped);
	SAME_NUM("hidden", a->hidden, b->hidden);
	SAME_NUM("rule count", a->rule_count, b->rule_count);
	for (uint32_t i = 0; i < b->rule_count; i++) {
		SAME_STR("rule name", a, a->rules[i].name, b, b->rules[i].name);
		SAME_NUM("rule files", a->rules[i].files, b->rules[i].files);
		SAME_NUM("rule hidden", a->rules[i].hidden, b->rules[i].hidden);
	}
	SAME_NUM("category count", a->category_count, b->category_count);
	for (uint32_t i = 0; i < b->category_count; i++) {
		SAME_STR("category", a, a->categories[i].name, b, b->categories[i].name);
		SAME_NUM("category files", a->categories[i].files, b->categories[i].files);
		SAME_NUM("category bytes", a->categories[i].bytes, b->categories[i].bytes);
	}
	SAME_NUM("skip count", a->skip_count, b->skip_count);
	for (uint32_t i = 0; i < b->skip_count; i++) {
		SAME_STR("skip reason", a, a->skips[i].reason, b, b->skips[i].reason);
		SAME_NUM("skip records", a->skips[i].count, b->skips[i].count);
		/* The example is one such record; tree_build() takes the first in order. */
		if (b->skips[i].count == 1)
			SAME_STR("skip example", a, a->skips[i].example, b, b->skips[i].example);
	}
}

static void world_init(struct world *w, unsigned seed, bool default_rules)
{
	char err[256];

	memset(w, 0, sizeof(*w));
	w->seed = seed;
	assert_int_equal(schema_init(&w->schema), 0);
	w->group = schema_intern(&w->schema, "group", 5);
	w->title = schema_intern(&w->schema, "title", 5);
	assert_true(w->group >= 0 && w->title >= 0);
	if (default_rules) {
		if (rules_default(&w->schema, &w->rules, err, sizeof(err)) < 0)
			fail_msg("rules_default: %s", err);
	} else {
		config_t cf;

		config_init(&cf);
		assert_int_equal(config_read_string(&cf, test_rules), CONFIG_TRUE);
		if (rules_from_setting(config_lookup(&cf, "rules"), &w->schema, &w->rules, err,
		                       sizeof(err)) < 0)
			fail_msg("test rules do not compile: %s", err);
		config_destroy(&cf);
	}
	assert_true(w->schema.count <= 48);
	snprintf(w->dir, sizeof(w->dir), "/tmp/mf-test-tree-patch.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &w->slots[i];

		snprintf(s->id, sizeof(s->id), "h%03zx", (i * 37) % SLOTS + 0x100);
		s->values = calloc(w->schema.count, sizeof(*s->values));
		assert_non_null(s->values);
		s->rec.hash_id = (struct strview){s->id, (uint32_t)strlen(s->id)};
		s->rec.values = s->values;
	}
}

static void world_free(struct world *w)
{
	char path[128];

	for (size_t i = 0; i < SLOTS; i++)
		free(w->slots[i].values);
	rules_free(w->rules);
	schema_free(&w->schema);
	snprintf(path, sizeof(path), "%s/t.snapshot", w->dir);
	unlink(path);
	rmdir(w->dir);
}

/* rounds x batches; the library starts with `start` records. */
static void run(unsigned seed, bool default_rules, bool same_names, unsigned rounds,
                unsigned batches, size_t start)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	world_init(w, seed, default_rules);
	w->same_names = same_names;
	for (unsigned round = 0; round < rounds; round++) {
		struct snapshot_build *cur;
		struct snapshot *old, *next;

		for (size_t i = 0; i < SLOTS; i++) {
			w->slots[i].present = rnd(w, SLOTS) < start;
			if (w->slots[i].present)
				randomize(w, &w->slots[i]);
		}
		cur = full_build(w);
		old = to_snapshot(w, cur);
		snapshot_build_free(cur);
		for (unsigned batch = 0; batch < batches; batch++) {
			struct tree_change changes[BATCH_MAX];
			struct copy copies[BATCH_MAX];
			bool used[SLOTS] = {false};
			size_t n = 1 + rnd(w, BATCH_MAX), nc = 0;
			struct snapshot_build *patched = NULL, *built;
			char ctx[96];
			int r;

			for (size_t k = 0; k < n; k++) {
				size_t i = rnd(w, SLOTS);
				struct slot *s = &w->slots[i];

				if (used[i])
					continue;
				used[i] = true;
				memset(&copies[nc], 0, sizeof(copies[nc]));
				changes[nc].old = NULL;
				if (s->present) {
					copy_record(w, s, &copies[nc]);
					changes[nc].old = &copies[nc].rec;
				}
				if (s->present && rnd(w, 3) == 0) {
					s->present = false;
					changes[nc].new = NULL;
				} else {
					s->present = true;
					randomize(w, s);
					changes[nc].new = &s->rec;
				}
				nc++;
			}
			snprintf(ctx, sizeof(ctx), "seed %u round %u batch %u", seed, round, batch);
			if (measuring) {
				struct tree_sizes sizes = {.measure = measure_path};

				r = tree_patch_into(old, w->rules, &w->schema, changes, nc, lookup,
				                    w, NULL, NULL, &sizes, &patched);
				corrected += r == 0 ? sizes.corrected : 0;
			} else {
				r = tree_patch(old, w->rules, &w->schema, changes, nc, lookup, w,
				               &patched);
			}
			for (size_t k = 0; k < nc; k++) {
				free(copies[k].bytes);
				free(copies[k].values);
			}
			built = full_build(w);
			if (r == -EAGAIN) {
				w->declined++;
				patched = built;
				built = NULL;
			} else {
				if (r != 0)
					fail_msg("tree_patch (%s): expected 0, got %d", ctx, r);
				w->patched++;
				compare(patched, built, ctx);
				snapshot_build_free(built);
			}
			/* A patched build borrows from old: write it before old goes. */
			next = to_snapshot(w, patched);
			snapshot_build_free(patched);
			snapshot_free(old);
			old = next;
		}
		snapshot_free(old);
	}
	print_message("seed %u: %llu batches patched, %llu declined\n", seed,
	              (unsigned long long)w->patched, (unsigned long long)w->declined);
	/* Declines are for rare cases (a lost skip example); most batches patch. */
	if (w->declined * 5 > w->patched)
		fail_msg("declined: expected at most %llu, got %llu",
		         (unsigned long long)(w->patched / 5), (unsigned long long)w->declined);
	world_free(w);
	free(w);
}

static void test_patch_equals_build_test_rules(void **state)
{
	(void)state;
	run(1, false, false, 20, 150, SLOTS / 2);
	run(2, false, false, 10, 150, SLOTS / 8);
	run(3, false, false, 10, 100, SLOTS);
}

static void test_patch_equals_build_default_rules(void **state)
{
	(void)state;
	run(4, true, false, 10, 150, SLOTS / 2);
}

/*
 * Sizes measured from the sources: a patch measures the files it places and keeps
 * the others' as the previous tree has them, for the tree a build measuring every
 * file makes.
 */
static void test_patch_equals_build_measured(void **state)
{
	(void)state;
	measuring = true;
	corrected = 0;
	run(5, false, false, 10, 150, SLOTS / 2);
	run(6, false, true, 5, 100, SLOTS / 2);
	measuring = false;
	if (corrected == 0)
		fail_msg("expected patches to correct sizes, got %llu",
		         (unsigned long long)corrected);
}

/* One run of names in one folder: a patch redoes only the groups it touches. */
static void test_patch_equals_build_same_names(void **state)
{
	(void)state;
	run(5, false, true, 20, 150, SLOTS / 2);
	run(6, false, true, 10, 150, SLOTS);
}

/* An empty delta copies the tree; a delta that does not match the tree declines. */
static void test_patch_edges(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct snapshot_build *b, *p = NULL;
	struct snapshot *old;
	struct tree_change ch;
	struct slot ghost = {0};
	char ctx[] = "edges";
	int r;

	(void)state;
	assert_non_null(w);
	world_init(w, 7, false);
	for (size_t i = 0; i < SLOTS; i += 2) {
		w->slots[i].present = true;
		randomize(w, &w->slots[i]);
	}
	b = full_build(w);
	old = to_snapshot(w, b);
	r = tree_patch(old, w->rules, &w->schema, NULL, 0, lookup, w, &p);
	if (r != 0)
		fail_msg("empty delta: expected 0, got %d", r);
	compare(p, b, ctx);
	snapshot_build_free(p);
	p = NULL;

	/* A removal of a placed record the tree does not hold. */
	ghost.values = calloc(w->schema.count, sizeof(*ghost.values));
	assert_non_null(ghost.values);
	snprintf(ghost.id, sizeof(ghost.id), "zz-ghost");
	ghost.rec.hash_id = (struct strview){ghost.id, 8};
	ghost.rec.values = ghost.values;
	set(w, &ghost, PROP_FILE_PATH, "d1/f1.mkv");
	set(w, &ghost, (uint32_t)w->title, "Alpha");
	record_derive(&ghost.rec);
	ch = (struct tree_change){.old = &ghost.rec, .new = NULL};
	r = tree_patch(old, w->rules, &w->schema, &ch, 1, lookup, w, &p);
	if (r != -EAGAIN)
		fail_msg("unknown old record: expected %d, got %d", -EAGAIN, r);
	assert_null(p);

	/* More changes than a patch takes. */
	r = tree_patch(old, w->rules, &w->schema, &ch, TREE_PATCH_MAX + 1, lookup, w, &p);
	if (r != -EAGAIN)
		fail_msg("oversized delta: expected %d, got %d", -EAGAIN, r);
	free(ghost.values);
	snapshot_free(old);
	snapshot_build_free(b);
	world_free(w);
	free(w);
}

/*
 * Disc rips without a title: thousands of files with one rendered name in one
 * folder, and a few whose own name looks like a variant.  Names go by hash-id
 * rank, skipping the natural ones; patches (remove the first, add one in the
 * middle, update one, remove a natural) equal a full build each time.
 */
#define DUPS 10000

struct dups {
	struct world *w;
	char (*ids)[32];
	char (*paths)[300];
	struct strview *values;
	struct record *recs;
	bool *present;
	size_t n;
};

static const struct record *dups_lookup(void *ctx, const char *id, size_t len)
{
	struct dups *d = ctx;

	for (size_t i = 0; i < d->n; i++)
		if (d->present[i] && strlen(d->ids[i]) == len && memcmp(d->ids[i], id, len) == 0)
			return &d->recs[i];
	return NULL;
}

static struct snapshot_build *dups_build(struct dups *d)
{
	const struct record **ptrs = calloc(d->n, sizeof(*ptrs));
	struct snapshot_build *b = NULL;
	size_t n = 0;

	assert_non_null(ptrs);
	for (size_t i = d->n; i-- > 0;) /* reversed: the order must not matter */
		if (d->present[i])
			ptrs[n++] = &d->recs[i];
	assert_int_equal(tree_build(d->w->rules, &d->w->schema, ptrs, n, &b), 0);
	free(ptrs);
	return b;
}

static void dups_set(struct dups *d, size_t i, const char *path, const char *size)
{
	struct strview *v = &d->values[i * d->w->schema.count];

	snprintf(d->paths[i], sizeof(d->paths[i]), "%s", path);
	memset(v, 0, d->w->schema.count * sizeof(*v));
	v[PROP_FILE_PATH] = (struct strview){d->paths[i], (uint32_t)strlen(d->paths[i])};
	v[PROP_SIZE] = (struct strview){size, (uint32_t)strlen(size)};
	d->recs[i].hash_id = (struct strview){d->ids[i], (uint32_t)strlen(d->ids[i])};
	d->recs[i].values = v;
	record_derive(&d->recs[i]);
}

static void expect_name(const struct snapshot_build *b, const char *path, const char *want_id)
{
	const struct snap_node *n = NULL;
	uint32_t cur = 0;
	const char *s = path + 1;

	while (*s != '\0') {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		const struct snap_node *dir = &b->nodes[cur];

		n = NULL;
		for (uint32_t k = 0; k < dir->child_count; k++) {
			const struct snap_node *c = &b->nodes[dir->first_child + k];

			if (c->name.len == len && memcmp(bstr(b, c->name), s, len) == 0)
				n = c;
		}
		if (n == NULL)
			fail_msg("%s: expected a node, got none", path);
		cur = (uint32_t)(n - b->nodes);
		s += len + (slash != NULL);
	}
	if (strcmp(bstr(b, n->hash_id), want_id) != 0)
		fail_msg("%s: expected %s, got %s", path, want_id, bstr(b, n->hash_id));
}

static void dups_patch(struct dups *d, struct snapshot **old, struct tree_change *ch, size_t nc,
                       const char *ctx)
{
	struct snapshot_build *patched = NULL, *built = dups_build(d);
	struct snapshot *next;
	int r = tree_patch(*old, d->w->rules, &d->w->schema, ch, nc, dups_lookup, d, &patched);

	if (r != 0)
		fail_msg("tree_patch (%s): expected 0, got %d", ctx, r);
	compare(patched, built, ctx);
	snapshot_build_free(built);
	next = to_snapshot(d->w, patched);
	snapshot_build_free(patched);
	snapshot_free(*old);
	*old = next;
}

static void test_patch_many_same_names(void **state)
{
	struct dups d = {0};
	struct snapshot_build *b;
	struct snapshot *old;
	struct tree_change ch;
	struct record saved;
	struct strview saved_values[64];

	(void)state;
	d.w = calloc(1, sizeof(*d.w));
	assert_non_null(d.w);
	world_init(d.w, 9, false);
	d.n = DUPS + 3;
	d.ids = calloc(d.n, sizeof(*d.ids));
	d.paths = calloc(d.n, sizeof(*d.paths));
	d.values = calloc(d.n * d.w->schema.count, sizeof(*d.values));
	d.recs = calloc(d.n, sizeof(*d.recs));
	d.present = calloc(d.n, sizeof(*d.present));
	assert_true(d.ids && d.paths && d.values && d.recs && d.present);
	assert_true(d.w->schema.count <= 64);
	for (size_t i = 0; i < DUPS; i++) {
		snprintf(d.ids[i], sizeof(d.ids[i]), "dup%06zu", i);
		dups_set(&d, i, "BDMV/STREAM/00000.m2ts", "100");
		d.present[i] = true;
	}
	/* Files whose own names are variants: the ranks skip them. */
	snprintf(d.ids[DUPS], sizeof(d.ids[DUPS]), "nat-a");
	dups_set(&d, DUPS, "x/00000 (3).m2ts", "1");
	snprintf(d.ids[DUPS + 1], sizeof(d.ids[DUPS + 1]), "nat-b");
	dups_set(&d, DUPS + 1, "x/00000 (7).m2ts", "2");
	d.present[DUPS] = d.present[DUPS + 1] = true;
	snprintf(d.ids[DUPS + 2], sizeof(d.ids[DUPS + 2]), "dup005000x");
	dups_set(&d, DUPS + 2, "BDMV/STREAM/00000.m2ts", "5");

	b = dups_build(&d);
	assert_int_equal(b->files, DUPS + 2);
	expect_name(b, "/Other/00000.m2ts", "dup000000");
	expect_name(b, "/Other/00000 (2).m2ts", "dup000001");
	expect_name(b, "/Other/00000 (3).m2ts", "nat-a");
	expect_name(b, "/Other/00000 (4).m2ts", "dup000002");
	expect_name(b, "/Other/00000 (8).m2ts", "dup000005");
	expect_name(b, "/Other/00000 (10002).m2ts", "dup009999");
	old = to_snapshot(d.w, b);
	snapshot_build_free(b);

	/* The first of the run goes: every later one moves up a rank. */
	saved = d.recs[0];
	memcpy(saved_values, saved.values, d.w->schema.count * sizeof(*saved_values));
	saved.values = saved_values;
	d.present[0] = false;
	ch = (struct tree_change){.old = &saved, .new = NULL};
	dups_patch(&d, &old, &ch, 1, "remove the first");

	/* One arrives in the middle of the hash-id order. */
	d.present[DUPS + 2] = true;
	ch = (struct tree_change){.old = NULL, .new = &d.recs[DUPS + 2]};
	dups_patch(&d, &old, &ch, 1, "add in the middle");

	/* One changes its size only. */
	saved = d.recs[1234];
	memcpy(saved_values, saved.values, d.w->schema.count * sizeof(*saved_values));
	saved.values = saved_values;
	dups_set(&d, 1234, "BDMV/STREAM/00000.m2ts", "7");
	ch = (struct tree_change){.old = &saved, .new = &d.recs[1234]};
	dups_patch(&d, &old, &ch, 1, "update one");

	/* A natural variant goes: its rank is free again. */
	saved = d.recs[DUPS];
	memcpy(saved_values, saved.values, d.w->schema.count * sizeof(*saved_values));
	saved.values = saved_values;
	d.present[DUPS] = false;
	ch = (struct tree_change){.old = &saved, .new = NULL};
	dups_patch(&d, &old, &ch, 1, "remove a natural variant");

	snapshot_free(old);
	free(d.ids);
	free(d.paths);
	free(d.values);
	free(d.recs);
	free(d.present);
	world_free(d.w);
	free(d.w);
}

/*
 * Long same-name files: their " (n)" shortens the stem, by one byte more from
 * (10) on, so the names sort apart from their numbers.  Patches still equal a
 * full build.
 */
static void test_patch_long_same_names(void **state)
{
	enum { N = 40 };
	struct dups d = {0};
	struct snapshot_build *b;
	struct snapshot *old;
	struct tree_change ch;
	struct record saved;
	struct strview saved_values[64];
	char path[300];

	(void)state;
	d.w = calloc(1, sizeof(*d.w));
	assert_non_null(d.w);
	world_init(d.w, 11, false);
	d.n = N;
	d.ids = calloc(d.n, sizeof(*d.ids));
	d.paths = calloc(d.n, sizeof(*d.paths));
	d.values = calloc(d.n * d.w->schema.count, sizeof(*d.values));
	d.recs = calloc(d.n, sizeof(*d.recs));
	d.present = calloc(d.n, sizeof(*d.present));
	assert_true(d.ids && d.paths && d.values && d.recs && d.present);
	memcpy(path, "x/", 2);
	memset(path + 2, 'L', 247);
	memcpy(path + 249, ".mkv", 5); /* a 251-byte name */
	for (size_t i = 0; i < N; i++) {
		snprintf(d.ids[i], sizeof(d.ids[i]), "long%03zu", i);
		dups_set(&d, i, path, "1");
		d.present[i] = i + 1 < N;
	}
	/* One whose own name is what (5) of the others would be. */
	{
		char name[300];
		int len = names_add_suffix(path + 2, 251, 5, name, sizeof(name));

		assert_true(len > 0);
		memcpy(path, "y/", 2);
		memcpy(path + 2, name, (size_t)len + 1);
		dups_set(&d, N - 1, path, "2");
	}
	b = dups_build(&d);
	old = to_snapshot(d.w, b);
	snapshot_build_free(b);

	saved = d.recs[0];
	memcpy(saved_values, saved.values, d.w->schema.count * sizeof(*saved_values));
	saved.values = saved_values;
	d.present[0] = false;
	ch = (struct tree_change){.old = &saved, .new = NULL};
	dups_patch(&d, &old, &ch, 1, "long: remove the first");

	d.present[N - 1] = true;
	ch = (struct tree_change){.old = NULL, .new = &d.recs[N - 1]};
	dups_patch(&d, &old, &ch, 1, "long: add a variant's name");

	snapshot_free(old);
	free(d.ids);
	free(d.paths);
	free(d.values);
	free(d.recs);
	free(d.present);
	world_free(d.w);
	free(d.w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patch_edges),
	    cmocka_unit_test(test_patch_equals_build_test_rules),
	    cmocka_unit_test(test_patch_equals_build_default_rules),
	    cmocka_unit_test(test_patch_equals_build_measured),
	    cmocka_unit_test(test_patch_equals_build_same_names),
	    cmocka_unit_test(test_patch_many_same_names),
	    cmocka_unit_test(test_patch_long_same_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
