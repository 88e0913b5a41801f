/*
 * loader: the pipelined full load and the per-id fetch (see loader.h).
 *
 * The stream of a full load, by send order (replies come back in this order):
 *   SCAN_0 | SCAN_1 MGET(b_0) | SCAN_2 MGET(b_1) | ...
 * Iteration i reads SCAN_i, sends SCAN_i+1 at once, groups SCAN_i's keys into
 * batch b_i (ids neither stored nor in b_i-1, whose MGETs are still in flight),
 * sends MGET(b_i) and reads MGET(b_i-1).  The server thus always has the next
 * SCAN queued while the client parses.
 */
#include "loader.h"
#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "redis.h"
#include "store.h"

#define FETCH_CHUNK 512

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- every id the scan found, with the schema properties it has ---- */

/*
 * Entries in insertion order in one buffer: a length byte, the id, then mbytes
 * bytes of bitmap (bit k: the key of schema property k exists).  slots[] maps a
 * hash to offset + 1 (0 = empty), at most half full.
 */
struct idtable {
	uint32_t *slots;
	uint32_t cap; /* a power of two */
	uint32_t count;
	uint32_t mbytes;
	char *buf;
	size_t len;
	size_t bcap;
};

static uint32_t id_hash(const char *id, size_t len)
{
	return (uint32_t)hash64(id, len, 0x69646261);
}

static bool idtable_find(const struct idtable *t, const char *id, size_t len, uint32_t *ret_slot)
{
	uint32_t mask = t->cap - 1;

	for (uint32_t i = id_hash(id, len) & mask;; i = (i + 1) & mask) {
		const unsigned char *e;

		if (t->slots[i] == 0) {
			*ret_slot = i;
			return false;
		}
		e = (const unsigned char *)t->buf + t->slots[i] - 1;
		if (e[0] == len && memcmp(e + 1, id, len) == 0) {
			*ret_slot = i;
			return true;
		}
	}
}

static int idtable_grow(struct idtable *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 4096;
	uint32_t *n;

	if (cap == 0 || cap > (1u << 30))
		return -ENOMEM;
	n = calloc(cap, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->cap; i++) {
		const unsigned char *e;
		uint32_t j;

		if (t->slots[i] == 0)
			continue;
		e = (const unsigned char *)t->buf + t->slots[i] - 1;
		for (j = id_hash((const char *)e + 1, e[0]) & (cap - 1); n[j] != 0;
		     j = (j + 1) & (cap - 1))
			;
		n[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = n;
	t->cap = cap;
	return 0;
}

/* Note that id has property k (k < 0: a property the schema does not need). */
static int idtable_note(struct idtable *t, const char *id, size_t len, int k)
{
	size_t need = 1 + len + t->mbytes;
	unsigned char *e;
	uint32_t slot;
	int r;

	if ((uint64_t)(t->count + 1) * 2 > t->cap) {
		r = idtable_grow(t);
		if (r < 0)
			return r;
	}
	if (!idtable_find(t, id, len, &slot)) {
		if (t->len + need > t->bcap) {
			size_t cap = t->bcap ? t->bcap * 2 : 1 << 20;
			char *n;

			while (cap < t->len + need)
				cap *= 2;
			if (cap > UINT32_MAX)
				return -ENOMEM;
			n = realloc(t->buf, cap);
			if (n == NULL)
				return -ENOMEM;
			t->buf = n;
			t->bcap = cap;
		}
		e = (unsigned char *)t->buf + t->len;
		e[0] = (unsigned char)len;
		memcpy(e + 1, id, len);
		memset(e + 1 + len, 0, t->mbytes);
		t->slots[slot] = (uint32_t)t->len + 1;
		t->len += need;
		t->count++;
	}
	e = (unsigned char *)t->buf + t->slots[slot] - 1;
	if (k >= 0)
		e[1 + e[0] + k / 8] |= (unsigned char)(1u << (k % 8));
	return 0;
}

static void idtable_free(struct idtable *t)
{
	free(t->slots);
	free(t->buf);
	memset(t, 0, sizeof(*t));
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

/* Does mask name any property (would mget_append() send a command)? */
static bool mget_append_would_ask(const struct mget *m, const unsigned char *mask)
{
	for (uint32_t k = 0; k < m->nprops; k++)
		if (has_bit(mask, k))
			return true;
	return false;
}

/*
 * Store the MGET reply (NULL: nothing was asked) for id: put, or remove when
 * no key of it exists any more.
 */
static int mget_take(struct mget *m, redisReply *reply, const unsigned char *mask,
                     struct store *dst, const char *id, size_t len, struct load_stats *st,
                     char *err, size_t errlen)
{
	uint32_t asked = 0, j = 0;
	bool any = reply == NULL;
	int r;

	for (uint32_t k = 0; k < m->nprops; k++)
		asked += has_bit(mask, k);
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		errbuf_set(err, errlen, 0, "MGET: %.*s", (int)(reply->len > 200 ? 200 : reply->len),
		           reply->str);
		return -EACCES;
	}
	if (reply != NULL && (reply->type != REDIS_REPLY_ARRAY || reply->elements != asked)) {
		errbuf_set(err, errlen, 0, "MGET: unexpected reply of type %d", reply->type);
		return -EPROTO;
	}
	for (uint32_t k = 0; k < m->nprops; k++) {
		const redisReply *e;

		m->vals[k] = (struct strview){NULL, 0};
		if (reply == NULL || !has_bit(mask, k))
			continue;
		e = reply->element[j++];
		if (e->type == REDIS_REPLY_STRING) {
			any = true;
			if (e->len > LOADER_VALUE_MAX) {
				st->dropped++;
				continue;
			}
			m->vals[k] = (struct strview){e->str, (uint32_t)e->len};
		} else if (e->type != REDIS_REPLY_NIL) {
			st->dropped++;
		}
	}
	if (!any) {
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

static bool is_cursor(const redisReply *r)
{
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
		return false;
	for (size_t i = 0; i < r->len; i++)
		if (r->str[i] < '0' || r->str[i] > '9')
			return false;
	return true;
}

static bool cancelled(const struct loader_params *p, char *err, size_t errlen)
{
	if (p->cancel == NULL || !atomic_load(p->cancel))
		return false;
	errbuf_set(err, errlen, 0, "cancelled");
	return true;
}

/*
 * Phase 1: SCAN the keyspace, noting for every id which schema properties it
 * has.  The next SCAN is on the wire before the current reply is parsed.
 */
static int scan_ids(redisContext *c, const struct loader_params *p, struct idtable *t,
                    struct load_stats *st, char *err, size_t errlen)
{
	char pattern[KEYS_PREFIX_MAX * 2 + 16], count[16], cursor[24];
	struct propmap pm;
	bool done = false;
	int r;

	if (keys_scan_pattern(p->layout, pattern, sizeof(pattern)) < 0) {
		errbuf_set(err, errlen, 0, "kv.prefix is too long");
		return -EINVAL;
	}
	snprintf(count, sizeof(count), "%u", p->scan_count ? p->scan_count : LOADER_SCAN_COUNT);
	propmap_init(&pm, p->schema);
	r = send_scan(c, "0", 1, pattern, count);
	while (r == 0 && !done) {
		redisReply *reply;
		const redisReply *keys;

		if (cancelled(p, err, errlen))
			return -ECANCELED;
		r = redis_get_reply(c, &reply, err, errlen);
		if (r < 0)
			return r;
		if (reply->type == REDIS_REPLY_ERROR) {
			errbuf_set(err, errlen, 0, "SCAN: %.*s",
			           (int)(reply->len > 200 ? 200 : reply->len), reply->str);
			freeReplyObject(reply);
			return -EACCES;
		}
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		    !is_cursor(reply->element[0]) || reply->element[1]->type != REDIS_REPLY_ARRAY) {
			errbuf_set(err, errlen, 0, "SCAN: unexpected reply");
			freeReplyObject(reply);
			return -EPROTO;
		}
		st->scans++;
		memcpy(cursor, reply->element[0]->str, reply->element[0]->len);
		cursor[reply->element[0]->len] = '\0';
		done = strcmp(cursor, "0") == 0;
		if (!done) {
			r = send_scan(c, cursor, strlen(cursor), pattern, count);
			if (r == 0)
				r = flush(c, err, errlen);
		}
		keys = reply->element[1];
		for (size_t i = 0; r == 0 && i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			const char *id, *prop;
			size_t idl, pl;

			st->keys++;
			if (k->type != REDIS_REPLY_STRING ||
			    keys_parse(p->layout, k->str, k->len, &id, &idl, &prop, &pl) < 0) {
				st->bad_keys++;
				continue;
			}
			r = idtable_note(t, id, idl, propmap_find(&pm, prop, pl));
			if (r < 0)
				errbuf_set(err, errlen, 0, "out of memory");
		}
		freeReplyObject(reply);
	}
	return r;
}

/* Phase 2: MGET exactly the keys each id has, a window of them in flight. */
static int fetch_ids(redisContext *c, const struct loader_params *p, const struct idtable *t,
                     struct store *s, struct load_stats *st, char *err, size_t errlen)
{
	enum { WINDOW = 1024 };
	size_t sent = 0, taken = 0;
	uint32_t n_sent = 0, n_taken = 0;
	struct mget m;
	int r;

	r = mget_init(&m, p->schema);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "out of memory");
		goto out;
	}
	while (r == 0 && n_taken < t->count) {
		const unsigned char *e;
		redisReply *reply = NULL;

		/* Keep the window full, then take one reply. */
		while (r == 0 && n_sent < t->count && n_sent - n_taken < 2 * WINDOW) {
			e = (const unsigned char *)t->buf + sent;
			r = mget_append(c, &m, p->layout, p->schema, (const char *)e + 1, e[0],
			                e + 1 + e[0]);
			if (r == -ENOENT)
				r = 0; /* nothing to ask: a record with no schema value */
			sent += 1 + e[0] + t->mbytes;
			n_sent++;
			if (r < 0)
				errbuf_set(err, errlen, 0, "%s", strerror(-r));
		}
		if (r < 0)
			break;
		if (n_taken % WINDOW == 0 && cancelled(p, err, errlen)) {
			r = -ECANCELED;
			break;
		}
		e = (const unsigned char *)t->buf + taken;
		if (mget_append_would_ask(&m, e + 1 + e[0])) {
			r = redis_get_reply(c, &reply, err, errlen);
			if (r < 0)
				break;
		}
		r = mget_take(&m, reply, e + 1 + e[0], s, (const char *)e + 1, e[0], st, err,
		              errlen);
		if (reply != NULL)
			freeReplyObject(reply);
		taken += 1 + e[0] + t->mbytes;
		n_taken++;
	}
out:
	mget_free(&m);
	return r;
}

int loader_run(const struct loader_params *p, struct store **ret, struct load_stats *st, char *err,
               size_t errlen)
{
	struct idtable t = {.mbytes = (p->schema->count + 7) / 8};
	redisContext *c = NULL;
	struct store *s = NULL;
	int64_t start = now_ns();
	int r;

	memset(st, 0, sizeof(*st));
	r = redis_connect(p->url, p->connect_timeout_ms, p->command_timeout_ms, &c, err, errlen);
	if (r < 0)
		goto out;
	r = store_new(p->schema, true, &s);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "out of memory");
		goto out;
	}
	r = scan_ids(c, p, &t, st, err, errlen);
	st->scan_ns = now_ns() - start;
	if (r == 0 && t.count > 0)
		r = fetch_ids(c, p, &t, s, st, err, errlen);
out:
	st->elapsed_ns = now_ns() - start;
	idtable_free(&t);
	if (c != NULL)
		redisFree(c);
	if (r < 0) {
		store_free(s);
		return r;
	}
	*ret = s;
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
			r = mget_take(&m, reply, NULL, dst, ids[i], id_lens[i], st, err, errlen);
			freeReplyObject(reply);
		}
	}
	mget_free(&m);
	return r;
}
