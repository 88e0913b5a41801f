/*
 * listing: GET (and HEAD) of a collection, as an HTML page a person can browse
 * on a desktop or a phone: a parent link, the entries in the snapshot's order
 * (sorted by name; collections first), each with a working link, its size and
 * its date.  Every name goes through buf_add_escaped() for the text and
 * through percent-encoding for the link.  A collection named without its
 * trailing '/' is redirected to it, so that relative links resolve the same
 * way in every browser.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "davd.h"
#include "error_file.h"
#include "generation.h"
#include "props.h"
#include "snapshot.h"

static void human_size(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void entry(struct buf *b, const char *name, const struct snap_node *c)
{
	size_t len = strlen(name);
	bool dir = snapshot_node_is_dir(c);
	char size[32], date[DAVD_DATE_MAX];

	props_iso_date(c->mtime_ns, date);
	date[10] = ' '; /* "2024-01-02 10:11:12Z" */
	if (dir)
		snprintf(size, sizeof(size), "%u item%s", c->child_count,
		         c->child_count == 1 ? "" : "s");
	else
		human_size(c->size, size, sizeof(size));
	buf_adds(b, "<tr><td><a href=\"");
	buf_add_encoded(b, name, len);
	if (dir)
		buf_adds(b, "/");
	buf_adds(b, "\">");
	buf_add_escaped(b, name, len);
	if (dir)
		buf_adds(b, "/");
	buf_printf(b, "</a></td><td class=\"n\">%s</td><td>%s</td></tr>\n", size, date);
}

enum MHD_Result davd_listing(struct davd *d, struct http_request *req, struct davd_target *t)
{
	const struct snapshot *s = t->gen->snap;
	const struct snap_node *children = NULL;
	uint32_t count = 0, shown = 0;
	struct snap_node err_node;
	struct buf b = {0};
	enum MHD_Result ret;

	req->route = DAVD_ROUTE_LISTING;
	if (!t->trailing_slash && strcmp(t->path, "/") != 0) {
		struct MHD_Response *resp;

		buf_adds(&b, d->base);
		buf_add_encoded(&b, t->path, strlen(t->path));
		buf_adds(&b, "/");
		davd_target_done(t);
		if (b.failed) {
			buf_free(&b);
			return http_respond_status(req, 503);
		}
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		http_add_header(resp, MHD_HTTP_HEADER_LOCATION, b.p);
		buf_free(&b);
		return http_respond(req, 301, resp);
	}
	if (s)
		children = snapshot_children(s, t->node, &count);
	buf_adds(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	             "<title>");
	buf_add_escaped(&b, t->path, strlen(t->path));
	buf_adds(&b, "</title><style>"
	             "body{font-family:system-ui,sans-serif;margin:1em;max-width:60em}"
	             "table{border-collapse:collapse;width:100%}"
	             "td{padding:.35em .5em;border-bottom:1px solid #ddd;word-break:break-word}"
	             "td.n{text-align:right;white-space:nowrap}a{text-decoration:none}"
	             "</style></head><body><h1>");
	buf_add_escaped(&b, t->path, strlen(t->path));
	buf_adds(&b, "</h1><table>\n");
	if (strcmp(t->path, "/") != 0)
		buf_adds(&b, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
	/* Collections first, each group in the snapshot's (name) order. */
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < count; i++) {
			if (snapshot_node_is_dir(&children[i]) != (pass == 0) ||
			    davd_is_hidden(t->gen, s, t->node, &children[i]))
				continue;
			entry(&b, snapshot_str(s, children[i].name), &children[i]);
			shown++;
		}
	}
	if (strcmp(t->path, "/") == 0 && davd_error_node(t->gen, &err_node)) {
		entry(&b, ERROR_FILE_NAME, &err_node);
		shown++;
	}
	buf_printf(&b, "</table><p>%u entr%s</p></body></html>\n", shown, shown == 1 ? "y" : "ies");
	davd_target_done(t);
	ret = b.failed ? http_respond_status(req, 503)
	               : http_respond_buffer(req, 200, "text/html; charset=utf-8", b.p, b.len);
	buf_free(&b);
	return ret;
}
