/*
 * http_server: the libmicrohttpd daemon of an HTTP worker (davd, apid) with the
 * limits, TLS, request bookkeeping and metrics they share.
 *
 * The daemon runs its own threads (epoll, a pool of limits.threads) on a socket
 * from http_listen().  Paths reach the handler raw (libmicrohttpd is told not
 * to unescape them), for http_path to decode exactly once; query arguments
 * arrive raw as well (http_arg() decodes one).  Each request gets a struct
 * http_request: the handler is called once, with the whole body in memory
 * (at most limits.max_body bytes: beyond, 413 at once when Content-Length says so,
 * else once the rest is read and dropped, up to HTTP_DROP_MAX, then cut); an
 * optional precheck may answer it first (authentication, methods refused):
 * at the headers, before any body is read, for a request that has a body,
 * and just before the handler for one without (so that its connection stays
 * open, which an answer at the headers would end).  Every answer goes
 * through http_respond*(), which records its status; when the request ends,
 * its route, status, body size and latency go to the metrics.
 *
 * Limits every client quantity: connections in total and per address, the
 * memory of one connection (request line and headers; beyond it libmicrohttpd
 * answers 431/414), the body, and an idle timeout that ends slow and silent
 * clients.  Nothing here logs above debug but libmicrohttpd's own errors.
 */
#ifndef MF_HTTP_SERVER_H
#define MF_HTTP_SERVER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct http_metrics;

struct http_limits {
	unsigned max_connections; /* in total */
	unsigned max_per_address; /* from one client address */
	unsigned idle_timeout_s;  /* a connection silent this long is closed */
	size_t max_header_bytes;  /* memory of one connection: request line + headers */
	size_t max_body_bytes;    /* a request body beyond this: 413 */
	unsigned threads;         /* worker threads */
};

#define HTTP_LIMITS_DEFAULT                                  \
	((struct http_limits){.max_connections = 2048,       \
	                      .max_per_address = 256,        \
	                      .idle_timeout_s = 60,          \
	                      .max_header_bytes = 16 * 1024, \
	                      .max_body_bytes = 64 * 1024,   \
	                      .threads = 4})

/* A body over the limit without a Content-Length is read and dropped up to this, then cut. */
#define HTTP_DROP_MAX (4u * 1024 * 1024)

struct http_server;

/* One request, owned by the server from its first byte to its completion. */
struct http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *url;  /* raw: not percent-decoded, without the query */
	int64_t start_ns; /* CLOCK_MONOTONIC */
	unsigned route;   /* index into the metrics routes, set by the handler */
	unsigned status;  /* the answer queued, 0 until then */
	uint64_t bytes;   /* the answer's body size, for the metrics */

	char *body; /* NUL-terminated; NULL when the request had none */
	size_t body_len;
	bool body_too_large;
	uint64_t dropped; /* body bytes read and dropped after the limit */
	bool early;       /* the precheck ran at the headers (the request has a body) */

	void *data; /* the handler's own state, freed with data_free when the request ends */
	void (*data_free)(void *data);
};

/*
 * The handler answers req with http_respond*() and returns what that returned
 * (MHD_NO closes the connection).
 */
typedef enum MHD_Result (*http_handler_fn)(void *ctx, struct http_request *req);
/*
 * The precheck (see above): answers (and returns the result) or returns
 * HTTP_CONTINUE to have the body read and the handler called.
 */
#define HTTP_CONTINUE ((enum MHD_Result)2)

struct http_server_config {
	int listen_fd; /* from http_listen(); the server owns it afterwards */
	struct http_limits limits;
	const char *tls_cert_pem; /* both or neither: PEM text, not paths */
	const char *tls_key_pem;
	http_handler_fn precheck; /* may be NULL */
	http_handler_fn handler;
	void *ctx;
	struct http_metrics *metrics; /* may be NULL; borrowed, outlives the server */
};

/* Start the daemon.  Returns 0, -EINVAL (bad TLS material), -ENOMEM, -EIO. */
int http_server_start(const struct http_server_config *cfg, struct http_server **ret);
/* Stop accepting, end every connection, join the threads, close the socket. */
void http_server_stop(struct http_server *s);
/* Connections open now. */
unsigned http_server_connections(const struct http_server *s);

/* A request header (case-insensitive name), NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);

/*
 * The query argument key, percent-decoded once ('+' is a space) into out; -ENOENT
 * when absent, -EINVAL for a bad escape or a NUL, -ENAMETOOLONG.  Returns the length.
 */
int http_arg(const struct http_request *req, const char *key, char *out, size_t cap);

/* The client's address as text ("127.0.0.1", "::1"); "?" when unknown. */
void http_peer(const struct http_request *req, char *buf, size_t buflen);

/* Queue resp with status and drop our reference to it (resp NULL: 500, -ENOMEM). */
enum MHD_Result http_respond(struct http_request *req, unsigned status, struct MHD_Response *resp);
/* A copied body with a Content-Type. */
enum MHD_Result http_respond_buffer(struct http_request *req, unsigned status,
                                    const char *content_type, const void *body, size_t len);
/* "404 Not Found\n" as text/plain (HEAD: the same headers, no body). */
enum MHD_Result http_respond_status_with(struct http_request *req, unsigned status,
                                         const char *header, const char *value);
/* The same without an extra header. */
enum MHD_Result http_respond_status(struct http_request *req, unsigned status);
/* The status of -errno r (http_status.h) as http_respond_status(). */
enum MHD_Result http_respond_errno(struct http_request *req, int r);

/*
 * Check the request's Basic credentials (auth.h) and answer it when they do not
 * pass: 401 with WWW-Authenticate (realm) for AUTH_MISSING/AUTH_WRONG, 429 with
 * Retry-After for AUTH_SLOWED.  Returns HTTP_CONTINUE when the request may go
 * on, else the result of the answer.  ret_result (may be NULL) gets the verdict.
 */
enum MHD_Result http_require_auth(struct http_request *req, struct auth *a, const char *realm,
                                  enum auth_result *ret_result);

/* A header on a response, dropping it on failure (resp NULL is allowed). */
void http_add_header(struct MHD_Response *resp, const char *name, const char *value);

/* Whether the request is HEAD. */
bool http_is_head(const struct http_request *req);

#endif
