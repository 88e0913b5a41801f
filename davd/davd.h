/*
 * davd: the state every part of the WebDAV worker shares, and the entry points
 * of its methods.  One struct davd per process, set up by main.c and read-only
 * once the server runs (the generation store and the source reader have their
 * own locks).  Each method lives in its own file: options.c, propfind.c
 * (PROPFIND and PROPPATCH), get.c (GET and HEAD of files), listing.c (GET of
 * collections as HTML), dispatch.c (routing, authentication, refusals).
 */
#ifndef MF_DAVD_H
#define MF_DAVD_H

#include <stdbool.h>
#include <stdint.h>

#include "http_server.h"
#include "snapshot_format.h"

struct auth;
struct config;
struct gen_store;
struct generation;
struct source;
struct webdav;
struct snapshot;

/* The routes counted in davd.metrics (http_metrics.h); DAVD_ROUTE_MAX is their count. */
enum davd_route {
	DAVD_ROUTE_OPTIONS,
	DAVD_ROUTE_PROPFIND,
	DAVD_ROUTE_GET,
	DAVD_ROUTE_HEAD,
	DAVD_ROUTE_LISTING,
	DAVD_ROUTE_PROPPATCH,
	DAVD_ROUTE_REFUSED, /* write methods */
	DAVD_ROUTE_OTHER,   /* redirects, unknown methods, unauthenticated */
	DAVD_ROUTE_MAX,
};

extern const char *const davd_route_names[DAVD_ROUTE_MAX];

/* The methods a read-only share allows (the Allow header). */
#define DAVD_ALLOW "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH"

/* Limits of one PROPFIND request. */
#define DAVD_PROPS_MAX 64 /* properties named in one <prop> */

struct davd {
	const struct config *cfg;
	const char *base; /* webdav.base_path without a trailing '/'; "" for "/" */
	struct gen_store *gens;
	struct auth *auth;
	struct source *src;
	struct webdav *dav; /* NULL when no source_webdav_url */
};

/* What a handler needs about the resource a request names. */
struct davd_target {
	struct generation *gen; /* a reference, dropped by davd_target_done() */
	const struct snap_node *node;
	char path[4097]; /* decoded, normalised: "/" or "/a/b" */
	bool trailing_slash;
	bool error_file;       /* node is virt: the virtual /ERROR.txt */
	struct snap_node virt; /* (snapshot_format.h) */
};

/*
 * The virtual /ERROR.txt of generation g as a node (id SNAP_ERROR_FILE_ID, its
 * size and time): true while g has one (the store is unreachable, or there is
 * no snapshot), false otherwise.  While shown it hides a real root entry of
 * the same name, as in fused.
 */
bool davd_error_node(const struct generation *g, struct snap_node *ret);
/* Whether child of dir is a real entry the virtual ERROR.txt hides in g. */
bool davd_is_hidden(const struct generation *g, const struct snapshot *s,
                    const struct snap_node *dir, const struct snap_node *child);

/*
 * Resolve req's path (below the base) in the current generation: 0, or -errno
 * (-EINVAL / -ENAMETOOLONG for a refused path, -ENOENT).  On success the caller
 * owns t->gen (davd_target_done).
 */
int davd_resolve(struct davd *d, struct http_request *req, struct davd_target *t);
void davd_target_done(struct davd_target *t);

/* The methods, each answering req. */
enum MHD_Result davd_options(struct davd *d, struct http_request *req);
enum MHD_Result davd_propfind(struct davd *d, struct http_request *req);
enum MHD_Result davd_proppatch(struct davd *d, struct http_request *req);
enum MHD_Result davd_get(struct davd *d, struct http_request *req);
/* GET/HEAD of a collection: t's reference passes to the listing. */
enum MHD_Result davd_listing(struct davd *d, struct http_request *req, struct davd_target *t);

/* The precheck and handler given to http_server (dispatch.c). */
enum MHD_Result davd_precheck(void *ctx, struct http_request *req);
enum MHD_Result davd_handle(void *ctx, struct http_request *req);

#endif
