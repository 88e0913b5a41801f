/*
 * fuzz_apid: libFuzzer target for the REST API's request handling
 * (api_handle()), over a small snapshot made once by the real pipeline.
 * Input: one byte choosing the endpoint, then the request body.  Whatever the
 * body holds (broken JSON, wrong types, hostile paths, rules that nest or
 * collide, huge numbers), the answer must be a status from the documented set
 * with a JSON body that parses (an {"error": ...} object for every error).
 * Every broken invariant abort()s so libFuzzer reports it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "config.h"
#include "generation.h"
#include "log.h"
#include "rule_json.h"
#include "snapshot_writer.h"
#include "source.h"
#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static const char *const endpoints[] = {
    "/api/fuse/readdir",  "/api/fuse/getattr",        "/api/fuse/exists",        "/api/fuse/read",
    "/api/fuse/metadata", "/api/fuse/rules/validate", "/api/fuse/rules/preview",
};

static const char *const records[] = {
    "{\"hashId\":\"m1\",\"filePath\":\"m/"
    "Inception.mkv\",\"title\":\"Inception\",\"year\":\"2010\"}",
    "{\"hashId\":\"t1\",\"filePath\":\"t/"
    "s.mkv\",\"title\":\"Show\",\"season\":\"1\",\"episode\":\"2\"}",
    "{\"hashId\":\"o1\",\"filePath\":\"o/file.iso\",\"size\":\"7\"}",
    "{\"hashId\":\"h1\",\"filePath\":\"x/sample.mkv\"}",
};
#define NRECORDS (sizeof(records) / sizeof(records[0]))

static struct api api;
static char dir[] = "/tmp/fuzz_apid.XXXXXX";

/* The snapshot stays mapped; its directory goes when the fuzzer exits. */
static void remove_dir(void)
{
	char path[sizeof(dir) + 32];

	snprintf(path, sizeof(path), "%s/vfs.snapshot", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	struct snapshot_kv_state kv = {.connected = true, .last_sync_ns = 1};
	const struct record *ptrs[NRECORDS];
	static struct record recs[NRECORDS];
	static char scratch[NRECORDS][128];
	struct generation *old = NULL, *new = NULL;
	struct snapshot_build *b;
	struct config *cfg;
	struct gen_store *gens;
	struct source *src;
	char conf[128], err[256];
	FILE *f;

	log_init("fuzz_apid", -3);
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(remove_dir);
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	f = fopen(conf, "w");
	if (f == NULL)
		abort();
	fprintf(f, "runtime_dir = \"%s\";\nfiles_volume = \"%s\";\n", dir, dir);
	fclose(f);
	if (config_load(conf, &cfg, err, sizeof(err)) < 0)
		abort();
	for (size_t i = 0; i < NRECORDS; i++) {
		static json_t *docs[NRECORDS]; /* kept for good: the records borrow them */
		static struct strview *values[NRECORDS];

		docs[i] = json_loads(records[i], 0, NULL);
		values[i] = calloc(cfg->schema.count, sizeof(*values[i]));
		if (docs[i] == NULL || values[i] == NULL)
			abort();
		rule_json_record(docs[i], &cfg->schema, &recs[i], values[i], scratch[i],
		                 sizeof(scratch[i]));
		ptrs[i] = &recs[i];
	}
	if (tree_build(cfg->rules, &cfg->schema, ptrs, NRECORDS, &b) < 0 ||
	    snapshot_write(b, &kv, 1, 1, dir, "vfs.snapshot") < 0)
		abort();
	snapshot_build_free(b);
	if (gen_store_new(dir, &gens) < 0 ||
	    gen_store_reload(gens, &old, &new, err, sizeof(err)) != GEN_RELOAD_SWITCHED ||
	    source_new(dir, &src) < 0)
		abort();
	generation_put(old);
	generation_put(new);
	api = (struct api){.cfg = cfg, .gens = gens, .src = src, .started_ns = 1, .now_ns = 2};
}

static bool documented(int status)
{
	return status == 200 || status == 400 || status == 403 || status == 404 || status == 413 ||
	       status == 429 || status == 502 || status == 503;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request req = {.method = "POST", .content_type = "application/json"};
	struct api_response resp;
	json_t *j;

	if (api.cfg == NULL)
		setup();
	if (size < 1)
		return 0;
	req.path = endpoints[data[0] % (sizeof(endpoints) / sizeof(endpoints[0]))];
	req.body = (const char *)data + 1;
	req.body_len = size - 1;
	api_handle(&api, &req, &resp);
	if (!documented(resp.status) || resp.body == NULL)
		abort();
	j = json_loadb(resp.body, resp.len, 0, NULL);
	if (j == NULL || !json_is_object(j))
		abort();
	if (resp.status >= 400 && !json_is_string(json_object_get(j, "error")))
		abort();
	json_decref(j);
	api_response_clear(&resp);
	return 0;
}
