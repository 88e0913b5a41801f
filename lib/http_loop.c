/*
 * http_loop: signals, inotify and the periodic check in one poll() (see
 * http_loop.h).  Signals arrive through a signalfd, so no handler runs inside
 * a request thread.
 */
#include "http_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "generation.h"
#include "log.h"
#include "snapshot.h"
#include "watchdog.h"

#define WATCH_RETRY_MS 1000

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

int http_loop_block_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_IGN};
	sigset_t set;
	int r;

	sigaction(SIGPIPE, &sa, NULL);
	stop_signals(&set);
	r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	return -r;
}

int http_loop_reload(const struct http_loop_config *cfg, const char *why)
{
	struct generation *old = NULL, *new = NULL;
	char err[512] = "";
	int r;

	r = gen_store_reload(cfg->gens, &old, &new, err, sizeof(err));
	if (cfg->on_reload)
		cfg->on_reload(cfg->ctx, r, old, new, err, why);
	generation_put(old);
	generation_put(new);
	return r;
}

/* Watch the runtime directory; a reload follows, for what changed unwatched. */
static int watch(const struct http_loop_config *cfg, int ino)
{
	int wd;

	if (ino < 0)
		return -1;
	wd = inotify_add_watch(ino, cfg->runtime_dir,
	                       IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF |
	                           IN_ONLYDIR);
	if (wd >= 0)
		http_loop_reload(cfg, "inotify");
	return wd;
}

/* Whether vfs.snapshot was replaced; *wd becomes -1 when the watch is lost. */
static bool drain_inotify(int ino, int *wd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	ssize_t n;

	while ((n = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (*wd >= 0 && !(ev->mask & IN_IGNORED))
					inotify_rm_watch(ino, *wd);
				*wd = -1;
			} else if (ev->len && strcmp(ev->name, SNAP_FILE_NAME) == 0) {
				hit = true;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	return hit;
}

int http_loop_run(const struct http_loop_config *cfg)
{
	uint64_t watchdog_usec = 0;
	int64_t next_check, next_ping = 0;
	sigset_t set;
	int sfd, ino, wd, r = 0;

	stop_signals(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return -errno;
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	wd = watch(cfg, ino);
	if (daemon_watchdog_usec(&watchdog_usec) <= 0)
		watchdog_usec = watchdog_fd_usec();
	next_check = cfg->check_ms > 0 ? mono_ms() + cfg->check_ms : INT64_MAX;
	while (r == 0) {
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN},
		                        {.fd = ino, .events = POLLIN}};
		int64_t now = mono_ms(), deadline = next_check;

		if (ino >= 0 && wd < 0 && now + WATCH_RETRY_MS < deadline)
			deadline = now + WATCH_RETRY_MS;
		if (watchdog_usec) {
			if (now >= next_ping) {
				watchdog_ping();
				next_ping = now + (int64_t)(watchdog_usec / 2000);
			}
			if (next_ping < deadline)
				deadline = next_ping;
		}
		if (deadline - now > 3600000)
			deadline = now + 3600000;
		if (poll(pfd, ino >= 0 ? 2 : 1, deadline > now ? (int)(deadline - now) : 0) < 0 &&
		    errno != EINTR) {
			r = -errno;
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			bool hup = false;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					hup = true;
				else
					r = (int)si.ssi_signo;
			}
			if (hup && r == 0)
				http_loop_reload(cfg, "SIGHUP");
		}
		if (r == 0 && ino >= 0 && (pfd[1].revents & POLLIN) && drain_inotify(ino, &wd))
			http_loop_reload(cfg, "inotify");
		if (r == 0 && ino >= 0 && wd < 0)
			wd = watch(cfg, ino);
		if (r == 0 && mono_ms() >= next_check) {
			http_loop_reload(cfg, "periodic check");
			next_check = mono_ms() + cfg->check_ms;
		}
	}
	if (ino >= 0)
		close(ino);
	close(sfd);
	return r;
}

static void notify_status(const struct generation *g)
{
	if (g->snap)
		daemon_notifyf("STATUS=generation %" PRIu64 ", %" PRIu64 " files%s", g->number,
		               snapshot_header(g->snap)->files,
		               g->error_text ? ", store unreachable" : "");
	else
		daemon_notify("STATUS=no snapshot yet");
}

void http_loop_log_reload(void *ctx, int result, const struct generation *old,
                          const struct generation *new, const char *err, const char *why)
{
	if (result < 0) {
		log_errorx("reloading the snapshot (%s): %s", why, strerror(-result));
	} else if (result == GEN_RELOAD_REFUSED) {
		log_warnx("%s, keeping the current generation", err);
	} else if (result == GEN_RELOAD_SWITCHED && new &&new->snap) {
		const struct snap_header *h = snapshot_header(new->snap);

		if (err[0] != '\0')
			log_warnx("%s", err);
		log_info("serving generation %" PRIu64 " (%s): %" PRIu64 " files, %" PRIu64
		         " directories, in %s",
		         new->number, why, h->files, h->directories, generation_memory(new));
		notify_status(new);
	} else if (result == GEN_RELOAD_SWITCHED) {
		log_info("no snapshot yet (%s): serving an empty tree", why);
		notify_status(new);
	} else {
		log_debug("reload (%s): unchanged", why);
	}
}
