/*
 * notify: the receiving side of the sd_notify protocol.
 *
 * One datagram socket in the abstract namespace (no file a worker could
 * replace); its name goes to the workers as NOTIFY_SOCKET.  SO_PASSCRED makes
 * the kernel attach the sender's pid to each message, and a message counts only
 * when that pid is a running worker's: anybody else who finds the socket is
 * ignored.  Understood: READY=1, STATUS=, WATCHDOG=1, WATCHDOG=trigger,
 * GENERATION= (kvwatch's new snapshot), STOPPING=1, and from apid
 * X_META_FUSE_REFRESH=1 (POST /api/fuse/refresh: SIGUSR2 to kvwatch, a full
 * resync; apid rate-limits it, and nobody else may ask).  Descriptors sent along
 * (FDSTORE) are closed: the supervisor keeps none.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

#define NOTIFY_MSG_MAX 4096

static void handle_line(struct worker *w, const char *line)
{
	log_debug("%s says \"%.80s\"", w->name, line); /* -v: what woke the supervisor */
	if (strcmp(line, "READY=1") == 0) {
		worker_ready(w);
	} else if (strcmp(line, "WATCHDOG=1") == 0) {
		worker_watchdog(w);
	} else if (strcmp(line, "WATCHDOG=trigger") == 0) {
		log_warnx("%s asked for its own watchdog kill", w->name);
		worker_signal(w, SIGKILL);
	} else if (strncmp(line, "STATUS=", 7) == 0) {
		if (strcmp(w->status, line + 7) != 0) {
			snprintf(w->status, sizeof(w->status), "%s", line + 7);
			status_changed(w->sup);
		}
	} else if (strcmp(line, "X_META_FUSE_REFRESH=1") == 0 && w->role &&
	           (w->role->flags & ROLE_API_FD)) {
		struct worker *kv = sup_find_worker(w->sup, "kvwatch");

		if (kv && kv->pid > 0) {
			log_info("%s asked for a full resync", w->name);
			worker_signal(kv, SIGUSR2);
		}
	} else if (strncmp(line, "GENERATION=", 11) == 0 && w->role &&
	           (w->role->flags & ROLE_WRITER)) {
		char *end;
		unsigned long long g;

		errno = 0;
		g = strtoull(line + 11, &end, 10);
		if (errno == 0 && end != line + 11 && *end == '\0')
			sup_new_generation(w->sup, g);
	}
}

static int on_notify(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct supervisor *s = userdata;
	char buf[NOTIFY_MSG_MAX + 1];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = NOTIFY_MSG_MAX};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
	const struct ucred *cred = NULL;
	struct worker *w;
	ssize_t n;

	n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	if (n < 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(*cred))) {
			cred = (const struct ucred *)(void *)CMSG_DATA(c);
		} else if (c->cmsg_type == SCM_RIGHTS) {
			const int *fds = (const int *)(void *)CMSG_DATA(c);
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++)
				close(fds[i]);
		}
	}
	if (!cred || !(w = sup_find_pid(s, cred->pid))) {
		log_debug("notify message from pid %d, not a worker: ignored",
		          cred ? (int)cred->pid : -1);
		return 0;
	}
	if ((size_t)n > NOTIFY_MSG_MAX || (m.msg_flags & MSG_TRUNC)) {
		log_warnx("%s: notify message longer than %d bytes, ignoring", w->name,
		          NOTIFY_MSG_MAX);
		return 0;
	}
	buf[n] = '\0';
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		handle_line(w, line);
	return 0;
}

int notify_open(struct supervisor *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	uint64_t rnd = 0;
	int fd, one = 1, r;
	size_t len;

	(void)!getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
	snprintf(s->notify_socket, sizeof(s->notify_socket), "@meta-fuse/%d/%016" PRIx64,
	         (int)getpid(), rnd);
	len = strlen(s->notify_socket);
	memcpy(sa.sun_path, s->notify_socket, len);
	sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa,
	         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = sd_event_add_io(s->event, NULL, fd, EPOLLIN, on_notify, s);
	if (r < 0) {
		close(fd);
		return r;
	}
	s->notify_fd = fd;
	return 0;
}
