/*
 * watchdog: the worker's side of the supervisor's watchdog descriptor (see
 * watchdog.h and docs/supervisor.md).  The descriptor and its period come from
 * the environment once; a value that is not a number, a descriptor that is not
 * an open timerfd or a period out of range (below 1 ms, above a day) means "no
 * descriptor", and the worker pings as it would under systemd.  The descriptor
 * is marked close-on-exec at once, so no child of the worker (a hook of kvwatch)
 * inherits it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/timerfd.h>

#include "daemon.h"
#include "watchdog.h"

#define WATCHDOG_USEC_MIN 1000ULL /* half of it between pings: no busy loop */
#define WATCHDOG_USEC_MAX (86400ULL * 1000000ULL)
#define WATCHDOG_FD_MAX   1024

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int wd_fd = -1;
static uint64_t wd_usec;

int watchdog_parse(const char *fd_s, const char *usec_s, int *ret_fd, uint64_t *ret_usec)
{
	unsigned long long usec;
	char *end;
	long fd;

	if (!fd_s || !usec_s || *fd_s < '0' || *fd_s > '9' || *usec_s < '0' || *usec_s > '9')
		return -EINVAL;
	errno = 0;
	fd = strtol(fd_s, &end, 10);
	if (errno || *end || fd < 3 || fd > WATCHDOG_FD_MAX)
		return -EINVAL;
	usec = strtoull(usec_s, &end, 10);
	if (errno || *end || usec < WATCHDOG_USEC_MIN || usec > WATCHDOG_USEC_MAX)
		return -EINVAL;
	*ret_fd = (int)fd;
	*ret_usec = usec;
	return 0;
}

static void from_env(void)
{
	uint64_t usec;
	int fd;

	if (watchdog_parse(getenv("META_FUSE_WATCHDOG_FD"), getenv("META_FUSE_WATCHDOG_USEC"), &fd,
	                   &usec) < 0)
		return;
	/* Open, and a timerfd: anything else would be touched by timerfd_settime(). */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || timerfd_gettime(fd, &(struct itimerspec){0}) < 0)
		return;
	wd_fd = fd;
	wd_usec = usec;
}

uint64_t watchdog_fd_usec(void)
{
	pthread_once(&once, from_env);
	return wd_usec;
}

void watchdog_ping(void)
{
	struct itimerspec its = {0};

	if (watchdog_fd_usec() == 0) {
		daemon_notify("WATCHDOG=1");
		return;
	}
	its.it_value.tv_sec = (time_t)(wd_usec / 1000000);
	its.it_value.tv_nsec = (long)(wd_usec % 1000000) * 1000;
	(void)timerfd_settime(wd_fd, 0, &its, NULL);
}
