/*
 * metadata: POST /api/fuse/metadata, every property of one file.
 *
 * By default from the key-value store, as meta-sort wrote it: the snapshot
 * carries only the properties the rules use, so apid asks the store itself
 * through its own read-only connection (store.c; docs/api.md says why not
 * through kvwatch).  {"source": "snapshot"} answers from the snapshot instead,
 * at once and without the store.  Values are text as JSON strings (bytes that
 * are not UTF-8 become U+FFFD); such a value's exact bytes come again in
 * base64, and a value cut at STORE_VALUE_MAX (or at the response's byte
 * budget) is named with its whole length.  An answer that may miss some
 * properties (more than STORE_PROPS_MAX, or a keyspace too large to walk in
 * time) says so: "complete": false and the reason.  "propertyNames" says how
 * the file's names were found: "kvwatch" (the names its last full load saw, no
 * SCAN) or "scan".  A store that cannot be asked is
 * 503 with the reason, a lookup while STORE_LOOKUPS_MAX run is 429.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "generation.h"
#include "snapshot.h"
#include "store.h"
#include "utf8.h"

/* The members every answer starts with; the caller closes the object. */
static int begin(struct api_call *c, const struct snap_node *n, const char *path, struct jsonw *w)
{
	const struct snapshot *s = c->gen->snap;
	const struct snap_rule *rules;
	uint32_t nrules;
	char *src = api_source_path(c->api, snapshot_str(s, n->source));
	int r;

	if (src == NULL)
		return -ENOMEM;
	r = jsonw_init(w);
	if (r < 0) {
		free(src);
		return r;
	}
	rules = snapshot_rules(s, &nrules);
	jsonw_object_begin(w);
	jsonw_kv_string(w, "path", path);
	jsonw_kv_string(w, "hashId", snapshot_str(s, n->hash_id));
	jsonw_kv_string(w, "sourcePath", src);
	free(src);
	jsonw_kv_string(w, "rule", n->rule < nrules ? snapshot_str(s, rules[n->rule].name) : "");
	return 0;
}

static int from_snapshot(struct api_call *c, const struct snap_node *n, const char *path)
{
	const struct snapshot *s = c->gen->snap;
	const struct snap_prop *props;
	struct jsonw w;
	uint32_t count;
	int r = begin(c, n, path, &w);

	if (r < 0)
		return r;
	jsonw_key(&w, "metadata");
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "filePath", snapshot_str(s, n->source));
	jsonw_kv_u64(&w, "size", n->size);
	jsonw_kv_time(&w, "mtime", n->mtime_ns);
	jsonw_kv_time(&w, "ctime", n->ctime_ns);
	props = snapshot_props(s, n, &count);
	for (uint32_t i = 0; i < count; i++) {
		jsonw_key(&w, snapshot_str(s, props[i].key));
		jsonw_stringn(&w, snapshot_str(s, props[i].value), props[i].value.len);
	}
	jsonw_object_end(&w);
	jsonw_kv_string(&w, "source", "snapshot");
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

static bool is_cut(const struct store_prop *p)
{
	return p->value && p->full_len > p->value_len;
}

static bool is_binary(const struct store_prop *p)
{
	return p->value && !utf8_is_valid(p->value, p->value_len);
}

/* "name": {...} of the properties that pass; nothing when none does. */
static void write_some(struct jsonw *w, const char *name, const struct store_props *p,
                       bool (*pass)(const struct store_prop *), bool base64)
{
	bool any = false;

	for (size_t i = 0; i < p->count; i++) {
		const struct store_prop *pr = &p->props[i];

		if (!pass(pr))
			continue;
		if (!any) {
			jsonw_key(w, name);
			jsonw_object_begin(w);
			any = true;
		}
		jsonw_keyn(w, pr->name, pr->name_len);
		if (base64)
			jsonw_base64(w, pr->value, pr->value_len);
		else
			jsonw_u64(w, pr->full_len);
	}
	if (any)
		jsonw_object_end(w);
}

static int from_store(struct api_call *c, const struct snap_node *n, const char *path)
{
	const char *id = snapshot_str(c->gen->snap, n->hash_id);
	struct store_props p = {0};
	struct jsonw w;
	char err[512];
	bool others = false;
	int r;

	if (c->api->store == NULL)
		return api_error(c, 503, "apid has no connection to the key-value store");
	r = store_lookup(c->api->store, id, &p, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r == -EBUSY)
		return api_error(c, 429, "%s; try again, or ask with \"source\": \"snapshot\"",
		                 err);
	if (r < 0)
		return api_error(c, 503, "the key-value store cannot be read: %s", err);
	r = begin(c, n, path, &w);
	if (r < 0) {
		store_props_clear(&p);
		return r;
	}
	jsonw_key(&w, "metadata");
	jsonw_object_begin(&w);
	for (size_t i = 0; i < p.count; i++) {
		if (p.props[i].value == NULL) {
			others = true;
			continue;
		}
		jsonw_keyn(&w, p.props[i].name, p.props[i].name_len);
		jsonw_stringn(&w, p.props[i].value, p.props[i].value_len);
	}
	jsonw_object_end(&w);
	write_some(&w, "base64", &p, is_binary, true);
	write_some(&w, "truncated", &p, is_cut, false);
	if (others) {
		jsonw_key(&w, "otherTypes");
		jsonw_array_begin(&w);
		for (size_t i = 0; i < p.count; i++)
			if (p.props[i].value == NULL)
				jsonw_stringn(&w, p.props[i].name, p.props[i].name_len);
		jsonw_array_end(&w);
	}
	jsonw_kv_bool(&w, "complete", p.complete);
	if (p.scan_cut)
		jsonw_kv_string(&w, "incompleteReason",
		                "the store's keys could not all be looked at in time (a large "
		                "keyspace): the properties the rules use and those found until "
		                "then are listed");
	else if (!p.complete)
		jsonw_kv_string(&w, "incompleteReason",
		                "more than 1000 properties: the first 1000 by name are listed");
	jsonw_kv_string(&w, "propertyNames", p.by_names ? "kvwatch" : "scan");
	jsonw_kv_string(&w, "source", "store");
	jsonw_kv_string(&w, "server", p.server);
	jsonw_object_end(&w);
	store_props_clear(&p);
	return api_reply(c, 200, &w);
}

int api_metadata(struct api_call *c)
{
	json_t *v = json_object_get(c->body, "source");
	const struct snap_node *n;
	char path[SNAP_PATH_MAX];
	const char *from = "store";

	if (v && !json_is_string(v))
		return api_error(c, 400, "field \"source\" must be a string");
	if (v)
		from = json_string_value(v);
	if (strcmp(from, "store") != 0 && strcmp(from, "snapshot") != 0)
		return api_error(c, 400, "field \"source\" must be \"store\" or \"snapshot\"");
	if (api_body_node(c, "path", path, sizeof(path), &n) < 0)
		return 0;
	if (snapshot_node_is_dir(n))
		return api_error(c, 400, "is a directory: %s", path);
	if (strcmp(from, "snapshot") == 0)
		return from_snapshot(c, n, path);
	return from_store(c, n, path);
}
