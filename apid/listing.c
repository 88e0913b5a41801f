/*
 * listing: GET /api/fuse/files and GET /api/fuse/directories, the whole tree
 * as pages.
 *
 * Nodes are visited in snapshot order (breadth-first, names sorted within a
 * directory), so a page is stable for one generation.  Filters: q= (a
 * case-insensitive substring of the virtual path) and category= (the top-level
 * directory).  offset= and limit= (at most API_LIMIT_MAX) cut the page; "total"
 * counts every match, so a client knows how many pages there are.  A page is
 * built in memory: limit bounds its size.
 */
#include <errno.h>
#include <string.h>

#include "api.h"
#include "generation.h"
#include "snapshot.h"

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

static int list(struct api_call *c, bool dirs)
{
	const struct snap_node *catnode = NULL;
	const char *q, *cat;
	const struct snapshot *s;
	uint64_t offset, limit, total = 0;
	char path[SNAP_PATH_MAX];
	struct jsonw w;
	uint32_t count;
	int r;

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
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_key(&w, dirs ? "directories" : "files");
	jsonw_array_begin(&w);
	count = snapshot_node_count(s);
	for (uint32_t i = 1; i < count; i++) {
		const struct snap_node *n = snapshot_node(s, i), *top;

		if (snapshot_node_is_dir(n) != dirs)
			continue;
		if (catnode && top_level(s, n) != catnode)
			continue;
		if (q || (total >= offset && total < offset + limit)) {
			if (snapshot_node_path(s, n, path, sizeof(path)) < 0)
				continue;
			if (q && strcasestr(path, q) == NULL)
				continue;
		}
		total++;
		if (total <= offset || total > offset + limit)
			continue;
		top = top_level(s, n);
		jsonw_object_begin(&w);
		jsonw_kv_string(&w, "path", path);
		jsonw_key(&w, "name");
		jsonw_stringn(&w, snapshot_str(s, n->name), n->name.len);
		jsonw_kv_string(&w, "category", top ? snapshot_str(s, top->name) : "");
		jsonw_kv_time(&w, "mtime", n->mtime_ns);
		if (dirs) {
			jsonw_kv_u64(&w, "entries", n->child_count);
		} else {
			jsonw_kv_u64(&w, "size", n->size);
			jsonw_kv_string(&w, "hashId", snapshot_str(s, n->hash_id));
		}
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_kv_u64(&w, "total", total);
	jsonw_kv_u64(&w, "offset", offset);
	jsonw_kv_u64(&w, "limit", limit);
	jsonw_kv_u64(&w, "generation", c->gen->number);
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

int api_files(struct api_call *c)
{
	return list(c, false);
}

int api_directories(struct api_call *c)
{
	return list(c, true);
}
