/*
 * loader: the full load and the per-id fetch (see loader.h).
 *
 * The full load, by send order (replies come back in this order):
 *   SCAN_0 SCAN_1 | SCAN_2 | ... | SCAN_n | MGET(ids 0..) MGET(..) ... (FETCH_WINDOW in flight)
 * Phase 1 keeps the server's queue from running dry: SCAN_i+1 is sent as soon as
 * the first bytes of SCAN_i's reply give its cursor (read ahead of the reply
 * parser), so while the client takes in and notes one reply the server already
 * runs the next SCAN.  Noting a reply's keys fills the staging table: every id,
 * and which schema properties it has a key for (a key SCAN returns twice is
 * fetched once).  Phase 2 walks the ids in the order found and MGETs exactly the
 * keys each has, whole ids to an MGET of up to mget_keys keys; each id becomes a
 * record of a new bulk store as its reply is read, so values are never staged.
 *
 * Why not fetch while scanning: redis-server's CPU bounds the load, not its idle
 * time, and MGETs of a SCAN reply's keys (random ids) cost the server more per
 * key than MGETs of whole ids, whose keys it allocated together.  Measured at
 * 100,000 files (1.6M keys, 1M fetched): the server spends ~0.2 s more on the
 * MGETs in SCAN order, and an interleaved pass reached its last reply 0.1-0.2 s
 * later than this, with the values staged besides.
 *
 * The staging table is a row per id in an arena of 1 MiB mmap'ed chunks: the
 * id's hash, its length, a bitmap of its schema properties, then its bytes.  An
 * open-addressing index of (row reference, hash) finds a row; the keys of a SCAN
 * reply are looked up in blocks with cache hints, as the rows are too many to
 * stay in cache.  Per id it costs the id, 8 bytes, a bit per schema property
 * (rounded up to 32) and 8 to 16 bytes of index.
 */
#include "loader.h"
#include "errbuf.h"
#include "fingerprint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "hash.h"
#include "propnames.h"
#include "redis.h"
#include "store.h"

#define FETCH_CHUNK  512
#define FETCH_WINDOW 4 /* full load: MGETs in flight */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the staging table: every id found, with its values so far ---- */

/*
 * An arena: 1 MiB mmap'ed chunks, filled in order, 4-byte aligned.  A reference
 * is one word, the chunk and the offset / 4 (16 GiB at most); chunk 0 starts at
 * ARENA_FIRST, so that no reference is 0 or 1.
 */
#define ARENA_SHIFT      20
#define ARENA_CHUNK      ((size_t)1 << ARENA_SHIFT)
#define ARENA_OFF_BITS   (ARENA_SHIFT - 2)
#define ARENA_CHUNKS_MAX (1u << (32 - ARENA_OFF_BITS))
#define ARENA_FIRST      8

struct arena {
	void **chunks;  /* NULL once released */
	uint32_t *fill; /* bytes used per chunk */
	uint32_t n;
	uint32_t cap;
};

static void arena_free(struct arena *a)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (a->chunks[i] != NULL)
			munmap(a->chunks[i], ARENA_CHUNK);
	free(a->chunks);
	free(a->fill);
	memset(a, 0, sizeof(*a));
}

/* size bytes (at most ARENA_CHUNK - ARENA_FIRST), 4-byte aligned; NULL when out of
 * memory or past 16 GiB (then n == ARENA_CHUNKS_MAX). */
static void *arena_alloc(struct arena *a, size_t size, uint32_t *ret_ref)
{
	size_t used = a->n ? a->fill[a->n - 1] : 0;
	char *p;

	size = (size + 3) & ~(size_t)3;
	if (a->n == 0 || used + size > ARENA_CHUNK) {
		if (a->n == ARENA_CHUNKS_MAX)
			return NULL;
		if (a->n == a->cap) {
			uint32_t cap = a->cap ? a->cap * 2 : 64;
			void **c = realloc(a->chunks, (size_t)cap * sizeof(*c));
			uint32_t *f;

			if (c == NULL)
				return NULL;
			a->chunks = c;
			f = realloc(a->fill, (size_t)cap * sizeof(*f));
			if (f == NULL)
				return NULL;
			a->fill = f;
			a->cap = cap;
		}
		p = mmap(NULL, ARENA_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		         0);
		if (p == MAP_FAILED)
			return NULL;
		used = a->n == 0 ? ARENA_FIRST : 0;
		a->chunks[a->n++] = p;
	}
	*ret_ref = (a->n - 1) << ARENA_OFF_BITS | (uint32_t)(used >> 2);
	a->fill[a->n - 1] = (uint32_t)(used + size);
	return (char *)a->chunks[a->n - 1] + used;
}

static inline void *arena_ptr(const struct arena *a, uint32_t ref)
{
	return (char *)a->chunks[ref >> ARENA_OFF_BITS] +
	       ((size_t)(ref & ((1u << ARENA_OFF_BITS) - 1)) << 2);
}

/*
 * A row per id, in the rows arena in the order found: its hash, its id's length,
 * a bitmap of the schema properties whose key the scan returned, then the id's
 * bytes.  The index maps an id to its row: (reference << 32 | hash), 0 empty, at
 * most half full.
 */
enum { ROW_HASH, ROW_META, ROW_BITS };

#define STAGE_SEED 0x6c6f61646572ULL

struct stage {
	uint32_t nprops;
	uint32_t row_size; /* without the id */
	struct arena rows;
	uint64_t *index;
	uint32_t cap; /* a power of two */
	uint32_t count;
};

static int stage_init(struct stage *t, const struct schema *schema)
{
	memset(t, 0, sizeof(*t));
	t->nprops = schema->count;
	if (t->nprops / 8 > ARENA_CHUNK - ARENA_FIRST - KEYS_ID_MAX - 64)
		return -E2BIG;
	t->row_size = (ROW_BITS + (t->nprops + 31) / 32) * 4;
	return 0;
}

static void stage_free(struct stage *t)
{
	arena_free(&t->rows);
	free(t->index);
	memset(t, 0, sizeof(*t));
}

static inline uint32_t *stage_row(const struct stage *t, uint32_t ref)
{
	return arena_ptr(&t->rows, ref);
}

static inline uint32_t stage_hash(const char *id, size_t len)
{
	return (uint32_t)hash64(id, len, STAGE_SEED);
}

static inline bool row_has(const uint32_t *row, uint32_t k)
{
	return row[ROW_BITS + k / 32] >> (k % 32) & 1;
}

static inline const char *row_id(const struct stage *t, const uint32_t *row)
{
	return (const char *)row + t->row_size;
}

/* The bytes a row takes in the arena. */
static inline size_t row_total(const struct stage *t, const uint32_t *row)
{
	return (t->row_size + row[ROW_META] + 3) & ~(size_t)3;
}

static int stage_grow(struct stage *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 4096;
	uint64_t *n;

	if (cap == 0 || cap > (1u << 31))
		return -ENOMEM;
	n = calloc(cap, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->cap; i++) {
		uint32_t j;

		if (t->index[i] == 0)
			continue;
		for (j = (uint32_t)t->index[i] & (cap - 1); n[j] != 0; j = (j + 1) & (cap - 1))
			;
		n[j] = t->index[i];
	}
	free(t->index);
	t->index = n;
	t->cap = cap;
	return 0;
}

/* Hint the cache to the index slot of hash h. */
static inline void stage_prefetch_slot(const struct stage *t, uint32_t h)
{
	__builtin_prefetch(&t->index[h & (t->cap - 1)]);
}

/* Hint the cache to the row of hash h, when the first slot probed holds it. */
static inline void stage_prefetch_row(const struct stage *t, uint32_t h)
{
	uint64_t v = t->index[h & (t->cap - 1)];

	if (v != 0 && (uint32_t)v == h) {
		const char *row = (const char *)stage_row(t, (uint32_t)(v >> 32));

		__builtin_prefetch(row, 1);
		__builtin_prefetch(row + t->row_size, 0);
	}
}

/* The row of id, hash h (new, with no bit set, when id is new). */
static uint32_t *stage_note(struct stage *t, const char *id, size_t len, uint32_t h, int *ret_r)
{
	uint32_t *row, ref, i;

	if ((uint64_t)(t->count + 1) * 2 > t->cap) {
		*ret_r = stage_grow(t);
		if (*ret_r < 0)
			return NULL;
	}
	for (i = h & (t->cap - 1); t->index[i] != 0; i = (i + 1) & (t->cap - 1)) {
		if ((uint32_t)t->index[i] != h)
			continue;
		row = stage_row(t, (uint32_t)(t->index[i] >> 32));
		if (row[ROW_META] == len && memcmp(row_id(t, row), id, len) == 0)
			return row;
	}
	row = arena_alloc(&t->rows, t->row_size + len, &ref);
	if (row == NULL) {
		*ret_r = t->rows.n == ARENA_CHUNKS_MAX ? -E2BIG : -ENOMEM;
		return NULL;
	}
	row[ROW_HASH] = h;
	row[ROW_META] = (uint32_t)len; /* the chunk is zero-filled: no bit set */
	memcpy((char *)row + t->row_size, id, len);
	t->index[i] = (uint64_t)ref << 32 | h;
	t->count++;
	return row;
}

/* ---- property name -> schema index, for every key the scan returns ---- */

struct propmap {
	const struct schema *schema;
	int32_t idx[256]; /* -1 empty, else a schema index */
};

static uint32_t prop_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static void propmap_init(struct propmap *m, const struct schema *schema)
{
	m->schema = schema;
	memset(m->idx, 0xff, sizeof(m->idx));
	for (uint32_t k = 0; k < schema->count && k < 128; k++) {
		uint32_t i = prop_hash(schema->names[k], strlen(schema->names[k])) & 255;

		while (m->idx[i] >= 0)
			i = (i + 1) & 255;
		m->idx[i] = (int32_t)k;
	}
}

static int propmap_find(const struct propmap *m, const char *s, size_t len)
{
	if (m->schema->count > 128)
		return schema_find(m->schema, s, len);
	for (uint32_t i = prop_hash(s, len) & 255; m->idx[i] >= 0; i = (i + 1) & 255) {
		const char *name = m->schema->names[m->idx[i]];

		if (strncmp(name, s, len) == 0 && name[len] == '\0')
			return m->idx[i];
	}
	return -1;
}

/* ---- the full load ---- */

/* An MGET in flight: the rows it asks for, each for the keys its bitmap names. */
struct fetch {
	uint32_t **rows;
	size_t nrows;
	size_t cap;
	uint32_t nkeys;
};

struct pass {
	redisContext *c;
	const struct loader_params *p;
	struct load_stats *st;
	struct propmap pm;
	struct stage t;
	struct store *s;
	struct strview *vals; /* nprops */
	bool *seen;           /* nprops: a schema property seen (p->names set) */
	uint32_t mget_keys;
	const char **argv; /* the MGET being built: "MGET" and up to mget_keys keys */
	size_t *lens;
	size_t argv_cap; /* mget_keys + 1, more for an id with more keys */
	char *keybuf;    /* their bytes */
	size_t keybuf_len;
	size_t keybuf_cap;
	uint32_t argc;
	struct fetch ring[FETCH_WINDOW + 1];
	uint32_t head; /* the oldest in flight */
	uint32_t inflight;
	char *err;
	size_t errlen;
};

static bool cancelled(const struct loader_params *p, char *err, size_t errlen)
{
	if (p->cancel == NULL || !atomic_load(p->cancel))
		return false;
	errbuf_set(err, errlen, 0, "cancelled");
	return true;
}

static int flush(redisContext *c, char *err, size_t errlen)
{
	int done = 0;

	while (!done) {
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			errbuf_set(err, errlen, 0, "%s", c->errstr);
			return -EIO;
		}
	}
	return 0;
}

static int send_scan(redisContext *c, const char *cursor, size_t cursor_len, const char *pattern,
                     const char *count)
{
	const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", count};
	size_t lens[] = {4, cursor_len, 5, strlen(pattern), 5, strlen(count)};

	return redis_append(c, 6, argv, lens);
}

/* A SCAN cursor: 1 to 20 decimal digits. */
static bool is_cursor_text(const char *s, size_t len)
{
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool is_cursor(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING && is_cursor_text(r->str, r->len);
}

/*
 * Note a key's property name for p->names: a schema property by its index (named
 * once, after the scan), another in the set.
 */
static void note_name(struct pass *ps, int prop, const char *name, size_t len)
{
	if (prop >= 0)
		ps->seen[prop] = true;
	else if (propnames_add(ps->p->names, name, len) == -ENOMEM)
		propnames_set_partial(ps->p->names);
}

/* After the scan: the schema properties seen join the names. */
static void name_schema(struct pass *ps)
{
	const struct schema *schema = ps->p->schema;

	for (uint32_t k = 0; ps->p->names != NULL && k < schema->count; k++)
		if (ps->seen[k] && propnames_add(ps->p->names, schema->names[k],
		                                 strlen(schema->names[k])) == -ENOMEM)
			propnames_set_partial(ps->p->names);
}

/*
 * Note the keys of a SCAN reply in the staging table.  Keys go in blocks: parsed
 * and hashed first, the cache hinted to their index slots and rows, then staged,
 * so that the memory latency of one key hides behind the others'.
 */
static int take_keys(struct pass *ps, const redisReply *keys)
{
	enum { BLOCK = 16 };
	struct {
		const char *id;
		size_t idl;
		uint32_t h;
		int prop;
	} b[BLOCK];
	struct stage *t = &ps->t;

	for (size_t base = 0; base < keys->elements; base += BLOCK) {
		size_t n = keys->elements - base < BLOCK ? keys->elements - base : BLOCK, m = 0;

		for (size_t i = 0; i < n; i++) {
			const redisReply *k = keys->element[base + i];
			const char *prop;
			size_t pl;

			ps->st->keys++;
			if (k->type != REDIS_REPLY_STRING ||
			    keys_parse(ps->p->layout, k->str, k->len, &b[m].id, &b[m].idl, &prop,
			               &pl) < 0) {
				ps->st->bad_keys++;
				continue;
			}
			b[m].prop = propmap_find(&ps->pm, prop, pl);
			if (ps->p->names != NULL)
				note_name(ps, b[m].prop, prop, pl);
			b[m].h = stage_hash(b[m].id, b[m].idl);
			if (t->cap > 0)
				stage_prefetch_slot(t, b[m].h);
			m++;
		}
		for (size_t i = 0; i < m && t->cap > 0; i++)
			stage_prefetch_row(t, b[i].h);
		for (size_t i = 0; i < m; i++) {
			uint32_t *row;
			int r = 0;

			row = stage_note(t, b[i].id, b[i].idl, b[i].h, &r);
			if (row == NULL)
				return r;
			if (b[i].prop >= 0) /* a key returned twice sets its bit twice */
				row[ROW_BITS + b[i].prop / 32] |= 1u << (b[i].prop % 32);
		}
	}
	return 0;
}

/*
 * The cursor of a SCAN reply, read ahead while the reply is parsed.  hiredis
 * hands every string to the reply object functions (read.h, its public way to
 * build replies) as soon as the string's bytes are in, so wrapping createString
 * gives the cursor, the first element of the two, long before the keys after
 * it are in: the next SCAN goes out while the server still sends this one.
 */
struct cursor_peek {
	redisReplyObjectFunctions *orig; /* the reader's own, restored at the end */
	redisReplyObjectFunctions fns;
	void *orig_privdata;
	bool have; /* cursor: that of the reply being parsed */
	char cursor[24];
	void *whole; /* a reply parsed whole while peeking, for scan_reply() */
};

static void *peek_string(const redisReadTask *t, char *str, size_t len)
{
	const redisReadTask *root = t;
	struct cursor_peek *pk;

	while (root->parent != NULL)
		root = root->parent; /* the reader's privdata is the top task's */
	pk = root->privdata;
	/* The first of the two elements of a top-level array: a SCAN cursor. */
	if (t->parent == root && t->idx == 0 && root->elements == 2 && is_cursor_text(str, len)) {
		memcpy(pk->cursor, str, len);
		pk->cursor[len] = '\0';
		pk->have = true;
	}
	return pk->orig->createString(t, str, len);
}

static void peek_begin(redisContext *c, struct cursor_peek *pk)
{
	memset(pk, 0, sizeof(*pk));
	pk->orig = c->reader->fn;
	pk->orig_privdata = c->reader->privdata;
	pk->fns = *pk->orig;
	pk->fns.createString = peek_string;
	c->reader->fn = &pk->fns;
	c->reader->privdata = pk;
}

static void peek_end(redisContext *c, struct cursor_peek *pk)
{
	c->reader->fn = pk->orig;
	c->reader->privdata = pk->orig_privdata;
	if (pk->whole != NULL)
		freeReplyObject(pk->whole);
	pk->whole = NULL;
}

/*
 * Read until the cursor of the next reply is known.  Returns 1 and the cursor,
 * 0 when the reply turned out whole without one (the parser will tell what it
 * is), or -EIO.
 */
static int peek_cursor(redisContext *c, struct cursor_peek *pk, char *cursor, char *err,
                       size_t errlen)
{
	for (;;) {
		void *reply = NULL;

		if (pk->have) {
			memcpy(cursor, pk->cursor, sizeof(pk->cursor));
			return 1;
		}
		if (pk->whole != NULL)
			return 0;
		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK)
			return errbuf_set(err, errlen, -EIO, "protocol error: %s",
			                  c->reader->errstr);
		if (reply != NULL) {
			pk->whole = reply;
			continue;
		}
		if (redisBufferRead(c) != REDIS_OK)
			return errbuf_set(err, errlen, -EIO, "%s", c->errstr);
	}
}

/* The next SCAN reply: one peek_cursor() parsed whole, or read now. */
static int scan_reply(redisContext *c, struct cursor_peek *pk, redisReply **ret, char *err,
                      size_t errlen)
{
	int r = 0;

	if (pk->whole != NULL) {
		*ret = pk->whole;
		pk->whole = NULL;
	} else {
		r = redis_get_reply(c, ret, err, errlen);
	}
	pk->have = false; /* that was this reply's cursor, if any */
	return r;
}

/*
 * Phase 1: SCAN the keyspace into the staging table.  The server always has a
 * SCAN queued: the next one is sent as soon as the first bytes of a reply give
 * its cursor, and once a reply is in, the one after it is read ahead and its
 * follower sent before the keys are noted.
 */
static int scan_all(struct pass *ps, struct cursor_peek *pk)
{
	const struct loader_params *p = ps->p;
	char pattern[KEYS_PREFIX_MAX * 2 + 16], count[16], cursor[24], next[24] = "0";
	unsigned outstanding = 1; /* SCANs sent, replies not read */
	bool last_sent = false;   /* the SCAN whose reply has cursor 0 is sent */
	bool peeked = false;      /* cursor: that of the next reply, read ahead */
	int r;

	if (keys_scan_pattern(p->layout, pattern, sizeof(pattern)) < 0)
		return errbuf_set(ps->err, ps->errlen, -EINVAL, "kv.prefix is too long");
	snprintf(count, sizeof(count), "%u", p->scan_count ? p->scan_count : LOADER_SCAN_COUNT);
	r = send_scan(ps->c, "0", 1, pattern, count);
	if (r < 0)
		return errbuf_set(ps->err, ps->errlen, r, "SCAN: %s", strerror(-r));
	r = flush(ps->c, ps->err, ps->errlen);
	while (r == 0 && outstanding > 0) {
		redisReply *reply;

		/* Keep one SCAN queued behind the one whose reply is next. */
		if (!last_sent && outstanding == 1) {
			r = peek_cursor(ps->c, pk, cursor, ps->err, ps->errlen);
			if (r < 0)
				return r;
			peeked = r > 0;
			if (r == 0 || strcmp(cursor, "0") == 0) {
				last_sent = true; /* or a bad reply, that the parser reports */
			} else {
				r = send_scan(ps->c, cursor, strlen(cursor), pattern, count);
				if (r < 0)
					return errbuf_set(ps->err, ps->errlen, r, "SCAN: %s",
					                  strerror(-r));
				r = flush(ps->c, ps->err, ps->errlen);
				if (r < 0)
					return r;
				outstanding++;
			}
			r = 0;
			continue;
		}
		if (cancelled(p, ps->err, ps->errlen))
			return -ECANCELED;
		r = scan_reply(ps->c, pk, &reply, ps->err, ps->errlen);
		if (r < 0)
			return r;
		outstanding--;
		if (reply->type == REDIS_REPLY_ERROR) {
			errbuf_set(ps->err, ps->errlen, 0, "SCAN: %.*s",
			           (int)(reply->len > 200 ? 200 : reply->len), reply->str);
			freeReplyObject(reply);
			return -EACCES;
		}
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		    !is_cursor(reply->element[0]) || reply->element[1]->type != REDIS_REPLY_ARRAY) {
			errbuf_set(ps->err, ps->errlen, 0, "SCAN: unexpected reply");
			freeReplyObject(reply);
			return -EPROTO;
		}
		ps->st->scans++;
		memcpy(next, reply->element[0]->str, reply->element[0]->len);
		next[reply->element[0]->len] = '\0';
		if (peeked ? strcmp(next, cursor) != 0
		           : outstanding == 0 && strcmp(next, "0") != 0) {
			/* Not the cursor read ahead, or one where none could be read. */
			freeReplyObject(reply);
			return errbuf_set(ps->err, ps->errlen, -EPROTO, "SCAN: unexpected reply");
		}
		peeked = false;
		if (outstanding == 1 && !last_sent) {
			r = peek_cursor(ps->c, pk, cursor, ps->err, ps->errlen);
			peeked = r > 0;
			if (r == 0 || (r > 0 && strcmp(cursor, "0") == 0)) {
				last_sent = true;
			} else if (r > 0) {
				r = send_scan(ps->c, cursor, strlen(cursor), pattern, count);
				if (r < 0)
					errbuf_set(ps->err, ps->errlen, 0, "SCAN: %s",
					           strerror(-r));
				else
					r = flush(ps->c, ps->err, ps->errlen);
				outstanding++;
			}
		}
		if (r >= 0) {
			r = take_keys(ps, reply->element[1]);
			if (r < 0)
				errbuf_set(ps->err, ps->errlen, 0, "%s",
				           r == -E2BIG ? "more than 16 GiB of ids" : strerror(-r));
		}
		freeReplyObject(reply);
	}
	return r;
}

static int scan_ids(struct pass *ps)
{
	struct cursor_peek pk;
	int r;

	peek_begin(ps->c, &pk);
	r = scan_all(ps, &pk);
	peek_end(ps->c, &pk);
	return r;
}

/* Store a row's values (NULL reply: it asked for nothing) or count it vanished. */
/*
 * The values of one id in an MGET reply, its elements from *pos on: one per
 * property row names (row NULL: every property), into vals[0..nprops).  A value
 * not asked, nil, not a string or over LOADER_VALUE_MAX is absent (the last two
 * counted as dropped).  reply NULL: nothing was asked.  Returns whether any of
 * the id's keys exists.  The one reader of MGET replies, for loads and fetches.
 */
static bool take_values(const redisReply *reply, size_t *pos, const uint32_t *row, uint32_t nprops,
                        struct strview *vals, struct load_stats *st)
{
	bool any = reply == NULL;

	for (uint32_t k = 0; k < nprops; k++) {
		const redisReply *e;

		vals[k] = (struct strview){NULL, 0};
		if (reply == NULL || (row != NULL && !row_has(row, k)))
			continue;
		e = reply->element[(*pos)++];
		if (e->type == REDIS_REPLY_STRING) {
			any = true;
			if (e->len > LOADER_VALUE_MAX)
				st->dropped++;
			else
				vals[k] = (struct strview){e->str, (uint32_t)e->len};
		} else if (e->type != REDIS_REPLY_NIL) {
			st->dropped++;
		}
	}
	return any;
}

static int take_row(struct pass *ps, const uint32_t *row, const redisReply *reply, size_t *pos)
{
	const struct stage *t = &ps->t;
	int r;

	if (!take_values(reply, pos, row, t->nprops, ps->vals, ps->st)) {
		ps->st->vanished++;
		return 0;
	}
	r = store_put(ps->s, row_id(t, row), row[ROW_META], ps->vals);
	if (r < 0)
		return errbuf_set(ps->err, ps->errlen, r, "storing a record: %s", strerror(-r));
	ps->st->records++;
	ps->st->changed++;
	if (ps->p->on_record != NULL) {
		r = ps->p->on_record(ps->p->on_record_ctx, row_id(t, row), row[ROW_META], ps->vals);
		if (r < 0)
			return errbuf_set(ps->err, ps->errlen, r, "placing a record: %s",
			                  strerror(-r));
	}
	return 0;
}

/* Read the oldest MGET in flight and store its rows. */
static int read_fetch(struct pass *ps)
{
	struct fetch *f = &ps->ring[ps->head];
	redisReply *reply;
	size_t pos = 0;
	int r;

	if (cancelled(ps->p, ps->err, ps->errlen))
		return -ECANCELED;
	r = redis_get_reply(ps->c, &reply, ps->err, ps->errlen);
	if (r < 0)
		return r;
	if (reply->type == REDIS_REPLY_ERROR) {
		errbuf_set(ps->err, ps->errlen, 0, "MGET: %.*s",
		           (int)(reply->len > 200 ? 200 : reply->len), reply->str);
		r = -EACCES;
	} else if (reply->type != REDIS_REPLY_ARRAY || reply->elements != f->nkeys) {
		errbuf_set(ps->err, ps->errlen, 0, "MGET: unexpected reply of type %d",
		           reply->type);
		r = -EPROTO;
	}
	for (size_t i = 0; r == 0 && i < f->nrows; i++)
		r = take_row(ps, f->rows[i], reply, &pos);
	freeReplyObject(reply);
	f->nrows = 0;
	ps->head = (ps->head + 1) % (FETCH_WINDOW + 1);
	ps->inflight--;
	return r;
}

/* Send the MGET being built; read the oldest when the window is full. */
static int send_fetch(struct pass *ps)
{
	struct fetch *f = &ps->ring[(ps->head + ps->inflight) % (FETCH_WINDOW + 1)];
	int r;

	if (ps->argc == 1)
		return 0;
	r = redis_append(ps->c, (int)ps->argc, ps->argv, ps->lens);
	if (r < 0)
		return errbuf_set(ps->err, ps->errlen, r, "MGET: %s", strerror(-r));
	f->nkeys = ps->argc - 1;
	ps->argc = 1;
	ps->keybuf_len = 0;
	ps->inflight++;
	ps->st->mgets++;
	r = flush(ps->c, ps->err, ps->errlen);
	while (r == 0 && ps->inflight > FETCH_WINDOW - 1)
		r = read_fetch(ps);
	return r;
}

/* Add row's keys to the MGET being built (sending it first when they do not fit). */
static int add_row(struct pass *ps, uint32_t *row, uint32_t nkeys)
{
	const struct stage *t = &ps->t;
	const struct key_layout *kl = ps->p->layout;
	struct fetch *f;
	size_t need = 0;
	int r;

	for (uint32_t k = 0; k < t->nprops; k++)
		if (row_has(row, k))
			need += kl->prefix_len + 5 + row[ROW_META] + kl->sep_len +
			        strlen(ps->p->schema->names[k]) + 1;
	if (ps->argc > 1 &&
	    (ps->argc - 1 + nkeys > ps->mget_keys || ps->keybuf_len + need > ps->keybuf_cap)) {
		r = send_fetch(ps);
		if (r < 0)
			return r;
	}
	if (nkeys > ps->argv_cap - 1 || need > ps->keybuf_cap) {
		/* One id with more keys than an MGET takes (nothing is being built). */
		size_t argc = nkeys + 1 > ps->argv_cap ? nkeys + 1 : ps->argv_cap;
		const char **av = realloc(ps->argv, argc * sizeof(*av));
		size_t *lens = av != NULL ? realloc(ps->lens, argc * sizeof(*lens)) : NULL;
		char *kb = need > ps->keybuf_cap ? realloc(ps->keybuf, need) : ps->keybuf;

		if (av != NULL)
			ps->argv = av;
		if (lens != NULL)
			ps->lens = lens;
		if (kb != NULL)
			ps->keybuf = kb;
		if (av == NULL || lens == NULL || kb == NULL)
			return errbuf_set(ps->err, ps->errlen, -ENOMEM, "out of memory");
		ps->argv_cap = argc;
		if (need > ps->keybuf_cap)
			ps->keybuf_cap = need;
	}
	f = &ps->ring[(ps->head + ps->inflight) % (FETCH_WINDOW + 1)];
	if (f->nrows == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		uint32_t **n = realloc(f->rows, cap * sizeof(*n));

		if (n == NULL)
			return errbuf_set(ps->err, ps->errlen, -ENOMEM, "out of memory");
		f->rows = n;
		f->cap = cap;
	}
	f->rows[f->nrows++] = row;
	for (uint32_t k = 0; k < t->nprops; k++) {
		int n;

		if (!row_has(row, k))
			continue;
		n = keys_format(kl, row_id(t, row), row[ROW_META], ps->p->schema->names[k],
		                ps->keybuf + ps->keybuf_len, ps->keybuf_cap - ps->keybuf_len);
		if (n < 0)
			return errbuf_set(ps->err, ps->errlen, n, "a key is too long");
		ps->argv[ps->argc] = ps->keybuf + ps->keybuf_len;
		ps->lens[ps->argc++] = (size_t)n;
		ps->keybuf_len += (size_t)n + 1;
	}
	return 0;
}

/*
 * Phase 2: MGET exactly the keys each id has, whole ids to an MGET of up to
 * mget_keys keys, FETCH_WINDOW of them in flight; each id stored as its reply
 * comes.  An id with no key the schema needs is stored at once, every value
 * absent.
 */
static int fetch_ids(struct pass *ps)
{
	struct stage *t = &ps->t;
	int r = 0;

	free(t->index); /* no more lookups */
	t->index = NULL;
	t->cap = 0;
	for (uint32_t c = 0; r == 0 && c < t->rows.n; c++) {
		size_t off = c == 0 ? ARENA_FIRST : 0;

		while (r == 0 && off < t->rows.fill[c]) {
			uint32_t *row = (uint32_t *)((char *)t->rows.chunks[c] + off);
			uint32_t nkeys = 0;

			for (uint32_t w = 0; w < (t->nprops + 31) / 32; w++)
				nkeys += (uint32_t)__builtin_popcount(row[ROW_BITS + w]);
			if (nkeys == 0) {
				size_t pos = 0;

				r = take_row(ps, row, NULL, &pos);
			} else {
				r = add_row(ps, row, nkeys);
			}
			off += row_total(t, row);
		}
	}
	if (r == 0)
		r = send_fetch(ps);
	while (r == 0 && ps->inflight > 0)
		r = read_fetch(ps);
	return r;
}

int loader_run(const struct loader_params *p, struct store **ret, struct load_stats *st, char *err,
               size_t errlen)
{
	struct pass ps = {.p = p, .st = st, .err = err, .errlen = errlen, .argc = 1};
	int64_t start = now_ns();
	int r;

	memset(st, 0, sizeof(*st));
	ps.mget_keys = p->mget_keys ? p->mget_keys : LOADER_MGET_KEYS;
	propmap_init(&ps.pm, p->schema);
	r = stage_init(&ps.t, p->schema);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "the schema has too many properties");
		goto out;
	}
	ps.keybuf_cap = (size_t)ps.mget_keys * 128;
	ps.keybuf = malloc(ps.keybuf_cap);
	ps.argv_cap = (size_t)ps.mget_keys + 1;
	ps.argv = calloc(ps.argv_cap, sizeof(*ps.argv));
	ps.lens = calloc(ps.argv_cap, sizeof(*ps.lens));
	ps.vals = calloc(p->schema->count + 1, sizeof(*ps.vals));
	ps.seen = calloc(p->schema->count + 1, sizeof(*ps.seen));
	if (ps.keybuf == NULL || ps.argv == NULL || ps.lens == NULL || ps.vals == NULL ||
	    ps.seen == NULL) {
		r = errbuf_set(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	ps.argv[0] = "MGET";
	ps.lens[0] = 4;
	r = store_new(p->schema, true, &ps.s);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "out of memory");
		goto out;
	}
	r = redis_connect(p->url, p->connect_timeout_ms, p->command_timeout_ms, &ps.c, err, errlen);
	if (r < 0)
		goto out;
	if (p->fingerprint != NULL) {
		r = fingerprint_read(ps.c, p->url->db, p->fingerprint, FINGERPRINT_MAX, err,
		                     errlen);
		if (r == -EPROTO) {
			p->fingerprint[0] = '\0'; /* none: always load */
			r = 0;
		}
		if (r < 0)
			goto out;
		if (p->unless_fingerprint != NULL && p->fingerprint[0] != '\0' &&
		    strcmp(p->fingerprint, p->unless_fingerprint) == 0) {
			r = errbuf_set(err, errlen, -EALREADY, "nothing changed");
			goto out;
		}
	}
	r = scan_ids(&ps);
	st->scan_ns = now_ns() - start;
	if (r == 0)
		name_schema(&ps);
	if (r == 0)
		r = fetch_ids(&ps);
out:
	if (ps.c != NULL)
		redisFree(ps.c);
	for (int i = 0; i <= FETCH_WINDOW; i++)
		free(ps.ring[i].rows);
	stage_free(&ps.t);
	free(ps.keybuf);
	free(ps.argv);
	free(ps.lens);
	free(ps.vals);
	free(ps.seen);
	st->elapsed_ns = now_ns() - start;
	if (r < 0) {
		store_free(ps.s);
		return r;
	}
	*ret = ps.s;
	return 0;
}

/* ---- MGET of one id's properties ---- */

struct mget {
	uint32_t nprops;
	const char **argv;
	size_t *lens;
	char *keys;
	size_t cap;
	struct strview *vals;
};

static int mget_init(struct mget *m, const struct schema *schema)
{
	memset(m, 0, sizeof(*m));
	m->nprops = schema->count;
	m->argv = calloc(m->nprops + 1, sizeof(*m->argv));
	m->lens = calloc(m->nprops + 1, sizeof(*m->lens));
	m->vals = calloc(m->nprops, sizeof(*m->vals));
	if (m->argv == NULL || m->lens == NULL || m->vals == NULL)
		return -ENOMEM;
	m->argv[0] = "MGET";
	m->lens[0] = 4;
	return 0;
}

static void mget_free(struct mget *m)
{
	free(m->argv);
	free(m->lens);
	free(m->keys);
	free(m->vals);
}

static bool has_bit(const unsigned char *mask, uint32_t k)
{
	return mask == NULL || (mask[k / 8] >> (k % 8) & 1);
}

/* Queue MGET of id's properties: those set in mask, or all (mask NULL).  0 queued
 * nothing (-ENOENT), as no property is wanted. */
static int mget_append(redisContext *c, struct mget *m, const struct key_layout *kl,
                       const struct schema *schema, const char *id, size_t len,
                       const unsigned char *mask)
{
	size_t need = 0, off = 0;
	uint32_t argc = 1;

	for (uint32_t k = 0; k < m->nprops; k++)
		if (has_bit(mask, k))
			need +=
			    kl->prefix_len + 5 + len + kl->sep_len + strlen(schema->names[k]) + 1;
	if (need == 0)
		return -ENOENT;
	if (need > m->cap) {
		char *n = realloc(m->keys, need);

		if (n == NULL)
			return -ENOMEM;
		m->keys = n;
		m->cap = need;
	}
	for (uint32_t k = 0; k < m->nprops; k++) {
		int n;

		if (!has_bit(mask, k))
			continue;
		n = keys_format(kl, id, len, schema->names[k], m->keys + off, m->cap - off);
		if (n < 0)
			return n;
		m->argv[argc] = m->keys + off;
		m->lens[argc] = (size_t)n;
		argc++;
		off += (size_t)n + 1;
	}
	return redis_append(c, (int)argc, m->argv, m->lens);
}

/*
 * Store the MGET reply of every property (NULL: nothing was asked) for id: put,
 * or remove when no key of it exists any more.
 */
static int mget_take(struct mget *m, redisReply *reply, struct store *dst, const char *id,
                     size_t len, struct load_stats *st, char *err, size_t errlen)
{
	size_t pos = 0;
	int r;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		errbuf_set(err, errlen, 0, "MGET: %.*s", (int)(reply->len > 200 ? 200 : reply->len),
		           reply->str);
		return -EACCES;
	}
	if (reply != NULL && (reply->type != REDIS_REPLY_ARRAY || reply->elements != m->nprops)) {
		errbuf_set(err, errlen, 0, "MGET: unexpected reply of type %d", reply->type);
		return -EPROTO;
	}
	if (!take_values(reply, &pos, NULL, m->nprops, m->vals, st)) {
		st->vanished++;
		st->changed += store_remove(dst, id, len);
		return 0;
	}
	r = store_put_changed(dst, id, len, m->vals);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "storing a record: %s", strerror(-r));
		return r;
	}
	st->records++;
	st->changed += (uint64_t)r;
	return 0;
}

int loader_fetch(redisContext *c, const struct key_layout *layout, const struct schema *schema,
                 struct store *dst, const char *const *ids, const uint32_t *id_lens, size_t n,
                 struct load_stats *st, char *err, size_t errlen)
{
	struct mget m;
	int r = mget_init(&m, schema);

	if (r < 0)
		errbuf_set(err, errlen, 0, "out of memory");
	for (size_t base = 0; r == 0 && base < n; base += FETCH_CHUNK) {
		size_t end = base + FETCH_CHUNK < n ? base + FETCH_CHUNK : n;

		for (size_t i = base; r == 0 && i < end; i++)
			r = mget_append(c, &m, layout, schema, ids[i], id_lens[i], NULL);
		if (r < 0) {
			errbuf_set(err, errlen, 0, "%s", strerror(-r));
			break;
		}
		for (size_t i = base; r == 0 && i < end; i++) {
			redisReply *reply;

			r = redis_get_reply(c, &reply, err, errlen);
			if (r < 0)
				break;
			r = mget_take(&m, reply, dst, ids[i], id_lens[i], st, err, errlen);
			freeReplyObject(reply);
		}
	}
	mget_free(&m);
	return r;
}
