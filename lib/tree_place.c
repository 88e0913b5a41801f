/* tree_place: see tree_place.h. */
#include "tree_place.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "names.h"
#include "path.h"
#include "tree.h"

const char *const tree_skip_reasons[TREE_SKIP_MAX] = {
    [TREE_SKIP_NO_PATH] = TREE_SKIP_NO_FILE_PATH, [TREE_SKIP_UNSAFE] = TREE_SKIP_UNSAFE_PATH,
    [TREE_SKIP_NO_RULE] = TREE_SKIP_UNPLACED,     [TREE_SKIP_NO_NAME] = TREE_SKIP_BAD_NAME,
    [TREE_NOTE_SIZE] = TREE_NOTE_BAD_SIZE,        [TREE_NOTE_TIME] = TREE_NOTE_BAD_TIME,
};

/* "/a/b": absolute, at least one component, none empty. */
static bool is_clean_virtual_path(const char *path)
{
	if (path[0] != '/' || path[1] == '\0')
		return false;
	for (const char *p = path; *p != '\0'; p++)
		if (p[0] == '/' && (p[1] == '/' || p[1] == '\0'))
			return false;
	return true;
}

enum tree_outcome tree_place(const struct rules *rules, const struct record *rec, char *path,
                             uint32_t *ret)
{
	uint32_t rule = 0;
	int r;

	if (!record_has(rec, PROP_FILE_PATH)) {
		*ret = TREE_SKIP_NO_PATH;
		return TREE_SKIPPED;
	}
	if (!path_is_safe_source(rec->values[PROP_FILE_PATH].ptr,
	                         rec->values[PROP_FILE_PATH].len)) {
		*ret = TREE_SKIP_UNSAFE;
		return TREE_SKIPPED;
	}
	r = rules_place(rules, rec, path, SNAP_PATH_MAX, &rule);
	if (r == RULES_HIDDEN) {
		*ret = rule;
		return TREE_HIDDEN;
	}
	if (r == RULES_UNPLACED) {
		*ret = TREE_SKIP_NO_RULE;
		return TREE_SKIPPED;
	}
	if (r < 0 || !is_clean_virtual_path(path)) {
		*ret = TREE_SKIP_NO_NAME;
		return TREE_SKIPPED;
	}
	*ret = rule;
	return TREE_PLACED;
}

bool tree_parse_size(struct strview v, uint64_t *ret)
{
	uint64_t n = 0;

	if (v.ptr == NULL || v.len == 0)
		return false;
	for (uint32_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.ptr[i] - '0';

		if (d > 9 || n > ((uint64_t)INT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*ret = n;
	return true;
}

/* The time of property i: 0 when absent, 1 when usable (and set), -1 when not. */
static int file_time(const struct record *rec, uint32_t i, int64_t *ret)
{
	if (!record_has(rec, i))
		return 0;
	if (tree_parse_time_ns(rec->values[i].ptr, rec->values[i].len, ret) < 0)
		return -1;
	return *ret != 0; /* 0 is the epoch, and reads as "no time" as it always did */
}

void tree_file_of(const struct record *rec, struct tree_file *f)
{
	int m, c;

	memset(f, 0, sizeof(*f));
	if (!tree_parse_size(rec->values[PROP_SIZE], &f->size)) {
		f->size = 0;
		f->flags |= SNAP_NODE_F_SIZE_UNKNOWN;
		f->notes |= 1u << TREE_NOTE_SIZE;
	}
	m = file_time(rec, PROP_MTIME, &f->mtime_ns);
	c = file_time(rec, PROP_CTIME, &f->ctime_ns);
	if (m < 0 || c < 0)
		f->notes |= 1u << TREE_NOTE_TIME;
	if (m <= 0)
		f->mtime_ns = c > 0 ? f->ctime_ns : 0;
	if (c <= 0)
		f->ctime_ns = f->mtime_ns;
}

void tree_file_measure(const struct record *rec, struct tree_sizes *sizes, struct tree_file *f)
{
	uint64_t size;
	size_t len;

	tree_file_of(rec, f);
	if (sizes == NULL || sizes->measure == NULL)
		return;
	if (sizes->measure(sizes->ctx, rec, &size) < 0 || size > (uint64_t)INT64_MAX) {
		sizes->failed++;
		return;
	}
	sizes->measured++;
	if (!(f->flags & SNAP_NODE_F_SIZE_UNKNOWN) && f->size == size)
		return;
	f->size = size;
	f->flags = (uint16_t)((f->flags & ~SNAP_NODE_F_SIZE_UNKNOWN) | SNAP_NODE_F_SIZE_MEASURED);
	if (sizes->corrected++ == 0) {
		len = rec->hash_id.len < TREE_SIZES_EXAMPLE_MAX ? rec->hash_id.len
		                                                : TREE_SIZES_EXAMPLE_MAX;
		memcpy(sizes->example, rec->hash_id.ptr, len);
		sizes->example[len] = '\0';
		sizes->example_size = size;
	}
}

int tree_grow(void *array, size_t *cap, size_t n, size_t size)
{
	void **p = array;
	size_t c = *cap ? *cap : 16;
	void *q;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	q = realloc(*p, c * size);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

int tree_nodes_room(tree_nodes_fn nodes_fn, void *nodes_ctx, size_t count,
                    struct snapshot_build *out)
{
	if (nodes_fn != NULL)
		return nodes_fn(nodes_ctx, (uint32_t)count, &out->nodes, &out->file);
	out->nodes = malloc(count * sizeof(*out->nodes));
	return out->nodes != NULL ? 0 : -ENOMEM;
}

int64_t tree_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tree_date_directories(struct snapshot_build *out, int64_t now_ns)
{
	int64_t limit =
	    now_ns < INT64_MAX - TREE_FUTURE_SLACK_NS ? now_ns + TREE_FUTURE_SLACK_NS : INT64_MAX;

	for (uint32_t i = out->node_count; i-- > 1;) {
		struct snap_node *child = &out->nodes[i], *parent = &out->nodes[child->parent];

		/* A directory's own times were bounded by its children already. */
		if (child->mtime_ns > parent->mtime_ns && child->mtime_ns <= limit)
			parent->mtime_ns = child->mtime_ns;
		if (child->ctime_ns > parent->ctime_ns && child->ctime_ns <= limit)
			parent->ctime_ns = child->ctime_ns;
	}
}

/* ---- contested names ---- */

#define UNIQ_MIN 1024

void tree_uniq_init(struct tree_uniq *u)
{
	memset(u, 0, sizeof(*u));
}

void tree_uniq_free(struct tree_uniq *u)
{
	free(u->names);
	free(u->slots);
	free(u->used);
	memset(u, 0, sizeof(*u));
}

void tree_uniq_reset(struct tree_uniq *u)
{
	for (size_t i = 0; i < u->count; i++)
		u->slots[u->used[i]] = 0;
	u->len = 0;
	u->count = 0;
	u->next = 2;
}

void tree_uniq_run(struct tree_uniq *u)
{
	u->next = 2;
}

/* The slot of name (empty when not given), or the slot it takes. */
static size_t uniq_slot(const struct tree_uniq *u, const char *name, size_t len, uint64_t h)
{
	uint64_t tag = h >> 32 << 32;
	size_t slot = (h >> 32) & (u->size - 1);

	for (; u->slots[slot] != 0; slot = (slot + 1) & (u->size - 1)) {
		const char *s = u->names + (uint32_t)u->slots[slot] - 1;

		if ((u->slots[slot] & ~(uint64_t)UINT32_MAX) == tag && strlen(s) == len &&
		    memcmp(s, name, len) == 0)
			break;
	}
	return slot;
}

static int uniq_grow(struct tree_uniq *u)
{
	size_t size = u->size ? u->size * 2 : UNIQ_MIN;
	uint64_t *slots = calloc(size, sizeof(*slots));
	size_t *used = malloc(size / 2 * sizeof(*used));

	if (slots == NULL || used == NULL) {
		free(slots);
		free(used);
		return -ENOMEM;
	}
	for (size_t i = 0; i < u->count; i++) {
		uint64_t v = u->slots[u->used[i]];
		size_t slot;

		for (slot = (v >> 32) & (size - 1); slots[slot] != 0;
		     slot = (slot + 1) & (size - 1))
			;
		slots[slot] = v;
		used[i] = slot;
	}
	free(u->slots);
	free(u->used);
	u->slots = slots;
	u->used = used;
	u->size = size;
	return 0;
}

int tree_uniq_next(struct tree_uniq *u, const char *name, size_t len, tree_taken_fn taken,
                   void *ctx, const char **ret)
{
	char cand[SNAP_NAME_MAX + 1];
	uint64_t h;
	size_t slot;
	int n, r;

	if ((u->count + 1) * 2 > u->size) {
		r = uniq_grow(u);
		if (r < 0)
			return r;
	}
	for (;; u->next++) {
		n = names_add_suffix(name, len, u->next, cand, sizeof(cand));
		if (n < 0)
			return n;
		if (taken(ctx, cand, (size_t)n))
			continue;
		h = hash64(cand, (size_t)n, 0);
		slot = uniq_slot(u, cand, (size_t)n, h);
		if (u->slots[slot] == 0)
			break;
	}
	r = tree_grow(&u->names, &u->cap, u->len + (size_t)n + 1, 1);
	if (r < 0)
		return r;
	if (u->len + 1 > UINT32_MAX)
		return -ENOMEM;
	memcpy(u->names + u->len, cand, (size_t)n + 1);
	u->slots[slot] = (h >> 32 << 32) | (uint64_t)(u->len + 1);
	u->used[u->count] = slot;
	*ret = u->names + u->len;
	u->len += (size_t)n + 1;
	u->count++;
	u->next++;
	return n;
}

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
