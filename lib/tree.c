/*
 * tree: records + rules -> the virtual tree in snapshot layout (see tree.h).
 *
 * The build runs in passes over flat arrays, with no allocation per record:
 *   1. place: every record through the rules; placed paths go into one arena.
 *   2. directories: every parent path of a placed file becomes a directory,
 *      found or created through one hash map keyed by the path (the key points
 *      into the arena, so a directory costs no string copy); every file and
 *      directory becomes an "item" of its parent.
 *   3. order: items are grouped by parent (counting sort) and each group sorted by
 *      name; equal names are made unique (" (2)", " (3)"; a directory keeps its
 *      name, files yield in hash-id order).
 *   4. emit: breadth-first numbering gives each directory's children contiguous
 *      slots; ids hash the virtual path, extending the parent's hash state so no
 *      path string is ever built; directory times come from their newest child.
 * It does not log and does not read the file system.
 */
#include "tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "names.h"
#include "tree_place.h"

#define NO_INDEX UINT32_MAX

/* A growable byte arena; offsets stay valid when it grows. */
struct arena {
	char *data;
	size_t len;
	size_t cap;
};

static int arena_reserve(struct arena *a, size_t more)
{
	size_t cap;
	char *p;

	if (a->len + more <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 1 << 16;
	while (cap < a->len + more)
		cap *= 2;
	p = realloc(a->data, cap);
	if (p == NULL)
		return -ENOMEM;
	a->data = p;
	a->cap = cap;
	return 0;
}

/* Append s and a NUL; returns the offset of s or -ENOMEM. */
static int64_t arena_add(struct arena *a, const char *s, size_t len)
{
	size_t off = a->len;

	if (arena_reserve(a, len + 1) < 0)
		return -ENOMEM;
	memcpy(a->data + off, s, len);
	a->data[off + len] = '\0';
	a->len += len + 1;
	return (int64_t)off;
}

/*
 * A placed file, with everything its node needs: its strings are already in the
 * output, written while the records were read in order, so numbering the nodes
 * never has to go back to the (randomly ordered) records.
 */
struct placed {
	struct strview hash_id; /* for the order of contested names */
	uint32_t rule;
	uint32_t path_off; /* in paths arena, absolute "/a/b/name" */
	uint32_t path_len;
	uint32_t prop_first;
	uint32_t prop_count;
	struct snap_str source;
	struct snap_str hash_id_str;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

struct dir {
	uint32_t parent;   /* dir index; root's is 0 */
	uint32_t path_off; /* key, in paths arena; the root's is "" */
	uint32_t path_len;
	uint64_t path_hash;
	uint32_t node;              /* node index once numbered */
	struct hash_state id_state; /* hash state of the path, for the children's ids */
};

enum item_kind { ITEM_DIR, ITEM_FILE };

struct item {
	uint32_t parent; /* dir index */
	uint32_t kind;
	uint32_t ref;      /* dir index or placed index */
	uint32_t name_off; /* in paths arena */
	uint32_t name_len;
	uint64_t prefix; /* first 8 name bytes, big-endian: compares like memcmp */
};

struct skip_reason {
	const char *reason;
	struct strview example;
	uint64_t count;
};

struct builder {
	const struct rules *rules;
	const struct schema *schema;
	struct arena paths;

	struct placed *placed;
	size_t placed_count, placed_cap;

	struct dir *dirs;
	size_t dir_count, dir_cap;
	uint32_t *dir_map; /* open addressing: dir index + 1, 0 = empty */
	size_t dir_map_size;

	struct item *items;
	size_t item_count, item_cap;
	uint32_t *group_start; /* per dir: first item of its group in sorted order */

	uint64_t *rule_files;
	uint64_t *rule_hidden;
	struct skip_reason skips[TREE_SKIP_MAX];
	uint64_t hidden;

	struct snapshot_build *out;
	struct arena strings;
	size_t prop_cap;
	struct snap_str *keys; /* schema index -> its name in strings */
};

/* ---- values ---- */

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

/* "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH:MM|-HH:MM]" */
static bool parse_iso8601(const char *s, size_t len, int64_t *ret)
{
	struct tm tm = {0};
	int64_t ns = 0, offset = 0;
	size_t i = 19;
	time_t t;
	int oh, om;

	if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	if (!parse_digits(s, 4, &tm.tm_year) || !parse_digits(s + 5, 2, &tm.tm_mon) ||
	    !parse_digits(s + 8, 2, &tm.tm_mday) || !parse_digits(s + 11, 2, &tm.tm_hour) ||
	    !parse_digits(s + 14, 2, &tm.tm_min) || !parse_digits(s + 17, 2, &tm.tm_sec))
		return false;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (i < len && s[i] == '.') {
		int64_t scale = 100000000;

		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			ns += (s[i] - '0') * scale;
	}
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
	           parse_digits(s + i + 1, 2, &oh) && parse_digits(s + i + 4, 2, &om)) {
		offset = (s[i] == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60);
		i = len;
	}
	if (i != len)
		return false;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*ret = ((int64_t)t - offset) * 1000000000 + ns;
	return true;
}

int64_t tree_parse_time_ns(const char *s, size_t len)
{
	uint64_t whole = 0, frac_ns = 0, scale = 100000000;
	size_t i = 0;
	int64_t iso;

	if (len == 0)
		return 0;
	if (parse_iso8601(s, len, &iso))
		return iso;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (whole > UINT64_MAX / 10 - 10)
			return 0;
		whole = whole * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return 0;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			frac_ns += (uint64_t)(s[i] - '0') * scale;
	if (i != len)
		return 0;
	/* Epoch numbers carry their unit in their size: 1e11 s would be the year 5138. */
	if (whole >= 100000000000000000ULL)
		return whole > INT64_MAX ? 0 : (int64_t)whole; /* ns */
	if (whole >= 100000000000000ULL)
		return (int64_t)(whole * 1000); /* us */
	if (whole >= 100000000000ULL)
		return (int64_t)(whole * 1000000 + frac_ns / 1000); /* ms */
	return (int64_t)(whole * 1000000000 + frac_ns);
}

/* ---- pass 1: placing ---- */

static void skip_record(struct builder *b, unsigned reason, const struct record *rec)
{
	struct skip_reason *s = &b->skips[reason];

	if (s->count++ == 0)
		s->example = rec->hash_id;
}

static int64_t add_string(struct builder *b, const char *s, size_t len, struct snap_str *ret)
{
	int64_t off = arena_add(&b->strings, s, len);

	if (off < 0)
		return off;
	if (b->strings.len > UINT32_MAX)
		return -EOVERFLOW;
	ret->off = (uint32_t)off;
	ret->len = (uint32_t)len;
	return 0;
}

/* Every non-empty value beyond the core properties, for xattrs and the API. */
static int add_props(struct builder *b, struct placed *p, const struct record *rec)
{
	struct snapshot_build *out = b->out;

	p->prop_first = out->prop_count;
	p->prop_count = 0;
	for (uint32_t i = PROP_CORE_MAX; i < b->schema->count; i++) {
		struct snap_prop *prop;
		int r;

		if (!record_has(rec, i))
			continue;
		if (out->prop_count == UINT32_MAX)
			return -EOVERFLOW;
		r = tree_grow(&out->props, &b->prop_cap, (size_t)out->prop_count + 1,
		              sizeof(*out->props));
		if (r < 0)
			return r;
		prop = &out->props[out->prop_count];
		prop->key = b->keys[i];
		r = (int)add_string(b, rec->values[i].ptr, rec->values[i].len, &prop->value);
		if (r < 0)
			return r;
		out->prop_count++;
		p->prop_count++;
	}
	return 0;
}

static int place_one(struct builder *b, const struct record *rec)
{
	char path[SNAP_PATH_MAX];
	struct placed *p;
	uint32_t rule = 0;
	int64_t off;
	int r;

	switch (tree_place(b->rules, rec, path, &rule)) {
	case TREE_HIDDEN:
		b->rule_hidden[rule]++;
		b->hidden++;
		return 0;
	case TREE_SKIPPED:
		skip_record(b, rule, rec);
		return 0;
	case TREE_PLACED:
		break;
	}
	r = tree_grow(&b->placed, &b->placed_cap, b->placed_count + 1, sizeof(*b->placed));
	if (r < 0)
		return r;
	off = arena_add(&b->paths, path, strlen(path));
	if (off < 0)
		return (int)off;
	if (b->paths.len > UINT32_MAX)
		return -EOVERFLOW;
	p = &b->placed[b->placed_count++];
	p->hash_id = rec->hash_id;
	p->rule = rule;
	p->path_off = (uint32_t)off;
	p->path_len = (uint32_t)strlen(path);
	p->size = tree_parse_size(rec->values[PROP_SIZE]);
	p->mtime_ns = record_has(rec, PROP_MTIME) ? tree_parse_time_ns(rec->values[PROP_MTIME].ptr,
	                                                               rec->values[PROP_MTIME].len)
	                                          : 0;
	p->ctime_ns = record_has(rec, PROP_CTIME) ? tree_parse_time_ns(rec->values[PROP_CTIME].ptr,
	                                                               rec->values[PROP_CTIME].len)
	                                          : p->mtime_ns;
	if (p->mtime_ns == 0)
		p->mtime_ns = p->ctime_ns;
	r = (int)add_string(b, rec->values[PROP_FILE_PATH].ptr, rec->values[PROP_FILE_PATH].len,
	                    &p->source);
	if (r == 0)
		r = (int)add_string(b, rec->hash_id.ptr, rec->hash_id.len, &p->hash_id_str);
	if (r == 0)
		r = add_props(b, p, rec);
	if (r < 0)
		return r;
	b->rule_files[rule]++;
	return 0;
}

/* ---- pass 2: directories and items ---- */

static uint64_t name_prefix(const char *s, size_t len)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 8; i++)
		v = v << 8 | (i < len ? (unsigned char)s[i] : 0);
	return v;
}

static int add_item(struct builder *b, uint32_t parent, enum item_kind kind, uint32_t ref,
                    uint32_t name_off, uint32_t name_len)
{
	struct item *it;
	int r = tree_grow(&b->items, &b->item_cap, b->item_count + 1, sizeof(*b->items));

	if (r < 0)
		return r;
	it = &b->items[b->item_count++];
	it->parent = parent;
	it->kind = kind;
	it->ref = ref;
	it->name_off = name_off;
	it->name_len = name_len;
	it->prefix = name_prefix(b->paths.data + name_off, name_len);
	return 0;
}

static int dir_map_rehash(struct builder *b)
{
	size_t size = b->dir_map_size ? b->dir_map_size * 2 : 1 << 12;
	uint32_t *map = calloc(size, sizeof(*map));

	if (map == NULL)
		return -ENOMEM;
	for (size_t d = 0; d < b->dir_count; d++) {
		size_t slot = b->dirs[d].path_hash & (size - 1);

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
	uint64_t h;
	size_t slot;
	uint32_t name_start, parent;
	int64_t pr;
	struct dir *d;
	int r;

	if (len == 0)
		return 0; /* the root */
	h = hash64(path, len, 0);
	for (slot = h & (b->dir_map_size - 1); b->dir_map[slot] != 0;
	     slot = (slot + 1) & (b->dir_map_size - 1)) {
		struct dir *e = &b->dirs[b->dir_map[slot] - 1];

		if (e->path_hash == h && e->path_len == len &&
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
	r = tree_grow(&b->dirs, &b->dir_cap, b->dir_count + 1, sizeof(*b->dirs));
	if (r < 0)
		return r;
	d = &b->dirs[b->dir_count];
	d->parent = parent;
	d->path_off = off;
	d->path_len = len;
	d->path_hash = h;
	d->node = NO_INDEX;
	r = add_item(b, parent, ITEM_DIR, (uint32_t)b->dir_count, off + name_start,
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

static int collect_items(struct builder *b)
{
	int r;

	r = tree_grow(&b->dirs, &b->dir_cap, 1, sizeof(*b->dirs));
	if (r < 0)
		return r;
	memset(&b->dirs[0], 0, sizeof(b->dirs[0]));
	b->dirs[0].node = 0;
	b->dir_count = 1; /* the root; never in the map (find_or_add_dir answers len 0) */
	r = dir_map_rehash(b);
	if (r < 0)
		return r;
	for (size_t i = 0; i < b->placed_count; i++) {
		struct placed *p = &b->placed[i];
		uint32_t name_len = 0;
		int64_t dir;

		while (name_len < p->path_len &&
		       b->paths.data[p->path_off + p->path_len - 1 - name_len] != '/')
			name_len++;
		dir = find_or_add_dir(b, p->path_off, p->path_len - name_len - 1);
		if (dir < 0)
			return (int)dir;
		r = add_item(b, (uint32_t)dir, ITEM_FILE, (uint32_t)i,
		             p->path_off + p->path_len - name_len, name_len);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- pass 3: order and uniqueness ---- */

static const char *sort_names; /* qsort has no context argument */
static const struct placed *sort_placed;

static int item_name_cmp(const struct item *a, const struct item *b)
{
	size_t n;
	int c;

	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	n = a->name_len < b->name_len ? a->name_len : b->name_len;
	c = memcmp(sort_names + a->name_off, sort_names + b->name_off, n);
	if (c != 0)
		return c;
	return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

static int strview_cmp(struct strview a, struct strview b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.ptr, b.ptr, n);

	if (c != 0)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

/* Name, then directories first, then files by hash id: who keeps a contested name. */
static int item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = item_name_cmp(a, b);

	if (c != 0)
		return c;
	if (a->kind != b->kind)
		return a->kind == ITEM_DIR ? -1 : 1;
	if (a->kind == ITEM_FILE) {
		c = strview_cmp(sort_placed[a->ref].hash_id, sort_placed[b->ref].hash_id);
		if (c != 0)
			return c;
		return a->ref < b->ref ? -1 : a->ref > b->ref;
	}
	return 0;
}

static int group_items(struct builder *b)
{
	struct item *sorted;
	uint32_t *count;

	b->group_start = calloc(b->dir_count + 1, sizeof(*b->group_start));
	sorted = malloc((b->item_count ? b->item_count : 1) * sizeof(*sorted));
	count = b->group_start;
	if (count == NULL || sorted == NULL) {
		free(sorted);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->item_count; i++)
		count[b->items[i].parent + 1]++;
	for (size_t d = 1; d <= b->dir_count; d++)
		count[d] += count[d - 1];
	/* count[d] is now the start of group d; place, then restore the starts. */
	for (size_t i = 0; i < b->item_count; i++)
		sorted[count[b->items[i].parent]++] = b->items[i];
	for (size_t d = b->dir_count; d > 0; d--)
		count[d] = count[d - 1];
	count[0] = 0;
	free(b->items);
	b->items = sorted;
	return 0;
}

/* Is name among the (sorted, unrenamed) names of the group? */
static bool group_has_name(const struct item *first, size_t n, const char *name, size_t len)
{
	struct item key = {.name_len = (uint32_t)len, .prefix = name_prefix(name, len)};
	size_t lo = 0, hi = n;
	bool found = false;

	while (lo < hi && !found) {
		size_t mid = (lo + hi) / 2;
		const struct item *m = &first[mid];
		int c;

		if (m->prefix != key.prefix) {
			c = m->prefix < key.prefix ? -1 : 1;
		} else {
			size_t k = m->name_len < len ? m->name_len : len;

			c = memcmp(sort_names + m->name_off, name, k);
			if (c == 0)
				c = m->name_len < len ? -1 : m->name_len > len;
		}
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

/*
 * Give every file that lost its name to an earlier item of the same (sorted) group a
 * free " (n)" variant: free of the group's names and of the names given before it.
 * The new names are applied together at the end, so the binary searches always see
 * the sorted group; the group is then sorted again.
 */
static int make_names_unique(struct builder *b, struct item *first, size_t n)
{
	struct rename *renames = NULL;
	size_t count = 0, cap = 0;
	int r = 0;

	for (size_t i = 1; i < n; i++) {
		char name[SNAP_NAME_MAX + 1];
		unsigned suffix = 2;
		int64_t off;
		int len;

		if (first[i].kind != ITEM_FILE || item_name_cmp(&first[i - 1], &first[i]) != 0)
			continue;
		for (;; suffix++) {
			bool taken;

			len = names_add_suffix(b->paths.data + first[i].name_off, first[i].name_len,
			                       suffix, name, sizeof(name));
			if (len < 0) {
				r = len;
				goto out;
			}
			taken = group_has_name(first, n, name, (size_t)len);
			for (size_t j = 0; !taken && j < count; j++)
				taken = renames[j].name_len == (uint32_t)len &&
				        memcmp(b->paths.data + renames[j].name_off, name,
				               (size_t)len) == 0;
			if (!taken)
				break;
		}
		r = tree_grow(&renames, &cap, count + 1, sizeof(*renames));
		if (r < 0)
			goto out;
		off = arena_add(&b->paths, name, (size_t)len);
		if (off < 0 || b->paths.len > UINT32_MAX) {
			r = off < 0 ? (int)off : -EOVERFLOW;
			goto out;
		}
		sort_names = b->paths.data; /* the arena may have moved */
		renames[count++] = (struct rename){i, (uint32_t)off, (uint32_t)len};
	}
	for (size_t j = 0; j < count; j++) {
		struct item *it = &first[renames[j].item];

		it->name_off = renames[j].name_off;
		it->name_len = renames[j].name_len;
		it->prefix = name_prefix(b->paths.data + it->name_off, it->name_len);
	}
	if (count > 0)
		qsort(first, n, sizeof(*first), item_cmp);
out:
	free(renames);
	return r;
}

static int order_items(struct builder *b)
{
	int r = group_items(b);

	if (r < 0)
		return r;
	sort_names = b->paths.data;
	sort_placed = b->placed;
	for (size_t d = 0; d < b->dir_count; d++) {
		struct item *first = &b->items[b->group_start[d]];
		size_t n = b->group_start[d + 1] - b->group_start[d];

		if (n > 1) {
			qsort(first, n, sizeof(*first), item_cmp);
			r = make_names_unique(b, first, n);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- pass 4: emit ---- */

/*
 * Ids hash the virtual path.  Two equal ids (or a reserved value) are resolved in
 * node order: the first keeps its id, the next rehashes its path with seed 1, 2,
 * ... until free.  Collisions of 64-bit hashes practically never happen, so the
 * check sorts a copy of the ids (sequential memory work) and only a tree that
 * fails it is resolved, through a hash set in node order.
 */
/* LSD radix sort, 16 bits a pass; count has 1 << 16 entries. */
static void radix_sort_u64(uint64_t *a, uint64_t *tmp, size_t n, uint32_t *count)
{
	for (unsigned shift = 0; shift < 64; shift += 16) {
		uint32_t sum = 0;

		memset(count, 0, (1 << 16) * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[(a[i] >> shift) & 0xffff]++;
		for (size_t d = 0; d < (1 << 16); d++) {
			uint32_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[(a[i] >> shift) & 0xffff]++] = a[i];
		memcpy(a, tmp, n * sizeof(*a));
	}
}

/* 1 when every node but the root has its own id of at least SNAP_ID_RESERVED. */
static int ids_are_unique(const struct snapshot_build *out)
{
	size_t n = out->node_count - 1;
	uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	uint64_t *tmp = malloc((n ? n : 1) * sizeof(*tmp));
	uint32_t *count = malloc((1 << 16) * sizeof(*count));
	int unique = -ENOMEM;

	if (ids == NULL || tmp == NULL || count == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		ids[i] = out->nodes[i + 1].id;
	radix_sort_u64(ids, tmp, n, count);
	unique = n == 0 || ids[0] >= SNAP_ID_RESERVED;
	for (size_t i = 1; i < n && unique; i++)
		if (ids[i] == ids[i - 1])
			unique = 0;
out:
	free(ids);
	free(tmp);
	free(count);
	return unique;
}

static bool id_set_insert(uint64_t *slots, size_t size, uint64_t id)
{
	size_t slot = (id ^ (id >> 32)) & (size - 1);

	while (slots[slot] != 0) {
		if (slots[slot] == id)
			return false;
		slot = (slot + 1) & (size - 1);
	}
	slots[slot] = id;
	return true;
}

static size_t node_path(const struct snapshot_build *out, uint32_t i, char *buf)
{
	uint32_t chain[SNAP_PATH_MAX / 2];
	size_t depth = 0, len = 0;

	for (uint32_t n = i; n != 0 && depth < SNAP_PATH_MAX / 2; n = out->nodes[n].parent)
		chain[depth++] = n;
	while (depth > 0) {
		const struct snap_node *nd = &out->nodes[chain[--depth]];

		buf[len++] = '/';
		memcpy(buf + len, out->strings + nd->name.off, nd->name.len);
		len += nd->name.len;
	}
	return len;
}

static int resolve_id_collisions(struct snapshot_build *out)
{
	char *path = malloc(SNAP_PATH_MAX * 2);
	size_t size = 1024;
	uint64_t *slots;

	while (size < (size_t)out->node_count * 2)
		size *= 2;
	slots = calloc(size, sizeof(*slots));
	if (path == NULL || slots == NULL) {
		free(path);
		free(slots);
		return -ENOMEM;
	}
	for (uint32_t i = 1; i < out->node_count; i++) {
		struct snap_node *n = &out->nodes[i];
		size_t len;

		if (n->id >= SNAP_ID_RESERVED && id_set_insert(slots, size, n->id))
			continue;
		len = node_path(out, i, path);
		for (uint64_t seed = 1;; seed++) {
			n->id = hash64(path, len, seed);
			if (n->id >= SNAP_ID_RESERVED && id_set_insert(slots, size, n->id))
				break;
		}
	}
	free(path);
	free(slots);
	return 0;
}

int tree_fix_ids(struct snapshot_build *out)
{
	int r = ids_are_unique(out);

	if (r < 0)
		return r;
	return r == 1 ? 0 : resolve_id_collisions(out);
}

static void emit_file(struct snap_node *node, const struct placed *p)
{
	node->type = SNAP_NODE_FILE;
	node->size = p->size;
	node->mtime_ns = p->mtime_ns;
	node->ctime_ns = p->ctime_ns;
	node->rule = p->rule;
	node->source = p->source;
	node->hash_id = p->hash_id_str;
	node->prop_first = p->prop_first;
	node->prop_count = p->prop_count;
}

static int emit_nodes(struct builder *b)
{
	struct snapshot_build *out = b->out;
	size_t node_total = b->dir_count + b->placed_count;
	uint32_t *queue = NULL; /* dir indices in breadth-first order */
	size_t qhead = 0, qtail = 0;
	uint32_t next = 1;
	int r = -ENOMEM;

	if (node_total > UINT32_MAX - 1)
		return -EOVERFLOW;
	out->nodes = calloc(node_total, sizeof(*out->nodes));
	queue = malloc(b->dir_count * sizeof(*queue));
	if (out->nodes == NULL || queue == NULL)
		goto out;
	out->node_count = (uint32_t)node_total;

	out->nodes[0].id = SNAP_ROOT_ID;
	out->nodes[0].type = SNAP_NODE_DIR;
	hash_init(&b->dirs[0].id_state, 0);
	queue[qtail++] = 0;
	while (qhead < qtail) {
		struct dir *d = &b->dirs[queue[qhead++]];
		uint32_t first = b->group_start[d - b->dirs];
		uint32_t n = b->group_start[d - b->dirs + 1] - first;
		struct snap_node *dn = &out->nodes[d->node];

		dn->first_child = n ? next : 0;
		dn->child_count = n;
		for (uint32_t k = 0; k < n; k++) {
			const struct item *it = &b->items[first + k];
			const char *name = b->paths.data + it->name_off;
			struct snap_node *node = &out->nodes[next];
			struct hash_state st = d->id_state;

			node->parent = d->node;
			r = (int)add_string(b, name, it->name_len, &node->name);
			if (r < 0)
				goto out;
			hash_update(&st, "/", 1);
			hash_update(&st, name, it->name_len);
			node->id = hash_final(&st);
			if (it->kind == ITEM_DIR) {
				struct dir *child = &b->dirs[it->ref];

				node->type = SNAP_NODE_DIR;
				child->node = next;
				child->id_state = st;
				queue[qtail++] = it->ref;
			} else {
				emit_file(node, &b->placed[it->ref]);
			}
			next++;
		}
	}
	tree_date_directories(out);
	r = 0;
out:
	free(queue);
	return r;
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
	out->skips = calloc(4, sizeof(*out->skips));
	if (out->rules == NULL || out->skips == NULL)
		return -ENOMEM;
	out->rule_count = nrules;
	for (uint32_t i = 0; i < nrules; i++) {
		const char *name = rules_name(b->rules, i);

		r = (int)add_string(b, name, strlen(name), &out->rules[i].name);
		if (r < 0)
			return r;
		out->rules[i].files = b->rule_files[i];
		out->rules[i].hidden = b->rule_hidden[i];
	}
	for (unsigned i = 0; i < 4; i++) {
		const struct skip_reason *s = &b->skips[i];
		struct snap_skip *k;

		if (s->count == 0)
			continue;
		k = &out->skips[out->skip_count++];
		k->count = s->count;
		out->skipped += s->count;
		r = (int)add_string(b, s->reason, strlen(s->reason), &k->reason);
		if (r == 0 && s->example.ptr != NULL)
			r = (int)add_string(b, s->example.ptr, s->example.len, &k->example);
		if (r < 0)
			return r;
	}
	out->hidden = b->hidden;
	return 0;
}

static void builder_free(struct builder *b)
{
	free(b->paths.data);
	free(b->placed);
	free(b->dirs);
	free(b->dir_map);
	free(b->items);
	free(b->group_start);
	free(b->rule_files);
	free(b->rule_hidden);
	free(b->strings.data);
	free(b->keys);
}

int tree_build(const struct rules *rules, const struct schema *schema,
               const struct record *const *records, size_t count, struct snapshot_build **ret)
{
	struct builder b = {.rules = rules, .schema = schema};
	uint32_t nrules = rules_count(rules);
	int r = -ENOMEM;

	for (unsigned i = 0; i < TREE_SKIP_MAX; i++)
		b.skips[i].reason = tree_skip_reasons[i];
	b.out = calloc(1, sizeof(*b.out));
	b.rule_files = calloc(nrules + 1, sizeof(*b.rule_files));
	b.rule_hidden = calloc(nrules + 1, sizeof(*b.rule_hidden));
	if (b.out == NULL || b.rule_files == NULL || b.rule_hidden == NULL)
		goto fail;
	if (arena_add(&b.strings, "", 0) < 0) /* offset 0 is "" */
		goto fail;
	b.keys = calloc(schema->count, sizeof(*b.keys));
	if (b.keys == NULL)
		goto fail;
	for (uint32_t i = PROP_CORE_MAX; i < schema->count; i++) {
		r = (int)add_string(&b, schema->names[i], strlen(schema->names[i]), &b.keys[i]);
		if (r < 0)
			goto fail;
	}
	for (size_t i = 0; i < count; i++) {
		r = place_one(&b, records[i]);
		if (r < 0)
			goto fail;
	}
	r = collect_items(&b);
	if (r == 0)
		r = order_items(&b);
	if (r == 0)
		r = emit_nodes(&b);
	if (r == 0)
		r = emit_categories(&b);
	if (r == 0)
		r = emit_rules_and_skips(&b);
	if (r < 0)
		goto fail;
	b.out->strings = b.strings.data;
	b.out->strings_size = b.strings.len;
	b.strings.data = NULL;
	r = tree_fix_ids(b.out);
	if (r < 0)
		goto fail;
	*ret = b.out;
	b.out = NULL;
	builder_free(&b);
	return 0;
fail:
	snapshot_build_free(b.out);
	builder_free(&b);
	return r;
}
