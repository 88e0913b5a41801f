/*
 * watchdog_event: the watchdog of a worker built on sd-event (see
 * watchdog_event.h); apart from watchdog.c so that davd and apid, which use no
 * sd-event, do not link libsystemd.
 */
#include "watchdog_event.h"

#include <stdbool.h>

#include "watchdog.h"

static int on_ping(sd_event_source *src, uint64_t usec, void *userdata)
{
	int r;

	watchdog_ping();
	r = sd_event_source_set_time(src, usec + watchdog_fd_usec() / 2);
	if (r >= 0)
		r = sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	return r;
}

int watchdog_attach(sd_event *e)
{
	uint64_t now;
	int r;

	if (watchdog_fd_usec() == 0)
		return sd_event_set_watchdog(e, true);
	r = sd_event_now(e, CLOCK_MONOTONIC, &now);
	if (r < 0)
		return r;
	/* Accuracy of a tenth of the period: the ping may coalesce with other wake-ups. */
	r = sd_event_add_time(e, NULL, CLOCK_MONOTONIC, now + watchdog_fd_usec() / 2,
	                      watchdog_fd_usec() / 10, on_ping, NULL);
	return r < 0 ? r : 0;
}
