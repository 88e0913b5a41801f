/*
 * watchdog_event: keep the watchdog (watchdog.h) of a worker whose loop is an
 * sd-event loop (fused, kvwatch).
 */
#ifndef MF_WATCHDOG_EVENT_H
#define MF_WATCHDOG_EVENT_H

#include <systemd/sd-event.h>

/*
 * With the supervisor's descriptor, a timer that pings every half period;
 * without it, sd-event's own WATCHDOG=1 pings (sd_event_set_watchdog).  0 or
 * -errno.
 */
int watchdog_attach(sd_event *e);

#endif
