/*
 * dashboard: the monitoring page at / and its two assets, built into the
 * binary from apid/dashboard/ (plain HTML, CSS and JavaScript; no build step,
 * no external URL), so a bare install serves them with nothing to find at run
 * time.  The same files are installed under /usr/share/meta-fuse/dashboard
 * for whoever wants to serve them elsewhere.  The page reads the JSON API
 * like any other client.
 */
#include <string.h>

#include "api.h"

extern const char dashboard_index_html[], dashboard_app_js[], dashboard_style_css[];
extern const size_t dashboard_index_html_len, dashboard_app_js_len, dashboard_style_css_len;

struct asset {
	const char *path;
	const char *type;
	const char *data;
	const size_t *len;
};

static const struct asset assets[] = {
    {"/", "text/html; charset=utf-8", dashboard_index_html, &dashboard_index_html_len},
    {"/index.html", "text/html; charset=utf-8", dashboard_index_html, &dashboard_index_html_len},
    {"/dashboard/app.js", "text/javascript; charset=utf-8", dashboard_app_js,
     &dashboard_app_js_len},
    {"/dashboard/style.css", "text/css; charset=utf-8", dashboard_style_css,
     &dashboard_style_css_len},
};

int api_dashboard(struct api_call *c)
{
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		if (strcmp(c->req->path, assets[i].path) != 0)
			continue;
		c->resp->status = 200;
		c->resp->content_type = assets[i].type;
		c->resp->body = (char *)assets[i].data;
		c->resp->len = *assets[i].len;
		c->resp->body_static = true;
		c->resp->cache_control = "no-cache";
		return 0;
	}
	return api_error(c, 404, "no such file: %s", c->req->path);
}
