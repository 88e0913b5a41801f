/*
 * control: control.sock in the runtime directory, the supervisor's end of
 * `meta-fuse status|restart|reload|refresh|confirm-removals|stop` (ctl.c is the
 * other end).
 *
 * A SOCK_SEQPACKET socket, mode 0600: one request per connection, one message
 * each way.  Request: the command and its argument, "restart fused".  Reply:
 * one status character ('0' done, '1' refused: bad configuration or usage,
 * '2' failed), a newline and the text to print (JSON for status).  Only root
 * may ask: the peer's credentials are checked on every connection, and anybody
 * else gets a refusal that says so.  At most CLIENTS_MAX connections wait for
 * their request at a time; a new one beyond that drops the oldest.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

#define REQUEST_MAX 256
#define CLIENTS_MAX 32 /* connections waiting for their request */

/* The connections waiting for their request, oldest first. */
static sd_event_source *waiting[CLIENTS_MAX];
static unsigned clients;

static void forget(sd_event_source *src)
{
	for (unsigned i = 0; i < clients; i++) {
		if (waiting[i] != src)
			continue;
		memmove(&waiting[i], &waiting[i + 1], (clients - i - 1) * sizeof(waiting[0]));
		clients--;
		return;
	}
}

static void drop(sd_event_source *src)
{
	int fd = sd_event_source_get_io_fd(src);

	forget(src);
	sd_event_source_disable_unref(src);
	close(fd);
}

static void reply(int fd, char code, const char *text)
{
	size_t len = strlen(text);
	char *msg = malloc(len + 2);

	if (!msg)
		return;
	msg[0] = code;
	msg[1] = '\n';
	memcpy(msg + 2, text, len);
	(void)send(fd, msg, len + 2, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(msg);
}

static int signal_kvwatch(struct supervisor *s, int sig, char *msg, size_t msglen)
{
	struct worker *w = sup_find_worker(s, "kvwatch");

	if (!w || w->pid <= 0) {
		snprintf(msg, msglen, "kvwatch is not running (%s)",
		         w ? worker_state_name(w->state) : "unknown");
		return -ESRCH;
	}
	worker_signal(w, sig);
	return 0;
}

static void handle(struct supervisor *s, int fd, char *req)
{
	char msg[1024] = "";
	char *arg = strchr(req, ' ');
	int r;

	if (arg)
		*arg++ = '\0';
	if (strcmp(req, "status") == 0 && !arg) {
		char *json = status_json(s, true);

		reply(fd, json ? '0' : '2', json ? json : "out of memory");
		free(json);
		return;
	}
	if (strcmp(req, "restart") == 0 && arg) {
		r = sup_restart_by_hand(s, arg, msg, sizeof(msg));
		reply(fd, r == 0 ? '0' : r == -ENOENT ? '1' : '2', msg);
	} else if (strcmp(req, "reload") == 0 && !arg) {
		r = reload_config(s, msg, sizeof(msg));
		reply(fd, r == 0 ? '0' : r == -EINVAL ? '1' : '2', msg);
	} else if (strcmp(req, "refresh") == 0 && !arg) {
		/* kvwatch's SIGUSR2: a full load, whatever the fingerprint says. */
		r = signal_kvwatch(s, SIGUSR2, msg, sizeof(msg));
		if (r == 0)
			snprintf(msg, sizeof(msg), "kvwatch: a full resync was asked for");
		reply(fd, r == 0 ? '0' : '2', msg);
	} else if (strcmp(req, "confirm-removals") == 0 && !arg) {
		r = signal_kvwatch(s, SIGUSR1, msg, sizeof(msg));
		if (r == 0)
			snprintf(msg, sizeof(msg),
			         "kvwatch: held removals confirmed (applied if any were held)");
		reply(fd, r == 0 ? '0' : '2', msg);
	} else if (strcmp(req, "stop") == 0 && !arg) {
		reply(fd, '0', "stopping");
		sup_shutdown(s);
	} else {
		reply(fd, '1', "unknown request");
	}
	if (msg[0])
		log_info("control: %s%s%s: %s", req, arg ? " " : "", arg ? arg : "", msg);
}

static int on_request(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct supervisor *s = userdata;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char req[REQUEST_MAX + 1];
	ssize_t n;

	n = recv(fd, req, REQUEST_MAX, MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		char text[128];

		snprintf(text, sizeof(text),
		         "control.sock is for root only; uid %u may not control meta-fuse",
		         (unsigned)cred.uid);
		reply(fd, '1', text);
	} else if (n > 0) {
		req[n] = '\0';
		req[strcspn(req, "\n")] = '\0';
		handle(s, fd, req);
	}
	drop(src);
	return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct supervisor *s = userdata;
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	sd_event_source *conn;

	if (c < 0)
		return 0;
	/* Clients that connect and never ask cannot pile up: the oldest goes. */
	if (clients >= CLIENTS_MAX) {
		log_warnx("control: %d connections wait for their request; dropping the oldest",
		          CLIENTS_MAX);
		drop(waiting[0]);
	}
	if (sd_event_add_io(s->event, &conn, c, EPOLLIN, on_request, s) < 0) {
		close(c);
		return 0;
	}
	waiting[clients++] = conn;
	return 0;
}

int control_open(struct supervisor *s)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock",
	                     s->cfg->runtime_dir) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = sd_event_add_io(s->event, NULL, fd, EPOLLIN, on_accept, s);
	if (r < 0) {
		close(fd);
		return r;
	}
	s->control_fd = fd;
	return 0;
}
