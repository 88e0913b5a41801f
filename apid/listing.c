/*
 * listing: GET /api/fuse/files and GET /api/fuse/directories, the whole tree
 * as pages, streamed.
 *
 * Nodes are visited in snapshot order (breadth-first, names sorted within a
 * directory), so a page is stable for one generation.  Filters: q= (a
 * case-insensitive substring of the virtual path) and category= (the top-level
 * directory).  offset= and limit= cut the page; "total" counts every match, so
 * a client knows how many pages there are.
 *
 * The arguments are checked when the request arrives (400, 404 and 503 are
 * answered then); the 200 answer is then written while it is sent: each time
 * libmicrohttpd wants more bytes, the walk goes on from where it stopped and
 * writes entries until it has as many as asked for (32 KiB: server.c) or one
 * entry when fewer are asked.  The memory of a listing is that of one entry
 * and one such piece, whatever the page's size, and "total", which only
 * the end of the walk knows, comes after the array.  The walk holds its own
 * reference to the generation it started on: a snapshot published meanwhile
 * serves the requests that start after it, and this one ends on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "generation.h"
#include "snapshot.h"

enum listing_phase {
	LISTING_ENTRIES, /* walking the nodes */
	LISTING_DONE,    /* the closing members are written */
	LISTING_PHASE_MAX,
};

/* One listing being sent; owned by the response (listing_free()). */
struct listing {
	struct generation *gen; /* a reference of its own */
	const struct snap_node *catnode;
	char *q; /* NULL: no filter */
	bool dirs;
	uint64_t offset, limit, total;
	uint32_t next; /* the node to look at next */
	enum listing_phase phase;

	FILE *f; /* writes into buf through listing_write() */
	struct jsonw w;
	char *buf; /* bytes written and not yet handed over: buf[off..len) */
	size_t len, off, cap;
	bool failed;
};

/* The top-level directory node holding n (n itself when it is one), NULL for the root. */
static const struct snap_node *top_level(const struct snapshot *s, const struct snap_node *n)
{
	const struct snap_node *root = snapshot_root(s), *p;

	if (n == root)
		return NULL;
	while ((p = snapshot_parent(s, n)) != NULL && p != root)
		n = p;
	return n;
}

/* The stream's sink: appends to the pending buffer. */
static ssize_t listing_write(void *cookie, const char *data, size_t size)
{
	struct listing *l = cookie;

	if (l->len + size > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		char *p;

		while (cap < l->len + size)
			cap *= 2;
		p = realloc(l->buf, cap);
		if (p == NULL) {
			l->failed = true;
			errno = ENOMEM;
			return -1;
		}
		l->buf = p;
		l->cap = cap;
	}
	memcpy(l->buf + l->len, data, size);
	l->len += size;
	return (ssize_t)size;
}

static void listing_free(void *ctx)
{
	struct listing *l = ctx;

	if (l == NULL)
		return;
	if (l->f)
		fclose(l->f);
	free(l->buf);
	free(l->q);
	generation_put(l->gen);
	free(l);
}

static void write_entry(struct listing *l, const struct snap_node *n, const char *path)
{
	const struct snapshot *s = l->gen->snap;
	const struct snap_node *top = top_level(s, n);
	struct jsonw *w = &l->w;

	jsonw_object_begin(w);
	jsonw_kv_string(w, "path", path);
	jsonw_key(w, "name");
	jsonw_stringn(w, snapshot_str(s, n->name), n->name.len);
	jsonw_kv_string(w, "category", top ? snapshot_str(s, top->name) : "");
	jsonw_kv_time(w, "mtime", n->mtime_ns);
	if (l->dirs) {
		jsonw_kv_u64(w, "entries", n->child_count);
	} else {
		jsonw_kv_u64(w, "size", n->size);
		jsonw_kv_string(w, "hashId", snapshot_str(s, n->hash_id));
	}
	jsonw_object_end(w);
}

/* Walk on until at least want bytes are pending or the walk is over. */
static void listing_fill(struct listing *l, size_t want)
{
	const struct snapshot *s = l->gen->snap;
	uint32_t count = snapshot_node_count(s);
	char path[SNAP_PATH_MAX];

	while (l->next < count && l->len < want && !l->failed) {
		const struct snap_node *n = snapshot_node(s, l->next++);

		if (snapshot_node_is_dir(n) != l->dirs)
			continue;
		if (l->catnode && top_level(s, n) != l->catnode)
			continue;
		if (l->q || (l->total >= l->offset && l->total - l->offset < l->limit)) {
			if (snapshot_node_path(s, n, path, sizeof(path)) < 0)
				continue;
			if (l->q && strcasestr(path, l->q) == NULL)
				continue;
		}
		l->total++;
		if (l->total <= l->offset || l->total - l->offset > l->limit)
			continue;
		write_entry(l, n, path);
		if (fflush(l->f) != 0)
			l->failed = true;
	}
	if (l->next >= count && !l->failed) {
		jsonw_array_end(&l->w);
		jsonw_kv_u64(&l->w, "total", l->total);
		jsonw_kv_u64(&l->w, "offset", l->offset);
		jsonw_kv_u64(&l->w, "limit", l->limit);
		jsonw_kv_u64(&l->w, "generation", l->gen->number);
		jsonw_object_end(&l->w);
		if (fflush(l->f) != 0 || l->w.failed)
			l->failed = true;
		l->phase = LISTING_DONE;
	}
}

static ssize_t listing_read(void *ctx, char *buf, size_t max)
{
	struct listing *l = ctx;
	size_t n;

	if (l->off == l->len) {
		l->off = l->len = 0;
		if (l->phase == LISTING_ENTRIES)
			listing_fill(l, max);
	}
	if (l->failed)
		return -ENOMEM;
	n = l->len - l->off;
	if (n > max)
		n = max;
	memcpy(buf, l->buf + l->off, n);
	l->off += n;
	return (ssize_t)n;
}

static int list(struct api_call *c, bool dirs)
{
	static const cookie_io_functions_t io = {.write = listing_write};
	const struct snap_node *catnode = NULL;
	const char *q, *cat;
	const struct snapshot *s;
	uint64_t offset, limit;
	struct listing *l;

	if (api_arg_uint(c, "offset", 0, UINT32_MAX, &offset) < 0 ||
	    api_arg_uint(c, "limit", API_LIMIT_DEF, API_LIMIT_MAX, &limit) < 0 ||
	    api_arg(c, "q", &q) < 0 || api_arg(c, "category", &cat) < 0)
		return 0;
	if (q && strlen(q) > API_QUERY_MAX)
		return api_error(c, 400, "query argument \"q\" over %d bytes", API_QUERY_MAX);
	if (q && *q == '\0')
		q = NULL;
	if (cat && *cat == '\0')
		cat = NULL;
	if (api_need_snapshot(c))
		return 0;
	s = c->gen->snap;
	if (cat) {
		catnode = snapshot_lookup_child(s, snapshot_root(s), cat, strlen(cat));
		if (catnode == NULL || !snapshot_node_is_dir(catnode))
			return api_error(c, 404, "no such category: %s", cat);
	}

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	/* The request's reference ends with api_handle(); the walk takes one of its own. */
	atomic_fetch_add(&c->gen->refs, 1);
	l->gen = c->gen;
	l->catnode = catnode;
	l->dirs = dirs;
	l->offset = offset;
	l->limit = limit;
	l->next = 1; /* the root is neither listed nor counted */
	if (q && (l->q = strdup(q)) == NULL)
		goto oom;
	l->f = fopencookie(l, "w", io);
	if (l->f == NULL)
		goto oom;
	jsonw_init_stream(&l->w, l->f);
	jsonw_object_begin(&l->w);
	jsonw_key(&l->w, dirs ? "directories" : "files");
	jsonw_array_begin(&l->w);

	c->resp->status = 200;
	c->resp->content_type = API_JSON_TYPE;
	c->resp->stream = (struct api_stream){.read = listing_read, .free = listing_free, .ctx = l};
	return 0;
oom:
	listing_free(l);
	return -ENOMEM;
}

int api_files(struct api_call *c)
{
	return list(c, false);
}

int api_directories(struct api_call *c)
{
	return list(c, true);
}
