/*
 * http_listen: the listening socket of an HTTP worker.  Under the supervisor (or
 * systemd socket activation) it is passed in LISTEN_FDS and found by its name
 * (FileDescriptorName=, "webdav" or "api") through sd_listen_fds_with_names();
 * run alone, the worker binds the configured host:port itself (IPv4 or IPv6).
 * Who passed a socket is told apart for the log: the meta-fuse supervisor sets
 * META_FUSE_SUPERVISOR=1 in its workers' environment, any other service manager
 * (systemd socket activation) does not.
 * Nothing here logs: the caller reports where it listens and why it could not.
 */
#ifndef MF_HTTP_LISTEN_H
#define MF_HTTP_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

struct config_listen;

/* Where the listening socket came from. */
enum http_listen_origin {
	HTTP_LISTEN_BOUND,           /* bound here to the configured address */
	HTTP_LISTEN_SUPERVISOR,      /* LISTEN_FDS from meta-fuse's supervisor */
	HTTP_LISTEN_SERVICE_MANAGER, /* LISTEN_FDS from another (systemd's sockets) */
	HTTP_LISTEN_ORIGIN_MAX,
};

/*
 * A listening TCP socket: the passed descriptor named name if there is one (a
 * single unnamed passed socket counts as ours too), else a new socket bound to
 * listen (SO_REUSEADDR, IPV6_V6ONLY off for "::", backlog 1024).  The socket is
 * close-on-exec and non-blocking.  *ret_origin tells which (may be NULL).
 * Returns the descriptor or -errno (-EADDRINUSE, -EACCES, -EINVAL for a host
 * that is not an address).
 */
int http_listen(const char *name, const struct config_listen *where,
                enum http_listen_origin *ret_origin);

/*
 * For the start-up line: "bound to the configured address", "passed by the
 * supervisor", "passed by the service manager".
 */
const char *http_listen_origin_to_string(enum http_listen_origin origin);

/* "127.0.0.1:8080" / "[::1]:8080" of a bound socket; -errno. */
int http_listen_describe(int fd, char *buf, size_t buflen);

#endif
