/*
 * api: the REST API of meta-fuse-apid as plain functions, apart from HTTP.
 *
 * api_handle() takes one request (method, decoded path, content type, body,
 * query arguments) and fills one response (status, content type, body, Allow):
 * route lookup, the method, content-type and body checks, the generation the
 * request is answered from and the {"error": "..."} replies all happen here, so
 * the unit tests drive the whole API without a socket and the HTTP glue
 * (server.c) stays a few lines.  The endpoints live in one file per concept:
 * stats.c (health, stats), fs_routes.c (readdir, getattr, exists, read),
 * metadata.c, listing.c (files, directories), rules_routes.c, workers.c,
 * metrics.c, dashboard.c.
 *
 * Nothing here logs per request; a handler logs only a failure of apid itself.
 */
#ifndef MF_APID_API_H
#define MF_APID_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jsonw.h"

struct config;
struct gen_store;
struct generation;
struct snap_node;
struct source;
struct store;
struct webdav;

#define API_BODY_MAX  (1024 * 1024) /* bytes of a request body */
#define API_READ_MAX  (1024 * 1024) /* bytes one POST /api/fuse/read returns */
#define API_LIMIT_DEF 100           /* entries of a files/directories page by default */
#define API_LIMIT_MAX UINT32_MAX    /* ... and at most (a page is streamed: any size) */
#define API_QUERY_MAX 1024          /* bytes of q= */

#define API_JSON_TYPE "application/json"

/* Counters of the HTTP layer that /metrics shows; filled by server.c, may be NULL. */
typedef void (*api_metrics_fn)(void *ctx, FILE *out);

/* Owner: main.c; everything borrowed lives as long as the server. */
struct api {
	const struct config *cfg;
	struct gen_store *gens;
	struct source *src;    /* local reads of POST /api/fuse/read */
	struct webdav *webdav; /* reads through source_webdav_url, NULL when unset */
	struct store *store;   /* metadata's reads of the key-value store, NULL: none */
	json_t *rules_json;    /* the rules in force as JSON (rules_source.c), NULL: unknown */
	int64_t started_ns;
	api_metrics_fn http_metrics;
	void *http_metrics_ctx;
	/* Tests: a fixed "now" for ages and uptimes (0 = the clock). */
	int64_t now_ns;
};

struct api_request {
	const char *method;       /* "GET", "POST", ... */
	const char *path;         /* decoded, without the query */
	const char *content_type; /* NULL when absent */
	const char *body;
	size_t body_len;
	/*
	 * A decoded query argument into *ret: 0, -ENOENT when absent, -EINVAL (a bad
	 * escape, a NUL) or -ENAMETOOLONG (over API_QUERY_MAX bytes).
	 */
	int (*arg)(void *ctx, const char *name, const char **ret);
	void *arg_ctx;
	const char *origin; /* the Origin header, NULL when absent */
};

/*
 * A body written piece by piece while it is sent (the files and directories
 * listings), so that its size costs no memory.  read() fills buf with at most
 * max bytes and returns how many, 0 at the end, or -errno (the status is sent
 * by then: the connection is cut); free() releases ctx when the response is
 * done with, sent or not.
 */
struct api_stream {
	ssize_t (*read)(void *ctx, char *buf, size_t max);
	void (*free)(void *ctx);
	void *ctx;
};

struct api_response {
	int status;
	const char *content_type;
	char *body; /* malloc'd unless body_static */
	size_t len;
	bool body_static;
	const char *allow;         /* 405 and OPTIONS: the methods of the route */
	const char *cache_control; /* NULL: "no-store" */
	const char *allow_origin;  /* CORS: Access-Control-Allow-Origin, NULL: none */
	struct api_stream stream;  /* read != NULL: the body is this stream, not body */
};

/* One request in progress: what a handler gets. */
struct api_call {
	struct api *api;
	struct generation *gen; /* a reference for the whole request */
	const struct api_request *req;
	struct api_response *resp;
	json_t *body; /* the parsed body of a route taking JSON, else NULL */
};

/* Answer req into resp (always filled; release it with api_response_clear()). */
void api_handle(struct api *api, const struct api_request *req, struct api_response *resp);
void api_response_clear(struct api_response *resp);

/*
 * Routes by index, for the metrics: api_route_names[api_route_index(path)] is
 * "/api/fuse/getattr", "/" (the dashboard and its assets) or, for a path that is
 * no route, "other" (the last of API_ROUTES_COUNT names).
 */
#define API_ROUTES_COUNT 20
extern const char *const api_route_names[API_ROUTES_COUNT];
unsigned api_route_index(const char *path);

/* ---- for the handlers ---- */

int64_t api_now_ns(const struct api *api);

/* {"error": "..."} with status; returns 0 so a handler can `return api_error(...)`. */
int api_error(struct api_call *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 503 while no snapshot is loaded; returns true when it answered. */
bool api_need_snapshot(struct api_call *c);
/* Finish w into a 200 (or status) JSON response; 0 or -ENOMEM. */
int api_reply(struct api_call *c, int status, struct jsonw *w);
/* A query argument: 0 and *ret (NULL when absent), or -1 after a 400. */
int api_arg(struct api_call *c, const char *name, const char **ret);
/* A query argument as a number in [min, max], def when absent; -1 after a 400. */
int api_arg_uint(struct api_call *c, const char *name, uint64_t def, uint64_t max, uint64_t *ret);
/*
 * The member name of the body as a virtual path: a string, normalised by the one
 * path routine into buf, then looked up.  Answers 400 (missing, wrong type,
 * invalid path), 404 (no such node) or 503 (no snapshot) itself and returns -1;
 * 0 and the node otherwise.
 */
int api_body_node(struct api_call *c, const char *name, char *buf, size_t cap,
                  const struct snap_node **ret);
/* Absolute source path of a file: files_volume/source; malloc'd, NULL on -ENOMEM. */
char *api_source_path(const struct api *api, const char *rel);

/* The handlers, by file. */
int api_health(struct api_call *c);
int api_stats(struct api_call *c);
int api_readdir(struct api_call *c);
int api_getattr(struct api_call *c);
int api_exists(struct api_call *c);
int api_read(struct api_call *c);
int api_metadata(struct api_call *c);
int api_files(struct api_call *c);
int api_directories(struct api_call *c);
int api_rules(struct api_call *c);
int api_rules_variables(struct api_call *c);
int api_rules_validate(struct api_call *c);
int api_rules_preview(struct api_call *c);
int api_workers(struct api_call *c);
int api_refresh(struct api_call *c);
int api_metrics(struct api_call *c);
int api_dashboard(struct api_call *c);

/* stats.c: is the FUSE mount point mounted (fuse.enabled and in /proc/self/mountinfo)? */
bool api_fuse_is_mounted(const struct api *api);

#endif
