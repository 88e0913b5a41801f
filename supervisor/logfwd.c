/*
 * logfwd: a worker's stdout and stderr reach the supervisor's stderr through one
 * pipe per worker, line by line.
 *
 * Each complete line is written with one write(2), so lines of different
 * workers never interleave.  The journald priority prefix ("<3>") stays in
 * front; the worker's name follows it unless the line already starts with it
 * (the suite's own workers name themselves).  A line longer than LOG_LINE_MAX
 * is cut there and marked, the rest of it dropped; a NUL byte becomes '?'.  A worker that floods is
 * read one bounded chunk per loop iteration, so it cannot starve the others or
 * the supervisor's own events; its pipe fills and it waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

#define CHUNK    65536
#define CUT_MARK " [line cut]"

static void emit(struct worker *w, const char *line, size_t len, bool cut)
{
	char out[LOG_LINE_MAX + WORKER_NAME_MAX + 32];
	size_t n = 0, name_len = strlen(w->name);

	if (len >= 3 && line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>') {
		memcpy(out, line, 3);
		n = 3;
		line += 3;
		len -= 3;
	}
	if (!(len > name_len && memcmp(line, w->name, name_len) == 0 && line[name_len] == ':')) {
		memcpy(out + n, w->name, name_len);
		n += name_len;
		out[n++] = ':';
		out[n++] = ' ';
	}
	/* A NUL would end the line for many readers of the log. */
	for (size_t i = 0; i < len; i++)
		out[n++] = line[i] ? line[i] : '?';
	if (cut) {
		memcpy(out + n, CUT_MARK, sizeof(CUT_MARK) - 1);
		n += sizeof(CUT_MARK) - 1;
	}
	out[n++] = '\n';
	(void)!write(STDERR_FILENO, out, n);
}

static void take(struct worker *w, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t part = nl ? (size_t)(nl - data) : len;

		if (w->log_skipping) {
			if (nl)
				w->log_skipping = false;
		} else if (w->log_len + part < LOG_LINE_MAX) {
			memcpy(w->log_buf + w->log_len, data, part);
			w->log_len += part;
			if (nl) {
				emit(w, w->log_buf, w->log_len, false);
				w->log_len = 0;
			}
		} else {
			size_t room = LOG_LINE_MAX - w->log_len;

			memcpy(w->log_buf + w->log_len, data, room);
			emit(w, w->log_buf, LOG_LINE_MAX, true);
			w->log_len = 0;
			w->log_skipping = !nl;
		}
		if (!nl)
			break;
		len -= part + 1;
		data = nl + 1;
	}
}

void logfwd_flush(struct worker *w)
{
	if (w->log_len > 0 && !w->log_skipping)
		emit(w, w->log_buf, w->log_len, false);
	w->log_len = 0;
	w->log_skipping = false;
}

static char chunk[CHUNK];

static void detach(struct worker *w)
{
	ssize_t n;

	/* What the previous run wrote and nobody read yet still goes out. */
	while (w->log_fd >= 0 && (n = read(w->log_fd, chunk, sizeof(chunk))) > 0)
		take(w, chunk, (size_t)n);
	logfwd_flush(w);
	w->log_source = sd_event_source_disable_unref(w->log_source);
	if (w->log_fd >= 0)
		close(w->log_fd);
	w->log_fd = -1;
}

static int on_log(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct worker *w = userdata;
	ssize_t n = read(fd, chunk, sizeof(chunk));

	if (n > 0) {
		take(w, chunk, (size_t)n);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	detach(w); /* EOF: the worker and whatever inherited its stderr are gone */
	return 0;
}

int logfwd_attach(struct worker *w, int fd)
{
	int r;

	if (w->log_source)
		detach(w);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	r = sd_event_add_io(w->sup->event, &w->log_source, fd, EPOLLIN, on_log, w);
	if (r < 0)
		return r;
	w->log_fd = fd;
	w->log_len = 0;
	w->log_skipping = false;
	return 0;
}
