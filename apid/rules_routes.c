/*
 * rules_routes: the renaming rules through the API.
 *
 *   GET  /api/fuse/rules            the rules in force, with what each placed
 *   GET  /api/fuse/rules/variables  the properties rules can use
 *   POST /api/fuse/rules/validate   one rule + sample metadata -> errors with
 *                                   positions, warnings, the rendered path
 *   POST /api/fuse/rules/preview    a proposed rule set against the live tree
 *
 * Rules sent as JSON are compiled by lib/rules.c (through rule_json.c), the same
 * code that compiles the configuration.  The preview rebuilds the tree with
 * lib/tree.c from the records the current snapshot carries (each file's
 * filePath, size, times and the properties the rules in force use) and
 * compares old and new paths by hash id.  Nothing is ever applied: the rules in
 * force change only through the configuration.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "generation.h"
#include "rule_json.h"
#include "rules.h"
#include "rules_source.h"
#include "snapshot.h"
#include "tree.h"

#define PREVIEW_SAMPLE_DEF 50
#define PREVIEW_SAMPLE_MAX 1000
#define SCRATCH_MAX        4096

static const char *const derived_names[] = {"fileName", "extension", "stem"};
static const char *const modifiers[] = {"pad2", "pad3", "padN (1..32)", "lower", "upper"};
static const char *const operators[] = {"equals",     "notEquals",   "contains",
                                        "startsWith", "endsWith",    "exists",
                                        "notExists",  "greaterThan", "lessThan"};

static void string_array(struct jsonw *w, const char *key, const char *const *v, size_t n)
{
	jsonw_key(w, key);
	jsonw_array_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_string(w, v[i]);
	jsonw_array_end(w);
}

/* The description and the condition of the rule named name, as written. */
static int write_source(struct jsonw *w, json_t *rules, const char *name)
{
	static const char *const keys[] = {"description", "when"};
	size_t i;
	json_t *rule;

	json_array_foreach(rules, i, rule)
	{
		const char *n = json_string_value(json_object_get(rule, "name"));

		if (n == NULL || strcmp(n, name) != 0)
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			json_t *v = json_object_get(rule, keys[k]);
			char *text;

			if (v == NULL)
				continue;
			text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			if (text == NULL)
				return -ENOMEM;
			jsonw_key(w, keys[k]);
			jsonw_raw(w, text, strlen(text));
			free(text);
		}
		break;
	}
	return 0;
}

/*
 * The configuration as the file says now: a reload of rules alone restarts no
 * worker (kvwatch applies them), so the rules apid started with may be stale.
 * The file is read per request (these are rare, and a load is a few
 * milliseconds); one that no longer loads leaves the start-up rules, with why
 * in err.  Returns the configuration to use and the rules' JSON of it;
 * *ret_fresh and *ret_json are the caller's to free (NULL when the start-up
 * ones are used).
 */
static const struct config *rules_config(struct api_call *c, struct config **ret_fresh,
                                         json_t **ret_json, char *err, size_t errlen)
{
	const struct config *cfg = c->api->cfg;

	*ret_fresh = NULL;
	*ret_json = NULL;
	err[0] = '\0';
	if (cfg->path == NULL)
		return cfg;
	if (config_load(cfg->path, ret_fresh, err, errlen) < 0) {
		*ret_fresh = NULL;
		return cfg;
	}
	if (rules_source_json(*ret_fresh, ret_json, err, errlen) < 0) {
		config_free(*ret_fresh);
		*ret_fresh = NULL;
		*ret_json = NULL;
		return cfg;
	}
	return *ret_fresh;
}

static int write_rules(struct api_call *c, const struct config *cfg, json_t *rules_json,
                       const char *warning)
{
	const struct snapshot *s = c->gen->snap;
	const struct snap_rule *placed = NULL;
	uint32_t nplaced = 0;
	struct jsonw w;
	int r;

	if (s)
		placed = snapshot_rules(s, &nplaced);
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	if (warning[0])
		jsonw_kv_string(&w, "warning", warning);
	jsonw_kv_string(&w, "source",
	                cfg->rules_file                                        ? cfg->rules_file
	                : config_origin_of(cfg, "rules") == CONFIG_ORIGIN_FILE ? "configuration"
	                                                                       : "default");
	jsonw_key(&w, "rules");
	jsonw_array_begin(&w);
	for (uint32_t i = 0; i < rules_count(cfg->rules); i++) {
		const char *name = rules_name(cfg->rules, i);
		const char *tpl = rules_template(cfg->rules, i);

		jsonw_object_begin(&w);
		jsonw_kv_string(&w, "name", name);
		jsonw_kv_i64(&w, "priority", rules_priority(cfg->rules, i));
		jsonw_kv_bool(&w, "enabled", rules_is_enabled(cfg->rules, i));
		jsonw_kv_bool(&w, "hide", rules_is_hide(cfg->rules, i));
		jsonw_key(&w, "template");
		if (tpl)
			jsonw_string(&w, tpl);
		else
			jsonw_null(&w);
		r = write_source(&w, rules_json, name);
		if (r < 0) {
			jsonw_discard(&w);
			return r;
		}
		for (uint32_t j = 0; j < nplaced; j++) {
			if (strcmp(snapshot_str(s, placed[j].name), name) != 0)
				continue;
			jsonw_kv_u64(&w, "files", placed[j].files);
			jsonw_kv_u64(&w, "hidden", placed[j].hidden);
			break;
		}
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_kv_u64(&w, "generation", c->gen->number);
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

int api_rules(struct api_call *c)
{
	struct config *fresh;
	json_t *fresh_json;
	char err[256];
	const struct config *cfg = rules_config(c, &fresh, &fresh_json, err, sizeof(err));
	int r;

	r = write_rules(c, cfg, fresh ? fresh_json : c->api->rules_json, err);
	json_decref(fresh_json);
	config_free(fresh);
	return r;
}

int api_rules_variables(struct api_call *c)
{
	const struct schema *schema = &c->api->cfg->schema;
	struct jsonw w;
	int r;

	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_key(&w, "variables");
	jsonw_array_begin(&w);
	for (uint32_t i = 0; i < schema->count; i++) {
		jsonw_object_begin(&w);
		jsonw_kv_string(&w, "name", schema->names[i]);
		jsonw_kv_string(&w, "kind",
		                i >= PROP_CORE_MAX    ? "property"
		                : i >= PROP_FILE_NAME ? "derived"
		                                      : "core");
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	string_array(&w, "derived", derived_names, sizeof(derived_names) / sizeof(*derived_names));
	string_array(&w, "modifiers", modifiers, sizeof(modifiers) / sizeof(*modifiers));
	string_array(&w, "operators", operators, sizeof(operators) / sizeof(*operators));
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}

/* The column a lib/rules.c message names ("...: column 14: ..."), 0 when none. */
static long message_column(const char *msg)
{
	const char *p = strstr(msg, "column ");

	return p ? strtol(p + 7, NULL, 10) : 0;
}

/* Compile the JSON rules of array; 0, or -EINVAL with the reason in err. */
static int compile(json_t *array, const char *where, struct schema *schema, struct rules **ret,
                   char *err, size_t errlen)
{
	config_setting_t *list;
	config_t lc;
	int r;

	config_init(&lc);
	r = schema_init(schema);
	if (r < 0) {
		config_destroy(&lc);
		return r;
	}
	r = rule_json_to_config(array, where, &lc, &list, err, errlen);
	if (r == 0)
		r = rules_from_setting(list, schema, ret, err, errlen);
	config_destroy(&lc);
	if (r < 0)
		schema_free(schema);
	return r;
}

static const char *outcome_name(int r)
{
	switch (r) {
	case RULES_PLACED:
		return "placed";
	case RULES_HIDDEN:
		return "hidden";
	default:
		return "unplaced";
	}
}

int api_rules_validate(struct api_call *c)
{
	json_t *rule = json_object_get(c->body, "rule");
	json_t *meta = json_object_get(c->body, "metadata");
	struct rules *rules = NULL;
	struct schema schema;
	char err[1024], path[SNAP_PATH_MAX];
	json_t *one;
	struct jsonw w;
	int r, placed = -1;

	if (!json_is_object(rule))
		return api_error(c, 400, "field \"rule\" must be an object");
	if (meta && !json_is_object(meta))
		return api_error(c, 400, "field \"metadata\" must be an object");
	one = json_pack("[O]", rule);
	if (one == NULL)
		return -ENOMEM;
	r = compile(one, "rule", &schema, &rules, err, sizeof(err));
	json_decref(one);
	if (r == -ENOMEM)
		return r;
	if (r == 0 && meta) {
		struct strview *values = calloc(schema.count, sizeof(*values));
		char *scratch = malloc(SCRATCH_MAX);
		struct record rec;
		uint32_t which;

		if (values == NULL || scratch == NULL) {
			free(values);
			free(scratch);
			rules_free(rules);
			schema_free(&schema);
			return -ENOMEM;
		}
		rule_json_record(meta, &schema, &rec, values, scratch, SCRATCH_MAX);
		placed = rules_place(rules, &rec, path, sizeof(path), &which);
		free(values);
		free(scratch);
	}
	r = jsonw_init(&w);
	if (r < 0)
		goto out;
	jsonw_object_begin(&w);
	jsonw_kv_bool(&w, "valid", rules != NULL);
	jsonw_key(&w, "errors");
	jsonw_array_begin(&w);
	if (rules == NULL) {
		jsonw_object_begin(&w);
		jsonw_kv_string(&w, "message", err);
		if (message_column(err) > 0)
			jsonw_kv_i64(&w, "column", message_column(err));
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_key(&w, "warnings");
	jsonw_array_begin(&w);
	if (rules && !rules_is_enabled(rules, 0))
		jsonw_string(&w, "the rule is disabled: it never places a file");
	if (rules && meta == NULL)
		jsonw_string(&w, "no \"metadata\" given: nothing rendered");
	if (rules && meta && !json_is_string(json_object_get(meta, "filePath")))
		jsonw_string(&w, "the sample has no filePath: such a record is skipped");
	if (rules && meta) {
		const char *key;
		json_t *v;

		json_object_foreach(meta, key, v)
		{
			char msg[512];

			if (strcmp(key, "hashId") == 0 ||
			    schema_find(&c->api->cfg->schema, key, strlen(key)) >= 0 ||
			    schema_find(&schema, key, strlen(key)) >= 0)
				continue;
			snprintf(msg, sizeof(msg),
			         "property \"%s\" is used by no rule: kvwatch would not fetch it",
			         key);
			jsonw_string(&w, msg);
		}
	}
	jsonw_array_end(&w);
	if (rules) {
		jsonw_key(&w, "rule");
		jsonw_object_begin(&w);
		jsonw_kv_string(&w, "name", rules_name(rules, 0));
		jsonw_kv_i64(&w, "priority", rules_priority(rules, 0));
		jsonw_kv_bool(&w, "enabled", rules_is_enabled(rules, 0));
		jsonw_kv_bool(&w, "hide", rules_is_hide(rules, 0));
		jsonw_object_end(&w);
	}
	jsonw_key(&w, "result");
	if (placed >= 0)
		jsonw_string(&w, outcome_name(placed));
	else
		jsonw_null(&w);
	jsonw_key(&w, "path");
	if (placed == RULES_PLACED)
		jsonw_string(&w, path);
	else
		jsonw_null(&w);
	jsonw_object_end(&w);
	r = api_reply(c, 200, &w);
out:
	if (rules) {
		rules_free(rules);
		schema_free(&schema);
	}
	return r;
}

/* ---- preview ---- */

static atomic_flag preview_busy = ATOMIC_FLAG_INIT;

/* One file of the live tree: its record (borrowing the snapshot) and old path. */
struct pv_file {
	struct record rec;
	const struct snap_node *node;
	char nums[3][24];
	const char *new_path; /* into the new paths, NULL when not placed */
	uint32_t new_rule;
};

struct pv_new {
	const char *hash_id;
	char *path;
	uint32_t rule;
};

static int cmp_file(const void *a, const void *b)
{
	const struct pv_file *x = *(const struct pv_file *const *)a;
	const struct pv_file *y = *(const struct pv_file *const *)b;

	return strcmp(x->rec.hash_id.ptr, y->rec.hash_id.ptr);
}

static int cmp_new(const void *a, const void *b)
{
	return strcmp(((const struct pv_new *)a)->hash_id, ((const struct pv_new *)b)->hash_id);
}

/* The path of node i of build b into buf; length or -ENAMETOOLONG. */
static int build_path(const struct snapshot_build *b, uint32_t i, char *buf, size_t cap)
{
	uint32_t chain[SNAP_PATH_MAX / 2], depth = 0;
	size_t len = 0;

	while (i != 0 && depth < sizeof(chain) / sizeof(*chain)) {
		chain[depth++] = i;
		i = b->nodes[i].parent;
	}
	while (depth > 0) {
		const struct snap_node *n = &b->nodes[chain[--depth]];

		if (len + 1 + n->name.len + 1 > cap)
			return -ENAMETOOLONG;
		buf[len++] = '/';
		memcpy(buf + len, snapshot_build_str(b, n->name), n->name.len);
		len += n->name.len;
	}
	if (len == 0)
		buf[len++] = '/';
	buf[len] = '\0';
	return (int)len;
}

struct preview {
	struct schema schema;
	struct rules *rules;
	struct pv_file *files;
	struct pv_file **sorted;
	struct strview *values;
	uint32_t count;
	struct snapshot_build *build;
	struct pv_new *news;
	uint32_t nnew;
	bool *missing; /* per property of the new schema: absent from the live schema */
};

static void preview_free(struct preview *p)
{
	if (p->news)
		for (uint32_t i = 0; i < p->nnew; i++)
			free(p->news[i].path);
	free(p->news);
	snapshot_build_free(p->build);
	free(p->files);
	free(p->sorted);
	free(p->values);
	free(p->missing);
	if (p->rules) {
		rules_free(p->rules);
		schema_free(&p->schema);
	}
}

/* Records of the snapshot's files against the proposed schema. */
static int preview_records(struct preview *p, const struct snapshot *s, const struct schema *live)
{
	uint32_t nodes = snapshot_node_count(s), k = 0, sc = p->schema.count;

	p->count = (uint32_t)snapshot_header(s)->files;
	p->files = calloc(p->count ? p->count : 1, sizeof(*p->files));
	p->sorted = calloc(p->count ? p->count : 1, sizeof(*p->sorted));
	p->values = calloc((size_t)(p->count ? p->count : 1) * sc, sizeof(*p->values));
	p->missing = calloc(sc, sizeof(*p->missing));
	if (!p->files || !p->sorted || !p->values || !p->missing)
		return -ENOMEM;
	for (uint32_t i = PROP_CORE_MAX; i < sc; i++)
		p->missing[i] =
		    schema_find(live, p->schema.names[i], strlen(p->schema.names[i])) < 0;
	for (uint32_t i = 0; i < nodes && k < p->count; i++) {
		const struct snap_node *n = snapshot_node(s, i);
		struct pv_file *f;
		const struct snap_prop *props;
		uint32_t np;

		if (snapshot_node_is_dir(n))
			continue;
		f = &p->files[k];
		f->node = n;
		f->rec.values = p->values + (size_t)k * sc;
		f->rec.hash_id.ptr = snapshot_str(s, n->hash_id);
		f->rec.hash_id.len = n->hash_id.len;
		f->rec.values[PROP_FILE_PATH].ptr = snapshot_str(s, n->source);
		f->rec.values[PROP_FILE_PATH].len = n->source.len;
		snprintf(f->nums[0], sizeof(f->nums[0]), "%" PRIu64, n->size);
		snprintf(f->nums[1], sizeof(f->nums[1]), "%" PRId64, n->mtime_ns);
		snprintf(f->nums[2], sizeof(f->nums[2]), "%" PRId64, n->ctime_ns);
		f->rec.values[PROP_SIZE] =
		    (struct strview){f->nums[0], (uint32_t)strlen(f->nums[0])};
		if (n->mtime_ns)
			f->rec.values[PROP_MTIME] =
			    (struct strview){f->nums[1], (uint32_t)strlen(f->nums[1])};
		if (n->ctime_ns)
			f->rec.values[PROP_CTIME] =
			    (struct strview){f->nums[2], (uint32_t)strlen(f->nums[2])};
		props = snapshot_props(s, n, &np);
		for (uint32_t j = 0; j < np; j++) {
			int idx = schema_find(&p->schema, snapshot_str(s, props[j].key),
			                      props[j].key.len);

			if (idx >= 0)
				f->rec.values[idx] = (struct strview){
				    snapshot_str(s, props[j].value), props[j].value.len};
		}
		record_derive(&f->rec);
		p->sorted[k] = f;
		k++;
	}
	p->count = k;
	return 0;
}

/* Build the new tree and give every file its new path (by hash id). */
static int preview_place(struct preview *p)
{
	const struct record **recs;
	char path[SNAP_PATH_MAX];
	uint32_t j = 0;
	int r;

	recs = calloc(p->count ? p->count : 1, sizeof(*recs));
	if (recs == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->count; i++)
		recs[i] = &p->files[i].rec;
	r = tree_build(p->rules, &p->schema, recs, p->count, &p->build);
	free(recs);
	if (r < 0)
		return r;
	p->news = calloc(p->build->files ? p->build->files : 1, sizeof(*p->news));
	if (p->news == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->build->node_count && p->nnew < p->build->files; i++) {
		const struct snap_node *n = &p->build->nodes[i];

		if (n->type != SNAP_NODE_FILE)
			continue;
		if (build_path(p->build, i, path, sizeof(path)) < 0)
			continue;
		p->news[p->nnew].hash_id = snapshot_build_str(p->build, n->hash_id);
		p->news[p->nnew].rule = n->rule;
		p->news[p->nnew].path = strdup(path);
		if (p->news[p->nnew].path == NULL)
			return -ENOMEM;
		p->nnew++;
	}
	qsort(p->news, p->nnew, sizeof(*p->news), cmp_new);
	qsort(p->sorted, p->count, sizeof(*p->sorted), cmp_file);
	for (uint32_t i = 0; i < p->count; i++) {
		struct pv_file *f = p->sorted[i];
		int d = 1;

		while (j < p->nnew && (d = strcmp(p->news[j].hash_id, f->rec.hash_id.ptr)) < 0)
			j++;
		if (j < p->nnew && d == 0) {
			f->new_path = p->news[j].path;
			f->new_rule = p->news[j].rule;
			j++;
		}
	}
	return 0;
}

static void preview_write(struct preview *p, struct api_call *c, uint64_t sample, struct jsonw *w)
{
	const struct snapshot *s = c->gen->snap;
	uint64_t moved = 0, unchanged = 0, gone = 0, collisions = 0, shown = 0;
	char old[SNAP_PATH_MAX], rendered[SNAP_PATH_MAX];

	jsonw_object_begin(w);
	jsonw_key(w, "sample");
	jsonw_array_begin(w);
	for (uint32_t i = 0; i < p->count; i++) {
		struct pv_file *f = &p->files[i];
		uint32_t which;

		if (snapshot_node_path(s, f->node, old, sizeof(old)) < 0)
			continue;
		if (f->new_path &&
		    rules_place(p->rules, &f->rec, rendered, sizeof(rendered), &which) ==
		        RULES_PLACED &&
		    strcmp(rendered, f->new_path) != 0)
			collisions++;
		if (f->new_path && strcmp(old, f->new_path) == 0) {
			unchanged++;
			continue;
		}
		if (f->new_path)
			moved++;
		else
			gone++;
		if (shown >= sample)
			continue;
		shown++;
		jsonw_object_begin(w);
		jsonw_kv_string(w, "from", old);
		jsonw_key(w, "to");
		if (f->new_path)
			jsonw_string(w, f->new_path);
		else
			jsonw_null(w);
		jsonw_key(w, "rule");
		if (f->new_path && f->new_rule < p->build->rule_count)
			jsonw_string(
			    w, snapshot_build_str(p->build, p->build->rules[f->new_rule].name));
		else
			jsonw_null(w);
		jsonw_kv_string(w, "hashId", f->rec.hash_id.ptr);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_kv_u64(w, "files", p->count);
	jsonw_kv_u64(w, "placed", p->build->files);
	jsonw_kv_u64(w, "hidden", p->build->hidden);
	jsonw_kv_u64(w, "skipped", p->build->skipped);
	jsonw_kv_u64(w, "moved", moved);
	jsonw_kv_u64(w, "unchanged", unchanged);
	jsonw_kv_u64(w, "removed", gone);
	jsonw_kv_u64(w, "collisions", collisions);
	jsonw_kv_u64(w, "directories", p->build->directories);
	jsonw_key(w, "rules");
	jsonw_array_begin(w);
	for (uint32_t i = 0; i < p->build->rule_count; i++) {
		jsonw_object_begin(w);
		jsonw_kv_string(w, "name", snapshot_build_str(p->build, p->build->rules[i].name));
		jsonw_kv_u64(w, "files", p->build->rules[i].files);
		jsonw_kv_u64(w, "hidden", p->build->rules[i].hidden);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_key(w, "skipReasons");
	jsonw_array_begin(w);
	for (uint32_t i = 0; i < p->build->skip_count; i++) {
		jsonw_object_begin(w);
		jsonw_kv_string(w, "reason",
		                snapshot_build_str(p->build, p->build->skips[i].reason));
		jsonw_kv_u64(w, "count", p->build->skips[i].count);
		jsonw_kv_string(w, "example",
		                snapshot_build_str(p->build, p->build->skips[i].example));
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_key(w, "unknownProperties");
	jsonw_array_begin(w);
	for (uint32_t i = PROP_CORE_MAX; i < p->schema.count; i++)
		if (p->missing[i])
			jsonw_string(w, p->schema.names[i]);
	jsonw_array_end(w);
	jsonw_kv_u64(w, "generation", c->gen->number);
	jsonw_object_end(w);
}

int api_rules_preview(struct api_call *c)
{
	json_t *rules = json_object_get(c->body, "rules");
	json_t *jsample = json_object_get(c->body, "sample");
	struct preview p = {0};
	uint64_t sample = PREVIEW_SAMPLE_DEF;
	char err[1024];
	struct jsonw w;
	int r;

	if (!json_is_array(rules))
		return api_error(c, 400, "field \"rules\" must be an array of rules");
	if (jsample) {
		if (!json_is_integer(jsample) || json_integer_value(jsample) < 0 ||
		    json_integer_value(jsample) > PREVIEW_SAMPLE_MAX)
			return api_error(c, 400, "field \"sample\" must be an integer from 0 to %d",
			                 PREVIEW_SAMPLE_MAX);
		sample = (uint64_t)json_integer_value(jsample);
	}
	if (api_need_snapshot(c))
		return 0;
	r = compile(rules, "rules", &p.schema, &p.rules, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return api_error(c, 400, "%s", err);
	/* A preview costs a tree build: one at a time, the others are told to wait. */
	if (atomic_flag_test_and_set(&preview_busy)) {
		preview_free(&p);
		return api_error(c, 429, "a preview is already being computed; try again shortly");
	}
	r = preview_records(&p, c->gen->snap, &c->api->cfg->schema);
	if (r == 0)
		r = preview_place(&p);
	if (r == 0)
		r = jsonw_init(&w);
	if (r == 0) {
		preview_write(&p, c, sample, &w);
		r = api_reply(c, 200, &w);
	}
	preview_free(&p);
	/* The build's memory goes back to the system, not to a per-thread arena. */
	malloc_trim(0);
	atomic_flag_clear(&preview_busy);
	return r;
}
