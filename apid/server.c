/* server: see server.h. */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "http_metrics.h"
#include "http_path.h"
#include "http_server.h"
#include "http_status.h"
#include "log.h"
#include "snapshot_format.h"

#define ARG_MAX      (API_QUERY_MAX + 1)
#define ARGS_MAX     4 /* distinct query arguments one request reads */
#define METRICS_MAX  16
#define STREAM_BLOCK (32 * 1024) /* bytes a streamed body is asked for at a time */

/* Per request: the decoded query arguments a handler asked for. */
struct args {
	const struct http_request *req;
	unsigned used;
	char names[ARGS_MAX][16];
	char values[ARGS_MAX][ARG_MAX];
};

static int get_arg(void *ctx, const char *name, const char **ret)
{
	struct args *a = ctx;
	unsigned i;
	int r;

	for (i = 0; i < a->used; i++)
		if (strcmp(a->names[i], name) == 0) {
			*ret = a->values[i];
			return 0;
		}
	if (a->used == ARGS_MAX || strlen(name) >= sizeof(a->names[0]))
		return -ENOENT;
	i = a->used;
	r = http_arg(a->req, name, a->values[i], sizeof(a->values[i]));
	if (r < 0)
		return r;
	strcpy(a->names[i], name);
	a->used++;
	*ret = a->values[i];
	return 0;
}

/* A streamed body (api_stream) on its way out; owned by the libmicrohttpd response. */
struct streamed {
	struct api_stream stream;
	struct http_request *req; /* for the byte count; read only while the request lives */
};

static ssize_t streamed_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct streamed *st = cls;
	ssize_t n = st->stream.read(st->stream.ctx, buf, max);

	if (n > 0) {
		st->req->bytes += (uint64_t)n;
		return n;
	}
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void streamed_free(void *cls)
{
	struct streamed *st = cls;

	st->stream.free(st->stream.ctx);
	free(st);
}

/* The libmicrohttpd response of resp, which it takes the body or stream of; NULL: -ENOMEM. */
static struct MHD_Response *response_of(struct http_request *req, struct api_response *resp)
{
	enum MHD_ResponseMemoryMode mode =
	    resp->body_static ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_FREE;
	struct MHD_Response *r;
	struct streamed *st;

	if (resp->stream.read == NULL) {
		r = MHD_create_response_from_buffer(resp->len, resp->body, mode);
		if (r != NULL)
			resp->body = NULL; /* the response owns it now */
		req->bytes = resp->len;
		return r;
	}
	st = malloc(sizeof(*st));
	if (st == NULL)
		return NULL;
	*st = (struct streamed){.stream = resp->stream, .req = req};
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, streamed_read, st,
	                                      streamed_free);
	if (r == NULL) {
		free(st);
		return NULL;
	}
	resp->stream = (struct api_stream){0}; /* the response owns it now */
	req->bytes = 0;
	return r;
}

static enum MHD_Result reply(struct http_request *req, struct api_response *resp)
{
	struct MHD_Response *r = response_of(req, resp);

	if (r == NULL) {
		api_response_clear(resp);
		return http_respond(req, 500, NULL);
	}
	if (resp->content_type)
		http_add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	http_add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	                resp->cache_control ? resp->cache_control : "no-store");
	http_add_header(r, "X-Content-Type-Options", "nosniff");
	if (resp->allow)
		http_add_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->allow_origin) {
		http_add_header(r, "Access-Control-Allow-Origin", resp->allow_origin);
		http_add_header(r, MHD_HTTP_HEADER_VARY, "Origin");
		if (strcmp(req->method, "OPTIONS") == 0) {
			http_add_header(r, "Access-Control-Allow-Methods",
			                resp->allow ? resp->allow : "GET, POST");
			http_add_header(r, "Access-Control-Allow-Headers",
			                "Content-Type, Authorization");
			http_add_header(r, "Access-Control-Max-Age", "600");
		}
	}
	return http_respond(req, (unsigned)resp->status, r);
}

/* A JSON error answered before api_handle() (a path that cannot be decoded). */
static enum MHD_Result send_error(struct http_request *req, unsigned status, const char *text)
{
	struct api_response resp = {.status = (int)status,
	                            .content_type = API_JSON_TYPE,
	                            .body = (char *)text,
	                            .len = strlen(text),
	                            .body_static = true};

	return reply(req, &resp);
}

static enum MHD_Result on_request(void *ctx, struct http_request *req)
{
	struct apid_server *srv = ctx;
	char path[SNAP_PATH_MAX];
	struct api_response resp;
	struct args args = {.req = req};
	struct api_request ar;
	int r;

	r = http_path_decode(req->url, strlen(req->url), path, sizeof(path));
	if (r < 0) {
		req->route = API_ROUTES_COUNT - 1;
		if (r == -ENAMETOOLONG)
			return send_error(req, http_status_of_errno(r),
			                  "{\"error\":\"request path too long\"}");
		return send_error(req, http_status_of_errno(r),
		                  "{\"error\":\"invalid request path\"}");
	}
	req->route = api_route_index(path);
	ar = (struct api_request){
	    .method = req->method,
	    .path = path,
	    .content_type = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE),
	    .body = req->body,
	    .body_len = req->body_len,
	    .arg = get_arg,
	    .arg_ctx = &args,
	    .origin = http_header(req, "Origin"),
	};
	api_handle(srv->api, &ar, &resp);
	return reply(req, &resp);
}

/*
 * At the headers: Basic auth when configured (but for CORS preflights, which
 * browsers send without credentials), and a JSON 413 for an announced body over
 * the API's limit.
 */
static enum MHD_Result on_headers(void *ctx, struct http_request *req)
{
	struct apid_server *srv = ctx;
	const char *cl;

	if (srv->auth && strcmp(req->method, "OPTIONS") != 0) {
		enum MHD_Result r = http_require_auth(req, srv->auth, "meta-fuse API", NULL);

		if (r != HTTP_CONTINUE)
			return r;
	}
	cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX) {
		char text[96];

		snprintf(text, sizeof(text), "{\"error\":\"request body over %d bytes\"}",
		         API_BODY_MAX);
		return http_respond_buffer(req, 413, API_JSON_TYPE, text, strlen(text));
	}
	return HTTP_CONTINUE;
}

/* /metrics: the counters of every HTTP server of the suite (apid's own included). */
static void http_metrics_out(void *ctx, FILE *out)
{
	struct apid_server *srv = ctx;
	struct http_metrics_file *files[METRICS_MAX];
	size_t n = 0, sl = strlen(HTTP_METRICS_SUFFIX);
	struct dirent *e;
	char dir[4096];
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", srv->api->cfg->runtime_dir, HTTP_METRICS_DIR);
	d = opendir(dir);
	while (d && n < METRICS_MAX && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char path[sizeof(dir) + sizeof(e->d_name) + 1];

		if (len <= sl || e->d_name[0] == '.' ||
		    strcmp(e->d_name + len - sl, HTTP_METRICS_SUFFIX) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (http_metrics_load(path, &files[n]) == 0)
			n++;
	}
	if (d)
		closedir(d);
	if (n == 0 && http_metrics_data(srv->metrics)) {
		/* The file could not be created: report apid's counters from memory. */
		const struct http_metrics_file *own = http_metrics_data(srv->metrics);

		http_metrics_prometheus(&own, 1, out);
		return;
	}
	http_metrics_prometheus((const struct http_metrics_file *const *)files, n, out);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
}

int apid_server_start(struct apid_server *srv, int listen_fd)
{
	struct http_server_config hc = {
	    .listen_fd = listen_fd,
	    .limits = HTTP_LIMITS_DEFAULT,
	    .precheck = on_headers,
	    .handler = on_request,
	    .ctx = srv,
	};
	int r, file_err = 0;

	r = http_metrics_new(srv->api->cfg->runtime_dir, "apid", api_route_names, API_ROUTES_COUNT,
	                     &srv->metrics, &file_err);
	if (r < 0)
		return r;
	if (file_err < 0)
		log_warnx("cannot create the metrics file in \"%s/" HTTP_METRICS_DIR "\": %s; "
		          "/metrics shows apid's own counters only",
		          srv->api->cfg->runtime_dir, strerror(-file_err));
	srv->api->http_metrics = http_metrics_out;
	srv->api->http_metrics_ctx = srv;
	/* The server's limit sits above the API's, so that apid answers 413 in JSON. */
	hc.limits.max_body_bytes = 2 * API_BODY_MAX;
	hc.metrics = srv->metrics;
	return http_server_start(&hc, &srv->http);
}

void apid_server_stop(struct apid_server *srv)
{
	if (srv->http)
		http_server_stop(srv->http);
	srv->http = NULL;
	http_metrics_free(srv->metrics);
	srv->metrics = NULL;
}
