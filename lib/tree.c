/*
 * tree: records + rules -> the virtual tree in snapshot layout (see tree.h).
 *
 * The build runs in passes over flat arrays, with no allocation per record:
 *   1. place: every record through the rules, read once, in order; its strings
 *      (source, hash id, properties) go straight to their place in the output's
 *      string table, its placed path into a paths arena.
 *   2. directories, as each file is placed: every parent path of a placed file
 *      becomes a directory, found or created through one hash map keyed by the
 *      path (the key points into the arena, so a directory costs no string
 *      copy); every file and directory becomes an "item" of its parent.  The
 *      hash of a path is the node's id (pass 4), so it is computed here once.
 * Passes 1 and 2 run record by record (tree_builder_add), so kvwatch does them
 * while a full load is still arriving; the others need every record.
 *   3. order: items are grouped by parent (counting sort) and each group sorted by
 *      name; equal names are made unique (" (2)", " (3)"; a directory keeps its
 *      name, files yield in hash-id order).
 *   4. number: breadth-first numbering gives each directory's children contiguous
 *      slots; the names go to the string table in node order and each node gets
 *      its id (the hash of its virtual path, from pass 2 but for files renamed in
 *      pass 3) in a 16-byte skeleton.  The temporaries of passes 1-3
 *      are dropped here, before the nodes are allocated.
 *   5. emit: the nodes are written front to back from the skeleton and the placed
 *      files; directory times come from their newest child.
 *
 * Memory is the point of this layout (kvwatch builds 100,000s of files next to
 * its record store): the output arrays are allocated once at their exact size
 * and the temporaries live in mmap'ed buffers (grown by mremap, so growing never
 * copies and only the pages written count) that are unmapped as soon as their
 * last reader is done, the skeleton even while it is read.  At the peak, in pass
 * 5, the output is complete but for the nodes being written, and only the placed
 * files (64 bytes each) and the rest of the skeleton are left beside it.
 * It does not log and does not read the file system.
 */
#include "tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "hash.h"
#include "names.h"
#include "tree_place.h"

#define TBUF_MIN  ((size_t)1 << 16)
#define PAGE      ((size_t)4096)
#define ITEM_DIR  0x80000000u /* in item.ref: a directory index, else a placed index */
#define SKEL_DIR  0x80000000u /* in skel.aux: a directory, else a file */
#define COPY_STEP ((size_t)1 << 20)
#define INDEX_MAX 0x7fffffffu

/*
 * A temporary buffer: anonymous memory grown by mremap() (no copy, and untouched
 * capacity costs nothing), unmapped from the front while it is read.  Offsets
 * stay valid when it grows; pointers do not.
 */
struct tbuf {
	char *data;
	size_t len;
	size_t cap;
	size_t gone; /* bytes at the front already unmapped, a multiple of PAGE */
};

static int tbuf_reserve(struct tbuf *t, size_t more)
{
	size_t cap = t->cap ? t->cap : TBUF_MIN;
	void *p;

	if (t->len + more <= t->cap)
		return 0;
	while (cap < t->len + more) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (t->data == NULL)
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		p = mremap(t->data, t->cap, cap, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -ENOMEM;
	t->data = p;
	t->cap = cap;
	return 0;
}

/* n more bytes at the end, or NULL; t->len grows by n. */
static void *tbuf_add(struct tbuf *t, size_t n)
{
	void *p;

	if (tbuf_reserve(t, n) < 0)
		return NULL;
	p = t->data + t->len;
	t->len += n;
	return p;
}

/* The first upto bytes will not be read again: give back their whole pages. */
static void tbuf_release(struct tbuf *t, size_t upto)
{
	upto &= ~(PAGE - 1);
	if (t->data == NULL || upto <= t->gone)
		return;
	munmap(t->data + t->gone, upto - t->gone);
	t->gone = upto;
}

static void tbuf_free(struct tbuf *t)
{
	if (t->data != NULL && t->cap > t->gone)
		munmap(t->data + t->gone, t->cap - t->gone);
	memset(t, 0, sizeof(*t));
}

/*
 * A placed file, with everything its node needs: its strings are already in the
 * output (source, then the hash id after the source's NUL, then its property
 * values), written while the records were read in order.
 */
struct placed {
	uint64_t id; /* the hash of its path, its node id unless it is renamed */
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint32_t rule;
	uint32_t flags;    /* SNAP_NODE_F_* */
	uint32_t path_off; /* in paths, absolute "/a/b/name" */
	uint32_t path_len;
	uint32_t src_off; /* in the output strings */
	uint32_t src_len;
	uint32_t hash_len;
	uint32_t prop_first;
	uint32_t prop_count;
};

/* A directory: its path is its key, in paths; the root's is "". */
struct dir {
	uint32_t path_off;
	uint32_t path_len;
	uint64_t id; /* hash64(path): its node id, and its key's hash in the map */
};

struct item {
	uint64_t prefix[2]; /* name bytes 0-7 and 8-15, big-endian: compare like memcmp */
	uint32_t parent;    /* dir index */
	uint32_t ref;       /* ITEM_DIR | dir index, or placed index */
	uint32_t name_off;  /* in paths */
	uint32_t name_len;
};

/* A node in breadth-first order, before the nodes are allocated. */
struct skel {
	uint64_t id;
	uint32_t parent;
	uint32_t aux; /* SKEL_DIR | child count (dir index until numbered), or placed index */
};

struct skip_reason {
	const char *reason;
	char *example; /* a copy: records need not outlive the call that gave them */
	uint32_t example_len;
	uint64_t count;
};

struct builder {
	const struct rules *rules;
	const struct schema *schema;

	struct tbuf strs;   /* the output strings up to the names: "", keys, records' */
	struct tbuf props;  /* struct snap_prop, the output's */
	struct tbuf placed; /* struct placed */
	struct tbuf paths;  /* placed paths and new names, NUL-terminated */
	size_t placed_count;
	uint32_t prop_count;

	struct tbuf dirs; /* struct dir */
	size_t dir_count;
	uint32_t *dir_map; /* open addressing: dir index + 1, 0 = empty */
	size_t dir_map_size;

	struct tbuf items; /* struct item */
	size_t item_count;
	uint32_t *group_start; /* per dir: first item of its group in sorted order */

	struct tbuf skel; /* struct skel, node_count of them */
	size_t node_count;

	uint64_t *rule_files;
	uint64_t *rule_hidden;
	struct skip_reason skips[TREE_SKIP_MAX];
	uint64_t hidden;

	struct tree_sizes *sizes; /* NULL: sizes are the KV store's */

	struct snapshot_build *out;
	size_t strs_names;  /* where the names begin in the output strings */
	size_t strings_len; /* of out->strings, written so far */
	size_t strings_cap;
	struct snap_str *keys; /* schema index -> its name in strings */
};

#define PLACED(b) ((struct placed *)(b)->placed.data)
#define DIRS(b)   ((struct dir *)(b)->dirs.data)
#define ITEMS(b)  ((struct item *)(b)->items.data)
#define SKEL(b)   ((struct skel *)(b)->skel.data)

/* ---- values ---- */

/* Every second of a time that fits signed 64-bit nanoseconds, fraction included. */
#define SECONDS_MAX (INT64_MAX / 1000000000 - 1)

static bool parse_digits(const char *s, size_t n, int *ret)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH:MM|-HH:MM]": 0, -EINVAL or -ERANGE. */
static int parse_iso8601(const char *s, size_t len, int64_t *ret)
{
	int year, mon, mday, hour, min, sec, oh, om;
	int64_t ns = 0, offset = 0, secs;
	size_t i = 19;

	if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (!parse_digits(s, 4, &year) || !parse_digits(s + 5, 2, &mon) ||
	    !parse_digits(s + 8, 2, &mday) || !parse_digits(s + 11, 2, &hour) ||
	    !parse_digits(s + 14, 2, &min) || !parse_digits(s + 17, 2, &sec))
		return -EINVAL;
	if (mon < 1 || mon > 12 || mday < 1 || mday > days_in_month(year, mon) || hour > 23 ||
	    min > 59 || sec > 60)
		return -EINVAL;
	if (i < len && s[i] == '.') {
		int64_t scale = 100000000;

		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			ns += (s[i] - '0') * scale;
	}
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
	           parse_digits(s + i + 1, 2, &oh) && parse_digits(s + i + 4, 2, &om)) {
		if (oh > 23 || om > 59)
			return -EINVAL;
		offset = (s[i] == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60);
		i = len;
	}
	if (i != len)
		return -EINVAL;
	/* Years 0000-9999 keep every term far from overflow; the result may not fit. */
	secs = days_from_civil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec - offset;
	if (secs > SECONDS_MAX || secs < -SECONDS_MAX)
		return -ERANGE;
	*ret = secs * 1000000000 + ns;
	return 0;
}

int tree_parse_time_ns(const char *s, size_t len, int64_t *ret)
{
	uint64_t whole = 0, frac_ns = 0, scale = 100000000;
	size_t i = 0;
	int r;

	if (len == 0)
		return -EINVAL;
	r = parse_iso8601(s, len, ret);
	if (r != -EINVAL)
		return r;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (whole > UINT64_MAX / 10 - 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			frac_ns += (uint64_t)(s[i] - '0') * scale;
	if (i != len)
		return -EINVAL;
	/* Epoch numbers carry their unit in their size: 1e11 s would be the year 5138. */
	if (whole >= 100000000000000000ULL) { /* ns */
		if (whole > INT64_MAX)
			return -ERANGE;
		*ret = (int64_t)whole;
	} else if (whole >= 100000000000000ULL) { /* us */
		if (whole > INT64_MAX / 1000)
			return -ERANGE;
		*ret = (int64_t)(whole * 1000);
	} else if (whole >= 100000000000ULL) { /* ms */
		if (whole > INT64_MAX / 1000000 - 1)
			return -ERANGE;
		*ret = (int64_t)(whole * 1000000 + frac_ns / 1000);
	} else { /* s: "9999999999" would be 2286 */
		if (whole > SECONDS_MAX)
			return -ERANGE;
		*ret = (int64_t)(whole * 1000000000 + frac_ns);
	}
	return 0;
}

/* ---- pass 1: placing ---- */

/* Count rec under reason (a skip, or a value a placed file does without). */
static int skip_record(struct builder *b, unsigned reason, const struct record *rec)
{
	struct skip_reason *s = &b->skips[reason];

	if (s->count++ == 0 && rec->hash_id.ptr != NULL) {
		s->example = malloc((size_t)rec->hash_id.len + 1);
		if (s->example == NULL)
			return -ENOMEM;
		memcpy(s->example, rec->hash_id.ptr, rec->hash_id.len);
		s->example[rec->hash_id.len] = '\0';
		s->example_len = rec->hash_id.len;
	}
	return 0;
}

/* Append s and a NUL to a (paths or strs); the offset of s, -ENOMEM or -EOVERFLOW. */
static int64_t tbuf_add_str(struct tbuf *a, const char *s, size_t len)
{
	char *p = tbuf_add(a, len + 1);

	if (p == NULL)
		return -ENOMEM;
	if (a->len > UINT32_MAX)
		return -EOVERFLOW;
	memcpy(p, s, len);
	p[len] = '\0';
	return (int64_t)(a->len - len - 1);
}

static int add_string(struct builder *b, const char *s, size_t len, struct snap_str *ret)
{
	int64_t off = tbuf_add_str(&b->strs, s, len);

	if (off < 0)
		return (int)off;
	ret->off = (uint32_t)off;
	ret->len = (uint32_t)len;
	return 0;
}

/* Every non-empty value beyond the core properties, for xattrs and the API. */
static int add_props(struct builder *b, struct placed *p, const struct record *rec)
{
	p->prop_first = b->prop_count;
	p->prop_count = 0;
	for (uint32_t i = PROP_CORE_MAX; i < b->schema->count; i++) {
		struct snap_prop *prop;
		int r;

		if (!record_has(rec, i))
			continue;
		if (b->prop_count == UINT32_MAX)
			return -EOVERFLOW;
		prop = tbuf_add(&b->props, sizeof(*prop));
		if (prop == NULL)
			return -ENOMEM;
		prop->key = b->keys[i];
		r = add_string(b, rec->values[i].ptr, rec->values[i].len, &prop->value);
		if (r < 0)
			return r;
		b->prop_count++;
		p->prop_count++;
	}
	return 0;
}

static int collect_one(struct builder *b, size_t i);

static int place_one(struct builder *b, const struct record *rec)
{
	char path[SNAP_PATH_MAX];
	struct snap_str src = {0, 0}, hash = {0, 0};
	struct tree_file file;
	struct placed *p;
	uint32_t rule = 0;
	size_t path_len;
	int64_t off;
	int r;

	switch (tree_place(b->rules, rec, path, &rule)) {
	case TREE_HIDDEN:
		b->rule_hidden[rule]++;
		b->hidden++;
		return 0;
	case TREE_SKIPPED:
		return skip_record(b, rule, rec);
	case TREE_PLACED:
		break;
	}
	if (b->placed_count >= INDEX_MAX)
		return -EOVERFLOW;
	path_len = strlen(path);
	off = tbuf_add_str(&b->paths, path, path_len);
	if (off < 0)
		return (int)off;
	r = add_string(b, rec->values[PROP_FILE_PATH].ptr, rec->values[PROP_FILE_PATH].len, &src);
	if (r == 0)
		r = add_string(b, rec->hash_id.ptr, rec->hash_id.len, &hash);
	if (r < 0)
		return r;
	p = tbuf_add(&b->placed, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	b->placed_count++;
	p->id = hash64(path, path_len, 0); /* here, while redis-server is still busy */
	p->rule = rule;
	p->path_off = (uint32_t)off;
	p->path_len = (uint32_t)path_len;
	p->src_off = src.off;
	p->src_len = src.len;
	p->hash_len = hash.len;
	tree_file_measure(rec, b->sizes, &file);
	p->size = file.size;
	p->mtime_ns = file.mtime_ns;
	p->ctime_ns = file.ctime_ns;
	p->flags = file.flags;
	for (unsigned i = TREE_SKIP_RECORDS; i < TREE_SKIP_MAX; i++) {
		if (!(file.notes & 1u << i))
			continue;
		r = skip_record(b, i, rec);
		if (r < 0)
			return r;
	}
	r = add_props(b, p, rec);
	if (r == 0)
		r = collect_one(b, b->placed_count - 1);
	if (r < 0)
		return r;
	b->rule_files[rule]++;
	return 0;
}

/* ---- pass 2: directories and items ---- */

/*
 * The first 16 bytes of a name as two big-endian words, zero-padded: sorting
 * compares them before it reads the name itself, which is rarely in cache.
 */
static void name_prefix(const char *s, size_t len, uint64_t prefix[2])
{
	for (size_t w = 0; w < 2; w++) {
		uint64_t v = 0;

		for (size_t i = w * 8; i < w * 8 + 8; i++)
			v = v << 8 | (i < len ? (unsigned char)s[i] : 0);
		prefix[w] = v;
	}
}

static int add_item(struct builder *b, uint32_t parent, uint32_t ref, uint32_t name_off,
                    uint32_t name_len)
{
	struct item *it = tbuf_add(&b->items, sizeof(*it));

	if (it == NULL)
		return -ENOMEM;
	b->item_count++;
	it->parent = parent;
	it->ref = ref;
	it->name_off = name_off;
	it->name_len = name_len;
	name_prefix(b->paths.data + name_off, name_len, it->prefix);
	return 0;
}

static int dir_map_rehash(struct builder *b)
{
	size_t size = b->dir_map_size ? b->dir_map_size * 2 : 1 << 12;
	uint32_t *map = calloc(size, sizeof(*map));

	if (map == NULL)
		return -ENOMEM;
	for (size_t d = 0; d < b->dir_count; d++) {
		size_t slot = DIRS(b)[d].id & (size - 1);

		while (map[slot] != 0)
			slot = (slot + 1) & (size - 1);
		map[slot] = (uint32_t)d + 1;
	}
	free(b->dir_map);
	b->dir_map = map;
	b->dir_map_size = size;
	return 0;
}

/* The directory whose path is paths[off .. off+len), created (with its parents) if new. */
static int64_t find_or_add_dir(struct builder *b, uint32_t off, uint32_t len)
{
	const char *path = b->paths.data + off;
	uint32_t name_start, parent;
	uint64_t h;
	size_t slot;
	int64_t pr;
	struct dir *d;
	int r;

	if (len == 0)
		return 0; /* the root */
	h = hash64(path, len, 0);
	for (slot = h & (b->dir_map_size - 1); b->dir_map[slot] != 0;
	     slot = (slot + 1) & (b->dir_map_size - 1)) {
		const struct dir *e = &DIRS(b)[b->dir_map[slot] - 1];

		if (e->id == h && e->path_len == len &&
		    memcmp(b->paths.data + e->path_off, path, len) == 0)
			return b->dir_map[slot] - 1;
	}
	name_start = len;
	while (name_start > 0 && path[name_start - 1] != '/')
		name_start--;
	pr = find_or_add_dir(b, off, name_start - 1);
	if (pr < 0)
		return pr;
	parent = (uint32_t)pr;
	if (b->dir_count >= INDEX_MAX)
		return -EOVERFLOW;
	d = tbuf_add(&b->dirs, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->path_off = off;
	d->path_len = len;
	d->id = h;
	r = add_item(b, parent, ITEM_DIR | (uint32_t)b->dir_count, off + name_start,
	             len - name_start);
	if (r < 0)
		return r;
	b->dir_count++;
	if (b->dir_count * 2 > b->dir_map_size) {
		r = dir_map_rehash(b);
		if (r < 0)
			return r;
	} else {
		slot = h & (b->dir_map_size - 1);
		while (b->dir_map[slot] != 0)
			slot = (slot + 1) & (b->dir_map_size - 1);
		b->dir_map[slot] = (uint32_t)b->dir_count;
	}
	return (int64_t)b->dir_count - 1;
}

/* The root, and the map the directories are found by. */
static int collect_begin(struct builder *b)
{
	struct dir *root = tbuf_add(&b->dirs, sizeof(*root));

	if (root == NULL)
		return -ENOMEM;
	memset(root, 0, sizeof(*root));
	b->dir_count = 1; /* the root; never in the map (find_or_add_dir answers len 0) */
	return dir_map_rehash(b);
}

/* Placed file i's directories and its item: done as each file is placed. */
static int collect_one(struct builder *b, size_t i)
{
	const struct placed *p = &PLACED(b)[i];
	uint32_t name_len = 0;
	int64_t dir;

	while (name_len < p->path_len &&
	       b->paths.data[p->path_off + p->path_len - 1 - name_len] != '/')
		name_len++;
	dir = find_or_add_dir(b, p->path_off, p->path_len - name_len - 1);
	if (dir < 0)
		return (int)dir;
	return add_item(b, (uint32_t)dir, (uint32_t)i, p->path_off + p->path_len - name_len,
	                name_len);
}

/* ---- pass 3: order and uniqueness ---- */

/* What the comparisons read (qsort_r's context: builds may run on two threads). */
struct sort_ctx {
	const char *names; /* the paths arena */
	const char *strs;
	const struct placed *placed;
};

/* Names a (its bytes at an) and b, in memcmp order, the shorter first on a tie. */
static int names_cmp(const struct item *a, const char *an, const struct item *b, const char *bn)
{
	size_t n;
	int c;

	for (size_t w = 0; w < 2; w++) {
		if (a->prefix[w] != b->prefix[w])
			return a->prefix[w] < b->prefix[w] ? -1 : 1;
	}
	n = a->name_len < b->name_len ? a->name_len : b->name_len;
	c = n > 16 ? memcmp(an + 16, bn + 16, n - 16) : 0;
	if (c != 0)
		return c;
	return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

static int item_name_cmp(const struct sort_ctx *s, const struct item *a, const struct item *b)
{
	return names_cmp(a, s->names + a->name_off, b, s->names + b->name_off);
}

/* The hash ids of two placed files, as memcmp would order them. */
static int hash_id_cmp(const struct sort_ctx *s, const struct placed *a, const struct placed *b)
{
	size_t n = a->hash_len < b->hash_len ? a->hash_len : b->hash_len;
	int c =
	    memcmp(s->strs + a->src_off + a->src_len + 1, s->strs + b->src_off + b->src_len + 1, n);

	if (c != 0)
		return c;
	return a->hash_len < b->hash_len ? -1 : a->hash_len > b->hash_len;
}

/* Name, then directories first, then files by hash id: who keeps a contested name. */
static int item_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct sort_ctx *s = ctx;
	const struct item *a = pa, *b = pb;
	int c = item_name_cmp(s, a, b);

	if (c != 0)
		return c;
	if ((a->ref & ITEM_DIR) != (b->ref & ITEM_DIR))
		return (a->ref & ITEM_DIR) ? -1 : 1;
	if (!(a->ref & ITEM_DIR)) {
		c = hash_id_cmp(s, &s->placed[a->ref], &s->placed[b->ref]);
		if (c != 0)
			return c;
		return a->ref < b->ref ? -1 : a->ref > b->ref;
	}
	return 0;
}

static int group_items(struct builder *b)
{
	struct tbuf sorted = {0};
	struct item *from, *to;
	uint32_t *count;

	b->group_start = calloc(b->dir_count + 1, sizeof(*b->group_start));
	if (b->group_start == NULL || tbuf_add(&sorted, b->item_count * sizeof(*to) + 1) == NULL) {
		tbuf_free(&sorted);
		return -ENOMEM;
	}
	sorted.len--;
	count = b->group_start;
	from = ITEMS(b);
	to = (struct item *)sorted.data;
	for (size_t i = 0; i < b->item_count; i++)
		count[from[i].parent + 1]++;
	for (size_t d = 1; d <= b->dir_count; d++)
		count[d] += count[d - 1];
	/* count[d] is now the start of group d; place, then restore the starts. */
	for (size_t i = 0; i < b->item_count; i++)
		to[count[from[i].parent]++] = from[i];
	for (size_t d = b->dir_count; d > 0; d--)
		count[d] = count[d - 1];
	count[0] = 0;
	tbuf_free(&b->items);
	b->items = sorted;
	return 0;
}

/* Is name among the (sorted, unrenamed) names of the group? */
static bool group_has_name(const struct sort_ctx *s, const struct item *first, size_t n,
                           const char *name, size_t len)
{
	struct item key = {.name_len = (uint32_t)len};
	size_t lo = 0, hi = n;
	bool found = false;

	name_prefix(name, len, key.prefix);
	while (lo < hi && !found) {
		size_t mid = (lo + hi) / 2;
		const struct item *m = &first[mid];
		int c = names_cmp(m, s->names + m->name_off, &key, name);

		if (c == 0)
			found = true;
		else if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return found;
}

struct rename {
	size_t item;
	uint32_t name_off;
	uint32_t name_len;
};

struct taken_ctx {
	const struct sort_ctx *s;
	const struct item *first;
	size_t n;
};

static bool taken_in_group(void *ctx, const char *name, size_t len)
{
	const struct taken_ctx *t = ctx;

	return group_has_name(t->s, t->first, t->n, name, len);
}

/*
 * Give every file that lost its name to an earlier item of the same (sorted) group a
 * free " (n)" variant (tree_uniq).  The new names are applied together at the end,
 * so the binary searches always see the sorted group; the group is then sorted
 * again.
 */
static int make_names_unique(struct builder *b, struct sort_ctx *s, struct tree_uniq *u,
                             struct item *first, size_t n)
{
	struct taken_ctx t = {s, first, n};
	struct rename *renames = NULL;
	size_t count = 0, cap = 0;
	int r = 0;

	tree_uniq_reset(u);
	for (size_t i = 1; i < n; i++) {
		const char *name;
		int64_t off;
		int len;

		if (item_name_cmp(s, &first[i - 1], &first[i]) != 0) {
			tree_uniq_run(u);
			continue;
		}
		if (first[i].ref & ITEM_DIR)
			continue;
		len = tree_uniq_next(u, s->names + first[i].name_off, first[i].name_len,
		                     taken_in_group, &t, &name);
		if (len < 0) {
			r = len;
			goto out;
		}
		r = tree_grow(&renames, &cap, count + 1, sizeof(*renames));
		if (r < 0)
			goto out;
		off = tbuf_add_str(&b->paths, name, (size_t)len);
		if (off < 0) {
			r = (int)off;
			goto out;
		}
		s->names = b->paths.data; /* the arena may have moved */
		renames[count++] = (struct rename){i, (uint32_t)off, (uint32_t)len};
	}
	for (size_t j = 0; j < count; j++) {
		struct item *it = &first[renames[j].item];

		it->name_off = renames[j].name_off;
		it->name_len = renames[j].name_len;
		name_prefix(b->paths.data + it->name_off, it->name_len, it->prefix);
		PLACED(b)[it->ref].flags |= SNAP_NODE_F_SUFFIXED;
	}
	if (count > 0)
		qsort_r(first, n, sizeof(*first), item_cmp, s);
out:
	free(renames);
	return r;
}

static int order_items(struct builder *b)
{
	struct tree_uniq u;
	struct sort_ctx s;
	int r = group_items(b);

	if (r < 0)
		return r;
	tree_uniq_init(&u);
	s = (struct sort_ctx){b->paths.data, b->strs.data, PLACED(b)};
	for (size_t d = 0; d < b->dir_count && r == 0; d++) {
		struct item *first = &ITEMS(b)[b->group_start[d]];
		size_t n = b->group_start[d + 1] - b->group_start[d];

		if (n > 1) {
			qsort_r(first, n, sizeof(*first), item_cmp, &s);
			r = make_names_unique(b, &s, &u, first, n);
		}
	}
	tree_uniq_free(&u);
	return r;
}

/* ---- pass 4: numbering, names and ids ---- */

/* Append s and a NUL to the output strings, allocated at their final size. */
static int put_string(struct builder *b, const char *s, size_t len, struct snap_str *ret)
{
	if (len + 1 > b->strings_cap - b->strings_len)
		return -EOVERFLOW; /* cannot happen: the size was counted */
	memcpy(b->out->strings + b->strings_len, s, len);
	b->out->strings[b->strings_len + len] = '\0';
	ret->off = (uint32_t)b->strings_len;
	ret->len = (uint32_t)len;
	b->strings_len += len + 1;
	return 0;
}

/* Copy t into dst, unmapping t from the front as it goes, then free t. */
static void tbuf_drain(struct tbuf *t, void *dst)
{
	for (size_t off = 0; off < t->len; off += COPY_STEP) {
		size_t n = t->len - off < COPY_STEP ? t->len - off : COPY_STEP;

		memcpy((char *)dst + off, t->data + off, n);
		tbuf_release(t, off + n);
	}
	tbuf_free(t);
}

/* The output strings at their final size: records', names, rules', skip reasons'. */
static int alloc_strings(struct builder *b)
{
	uint64_t size = b->strs.len;
	uint32_t nrules = rules_count(b->rules);

	for (size_t i = 0; i < b->item_count; i++)
		size += (uint64_t)ITEMS(b)[i].name_len + 1;
	for (uint32_t i = 0; i < nrules; i++)
		size += strlen(rules_name(b->rules, i)) + 1;
	for (unsigned i = 0; i < TREE_SKIP_MAX; i++) {
		if (b->skips[i].count == 0)
			continue;
		size += strlen(b->skips[i].reason) + 1;
		if (b->skips[i].example != NULL)
			size += (uint64_t)b->skips[i].example_len + 1;
	}
	if (size > UINT32_MAX)
		return -EOVERFLOW;
	b->out->strings = malloc(size);
	if (b->out->strings == NULL)
		return -ENOMEM;
	b->strings_cap = size;
	b->strings_len = b->strs.len;
	tbuf_drain(&b->strs, b->out->strings);
	return 0;
}

/*
 * The id of item it of directory d: the hash of its path, computed when it was
 * placed, but for a renamed file, whose new path extends d's (st0, hashed once
 * for all its children when has_st is false) by "/" and the new name.
 */
static uint64_t item_id(struct builder *b, const struct dir *d, const struct item *it,
                        struct hash_state *st0, bool *has_st)
{
	const struct placed *p;
	struct hash_state st;

	if (it->ref & ITEM_DIR)
		return DIRS(b)[it->ref & ~ITEM_DIR].id;
	p = &PLACED(b)[it->ref];
	if (it->name_off + it->name_len == p->path_off + p->path_len)
		return p->id;
	if (!*has_st) {
		hash_init(st0, 0);
		hash_update(st0, b->paths.data + d->path_off, d->path_len);
		*has_st = true;
	}
	st = *st0;
	hash_update(&st, "/", 1);
	hash_update(&st, b->paths.data + it->name_off, it->name_len);
	return hash_final(&st);
}

/*
 * Breadth-first: each directory's children (its sorted group) take the next
 * slots.  The skeleton itself is the queue: its directories are visited in node
 * order.
 */
static int number_nodes(struct builder *b)
{
	size_t total = b->dir_count + b->placed_count, next = 1;
	struct skel *sk;
	int r;

	if (total > INDEX_MAX)
		return -EOVERFLOW;
	r = alloc_strings(b);
	if (r < 0)
		return r;
	sk = tbuf_add(&b->skel, total * sizeof(*sk));
	if (sk == NULL)
		return -ENOMEM;
	sk[0] = (struct skel){SNAP_ROOT_ID, 0, SKEL_DIR | 0};
	for (size_t k = 0; k < next; k++) {
		const struct dir *d;
		struct hash_state st0;
		bool has_st = false;
		uint32_t first, n, di;

		if (!(sk[k].aux & SKEL_DIR))
			continue;
		di = sk[k].aux & ~SKEL_DIR;
		d = &DIRS(b)[di];
		first = b->group_start[di];
		n = b->group_start[di + 1] - first;
		for (uint32_t j = 0; j < n; j++) {
			const struct item *it = &ITEMS(b)[first + j];
			struct snap_str ignored;

			r = put_string(b, b->paths.data + it->name_off, it->name_len, &ignored);
			if (r < 0)
				return r;
			sk[next].id = item_id(b, d, it, &st0, &has_st);
			sk[next].parent = (uint32_t)k;
			sk[next].aux =
			    (it->ref & ITEM_DIR) ? SKEL_DIR | (it->ref & ~ITEM_DIR) : it->ref;
			next++;
		}
		sk[k].aux = SKEL_DIR | n;
	}
	if (next != total)
		return -EINVAL; /* cannot happen: every item hangs under the root */
	b->node_count = total;
	tbuf_free(&b->paths);
	tbuf_free(&b->items);
	tbuf_free(&b->dirs);
	free(b->group_start);
	b->group_start = NULL;
	return 0;
}

/* ---- pass 5: emit ---- */

static int emit_props(struct builder *b)
{
	struct snapshot_build *out = b->out;

	if (b->prop_count > 0) {
		out->props = malloc((size_t)b->prop_count * sizeof(*out->props));
		if (out->props == NULL)
			return -ENOMEM;
		tbuf_drain(&b->props, out->props);
	}
	out->prop_count = b->prop_count;
	return 0;
}

static void emit_file(struct snap_node *node, const struct placed *p)
{
	node->type = SNAP_NODE_FILE;
	node->size = p->size;
	node->mtime_ns = p->mtime_ns;
	node->ctime_ns = p->ctime_ns;
	node->rule = p->rule;
	node->flags = (uint16_t)p->flags;
	node->source = (struct snap_str){p->src_off, p->src_len};
	node->hash_id = (struct snap_str){p->src_off + p->src_len + 1, p->hash_len};
	node->prop_first = p->prop_first;
	node->prop_count = p->prop_count;
}

static int emit_nodes(struct builder *b, tree_nodes_fn nodes_fn, void *nodes_ctx)
{
	struct snapshot_build *out = b->out;
	uint64_t name_off = b->strs_names;
	uint32_t next_child = 1;
	int r = tree_nodes_room(nodes_fn, nodes_ctx, b->node_count, out);

	if (r < 0)
		return r;
	out->node_count = (uint32_t)b->node_count;
	for (size_t k = 0; k < b->node_count; k++) {
		const struct skel *sk = &SKEL(b)[k];
		struct snap_node *node = &out->nodes[k];

		/* Every byte, padding too: the body checksum covers them. */
		memset(node, 0, sizeof(*node));
		node->id = sk->id;
		node->parent = sk->parent;
		if (k > 0) {
			size_t len = strlen(out->strings + name_off);

			node->name = (struct snap_str){(uint32_t)name_off, (uint32_t)len};
			name_off += len + 1;
		}
		if (sk->aux & SKEL_DIR) {
			uint32_t n = sk->aux & ~SKEL_DIR;

			node->type = SNAP_NODE_DIR;
			node->first_child = n ? next_child : 0;
			node->child_count = n;
			next_child += n;
		} else {
			emit_file(node, &PLACED(b)[sk->aux]);
		}
		if ((k & 0xffff) == 0xffff)
			tbuf_release(&b->skel, (k + 1) * sizeof(*sk));
	}
	tbuf_free(&b->skel);
	tbuf_free(&b->placed);
	tree_date_directories(out, tree_now_ns());
	return 0;
}

/* ---- statistics ---- */

/*
 * Categories are the top-level directories.  Breadth-first numbering makes the
 * root's children nodes 1..child_count, in name order, so a file's category is
 * found by walking up to its top-level node.
 */
static int emit_categories(struct builder *b)
{
	struct snapshot_build *out = b->out;
	const struct snap_node *root = &out->nodes[0];
	int64_t *category_of = calloc(root->child_count + 1, sizeof(*category_of));
	uint32_t ncat = 0;

	out->categories = calloc(root->child_count + 1, sizeof(*out->categories));
	if (out->categories == NULL || category_of == NULL) {
		free(category_of);
		return -ENOMEM;
	}
	for (uint32_t i = 1; i <= root->child_count; i++) {
		category_of[i] = -1;
		if (out->nodes[i].type == SNAP_NODE_DIR) {
			category_of[i] = ncat;
			out->categories[ncat++].name = out->nodes[i].name;
		}
	}
	out->category_count = ncat;
	for (uint32_t i = 1; i < out->node_count; i++) {
		const struct snap_node *n = &out->nodes[i];
		uint32_t top = i;

		if (n->type != SNAP_NODE_FILE)
			continue;
		out->files++;
		out->total_bytes += n->size;
		while (out->nodes[top].parent != 0)
			top = out->nodes[top].parent;
		if (category_of[top] >= 0) {
			out->categories[category_of[top]].files++;
			out->categories[category_of[top]].bytes += n->size;
		}
	}
	out->directories = out->node_count - out->files;
	free(category_of);
	return 0;
}

static int emit_rules_and_skips(struct builder *b)
{
	struct snapshot_build *out = b->out;
	uint32_t nrules = rules_count(b->rules);
	int r;

	out->rules = calloc(nrules ? nrules : 1, sizeof(*out->rules));
	out->skips = calloc(TREE_SKIP_MAX, sizeof(*out->skips));
	if (out->rules == NULL || out->skips == NULL)
		return -ENOMEM;
	out->rule_count = nrules;
	for (uint32_t i = 0; i < nrules; i++) {
		const char *name = rules_name(b->rules, i);

		r = put_string(b, name, strlen(name), &out->rules[i].name);
		if (r < 0)
			return r;
		out->rules[i].files = b->rule_files[i];
		out->rules[i].hidden = b->rule_hidden[i];
	}
	for (unsigned i = 0; i < TREE_SKIP_MAX; i++) {
		const struct skip_reason *s = &b->skips[i];
		struct snap_skip *k;

		if (s->count == 0)
			continue;
		k = &out->skips[out->skip_count++];
		k->count = s->count;
		if (i < TREE_SKIP_RECORDS)
			out->skipped += s->count;
		r = put_string(b, s->reason, strlen(s->reason), &k->reason);
		if (r == 0 && s->example != NULL)
			r = put_string(b, s->example, s->example_len, &k->example);
		if (r < 0)
			return r;
	}
	out->hidden = b->hidden;
	return 0;
}

static void builder_free(struct builder *b)
{
	tbuf_free(&b->strs);
	tbuf_free(&b->props);
	tbuf_free(&b->placed);
	tbuf_free(&b->paths);
	tbuf_free(&b->dirs);
	tbuf_free(&b->items);
	tbuf_free(&b->skel);
	free(b->dir_map);
	free(b->group_start);
	free(b->rule_files);
	free(b->rule_hidden);
	free(b->keys);
	for (unsigned i = 0; i < TREE_SKIP_MAX; i++)
		free(b->skips[i].example);
}

void tree_builder_set_sizes(struct tree_builder *tb, struct tree_sizes *sizes)
{
	((struct builder *)tb)->sizes = sizes;
}

int tree_builder_new(const struct rules *rules, const struct schema *schema,
                     struct tree_builder **ret)
{
	struct builder *b = calloc(1, sizeof(*b));
	uint32_t nrules = rules_count(rules);
	int r = -ENOMEM;

	if (b == NULL)
		return -ENOMEM;
	b->rules = rules;
	b->schema = schema;
	for (unsigned i = 0; i < TREE_SKIP_MAX; i++)
		b->skips[i].reason = tree_skip_reasons[i];
	b->out = calloc(1, sizeof(*b->out));
	b->rule_files = calloc(nrules + 1, sizeof(*b->rule_files));
	b->rule_hidden = calloc(nrules + 1, sizeof(*b->rule_hidden));
	b->keys = calloc(schema->count, sizeof(*b->keys));
	if (b->out == NULL || b->rule_files == NULL || b->rule_hidden == NULL || b->keys == NULL)
		goto fail;
	r = tbuf_add_str(&b->strs, "", 0) < 0 ? -ENOMEM : 0; /* offset 0 is "" */
	for (uint32_t i = PROP_CORE_MAX; r == 0 && i < schema->count; i++)
		r = add_string(b, schema->names[i], strlen(schema->names[i]), &b->keys[i]);
	if (r == 0)
		r = collect_begin(b);
	if (r < 0)
		goto fail;
	*ret = (struct tree_builder *)b;
	return 0;
fail:
	tree_builder_free((struct tree_builder *)b);
	return r;
}

int tree_builder_add(struct tree_builder *tb, const struct record *rec)
{
	return place_one((struct builder *)tb, rec);
}

int tree_builder_finish(struct tree_builder *tb, struct snapshot_build **ret)
{
	return tree_builder_finish_into(tb, NULL, NULL, ret);
}

int tree_builder_finish_into(struct tree_builder *tb, tree_nodes_fn nodes_fn, void *nodes_ctx,
                             struct snapshot_build **ret)
{
	struct builder *b = (struct builder *)tb;
	int r;

	/* The directories are all there: the map's work is done. */
	free(b->dir_map);
	b->dir_map = NULL;
	r = order_items(b);
	if (r == 0) {
		b->strs_names = b->strs.len;
		r = number_nodes(b);
	}
	if (r == 0)
		r = emit_props(b);
	if (r == 0)
		r = emit_nodes(b, nodes_fn, nodes_ctx);
	if (r == 0)
		r = emit_categories(b);
	if (r == 0)
		r = emit_rules_and_skips(b);
	if (r == 0) {
		b->out->strings_size = b->strings_len;
		r = tree_fix_ids(b->out);
	}
	if (r == 0) {
		*ret = b->out;
		b->out = NULL;
	}
	tree_builder_free(tb);
	return r;
}

void tree_builder_free(struct tree_builder *tb)
{
	struct builder *b = (struct builder *)tb;

	if (b == NULL)
		return;
	snapshot_build_free(b->out);
	builder_free(b);
	free(b);
}

int tree_build_next(const struct rules *rules, const struct schema *schema, tree_next_fn next,
                    void *ctx, struct snapshot_build **ret)
{
	struct tree_builder *b;
	const struct record *rec;
	int r = tree_builder_new(rules, schema, &b);

	while (r == 0 && (rec = next(ctx)) != NULL)
		r = tree_builder_add(b, rec);
	if (r < 0) {
		tree_builder_free(b);
		return r;
	}
	return tree_builder_finish(b, ret);
}

struct array_iter {
	const struct record *const *records;
	size_t count;
	size_t next;
};

static const struct record *array_next(void *ctx)
{
	struct array_iter *a = ctx;

	return a->next < a->count ? a->records[a->next++] : NULL;
}

int tree_build(const struct rules *rules, const struct schema *schema,
               const struct record *const *records, size_t count, struct snapshot_build **ret)
{
	struct array_iter a = {records, count, 0};

	return tree_build_next(rules, schema, array_next, &a, ret);
}
