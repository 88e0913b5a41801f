/*
 * watchdog: a worker's side of the supervisor's watchdog without waking it.
 *
 * Under systemd a worker pings WATCHDOG=1 on the notify socket; each ping wakes
 * the receiver.  `meta-fuse run` hands each worker a timerfd instead
 * ($META_FUSE_WATCHDOG_FD, period $META_FUSE_WATCHDOG_USEC) whose expiry is
 * the worker's deadline: the worker pushes the deadline one period ahead every
 * half period with timerfd_settime(), which wakes nobody, and the supervisor
 * wakes only when a hung worker lets it expire.  Without that descriptor the
 * calls here fall back to WATCHDOG=1 on $NOTIFY_SOCKET as $WATCHDOG_USEC asks.
 */
#ifndef MF_WATCHDOG_H
#define MF_WATCHDOG_H

#include <stdint.h>

/*
 * The values of $META_FUSE_WATCHDOG_FD and $META_FUSE_WATCHDOG_USEC: decimal, a
 * descriptor from 3 to 1024 and a period from 1 ms to one day.  0 or -EINVAL.
 */
int watchdog_parse(const char *fd_s, const char *usec_s, int *ret_fd, uint64_t *ret_usec);

/* The period of the supervisor's watchdog descriptor in µs; 0 when there is none. */
uint64_t watchdog_fd_usec(void);

/* One ping: the descriptor's deadline one period ahead, else WATCHDOG=1. */
void watchdog_ping(void);

#endif
