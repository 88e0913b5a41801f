/*
 * daemon: notify, passed sockets and the watchdog period (see daemon.h).
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* More passed descriptors than this is a garbled environment, not a service. */
#define LISTEN_FDS_MAX 1024

/* A decimal number of the whole string s, at most max; -EINVAL otherwise. */
static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Whether the variable name holds this process's pid (a protocol's addressee check). */
static int names_me(const char *name)
{
	uint64_t pid;
	int r = parse_u64(getenv(name), INT_MAX, &pid);

	return r < 0 ? r : (pid_t)pid == getpid();
}

int daemon_notify(const char *state)
{
	const char *where = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len, slen = strlen(state);
	socklen_t salen;
	ssize_t n;
	int fd, r;

	if (where == NULL || *where == '\0')
		return 0;
	len = strlen(where);
	if ((where[0] != '/' && where[0] != '@') || len < 2 || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, where, len);
	if (where[0] == '@')
		sa.sun_path[0] = '\0'; /* the abstract namespace: no terminating NUL either */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (where[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, slen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	r = n < 0 ? -errno : 1;
	close(fd);
	return r;
}

int daemon_notifyf(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return daemon_notify(buf); /* a longer line is cut: STATUS= text only */
}

void daemon_free_names(char **names)
{
	if (names == NULL)
		return;
	for (char **p = names; *p != NULL; p++)
		free(*p);
	free(names);
}

/* "a:b:c" split into count strings; -EINVAL when it holds another number of names. */
static int split_names(const char *list, int count, char ***ret)
{
	char **names = calloc((size_t)count + 1, sizeof(*names));
	const char *p = list;

	if (names == NULL)
		return -ENOMEM;
	for (int i = 0; i < count; i++) {
		const char *colon = strchr(p, ':');
		size_t len = colon != NULL ? (size_t)(colon - p) : strlen(p);

		if ((colon == NULL) != (i == count - 1)) {
			daemon_free_names(names);
			return -EINVAL;
		}
		names[i] = strndup(p, len);
		if (names[i] == NULL) {
			daemon_free_names(names);
			return -ENOMEM;
		}
		p += len + 1;
	}
	*ret = names;
	return 0;
}

static void unset_listen_env(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

int daemon_listen_fds(char ***ret_names)
{
	const char *list = getenv("LISTEN_FDNAMES");
	char **names = NULL;
	uint64_t count;
	int r;

	*ret_names = NULL;
	/* Not set, or for another process: nothing passed; garbage: a refusal. */
	r = getenv("LISTEN_PID") == NULL ? 0 : names_me("LISTEN_PID");
	if (r <= 0)
		goto out;
	r = parse_u64(getenv("LISTEN_FDS"), LISTEN_FDS_MAX, &count);
	if (r < 0 || count == 0)
		goto out;
	if (list != NULL) {
		r = split_names(list, (int)count, &names);
		if (r < 0)
			goto out;
	}
	for (int fd = DAEMON_LISTEN_FDS_START; fd < DAEMON_LISTEN_FDS_START + (int)count; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			r = -errno; /* a descriptor said passed that is not there */
			daemon_free_names(names);
			goto out;
		}
	*ret_names = names;
	r = (int)count;
out:
	unset_listen_env();
	return r;
}

bool daemon_is_stream_listener(int fd)
{
	int type = 0, listening = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(listening);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l2) == 0 && listening;
}

int daemon_watchdog_usec(uint64_t *ret_usec)
{
	uint64_t usec;
	int r;

	if (getenv("WATCHDOG_USEC") == NULL)
		return 0;
	if (getenv("WATCHDOG_PID") != NULL) {
		r = names_me("WATCHDOG_PID");
		if (r <= 0)
			return r;
	}
	r = parse_u64(getenv("WATCHDOG_USEC"), UINT64_MAX - 1, &usec);
	if (r < 0 || usec == 0)
		return r < 0 ? r : -EINVAL;
	*ret_usec = usec;
	return 1;
}
