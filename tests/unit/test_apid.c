/*
 * test_apid: the REST API of meta-fuse-apid through api_handle(), without a
 * socket, over a snapshot made by the real pipeline (default rules, tree_build,
 * snapshot_write) and read back through the real generation store.  Each case
 * checks the status and the response's fields one by one; the integration
 * tests (tests/integration/apid_*.sh) do the same over HTTP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "config.h"
#include "generation.h"
#include "log.h"
#include "rule_json.h"
#include "rules_source.h"
#include "snapshot_writer.h"
#include "source.h"
#include "store.h"
#include "tree.h"
#include "webdav_source.h"

#define NOW_NS 1700000000000000000LL

static const char *const records_json[] = {
    "{\"hashId\":\"m1\",\"filePath\":\"media1/Movies/Inception (2010)/Inception.mkv\","
    "\"title\":\"Inception\",\"year\":\"2010\",\"size\":\"11\",\"mtime\":\"1600000000\"}",
    "{\"hashId\":\"t1\",\"filePath\":\"media1/TV/show.s01e02.mkv\",\"title\":\"Show\","
    "\"season\":\"1\",\"episode\":\"2\",\"size\":\"2000\"}",
    "{\"hashId\":\"q1\",\"filePath\":\"media1/Movies/Amelie/amelie.mkv\","
    "\"title\":\"Am\\u00e9lie \\\"Le\\\"\",\"year\":\"2001\",\"size\":\"5\"}",
    "{\"hashId\":\"h1\",\"filePath\":\"media1/x/sample.mkv\",\"size\":\"5\"}",
    "{\"hashId\":\"o1\",\"filePath\":\"media1/misc/file.iso\",\"size\":\"7\"}",
    "{\"hashId\":\"s1\",\"title\":\"NoPath\"}",
};
#define NRECORDS (sizeof(records_json) / sizeof(records_json[0]))

struct fixture {
	char dir[64];
	struct config *cfg;
	struct gen_store *gens;
	struct source *src;
	struct api api;
	json_t *rules_json;
	json_t *docs[NRECORDS];
	struct strview *values[NRECORDS];
	char scratch[NRECORDS][256];
	struct record recs[NRECORDS];
};

static struct fixture fx;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Build the first nrecords' tree and write it as fx.dir/vfs.snapshot. */
static void publish(uint64_t generation, int64_t built_ns, size_t nrecords)
{
	struct snapshot_kv_state kv = {.connected = true,
	                               .last_sync_ns = NOW_NS - 5000000000LL,
	                               .leader = "redis://127.0.0.1:6379"};
	const struct record *ptrs[NRECORDS];
	struct snapshot_build *b;

	for (size_t i = 0; i < nrecords; i++)
		ptrs[i] = &fx.recs[i];
	assert_int_equal(tree_build(fx.cfg->rules, &fx.cfg->schema, ptrs, nrecords, &b), 0);
	assert_int_equal(snapshot_write(b, &kv, generation, built_ns, fx.dir, "vfs.snapshot"), 0);
	snapshot_build_free(b);
}

static int setup(void **state)
{
	struct generation *old = NULL, *new = NULL;
	char conf[128], text[512], err[256], vol[128];

	log_init("test_apid", -2);
	strcpy(fx.dir, "/tmp/test_apid.XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	snprintf(vol, sizeof(vol), "%s/files", fx.dir);
	snprintf(text, sizeof(text), "mkdir -p '%s/media1/Movies/Inception (2010)'", vol);
	assert_int_equal(system(text), 0);
	snprintf(text, sizeof(text), "%s/media1/Movies/Inception (2010)/Inception.mkv", vol);
	write_file(text, "hello world");
	snprintf(conf, sizeof(conf), "%s/meta-fuse.conf", fx.dir);
	snprintf(text, sizeof(text),
	         "runtime_dir = \"%s\";\nfiles_volume = \"%s\";\n"
	         "fuse = { mount_point = \"%s/mnt\"; };\n",
	         fx.dir, vol, fx.dir);
	write_file(conf, text);
	assert_int_equal(config_load(conf, &fx.cfg, err, sizeof(err)), 0);

	for (size_t i = 0; i < NRECORDS; i++) {
		fx.docs[i] = json_loads(records_json[i], 0, NULL);
		assert_non_null(fx.docs[i]);
		fx.values[i] = calloc(fx.cfg->schema.count, sizeof(struct strview));
		rule_json_record(fx.docs[i], &fx.cfg->schema, &fx.recs[i], fx.values[i],
		                 fx.scratch[i], sizeof(fx.scratch[i]));
	}
	publish(7, NOW_NS - 2000000000LL, NRECORDS);

	assert_int_equal(gen_store_new(fx.dir, &fx.gens), 0);
	assert_int_equal(gen_store_reload(fx.gens, &old, &new, err, sizeof(err)),
	                 GEN_RELOAD_SWITCHED);
	generation_put(old);
	generation_put(new);
	assert_int_equal(source_new(vol, &fx.src), 0);
	assert_int_equal(rules_source_json(fx.cfg, &fx.rules_json, err, sizeof(err)), 0);
	fx.api = (struct api){.rules_json = fx.rules_json,
	                      .cfg = fx.cfg,
	                      .gens = fx.gens,
	                      .src = fx.src,
	                      .started_ns = NOW_NS - 60000000000LL,
	                      .now_ns = NOW_NS};
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	source_free(fx.src);
	json_decref(fx.rules_json);
	gen_store_free(fx.gens);
	config_free(fx.cfg);
	for (size_t i = 0; i < NRECORDS; i++) {
		json_decref(fx.docs[i]);
		free(fx.values[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Query arguments as "a=1&b=2" (no decoding needed by the tests). */
static int query_arg(void *ctx, const char *name, const char **ret)
{
	static char vals[4][256];
	static unsigned next;
	char *val = vals[next++ % 4];
	const char *q = ctx;
	size_t n = strlen(name);

	for (const char *p = q; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			if (len - n - 1 >= sizeof(vals[0]))
				return -ENAMETOOLONG;
			snprintf(val, sizeof(vals[0]), "%.*s", (int)(len - n - 1), p + n + 1);
			*ret = val;
			return 0;
		}
		p += len + (amp ? 1 : 0);
	}
	return -ENOENT;
}

/*
 * A streamed body read to its end into resp->body, max bytes at a time (as
 * libmicrohttpd asks for them); stop after stop_after reads when not 0.
 * Returns the number of reads.
 */
static size_t drain(struct api_response *resp, size_t max, size_t stop_after)
{
	size_t reads = 0;
	ssize_t n;

	do {
		char *p = realloc(resp->body, resp->len + max + 1);

		assert_non_null(p);
		resp->body = p;
		n = resp->stream.read(resp->stream.ctx, resp->body + resp->len, max);
		if (n < 0 || (size_t)n > max)
			fail_msg("stream read: expected 0..%zu bytes, got %zd", max, n);
		resp->len += (size_t)n;
		resp->body[resp->len] = '\0';
		reads++;
	} while (n > 0 && reads != stop_after);
	return reads;
}

/* One request; returns the status, the parsed body in *ret (when JSON). */
static int call(const char *method, const char *path, const char *ctype, const char *body,
                const char *query, struct api_response *resp, json_t **ret)
{
	struct api_request req = {.method = method,
	                          .path = path,
	                          .content_type = ctype,
	                          .body = body,
	                          .body_len = body ? strlen(body) : 0,
	                          .arg = query_arg,
	                          .arg_ctx = (void *)query};

	api_handle(&fx.api, &req, resp);
	if (resp->stream.read)
		drain(resp, 7, 0);
	if (ret) {
		json_error_t jerr;

		*ret = json_loadb(resp->body, resp->len, 0, &jerr);
		if (*ret == NULL)
			fail_msg("%s %s: expected a JSON body, got '%.*s' (%s)", method, path,
			         (int)resp->len, resp->body, jerr.text);
	}
	return resp->status;
}

static json_t *post(const char *path, const char *body, int status)
{
	struct api_response resp;
	json_t *j;
	int st = call("POST", path, "application/json", body, NULL, &resp, &j);

	if (st != status)
		fail_msg("POST %s %s: expected status %d, got %d (%.*s)", path, body, status, st,
		         (int)resp.len, resp.body);
	api_response_clear(&resp);
	return j;
}

static json_t *get(const char *path, const char *query, int status)
{
	struct api_response resp;
	json_t *j;
	int st = call("GET", path, NULL, NULL, query, &resp, &j);

	if (st != status)
		fail_msg("GET %s?%s: expected status %d, got %d (%.*s)", path, query ? query : "",
		         status, st, (int)resp.len, resp.body);
	api_response_clear(&resp);
	return j;
}

static void expect_str(json_t *j, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(j, key));

	if (got == NULL || strcmp(got, want) != 0)
		fail_msg("field %s: expected \"%s\", got \"%s\"", key, want, got ? got : "(none)");
}

static void expect_int(json_t *j, const char *key, json_int_t want)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_integer(v) || json_integer_value(v) != want)
		fail_msg("field %s: expected %lld, got %s", key, (long long)want,
		         v ? json_dumps(v, JSON_ENCODE_ANY) : "(none)");
}

static void test_health_and_stats(void **state)
{
	json_t *j, *cats;
	const char *paths[] = {"/health", "/api/health", "/api/fuse/health"};

	for (size_t i = 0; i < 3; i++) {
		j = get(paths[i], NULL, 200);
		expect_str(j, "status", "ok");
		expect_str(j, "kvConnection", "connected");
		expect_int(j, "generation", 7);
		expect_str(j, "timestamp", "2023-11-14T22:13:20.000Z");
		json_decref(j);
	}
	j = get("/api/fuse/stats", NULL, 200);
	expect_int(j, "totalFiles", 4);
	expect_int(j, "totalSize", 11 + 2000 + 5 + 7);
	expect_int(j, "skipped", 1);
	expect_int(j, "hidden", 1);
	expect_int(j, "generation", 7);
	expect_str(j, "kvConnection", "connected");
	expect_str(j, "fuseMount", "unmounted");
	expect_str(j, "lastSync", "2023-11-14T22:13:15.000Z");
	expect_str(j, "kvLeader", "redis://127.0.0.1:6379");
	cats = json_object_get(j, "categories");
	expect_int(cats, "Movies", 2);
	expect_int(cats, "TV", 1);
	expect_int(cats, "Other", 1);
	if (json_number_value(json_object_get(j, "snapshotAgeSeconds")) != 2.0)
		fail_msg("snapshotAgeSeconds: expected 2, got %g",
		         json_number_value(json_object_get(j, "snapshotAgeSeconds")));
	expect_str(json_array_get(json_object_get(j, "skipReasons"), 0), "reason", "no filePath");
	expect_str(json_array_get(json_object_get(j, "hiddenByRule"), 0), "rule", "hide-samples");
	json_decref(j);
}

static void test_readdir_getattr_exists(void **state)
{
	json_t *j, *e;

	j = post("/api/fuse/readdir", "{\"path\":\"/\"}", 200);
	e = json_object_get(j, "entries");
	if (json_array_size(e) != 3)
		fail_msg("readdir /: expected 3 entries, got %zu", json_array_size(e));
	assert_string_equal(json_string_value(json_array_get(e, 0)), "Movies");
	assert_string_equal(json_string_value(json_array_get(e, 1)), "Other");
	assert_string_equal(json_string_value(json_array_get(e, 2)), "TV");
	json_decref(j);

	/* A normalised path finds the same directory. */
	j = post("/api/fuse/readdir", "{\"path\":\"/TV/../Movies//\"}", 200);
	if (json_array_size(json_object_get(j, "entries")) != 2)
		fail_msg("readdir /Movies: expected 2 entries, got %zu",
		         json_array_size(json_object_get(j, "entries")));
	json_decref(j);

	j = post("/api/fuse/getattr", "{\"path\":\"/Movies/Inception (2010)/Inception.mkv\"}", 200);
	expect_int(j, "size", 11);
	expect_str(j, "mode", "file");
	expect_int(j, "permissions", 644);
	expect_int(j, "uid", 1000);
	expect_int(j, "gid", 1000);
	expect_str(j, "mtime", "2020-09-13T12:26:40.000Z");
	expect_str(j, "atime", "2020-09-13T12:26:40.000Z");
	expect_str(j, "hashId", "m1");
	if (!json_is_string(json_object_get(j, "id")))
		fail_msg("getattr: expected the 64-bit id as a string");
	{
		char want[256];

		snprintf(want, sizeof(want),
		         "%s/files/media1/Movies/Inception (2010)/Inception.mkv", fx.dir);
		expect_str(j, "sourcePath", want);
	}
	json_decref(j);

	j = post("/api/fuse/getattr", "{\"path\":\"/Movies\"}", 200);
	expect_str(j, "mode", "directory");
	expect_int(j, "permissions", 755);
	if (json_object_get(j, "sourcePath"))
		fail_msg("getattr of a directory: expected no sourcePath");
	json_decref(j);

	j = post("/api/fuse/exists", "{\"path\":\"/TV\"}", 200);
	assert_true(json_is_true(json_object_get(j, "exists")));
	json_decref(j);
	j = post("/api/fuse/exists", "{\"path\":\"/Nope\"}", 200);
	assert_true(json_is_false(json_object_get(j, "exists")));
	json_decref(j);
	j = post("/api/fuse/exists", "{\"path\":\"/Movies/Inception (2010)/Inception.mkv/x\"}",
	         200);
	assert_true(json_is_false(json_object_get(j, "exists")));
	json_decref(j);
}

static void test_read(void **state)
{
	json_t *j;
	const char *file = "\"/Movies/Inception (2010)/Inception.mkv\"";
	char body[256];

	snprintf(body, sizeof(body), "{\"path\":%s}", file);
	j = post("/api/fuse/read", body, 200);
	expect_int(j, "size", 11);
	if (!strstr(json_string_value(json_object_get(j, "sourcePath")),
	            "/files/media1/Movies/Inception (2010)/Inception.mkv"))
		fail_msg("read: unexpected sourcePath %s",
		         json_string_value(json_object_get(j, "sourcePath")));
	if (json_object_get(j, "webdavUrl"))
		fail_msg("read: expected no webdavUrl without source_webdav_url");
	json_decref(j);

	snprintf(body, sizeof(body), "{\"path\":%s,\"offset\":6,\"length\":100}", file);
	j = post("/api/fuse/read", body, 200);
	expect_str(j, "contentEncoding", "base64");
	expect_str(j, "content", "d29ybGQ="); /* "world" */
	expect_int(j, "length", 5);
	assert_true(json_is_true(json_object_get(j, "eof")));
	json_decref(j);

	snprintf(body, sizeof(body), "{\"path\":%s,\"offset\":0,\"length\":4}", file);
	j = post("/api/fuse/read", body, 200);
	expect_str(j, "content", "aGVsbA=="); /* "hell" */
	assert_true(json_is_false(json_object_get(j, "eof")));
	json_decref(j);

	snprintf(body, sizeof(body), "{\"path\":%s,\"offset\":99,\"length\":4}", file);
	j = post("/api/fuse/read", body, 200);
	expect_str(j, "content", "");
	expect_int(j, "length", 0);
	json_decref(j);

	/* With a source WebDAV URL, the answer says where the bytes are there too. */
	assert_int_equal(webdav_new("http://dav.example/files", &fx.api.webdav), 0);
	snprintf(body, sizeof(body), "{\"path\":%s}", file);
	j = post("/api/fuse/read", body, 200);
	expect_str(j, "webdavUrl",
	           "http://dav.example/files/media1/Movies/Inception%20%282010%29/"
	           "Inception.mkv");
	json_decref(j);
	webdav_free(fx.api.webdav);
	fx.api.webdav = NULL;

	/* The source of /TV/... does not exist on disk. */
	j = post("/api/fuse/read",
	         "{\"path\":\"/TV/Show/Season 01/Show - S01E02.mkv\",\"offset\":0,\"length\":1}",
	         404);
	json_decref(j);
}

static void test_metadata(void **state)
{
	json_t *j, *m;

	j = post("/api/fuse/metadata",
	         "{\"path\":\"/Movies/Inception (2010)/Inception.mkv\",\"source\":\"snapshot\"}",
	         200);
	expect_str(j, "hashId", "m1");
	expect_str(j, "rule", "movies");
	expect_str(j, "source", "snapshot");
	m = json_object_get(j, "metadata");
	expect_str(m, "title", "Inception");
	expect_str(m, "year", "2010");
	expect_str(m, "filePath", "media1/Movies/Inception (2010)/Inception.mkv");
	json_decref(j);

	/* The store by default; the fixture has none. */
	j = post("/api/fuse/metadata", "{\"path\":\"/Movies/Inception (2010)/Inception.mkv\"}",
	         503);
	json_decref(j);
}

/*
 * Where the store is found, and the 503s when it cannot be asked: kv.redis_url,
 * else the leader lock (read again when it changes).  Nothing listens on the
 * port named (a real redis-server is in tests/integration/apid_metadata.sh).
 */
static void test_metadata_store_errors(void **state)
{
	static const struct {
		const char *redis_url; /* NULL: the lock below */
		const char *lock;      /* NULL: no lock file */
		const char *want;      /* in the 503's error */
	} cases[] = {
	    {"redis://127.0.0.1:1", NULL, "connect: "},
	    {NULL, NULL, "leader lock"},
	    {NULL, "{\"api\": ", "not JSON"},
	    {NULL, "{\"host\": \"x\"}", "no \"api\""},
	    {NULL, "{\"api\": \"ftp://x\"}", "redis://"},
	    {NULL, "{\"api\": \"redis://127.0.0.1:1\"}", "connect: "},
	};
	char *saved_url = fx.cfg->kv.redis_url, *saved_core = fx.cfg->kv.meta_core_path;
	char locks[128], lock[160];

	snprintf(locks, sizeof(locks), "%s/locks", fx.dir);
	snprintf(lock, sizeof(lock), "%s/kv-leader.lock", locks);
	assert_int_equal(mkdir(locks, 0755), 0);
	fx.cfg->kv.meta_core_path = fx.dir;
	assert_int_equal(store_new(fx.cfg, &fx.api.store), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *e;
		json_t *j;

		fx.cfg->kv.redis_url = (char *)(cases[i].redis_url ? cases[i].redis_url : "");
		unlink(lock);
		if (cases[i].lock)
			write_file(lock, cases[i].lock);
		j = post("/api/fuse/metadata",
		         "{\"path\":\"/Movies/Inception (2010)/Inception.mkv\"}", 503);
		e = json_string_value(json_object_get(j, "error"));
		if (e == NULL || strstr(e, cases[i].want) == NULL)
			fail_msg("case %zu: expected an error with \"%s\", got \"%s\"", i,
			         cases[i].want, e ? e : "(none)");
		json_decref(j);
	}
	store_free(fx.api.store);
	fx.api.store = NULL;
	fx.cfg->kv.redis_url = saved_url;
	fx.cfg->kv.meta_core_path = saved_core;
	unlink(lock);
	rmdir(locks);
}

static void test_listing(void **state)
{
	json_t *j, *f;

	j = get("/api/fuse/files", NULL, 200);
	expect_int(j, "total", 4);
	expect_int(j, "limit", API_LIMIT_DEF);
	json_decref(j);

	j = get("/api/fuse/files", "q=inception", 200);
	expect_int(j, "total", 1);
	f = json_array_get(json_object_get(j, "files"), 0);
	expect_str(f, "path", "/Movies/Inception (2010)/Inception.mkv");
	expect_str(f, "category", "Movies");
	expect_int(f, "size", 11);
	json_decref(j);

	j = get("/api/fuse/files", "category=Movies&offset=1&limit=1", 200);
	expect_int(j, "total", 2);
	if (json_array_size(json_object_get(j, "files")) != 1)
		fail_msg("files page: expected 1 entry, got %zu",
		         json_array_size(json_object_get(j, "files")));
	json_decref(j);

	j = get("/api/fuse/directories", "category=TV", 200);
	expect_int(j, "total", 3); /* TV, TV/Show, TV/Show/Season 01 */
	json_decref(j);

	j = get("/api/fuse/files", "category=Nope", 404);
	json_decref(j);
	j = get("/api/fuse/files", "limit=4294967296", 400);
	json_decref(j);
	j = get("/api/fuse/files", "offset=-1", 400);
	json_decref(j);
	{
		char q[400];

		memset(q, 'a', sizeof(q) - 1);
		q[sizeof(q) - 1] = '\0';
		memcpy(q, "q=", 2);
		j = get("/api/fuse/files", q, 400);
		if (!strstr(json_string_value(json_object_get(j, "error")), "over"))
			fail_msg("an over-long q=: expected \"over ... bytes\", got %s",
			         json_string_value(json_object_get(j, "error")));
		json_decref(j);
	}
}

/* The listings of the fixture as the unstreamed implementation wrote them, byte for byte. */
static const struct {
	const char *path, *query, *want;
} listings[] = {
    {"/api/fuse/files", "",
     "{\"files\":[{\"path\":\"/Other/file.iso\",\"name\":\"file.iso\",\"category\":\"O"
     "ther\",\"mtime\":null,\"size\":7,\"hashId\":\"o1\"},{\"path\":\"/Movies/Amélie '"
     "Le' (2001)/Amélie 'Le'.mkv\",\"name\":\"Amélie 'Le'.mkv\",\"category\":\"Movies\""
     ",\"mtime\":null,\"size\":5,\"hashId\":\"q1\"},{\"path\":\"/Movies/Inception (201"
     "0)/Inception.mkv\",\"name\":\"Inception.mkv\",\"category\":\"Movies\",\"mtime\":"
     "\"2020-09-13T12:26:40.000Z\",\"size\":11,\"hashId\":\"m1\"},{\"path\":\"/TV/Show"
     "/Season 01/Show - S01E02.mkv\",\"name\":\"Show - S01E02.mkv\",\"category\":\"TV\""
     ",\"mtime\":null,\"size\":2000,\"hashId\":\"t1\"}],\"total\":4,\"offset\":0,\"lim"
     "it\":100,\"generation\":7}"},
    {"/api/fuse/files", "q=inception",
     "{\"files\":[{\"path\":\"/Movies/Inception (2010)/Inception.mkv\",\"name\":\"Ince"
     "ption.mkv\",\"category\":\"Movies\",\"mtime\":\"2020-09-13T12:26:40.000Z\",\"siz"
     "e\":11,\"hashId\":\"m1\"}],\"total\":1,\"offset\":0,\"limit\":100,\"generation\""
     ":7}"},
    {"/api/fuse/files", "category=Movies&offset=1&limit=1",
     "{\"files\":[{\"path\":\"/Movies/Inception (2010)/Inception.mkv\",\"name\":\"Ince"
     "ption.mkv\",\"category\":\"Movies\",\"mtime\":\"2020-09-13T12:26:40.000Z\",\"siz"
     "e\":11,\"hashId\":\"m1\"}],\"total\":2,\"offset\":1,\"limit\":1,\"generation\":7"
     "}"},
    {"/api/fuse/files", "offset=2",
     "{\"files\":[{\"path\":\"/Movies/Inception (2010)/Inception.mkv\",\"name\":\"Ince"
     "ption.mkv\",\"category\":\"Movies\",\"mtime\":\"2020-09-13T12:26:40.000Z\",\"siz"
     "e\":11,\"hashId\":\"m1\"},{\"path\":\"/TV/Show/Season 01/Show - S01E02.mkv\",\"n"
     "ame\":\"Show - S01E02.mkv\",\"category\":\"TV\",\"mtime\":null,\"size\":2000,\"h"
     "ashId\":\"t1\"}],\"total\":4,\"offset\":2,\"limit\":100,\"generation\":7}"},
    {"/api/fuse/files", "limit=0",
     "{\"files\":[],\"total\":4,\"offset\":0,\"limit\":0,\"generation\":7}"},
    {"/api/fuse/files", "q=zzz",
     "{\"files\":[],\"total\":0,\"offset\":0,\"limit\":100,\"generation\":7}"},
    {"/api/fuse/files", "q=E&limit=2&offset=1",
     "{\"files\":[{\"path\":\"/Movies/Amélie 'Le' (2001)/Amélie 'Le'.mkv\",\"name\":\""
     "Amélie 'Le'.mkv\",\"category\":\"Movies\",\"mtime\":null,\"size\":5,\"hashId\":\""
     "q1\"},{\"path\":\"/Movies/Inception (2010)/Inception.mkv\",\"name\":\"Inception."
     "mkv\",\"category\":\"Movies\",\"mtime\":\"2020-09-13T12:26:40.000Z\",\"size\":11"
     ",\"hashId\":\"m1\"}],\"total\":4,\"offset\":1,\"limit\":2,\"generation\":7}"},
    {"/api/fuse/directories", "",
     "{\"directories\":[{\"path\":\"/Movies\",\"name\":\"Movies\",\"category\":\"Movie"
     "s\",\"mtime\":\"2020-09-13T12:26:40.000Z\",\"entries\":2},{\"path\":\"/Other\",\""
     "name\":\"Other\",\"category\":\"Other\",\"mtime\":null,\"entries\":1},{\"path\":"
     "\"/TV\",\"name\":\"TV\",\"category\":\"TV\",\"mtime\":null,\"entries\":1},{\"pat"
     "h\":\"/Movies/Amélie 'Le' (2001)\",\"name\":\"Amélie 'Le' (2001)\",\"category\":"
     "\"Movies\",\"mtime\":null,\"entries\":1},{\"path\":\"/Movies/Inception (2010)\","
     "\"name\":\"Inception (2010)\",\"category\":\"Movies\",\"mtime\":\"2020-09-13T12:"
     "26:40.000Z\",\"entries\":1},{\"path\":\"/TV/Show\",\"name\":\"Show\",\"category\""
     ":\"TV\",\"mtime\":null,\"entries\":1},{\"path\":\"/TV/Show/Season 01\",\"name\":"
     "\"Season 01\",\"category\":\"TV\",\"mtime\":null,\"entries\":1}],\"total\":7,\"o"
     "ffset\":0,\"limit\":100,\"generation\":7}"},
    {"/api/fuse/directories", "category=TV",
     "{\"directories\":[{\"path\":\"/TV\",\"name\":\"TV\",\"category\":\"TV\",\"mtime\""
     ":null,\"entries\":1},{\"path\":\"/TV/Show\",\"name\":\"Show\",\"category\":\"TV\""
     ",\"mtime\":null,\"entries\":1},{\"path\":\"/TV/Show/Season 01\",\"name\":\"Seaso"
     "n 01\",\"category\":\"TV\",\"mtime\":null,\"entries\":1}],\"total\":3,\"offset\""
     ":0,\"limit\":100,\"generation\":7}"},
    {"/api/fuse/directories", "q=s&offset=1&limit=2",
     "{\"directories\":[{\"path\":\"/Movies/Amélie 'Le' (2001)\",\"name\":\"Amélie 'Le"
     "' (2001)\",\"category\":\"Movies\",\"mtime\":null,\"entries\":1},{\"path\":\"/Mo"
     "vies/Inception (2010)\",\"name\":\"Inception (2010)\",\"category\":\"Movies\",\""
     "mtime\":\"2020-09-13T12:26:40.000Z\",\"entries\":1}],\"total\":5,\"offset\":1,\""
     "limit\":2,\"generation\":7}"},
    {"/api/fuse/directories", "offset=100",
     "{\"directories\":[],\"total\":7,\"offset\":100,\"limit\":100,\"generation\":7}"},
};

/*
 * The streamed listings are the bytes the unstreamed implementation wrote,
 * whatever the size of the pieces libmicrohttpd asks for.
 */
static void test_listing_stream(void **state)
{
	static const size_t piece[] = {1, 7, 100, 4096, 1 << 20};

	for (size_t i = 0; i < sizeof(listings) / sizeof(listings[0]); i++) {
		for (size_t k = 0; k < sizeof(piece) / sizeof(piece[0]); k++) {
			struct api_request req = {.method = "GET",
			                          .path = listings[i].path,
			                          .arg = query_arg,
			                          .arg_ctx = (void *)listings[i].query};
			struct api_response resp;

			api_handle(&fx.api, &req, &resp);
			if (resp.status != 200 || resp.stream.read == NULL)
				fail_msg("%s?%s: expected a streamed 200, got %d%s",
				         listings[i].path, listings[i].query, resp.status,
				         resp.stream.read ? "" : " (not streamed)");
			drain(&resp, piece[k], 0);
			if (resp.len != strlen(listings[i].want) ||
			    memcmp(resp.body, listings[i].want, resp.len) != 0)
				fail_msg("%s?%s in pieces of %zu: expected %s, got %.*s",
				         listings[i].path, listings[i].query, piece[k],
				         listings[i].want, (int)resp.len, resp.body);
			api_response_clear(&resp);
		}
	}
}

/* A response dropped half-sent releases its walk (and generation) without a leak. */
static void test_listing_dropped(void **state)
{
	struct api_request req = {.method = "GET", .path = "/api/fuse/directories"};
	struct api_response resp;

	api_handle(&fx.api, &req, &resp);
	assert_non_null(resp.stream.read);
	if (drain(&resp, 10, 2) != 2 || resp.len != 20)
		fail_msg("two reads of 10 bytes: expected 20 bytes, got %zu", resp.len);
	api_response_clear(&resp);
}

/*
 * A new generation published in the middle of a listing: the listing ends on
 * the generation it started on (its own reference keeps that mapping), the next
 * request sees the new one.  Runs last: it leaves generation 8 in place.
 */
static void test_listing_new_generation(void **state)
{
	struct api_request req = {.method = "GET", .path = "/api/fuse/files"};
	struct generation *old = NULL, *new = NULL;
	struct api_response resp;
	char err[256];
	json_t *j;

	api_handle(&fx.api, &req, &resp);
	assert_non_null(resp.stream.read);
	drain(&resp, 10, 1);
	publish(8, NOW_NS - 1000000000LL, 2);
	assert_int_equal(gen_store_reload(fx.gens, &old, &new, err, sizeof(err)),
	                 GEN_RELOAD_SWITCHED);
	generation_put(old);
	generation_put(new);
	drain(&resp, 10, 0);
	if (strcmp(resp.body, listings[0].want) != 0)
		fail_msg("a listing across a new generation: expected %s, got %s", listings[0].want,
		         resp.body);
	api_response_clear(&resp);

	j = get("/api/fuse/files", NULL, 200);
	expect_int(j, "generation", 8);
	expect_int(j, "total", 2);
	json_decref(j);
}

/* Bad requests, one line each: method, path, content type, body, status, error text. */
static void test_errors(void **state)
{
	static const struct {
		const char *method, *path, *ctype, *body;
		int status;
		const char *error;
	} cases[] = {
	    {"GET", "/api/fuse/nope", NULL, NULL, 404, "no such endpoint"},
	    {"POST", "/api/fuse/metadata", "application/json",
	     "{\"path\":\"/Movies\",\"source\":\"snapshot\"}", 400, "is a directory"},
	    {"POST", "/api/fuse/metadata", "application/json",
	     "{\"path\":\"/Movies/x\",\"source\":\"redis\"}", 400, "\"store\" or \"snapshot\""},
	    {"POST", "/api/fuse/metadata", "application/json",
	     "{\"path\":\"/Movies/x\",\"source\":1}", 400, "must be a string"},
	    {"GET", "/api/fuse/readdir", NULL, NULL, 405, "not allowed"},
	    {"PUT", "/api/fuse/stats", NULL, NULL, 405, "not allowed"},
	    {"DELETE", "/health", NULL, NULL, 405, "not allowed"},
	    {"POST", "/api/fuse/readdir", "text/plain", "{\"path\":\"/\"}", 415,
	     "application/json"},
	    {"POST", "/api/fuse/readdir", NULL, "{\"path\":\"/\"}", 415, "no Content-Type"},
	    {"POST", "/api/fuse/readdir", "application/jsonx", "{\"path\":\"/\"}", 415, "json"},
	    {"POST", "/api/fuse/readdir", "application/json", "", 400, "empty body"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":", 400, "invalid JSON"},
	    {"POST", "/api/fuse/readdir", "application/json", "[1]", 400, "JSON object"},
	    {"POST", "/api/fuse/readdir", "application/json", "{}", 400, "missing field"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":5}", 400, "string"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"x\"}", 400, "absolute"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"/..\"}", 400,
	     "invalid path"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"/TV/../../etc\"}", 400,
	     "invalid path"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"/%2e%2e/etc\"}", 404,
	     "no such file"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"/a\\u0000b\"}", 400,
	     "invalid JSON"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"/\",\"path\":\"/\"}",
	     400, "invalid JSON"},
	    {"POST", "/api/fuse/readdir", "application/json", "{\"path\":\"/Other/file.iso\"}", 400,
	     "not a directory"},
	    {"POST", "/api/fuse/getattr", "application/json", "{\"path\":\"/Nope\"}", 404,
	     "no such file"},
	    {"POST", "/api/fuse/read", "application/json", "{\"path\":\"/TV\"}", 400,
	     "is a directory"},
	    {"POST", "/api/fuse/read", "application/json",
	     "{\"path\":\"/Other/file.iso\",\"offset\":1}", 400, "go together"},
	    {"POST", "/api/fuse/read", "application/json",
	     "{\"path\":\"/Other/file.iso\",\"offset\":-1,\"length\":1}", 400, "non-negative"},
	    {"POST", "/api/fuse/read", "application/json",
	     "{\"path\":\"/Other/file.iso\",\"offset\":\"0\",\"length\":1}", 400, "non-negative"},
	    {"POST", "/api/fuse/rules/validate", "application/json", "{}", 400, "\"rule\""},
	    {"POST", "/api/fuse/rules/preview", "application/json", "{\"rules\":{}}", 400, "array"},
	    {"POST", "/api/fuse/rules/preview", "application/json", "{\"rules\":[],\"sample\":-1}",
	     400, "sample"},
	    {"POST", "/api/fuse/rules/preview", "application/json", "{\"rules\":[{\"x\":null}]}",
	     400, "null"},
	    {"POST", "/api/fuse/refresh", NULL, NULL, 503, "SIGUSR2"},
	    {"GET", "/api/fuse/workers", NULL, NULL, 503, "no supervisor"},
	    {"GET", "/dashboard/nope.js", NULL, NULL, 404, "no such file"},
	};
	char *big;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response resp;
		json_t *j, *err;
		int st = call(cases[i].method, cases[i].path, cases[i].ctype, cases[i].body, NULL,
		              &resp, &j);

		if (st != cases[i].status)
			fail_msg("case %zu (%s %s %s): expected status %d, got %d (%.*s)", i,
			         cases[i].method, cases[i].path, cases[i].body ? cases[i].body : "",
			         cases[i].status, st, (int)resp.len, resp.body);
		err = json_object_get(j, "error");
		if (!json_is_string(err) || strstr(json_string_value(err), cases[i].error) == NULL)
			fail_msg("case %zu (%s %s): expected an error with \"%s\", got %.*s", i,
			         cases[i].method, cases[i].path, cases[i].error, (int)resp.len,
			         resp.body);
		if (st == 405 && (resp.allow == NULL || strstr(resp.allow, "OPTIONS") == NULL))
			fail_msg("case %zu: expected an Allow header, got %s", i,
			         resp.allow ? resp.allow : "none");
		json_decref(j);
		api_response_clear(&resp);
	}

	big = malloc(API_BODY_MAX + 2);
	memset(big, ' ', API_BODY_MAX + 1);
	big[API_BODY_MAX + 1] = '\0';
	{
		struct api_response resp;

		assert_int_equal(
		    call("POST", "/api/fuse/readdir", "application/json", big, NULL, &resp, NULL),
		    413);
		api_response_clear(&resp);
	}
	free(big);
}

static void test_cors(void **state)
{
	struct api_request req = {.method = "GET", .path = "/health", .origin = "http://a.example"};
	struct api_response resp;

	api_handle(&fx.api, &req, &resp);
	if (resp.allow_origin != NULL)
		fail_msg("CORS off by default: expected no Allow-Origin, got %s",
		         resp.allow_origin);
	api_response_clear(&resp);

	free(fx.cfg->api.cors_origins);
	fx.cfg->api.cors_origins = strdup("http://b.example, http://a.example");
	api_handle(&fx.api, &req, &resp);
	assert_non_null(resp.allow_origin);
	assert_string_equal(resp.allow_origin, "http://a.example");
	api_response_clear(&resp);
	req.origin = "http://a.example.evil";
	api_handle(&fx.api, &req, &resp);
	if (resp.allow_origin != NULL)
		fail_msg("unlisted origin: expected no Allow-Origin, got %s", resp.allow_origin);
	api_response_clear(&resp);
	req.method = "OPTIONS";
	req.path = "/api/fuse/getattr";
	api_handle(&fx.api, &req, &resp);
	assert_int_equal(resp.status, 204);
	assert_string_equal(resp.allow, "POST, OPTIONS");
	api_response_clear(&resp);
	free(fx.cfg->api.cors_origins);
	fx.cfg->api.cors_origins = strdup("");
}

static void test_rules(void **state)
{
	json_t *j, *r0;

	j = get("/api/fuse/rules", NULL, 200);
	expect_str(j, "source", "default");
	r0 = json_array_get(json_object_get(j, "rules"), 0);
	expect_str(r0, "name", "hide-dotfiles");
	assert_true(json_is_true(json_object_get(r0, "hide")));
	json_decref(j);

	/* The rules in force, conditions included, sent back as a preview: nothing moves. */
	j = get("/api/fuse/rules", NULL, 200);
	{
		json_t *proposed = json_array(), *body, *rule, *p;
		size_t i;
		char *text;

		json_array_foreach(json_object_get(j, "rules"), i, rule)
		{
			json_t *r = json_object();

			json_object_set(r, "name", json_object_get(rule, "name"));
			json_object_set(r, "priority", json_object_get(rule, "priority"));
			json_object_set(r, "enabled", json_object_get(rule, "enabled"));
			if (json_object_get(rule, "when"))
				json_object_set(r, "when", json_object_get(rule, "when"));
			if (json_is_true(json_object_get(rule, "hide")))
				json_object_set_new(r, "hide", json_true());
			else
				json_object_set(r, "template", json_object_get(rule, "template"));
			json_array_append_new(proposed, r);
		}
		r0 = json_array_get(json_object_get(j, "rules"), 3); /* anime-subtitles */
		if (!json_is_array(json_object_get(json_object_get(r0, "when"), "and")))
			fail_msg("rules: expected the condition of %s, got none",
			         json_string_value(json_object_get(r0, "name")));
		body = json_pack("{s:o}", "rules", proposed);
		text = json_dumps(body, 0);
		p = post("/api/fuse/rules/preview", text, 200);
		expect_int(p, "files", 4);
		expect_int(p, "unchanged", 4);
		expect_int(p, "moved", 0);
		expect_int(p, "hidden", 0); /* hidden records are not in the snapshot */
		json_decref(p);
		free(text);
		json_decref(body);
	}
	json_decref(j);

	j = get("/api/fuse/rules/variables", NULL, 200);
	expect_str(json_array_get(json_object_get(j, "variables"), 0), "name", "filePath");
	expect_str(json_array_get(json_object_get(j, "variables"), 0), "kind", "core");
	json_decref(j);

	j = post("/api/fuse/rules/validate",
	         "{\"rule\":{\"name\":\"m\",\"template\":\"/Films/{title}{year?( ({year}))}/"
	         "{fileName}\"},\"metadata\":{\"title\":\"Heat\",\"year\":1995,"
	         "\"filePath\":\"a/heat.mkv\",\"bogus\":\"x\"}}",
	         200);
	assert_true(json_is_true(json_object_get(j, "valid")));
	expect_str(j, "result", "placed");
	expect_str(j, "path", "/Films/Heat (1995)/heat.mkv");
	if (json_array_size(json_object_get(j, "warnings")) != 1)
		fail_msg("validate: expected 1 warning (bogus), got %zu",
		         json_array_size(json_object_get(j, "warnings")));
	json_decref(j);

	j = post("/api/fuse/rules/validate",
	         "{\"rule\":{\"name\":\"m\",\"template\":\"/Films/{title\"}}", 200);
	assert_true(json_is_false(json_object_get(j, "valid")));
	r0 = json_array_get(json_object_get(j, "errors"), 0);
	if (!json_is_integer(json_object_get(r0, "column")))
		fail_msg("validate: expected an error column, got %s",
		         json_string_value(json_object_get(r0, "message")));
	json_decref(j);

	j = post("/api/fuse/rules/validate",
	         "{\"rule\":{\"name\":\"m\",\"when\":{\"property\":\"x\",\"op\":\"equalz\"},"
	         "\"template\":\"/a\"}}",
	         200);
	assert_true(json_is_false(json_object_get(j, "valid")));
	if (!strstr(json_string_value(json_object_get(
	                json_array_get(json_object_get(j, "errors"), 0), "message")),
	            "equalz"))
		fail_msg("validate: expected the bad op named in the error");
	json_decref(j);

	/* Everything into /All/{fileName}: 4 files move (one is unchanged: none), hidden none. */
	j = post("/api/fuse/rules/preview",
	         "{\"rules\":[{\"name\":\"tv\",\"priority\":5,\"when\":{\"property\":\"season\","
	         "\"op\":\"exists\"},\"template\":\"/TV/{title}/{fileName}\"},"
	         "{\"name\":\"all\",\"template\":\"/All/{fileName}\"}],\"sample\":2}",
	         200);
	expect_int(j, "files", 4);
	expect_int(j, "placed", 4);
	expect_int(j, "moved", 4);
	expect_int(j, "unchanged", 0);
	if (json_array_size(json_object_get(j, "sample")) != 2)
		fail_msg("preview: expected a sample of 2, got %zu",
		         json_array_size(json_object_get(j, "sample")));
	json_decref(j);

	/* The rules in force place everything where it is. */
	j = post("/api/fuse/rules/preview",
	         "{\"rules\":[{\"name\":\"movies\",\"when\":{\"property\":\"title\",\"op\":"
	         "\"exists\"},\"template\":\"/Movies/{title}{year?( ({year}))}/{title}."
	         "{extension}\"},{\"name\":\"other\",\"template\":\"/Other/{fileName}\"}]}",
	         200);
	expect_int(j, "unchanged", 3); /* Inception, Amelie, the iso */
	expect_int(j, "moved", 1);     /* the TV episode goes to /Movies/Show */
	json_decref(j);
}

static bool has(const struct api_response *r, const char *text)
{
	return memmem(r->body, r->len, text, strlen(text)) != NULL;
}

static void test_metrics_and_dashboard(void **state)
{
	struct api_response resp;

	assert_int_equal(call("GET", "/metrics", NULL, NULL, NULL, &resp, NULL), 200);
	assert_string_equal(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
	if (!has(&resp, "\nmf_files 4\n"))
		fail_msg("metrics: expected mf_files 4, got %.*s", (int)resp.len, resp.body);
	if (!has(&resp, "mf_category_files{category=\"Movies\"} 2\n"))
		fail_msg("metrics: expected Movies 2");
	api_response_clear(&resp);

	assert_int_equal(call("GET", "/", NULL, NULL, NULL, &resp, NULL), 200);
	assert_string_equal(resp.content_type, "text/html; charset=utf-8");
	assert_true(resp.len > 0);
	api_response_clear(&resp);
	assert_int_equal(call("HEAD", "/dashboard/app.js", NULL, NULL, NULL, &resp, NULL), 200);
	api_response_clear(&resp);
}

static void test_route_names(void **state)
{
	static const char *const paths[] = {"/health", "/api/fuse/getattr", "/metrics",
	                                    "/api/fuse/rules/preview", "/api/fuse/workers"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *got = api_route_names[api_route_index(paths[i])];

		if (strcmp(got, paths[i]) != 0)
			fail_msg("route of %s: expected \"%s\", got \"%s\"", paths[i], paths[i],
			         got);
	}
	assert_string_equal(api_route_names[api_route_index("/dashboard/app.js")], "/");
	assert_string_equal(api_route_names[api_route_index("/index.html")], "/");
	assert_string_equal(api_route_names[api_route_index("/nope")], "other");
}

/* JSON rules into libconfig: what converts, what is refused and where. */
static void test_rule_json(void **state)
{
	static const struct {
		const char *json;
		int want;          /* of rule_json_to_config() */
		const char *error; /* a part of the message, when refused */
	} cases[] = {
	    {"[{\"name\":\"a\",\"template\":\"/A/{x}\"}]", 0, NULL},
	    {"[{\"name\":\"a\",\"priority\":5,\"enabled\":false,\"when\":{\"and\":[{"
	     "\"property\":\"x\",\"op\":\"equals\",\"value\":[\"a\",1,2.5,true]}]},"
	     "\"template\":\"/A\"}]",
	     0, NULL},
	    {"[]", 0, NULL},
	    {"{}", -EINVAL, "expected an array"},
	    {"[5]", -EINVAL, "rules[0]: a rule is an object"},
	    {"[{\"name\":null}]", -EINVAL, "rules[0].name: null is not allowed"},
	    {"[{\"when\":{\"and\":[{},{\"op\":null}]}}]", -EINVAL, "rules[0].when.and[1].op: null"},
	    {"[{\"bad key\":1}]", -EINVAL, "\"bad key\" is not a valid setting name"},
	    {"[{\"9lives\":1}]", -EINVAL, "not a valid setting name"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);
		config_setting_t *list = NULL;
		char err[256] = "";
		config_t lc;
		int r;

		assert_non_null(j);
		config_init(&lc);
		r = rule_json_to_config(j, "rules", &lc, &list, err, sizeof(err));
		if (r != cases[i].want)
			fail_msg("case %zu (%s): expected %d, got %d (%s)", i, cases[i].json,
			         cases[i].want, r, err);
		if (cases[i].error && strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: expected an error with \"%s\", got \"%s\"", i,
			         cases[i].error, err);
		if (r == 0 && config_setting_length(list) != (int)json_array_size(j))
			fail_msg("case %zu: expected %zu rules, got %d", i, json_array_size(j),
			         config_setting_length(list));
		config_destroy(&lc);
		json_decref(j);
	}
}

/* The rules' text read again from the configuration, a rules_file, or the defaults. */
static void test_rules_source(void **state)
{
	static const char *const confs[] = {
	    "rules = ( { name = \"inline\"; when = { property = \"t\"; op = \"exists\"; };\n"
	    "  template = \"/I/{t}\"; }, { name = \"rest\"; template = \"/R/{fileName}\"; } );\n",
	    "rules_file = \"rules.conf\";\n",
	};
	char path[128], rpath[128], err[256];

	snprintf(rpath, sizeof(rpath), "%s/rules.conf", fx.dir);
	write_file(rpath,
	           "rules = ( { name = \"fromfile\"; priority = 3; "
	           "when = { or = ( { property = \"a\"; op = \"equals\"; value = [1, 2]; } ); "
	           "}; template = \"/F/{a}\"; } );\n");
	for (size_t i = 0; i < 2; i++) {
		struct config *cfg;
		json_t *j = NULL, *r0;

		snprintf(path, sizeof(path), "%s/source%zu.conf", fx.dir, i);
		write_file(path, confs[i]);
		assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
		if (rules_source_json(cfg, &j, err, sizeof(err)) < 0)
			fail_msg("case %zu: expected the rules' JSON, got %s", i, err);
		r0 = json_array_get(j, 0);
		assert_string_equal(json_string_value(json_object_get(r0, "name")),
		                    i == 0 ? "inline" : "fromfile");
		if (i == 1 &&
		    json_integer_value(json_array_get(
		        json_object_get(
		            json_array_get(json_object_get(json_object_get(r0, "when"), "or"), 0),
		            "value"),
		        1)) != 2)
			fail_msg("rules_file: expected value [1, 2] in the condition");
		json_decref(j);
		config_free(cfg);
		unlink(path);
	}
	unlink(rpath);
}

/* Bytes a name or a value may hold come out as valid JSON, table by table. */
/*
 * jsonw_base64 (every tail length of RFC 4648, bytes of any value) under a key
 * of any bytes (jsonw_keyn: a NUL and a quote).
 */
static void test_jsonw_base64(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
	    {"", 0, "{\"n\\u0000\\\"\":\"\"}"},
	    {"f", 1, "{\"n\\u0000\\\"\":\"Zg==\"}"},
	    {"fo", 2, "{\"n\\u0000\\\"\":\"Zm8=\"}"},
	    {"foo", 3, "{\"n\\u0000\\\"\":\"Zm9v\"}"},
	    {"foob", 4, "{\"n\\u0000\\\"\":\"Zm9vYg==\"}"},
	    {"\0\xff\xfe"
	     "abc\n",
	     7, "{\"n\\u0000\\\"\":\"AP/+YWJjCg==\"}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jsonw w;
		char *text;
		size_t len;

		assert_int_equal(jsonw_init(&w), 0);
		jsonw_object_begin(&w);
		jsonw_keyn(&w, "n\0\"", 3);
		jsonw_base64(&w, cases[i].in, cases[i].len);
		jsonw_object_end(&w);
		assert_int_equal(jsonw_finish(&w, &text, &len), 0);
		if (strcmp(text, cases[i].want) != 0)
			fail_msg("case %zu: expected %s, got %s", i, cases[i].want, text);
		free(text);
	}
}

static void test_jsonw_escaping(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain", "plain"},
	    {"q\"b\\s", "q\"b\\s"},
	    {"ctl\x01\x1f\x7f\n\t", "ctl\x01\x1f\x7f\n\t"},
	    {"bad\xff\xfeutf8", "bad\xef\xbf\xbd\xef\xbf\xbdutf8"},
	    {"cut\xc3", "cut\xef\xbf\xbd"},
	    {"\xe2\x82\xac ok \xf0\x9f\x8e\xac", "\xe2\x82\xac ok \xf0\x9f\x8e\xac"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jsonw w;
		char *text;
		size_t len;
		json_t *j;

		assert_int_equal(jsonw_init(&w), 0);
		jsonw_array_begin(&w);
		jsonw_string(&w, cases[i].in);
		jsonw_u64(&w, i);
		jsonw_array_end(&w);
		assert_int_equal(jsonw_finish(&w, &text, &len), 0);
		j = json_loadb(text, len, 0, NULL);
		if (j == NULL)
			fail_msg("case %zu: expected valid JSON, got %s", i, text);
		if (strcmp(json_string_value(json_array_get(j, 0)), cases[i].want) != 0)
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].want,
			         json_string_value(json_array_get(j, 0)));
		json_decref(j);
		free(text);
	}
}

static void test_no_snapshot(void **state)
{
	struct gen_store *empty;
	struct gen_store *saved = fx.api.gens;
	char dir[] = "/tmp/test_apid_empty.XXXXXX";
	json_t *j;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(gen_store_new(dir, &empty), 0);
	fx.api.gens = empty;
	j = get("/health", NULL, 503);
	expect_str(j, "status", "error");
	json_decref(j);
	j = post("/api/fuse/readdir", "{\"path\":\"/\"}", 503);
	json_decref(j);
	j = get("/api/fuse/stats", NULL, 200);
	expect_int(j, "totalFiles", 0);
	json_decref(j);
	fx.api.gens = saved;
	gen_store_free(empty);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_and_stats),
	    cmocka_unit_test(test_readdir_getattr_exists),
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_metadata),
	    cmocka_unit_test(test_metadata_store_errors),
	    cmocka_unit_test(test_listing),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_cors),
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_metrics_and_dashboard),
	    cmocka_unit_test(test_route_names),
	    cmocka_unit_test(test_jsonw_escaping),
	    cmocka_unit_test(test_jsonw_base64),
	    cmocka_unit_test(test_rule_json),
	    cmocka_unit_test(test_rules_source),
	    cmocka_unit_test(test_no_snapshot),
	    cmocka_unit_test(test_listing_stream),
	    cmocka_unit_test(test_listing_dropped),
	    cmocka_unit_test(test_listing_new_generation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
