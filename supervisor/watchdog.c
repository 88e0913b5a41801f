/*
 * watchdog: the supervisor's side of each worker's watchdog, one timerfd per
 * run of a worker that speaks sd_notify.
 *
 * The timer's expiry is the worker's deadline: 90 s (or the watchdog period, if
 * longer) from its start until READY, then one watchdog period.  The worker gets
 * the same timerfd ($META_FUSE_WATCHDOG_FD, see lib/watchdog.h) and pushes the
 * deadline ahead itself with timerfd_settime(); that wakes nobody, so an idle
 * supervisor with a watchdog on sleeps until a worker hangs.  A WATCHDOG=1 that
 * still arrives on the notify socket (a worker that does not use the
 * descriptor) pushes the same deadline.  The worker could also push it far
 * ahead and so switch its own watchdog off; it could as well keep pinging, so
 * this gives it nothing it did not have.  On expiry the worker's process group
 * gets SIGKILL and the restart policy of run.c takes over.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

static int on_expired(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct worker *w = userdata;
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	if (w->pid <= 0)
		return 0;
	log_warnx("%s (pid %d): no watchdog ping within %.1f s, killing it", w->name, (int)w->pid,
	          (double)w->watchdog_period_usec / 1e6);
	w->watchdog_fired = true;
	worker_signal(w, SIGKILL);
	return 0;
}

int worker_watchdog_open(struct worker *w, uint64_t first_usec)
{
	int fd, r;

	worker_watchdog_close(w);
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = sd_event_add_io(w->sup->event, &w->watchdog_source, fd, EPOLLIN, on_expired, w);
	if (r < 0) {
		close(fd);
		return r;
	}
	w->watchdog_fd = fd;
	worker_watchdog_set(w, first_usec);
	return 0;
}

void worker_watchdog_set(struct worker *w, uint64_t usec)
{
	struct itimerspec its = {.it_value = {.tv_sec = (time_t)(usec / 1000000),
	                                      .tv_nsec = (long)(usec % 1000000) * 1000}};

	if (w->watchdog_fd < 0)
		return;
	w->watchdog_period_usec = usec;
	if (timerfd_settime(w->watchdog_fd, 0, &its, NULL) < 0)
		log_warn("%s: arming its watchdog", w->name);
}

void worker_watchdog_close(struct worker *w)
{
	w->watchdog_source = sd_event_source_disable_unref(w->watchdog_source);
	if (w->watchdog_fd >= 0)
		close(w->watchdog_fd);
	w->watchdog_fd = -1;
}
