/*
 * server: apid on the shared HTTP layer of lib/ (http_server.h): it turns each
 * struct http_request into an api_request for api_handle() and the
 * api_response back into a libmicrohttpd response, adds the Allow, CORS and
 * cache headers, checks Basic auth when api.username is set, and reports
 * every HTTP server's counters (runtime_dir/<server>.metrics) on /metrics.
 */
#ifndef MF_APID_SERVER_H
#define MF_APID_SERVER_H

struct api;
struct auth;
struct http_metrics;
struct http_server;

struct apid_server {
	struct api *api;
	struct auth *auth; /* NULL: no authentication */
	struct http_metrics *metrics;
	struct http_server *http;
};

/* Start serving api on listen_fd (which the server then owns); 0 or -errno. */
int apid_server_start(struct apid_server *srv, int listen_fd);
void apid_server_stop(struct apid_server *srv);

#endif
