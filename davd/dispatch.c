/*
 * dispatch: where a request to davd goes.  At the headers (precheck): paths
 * outside the share (the root redirects to it), OPTIONS without
 * authentication (the Windows mini-redirector probes before it sends any
 * credentials), Basic authentication for everything else, the write methods
 * refused before any body is read.  With the body (handle): the method's own
 * file.  Also the one resolution of a request path to a snapshot node, with
 * the macOS quirks: "._*" and ".DS_Store" probes end at once, and a name sent
 * decomposed (NFD) finds its composed entry.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "davd.h"
#include "error_file.h"
#include "generation.h"
#include "http_path.h"
#include "nfc.h"
#include "snapshot.h"

const char *const davd_route_names[DAVD_ROUTE_MAX] = {
    [DAVD_ROUTE_OPTIONS] = "OPTIONS", [DAVD_ROUTE_PROPFIND] = "PROPFIND",
    [DAVD_ROUTE_GET] = "GET",         [DAVD_ROUTE_HEAD] = "HEAD",
    [DAVD_ROUTE_LISTING] = "listing", [DAVD_ROUTE_PROPPATCH] = "PROPPATCH",
    [DAVD_ROUTE_REFUSED] = "refused", [DAVD_ROUTE_OTHER] = "other",
};

/* The placeholder's root, served while no snapshot exists: an empty collection. */
static const struct snap_node empty_root = {.id = SNAP_ROOT_ID, .type = SNAP_NODE_DIR};

/* Methods that would change something: refused on a read-only share. */
static const char *const write_methods[] = {
    "PUT",
    "DELETE",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "POST",
    "PATCH",
    "ACL",
    "BIND",
    "UNBIND",
    "REBIND",
    "MKCALENDAR",
    "MKWORKSPACE",
    "CHECKIN",
    "CHECKOUT",
    "UNCHECKOUT",
    "VERSION-CONTROL",
    "MKACTIVITY",
    "MERGE",
    "ORDERPATCH",
    "UPDATE",
    "LABEL",
};

static bool is_macos_probe(const char *path)
{
	const char *last = strrchr(path, '/');

	last = last ? last + 1 : path;
	return strncmp(last, "._", 2) == 0 || strcmp(last, ".DS_Store") == 0;
}

bool davd_error_node(const struct generation *g, struct snap_node *ret)
{
	if (!g->error_text)
		return false;
	*ret = (struct snap_node){.id = SNAP_ERROR_FILE_ID,
	                          .size = g->error_len,
	                          .mtime_ns = g->error_mtime_ns,
	                          .ctime_ns = g->error_mtime_ns,
	                          .type = SNAP_NODE_FILE};
	return true;
}

bool davd_is_hidden(const struct generation *g, const struct snapshot *s,
                    const struct snap_node *dir, const struct snap_node *child)
{
	return g->error_text && dir == snapshot_root(s) &&
	       strcmp(snapshot_str(s, child->name), ERROR_FILE_NAME) == 0;
}

int davd_resolve(struct davd *d, struct http_request *req, struct davd_target *t)
{
	const char *rest = http_path_below(req->url, d->base);
	size_t len;
	int r;

	/* Field by field: zeroing the whole target (4 KiB of path) cost every request. */
	t->gen = NULL;
	t->node = NULL;
	t->path[0] = '\0';
	t->trailing_slash = false;
	t->error_file = false;
	if (!rest)
		return -ENOENT;
	len = strlen(rest);
	t->trailing_slash = len > 0 && rest[len - 1] == '/';
	r = http_path_decode(rest, len, t->path, sizeof(t->path));
	if (r < 0)
		return r;
	if (is_macos_probe(t->path))
		return -ENOENT;
	t->gen = gen_store_get(d->gens);
	if (strcmp(t->path, "/" ERROR_FILE_NAME) == 0 && davd_error_node(t->gen, &t->virt)) {
		if (t->trailing_slash) {
			davd_target_done(t);
			return -ENOENT;
		}
		t->node = &t->virt;
		t->error_file = true;
		return 0;
	}
	if (!t->gen->snap) {
		if (strcmp(t->path, "/") == 0) {
			t->node = &empty_root;
			return 0;
		}
		r = -ENOENT;
	} else {
		r = snapshot_lookup_path(t->gen->snap, t->path, &t->node);
		if (r == -ENOENT) {
			char composed[sizeof(t->path)];
			int n = nfc_compose(t->path, strlen(t->path), composed, sizeof(composed));

			if (n > 0 && snapshot_lookup_path(t->gen->snap, composed, &t->node) == 0) {
				memcpy(t->path, composed, (size_t)n + 1);
				r = 0;
			}
		}
	}
	if (r == 0 && t->trailing_slash && !snapshot_node_is_dir(t->node))
		r = -ENOENT; /* "file/" names nothing */
	if (r < 0) {
		generation_put(t->gen);
		t->gen = NULL;
	}
	return r;
}

void davd_target_done(struct davd_target *t)
{
	generation_put(t->gen);
	t->gen = NULL;
}

enum MHD_Result davd_options(struct davd *d, struct http_request *req)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

	req->route = DAVD_ROUTE_OPTIONS;
	http_add_header(resp, "DAV", "1");
	http_add_header(resp, "MS-Author-Via", "DAV");
	http_add_header(resp, MHD_HTTP_HEADER_ALLOW, DAVD_ALLOW);
	http_add_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	return http_respond(req, 200, resp);
}

static enum MHD_Result redirect(struct davd *d, struct http_request *req)
{
	char location[512];
	struct MHD_Response *resp;

	snprintf(location, sizeof(location), "%s/", d->base);
	resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	http_add_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	return http_respond(req, 301, resp);
}

static bool is_method(const struct http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

enum MHD_Result davd_precheck(void *ctx, struct http_request *req)
{
	struct davd *d = ctx;
	const char *rest = http_path_below(req->url, d->base);
	enum MHD_Result r;

	req->route = DAVD_ROUTE_OTHER;
	if (is_method(req, "OPTIONS") &&
	    (rest || strcmp(req->url, "/") == 0 || strcmp(req->url, "*") == 0))
		return davd_options(d, req);
	r = http_require_auth(req, d->auth, "meta-fuse", NULL);
	if (r != HTTP_CONTINUE)
		return r;
	if (!rest) {
		if (strcmp(req->url, "/") == 0)
			return redirect(d, req);
		return http_respond_status(req, 404);
	}
	for (size_t i = 0; i < sizeof(write_methods) / sizeof(write_methods[0]); i++) {
		if (is_method(req, write_methods[i])) {
			req->route = DAVD_ROUTE_REFUSED;
			return http_respond_status_with(req, 405, MHD_HTTP_HEADER_ALLOW,
			                                DAVD_ALLOW);
		}
	}
	if (is_method(req, "GET") || is_method(req, "HEAD") || is_method(req, "PROPFIND") ||
	    is_method(req, "PROPPATCH"))
		return HTTP_CONTINUE;
	return http_respond_status_with(req, 405, MHD_HTTP_HEADER_ALLOW, DAVD_ALLOW);
}

enum MHD_Result davd_handle(void *ctx, struct http_request *req)
{
	struct davd *d = ctx;

	if (is_method(req, "PROPFIND"))
		return davd_propfind(d, req);
	if (is_method(req, "PROPPATCH"))
		return davd_proppatch(d, req);
	return davd_get(d, req);
}
