/*
 * http_server: libmicrohttpd set up once for every HTTP worker (see
 * http_server.h).  The access callback turns libmicrohttpd's repeated calls
 * (headers, body pieces, end of body) into one handler call per request.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http_metrics.h"
#include "http_status.h"
#include "log.h"
#include "path.h"

struct http_server {
	struct http_server_config cfg;
	struct MHD_Daemon *daemon;
	atomic_uint open;
	_Atomic int64_t trimmed_ns; /* the last malloc_trim(), CLOCK_MONOTONIC */
};

/* At most one malloc_trim() per this long, when the last connection closes. */
#define TRIM_INTERVAL_NS (1000 * 1000 * 1000LL)

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	if (req->data_free)
		req->data_free(req->data);
	free(req->body);
	free(req);
}

void http_add_header(struct MHD_Response *resp, const char *name, const char *value)
{
	if (resp)
		(void)MHD_add_response_header(resp, name, value);
}

bool http_is_head(const struct http_request *req)
{
	return strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
}

enum MHD_Result http_respond(struct http_request *req, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result r;

	if (!resp) {
		static const char text[] = "500 Internal Server Error\n";

		resp = MHD_create_response_from_buffer(sizeof(text) - 1, (void *)text,
		                                       MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		status = 500;
		req->bytes = sizeof(text) - 1;
	}
	r = MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	if (r == MHD_YES)
		req->status = status;
	return r;
}

enum MHD_Result http_respond_buffer(struct http_request *req, unsigned status,
                                    const char *content_type, const void *body, size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

	if (resp && content_type)
		http_add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	req->bytes = len;
	return http_respond(req, status, resp);
}

enum MHD_Result http_respond_status_with(struct http_request *req, unsigned status,
                                         const char *header, const char *value)
{
	char text[96];
	int n = snprintf(text, sizeof(text), "%u %s\n", status, http_status_reason(status));
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_COPY);

	http_add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (header)
		http_add_header(resp, header, value);
	req->bytes = (size_t)n;
	return http_respond(req, status, resp);
}

enum MHD_Result http_respond_status(struct http_request *req, unsigned status)
{
	return http_respond_status_with(req, status, NULL, NULL);
}

enum MHD_Result http_respond_errno(struct http_request *req, int r)
{
	return http_respond_status(req, http_status_of_errno(r));
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_arg(const struct http_request *req, const char *key, char *out, size_t cap)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
	char *plus;
	size_t len;
	int n;

	if (!v)
		return -ENOENT;
	len = strlen(v);
	plus = strndup(v, len);
	if (!plus)
		return -ENOMEM;
	for (char *p = plus; *p; p++)
		if (*p == '+')
			*p = ' ';
	n = path_percent_decode(plus, len, out, cap);
	free(plus);
	return n;
}

static const struct sockaddr *peer_addr(const struct http_request *req)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	return ci ? ci->client_addr : NULL;
}

void http_peer(const struct http_request *req, char *buf, size_t buflen)
{
	const struct sockaddr *sa = peer_addr(req);
	const void *a = NULL;

	if (sa && sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a || !inet_ntop(sa->sa_family, a, buf, (socklen_t)buflen))
		snprintf(buf, buflen, "?");
}

enum MHD_Result http_require_auth(struct http_request *req, struct auth *a, const char *realm,
                                  enum auth_result *ret_result)
{
	unsigned retry = 1;
	enum auth_result ar;
	char value[256];

	ar = auth_check(a, http_header(req, MHD_HTTP_HEADER_AUTHORIZATION), peer_addr(req),
	                mono_ns() / 1000000, &retry);
	if (ret_result)
		*ret_result = ar;
	if (ar == AUTH_OK)
		return HTTP_CONTINUE;
	if (ar == AUTH_SLOWED) {
		snprintf(value, sizeof(value), "%u", retry);
		return http_respond_status_with(req, 429, MHD_HTTP_HEADER_RETRY_AFTER, value);
	}
	snprintf(value, sizeof(value), "Basic realm=\"%s\", charset=\"UTF-8\"", realm);
	return http_respond_status_with(req, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, value);
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (cl && strcmp(cl, "0") != 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
	struct http_server *s = cls;
	struct http_request *req = *req_cls;
	size_t max = s->cfg.limits.max_body_bytes;

	if (!req) {
		const char *cl;
		enum MHD_Result r;

		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->conn = conn;
		req->method = method;
		req->url = url;
		req->start_ns = mono_ns();
		*req_cls = req;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > max) {
			req->body_too_large = true;
			return http_respond_status(req, 413);
		}
		/*
		 * A request with a body is checked now, before the body is read; one
		 * without is checked with it below, which keeps the connection open
		 * (an answer queued at the headers makes libmicrohttpd close it).
		 */
		req->early = s->cfg.precheck && has_body(conn);
		if (req->early) {
			r = s->cfg.precheck(s->cfg.ctx, req);
			if (r != HTTP_CONTINUE)
				return r;
		}
		return MHD_YES;
	}
	if (req->status) { /* answered while the body still arrives: drop the rest */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		char *p;

		*upload_size = 0;
		if (req->body_too_large || req->body_len + n > max) {
			/*
			 * libmicrohttpd takes no answer in the middle of a body: the rest is
			 * read and dropped, up to a bound, and answered 413 at its end; a
			 * sender of more than that is cut off.
			 */
			req->body_too_large = true;
			req->dropped += n;
			return req->dropped > HTTP_DROP_MAX ? MHD_NO : MHD_YES;
		}
		p = realloc(req->body, req->body_len + n + 1);
		if (!p)
			return http_respond_status(req, 503);
		memcpy(p + req->body_len, upload, n);
		req->body = p;
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->body_too_large)
		return http_respond_status(req, 413);
	if (s->cfg.precheck && !req->early) {
		enum MHD_Result r = s->cfg.precheck(s->cfg.ctx, req);

		if (r != HTTP_CONTINUE)
			return r;
	}
	return s->cfg.handler(s->cfg.ctx, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_request *req = *req_cls;

	if (!req)
		return;
	if (req->status)
		http_metrics_record(s->cfg.metrics, req->route, req->status, req->bytes,
		                    (uint64_t)(mono_ns() - req->start_ns) / 1000);
	request_free(req);
	*req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add(&s->open, 1);
		http_metrics_connection(s->cfg.metrics);
	} else if (atomic_fetch_sub(&s->open, 1) == 1) {
		int64_t now = mono_ns(), last = atomic_load(&s->trimmed_ns);

		/*
		 * The server went idle: hand what the threads' malloc arenas kept
		 * from the last burst (PROPFIND buffers, MHD's connection pools)
		 * back to the system, so idle memory is idle memory again.
		 */
		if (now - last >= TRIM_INTERVAL_NS &&
		    atomic_compare_exchange_strong(&s->trimmed_ns, &last, now))
			malloc_trim(0);
	}
}

/* Paths and arguments stay raw: http_path decodes a path exactly once. */
static size_t keep_raw(void *cls, struct MHD_Connection *conn, char *s)
{
	return strlen(s);
}

static void __attribute__((format(printf, 2, 0))) mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("libmicrohttpd: %s", line);
}

int http_server_start(const struct http_server_config *cfg, struct http_server **ret)
{
	struct http_server *s;
	struct MHD_OptionItem opts[16];
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	int n = 0;

	if (!cfg->handler || cfg->listen_fd < 0 || !cfg->tls_cert_pem != !cfg->tls_key_pem)
		return -EINVAL;
	if (cfg->tls_cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
	OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s); /* first, to catch every message */
	OPT(MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->limits.max_connections, NULL);
	OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->limits.max_per_address, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->limits.idle_timeout_s, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->limits.max_header_bytes, NULL);
	if (cfg->limits.threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->limits.threads, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, s);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, s);
	OPT(MHD_OPTION_UNESCAPE_CALLBACK, keep_raw, s);
	if (cfg->tls_cert_pem) {
		flags |= MHD_USE_TLS;
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cfg->tls_cert_pem);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_ARRAY, opts,
	                             MHD_OPTION_END);
	if (!s->daemon) {
		free(s);
		return cfg->tls_cert_pem ? -EINVAL : -EIO;
	}
	*ret = s;
	return 0;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon); /* closes the listening socket too */
	free(s);
}

unsigned http_server_connections(const struct http_server *s)
{
	return atomic_load(&s->open);
}
