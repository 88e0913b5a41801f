/*
 * routes: the one table of apid's endpoints and the checks every request goes
 * through before its handler runs: the route (404), the method (405 with
 * Allow), CORS, the content type (415), the body size (413) and its JSON
 * (400).  A handler then only reads its fields.  The generation a request is
 * answered from is taken here once and dropped when the response is built.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "generation.h"
#include "log.h"
#include "path.h"
#include "snapshot.h"

enum {
	M_GET = 1 << 0,
	M_POST = 1 << 1,
};

enum {
	R_JSON = 1 << 0,   /* takes a JSON object body */
	R_PREFIX = 1 << 1, /* path is a prefix ("/dashboard/") */
};

struct route {
	const char *path;
	unsigned methods;
	unsigned flags;
	int (*handler)(struct api_call *c);
};

static const struct route routes[] = {
    {"/health", M_GET, 0, api_health},
    {"/api/health", M_GET, 0, api_health},
    {"/api/fuse/health", M_GET, 0, api_health},
    {"/api/fuse/stats", M_GET, 0, api_stats},
    {"/api/fuse/readdir", M_POST, R_JSON, api_readdir},
    {"/api/fuse/getattr", M_POST, R_JSON, api_getattr},
    {"/api/fuse/exists", M_POST, R_JSON, api_exists},
    {"/api/fuse/read", M_POST, R_JSON, api_read},
    {"/api/fuse/metadata", M_POST, R_JSON, api_metadata},
    {"/api/fuse/files", M_GET, 0, api_files},
    {"/api/fuse/directories", M_GET, 0, api_directories},
    {"/api/fuse/refresh", M_POST, 0, api_refresh},
    {"/api/fuse/rules", M_GET, 0, api_rules},
    {"/api/fuse/rules/variables", M_GET, 0, api_rules_variables},
    {"/api/fuse/rules/validate", M_POST, R_JSON, api_rules_validate},
    {"/api/fuse/rules/preview", M_POST, R_JSON, api_rules_preview},
    {"/api/fuse/workers", M_GET, 0, api_workers},
    {"/metrics", M_GET, 0, api_metrics},
    {"/", M_GET, 0, api_dashboard},
    {"/index.html", M_GET, 0, api_dashboard},
    {"/dashboard/", M_GET, R_PREFIX, api_dashboard},
};

static const struct route *route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];

		if (r->flags & R_PREFIX) {
			if (strncmp(path, r->path, strlen(r->path)) == 0)
				return r;
		} else if (strcmp(path, r->path) == 0) {
			return r;
		}
	}
	return NULL;
}

/* The metrics' names: the routes but the dashboard's aliases, then "other". */
const char *const api_route_names[API_ROUTES_COUNT] = {
    "/health",
    "/api/health",
    "/api/fuse/health",
    "/api/fuse/stats",
    "/api/fuse/readdir",
    "/api/fuse/getattr",
    "/api/fuse/exists",
    "/api/fuse/read",
    "/api/fuse/metadata",
    "/api/fuse/files",
    "/api/fuse/directories",
    "/api/fuse/refresh",
    "/api/fuse/rules",
    "/api/fuse/rules/variables",
    "/api/fuse/rules/validate",
    "/api/fuse/rules/preview",
    "/api/fuse/workers",
    "/metrics",
    "/",
    "other",
};

unsigned api_route_index(const char *path)
{
	const struct route *r = route_find(path);

	if (r == NULL)
		return API_ROUTES_COUNT - 1;
	if (r->handler == api_dashboard)
		return API_ROUTES_COUNT - 2;
	return (unsigned)(r - routes);
}

static const char *allow_of(unsigned methods)
{
	return methods == M_POST ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
}

int64_t api_now_ns(const struct api *api)
{
	struct timespec ts;

	if (api->now_ns)
		return api->now_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void api_response_clear(struct api_response *resp)
{
	if (!resp->body_static)
		free(resp->body);
	if (resp->stream.free)
		resp->stream.free(resp->stream.ctx);
	memset(resp, 0, sizeof(*resp));
}

static void set_static(struct api_response *resp, int status, const char *text)
{
	if (!resp->body_static)
		free(resp->body);
	resp->status = status;
	resp->content_type = API_JSON_TYPE;
	resp->body = (char *)text;
	resp->len = strlen(text);
	resp->body_static = true;
}

int api_reply(struct api_call *c, int status, struct jsonw *w)
{
	char *text;
	size_t len;
	int r;

	r = jsonw_finish(w, &text, &len);
	if (r < 0)
		return r;
	if (!c->resp->body_static)
		free(c->resp->body);
	c->resp->status = status;
	c->resp->content_type = API_JSON_TYPE;
	c->resp->body = text;
	c->resp->len = len;
	c->resp->body_static = false;
	return 0;
}

int api_error(struct api_call *c, int status, const char *fmt, ...)
{
	struct jsonw w;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (jsonw_init(&w) < 0)
		goto oom;
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "error", msg);
	jsonw_object_end(&w);
	if (api_reply(c, status, &w) < 0)
		goto oom;
	return 0;
oom:
	set_static(c->resp, 500, "{\"error\":\"out of memory\"}");
	return 0;
}

bool api_need_snapshot(struct api_call *c)
{
	if (c->gen->snap)
		return false;
	api_error(c, 503, "no snapshot loaded yet (kvwatch has not published one)");
	return true;
}

int api_arg(struct api_call *c, const char *name, const char **ret)
{
	int r = c->req->arg ? c->req->arg(c->req->arg_ctx, name, ret) : -ENOENT;

	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r == -ENAMETOOLONG)
		return api_error(c, 400, "query argument \"%s\" over %d bytes", name,
		                 API_QUERY_MAX),
		       -1;
	if (r < 0)
		return api_error(c, 400, "query argument \"%s\": bad escape or NUL", name), -1;
	return 0;
}

int api_arg_uint(struct api_call *c, const char *name, uint64_t def, uint64_t max, uint64_t *ret)
{
	unsigned long long n;
	const char *v;
	char *end;

	if (api_arg(c, name, &v) < 0)
		return -1;

	if (v == NULL || *v == '\0') {
		*ret = def;
		return 0;
	}
	if (*v < '0' || *v > '9')
		goto bad;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end != '\0' || n > max)
		goto bad;
	*ret = n;
	return 0;
bad:
	api_error(c, 400, "query argument \"%s\" must be a whole number from 0 to %llu", name,
	          (unsigned long long)max);
	return -1;
}

int api_body_node(struct api_call *c, const char *name, char *buf, size_t cap,
                  const struct snap_node **ret)
{
	json_t *v = json_object_get(c->body, name);
	const char *s;
	int r;

	if (v == NULL)
		return api_error(c, 400, "missing field \"%s\"", name), -1;
	if (!json_is_string(v))
		return api_error(c, 400, "field \"%s\" must be a string", name), -1;
	s = json_string_value(v);
	if (*s != '/')
		return api_error(c, 400, "field \"%s\" must be an absolute path", name), -1;
	r = path_normalize(s, json_string_length(v), buf, cap);
	if (r == -ENAMETOOLONG)
		return api_error(c, 400, "field \"%s\": path too long", name), -1;
	if (r < 0)
		return api_error(c, 400, "field \"%s\": invalid path", name), -1;
	if (api_need_snapshot(c))
		return -1;
	r = snapshot_lookup_path(c->gen->snap, buf, ret);
	if (r == -ENAMETOOLONG)
		return api_error(c, 400, "field \"%s\": path too long", name), -1;
	if (r < 0)
		return api_error(c, 404, "no such file or directory: %s", buf), -1;
	return 0;
}

char *api_source_path(const struct api *api, const char *rel)
{
	const char *vol = api->cfg->files_volume;
	size_t n = strlen(vol);
	char *p;

	while (n > 1 && vol[n - 1] == '/')
		n--;
	if (asprintf(&p, "%.*s/%s", (int)n, vol, rel) < 0)
		return NULL;
	return p;
}

/* "application/json", any case, optionally with parameters ("; charset=utf-8"). */
static bool is_json_type(const char *ct)
{
	size_t n = strlen(API_JSON_TYPE);

	if (ct == NULL || strncasecmp(ct, API_JSON_TYPE, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* The configured origin matching origin, or NULL (CORS off or not listed). */
static const char *cors_origin(const struct api *api, const char *origin)
{
	const char *list = api->cfg->api.cors_origins;
	size_t olen;

	if (origin == NULL || list == NULL || *list == '\0')
		return NULL;
	if (strcmp(list, "*") == 0)
		return "*";
	olen = strlen(origin);
	for (const char *p = list; *p;) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n > 0 && n == olen && strncmp(p, origin, n) == 0)
			return origin;
		p += n;
	}
	return NULL;
}

static void dispatch(struct api_call *c, const struct route *rt)
{
	const struct api_request *req = c->req;
	json_error_t jerr;
	int r;

	if (rt->flags & R_JSON) {
		if (req->body_len > API_BODY_MAX) {
			api_error(c, 413, "request body over %d bytes", API_BODY_MAX);
			return;
		}
		if (!is_json_type(req->content_type)) {
			api_error(c, 415, "the body must be application/json, got %s",
			          req->content_type ? req->content_type : "no Content-Type");
			return;
		}
		if (req->body_len == 0) {
			api_error(c, 400, "empty body: expected a JSON object");
			return;
		}
		c->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (c->body == NULL) {
			api_error(c, 400, "invalid JSON at line %d, column %d: %s", jerr.line,
			          jerr.column, jerr.text);
			return;
		}
		if (!json_is_object(c->body)) {
			api_error(c, 400, "the body must be a JSON object");
			return;
		}
	}
	r = rt->handler(c);
	if (r < 0) {
		/* apid's own failure (out of memory): one line, and the next request goes on. */
		log_warnx("answering %s %s: %s", req->method, rt->path, strerror(-r));
		api_error(c, 500, "internal error: %s", strerror(-r));
	}
}

void api_handle(struct api *api, const struct api_request *req, struct api_response *resp)
{
	struct api_call c = {.api = api, .req = req, .resp = resp};
	const struct route *rt;
	unsigned m;

	memset(resp, 0, sizeof(*resp));
	c.gen = gen_store_get(api->gens);
	resp->allow_origin = cors_origin(api, req->origin);
	rt = route_find(req->path);
	if (rt == NULL) {
		api_error(&c, 404, "no such endpoint: %s", req->path);
		goto out;
	}
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
		m = M_GET;
	else if (strcmp(req->method, "POST") == 0)
		m = M_POST;
	else
		m = 0;
	resp->allow = allow_of(rt->methods);
	if (strcmp(req->method, "OPTIONS") == 0) {
		set_static(resp, 204, "");
		resp->content_type = NULL;
		goto out;
	}
	if (!(rt->methods & m)) {
		api_error(&c, 405, "method %s not allowed on %s (allowed: %s)", req->method,
		          rt->path, resp->allow);
		goto out;
	}
	resp->allow = NULL;
	dispatch(&c, rt);
out:
	json_decref(c.body);
	generation_put(c.gen);
}
