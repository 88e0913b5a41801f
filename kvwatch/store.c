/*
 * store: the record set behind kvwatch's tree (see store.h for the idea).
 *
 * Layout.  slots[] is the index: {hash, ref}; ref 0 is an empty slot, ref with
 * OWNED_BIT names owned[ref & ~OWNED_BIT], any other ref is a file node index of
 * the mapped snapshot (node 0 is the root, never a file, so 0 stays free).
 * An owned blob is {id_len, lens[nprops]} followed by the id and the values;
 * lens[k] == ABSENT marks an absent value.  A mapped entry's core values live in
 * the map's core arena at core_off[node]: for each of size, mtime, ctime,
 * fileName, extension, stem one tag byte (0 absent, 1..250 the length,
 * TAG_DERIVED "what filePath implies", TAG_LONG a 4-byte length follows), then
 * the bytes.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hash.h"
#include "snapshot.h"

#define ABSENT      UINT32_MAX
#define OWNED_BIT   0x80000000u
#define NO_CORE     UINT32_MAX
#define HASH_SEED   0x6b76776174636820ULL
#define ARENA_CHUNK (4u << 20)
#define ID_MAX      65535
#define KEYCACHE    64

#define TAG_INLINE_MAX 250
#define TAG_DERIVED    251
#define TAG_LONG       252

struct blob {
	uint32_t id_len;
	uint32_t lens[];
};

struct slot {
	uint32_t hash;
	uint32_t ref;
};

struct chunk {
	struct chunk *next;
	size_t size;
	size_t used;
};

struct snapmap {
	struct snapshot *snap;
	char *core;
	size_t core_len;
	size_t core_cap;
	uint32_t *core_off; /* by node index */
	uint32_t node_count;
	uint32_t kc_off[KEYCACHE]; /* prop key offset + 1 -> schema index */
	int32_t kc_idx[KEYCACHE];
};

struct store {
	const struct schema *schema;
	uint32_t nprops;

	struct slot *slots;
	uint32_t cap; /* a power of two, or 0 */
	uint32_t count;

	struct blob **owned;
	uint32_t owned_len; /* high-water mark of owned[] */
	uint32_t owned_cap;
	uint32_t *free_idx;
	uint32_t free_len;
	uint32_t free_cap;
	uint64_t owned_count;
	uint64_t owned_bytes;

	bool bulk;
	struct chunk *chunks;

	struct snapmap map;

	/* During store_rebind(): slots whose ref names a node of rebind_map. */
	uint64_t *rebind_bits;
	struct snapmap *rebind_map;

	struct strview *scratch;  /* nprops, for comparisons */
	struct strview *scratch2; /* nprops, for store_put_changed() */
};

static uint32_t id_hash(const char *id, size_t len)
{
	uint64_t h = hash64(id, len, HASH_SEED);

	return (uint32_t)(h ^ (h >> 32));
}

static bool sv_eq(struct strview a, struct strview b)
{
	uint32_t la = a.ptr ? a.len : 0, lb = b.ptr ? b.len : 0;

	return la == lb && (la == 0 || memcmp(a.ptr, b.ptr, la) == 0);
}

static struct strview snap_sv(const struct snapshot *snap, struct snap_str s)
{
	return (struct strview){snapshot_str(snap, s), s.len};
}

static inline char *blob_data(const struct store *s, const struct blob *b)
{
	return (char *)&b->lens[s->nprops];
}

/* ---- the arena of bulk stores ---- */

static void *arena_alloc(struct store *s, size_t size)
{
	struct chunk *c = s->chunks;
	void *p;

	size = (size + 7) & ~(size_t)7;
	if (c == NULL || c->used + size > c->size) {
		size_t head = (sizeof(struct chunk) + 7) & ~(size_t)7;
		size_t csize = ARENA_CHUNK;

		if (head + size > csize)
			csize = (head + size + 4095) & ~(size_t)4095;
		p = mmap(NULL, csize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		c = p;
		c->next = s->chunks;
		c->size = csize;
		c->used = head;
		s->chunks = c;
	}
	p = (char *)c + c->used;
	c->used += size;
	return p;
}

static void arena_free_all(struct store *s)
{
	while (s->chunks != NULL) {
		struct chunk *next = s->chunks->next;

		munmap(s->chunks, s->chunks->size);
		s->chunks = next;
	}
}

/* ---- blobs and the owned table ---- */

static size_t blob_size(const struct store *s, size_t id_len, const struct strview *values)
{
	size_t size = sizeof(struct blob) + (size_t)s->nprops * sizeof(uint32_t) + id_len;

	for (uint32_t k = 0; k < s->nprops; k++)
		if (values[k].ptr != NULL && values[k].len > 0)
			size += values[k].len;
	return size;
}

static struct blob *blob_make(struct store *s, const char *id, size_t id_len,
                              const struct strview *values)
{
	size_t size = blob_size(s, id_len, values);
	struct blob *b = s->bulk ? arena_alloc(s, size) : malloc(size);
	char *p;

	if (b == NULL)
		return NULL;
	b->id_len = (uint32_t)id_len;
	p = blob_data(s, b);
	memcpy(p, id, id_len);
	p += id_len;
	for (uint32_t k = 0; k < s->nprops; k++) {
		if (values[k].ptr == NULL || values[k].len == 0) {
			b->lens[k] = ABSENT;
			continue;
		}
		b->lens[k] = values[k].len;
		memcpy(p, values[k].ptr, values[k].len);
		p += values[k].len;
	}
	s->owned_bytes += size;
	return b;
}

static size_t blob_total(const struct store *s, const struct blob *b)
{
	size_t size = sizeof(struct blob) + (size_t)s->nprops * sizeof(uint32_t) + b->id_len;

	for (uint32_t k = 0; k < s->nprops; k++)
		if (b->lens[k] != ABSENT)
			size += b->lens[k];
	return size;
}

static void blob_drop(struct store *s, struct blob *b)
{
	s->owned_bytes -= blob_total(s, b);
	if (!s->bulk)
		free(b);
}

static void blob_values(const struct store *s, const struct blob *b, struct strview *v)
{
	const char *p = blob_data(s, b) + b->id_len;

	for (uint32_t k = 0; k < s->nprops; k++) {
		if (b->lens[k] == ABSENT) {
			v[k] = (struct strview){NULL, 0};
			continue;
		}
		v[k] = (struct strview){p, b->lens[k]};
		p += b->lens[k];
	}
}

static int owned_add(struct store *s, struct blob *b, uint32_t *ret_ref)
{
	uint32_t idx;

	if (s->free_len > 0) {
		idx = s->free_idx[--s->free_len];
	} else {
		if (s->owned_len == s->owned_cap) {
			uint32_t cap = s->owned_cap ? s->owned_cap * 2 : 1024;
			struct blob **n;

			if (cap >= OWNED_BIT)
				return -ENOMEM;
			n = realloc(s->owned, (size_t)cap * sizeof(*n));
			if (n == NULL)
				return -ENOMEM;
			s->owned = n;
			s->owned_cap = cap;
		}
		idx = s->owned_len++;
	}
	s->owned[idx] = b;
	s->owned_count++;
	*ret_ref = OWNED_BIT | idx;
	return 0;
}

static void owned_release(struct store *s, uint32_t ref)
{
	uint32_t idx = ref & ~OWNED_BIT;

	blob_drop(s, s->owned[idx]);
	s->owned[idx] = NULL;
	s->owned_count--;
	if (s->free_len == s->free_cap) {
		uint32_t cap = s->free_cap ? s->free_cap * 2 : 256;
		uint32_t *n = realloc(s->free_idx, (size_t)cap * sizeof(*n));

		if (n == NULL)
			return; /* the index is lost for reuse, nothing worse */
		s->free_idx = n;
		s->free_cap = cap;
	}
	s->free_idx[s->free_len++] = idx;
}

/* ---- mapped entries ---- */

static int key_index(struct store *s, struct snapmap *m, struct snap_str key)
{
	uint32_t c = (key.off * 2654435761u) >> 26;
	int r;

	if (key.off != UINT32_MAX && m->kc_off[c] == key.off + 1)
		return m->kc_idx[c];
	r = schema_find(s->schema, snapshot_str(m->snap, key), key.len);
	if (key.off != UINT32_MAX) {
		m->kc_off[c] = key.off + 1;
		m->kc_idx[c] = r;
	}
	return r;
}

/* fileName, extension and stem as record_derive() gives them for path and name. */
static void derive(struct strview path, struct strview name, struct strview out[PROP_CORE_MAX])
{
	struct record r = {.values = out};

	memset(out, 0, sizeof(struct strview) * PROP_CORE_MAX);
	out[PROP_FILE_PATH] = path;
	out[PROP_FILE_NAME] = name;
	record_derive(&r);
}

static const unsigned char *tag_read(const unsigned char *p, struct strview *v, bool *derived)
{
	uint32_t len = *p++;

	*derived = false;
	if (len == 0) {
		*v = (struct strview){NULL, 0};
		return p;
	}
	if (len == TAG_DERIVED) {
		*derived = true;
		*v = (struct strview){NULL, 0};
		return p;
	}
	if (len == TAG_LONG) {
		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
	}
	*v = (struct strview){(const char *)p, len};
	return p + len;
}

static void core_decode(const struct snapmap *m, uint32_t off, struct strview *v)
{
	const unsigned char *p;
	struct strview d[PROP_CORE_MAX];
	bool derived[PROP_CORE_MAX] = {false};

	if (off == NO_CORE)
		return;
	p = (const unsigned char *)m->core + off;
	for (int k = PROP_SIZE; k <= PROP_STEM; k++)
		p = tag_read(p, &v[k], &derived[k]);
	if (derived[PROP_FILE_NAME]) {
		derive(v[PROP_FILE_PATH], (struct strview){NULL, 0}, d);
		v[PROP_FILE_NAME] = d[PROP_FILE_NAME];
	}
	if (derived[PROP_EXTENSION] || derived[PROP_STEM]) {
		derive(v[PROP_FILE_PATH], v[PROP_FILE_NAME], d);
		if (derived[PROP_EXTENSION])
			v[PROP_EXTENSION] = d[PROP_EXTENSION];
		if (derived[PROP_STEM])
			v[PROP_STEM] = d[PROP_STEM];
	}
}

static int core_reserve(struct snapmap *m, size_t more)
{
	size_t cap;
	char *n;

	if (m->core_len + more <= m->core_cap)
		return 0;
	cap = m->core_cap ? m->core_cap : 1 << 16;
	while (cap < m->core_len + more)
		cap *= 2;
	n = realloc(m->core, cap);
	if (n == NULL)
		return -ENOMEM;
	m->core = n;
	m->core_cap = cap;
	return 0;
}

/* Append the core values of v; the offset must fit 32 bits. */
static int core_encode(struct snapmap *m, const struct strview *v, uint32_t *ret_off)
{
	struct strview dpath[PROP_CORE_MAX], dname[PROP_CORE_MAX];
	unsigned char *p;
	size_t need = 0;
	int r;

	if (m->core_len >= NO_CORE)
		return -EOVERFLOW;
	derive(v[PROP_FILE_PATH], (struct strview){NULL, 0}, dpath);
	derive(v[PROP_FILE_PATH], v[PROP_FILE_NAME], dname);
	for (int k = PROP_SIZE; k <= PROP_STEM; k++)
		need += 1 + sizeof(uint32_t) + (v[k].ptr ? v[k].len : 0);
	r = core_reserve(m, need);
	if (r < 0)
		return r;
	*ret_off = (uint32_t)m->core_len;
	p = (unsigned char *)m->core + m->core_len;
	for (int k = PROP_SIZE; k <= PROP_STEM; k++) {
		uint32_t len = v[k].ptr ? v[k].len : 0;
		bool is_derived =
		    len > 0 && ((k == PROP_FILE_NAME && sv_eq(v[k], dpath[PROP_FILE_NAME])) ||
		                (k == PROP_EXTENSION && sv_eq(v[k], dname[PROP_EXTENSION])) ||
		                (k == PROP_STEM && sv_eq(v[k], dname[PROP_STEM])));

		if (len == 0) {
			*p++ = 0;
		} else if (is_derived) {
			*p++ = TAG_DERIVED;
		} else {
			if (len <= TAG_INLINE_MAX) {
				*p++ = (unsigned char)len;
			} else {
				*p++ = TAG_LONG;
				memcpy(p, &len, sizeof(len));
				p += sizeof(len);
			}
			memcpy(p, v[k].ptr, len);
			p += len;
		}
	}
	m->core_len = (size_t)((char *)p - m->core);
	return 0;
}

static void mapped_values(struct store *s, struct snapmap *m, uint32_t n, struct strview *v)
{
	const struct snap_node *node = snapshot_node(m->snap, n);
	const struct snap_prop *props;
	uint32_t pc;

	memset(v, 0, sizeof(*v) * s->nprops);
	v[PROP_FILE_PATH] = snap_sv(m->snap, node->source);
	props = snapshot_props(m->snap, node, &pc);
	for (uint32_t i = 0; i < pc; i++) {
		int k = key_index(s, m, props[i].key);

		if (k >= PROP_CORE_MAX && (uint32_t)k < s->nprops)
			v[k] = snap_sv(m->snap, props[i].value);
	}
	core_decode(m, m->core_off[n], v);
}

static void snapmap_clear(struct snapmap *m)
{
	snapshot_free(m->snap);
	free(m->core);
	free(m->core_off);
	memset(m, 0, sizeof(*m));
}

static int snapmap_init(struct snapmap *m, struct snapshot *snap)
{
	memset(m, 0, sizeof(*m));
	m->snap = snap;
	m->node_count = snapshot_node_count(snap);
	if (m->node_count >= OWNED_BIT)
		return -EOVERFLOW;
	m->core_off = malloc((size_t)m->node_count * sizeof(uint32_t) + 1);
	if (m->core_off == NULL)
		return -ENOMEM;
	memset(m->core_off, 0xff, (size_t)m->node_count * sizeof(uint32_t));
	return 0;
}

/* ---- the index ---- */

static bool rebound(const struct store *s, uint32_t i)
{
	return s->rebind_bits != NULL && (s->rebind_bits[i / 64] >> (i % 64) & 1);
}

static struct strview entry_id(const struct store *s, uint32_t i)
{
	uint32_t ref = s->slots[i].ref;
	const struct snapmap *m;
	const struct snap_node *node;

	if (ref & OWNED_BIT) {
		const struct blob *b = s->owned[ref & ~OWNED_BIT];

		return (struct strview){blob_data(s, b), b->id_len};
	}
	m = rebound(s, i) ? s->rebind_map : &s->map;
	node = snapshot_node(m->snap, ref);
	return snap_sv(m->snap, node->hash_id);
}

static void entry_values(struct store *s, uint32_t i, struct strview *v)
{
	uint32_t ref = s->slots[i].ref;

	if (ref & OWNED_BIT)
		blob_values(s, s->owned[ref & ~OWNED_BIT], v);
	else
		mapped_values(s, rebound(s, i) ? s->rebind_map : &s->map, ref, v);
}

/* Mapped entries are placed files: they have a source. */
static bool entry_has_path(const struct store *s, uint32_t i)
{
	uint32_t ref = s->slots[i].ref;

	if (!(ref & OWNED_BIT))
		return true;
	return s->owned[ref & ~OWNED_BIT]->lens[PROP_FILE_PATH] != ABSENT;
}

static int64_t find(const struct store *s, const char *id, size_t len, uint32_t h)
{
	uint32_t mask = s->cap - 1;

	if (s->cap == 0)
		return -1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		struct strview e;

		if (s->slots[i].ref == 0)
			return -1;
		if (s->slots[i].hash != h)
			continue;
		e = entry_id(s, i);
		if (e.len == len && memcmp(e.ptr, id, len) == 0)
			return i;
	}
}

static void place(struct slot *slots, uint32_t mask, uint32_t h, uint32_t ref)
{
	uint32_t i = h & mask;

	while (slots[i].ref != 0)
		i = (i + 1) & mask;
	slots[i].hash = h;
	slots[i].ref = ref;
}

static int grow(struct store *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : 1024;
	struct slot *n;

	if ((uint64_t)(s->count + 1) * 10 <= (uint64_t)s->cap * 7)
		return 0;
	if (s->rebind_bits != NULL || cap == 0 || cap > (1u << 31))
		return -ENOMEM;
	n = calloc(cap, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->slots[i].ref != 0)
			place(n, cap - 1, s->slots[i].hash, s->slots[i].ref);
	free(s->slots);
	s->slots = n;
	s->cap = cap;
	return 0;
}

/* Remove slot i, shifting later members of its cluster back (no tombstones). */
static void slot_delete(struct store *s, uint32_t i)
{
	uint32_t mask = s->cap - 1, j = i;

	for (;;) {
		uint32_t home;

		j = (j + 1) & mask;
		if (s->slots[j].ref == 0)
			break;
		home = s->slots[j].hash & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		s->slots[i] = s->slots[j];
		if (s->rebind_bits != NULL) {
			/* The slot's map travels with it. */
			s->rebind_bits[i / 64] &= ~(1ULL << (i % 64));
			s->rebind_bits[i / 64] |= (s->rebind_bits[j / 64] >> (j % 64) & 1)
			                          << (i % 64);
		}
		i = j;
	}
	s->slots[i].ref = 0;
	s->slots[i].hash = 0;
	if (s->rebind_bits != NULL)
		s->rebind_bits[i / 64] &= ~(1ULL << (i % 64));
}

/* ---- public ---- */

int store_new(const struct schema *schema, bool bulk, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->schema = schema;
	s->nprops = schema->count;
	s->bulk = bulk;
	if (s->nprops < PROP_CORE_MAX) {
		free(s);
		return -EINVAL;
	}
	s->scratch = calloc(s->nprops, sizeof(*s->scratch));
	s->scratch2 = calloc(s->nprops, sizeof(*s->scratch2));
	if (s->scratch == NULL || s->scratch2 == NULL) {
		free(s->scratch);
		free(s->scratch2);
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

void store_free(struct store *s)
{
	if (s == NULL)
		return;
	if (!s->bulk)
		for (uint32_t i = 0; i < s->owned_len; i++)
			free(s->owned[i]);
	arena_free_all(s);
	snapmap_clear(&s->map);
	free(s->owned);
	free(s->free_idx);
	free(s->slots);
	free(s->scratch);
	free(s->scratch2);
	free(s);
}

int store_set_schema(struct store *s, const struct schema *schema)
{
	if (!schema_equal(s->schema, schema))
		return -EINVAL;
	s->schema = schema;
	return 0;
}

int store_reschema(struct store *s, const struct schema *schema, struct store **ret)
{
	struct strview *old = NULL, *vals = NULL;
	struct store *n = NULL;
	int32_t *from = NULL;
	struct strview id;
	uint64_t it = 0;
	int r;

	r = store_new(schema, false, &n);
	if (r < 0)
		return r;
	old = calloc(s->nprops, sizeof(*old));
	vals = calloc(schema->count, sizeof(*vals));
	from = calloc(schema->count, sizeof(*from));
	if (old == NULL || vals == NULL || from == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < schema->count; i++)
		from[i] = schema_find(s->schema, schema->names[i], strlen(schema->names[i]));
	while (store_next(s, &it, &id, old)) {
		for (uint32_t i = 0; i < schema->count; i++)
			vals[i] = from[i] >= 0 ? old[from[i]] : (struct strview){0};
		r = store_put(n, id.ptr, id.len, vals);
		if (r < 0)
			goto out;
	}
	*ret = n;
	n = NULL;
	r = 0;
out:
	store_free(n);
	free(old);
	free(vals);
	free(from);
	return r;
}

uint32_t store_count(const struct store *s)
{
	return s->count;
}

uint32_t store_nprops(const struct store *s)
{
	return s->nprops;
}

struct snapshot *store_snapshot(const struct store *s)
{
	return s->map.snap;
}

int store_put(struct store *s, const char *id, size_t id_len, const struct strview *values)
{
	uint32_t h = id_hash(id, id_len), ref = 0;
	struct blob *b;
	int64_t i;
	int r;

	if (id_len == 0 || id_len > ID_MAX)
		return -EINVAL;
	b = blob_make(s, id, id_len, values);
	if (b == NULL)
		return -ENOMEM;
	i = find(s, id, id_len, h);
	if (i >= 0 && (s->slots[i].ref & OWNED_BIT)) {
		uint32_t idx = s->slots[i].ref & ~OWNED_BIT;

		blob_drop(s, s->owned[idx]);
		s->owned[idx] = b;
		return 0;
	}
	r = i < 0 ? grow(s) : 0;
	if (r == 0)
		r = owned_add(s, b, &ref);
	if (r < 0) {
		blob_drop(s, b);
		return r;
	}
	if (i >= 0) {
		s->slots[i].ref = ref; /* was mapped: its core bytes go at the next rebind */
		return 0;
	}
	place(s->slots, s->cap - 1, h, ref);
	s->count++;
	return 0;
}

int store_put_changed(struct store *s, const char *id, size_t id_len, const struct strview *values)
{
	int64_t i = find(s, id, id_len, id_hash(id, id_len));
	int r;

	if (i >= 0) {
		uint32_t k;

		entry_values(s, (uint32_t)i, s->scratch2);
		for (k = 0; k < s->nprops; k++)
			if (!sv_eq(values[k], s->scratch2[k]))
				break;
		if (k == s->nprops)
			return 0;
	}
	r = store_put(s, id, id_len, values);
	return r < 0 ? r : 1;
}

bool store_remove(struct store *s, const char *id, size_t id_len)
{
	int64_t i = find(s, id, id_len, id_hash(id, id_len));

	if (i < 0)
		return false;
	if (s->slots[i].ref & OWNED_BIT)
		owned_release(s, s->slots[i].ref);
	slot_delete(s, (uint32_t)i);
	s->count--;
	return true;
}

bool store_contains(const struct store *s, const char *id, size_t id_len)
{
	return find(s, id, id_len, id_hash(id, id_len)) >= 0;
}

bool store_get(struct store *s, const char *id, size_t id_len, struct strview *values)
{
	int64_t i = find(s, id, id_len, id_hash(id, id_len));

	if (i < 0)
		return false;
	entry_values(s, (uint32_t)i, values);
	return true;
}

bool store_next(struct store *s, uint64_t *it, struct strview *ret_id, struct strview *values)
{
	for (uint64_t i = *it; i < s->cap; i++) {
		if (s->slots[i].ref == 0)
			continue;
		if (ret_id != NULL)
			*ret_id = entry_id(s, (uint32_t)i);
		if (values != NULL)
			entry_values(s, (uint32_t)i, values);
		*it = i + 1;
		return true;
	}
	*it = s->cap;
	return false;
}

int store_iter_init(struct store *s, struct store_iter *it)
{
	memset(it, 0, sizeof(*it));
	it->store = s;
	it->words = (s->map.node_count + 63) / 64;
	it->mapped = calloc(it->words + 1, sizeof(*it->mapped));
	it->vals = calloc(s->nprops, sizeof(*it->vals));
	if (it->mapped == NULL || it->vals == NULL) {
		store_iter_free(it);
		return -ENOMEM;
	}
	it->rec.values = it->vals;
	return 0;
}

const struct record *store_iter_next(void *ctx)
{
	struct store_iter *it = ctx;
	struct store *s = it->store;
	uint32_t node;

	/* Owned entries first; mapped ones are only marked ... */
	while (it->slot < s->cap) {
		uint32_t i = it->slot++, ref = s->slots[i].ref;

		if (ref == 0)
			continue;
		if (!(ref & OWNED_BIT)) {
			it->mapped[ref / 64] |= 1ULL << (ref % 64);
			continue;
		}
		it->node = 0;
		it->rec.hash_id = entry_id(s, i);
		blob_values(s, s->owned[ref & ~OWNED_BIT], it->vals);
		record_derive(&it->rec);
		return &it->rec;
	}
	/* ... and read in node order: the snapshot and the core bytes front to back. */
	while (it->bits == 0) {
		if (it->word >= it->words)
			return NULL;
		it->bits = it->mapped[it->word++];
	}
	node = (it->word - 1) * 64 + (uint32_t)__builtin_ctzll(it->bits);
	it->bits &= it->bits - 1;
	it->node = node;
	it->rec.hash_id = snap_sv(s->map.snap, snapshot_node(s->map.snap, node)->hash_id);
	mapped_values(s, &s->map, node, it->vals);
	record_derive(&it->rec);
	return &it->rec;
}

const struct snap_node *store_iter_node(const struct store_iter *it)
{
	return it->node != 0 ? snapshot_node(it->store->map.snap, it->node) : NULL;
}

const struct snap_node *store_mapped(struct store *s, const char *id, size_t len,
                                     struct strview *ret_size)
{
	int64_t i = find(s, id, len, id_hash(id, len));
	uint32_t ref, off;
	bool derived;

	if (i < 0 || rebound(s, (uint32_t)i))
		return NULL;
	ref = s->slots[i].ref;
	if (ref & OWNED_BIT)
		return NULL;
	/* The size is the first core value (core_encode()), never derived. */
	off = s->map.core_off[ref];
	*ret_size = (struct strview){NULL, 0};
	if (off != NO_CORE)
		tag_read((const unsigned char *)s->map.core + off, ret_size, &derived);
	return snapshot_node(s->map.snap, ref);
}

void store_iter_free(struct store_iter *it)
{
	free(it->mapped);
	free(it->vals);
	memset(it, 0, sizeof(*it));
}

/*
 * Canonical text of a parsed time: epoch milliseconds when that is exact (what
 * meta-sort writes, so a reimported record usually reads back byte for byte),
 * else seconds with nine decimals.  Both parse back to the same nanoseconds.
 */
static uint32_t format_time(char *buf, size_t cap, int64_t ns)
{
	int n;

	if (ns <= 0)
		return 0;
	if (ns % 1000000 == 0 && ns / 1000000 >= 100000000000LL)
		n = snprintf(buf, cap, "%" PRId64, ns / 1000000);
	else if (ns % 1000000000 == 0)
		n = snprintf(buf, cap, "%" PRId64, ns / 1000000000);
	else
		n = snprintf(buf, cap, "%" PRId64 ".%09" PRId64, ns / 1000000000, ns % 1000000000);
	return n > 0 ? (uint32_t)n : 0;
}

int store_import_snapshot(struct store *s, struct snapshot *snap)
{
	int r;

	if (s->count != 0 || s->map.snap != NULL) {
		snapshot_free(snap);
		return -EBUSY;
	}
	r = snapmap_init(&s->map, snap);
	if (r < 0) {
		snapmap_clear(&s->map);
		return r;
	}
	for (uint32_t n = 1; n < s->map.node_count; n++) {
		const struct snap_node *node = snapshot_node(snap, n);
		struct strview id = snap_sv(snap, node->hash_id);
		struct strview *v = s->scratch;
		char size[24], mtime[32], ctime[32];
		uint32_t h;

		if (node->type != SNAP_NODE_FILE || id.len == 0)
			continue;
		h = id_hash(id.ptr, id.len);
		if (find(s, id.ptr, id.len, h) >= 0)
			continue;
		r = grow(s);
		if (r < 0)
			return r;
		memset(v, 0, sizeof(*v) * s->nprops);
		v[PROP_FILE_PATH] = snap_sv(snap, node->source);
		if (node->size > 0)
			v[PROP_SIZE] = (struct strview){
			    size, (uint32_t)snprintf(size, sizeof(size), "%" PRIu64, node->size)};
		v[PROP_MTIME] =
		    (struct strview){mtime, format_time(mtime, sizeof(mtime), node->mtime_ns)};
		v[PROP_CTIME] =
		    (struct strview){ctime, format_time(ctime, sizeof(ctime), node->ctime_ns)};
		r = core_encode(&s->map, v, &s->map.core_off[n]);
		if (r < 0)
			return r;
		place(s->slots, s->cap - 1, h, n);
		s->count++;
	}
	return 0;
}

/* Does node n of m hold exactly v's filePath and non-core values? */
static bool mapped_matches(struct store *s, struct snapmap *m, uint32_t n, const struct strview *v)
{
	const struct snap_node *node = snapshot_node(m->snap, n);
	const struct snap_prop *props;
	struct strview *w = s->scratch;
	uint32_t pc;

	if (!sv_eq(v[PROP_FILE_PATH], snap_sv(m->snap, node->source)))
		return false;
	memset(w, 0, sizeof(*w) * s->nprops);
	props = snapshot_props(m->snap, node, &pc);
	for (uint32_t i = 0; i < pc; i++) {
		int k = key_index(s, m, props[i].key);

		if (k < 0 || (uint32_t)k >= s->nprops)
			return false;
		if (k >= PROP_CORE_MAX)
			w[k] = snap_sv(m->snap, props[i].value);
	}
	for (uint32_t k = PROP_CORE_MAX; k < s->nprops; k++)
		if (!sv_eq(v[k], w[k]))
			return false;
	return true;
}

int store_rebind(struct store *s, struct snapshot *snap)
{
	struct snapmap nm;
	struct strview *v = NULL;
	int r;

	r = snapmap_init(&nm, snap);
	if (r < 0) {
		snapmap_clear(&nm);
		return r;
	}
	v = malloc(sizeof(*v) * s->nprops);
	s->rebind_bits = calloc((s->cap + 63) / 64 + 1, sizeof(uint64_t));
	if (v == NULL || s->rebind_bits == NULL) {
		r = -ENOMEM;
		goto out;
	}
	s->rebind_map = &nm;

	/* 1. Map every entry the new snapshot holds exactly. */
	for (uint32_t n = 1; n < nm.node_count && s->cap > 0; n++) {
		const struct snap_node *node = snapshot_node(snap, n);
		struct strview id;
		uint32_t ref, off;
		int64_t i;

		if (node->type != SNAP_NODE_FILE)
			continue;
		id = snap_sv(snap, node->hash_id);
		i = find(s, id.ptr, id.len, id_hash(id.ptr, id.len));
		if (i < 0 || rebound(s, (uint32_t)i))
			continue;
		ref = s->slots[i].ref;
		entry_values(s, (uint32_t)i, v);
		if (!mapped_matches(s, &nm, n, v))
			continue;
		if (core_encode(&nm, v, &off) < 0)
			break; /* the rest stays owned: more memory, still correct */
		nm.core_off[n] = off;
		if (ref & OWNED_BIT)
			owned_release(s, ref);
		s->slots[i].ref = n;
		s->rebind_bits[i / 64] |= 1ULL << (i % 64);
	}

	/* 2. A bulk store leaves its arena: the few blobs left move to malloc. */
	if (s->bulk) {
		struct blob **copies = calloc(s->owned_len + 1, sizeof(*copies));
		bool ok = copies != NULL;

		for (uint32_t idx = 0; ok && idx < s->owned_len; idx++) {
			size_t size;

			if (s->owned[idx] == NULL)
				continue;
			size = blob_total(s, s->owned[idx]);
			copies[idx] = malloc(size);
			if (copies[idx] == NULL)
				ok = false;
			else
				memcpy(copies[idx], s->owned[idx], size);
		}
		if (ok) {
			if (s->owned_len > 0)
				memcpy(s->owned, copies, s->owned_len * sizeof(*copies));
			arena_free_all(s);
			s->bulk = false;
		} else if (copies != NULL) {
			/* Keep the arena: more memory, nothing breaks. */
			for (uint32_t idx = 0; idx < s->owned_len; idx++)
				free(copies[idx]);
		}
		free(copies);
		if (!ok)
			r = -ENOMEM;
	}

	/* 3. Entries of the old snapshot that the new one does not hold become owned. */
	for (uint32_t i = 0; i < s->cap; i++) {
		uint32_t ref = s->slots[i].ref, nref;
		struct strview id;
		struct blob *b;

		if (ref == 0 || (ref & OWNED_BIT) || rebound(s, i))
			continue;
		id = entry_id(s, i);
		entry_values(s, i, v);
		b = blob_make(s, id.ptr, id.len, v);
		if (b == NULL || owned_add(s, b, &nref) < 0) {
			/* Out of memory: drop the entry rather than point into a freed map. */
			if (b != NULL)
				blob_drop(s, b);
			slot_delete(s, i);
			s->count--;
			i--; /* slot i now holds a shifted entry, look again */
			r = -ENOMEM;
			continue;
		}
		s->slots[i].ref = nref;
	}
	/* 4. Swap the maps. */
	snapmap_clear(&s->map);
	s->map = nm;
	memset(&nm, 0, sizeof(nm));
	r = r < 0 ? r : 0;
out:
	free(s->rebind_bits);
	s->rebind_bits = NULL;
	s->rebind_map = NULL;
	free(v);
	if (nm.snap != NULL)
		snapmap_clear(&nm);
	return r;
}

void store_diff(struct store *cur, struct store *fresh, struct store_diff *ret)
{
	struct store_diff d = {0};
	struct strview *a = malloc(sizeof(*a) * fresh->nprops);
	struct strview *b = malloc(sizeof(*b) * fresh->nprops);
	uint64_t common = 0;

	for (uint32_t i = 0; i < fresh->cap; i++) {
		struct strview id;
		int64_t j;

		if (fresh->slots[i].ref == 0)
			continue;
		id = entry_id(fresh, i);
		j = find(cur, id.ptr, id.len, fresh->slots[i].hash);
		if (j < 0) {
			d.added++;
			continue;
		}
		common++;
		if (a == NULL || b == NULL || cur->nprops != fresh->nprops) {
			d.changed++;
			continue;
		}
		entry_values(fresh, i, a);
		entry_values(cur, (uint32_t)j, b);
		for (uint32_t k = 0; k < fresh->nprops; k++) {
			if (!sv_eq(a[k], b[k])) {
				d.changed++;
				break;
			}
		}
	}
	d.removed = cur->count - common;
	/* Files (entries with a filePath) that would leave the tree. */
	for (uint32_t j = 0; j < cur->cap; j++) {
		struct strview id;
		int64_t i;

		if (cur->slots[j].ref == 0 || !entry_has_path(cur, j))
			continue;
		d.files++;
		id = entry_id(cur, j);
		i = find(fresh, id.ptr, id.len, cur->slots[j].hash);
		if (i < 0 || !entry_has_path(fresh, (uint32_t)i))
			d.lost++;
	}
	free(a);
	free(b);
	*ret = d;
}

int store_copy_entry(struct store *dst, struct store *src, const char *id, size_t id_len)
{
	struct strview *v;
	int r = 0;

	if (dst->nprops != src->nprops)
		return -EINVAL;
	v = malloc(sizeof(*v) * src->nprops);
	if (v == NULL)
		return -ENOMEM;
	if (store_get(src, id, id_len, v))
		r = store_put(dst, id, id_len, v);
	else
		store_remove(dst, id, id_len);
	free(v);
	return r;
}

void store_stats(const struct store *s, struct store_stats *ret)
{
	ret->entries = s->count;
	ret->owned = s->owned_count;
	ret->mapped = s->count - s->owned_count;
	ret->index_bytes = (uint64_t)s->cap * sizeof(struct slot) +
	                   (uint64_t)s->owned_cap * sizeof(struct blob *) +
	                   (uint64_t)s->map.node_count * sizeof(uint32_t);
	ret->owned_bytes = s->owned_bytes;
	ret->core_bytes = s->map.core_cap;
}
