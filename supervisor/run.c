/*
 * run: `meta-fuse run`, the supervisor (see docs/supervisor.md).
 *
 * Start: load and check the configuration, resolve the users, prepare the
 * runtime directory, open the notify and control sockets, bind the listening
 * sockets, start kvwatch; the readers (fused, davd, apid) and the configured
 * programs start once kvwatch has said READY, so nobody ever serves an empty
 * library by accident; a program with start_after waits for those too, and
 * then its start delay.  fused gets a fresh FUSE mount each time it starts.
 *
 * Supervision: one sd-event loop; signals arrive through signalfd (SIGCHLD
 * reaps workers and, as a child subreaper or PID 1, orphans), timers handle
 * backoff, start delays and grace periods, each worker's watchdog is a timerfd
 * the worker itself pushes ahead (watchdog.c); nothing polls, and an idle
 * supervisor sleeps in epoll_wait until a worker speaks, a child exits or a
 * deadline passes.  A second after the last activity the pages only the
 * start-up used are trimmed (trim.c).  A worker that dies after it
 * said READY (a program: after one second of running) is started again at once,
 * as long as its failures come no faster than one a second on average (a burst
 * of RESTART_BURST allowed): a kill -9, a crash on one request or the watchdog
 * never cost a backoff step.  A worker that dies before READY, or faster than
 * that, fails "quickly": it is started again after 0, 0.2, 0.4, ... up to 30 s,
 * and after MAX_QUICK_FAILURES quick failures without a good run in between
 * (READY and one second of running) it is FATAL until `meta-fuse restart NAME`.
 * Exit status 1 (a configuration error) is FAILED at once: retrying cannot
 * help.  A worker that stops pinging its watchdog is killed and restarted.
 *
 * Shutdown (SIGTERM, SIGINT, `meta-fuse stop`): the readers and programs get
 * SIGTERM, the FUSE mount is detached once they are gone, then kvwatch; what is
 * left after the grace period gets SIGKILL, process group by process group;
 * leftover children (orphans reparented to us) are killed and reaped last.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "startup.h"
#include "supervisor.h"

#define USEC_PER_MSEC      1000ULL
#define USEC_PER_SEC       1000000ULL
#define GOOD_RUN_USEC      (1 * USEC_PER_SEC)
#define BACKOFF_BASE_USEC  (200 * USEC_PER_MSEC)
#define BACKOFF_CAP_USEC   (30 * USEC_PER_SEC)
#define MAX_QUICK_FAILURES 6
/* Restarts at once after READY: one a second on average, RESTART_BURST in a row. */
#define RESTART_INTERVAL_USEC (1 * USEC_PER_SEC)
#define RESTART_BURST         5
#define START_TIMEOUT_SEC     90
#define STOP_GRACE_USEC       (10 * USEC_PER_SEC)
#define WATCHDOG_SEC_DEFAULT  60
#define TRIM_DELAY_USEC       (1 * USEC_PER_SEC)

uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_reader(const struct worker *w)
{
	return !w->role || !(w->role->flags & ROLE_WRITER);
}

struct worker *sup_find_worker(struct supervisor *s, const char *name)
{
	for (size_t i = 0; i < s->worker_count; i++)
		if (!s->workers[i]->remove && strcmp(s->workers[i]->name, name) == 0)
			return s->workers[i];
	return NULL;
}

struct worker *sup_find_pid(struct supervisor *s, pid_t pid)
{
	for (size_t i = 0; i < s->worker_count; i++)
		if (s->workers[i]->pid == pid && pid > 0)
			return s->workers[i];
	return NULL;
}

static bool all_ready(const struct supervisor *s)
{
	for (size_t i = 0; i < s->worker_count; i++) {
		enum worker_state st = s->workers[i]->state;

		if (st != WORKER_RUNNING && st != WORKER_SKIPPED && !s->workers[i]->remove)
			return false;
	}
	return true;
}

static void check_all_ready(struct supervisor *s)
{
	if (s->ready_sent || s->stopping || !all_ready(s))
		return;
	s->ready_sent = true;
	log_info("every worker is ready, %.1f ms after start",
	         (double)(now_usec() - s->start_usec) / 1000.0);
	sd_notify(0, "READY=1");
}

static void arm(sd_event_source **src, struct supervisor *s, uint64_t usec,
                sd_event_time_handler_t cb, void *userdata)
{
	uint64_t at = now_usec() + usec;

	if (*src) {
		sd_event_source_set_time(*src, at);
		sd_event_source_set_enabled(*src, SD_EVENT_ONESHOT);
		return;
	}
	/* Accuracy 1 ms: sd-event's default of 250 ms would delay restarts. */
	if (sd_event_add_time(s->event, src, CLOCK_MONOTONIC, at, USEC_PER_MSEC, cb, userdata) < 0)
		log_warnx("cannot arm a timer");
}

static void disarm(sd_event_source *src)
{
	if (src)
		sd_event_source_set_enabled(src, SD_EVENT_OFF);
}

static int on_trim_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct supervisor *s = userdata;

	s->trim_ran = true;
	if (!s->stopping)
		trim_pages();
	return 0;
}

/*
 * After every iteration of the loop that did something: the trim (trim.c) a
 * second after the last activity, once every worker is ready.  An iteration
 * that only ran the trim does not arm it again.
 */
static int on_post(sd_event_source *src, void *userdata)
{
	struct supervisor *s = userdata;

	if (s->trim_ran) {
		s->trim_ran = false;
		return 0;
	}
	if (s->ready_sent && !s->stopping && all_ready(s))
		arm(&s->trim_timer, s, TRIM_DELAY_USEC, on_trim_timer, s);
	return 0;
}

static void start_waiting(struct supervisor *s);

void worker_set_state(struct worker *w, enum worker_state st)
{
	struct supervisor *s = w->sup;

	if (w->state == st)
		return;
	w->state = st;
	w->since_ms = realtime_ms();
	status_changed(s);
	check_all_ready(s);
	if (st == WORKER_RUNNING && s->writer_ready)
		start_waiting(s); /* programs waiting for this one (start_after) */
}

void worker_signal(struct worker *w, int sig)
{
	if (w->pid <= 0)
		return;
	if (sig == SIGTERM || sig == SIGKILL) {
		/* The whole process group: a hook of kvwatch goes with it. */
		if (kill(-w->pid, sig) < 0 && errno == ESRCH)
			(void)kill(w->pid, sig);
		if (sig == SIGTERM)
			(void)kill(-w->pid, SIGCONT); /* a stopped worker must see it too */
		return;
	}
	if (w->pidfd >= 0 && syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0) == 0)
		return;
	(void)kill(w->pid, sig);
}

/* A ping, or READY: the next deadline one period ahead; no watchdog: none after READY. */
void worker_watchdog(struct worker *w)
{
	if (w->pid <= 0 || (w->state == WORKER_STARTING && !w->sup->watchdog_usec))
		return; /* without a watchdog only the start timeout counts */
	worker_watchdog_set(w, w->sup->watchdog_usec);
}

static void start_waiting(struct supervisor *s)
{
	for (size_t i = 0; i < s->worker_count; i++)
		if (s->workers[i]->state == WORKER_WAITING)
			worker_start(s->workers[i]);
}

void worker_ready(struct worker *w)
{
	struct supervisor *s = w->sup;

	if (w->state != WORKER_STARTING) {
		worker_watchdog(w);
		return;
	}
	w->ready_usec = now_usec();
	log_info("%s is ready (pid %d, %.1f ms after its start)", w->name, (int)w->pid,
	         (double)(w->ready_usec - w->started_usec) / 1000.0);
	/* The start timeout ends: one watchdog period from now, or none (0 disarms). */
	worker_watchdog_set(w, s->watchdog_usec);
	worker_set_state(w, WORKER_RUNNING);
	if (w->role && (w->role->flags & ROLE_WRITER) && !s->writer_ready) {
		s->writer_ready = true;
		start_waiting(s);
	}
}

static int on_delay_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct worker *w = userdata;

	w->delay_armed = false;
	if (w->state == WORKER_WAITING) {
		w->delay_over = true;
		worker_start(w);
	}
	return 0;
}

/*
 * Is d up, for a program that starts after it?  A worker: ready (or skipped); a
 * program, which says no READY: running for GOOD_RUN_USEC (on_up_timer asks
 * again then), so that one that fails at once holds its followers back.
 */
static bool is_up(const struct worker *d)
{
	if (d->state == WORKER_SKIPPED)
		return true;
	if (d->state != WORKER_RUNNING)
		return false;
	return d->role || now_usec() - d->started_usec >= GOOD_RUN_USEC;
}

/* The first of a program's start_after that is not up, or NULL. */
static const char *unmet_start_after(struct worker *w)
{
	for (char **a = w->start_after; a && *a; a++) {
		struct worker *d = sup_find_worker(w->sup, *a);

		if (d && !is_up(d))
			return d->name;
	}
	return NULL;
}

/* Does a program wait for w (start_after)? */
static bool has_followers(const struct worker *w)
{
	const struct supervisor *s = w->sup;

	for (size_t i = 0; i < s->worker_count; i++)
		for (char **a = s->workers[i]->start_after; a && *a; a++)
			if (strcmp(*a, w->name) == 0)
				return true;
	return false;
}

static int on_up_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct worker *w = userdata;

	if (w->state == WORKER_RUNNING)
		start_waiting(w->sup);
	return 0;
}

/*
 * May a program start now?  Not while one of its start_after is not running,
 * nor before its start delay has passed (the delay is not waited again by a
 * restart after a failure); it waits, and start_waiting() asks again.
 */
static bool program_may_start(struct worker *w)
{
	const char *dep = unmet_start_after(w);

	if (dep) {
		snprintf(w->waiting_for, sizeof(w->waiting_for), "%s", dep);
		worker_set_state(w, WORKER_WAITING);
		return false;
	}
	if (w->start_delay_usec && !w->delay_over) {
		snprintf(w->waiting_for, sizeof(w->waiting_for), "start delay");
		worker_set_state(w, WORKER_WAITING);
		if (!w->delay_armed) {
			w->delay_armed = true;
			arm(&w->delay_timer, w->sup, w->start_delay_usec, on_delay_timer, w);
		}
		return false;
	}
	w->delay_over = false;
	w->waiting_for[0] = '\0';
	return true;
}

static int on_restart_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct worker *w = userdata;

	if (w->state == WORKER_BACKOFF)
		worker_start(w);
	return 0;
}

static void schedule_retry(struct worker *w, uint64_t delay)
{
	worker_set_state(w, WORKER_BACKOFF);
	arm(&w->restart_timer, w->sup, delay, on_restart_timer, w);
}

/* The fresh mount fused needs; moves an old mount point's mount away first. */
static int prepare_fuse(struct supervisor *s)
{
	if (geteuid() != 0 || s->fuse_fd >= 0)
		return 0; /* not root: fused mounts by itself */
	if (s->mounted && strcmp(s->mount_point, s->cfg->fuse.mount_point) != 0)
		fusemount_detach_all(s);
	return fusemount_mount(s);
}

int worker_start(struct worker *w)
{
	struct supervisor *s = w->sup;
	int r;

	if (s->stopping || w->remove)
		return 0;
	disarm(w->restart_timer);
	if (w->user_unknown) {
		log_errorx("%s: its user does not exist; not started", w->name);
		snprintf(w->last_exit, sizeof(w->last_exit), "unknown user");
		worker_set_state(w, WORKER_FAILED);
		return -EINVAL;
	}
	if (is_reader(w) && !s->writer_ready) {
		snprintf(w->waiting_for, sizeof(w->waiting_for), "kvwatch");
		worker_set_state(w, WORKER_WAITING);
		return 0;
	}
	if (!w->role && !program_may_start(w))
		return 0;
	w->waiting_for[0] = '\0';
	if (w->role && (w->role->flags & ROLE_FUSE_FD)) {
		r = prepare_fuse(s);
		if (r < 0) {
			snprintf(w->last_exit, sizeof(w->last_exit), "mount failed: %s",
			         strerror(-r));
			w->quick_failures++;
			schedule_retry(w, BACKOFF_CAP_USEC / 10);
			return r;
		}
	}
	w->watchdog_fired = false;
	w->started_usec = now_usec();
	w->ready_usec = 0;
	if (w->role && (w->role->flags & ROLE_NOTIFY)) {
		r = worker_watchdog_open(w, s->watchdog_usec > s->start_timeout_usec
		                                ? s->watchdog_usec
		                                : s->start_timeout_usec);
		if (r < 0)
			log_warnx("%s: no watchdog for it: %s", w->name, strerror(-r));
	}
	r = spawn_worker(s, w);
	if (r < 0) {
		worker_watchdog_close(w);
		log_errorx("%s: cannot start: %s", w->name, strerror(-r));
		snprintf(w->last_exit, sizeof(w->last_exit), "spawn failed: %s", strerror(-r));
		w->quick_failures++;
		schedule_retry(w, BACKOFF_CAP_USEC / 10);
		return r;
	}
	if (w->role && (w->role->flags & ROLE_FUSE_FD) && s->fuse_fd >= 0) {
		close(s->fuse_fd); /* fused holds it now; its death ends the mount */
		s->fuse_fd = -1;
	}
	log_debug("%s started, pid %d", w->name, (int)w->pid);
	if (w->role && (w->role->flags & ROLE_NOTIFY)) {
		worker_set_state(w, WORKER_STARTING);
	} else {
		w->ready_usec = w->started_usec;
		worker_set_state(w, WORKER_RUNNING);
		if (has_followers(w)) /* up once it has run GOOD_RUN_USEC (is_up) */
			arm(&w->up_timer, s, GOOD_RUN_USEC, on_up_timer, w);
	}
	return 0;
}

static int on_kill_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct worker *w = userdata;

	if (w->pid > 0) {
		log_warnx("%s (pid %d) did not stop in time after SIGTERM: SIGKILL", w->name,
		          (int)w->pid);
		worker_signal(w, SIGKILL);
	}
	return 0;
}

void worker_stop(struct worker *w, bool restart)
{
	disarm(w->restart_timer);
	if (w->pid <= 0) {
		worker_set_state(w, WORKER_STOPPED);
		if (restart)
			worker_start(w);
		return;
	}
	w->restart_now = restart;
	worker_set_state(w, WORKER_STOPPING);
	worker_signal(w, SIGTERM);
	arm(&w->kill_timer, w->sup, w->role ? STOP_GRACE_USEC : w->stop_timeout_usec, on_kill_timer,
	    w);
}

int sup_restart_by_hand(struct supervisor *s, const char *name, char *msg, size_t msglen)
{
	struct worker *w = sup_find_worker(s, name);

	if (!w) {
		snprintf(msg, msglen, "no worker named \"%s\"", name);
		return -ENOENT;
	}
	if (w->state == WORKER_SKIPPED) {
		snprintf(msg, msglen, "%s is %s", name,
		         w->skip_reason ? w->skip_reason : "skipped");
		return -ENOENT;
	}
	if (s->stopping) {
		snprintf(msg, msglen, "the supervisor is stopping");
		return -ESHUTDOWN;
	}
	w->quick_failures = 0;
	w->restart_credit_usec = 0;
	if (w->pid > 0) {
		snprintf(msg, msglen, "%s (pid %d) is being restarted", name, (int)w->pid);
		worker_stop(w, true);
	} else {
		snprintf(msg, msglen, "%s is being started (it was %s)", name,
		         worker_state_name(w->state));
		worker_set_state(w, WORKER_STOPPED);
		worker_start(w);
	}
	return 0;
}

void sup_new_generation(struct supervisor *s, uint64_t generation)
{
	if (generation == s->generation)
		return;
	s->generation = generation;
	for (size_t i = 0; i < s->worker_count; i++) {
		struct worker *w = s->workers[i];

		if (w->role && (w->role->flags & ROLE_GEN_HUP) && w->state == WORKER_RUNNING)
			worker_signal(w, SIGHUP);
	}
	log_debug("generation %" PRIu64 ": readers told", generation);
	status_changed(s);
}

static void describe_exit(int status, bool watchdog, char *buf, size_t len)
{
	if (watchdog)
		snprintf(buf, len, "killed by the watchdog");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "status %d", status);
}

static void shutdown_step(struct supervisor *s);

/* Did this run of the worker prove it can start: READY said (a program: ran 1 s)? */
static bool was_ready(const struct worker *w, uint64_t now)
{
	if (!w->ready_usec)
		return false;
	return (w->role && (w->role->flags & ROLE_NOTIFY)) || now - w->ready_usec >= GOOD_RUN_USEC;
}

/*
 * The rate of restarts at once, as a virtual schedule: each one books
 * RESTART_INTERVAL_USEC from max(now, the last booking); a booking more than
 * RESTART_BURST intervals ahead of now is refused (and not made), so failures
 * that come faster than one a second go through the backoff after a burst.
 */
static bool restart_allowed(struct worker *w, uint64_t now)
{
	uint64_t next =
	    (w->restart_credit_usec > now ? w->restart_credit_usec : now) + RESTART_INTERVAL_USEC;

	if (next - now > RESTART_BURST * RESTART_INTERVAL_USEC)
		return false;
	w->restart_credit_usec = next;
	return true;
}

static void worker_exited(struct worker *w, int status)
{
	struct supervisor *s = w->sup;
	uint64_t now = now_usec(), ran = now - w->started_usec;
	bool planned = w->state == WORKER_STOPPING;

	describe_exit(status, w->watchdog_fired, w->last_exit, sizeof(w->last_exit));
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
	w->pid = 0;
	worker_watchdog_close(w);
	disarm(w->kill_timer);

	if (s->stopping || w->remove) {
		log_info("%s stopped (%s)", w->name, w->last_exit);
		worker_set_state(w, WORKER_STOPPED);
		if (s->stopping)
			shutdown_step(s);
		return;
	}
	if (planned) {
		log_info("%s stopped (%s)", w->name, w->last_exit);
		if (w->restart_now) {
			w->restart_now = false;
			w->restarts++;
			worker_set_state(w, WORKER_STOPPED);
			worker_start(w);
		} else if (w->role && !w->role->enabled(s->cfg)) {
			if (w->role->flags & ROLE_FUSE_FD)
				fusemount_detach_all(s); /* fuse.enabled turned false */
			worker_set_state(w, WORKER_SKIPPED);
		} else {
			worker_set_state(w, WORKER_STOPPED);
		}
		return;
	}

	if (!w->role && !w->autorestart) {
		log_info("%s exited (%s); autorestart is off for it", w->name, w->last_exit);
		worker_set_state(w, WORKER_STOPPED);
		return;
	}
	w->restarts++;
	w->delay_over = true; /* a restart after a failure does not wait the start delay */
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CONFIG) {
		log_errorx("%s exited with status 1 (a configuration error) after %.1f s: not "
		           "restarted in a loop; fix the configuration and `meta-fuse reload`, or "
		           "`meta-fuse restart %s`",
		           w->name, (double)ran / 1e6, w->name);
		worker_set_state(w, WORKER_FAILED);
		return;
	}
	if (w->ready_usec && now - w->ready_usec >= GOOD_RUN_USEC)
		w->quick_failures = 0;
	if (was_ready(w, now) && restart_allowed(w, now)) {
		log_warnx("%s (%s) after %.1f s: restarting it", w->name, w->last_exit,
		          (double)ran / 1e6);
		worker_set_state(w, WORKER_STOPPED);
		worker_start(w);
		return;
	}
	w->quick_failures++;
	if (w->quick_failures > MAX_QUICK_FAILURES) {
		log_errorx("%s failed %u times in a row (last: %s): FATAL, not restarted; "
		           "`meta-fuse restart %s` tries again",
		           w->name, w->quick_failures, w->last_exit, w->name);
		worker_set_state(w, WORKER_FATAL);
		return;
	}
	if (w->quick_failures == 1) {
		log_warnx("%s (%s) after %.1f s: restarting it", w->name, w->last_exit,
		          (double)ran / 1e6);
		worker_set_state(w, WORKER_STOPPED);
		worker_start(w);
	} else {
		uint64_t delay = BACKOFF_BASE_USEC << (w->quick_failures - 2);

		if (delay > BACKOFF_CAP_USEC)
			delay = BACKOFF_CAP_USEC;
		log_warnx("%s (%s) after %.1f s, failure %u in a row: restarting it in %.1f s",
		          w->name, w->last_exit, (double)ran / 1e6, w->quick_failures,
		          (double)delay / 1e6);
		schedule_retry(w, delay);
	}
}

/* Reap every child: workers, and orphans we inherited as subreaper or PID 1. */
static int on_sigchld(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	struct supervisor *s = userdata;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = sup_find_pid(s, pid);

		if (w)
			worker_exited(w, status);
		else
			log_debug("reaped pid %d", (int)pid);
	}
	return 0;
}

/* Every process left that has us as parent (orphans of the workers' groups). */
static void kill_leftovers(void)
{
	char path[64], buf[4096];
	FILE *f;
	bool any = false;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%4095s", buf) == 1) {
		pid_t pid = (pid_t)atoi(buf);

		if (pid > 0) {
			log_info("killing leftover process %d", (int)pid);
			(void)kill(pid, SIGKILL);
			any = true;
		}
	}
	fclose(f);
	if (any)
		while (waitpid(-1, NULL, 0) > 0)
			;
}

static int on_stop_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct supervisor *s = userdata;

	for (size_t i = 0; i < s->worker_count; i++) {
		struct worker *w = s->workers[i];

		if (w->pid > 0) {
			log_warnx("%s (pid %d) did not stop in time: SIGKILL", w->name,
			          (int)w->pid);
			worker_signal(w, SIGKILL);
		}
	}
	return 0;
}

static void shutdown_step(struct supervisor *s)
{
	bool readers = false, writer = false;

	for (size_t i = 0; i < s->worker_count; i++) {
		struct worker *w = s->workers[i];

		if (w->pid <= 0)
			continue;
		if (is_reader(w))
			readers = true;
		else
			writer = true;
	}
	if (readers)
		return;
	if (s->mounted)
		fusemount_detach_all(s);
	if (writer) {
		for (size_t i = 0; i < s->worker_count; i++) {
			struct worker *w = s->workers[i];

			if (w->pid > 0 && w->state != WORKER_STOPPING) {
				worker_set_state(w, WORKER_STOPPING);
				worker_signal(w, SIGTERM);
				arm(&s->stop_timer, s, STOP_GRACE_USEC, on_stop_timer, s);
			}
		}
		return;
	}
	kill_leftovers();
	log_info("stopped");
	sd_event_exit(s->event, s->exit_status);
}

void sup_shutdown(struct supervisor *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	sd_notify(0, "STOPPING=1");
	log_info("stopping: the readers first, then the mount, then kvwatch");
	for (size_t i = 0; i < s->worker_count; i++) {
		struct worker *w = s->workers[i];

		disarm(w->restart_timer);
		disarm(w->delay_timer);
		worker_watchdog_set(w, 0);
		if (w->pid > 0 && is_reader(w)) {
			worker_set_state(w, WORKER_STOPPING);
			worker_signal(w, SIGTERM);
			if (!w->role) /* a program's own stop_timeout_ms */
				arm(&w->kill_timer, s, w->stop_timeout_usec, on_kill_timer, w);
		} else if (w->pid <= 0 && w->state != WORKER_SKIPPED) {
			w->state = WORKER_STOPPED;
		}
	}
	arm(&s->stop_timer, s, STOP_GRACE_USEC, on_stop_timer, s);
	status_changed(s);
	shutdown_step(s);
}

static int on_term(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	log_info("signal %u", si->ssi_signo);
	sup_shutdown(userdata);
	return 0;
}

static int on_hup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	char msg[1024];

	(void)reload_config(userdata, msg, sizeof(msg));
	return 0;
}

static int on_usr1(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	struct worker *w = sup_find_worker(userdata, "kvwatch");

	if (w)
		worker_signal(w,
		              SIGUSR1); /* confirm held removals, as meta-fuse confirm-removals */
	return 0;
}

static struct worker *worker_new(struct supervisor *s, const char *name)
{
	struct worker *w = calloc(1, sizeof(*w)), **arr;

	if (!w)
		return NULL;
	arr = reallocarray(s->workers, s->worker_count + 1, sizeof(*arr));
	if (!arr) {
		free(w);
		return NULL;
	}
	s->workers = arr;
	s->workers[s->worker_count++] = w;
	w->sup = s;
	w->pidfd = -1;
	w->log_fd = -1;
	w->watchdog_fd = -1;
	w->since_ms = realtime_ms();
	snprintf(w->name, sizeof(w->name), "%s", name);
	return w;
}

static void strv_free(char **v)
{
	for (char **a = v; a && *a; a++)
		free(*a);
	free(v);
}

static char **strv_copy(char *const *v)
{
	size_t n = 0;
	char **c;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	c = calloc(n + 1, sizeof(*c));
	if (!c)
		fatalx("out of memory");
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i])))
			fatalx("out of memory");
	return c;
}

int worker_set_program(struct worker *w, const struct config_program *p, char *err, size_t errlen)
{
	char what[WORKER_NAME_MAX + 32];
	int r = 0;

	strv_free(w->argv);
	strv_free(w->env);
	w->argv = strv_copy(p->argv);
	w->env = strv_copy(p->env);
	w->autorestart = p->autorestart;
	w->stop_timeout_usec = (uint64_t)p->stop_timeout_ms * USEC_PER_MSEC;
	strv_free(w->start_after);
	w->start_after = strv_copy(p->start_after);
	w->start_delay_usec = (uint64_t)p->start_delay_ms * USEC_PER_MSEC;
	w->own_user = p->user != NULL;
	if (p->user) {
		snprintf(what, sizeof(what), "program \"%s\": user", p->name);
		r = users_resolve(p->user, what, &w->uid, &w->gid, err, errlen);
	}
	w->user_unknown = r < 0;
	return r;
}

struct worker *sup_add_program(struct supervisor *s, const struct config_program *p)
{
	struct worker *w = worker_new(s, p->name);
	char err[256];

	if (!w)
		return NULL;
	if (worker_set_program(w, p, err, sizeof(err)) < 0) {
		log_errorx("%s; not started", err);
		snprintf(w->last_exit, sizeof(w->last_exit), "unknown user");
		w->state = WORKER_FAILED;
	}
	return w;
}

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	sd_event_source_disable_unref(w->log_source);
	worker_watchdog_close(w);
	sd_event_source_disable_unref(w->restart_timer);
	sd_event_source_disable_unref(w->delay_timer);
	sd_event_source_disable_unref(w->up_timer);
	sd_event_source_disable_unref(w->kill_timer);
	if (w->log_fd >= 0)
		close(w->log_fd);
	if (w->pidfd >= 0)
		close(w->pidfd);
	strv_free(w->argv);
	strv_free(w->env);
	strv_free(w->start_after);
	free(w);
}

static int setup_roles(struct supervisor *s)
{
	for (size_t i = 0; i < role_count; i++) {
		const struct role *r = &roles[i];
		struct worker *w = worker_new(s, r->name);

		if (!w)
			return -ENOMEM;
		w->role = r;
		roles_find_exe(s, r, w->exe, sizeof(w->exe));
		if (!w->exe[0]) {
			log_info("%s: not built, skipped", r->name);
			w->skip_reason = "not built";
			w->state = WORKER_SKIPPED;
		} else if (!r->enabled(s->cfg)) {
			log_info("%s: disabled by the configuration, skipped", r->name);
			w->skip_reason = "disabled";
			w->state = WORKER_SKIPPED;
		}
	}
	for (size_t i = 0; i < s->cfg->program_count; i++)
		if (!sup_add_program(s, &s->cfg->programs[i]))
			return -ENOMEM;
	return 0;
}

static int setup_sockets(struct supervisor *s)
{
	struct worker *dav = sup_find_worker(s, "davd"), *api = sup_find_worker(s, "apid");
	int r;

	if (dav && dav->state != WORKER_SKIPPED) {
		r = listen_open(&s->cfg->webdav.listen, &s->webdav_fd);
		if (r < 0)
			return r;
	}
	if (api && api->state != WORKER_SKIPPED) {
		r = listen_open(&s->cfg->api.listen, &s->api_fd);
		if (r < 0)
			return r;
	}
	return 0;
}

static int setup_loop(struct supervisor *s)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1};
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&mask, sigs[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = sd_event_default(&s->event);
	if (r >= 0)
		r = sd_event_set_watchdog(s->event, true);
	if (r >= 0)
		r = sd_event_add_signal(s->event, NULL, SIGTERM, on_term, s);
	if (r >= 0)
		r = sd_event_add_signal(s->event, NULL, SIGINT, on_term, s);
	if (r >= 0)
		r = sd_event_add_signal(s->event, NULL, SIGHUP, on_hup, s);
	if (r >= 0)
		r = sd_event_add_signal(s->event, NULL, SIGUSR1, on_usr1, s);
	if (r >= 0)
		r = sd_event_add_signal(s->event, NULL, SIGCHLD, on_sigchld, s);
	if (r >= 0)
		r = sd_event_add_post(s->event, NULL, on_post, s);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: meta-fuse run [-c FILE] [-v | -q] [--watchdog-sec N]\n"
	        "                     [--start-timeout-sec N]\n"
	        "\n"
	        "Run the suite in the foreground: kvwatch, then fused, davd, apid and the\n"
	        "configured programs, each as its unprivileged user; restart what fails.\n"
	        "\n"
	        "  -c, --config FILE    configuration (default: $%s, else %s)\n"
	        "  -v, --verbose        more log output\n"
	        "  -q, --quiet          less log output\n"
	        "      --watchdog-sec N the workers' watchdog period (default %d; 0: none)\n"
	        "      --start-timeout-sec N\n"
	        "                       time a worker has to say READY (default %d, 1-86400)\n"
	        "  -h, --help           this text\n"
	        "\n"
	        "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration, SIGUSR1\n"
	        "confirms held removals.  See meta-fuse(1) and docs/supervisor.md.\n",
	        CONFIG_ENV_PATH, CONFIG_DEFAULT_PATH, WATCHDOG_SEC_DEFAULT, START_TIMEOUT_SEC);
}

static void self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	buf[n > 0 ? n : 0] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	else
		buf[0] = '\0';
}

static void supervisor_free(struct supervisor *s)
{
	char path[PATH_MAX];

	if (s->mounted)
		fusemount_detach_all(s);
	for (size_t i = 0; i < s->worker_count; i++)
		worker_free(s->workers[i]);
	free(s->workers);
	sd_event_source_disable_unref(s->status_defer);
	sd_event_source_disable_unref(s->stop_timer);
	sd_event_source_disable_unref(s->trim_timer);
	if (s->control_fd >= 0) {
		snprintf(path, sizeof(path), "%s/control.sock", s->cfg->runtime_dir);
		(void)unlink(path);
		close(s->control_fd);
	}
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	if (s->webdav_fd >= 0)
		close(s->webdav_fd);
	if (s->api_fd >= 0)
		close(s->api_fd);
	if (s->fuse_fd >= 0)
		close(s->fuse_fd);
	sd_event_unref(s->event);
	free(s->mount_point);
	free(s->config_path);
	config_free(s->cfg);
}

/* --watchdog-sec S */
/* --watchdog-sec and --start-timeout-sec, in seconds. */
struct run_args {
	unsigned long watchdog_sec;
	unsigned long start_timeout_sec;
};

static int run_option(int opt, const char *arg, void *userdata)
{
	struct run_args *a = userdata;
	unsigned long v, min = opt == 'S' ? 1 : 0;
	char *end;

	if (opt != 'W' && opt != 'S')
		return -EINVAL;
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || end == arg || *arg == '-' || v < min || v > 86400) {
		log_errorx("--%s: \"%s\" is not a number of seconds (%lu-86400)",
		           opt == 'W' ? "watchdog-sec" : "start-timeout-sec", arg, min);
		return -EINVAL;
	}
	*(opt == 'W' ? &a->watchdog_sec : &a->start_timeout_sec) = v;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"watchdog-sec", required_argument, NULL, 'W'},
	    {"start-timeout-sec", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	struct supervisor s = {
	    .notify_fd = -1, .control_fd = -1, .webdav_fd = -1, .api_fd = -1, .fuse_fd = -1};
	struct run_args args = {.watchdog_sec = WATCHDOG_SEC_DEFAULT,
	                        .start_timeout_sec = START_TIMEOUT_SEC};
	const struct startup start = {.name = "meta-fuse",
	                              .usage = usage,
	                              .longopts = opts,
	                              .option = run_option,
	                              .userdata = &args};
	char err[1024];
	int r, rc = EXIT_TEMPFAIL;

	s.start_usec = now_usec();
	r = startup(&start, argc, argv, &s.cfg, NULL);
	if (r != STARTUP_RUN)
		return r;
	s.watchdog_usec = (uint64_t)args.watchdog_sec * USEC_PER_SEC;
	s.start_timeout_usec = (uint64_t)args.start_timeout_sec * USEC_PER_SEC;
	if (users_resolve_writer(s.cfg, &s.writer_uid, &s.writer_gid, err, sizeof(err)) < 0) {
		log_errorx("%s", err);
		rc = EXIT_CONFIG;
		goto out;
	}
	if (s.cfg->path) {
		s.config_path = realpath(s.cfg->path, NULL);
		if (!s.config_path) {
			log_error("\"%s\"", s.cfg->path);
			rc = EXIT_CONFIG;
			goto out;
		}
	}
	if (geteuid() != 0)
		log_notice("not running as root: every worker runs as uid %u, without user "
		           "separation, and fused mounts by itself",
		           (unsigned)geteuid());
	else if (s.cfg->uid == 0 || s.writer_uid == 0)
		log_warnx("a worker runs as uid 0 (uid %u, writer_user uid %u): set uid and "
		          "writer_user to unprivileged users",
		          (unsigned)s.cfg->uid, (unsigned)s.writer_uid);
	else if (s.cfg->uid == s.writer_uid)
		log_warnx("the readers and kvwatch share uid %u: a reader could replace the "
		          "snapshot; give writer_user a user of its own",
		          (unsigned)s.cfg->uid);
	self_dir(s.self_dir, sizeof(s.self_dir));
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER");
	if (users_prepare_dirs(&s) < 0)
		goto out;

	r = setup_loop(&s);
	if (r >= 0)
		r = notify_open(&s);
	if (r < 0) {
		log_errorx("setting up the event loop: %s", strerror(-r));
		goto out;
	}
	r = control_open(&s);
	if (r < 0) {
		log_errorx("control socket in \"%s\": %s", s.cfg->runtime_dir, strerror(-r));
		goto out;
	}
	r = setup_roles(&s);
	if (r < 0)
		goto out;
	r = setup_sockets(&s);
	if (r < 0) {
		rc = r == -EACCES ? EXIT_CONFIG : EXIT_TEMPFAIL;
		goto out;
	}

	sd_notify(0, "STATUS=starting kvwatch");
	for (size_t i = 0; i < s.worker_count; i++)
		if (s.workers[i]->state != WORKER_SKIPPED)
			worker_start(s.workers[i]);
	check_all_ready(&s);
	status_changed(&s);
	r = sd_event_loop(s.event);
	rc = r < 0 ? EXIT_TEMPFAIL : r;
out:
	supervisor_free(&s);
	return rc;
}
