/*
 * http_listen: find the passed socket or bind one (see http_listen.h).
 */
#include "http_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

#define LISTEN_BACKLOG 1024

static int passed_socket(const char *name)
{
	char **names = NULL;
	int n, fd = -ENOENT;

	/* The environment is cleared: children must not think they were passed them. */
	n = daemon_listen_fds(&names);
	if (n < 0)
		log_warnx("passed sockets: LISTEN_PID, LISTEN_FDS or LISTEN_FDNAMES malformed, "
		          "binding the configured address");
	if (n <= 0)
		return -ENOENT;
	for (int i = 0; i < n; i++) {
		int cand = DAEMON_LISTEN_FDS_START + i;
		bool named = names && names[i] && strcmp(names[i], name) == 0;
		bool lone = n == 1 && (!names || !names[i] || strcmp(names[i], "unknown") == 0);

		if (fd < 0 && (named || lone) && daemon_is_stream_listener(cand))
			fd = cand;
		else
			close(cand); /* not ours: nobody else in this process takes it */
	}
	daemon_free_names(names);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	return fd;
}

static int bind_socket(const struct config_listen *where)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai = NULL;
	char port[8];
	int fd, one = 1, zero = 0, r;

	snprintf(port, sizeof(port), "%u", where->port);
	r = getaddrinfo(where->host && *where->host ? where->host : NULL, port, &hints, &ai);
	if (r != 0)
		return r == EAI_MEMORY ? -ENOMEM : -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	return fd;
}

int http_listen(const char *name, const struct config_listen *where,
                enum http_listen_origin *ret_origin)
{
	int fd = passed_socket(name);
	const char *super;

	if (fd < 0) {
		fd = bind_socket(where);
		if (fd >= 0 && ret_origin)
			*ret_origin = HTTP_LISTEN_BOUND;
		return fd;
	}
	/* LISTEN_PID named us (daemon_listen_fds checks it); the supervisor says it is the one. */
	super = getenv("META_FUSE_SUPERVISOR");
	if (ret_origin)
		*ret_origin = super && strcmp(super, "1") == 0 ? HTTP_LISTEN_SUPERVISOR
		                                               : HTTP_LISTEN_SERVICE_MANAGER;
	return fd;
}

const char *http_listen_origin_to_string(enum http_listen_origin origin)
{
	static const char *const names[HTTP_LISTEN_ORIGIN_MAX] = {
	    [HTTP_LISTEN_BOUND] = "bound to the configured address",
	    [HTTP_LISTEN_SUPERVISOR] = "passed by the supervisor",
	    [HTTP_LISTEN_SERVICE_MANAGER] = "passed by the service manager",
	};

	return (unsigned)origin < HTTP_LISTEN_ORIGIN_MAX ? names[origin] : "of unknown origin";
}

int http_listen_describe(int fd, char *buf, size_t buflen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int n;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		n = snprintf(buf, buflen, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, buflen, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	return n < 0 || (size_t)n >= buflen ? -ENOSPC : n;
}
