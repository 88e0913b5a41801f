/*
 * listen: the listening sockets the supervisor binds for davd (webdav.listen)
 * and apid (api.listen) while it is still root, so a worker serves port 80
 * without any privilege.  They reach the worker through LISTEN_FDS (spawn.c).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

int listen_open(const struct config_listen *l, int *ret_fd)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[8];
	int fd = -1, r, one = 1;

	snprintf(port, sizeof(port), "%u", (unsigned)l->port);
	r = getaddrinfo(l->host, port, &hints, &res);
	if (r != 0) {
		log_errorx("cannot resolve \"%s\": %s", l->host, gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 512) < 0) {
		r = -errno;
		close(fd);
		fd = -1;
		goto out;
	}
	*ret_fd = fd;
	r = 0;
out:
	if (r < 0)
		log_errorx("cannot listen on %s:%s: %s", l->host, port, strerror(-r));
	freeaddrinfo(res);
	return r;
}
