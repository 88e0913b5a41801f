/*
 * http_listen: the listening socket of an HTTP worker.  Under the supervisor (or
 * systemd socket activation) it is passed in LISTEN_FDS and found by its name
 * (FileDescriptorName=, "webdav" or "api") through sd_listen_fds_with_names();
 * run alone, the worker binds the configured host:port itself (IPv4 or IPv6).
 * Nothing here logs: the caller reports where it listens and why it could not.
 */
#ifndef MF_HTTP_LISTEN_H
#define MF_HTTP_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

struct config_listen;

/*
 * A listening TCP socket: the passed descriptor named name if there is one (a
 * single unnamed passed socket counts as ours too), else a new socket bound to
 * listen (SO_REUSEADDR, IPV6_V6ONLY off for "::", backlog 1024).  The socket is
 * close-on-exec and non-blocking.  *ret_passed tells which (may be NULL).
 * Returns the descriptor or -errno (-EADDRINUSE, -EACCES, -EINVAL for a host
 * that is not an address).
 */
int http_listen(const char *name, const struct config_listen *where, bool *ret_passed);

/* "127.0.0.1:8080" / "[::1]:8080" of a bound socket; -errno. */
int http_listen_describe(int fd, char *buf, size_t buflen);

#endif
