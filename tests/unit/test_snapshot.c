/*
 * Unit tests of the snapshot: writer and reader together (every accessor on a
 * hand-built tree), then the reader against damage: every header field perturbed,
 * truncation, flipped bytes, and bodies whose checksums are right but whose
 * structure is broken (each must be refused with the reason named).  Also the
 * writer's failure paths (no temp file left behind) and publication by rename while
 * an old generation stays mapped.
 *
 * With MF_SNAPSHOT_WRITE_CORPUS=DIR set, test_write_corpus also writes the fuzz
 * seed snapshots into DIR (tests/fuzz/corpus/snapshot/ is made that way).
 */
#include <dirent.h>
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

#include "checksum.h"
#include "hash.h"
#include "snapshot.h"
#include "snapshot_writer.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- building trees by hand ------------------------------------------------ */

/* One entry of a test tree: a file, or a directory (ancestors are implied). */
struct tent {
	const char *path;
	uint16_t type;
	uint64_t size;
	uint32_t rule;
	const char *props[8]; /* key, value, ..., NULL */
};

struct item {
	char *path;
	const struct tent *src; /* NULL for an implied directory */
};

struct tree {
	struct snapshot_build *b;
	char **paths; /* per node index */
	uint32_t count;
};

struct strbuf {
	char *p;
	uint64_t len, cap;
};

static struct snap_str sb_add(struct strbuf *sb, const char *s, size_t len)
{
	struct snap_str r = {(uint32_t)sb->len, (uint32_t)len};

	if (sb->len + len + 1 > sb->cap) {
		sb->cap = (sb->len + len + 1) * 2;
		sb->p = realloc(sb->p, sb->cap);
		assert_non_null(sb->p);
	}
	memcpy(sb->p + sb->len, s, len);
	sb->p[sb->len + len] = '\0';
	sb->len += len + 1;
	return r;
}

static struct snap_str sb_str(struct strbuf *sb, const char *s)
{
	if (!*s)
		return (struct snap_str){0, 0};
	return sb_add(sb, s, strlen(s));
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Is parent the directory holding child? */
static int is_parent(const char *parent, const char *child)
{
	const char *slash = strrchr(child, '/');
	size_t plen = (size_t)(slash - child);

	if (!strcmp(child, "/"))
		return 0;
	if (plen == 0)
		return !strcmp(parent, "/");
	return strlen(parent) == plen && !strncmp(parent, child, plen);
}

static size_t find_item(struct item *items, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(items[i].path, path))
			return i;
	return SIZE_MAX;
}

static int cmp_item_name(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return strcmp(base_name(x->path), base_name(y->path));
}

static const char *rule_names[] = {"movies", "tv", "default"};

/* The node id of a path, as docs/snapshot-format.md defines it. */
static uint64_t path_id(const char *path, const uint64_t *taken, uint32_t ntaken)
{
	for (uint64_t seed = 0;; seed++) {
		uint64_t id = hash64(path, strlen(path), seed);
		int clash = id < SNAP_ID_RESERVED;

		for (uint32_t i = 0; i < ntaken && !clash; i++)
			clash = taken[i] == id;
		if (!clash)
			return id;
	}
}

static struct tree build_tree(const struct tent *ents, size_t nents)
{
	size_t cap = 2 * nents + 8, n = 0;
	struct item *items = calloc(cap, sizeof(*items));
	struct item *order;
	size_t norder = 0;
	struct strbuf sb = {0};
	struct snapshot_build *b = calloc(1, sizeof(*b));
	struct tree t = {0};
	size_t nprops = 0;

	assert_non_null(items);
	assert_non_null(b);
	items[n++] = (struct item){strdup("/"), NULL};
	for (size_t e = 0; e < nents; e++) {
		const char *path = ents[e].path;
		size_t i;

		/* Implied ancestors first. */
		for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
			char *anc = strndup(path, (size_t)(s - path));

			if (find_item(items, n, anc) == SIZE_MAX) {
				if (n == cap) {
					cap *= 2;
					items = realloc(items, cap * sizeof(*items));
				}
				items[n++] = (struct item){anc, NULL};
			} else {
				free(anc);
			}
		}
		i = find_item(items, n, path);
		if (i == SIZE_MAX) {
			if (n == cap) {
				cap *= 2;
				items = realloc(items, cap * sizeof(*items));
			}
			i = n++;
			items[i].path = strdup(path);
		}
		items[i].src = &ents[e];
		for (size_t k = 0; ents[e].props[k]; k += 2)
			nprops++;
	}

	/* Breadth-first, children sorted. */
	order = calloc(n, sizeof(*order));
	b->nodes = calloc(n, sizeof(*b->nodes));
	b->props = calloc(nprops + 1, sizeof(*b->props));
	assert_non_null(order);
	assert_non_null(b->nodes);
	order[norder++] = items[0];
	sb_add(&sb, "", 0);
	for (size_t q = 0; q < norder; q++) {
		struct snap_node *nd = &b->nodes[q];
		const struct tent *src = order[q].src;
		int is_dir = !src || src->type == SNAP_NODE_DIR;
		size_t first = norder;

		nd->type = is_dir ? SNAP_NODE_DIR : SNAP_NODE_FILE;
		nd->name = q == 0 ? (struct snap_str){0, 0} : sb_str(&sb, base_name(order[q].path));
		nd->mtime_ns = 1700000000000000000LL + (int64_t)q;
		nd->ctime_ns = 1600000000000000000LL + (int64_t)q;
		nd->id = q == 0 ? SNAP_ROOT_ID : path_id(order[q].path, NULL, 0);
		for (uint32_t k = 0; k < q && q > 0; k++)
			if (b->nodes[k].id == nd->id) {
				uint64_t *taken = malloc(q * sizeof(*taken));

				for (uint32_t m = 0; m < q; m++)
					taken[m] = b->nodes[m].id;
				nd->id = path_id(order[q].path, taken, (uint32_t)q);
				free(taken);
				break;
			}
		if (is_dir) {
			b->directories++;
			for (size_t i = 0; i < n; i++)
				if (is_parent(order[q].path, items[i].path))
					order[norder++] = items[i];
			qsort(order + first, norder - first, sizeof(*order), cmp_item_name);
			nd->first_child = (uint32_t)first;
			nd->child_count = (uint32_t)(norder - first);
			for (size_t c = first; c < norder; c++)
				b->nodes[c].parent = (uint32_t)q;
			continue;
		}
		b->files++;
		nd->size = src->size;
		b->total_bytes += src->size;
		nd->rule = src->rule;
		nd->source = sb_str(&sb, order[q].path + 1);
		{
			char hid[32];

			snprintf(hid, sizeof(hid), "hash%05zu", q);
			nd->hash_id = sb_str(&sb, hid);
		}
		nd->prop_first = b->prop_count;
		for (size_t k = 0; src->props[k]; k += 2) {
			b->props[b->prop_count].key = sb_str(&sb, src->props[k]);
			b->props[b->prop_count].value = sb_str(&sb, src->props[k + 1]);
			b->prop_count++;
		}
		nd->prop_count = b->prop_count - nd->prop_first;
	}
	assert_int_equal(norder, n);
	b->node_count = (uint32_t)n;

	b->rule_count = ARRAY_SIZE(rule_names);
	b->rules = calloc(b->rule_count, sizeof(*b->rules));
	for (uint32_t r = 0; r < b->rule_count; r++) {
		b->rules[r].name = sb_str(&sb, rule_names[r]);
		b->rules[r].files = 10 + r;
		b->rules[r].hidden = r;
	}
	b->category_count = 2;
	b->categories = calloc(2, sizeof(*b->categories));
	b->categories[0] = (struct snap_category){sb_str(&sb, "Movies"), 3, 3000};
	b->categories[1] = (struct snap_category){sb_str(&sb, "TV"), 2, 200};
	b->skip_count = 1;
	b->skips = calloc(1, sizeof(*b->skips));
	b->skips[0] = (struct snap_skip){sb_str(&sb, "no filePath"), sb_str(&sb, "deadbeef"), 2};
	b->skipped = 2;
	b->hidden = 3;
	b->strings = sb.p;
	b->strings_size = sb.len;

	t.b = b;
	t.count = (uint32_t)n;
	t.paths = calloc(n, sizeof(*t.paths));
	for (size_t i = 0; i < n; i++)
		t.paths[i] = strdup(order[i].path);
	for (size_t i = 0; i < n; i++)
		free(items[i].path);
	free(items);
	free(order);
	return t;
}

static void tree_free(struct tree *t)
{
	for (uint32_t i = 0; i < t->count; i++)
		free(t->paths[i]);
	free(t->paths);
	snapshot_build_free(t->b);
	*t = (struct tree){0};
}

static const struct tent small_tree[] = {
    {"/Movies/Inception (2010)/Inception.mkv",
     SNAP_NODE_FILE,
     2000,
     0,
     {"title", "Inception", "year", "2010", "video/codec", "h264", NULL}},
    {"/Movies/Up.mkv", SNAP_NODE_FILE, 100, 0, {"title", "Up", "year", "2009", NULL}},
    {"/Movies/Up/Up (extras).mkv", SNAP_NODE_FILE, 900, 2, {NULL}},
    {"/Movies/Am\xc3\xa9lie.mkv", SNAP_NODE_FILE, 0, 2, {"title", "", NULL}},
    {"/TV/Show/S01E02.mkv", SNAP_NODE_FILE, 120, 1, {NULL}},
    {"/TV/Show/S01E01.mkv", SNAP_NODE_FILE, 80, 1, {"season", "1", "episode", "1", NULL}},
    {"/Empty", SNAP_NODE_DIR, 0, 0, {NULL}},
};

/* ---- files and buffers ------------------------------------------------------ */

struct fixture {
	char dir[64];
	char path[128];
	struct tree t;
	unsigned char *bytes; /* the written file, malloc'ed (8-aligned) */
	size_t size;
	struct snapshot *ref; /* the valid snapshot, for node indices */
};

static const struct snapshot_kv_state test_kv = {
    .connected = true,
    .held = true,
    .resyncing = true,
    .held_removals = 4242,
    .last_sync_ns = 1700000000123456789LL,
    .error_since_ns = 1700000000999LL,
    .error = "connection refused",
    .leader = "redis://10.0.1.50:6379",
};

static void make_temp_dir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/mf-test-snapshot.XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			remove_dir(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static unsigned char *read_whole(const char *path, size_t *ret_size)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*ret_size = (size_t)st.st_size;
	return buf;
}

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	int r;

	assert_non_null(f);
	make_temp_dir(f->dir, sizeof(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, SNAP_FILE_NAME);
	f->t = build_tree(small_tree, ARRAY_SIZE(small_tree));
	r = snapshot_write(f->t.b, &test_kv, 7, 1700000001000000000LL, f->dir, SNAP_FILE_NAME);
	if (r < 0)
		fail_msg("snapshot_write: expected 0, got %d", r);
	f->bytes = read_whole(f->path, &f->size);
	r = snapshot_open(f->path, &f->ref, err, sizeof(err));
	if (r < 0)
		fail_msg("snapshot_open: expected 0, got %d (%s)", r, err);
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	snapshot_free(f->ref);
	free(f->bytes);
	tree_free(&f->t);
	remove_dir(f->dir);
	free(f);
	return 0;
}

/* Both checksums recomputed the way docs/snapshot-format.md defines them. */
static void fix_checksums(unsigned char *buf, size_t size)
{
	struct snap_header *h = (void *)buf;
	uint64_t hs = h->header_size;

	if (size < sizeof(*h))
		return;
	if (hs >= sizeof(*h) && hs <= size)
		h->body_checksum = checksum64(buf + hs, size - hs);
	if (hs < sizeof(*h) || hs > size)
		hs = sizeof(*h);
	h->header_checksum = 0;
	h->header_checksum = hash64(buf, hs, 0);
}

static unsigned char *copy_bytes(const struct fixture *f)
{
	unsigned char *c = malloc(f->size);

	assert_non_null(c);
	memcpy(c, f->bytes, f->size);
	return c;
}

/*
 * Open buf; expect refusal with want_r and, if given, a reason containing want.
 * Validated both ways, in a row and on two threads (forced, whatever the size and
 * the CPUs): the same error and the same reason.
 */
static void expect_refused(const char *what, const void *buf, size_t size, int want_r,
                           const char *want)
{
	char first[256] = "";

	for (int threads = 1; threads <= 2; threads++) {
		struct snapshot *s = NULL;
		char err[256] = "";
		int r;

		snapshot_set_parallel_min(threads == 2 ? 0 : SIZE_MAX);
		r = snapshot_open_buffer(buf, size, &s, err, sizeof(err));
		snapshot_set_parallel_min(SNAPSHOT_PARALLEL_MIN);
		if (r != want_r) {
			snapshot_free(s);
			fail_msg("%s (%d threads): expected %d, got %d (%s)", what, threads, want_r,
			         r, err);
		}
		if (!err[0])
			fail_msg("%s (%d threads): expected a reason, got \"\"", what, threads);
		if (want && !strstr(err, want))
			fail_msg("%s (%d threads): expected a reason with \"%s\", got \"%s\"", what,
			         threads, want, err);
		if (strchr(err, '\n'))
			fail_msg("%s (%d threads): expected one line, got \"%s\"", what, threads,
			         err);
		if (threads == 1)
			snprintf(first, sizeof(first), "%s", err);
		else if (strcmp(first, err) != 0)
			fail_msg("%s: expected the reason \"%s\" on two threads, got \"%s\"", what,
			         first, err);
	}
}

/* ---- accessors -------------------------------------------------------------- */

static const struct snap_node *must_lookup(const struct snapshot *s, const char *path)
{
	const struct snap_node *n = NULL;
	int r = snapshot_lookup_path(s, path, &n);

	if (r != 0 || !n)
		fail_msg("lookup \"%s\": expected 0, got %d", path, r);
	return n;
}

static void test_header_and_kv(void **state)
{
	struct fixture *f = *state;
	const struct snap_header *h = snapshot_header(f->ref);

	/*
	 * What the writer chose; magic, version, sizes, alignment and the index's
	 * shape are not asserted here: snapshot_open() refuses a file without them.
	 */
	assert_int_equal(h->header_size, sizeof(struct snap_header));
	assert_int_equal(snapshot_generation(f->ref), 7);
	assert_int_equal(h->generation, 7);
	assert_int_equal(h->build_time_ns, 1700000001000000000LL);
	assert_int_equal(h->kv_connected, 1);
	assert_int_equal(h->kv_flags, SNAP_KV_HELD | SNAP_KV_RESYNCING);
	assert_int_equal(h->kv_held_removals, 4242);
	assert_int_equal(h->kv_last_sync_ns, 1700000000123456789LL);
	assert_int_equal(h->kv_error_since_ns, 1700000000999LL);
	assert_string_equal(snapshot_str(f->ref, h->kv_error), "connection refused");
	assert_string_equal(snapshot_str(f->ref, h->kv_leader), "redis://10.0.1.50:6379");
	assert_int_equal(h->files, 6);
	assert_int_equal(h->directories, 7); /* /, Empty, Movies, TV, Inception, Up, Show */
	assert_int_equal(h->total_bytes, 2000 + 100 + 900 + 0 + 120 + 80);
	assert_int_equal(h->skipped, 2);
	assert_int_equal(h->hidden, 3);
	assert_int_equal(snapshot_node_count(f->ref), 13);
	assert_true(h->index_buckets >= 2 * h->node_count);
	for (size_t i = 0; i < ARRAY_SIZE(h->reserved); i++)
		assert_int_equal(h->reserved[i], 0);
}

static void test_kv_state_defaults(void **state)
{
	struct fixture *f = *state;
	struct snapshot *s;
	char err[256], path[256];
	int r;

	/* No KV state at all, then one with empty strings: both give "" and zeros. */
	for (int pass = 0; pass < 2; pass++) {
		struct snapshot_kv_state kv = {.error = "", .leader = NULL};
		const struct snap_header *h;

		r = snapshot_write(f->t.b, pass ? &kv : NULL, 8, 5, f->dir, "other.snapshot");
		assert_int_equal(r, 0);
		snprintf(path, sizeof(path), "%s/other.snapshot", f->dir);
		r = snapshot_open(path, &s, err, sizeof(err));
		if (r)
			fail_msg("pass %d: expected 0, got %d (%s)", pass, r, err);
		h = snapshot_header(s);
		assert_int_equal(h->kv_connected, 0);
		assert_int_equal(h->kv_flags, 0);
		assert_int_equal(h->kv_last_sync_ns, 0);
		assert_string_equal(snapshot_str(s, h->kv_error), "");
		assert_string_equal(snapshot_str(s, h->kv_leader), "");
		/* Only the builder's strings: the KV tail is empty. */
		assert_int_equal(h->strings_size, f->t.b->strings_size);
		snapshot_free(s);
	}
}

static void test_lookup_path(void **state)
{
	struct fixture *f = *state;
	struct {
		const char *path;
		int want_r;
		const char *want_name; /* "" = root */
		uint16_t want_type;
	} cases[] = {
	    {"/", 0, "", SNAP_NODE_DIR},
	    {"", 0, "", SNAP_NODE_DIR},
	    {"//", 0, "", SNAP_NODE_DIR},
	    {"/Movies", 0, "Movies", SNAP_NODE_DIR},
	    {"/Movies/", 0, "Movies", SNAP_NODE_DIR},
	    {"//Movies//Up.mkv", 0, "Up.mkv", SNAP_NODE_FILE},
	    {"/Movies/Up", 0, "Up", SNAP_NODE_DIR},
	    {"Movies/Up", 0, "Up", SNAP_NODE_DIR},
	    {"Movies///Up//", 0, "Up", SNAP_NODE_DIR},
	    {"/Movies/Up/Up (extras).mkv", 0, "Up (extras).mkv", SNAP_NODE_FILE},
	    {"/Movies/Inception (2010)/Inception.mkv", 0, "Inception.mkv", SNAP_NODE_FILE},
	    {"/Movies/Am\xc3\xa9lie.mkv", 0, "Am\xc3\xa9lie.mkv", SNAP_NODE_FILE},
	    {"/TV/Show/S01E01.mkv", 0, "S01E01.mkv", SNAP_NODE_FILE},
	    {"/TV/Show/S01E02.mkv/", 0, "S01E02.mkv", SNAP_NODE_FILE},
	    {"/Empty", 0, "Empty", SNAP_NODE_DIR},
	    {"/Empty/x", -ENOENT, NULL, 0},
	    {"/Movies/U", -ENOENT, NULL, 0},
	    {"/Movies/Up.mk", -ENOENT, NULL, 0},
	    {"/Movies/Up.mkvx", -ENOENT, NULL, 0},
	    {"/movies", -ENOENT, NULL, 0},
	    {"/Nope/Up.mkv", -ENOENT, NULL, 0},
	    {"/Movies/.", -ENOENT, NULL, 0},
	    {"/Movies/Up.mkv/x", -ENOTDIR, NULL, 0},
	    {"/TV/Show/S01E01.mkv/a/b", -ENOTDIR, NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct snap_node *n = (const void *)&cases; /* must stay on failure */
		int r = snapshot_lookup_path(f->ref, cases[i].path, &n);

		if (r != cases[i].want_r)
			fail_msg("\"%s\": expected %d, got %d", cases[i].path, cases[i].want_r, r);
		if (r < 0) {
			if (n != (const void *)&cases)
				fail_msg("\"%s\": expected ret untouched on failure",
				         cases[i].path);
			continue;
		}
		if (strcmp(snapshot_str(f->ref, n->name), cases[i].want_name))
			fail_msg("\"%s\": expected name \"%s\", got \"%s\"", cases[i].path,
			         cases[i].want_name, snapshot_str(f->ref, n->name));
		if (n->type != cases[i].want_type)
			fail_msg("\"%s\": expected type %u, got %u", cases[i].path,
			         cases[i].want_type, n->type);
	}

	/* Limits: a component over 255 bytes, a path over SNAP_PATH_MAX. */
	{
		char *p = malloc(SNAP_PATH_MAX + 16);
		const struct snap_node *n;

		memset(p, 'a', SNAP_PATH_MAX + 8);
		p[0] = '/';
		p[SNAP_NAME_MAX + 2] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENAMETOOLONG);
		p[SNAP_NAME_MAX + 1] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENOENT);
		memset(p, 'a', SNAP_PATH_MAX + 8);
		for (size_t i = 0; i < SNAP_PATH_MAX + 8; i += 2)
			p[i] = '/';
		p[SNAP_PATH_MAX + 1] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENAMETOOLONG);
		/* Exactly SNAP_PATH_MAX bytes is fine (and not found). */
		p[SNAP_PATH_MAX] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENOENT);
		/* The same without the leading '/': its canonical form is one byte longer. */
		memset(p, 'a', SNAP_PATH_MAX + 8);
		for (size_t i = 1; i < SNAP_PATH_MAX + 8; i += 2)
			p[i] = '/';
		p[SNAP_PATH_MAX] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENOENT);
		/* A long component after a missing one: the first error wins. */
		memset(p, 'a', SNAP_PATH_MAX + 8);
		memcpy(p, "/nope/", 6);
		p[6 + SNAP_NAME_MAX + 1] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENOENT);
		memset(p, 'a', SNAP_PATH_MAX + 8);
		memcpy(p, "/TV//", 5);
		p[5 + SNAP_NAME_MAX + 1] = '\0';
		assert_int_equal(snapshot_lookup_path(f->ref, p, &n), -ENAMETOOLONG);
		free(p);
	}
}

static void test_every_node(void **state)
{
	struct fixture *f = *state;
	const struct snapshot *s = f->ref;
	char buf[SNAP_PATH_MAX];

	assert_ptr_equal(snapshot_root(s), snapshot_node(s, 0));
	assert_null(snapshot_node(s, snapshot_node_count(s)));
	assert_null(snapshot_parent(s, snapshot_root(s)));
	assert_ptr_equal(snapshot_lookup_id(s, SNAP_ROOT_ID), snapshot_root(s));
	for (uint32_t i = 0; i < f->t.count; i++) {
		const struct snap_node *n = snapshot_node(s, i), *m = NULL;
		const char *want = f->t.paths[i];
		int len = snapshot_node_path(s, n, buf, sizeof(buf));

		assert_int_equal(snapshot_node_index(s, n), i);
		if (len != (int)strlen(want) || strcmp(buf, want))
			fail_msg("node %u: expected path \"%s\", got \"%s\" (%d)", i, want, buf,
			         len);
		assert_int_equal(snapshot_lookup_path(s, want, &m), 0);
		assert_ptr_equal(m, n);
		assert_ptr_equal(snapshot_lookup_id(s, n->id), n);
		assert_int_equal(n->id, i == 0 ? SNAP_ROOT_ID : hash64(want, strlen(want), 0));
		if (i > 0) {
			const struct snap_node *p = snapshot_parent(s, n);
			const char *name = snapshot_str(s, n->name);

			assert_non_null(p);
			assert_ptr_equal(snapshot_lookup_child(s, p, name, strlen(name)), n);
		}
		/* Too small a buffer, by one byte. */
		assert_int_equal(snapshot_node_path(s, n, buf, strlen(want)), -ENAMETOOLONG);
		assert_int_equal(snapshot_node_path(s, n, buf, strlen(want) + 1),
		                 (int)strlen(want));
	}
	assert_null(snapshot_lookup_id(s, 2));
	assert_null(snapshot_lookup_id(s, 12345));
	assert_null(snapshot_lookup_id(s, UINT64_MAX));
	assert_int_equal(snapshot_node_path(s, snapshot_root(s), buf, 1), -ENAMETOOLONG);
}

static void test_children(void **state)
{
	struct fixture *f = *state;
	const struct snapshot *s = f->ref;
	struct {
		const char *dir;
		const char *want[4];
		uint32_t subdirs;
	} cases[] = {
	    {"/", {"Empty", "Movies", "TV", NULL}, 3},
	    {"/Movies", {"Am\xc3\xa9lie.mkv", "Inception (2010)", "Up", "Up.mkv"}, 2},
	    {"/Movies/Up", {"Up (extras).mkv", NULL}, 0},
	    {"/TV/Show", {"S01E01.mkv", "S01E02.mkv", NULL}, 0},
	    {"/Empty", {NULL}, 0},
	    {"/Movies/Up.mkv", {NULL}, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct snap_node *d = must_lookup(s, cases[i].dir);
		uint32_t count = 99, want = 0;
		const struct snap_node *c = snapshot_children(s, d, &count);

		while (want < 4 && cases[i].want[want])
			want++;
		if (count != want)
			fail_msg("%s: expected %u children, got %u", cases[i].dir, want, count);
		if (d->subdirs != cases[i].subdirs)
			fail_msg("%s: expected %u subdirectories, got %u", cases[i].dir,
			         cases[i].subdirs, d->subdirs);
		for (uint32_t k = 0; k < count; k++) {
			const char *name = snapshot_str(s, c[k].name);

			if (strcmp(name, cases[i].want[k]))
				fail_msg("%s[%u]: expected \"%s\", got \"%s\"", cases[i].dir, k,
				         cases[i].want[k], name);
			assert_ptr_equal(snapshot_parent(s, &c[k]), d);
		}
	}
	/* Child lookups that miss, and lookups in a file. */
	{
		const struct snap_node *m = must_lookup(s, "/Movies");

		assert_null(snapshot_lookup_child(s, m, "Up.mkv", 5));
		assert_non_null(snapshot_lookup_child(s, m, "Up.mkvX", 6));
		assert_null(snapshot_lookup_child(s, m, "", 0));
		assert_null(snapshot_lookup_child(s, m, "A", 1));
		assert_null(snapshot_lookup_child(s, m, "\xff", 1));
		assert_null(snapshot_lookup_child(s, must_lookup(s, "/Movies/Up.mkv"), "x", 1));
	}
}

static void test_files_props_tables(void **state)
{
	struct fixture *f = *state;
	const struct snapshot *s = f->ref;
	const struct snap_node *n = must_lookup(s, "/Movies/Inception (2010)/Inception.mkv");
	const struct snap_prop *p;
	const struct snap_rule *rules;
	const struct snap_category *cats;
	const struct snap_skip *skips;
	uint32_t count;

	assert_int_equal(n->size, 2000);
	assert_string_equal(snapshot_str(s, n->source), "Movies/Inception (2010)/Inception.mkv");
	assert_memory_equal(snapshot_str(s, n->hash_id), "hash", 4);
	assert_int_equal(n->rule, 0);
	assert_true(n->mtime_ns > 1700000000000000000LL);
	assert_true(n->ctime_ns > 1600000000000000000LL);

	p = snapshot_props(s, n, &count);
	assert_int_equal(count, 3);
	assert_string_equal(snapshot_str(s, p[0].key), "title");
	assert_string_equal(snapshot_str(s, p[0].value), "Inception");
	assert_string_equal(snapshot_prop(s, n, "title"), "Inception");
	assert_string_equal(snapshot_prop(s, n, "year"), "2010");
	assert_string_equal(snapshot_prop(s, n, "video/codec"), "h264");
	assert_null(snapshot_prop(s, n, "video"));
	assert_null(snapshot_prop(s, n, "titl"));
	assert_null(snapshot_prop(s, n, "titles"));
	assert_null(snapshot_prop(s, n, ""));

	n = must_lookup(s, "/Movies/Am\xc3\xa9lie.mkv");
	assert_string_equal(snapshot_prop(s, n, "title"), "");
	assert_int_equal(n->rule, 2);
	n = must_lookup(s, "/TV/Show/S01E02.mkv");
	snapshot_props(s, n, &count);
	assert_int_equal(count, 0);
	assert_null(snapshot_prop(s, n, "title"));
	assert_null(snapshot_prop(s, must_lookup(s, "/Movies"), "title"));
	assert_int_equal(must_lookup(s, "/Movies")->size, 0);

	rules = snapshot_rules(s, &count);
	assert_int_equal(count, 3);
	for (uint32_t i = 0; i < count; i++) {
		assert_string_equal(snapshot_str(s, rules[i].name), rule_names[i]);
		assert_int_equal(rules[i].files, 10 + i);
		assert_int_equal(rules[i].hidden, i);
	}
	cats = snapshot_categories(s, &count);
	assert_int_equal(count, 2);
	assert_string_equal(snapshot_str(s, cats[1].name), "TV");
	assert_int_equal(cats[0].files, 3);
	assert_int_equal(cats[0].bytes, 3000);
	skips = snapshot_skips(s, &count);
	assert_int_equal(count, 1);
	assert_string_equal(snapshot_str(s, skips[0].reason), "no filePath");
	assert_string_equal(snapshot_str(s, skips[0].example), "deadbeef");
	assert_int_equal(skips[0].count, 2);
}

static void test_open_fd_and_buffer(void **state)
{
	struct fixture *f = *state;
	struct snapshot *s;
	char err[256];
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(snapshot_open_fd(fd, &s, err, sizeof(err)), 0);
	close(fd); /* the mapping outlives the descriptor */
	assert_int_equal(snapshot_generation(s), 7);
	assert_string_equal(snapshot_str(s, must_lookup(s, "/TV")->name), "TV");
	snapshot_free(s);

	assert_int_equal(snapshot_open_buffer(f->bytes, f->size, &s, err, sizeof(err)), 0);
	assert_int_equal(snapshot_node_count(s), 13);
	snapshot_free(s);
	snapshot_free(NULL);

	/* Missing file, a directory, an unaligned buffer. */
	assert_int_equal(snapshot_open("/nonexistent/vfs.snapshot", &s, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/vfs.snapshot: "));
	assert_int_equal(snapshot_open(f->dir, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	{
		unsigned char *c = malloc(f->size + 8);

		memcpy(c + 1, f->bytes, f->size);
		assert_int_equal(snapshot_open_buffer(c + 1, f->size, &s, err, sizeof(err)),
		                 -EINVAL);
		free(c);
	}
	/* A file refused through snapshot_open names the file. */
	{
		char p[256];
		int wfd;

		snprintf(p, sizeof(p), "%s/short", f->dir);
		wfd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_true(wfd >= 0);
		assert_int_equal(write(wfd, f->bytes, 100), 100);
		close(wfd);
		assert_int_equal(snapshot_open(p, &s, err, sizeof(err)), -EBADMSG);
		if (!strstr(err, "/short: truncated: file is 100 bytes"))
			fail_msg("expected the path and \"truncated\", got \"%s\"", err);
		/* err may be small, or absent. */
		assert_int_equal(snapshot_open(p, &s, err, 8), -EBADMSG);
		assert_int_equal(strlen(err), 7);
		assert_int_equal(snapshot_open(p, &s, NULL, 0), -EBADMSG);
		/* An empty file, which cannot be mapped. */
		wfd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
		close(wfd);
		assert_int_equal(snapshot_open(p, &s, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "file is 0 bytes"));
	}
}

/*
 * snapshot_load(): the same answers as snapshot_open() for good and bad files,
 * and a copy that owes nothing to the file: the same bytes at another address,
 * intact after the file is overwritten and emptied.
 */
static void test_load(void **state)
{
	struct fixture *f = *state;
	struct snapshot *s, *m;
	char err[256], p[256];
	const struct snap_header *h;
	int fd;

	assert_int_equal(snapshot_load("/nonexistent/vfs.snapshot", &s, err, sizeof(err)), -ENOENT);
	assert_int_equal(snapshot_load(f->dir, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(p, sizeof(p), "%s/copy", f->dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->bytes, 100), 100);
	assert_int_equal(snapshot_load(p, &s, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, "/copy: truncated: file is 100 bytes"))
		fail_msg("expected the path and \"truncated\", got \"%s\"", err);

	assert_int_equal(pwrite(fd, f->bytes, f->size, 0), (ssize_t)f->size);
	assert_int_equal(snapshot_load(p, &s, err, sizeof(err)), 0);
	assert_int_equal(snapshot_open(p, &m, err, sizeof(err)), 0);
	h = snapshot_header(s);
	assert_ptr_not_equal(h, snapshot_header(m));
	assert_memory_equal(h, f->bytes, f->size);
	/* Overwritten, then emptied: the copy does not change, nothing faults. */
	{
		unsigned char *junk = malloc(f->size);

		memset(junk, 0xee, f->size);
		assert_int_equal(pwrite(fd, junk, f->size, 0), (ssize_t)f->size);
		free(junk);
	}
	snapshot_free(m); /* the mapping would now show the junk */
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	assert_memory_equal(h, f->bytes, f->size);
	assert_int_equal(snapshot_generation(s), 7);
	assert_string_equal(snapshot_str(s, must_lookup(s, "/TV")->name), "TV");
	snapshot_free(s);
	unlink(p);
}

/*
 * Ids that are not the seed-0 hash of their path (as after a collision): path
 * lookups must still find the right node, never the node that holds the hash.
 */
static void test_lookup_rehashed_ids(void **state)
{
	struct tree t = build_tree(small_tree, ARRAY_SIZE(small_tree));
	const char *pa = "/Movies/Up.mkv", *pb = "/TV/Show/S01E01.mkv";
	struct snap_node *a = NULL, *b = NULL;
	struct snapshot *s;
	char dir[64], path[128], err[256];
	const struct snap_node *n;

	for (uint32_t i = 0; i < t.count; i++) {
		if (!strcmp(t.paths[i], pa))
			a = &t.b->nodes[i];
		if (!strcmp(t.paths[i], pb))
			b = &t.b->nodes[i];
	}
	assert_non_null(a);
	assert_non_null(b);
	a->id = hash64(pb, strlen(pb), 0); /* a holds b's first-choice id */
	b->id = hash64(pb, strlen(pb), 1);
	make_temp_dir(dir, sizeof(dir));
	assert_int_equal(snapshot_write(t.b, NULL, 1, 0, dir, SNAP_FILE_NAME), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_FILE_NAME);
	if (snapshot_open(path, &s, err, sizeof(err)))
		fail_msg("expected 0, got an error (%s)", err);
	for (uint32_t i = 0; i < t.count; i++) {
		char buf[SNAP_PATH_MAX];

		n = NULL;
		if (snapshot_lookup_path(s, t.paths[i], &n) != 0 || snapshot_node_index(s, n) != i)
			fail_msg("\"%s\": expected node %u, got %d", t.paths[i], i,
			         n ? (int)snapshot_node_index(s, n) : -1);
		snapshot_node_path(s, n, buf, sizeof(buf));
		assert_string_equal(buf, t.paths[i]);
	}
	assert_int_equal(snapshot_lookup_path(s, "/TV/Show/S01E01.mkv/", &n), 0);
	assert_string_equal(snapshot_str(s, n->name), "S01E01.mkv");
	assert_ptr_equal(snapshot_lookup_id(s, hash64(pb, strlen(pb), 1)), n);
	snapshot_free(s);
	tree_free(&t);
	remove_dir(dir);
}

/* ---- damage ---------------------------------------------------------------- */

enum field_kind {
	F_INFO,     /* any value is accepted and shown as written */
	F_STRUCT,   /* all ones is refused; other values must not crash */
	F_CHECKSUM, /* overwritten by fix_checksums */
};

/* clang-format off */
static const struct {
	const char *name;
	size_t off, size;
	enum field_kind kind;
} header_fields[] = {
#define FIELD(f, k) {#f, offsetof(struct snap_header, f), sizeof(((struct snap_header *)0)->f), k}
	FIELD(magic, F_STRUCT),
	FIELD(version, F_STRUCT),
	FIELD(header_size, F_STRUCT),
	FIELD(total_size, F_STRUCT),
	FIELD(generation, F_INFO),
	FIELD(build_time_ns, F_INFO),
	FIELD(body_checksum, F_CHECKSUM),
	FIELD(header_checksum, F_CHECKSUM),
	FIELD(kv_connected, F_INFO),
	FIELD(kv_flags, F_INFO),
	FIELD(kv_last_sync_ns, F_INFO),
	FIELD(kv_error_since_ns, F_INFO),
	FIELD(kv_error, F_STRUCT),
	FIELD(kv_leader, F_STRUCT),
	FIELD(kv_held_removals, F_INFO),
	FIELD(files, F_INFO),
	FIELD(directories, F_INFO),
	FIELD(total_bytes, F_INFO),
	FIELD(skipped, F_INFO),
	FIELD(hidden, F_INFO),
	FIELD(nodes_off, F_STRUCT),
	FIELD(node_count, F_STRUCT),
	FIELD(node_size, F_STRUCT),
	FIELD(index_off, F_STRUCT),
	FIELD(index_buckets, F_STRUCT),
	FIELD(prop_count, F_STRUCT),
	FIELD(props_off, F_STRUCT),
	FIELD(rules_off, F_STRUCT),
	FIELD(rule_count, F_STRUCT),
	FIELD(category_count, F_STRUCT),
	FIELD(categories_off, F_STRUCT),
	FIELD(skips_off, F_STRUCT),
	FIELD(skip_count, F_STRUCT),
	FIELD(reserved0, F_INFO),
	FIELD(strings_off, F_STRUCT),
	FIELD(strings_size, F_STRUCT),
	FIELD(reserved, F_INFO),
#undef FIELD
};
/* clang-format on */

static void test_header_fields_perturbed(void **state)
{
	struct fixture *f = *state;
	static const uint32_t values[] = {0, 1, 8, 0x80000000u, 0xffffffffu};
	static const uint32_t xors[] = {1, 0x100, 0x80000000u};
	size_t covered = 0;

	/* The table covers the header without gaps. */
	for (size_t i = 0; i < ARRAY_SIZE(header_fields); i++) {
		if (header_fields[i].off != covered)
			fail_msg("field %s: expected offset %zu, got %zu", header_fields[i].name,
			         covered, header_fields[i].off);
		covered += header_fields[i].size;
	}
	assert_int_equal(covered, sizeof(struct snap_header));

	for (size_t i = 0; i < ARRAY_SIZE(header_fields); i++) {
		for (size_t w = 0; w < header_fields[i].size; w += 4) {
			size_t off = header_fields[i].off + w;
			char what[128];

			/* Without fixing the checksum, any change is refused. */
			for (size_t x = 0; x < ARRAY_SIZE(xors); x++) {
				unsigned char *c = copy_bytes(f);
				uint32_t v;

				memcpy(&v, c + off, 4);
				v ^= xors[x];
				memcpy(c + off, &v, 4);
				snprintf(what, sizeof(what), "%s+%zu ^ %#x, checksum not fixed",
				         header_fields[i].name, w, xors[x]);
				expect_refused(what, c, f->size, -EBADMSG, NULL);
				free(c);
			}
			if (header_fields[i].kind == F_CHECKSUM)
				continue;

			/* With the checksums fixed, the reader still judges the value. */
			for (size_t k = 0; k < ARRAY_SIZE(values); k++) {
				unsigned char *c = copy_bytes(f);
				struct snapshot *s = NULL;
				char err[256] = "";
				int r, changed = memcmp(c + off, &values[k], 4) != 0;

				memcpy(c + off, &values[k], 4);
				fix_checksums(c, f->size);
				r = snapshot_open_buffer(c, f->size, &s, err, sizeof(err));
				snprintf(what, sizeof(what), "%s+%zu = %#x", header_fields[i].name,
				         w, values[k]);
				if (header_fields[i].kind == F_INFO) {
					if (r != 0)
						fail_msg("%s: expected 0, got %d (%s)", what, r,
						         err);
					assert_memory_equal(
					    (const unsigned char *)snapshot_header(s) + off,
					    &values[k], 4);
				} else if (values[k] == 0xffffffffu && changed && r != -EBADMSG) {
					fail_msg("%s: expected %d, got %d", what, -EBADMSG, r);
				} else if (r < 0 && (r != -EBADMSG || !err[0])) {
					fail_msg("%s: expected -EBADMSG with a reason, got %d (%s)",
					         what, r, err);
				}
				snapshot_free(s);
				free(c);
			}
		}
	}
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	size_t hs = sizeof(struct snap_header);
	const size_t lens[] = {0,  1,      7,       8,           64,          hs - 1,
	                       hs, hs + 1, hs + 88, f->size / 2, f->size - 8, f->size - 1};

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		unsigned char *c = copy_bytes(f);
		char what[64], want[96];

		snprintf(what, sizeof(what), "truncated to %zu", lens[i]);
		if (lens[i] < hs)
			snprintf(want, sizeof(want), "truncated: file is %zu bytes, smaller",
			         lens[i]);
		else
			snprintf(want, sizeof(want),
			         "truncated: file is %zu bytes, header says %zu", lens[i], f->size);
		expect_refused(what, c, lens[i], -EBADMSG, want);
		/* Fixing the checksums does not make a truncated body whole. */
		if (lens[i] >= hs) {
			struct snap_header *h = (void *)c;

			h->total_size = lens[i];
			fix_checksums(c, lens[i]);
			expect_refused(what, c, lens[i], -EBADMSG, NULL);
		}
		free(c);
	}
	/* A byte too many. */
	{
		unsigned char *c = malloc(f->size + 1);

		memcpy(c, f->bytes, f->size);
		c[f->size] = 0;
		expect_refused("one byte appended", c, f->size + 1, -EBADMSG, "header says");
		free(c);
	}
}

static void test_flipped_bytes(void **state)
{
	struct fixture *f = *state;
	size_t hs = sizeof(struct snap_header);

	/* Every byte of the file, two different bits. */
	for (size_t pos = 0; pos < f->size; pos++) {
		for (int bit = 0; bit < 8; bit += 7) {
			unsigned char *c = copy_bytes(f);
			char what[64];

			c[pos] ^= (unsigned char)(1u << bit);
			snprintf(what, sizeof(what), "byte %zu bit %d flipped", pos, bit);
			expect_refused(what, c, f->size, -EBADMSG,
			               pos >= hs ? "body checksum mismatch" : NULL);
			free(c);
		}
	}
}

/* A writable copy of the fixture's file, with typed views into it. */
struct patch {
	const struct fixture *f;
	unsigned char *buf;
	struct snap_header *h;
	struct snap_node *nodes;
	uint32_t *index;
	struct snap_prop *props;
	struct snap_rule *rules;
	struct snap_category *cats;
	struct snap_skip *skips;
	char *strings;
};

static struct snap_node *node_at(struct patch *p, const char *path)
{
	return &p->nodes[snapshot_node_index(p->f->ref, must_lookup(p->f->ref, path))];
}

static uint32_t idx_of(struct patch *p, const char *path)
{
	return snapshot_node_index(p->f->ref, must_lookup(p->f->ref, path));
}

static void p_nodes_off_end(struct patch *p)
{
	p->h->nodes_off = p->h->total_size;
}
static void p_nodes_off_unaligned(struct patch *p)
{
	p->h->nodes_off += 4;
}
static void p_nodes_off_in_header(struct patch *p)
{
	p->h->nodes_off = 8;
}
static void p_strings_size_huge(struct patch *p)
{
	p->h->strings_size = UINT64_MAX;
}
static void p_strings_size_zero(struct patch *p)
{
	p->h->strings_size = 0;
}
static void p_index_off_end(struct patch *p)
{
	p->h->index_off = p->h->total_size - 8;
}
static void p_props_off_huge(struct patch *p)
{
	p->h->props_off = UINT64_MAX - 7;
}
static void p_rule_count_huge(struct patch *p)
{
	p->h->rule_count = UINT32_MAX;
}
static void p_node_count_zero(struct patch *p)
{
	p->h->node_count = 0;
}
static void p_node_size(struct patch *p)
{
	p->h->node_size = 80;
}
static void p_buckets_not_pow2(struct patch *p)
{
	p->h->index_buckets = 24;
}
static void p_buckets_too_few(struct patch *p)
{
	p->h->index_buckets = 8;
}
static void p_version(struct patch *p)
{
	p->h->version = SNAP_VERSION + 1;
}
static void p_magic(struct patch *p)
{
	p->h->magic[0] = 'X';
}
static void p_header_size_small(struct patch *p)
{
	p->h->header_size = 16;
}
static void p_header_size_large(struct patch *p)
{
	p->h->header_size += 8;
}
static void p_strings_no_nul_end(struct patch *p)
{
	p->strings[p->h->strings_size - 1] = 'x';
}
static void p_strings_start(struct patch *p)
{
	p->strings[0] = 'x';
}

static void p_name_unterminated(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->name.len++;
}
static void p_name_nul_inside(struct patch *p)
{
	struct snap_node *n = node_at(p, "/Movies/Up.mkv");

	p->strings[n->name.off + 2] = '\0';
}
static void p_name_out_of_bounds(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->name.off = (uint32_t)p->h->strings_size;
}
static void p_name_off_wraps(struct patch *p)
{
	struct snap_node *n = node_at(p, "/Movies/Up.mkv");

	n->name.off = UINT32_MAX;
	n->name.len = 2;
}
static void p_source_bad(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->source.len = UINT32_MAX;
}
static void p_hash_id_bad(struct patch *p)
{
	node_at(p, "/TV/Show/S01E01.mkv")->hash_id.off = (uint32_t)p->h->strings_size - 1;
	node_at(p, "/TV/Show/S01E01.mkv")->hash_id.len = 1;
}
static void p_name_slash(struct patch *p)
{
	struct snap_node *n = node_at(p, "/Movies/Up.mkv");

	p->strings[n->name.off + 2] = '/';
}
static void p_name_dot(struct patch *p)
{
	struct snap_node *n = node_at(p, "/TV");

	p->strings[n->name.off] = '.';
	p->strings[n->name.off + 1] = '\0';
	n->name.len = 1;
}
static void p_name_dotdot(struct patch *p)
{
	struct snap_node *n = node_at(p, "/TV");

	p->strings[n->name.off] = '.';
	p->strings[n->name.off + 1] = '.';
}
static void p_name_empty(struct patch *p)
{
	node_at(p, "/TV")->name = (struct snap_str){0, 0};
}
static void p_child_range_overflow(struct patch *p)
{
	p->nodes[0].first_child = UINT32_MAX;
}
static void p_child_range_beyond(struct patch *p)
{
	node_at(p, "/Movies")->child_count += 100;
}
static void p_first_child_self(struct patch *p)
{
	p->nodes[idx_of(p, "/Movies")].first_child = idx_of(p, "/Movies");
}
static void p_first_child_zero(struct patch *p)
{
	node_at(p, "/TV/Show")->first_child = 0;
}
static void p_unsorted(struct patch *p)
{
	struct snap_node *a = node_at(p, "/Movies/Up");
	struct snap_node *b = node_at(p, "/Movies/Up.mkv");
	struct snap_str t = a->name;

	a->name = b->name;
	b->name = t;
}
static void p_duplicate_name(struct patch *p)
{
	node_at(p, "/TV/Show/S01E02.mkv")->name = node_at(p, "/TV/Show/S01E01.mkv")->name;
}
static void p_duplicate_name_prefix(struct patch *p)
{
	/* "Up" then "Up": equal names where one is a prefix elsewhere. */
	node_at(p, "/Movies/Up.mkv")->name = node_at(p, "/Movies/Up")->name;
}
static void p_parent_mismatch(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->parent = idx_of(p, "/TV");
}
static void p_child_ranges_swapped(struct patch *p)
{
	struct snap_node *a = node_at(p, "/Movies/Inception (2010)"), *b = node_at(p, "/Movies/Up");
	uint32_t fc = a->first_child;

	a->first_child = b->first_child;
	b->first_child = fc;
}
/*
 * Directories that list nodes of others while every node still follows its own
 * parent's range and the counts add up (or nearly): each check of the one-walk
 * proof of the tree is needed for one of them.
 */
static void p_empty_lists_other(struct patch *p)
{
	struct snap_node *e = node_at(p, "/Empty");

	e->first_child = idx_of(p, "/Movies/Inception (2010)/Inception.mkv");
	e->child_count = 1;
}
static void p_ranges_overlap(struct patch *p)
{
	p->nodes[0].child_count = 2;
	p->nodes[0].subdirs = 2;
	node_at(p, "/Movies")->child_count = 5;
}
static void p_last_run_long(struct patch *p)
{
	struct snap_node *e = node_at(p, "/Empty");

	node_at(p, "/TV/Show")->child_count = 1;
	e->first_child = idx_of(p, "/TV/Show/S01E02.mkv");
	e->child_count = 1;
}
static void p_parent_after(struct patch *p)
{
	node_at(p, "/TV")->parent = idx_of(p, "/TV/Show");
}
static void p_type_zero(struct patch *p)
{
	node_at(p, "/TV/Show/S01E01.mkv")->type = 0;
}
static void p_type_three(struct patch *p)
{
	node_at(p, "/TV/Show/S01E01.mkv")->type = 3;
}
static void p_dir_as_file(struct patch *p)
{
	node_at(p, "/TV/Show")->type = SNAP_NODE_FILE;
	node_at(p, "/TV")->subdirs--; /* so that the parent's count agrees */
}
static void p_subdirs_wrong(struct patch *p)
{
	node_at(p, "/TV")->subdirs++;
}
static void p_empty_subdirs(struct patch *p)
{
	node_at(p, "/Empty")->subdirs = 2;
}
static void p_file_subdirs(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->subdirs = 1;
}
static void p_file_children(struct patch *p)
{
	struct snap_node *n = node_at(p, "/Movies/Up.mkv");

	n->type = SNAP_NODE_FILE;
	n->child_count = 1;
}
static void p_file_rule(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->rule = 3;
}
static void p_prop_range(struct patch *p)
{
	node_at(p, "/Movies/Up.mkv")->prop_first = p->h->prop_count - 1;
}
static void p_prop_range_wrap(struct patch *p)
{
	struct snap_node *n = node_at(p, "/Movies/Up.mkv");

	n->prop_first = 1;
	n->prop_count = UINT32_MAX;
}
static void p_children_short(struct patch *p)
{
	node_at(p, "/Movies")->child_count--;
}
static void p_root_id(struct patch *p)
{
	p->nodes[0].id = 77;
}
static void p_root_type(struct patch *p)
{
	p->nodes[0].type = SNAP_NODE_FILE;
}
static void p_root_parent(struct patch *p)
{
	p->nodes[0].parent = 1;
}
static void p_root_name(struct patch *p)
{
	p->nodes[0].name = node_at(p, "/TV")->name;
}
static void p_reserved_id(struct patch *p)
{
	node_at(p, "/TV")->id = SNAP_ERROR_FILE_ID;
}

static uint32_t used_bucket(struct patch *p)
{
	for (uint32_t b = 0; b < p->h->index_buckets; b++)
		if (p->index[b] != SNAP_INDEX_EMPTY)
			return b;
	fail_msg("expected a used bucket, got none");
	return 0;
}
static void p_bucket_out_of_range(struct patch *p)
{
	p->index[used_bucket(p)] = p->h->node_count;
}
static void p_bucket_emptied(struct patch *p)
{
	p->index[used_bucket(p)] = SNAP_INDEX_EMPTY;
}
/*
 * Two faults in checks that two threads make side by side: the reason is the one
 * of the check that comes first in docs/snapshot-format.md.
 */
static void p_index_and_node(struct patch *p)
{
	p_bucket_emptied(p);
	p_type_zero(p);
}
static void p_index_and_prop(struct patch *p)
{
	p_bucket_emptied(p);
	p->props[0].key.off = (uint32_t)p->h->strings_size;
}
static void p_node_and_prop(struct patch *p)
{
	p_type_zero(p);
	p->props[0].key.off = (uint32_t)p->h->strings_size;
}
static void p_bucket_doubled(struct patch *p)
{
	/* A second bucket naming node 1: one entry too many. */
	for (uint32_t b = 0; b < p->h->index_buckets; b++)
		if (p->index[b] == SNAP_INDEX_EMPTY) {
			p->index[b] = 1;
			return;
		}
}
static void p_id_not_indexed(struct patch *p)
{
	/* A new id whose home bucket is empty: the node cannot be found by it. */
	uint32_t mask = p->h->index_buckets - 1;
	uint64_t id = 1000;

	while (p->index[id & mask] != SNAP_INDEX_EMPTY)
		id++;
	node_at(p, "/Movies/Up.mkv")->id = id;
}
static void p_id_duplicate(struct patch *p)
{
	node_at(p, "/TV/Show/S01E02.mkv")->id = node_at(p, "/Movies/Up.mkv")->id;
}
static uint32_t home(struct patch *p, uint32_t b)
{
	return (uint32_t)(p->nodes[p->index[b]].id & (p->h->index_buckets - 1));
}
static void p_bucket_moved(struct patch *p)
{
	/*
	 * Swap two entries that sit in their home buckets with an empty bucket between
	 * them: the first node's probe now meets the empty bucket before reaching it.
	 */
	uint32_t nb = p->h->index_buckets;

	for (uint32_t a = 0; a < nb; a++) {
		int gap = 0;

		if (p->index[a] == SNAP_INDEX_EMPTY || home(p, a) != a)
			continue;
		for (uint32_t b = a + 1; b < nb; b++) {
			uint32_t t;

			if (p->index[b] == SNAP_INDEX_EMPTY) {
				gap = 1;
				continue;
			}
			if (!gap || home(p, b) != b)
				continue;
			t = p->index[a];
			p->index[a] = p->index[b];
			p->index[b] = t;
			return;
		}
	}
	fail_msg("expected two home buckets with a gap, got none");
}
static void p_prop_key(struct patch *p)
{
	p->props[0].key.off = (uint32_t)p->h->strings_size;
}
static void p_prop_value(struct patch *p)
{
	p->props[1].value.len += 1;
}
static void p_rule_name(struct patch *p)
{
	p->rules[2].name.len = 1000;
}
static void p_category_name(struct patch *p)
{
	p->cats[0].name.off = UINT32_MAX;
}
static void p_skip_reason(struct patch *p)
{
	p->skips[0].reason.len = UINT32_MAX;
}
static void p_skip_example(struct patch *p)
{
	p->skips[0].example.len++;
}
static void p_kv_error(struct patch *p)
{
	p->h->kv_error.len += 5;
}
static void p_kv_leader(struct patch *p)
{
	p->h->kv_leader.off = (uint32_t)p->h->strings_size;
}

static struct patch patch_new(const struct fixture *f)
{
	struct patch p = {.f = f, .buf = copy_bytes(f)};

	p.h = (void *)p.buf;
	p.nodes = (void *)(p.buf + p.h->nodes_off);
	p.index = (void *)(p.buf + p.h->index_off);
	p.props = (void *)(p.buf + p.h->props_off);
	p.rules = (void *)(p.buf + p.h->rules_off);
	p.cats = (void *)(p.buf + p.h->categories_off);
	p.skips = (void *)(p.buf + p.h->skips_off);
	p.strings = (char *)(p.buf + p.h->strings_off);
	return p;
}

static void test_broken_structure(void **state)
{
	struct fixture *f = *state;
	struct {
		const char *name;
		void (*patch)(struct patch *p);
		const char *want;
	} cases[] = {
	    {"magic", p_magic, "bad magic"},
	    {"version", p_version, "unsupported format version 4"},
	    {"header size small", p_header_size_small, "header size 16"},
	    {"header size large", p_header_size_large, "node section"},
	    {"node size", p_node_size, "node size 80"},
	    {"no nodes", p_node_count_zero, "no nodes"},
	    {"buckets not power of two", p_buckets_not_pow2, "index has 24 buckets"},
	    {"buckets too few", p_buckets_too_few, "index has 8 buckets for 13"},
	    {"nodes at end", p_nodes_off_end, "node section"},
	    {"nodes unaligned", p_nodes_off_unaligned, "node section"},
	    {"nodes in header", p_nodes_off_in_header, "node section"},
	    {"strings huge", p_strings_size_huge, "string section"},
	    {"strings empty", p_strings_size_zero, "string section is empty"},
	    {"index at end", p_index_off_end, "index section"},
	    {"props offset huge", p_props_off_huge, "property section"},
	    {"rule count huge", p_rule_count_huge, "rule section"},
	    {"strings no final NUL", p_strings_no_nul_end, "does not end with NUL"},
	    {"strings start", p_strings_start, "does not start"},
	    {"name unterminated", p_name_unterminated, "name not NUL-terminated"},
	    {"name with NUL", p_name_nul_inside, "name contains NUL"},
	    {"name out of bounds", p_name_out_of_bounds, "name out of bounds"},
	    {"name offset wraps", p_name_off_wraps, "name out of bounds"},
	    {"source length", p_source_bad, "source out of bounds"},
	    {"hash id at the end", p_hash_id_bad, "hash id out of bounds"},
	    {"name with slash", p_name_slash, "contains '/'"},
	    {"name dot", p_name_dot, "\".\" or \"..\""},
	    {"name dotdot", p_name_dotdot, "\".\" or \"..\""},
	    {"name empty", p_name_empty, "empty name"},
	    {"child range overflow", p_child_range_overflow, "node 0: child range"},
	    {"child range beyond", p_child_range_beyond, "child range"},
	    {"first child self", p_first_child_self, "does not come after it"},
	    {"first child zero", p_first_child_zero, "does not come after it"},
	    {"unsorted", p_unsorted, "node 7: unsorted in directory 2"},
	    {"duplicate name", p_duplicate_name, "duplicate name"},
	    {"duplicate prefix name", p_duplicate_name_prefix, "duplicate name"},
	    {"parent mismatch", p_parent_mismatch, "lists it"},
	    {"parent after child", p_parent_after, "lists it"},
	    {"child ranges swapped", p_child_ranges_swapped, "but directory 5 lists it"},
	    {"empty directory lists another's", p_empty_lists_other,
	     "node 9: parent 5, but directory 1"},
	    {"child ranges overlap", p_ranges_overlap, "node 8: parent 3, but directory 2"},
	    {"last run too long", p_last_run_long, "node 12: parent 8, but directory 1"},
	    {"type 0", p_type_zero, "bad type 0"},
	    {"type 3", p_type_three, "bad type 3"},
	    {"dir as file", p_dir_as_file, "file with 2 children"},
	    {"subdirectory count", p_subdirs_wrong, "2 subdirectories, but 1 of its children are"},
	    {"file with subdirectories", p_file_subdirs, "file with 1 subdirectories"},
	    {"empty directory with subdirectories", p_empty_subdirs,
	     "2 subdirectories, but no children"},
	    {"file with children", p_file_children, "file with 1 children"},
	    {"file rule", p_file_rule, "rule 3 out of bounds"},
	    {"prop range", p_prop_range, "property range"},
	    {"prop range wraps", p_prop_range_wrap, "property range"},
	    {"children short", p_children_short, "directories list 11 children, expected 12"},
	    {"root id", p_root_id, "not the root"},
	    {"root type", p_root_type, "not the root"},
	    {"root parent", p_root_parent, "not the root"},
	    {"root name", p_root_name, "not the root"},
	    {"reserved id", p_reserved_id, "reserved id 2"},
	    {"bucket out of range", p_bucket_out_of_range, "out of bounds (13 nodes)"},
	    {"bucket emptied", p_bucket_emptied, "index holds 12 entries"},
	    {"bucket doubled", p_bucket_doubled, "index holds 14 entries"},
	    {"id not indexed", p_id_not_indexed, "not found in the index"},
	    {"id duplicate", p_id_duplicate, "share the id"},
	    {"buckets swapped", p_bucket_moved, "not found in the index"},
	    {"prop key", p_prop_key, "property 0: key out of bounds"},
	    {"prop value", p_prop_value, "property 1: value not NUL-terminated"},
	    {"rule name", p_rule_name, "rule 2: name"},
	    {"category name", p_category_name, "category 0: name out of bounds"},
	    {"skip reason", p_skip_reason, "skip 0: reason out of bounds"},
	    {"skip example", p_skip_example, "skip 0: example not NUL-terminated"},
	    {"kv error", p_kv_error, "kv error text"},
	    {"kv leader", p_kv_leader, "kv leader out of bounds"},
	    {"index and node", p_index_and_node, "bad type 0"},
	    {"index and property", p_index_and_prop, "property 0: key out of bounds"},
	    {"node and property", p_node_and_prop, "property 0: key out of bounds"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct patch p = patch_new(f);

		cases[i].patch(&p);
		fix_checksums(p.buf, f->size);
		expect_refused(cases[i].name, p.buf, f->size, -EBADMSG, cases[i].want);
		free(p.buf);
	}
}

/*
 * The children of /Movies/Inception (2010) and of /Movies/Up change places (nodes,
 * first_child and index entries): not the writer's breadth-first order, but every
 * check holds, so it is accepted, in a row and on two threads, and answers.
 */
static void test_children_in_another_order(void **state)
{
	struct fixture *f = *state;
	struct patch p = patch_new(f);
	struct snap_node *a = node_at(&p, "/Movies/Inception (2010)"),
	                 *b = node_at(&p, "/Movies/Up");
	uint32_t ia = a->first_child, ib = b->first_child;
	struct snap_node tmp = p.nodes[ia];

	assert_int_equal(a->child_count, 1);
	assert_int_equal(b->child_count, 1);
	p.nodes[ia] = p.nodes[ib];
	p.nodes[ib] = tmp;
	a->first_child = ib;
	b->first_child = ia;
	for (uint32_t k = 0; k < p.h->index_buckets; k++)
		if (p.index[k] == ia || p.index[k] == ib)
			p.index[k] = p.index[k] == ia ? ib : ia;
	fix_checksums(p.buf, f->size);
	for (int threads = 1; threads <= 2; threads++) {
		struct snapshot *s = NULL;
		const struct snap_node *n = NULL;
		char err[256] = "";
		int r;

		snapshot_set_parallel_min(threads == 2 ? 0 : SIZE_MAX);
		r = snapshot_open_buffer(p.buf, f->size, &s, err, sizeof(err));
		snapshot_set_parallel_min(SNAPSHOT_PARALLEL_MIN);
		if (r != 0)
			fail_msg("%d threads: expected 0, got %d (%s)", threads, r, err);
		assert_int_equal(snapshot_lookup_path(s, "/Movies/Up/Up (extras).mkv", &n), 0);
		assert_int_equal(snapshot_node_index(s, n), ia);
		assert_int_equal(
		    snapshot_lookup_path(s, "/Movies/Inception (2010)/Inception.mkv", &n), 0);
		assert_int_equal(snapshot_node_index(s, n), ib);
		snapshot_free(s);
	}
	free(p.buf);
}

/* ---- the writer ------------------------------------------------------------ */

static int count_temp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	/* The writer's temporary files are the only hidden ones: ".<name>.XXXXXX". */
	while ((de = readdir(d)))
		if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static unsigned char *read_whole_at(const struct fixture *f, const char *name, size_t *ret_size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return read_whole(path, ret_size);
}

/* Write b as "name" in f->dir and return its bytes. */
static unsigned char *write_bytes(const struct fixture *f, const struct snapshot_build *b,
                                  const char *name, size_t *ret_size)
{
	int r = snapshot_write(b, &test_kv, 7, 1700000001000000000LL, f->dir, name);

	if (r != 0)
		fail_msg("writing %s: expected 0, got %d", name, r);
	return read_whole_at(f, name, ret_size);
}

/* A build that continues borrowed strings and props writes the same file. */
static void test_writer_borrowed_base(void **state)
{
	struct fixture *f = *state;
	const struct snapshot_build *whole = f->t.b;
	struct snapshot_build b = *whole;
	unsigned char *want, *got;
	size_t want_size, got_size, cut;

	want = write_bytes(f, whole, "whole", &want_size);
	for (unsigned split = 0; split < 3; split++) {
		/* Cut the strings after a NUL: half way, at the very end, after the first "". */
		cut = split == 0 ? whole->strings_size / 2 : split == 1 ? whole->strings_size : 0;
		while (cut > 0 && whole->strings[cut - 1] != '\0')
			cut++;
		if (split == 2)
			cut = 1;
		b = *whole;
		b.strings_base = whole->strings;
		b.strings_base_size = cut;
		b.strings = cut < whole->strings_size ? whole->strings + cut : NULL;
		b.strings_size = whole->strings_size - cut;
		b.props_base = whole->props;
		b.props_base_count = whole->prop_count / (split + 1);
		b.props = whole->props + b.props_base_count;
		b.prop_count = whole->prop_count - b.props_base_count;
		got = write_bytes(f, &b, "based", &got_size);
		if (got_size != want_size || memcmp(got, want, want_size) != 0)
			fail_msg(
			    "split %u (strings cut at %zu): expected the same %zu bytes, got %zu "
			    "bytes that differ",
			    split, cut, want_size, got_size);
		free(got);
	}
	free(want);

	/* A base must start with "" and the section end with a NUL. */
	b = *whole;
	b.strings_base = "x\0";
	b.strings_base_size = 2;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b.strings_base = NULL;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b = *whole;
	b.strings_base = whole->strings;
	b.strings_base_size = whole->strings_size;
	b.strings = (char *)"ab";
	b.strings_size = 2;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b = *whole;
	b.props_base = NULL;
	b.props_base_count = 2;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
}

/* Nodes written in place (snapshot_begin) give the same file; an unfinished one goes. */
static void test_writer_in_place(void **state)
{
	struct fixture *f = *state;
	const struct snapshot_build *whole = f->t.b;
	struct snapshot_build b = *whole;
	struct snapshot_file *file = NULL;
	struct snap_node *nodes = NULL;
	unsigned char *want, *got;
	size_t want_size, got_size;
	int r;

	want = write_bytes(f, whole, "whole", &want_size);
	r = snapshot_begin(f->dir, "inplace", whole->node_count, &file, &nodes);
	if (r != 0)
		fail_msg("snapshot_begin: expected 0, got %d", r);
	if (count_temp_files(f->dir) != 1)
		fail_msg("expected one temp file while writing, got %d", count_temp_files(f->dir));
	memcpy(nodes, whole->nodes, whole->node_count * sizeof(*nodes));
	b.nodes = nodes;
	b.file = file;
	/* Another node count than the file was made for is refused. */
	b.node_count--;
	assert_int_equal(snapshot_write(&b, &test_kv, 7, 1700000001000000000LL, NULL, NULL),
	                 -EINVAL);
	b.node_count++;
	r = snapshot_write(&b, &test_kv, 7, 1700000001000000000LL, NULL, NULL);
	if (r != 0)
		fail_msg("in-place write: expected 0, got %d", r);
	/* Finished once: a second write of the same file is refused. */
	assert_int_equal(snapshot_write(&b, &test_kv, 8, 0, NULL, NULL), -EINVAL);
	snapshot_file_free(file);
	got = read_whole_at(f, "inplace", &got_size);
	if (got_size != want_size || memcmp(got, want, want_size) != 0)
		fail_msg("expected the same %zu bytes as a plain write, got %zu bytes that differ",
		         want_size, got_size);
	free(got);
	free(want);
	if (count_temp_files(f->dir) != 0)
		fail_msg("expected no temp file after the rename, got %d",
		         count_temp_files(f->dir));

	/*
	 * Prepared ahead: with room to spare (mapped whole, cut to its size), at its
	 * exact size, big enough for the nodes only (the rest streamed behind them),
	 * too small even for them (mapped again), and with strings and properties
	 * continued from a base as a patch has them: the same bytes every time.
	 */
	want = write_bytes(f, whole, "whole", &want_size);
	{
		size_t nodes_end = sizeof(struct snap_header) + whole->node_count * sizeof(*nodes);
		const size_t sizes[] = {want_size + 100000, want_size, nodes_end + 8,
		                        sizeof(struct snap_header), want_size};

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			bool split = i == sizeof(sizes) / sizeof(sizes[0]) - 1;

			r = snapshot_prepare(f->dir, "prepared", sizes[i], &file);
			if (r != 0)
				fail_msg("snapshot_prepare(%zu): expected 0, got %d", sizes[i], r);
			assert_int_equal(snapshot_begin_in(file, whole->node_count, &nodes), 0);
			assert_int_equal(snapshot_begin_in(file, whole->node_count, &nodes),
			                 -EINVAL);
			memcpy(nodes, whole->nodes, whole->node_count * sizeof(*nodes));
			b = *whole;
			if (split) {
				b.strings_base = whole->strings;
				b.strings_base_size = whole->strings_size / 2;
				while (b.strings_base[b.strings_base_size - 1] != '\0')
					b.strings_base_size++;
				b.strings = whole->strings + b.strings_base_size;
				b.strings_size = whole->strings_size - b.strings_base_size;
				b.props_base = whole->props;
				b.props_base_count = whole->prop_count / 2;
				b.props = whole->props + b.props_base_count;
				b.prop_count = whole->prop_count - b.props_base_count;
			}
			b.nodes = nodes;
			b.file = file;
			r = snapshot_write(&b, &test_kv, 7, 1700000001000000000LL, NULL, NULL);
			if (r != 0)
				fail_msg("prepared %zu bytes: write: expected 0, got %d", sizes[i],
				         r);
			snapshot_file_free(file);
			got = read_whole_at(f, "prepared", &got_size);
			if (got_size != want_size || memcmp(got, want, want_size) != 0)
				fail_msg("prepared %zu bytes%s: expected the same %zu bytes as a "
				         "plain write, got %zu bytes",
				         sizes[i], split ? " (split)" : "", want_size, got_size);
			free(got);
			if (count_temp_files(f->dir) != 0)
				fail_msg("prepared %zu bytes: expected no temp file, got %d",
				         sizes[i], count_temp_files(f->dir));
		}
	}
	free(want);

	/* Abandoned before the write: its temporary file is removed. */
	r = snapshot_begin(f->dir, "gone", whole->node_count, &file, &nodes);
	assert_int_equal(r, 0);
	snapshot_file_free(file);
	if (count_temp_files(f->dir) != 0)
		fail_msg("abandoned: expected no temp file, got %d", count_temp_files(f->dir));
	assert_int_equal(snapshot_begin(f->dir, "x", 0, &file, &nodes), -EINVAL);
	assert_int_equal(snapshot_prepare(f->dir, "x", 8, &file), -EINVAL);
	assert_int_equal(snapshot_begin(f->dir, "a/b", 3, &file, &nodes), -EINVAL);
	assert_int_equal(snapshot_begin("/nonexistent-mf-dir", "x", 3, &file, &nodes), -ENOENT);
}

static void test_writer_failures(void **state)
{
	struct fixture *f = *state;
	struct snapshot_build b = *f->t.b;
	char sub[256], blocker[300];
	int r;

	r = snapshot_write(f->t.b, NULL, 1, 0, "/nonexistent-mf-dir", SNAP_FILE_NAME);
	if (r != -ENOENT)
		fail_msg("missing dir: expected %d, got %d", -ENOENT, r);

	/* The rename fails (a non-empty directory holds the name): no temp file stays. */
	snprintf(sub, sizeof(sub), "%s/w", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(blocker, sizeof(blocker), "%s/%s", sub, SNAP_FILE_NAME);
	assert_int_equal(mkdir(blocker, 0755), 0);
	snprintf(blocker, sizeof(blocker), "%s/%s/x", sub, SNAP_FILE_NAME);
	assert_int_equal(mkdir(blocker, 0755), 0);
	r = snapshot_write(f->t.b, NULL, 1, 0, sub, SNAP_FILE_NAME);
	if (r != -EISDIR && r != -ENOTEMPTY)
		fail_msg("rename over a directory: expected -EISDIR, got %d", r);
	if (count_temp_files(sub) != 0)
		fail_msg("expected no temp file left, got %d", count_temp_files(sub));

	/* Bad names and builds. */
	assert_int_equal(snapshot_write(f->t.b, NULL, 1, 0, f->dir, "a/b"), -EINVAL);
	assert_int_equal(snapshot_write(f->t.b, NULL, 1, 0, f->dir, ""), -EINVAL);
	assert_int_equal(snapshot_write(f->t.b, NULL, 1, 0, f->dir, ".."), -EINVAL);
	assert_int_equal(snapshot_write(NULL, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b.node_count = 0;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b = *f->t.b;
	b.strings = (char *)"x\0";
	b.strings_size = 3;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b.strings = (char *)"\0x";
	b.strings_size = 2;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	b = *f->t.b;
	b.prop_count = 3;
	b.props = NULL;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
	/* Counts that do not fit: refused before any array is read. */
	b = *f->t.b;
	b.node_count = UINT32_MAX;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EOVERFLOW);
	b = *f->t.b;
	b.strings_size = (uint64_t)UINT32_MAX + 1;
	assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EOVERFLOW);
	/* Two nodes with one id: the builder's bug, refused. */
	{
		struct snap_node *nodes = malloc(b.node_count * sizeof(*nodes));

		b = *f->t.b;
		memcpy(nodes, b.nodes, b.node_count * sizeof(*nodes));
		nodes[5].id = nodes[3].id;
		b.nodes = nodes;
		assert_int_equal(snapshot_write(&b, NULL, 1, 0, f->dir, "x"), -EINVAL);
		free(nodes);
	}
	assert_int_equal(count_temp_files(f->dir), 0);
	assert_int_equal(access(blocker, F_OK), 0);
	{
		char x[300];

		snprintf(x, sizeof(x), "%s/x", f->dir);
		assert_int_equal(access(x, F_OK), -1);
	}
	remove_dir(sub);
	snapshot_build_free(NULL);

	/* The writer does not judge names; the reader refuses one over 255 bytes. */
	{
		char name[300] = "/", path[300], err[256];
		struct tent ents[1] = {{name, SNAP_NODE_FILE, 1, 0, {NULL}}};
		struct tree t;
		struct snapshot *s;

		memset(name + 1, 'n', SNAP_NAME_MAX + 1);
		name[SNAP_NAME_MAX + 2] = '\0';
		t = build_tree(ents, 1);
		assert_int_equal(snapshot_write(t.b, NULL, 1, 0, f->dir, "long"), 0);
		snprintf(path, sizeof(path), "%s/long", f->dir);
		assert_int_equal(snapshot_open(path, &s, err, sizeof(err)), -EBADMSG);
		if (!strstr(err, "node 1: name longer than 255 bytes"))
			fail_msg("expected \"name longer than 255 bytes\", got \"%s\"", err);
		name[SNAP_NAME_MAX + 1] = '\0';
		tree_free(&t);
		t = build_tree(ents, 1);
		assert_int_equal(snapshot_write(t.b, NULL, 1, 0, f->dir, "long"), 0);
		assert_int_equal(snapshot_open(path, &s, err, sizeof(err)), 0);
		snapshot_free(s);
		tree_free(&t);
	}
}

static void test_rename_keeps_old_mapping(void **state)
{
	struct fixture *f = *state;
	static const struct tent other[] = {
	    {"/Anime/Show/E01.mkv", SNAP_NODE_FILE, 5, 0, {"title", "E01", NULL}},
	};
	struct tree t2 = build_tree(other, ARRAY_SIZE(other));
	struct snapshot *old, *cur;
	char err[256];
	struct stat st;
	const struct snap_node *n;

	assert_int_equal(snapshot_open(f->path, &old, err, sizeof(err)), 0);
	assert_int_equal(snapshot_write(t2.b, NULL, 8, 0, f->dir, SNAP_FILE_NAME), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(count_temp_files(f->dir), 0);
	assert_int_equal(snapshot_open(f->path, &cur, err, sizeof(err)), 0);
	assert_int_equal(snapshot_generation(cur), 8);
	assert_int_equal(snapshot_lookup_path(cur, "/Anime/Show/E01.mkv", &n), 0);
	assert_int_equal(snapshot_lookup_path(cur, "/Movies", &n), -ENOENT);

	/* The old generation is still mapped and whole. */
	assert_int_equal(snapshot_generation(old), 7);
	assert_int_equal(snapshot_lookup_path(old, "/Movies/Up.mkv", &n), 0);
	assert_string_equal(snapshot_prop(old, n, "title"), "Up");
	assert_int_equal(snapshot_lookup_path(old, "/Anime", &n), -ENOENT);
	snapshot_free(old);
	snapshot_free(cur);
	tree_free(&t2);
	/* Put generation 7 back for the other tests. */
	assert_int_equal(
	    snapshot_write(f->t.b, &test_kv, 7, 1700000001000000000LL, f->dir, SNAP_FILE_NAME), 0);
}

/* A tree of 1,800 files in 30 directories, written to its own directory. */
struct larger {
	struct tent *ents;
	char **paths;
	struct tree t;
	char dir[64];
	char path[128];
};

enum { LARGER_DIRS = 30, LARGER_FILES = 60 };

static void larger_write(struct larger *l)
{
	l->ents = calloc(LARGER_DIRS * LARGER_FILES, sizeof(*l->ents));
	l->paths = calloc(LARGER_DIRS * LARGER_FILES, sizeof(*l->paths));
	assert_non_null(l->ents);
	assert_non_null(l->paths);
	for (int d = 0; d < LARGER_DIRS; d++)
		for (int i = 0; i < LARGER_FILES; i++) {
			size_t k = (size_t)d * LARGER_FILES + i;

			l->paths[k] = malloc(64);
			snprintf(l->paths[k], 64, "/Cat%d/Dir %03d/File %d.mkv", d % 3,
			         (d * 7) % LARGER_DIRS, (i * 37) % LARGER_FILES);
			l->ents[k].path = l->paths[k];
			l->ents[k].type = SNAP_NODE_FILE;
			l->ents[k].size = k;
		}
	l->t = build_tree(l->ents, LARGER_DIRS * LARGER_FILES);
	make_temp_dir(l->dir, sizeof(l->dir));
	assert_int_equal(snapshot_write(l->t.b, NULL, 1, 0, l->dir, SNAP_FILE_NAME), 0);
	snprintf(l->path, sizeof(l->path), "%s/%s", l->dir, SNAP_FILE_NAME);
}

static void larger_free(struct larger *l)
{
	tree_free(&l->t);
	remove_dir(l->dir);
	for (int k = 0; k < LARGER_DIRS * LARGER_FILES; k++)
		free(l->paths[k]);
	free(l->paths);
	free(l->ents);
}

/* Every node of l's tree is where the tree put it, found by path and by id. */
static void larger_check(const struct larger *l, const struct snapshot *s)
{
	char buf[SNAP_PATH_MAX];

	assert_int_equal(snapshot_node_count(s), l->t.count);
	for (uint32_t i = 0; i < l->t.count; i++) {
		const struct snap_node *n = NULL;

		assert_int_equal(snapshot_lookup_path(s, l->t.paths[i], &n), 0);
		assert_int_equal(snapshot_node_index(s, n), i);
		assert_ptr_equal(snapshot_lookup_id(s, n->id), n);
		assert_true(snapshot_node_path(s, n, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, l->t.paths[i]);
	}
}

static void test_larger_tree(void **state)
{
	struct larger l;
	struct snapshot *s;
	char err[256];

	larger_write(&l);
	if (snapshot_open(l.path, &s, err, sizeof(err)))
		fail_msg("expected 0, got an error (%s)", err);
	larger_check(&l, s);
	snapshot_free(s);
	larger_free(&l);
}

/*
 * Two threads (forced, as on a large snapshot): the mapped and the copied file
 * validate, the copy read in two halves holds the file's bytes, and where two
 * faults are met the reason is the first in the checks' order.
 */
static void test_two_threads(void **state)
{
	struct larger l;
	struct snapshot *s;
	struct snap_header *h;
	unsigned char *bytes, *c;
	char err[256], p[160];
	size_t size;
	int fd;

	larger_write(&l);
	bytes = read_whole(l.path, &size);
	/* Large enough for two halves of whole pages. */
	if (size < 4 * (size_t)sysconf(_SC_PAGESIZE))
		fail_msg("expected a snapshot of 4 pages or more, got %zu bytes", size);
	snapshot_set_parallel_min(0);
	for (int load = 0; load < 2; load++) {
		int r = load ? snapshot_load(l.path, &s, err, sizeof(err))
		             : snapshot_open(l.path, &s, err, sizeof(err));

		if (r != 0)
			fail_msg("%s: expected 0, got %d (%s)", load ? "load" : "open", r, err);
		assert_memory_equal(snapshot_header(s), bytes, size);
		larger_check(&l, s);
		snapshot_free(s);
	}

	/* A fault of the layout and a changed body: the body checksum's reason. */
	c = malloc(size);
	assert_non_null(c);
	memcpy(c, bytes, size);
	h = (void *)c;
	h->node_size = 80;
	c[size - 2] ^= 1;
	h->header_checksum = 0;
	h->header_checksum = hash64(c, sizeof(*h), 0);
	expect_refused("node size and body", c, size, -EBADMSG, "body checksum mismatch");
	free(c);

	/* A file cut in its second half, loaded in two halves: refused as cut. */
	snprintf(p, sizeof(p), "%s/cut", l.dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, size - 100), (ssize_t)(size - 100));
	close(fd);
	snapshot_set_parallel_min(0);
	assert_int_equal(snapshot_load(p, &s, err, sizeof(err)), -EBADMSG);
	snapshot_set_parallel_min(SNAPSHOT_PARALLEL_MIN);
	if (!strstr(err, "truncated: file is"))
		fail_msg("expected \"truncated: file is\", got \"%s\"", err);
	unlink(p);

	free(bytes);
	larger_free(&l);
}

/* Seeds for tests/fuzz/corpus/snapshot/, written only when asked. */
static void write_corpus(void **state)
{
	struct fixture *f = *state;
	const char *out = getenv("MF_SNAPSHOT_WRITE_CORPUS");
	static const struct tent one[] = {{"/a", SNAP_NODE_FILE, 1, 0, {"k", "v", NULL}}};
	struct tree t;
	assert_int_equal(snapshot_write(f->t.b, &test_kv, 7, 1, out, "small.snapshot"), 0);
	t = build_tree(one, 1);
	assert_int_equal(snapshot_write(t.b, NULL, 1, 1, out, "one-file.snapshot"), 0);
	tree_free(&t);
	t = build_tree(NULL, 0);
	assert_int_equal(snapshot_write(t.b, NULL, 1, 1, out, "root-only.snapshot"), 0);
	tree_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_and_kv),
	    cmocka_unit_test(test_kv_state_defaults),
	    cmocka_unit_test(test_lookup_path),
	    cmocka_unit_test(test_every_node),
	    cmocka_unit_test(test_children),
	    cmocka_unit_test(test_files_props_tables),
	    cmocka_unit_test(test_open_fd_and_buffer),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_header_fields_perturbed),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_flipped_bytes),
	    cmocka_unit_test(test_broken_structure),
	    cmocka_unit_test(test_children_in_another_order),
	    cmocka_unit_test(test_writer_failures),
	    cmocka_unit_test(test_writer_borrowed_base),
	    cmocka_unit_test(test_writer_in_place),
	    cmocka_unit_test(test_rename_keeps_old_mapping),
	};
	const struct CMUnitTest corpus[] = {
	    cmocka_unit_test(write_corpus),
	};
	const struct CMUnitTest standalone[] = {
	    cmocka_unit_test(test_larger_tree),
	    cmocka_unit_test(test_two_threads),
	    cmocka_unit_test(test_lookup_rehashed_ids),
	};
	const char *out = getenv("MF_SNAPSHOT_WRITE_CORPUS");
	int r;

	if (out && *out)
		return cmocka_run_group_tests(corpus, fixture_setup, fixture_teardown);
	r = cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
	return r + cmocka_run_group_tests(standalone, NULL, NULL);
}
