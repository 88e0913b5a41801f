/*
 * meta-fuse-fused: serves the snapshot as a read-only FUSE mount.
 *
 * Start-up in one fixed order: read the configuration, load the current
 * snapshot, take the FUSE descriptor (passed as /dev/fd/N by the supervisor) or
 * mount by itself (alone: clearing a stale mount first), drop privileges to the
 * configured uid/gid when started as root, verify they are dropped, create the
 * operation counters (runtime_dir/metrics/fused.metrics) as that user, enter
 * the multi-threaded session loop, say READY.
 *
 * Threads: libfuse's workers answer requests (ops.c).  One control thread owns
 * everything else, in one sd-event loop like every worker's: reloads on SIGHUP,
 * on inotify events for vfs.snapshot in the runtime directory and on a slow
 * periodic check; the kernel-cache invalidations that follow a reload (which
 * must not come from inside a request handler); sd_notify status and watchdog
 * pings.  Signals go to the main thread (libfuse blocks them in its workers, the
 * control thread blocks them too), whose handlers only set flags and write one
 * byte to the control thread's command pipe; the main thread waits in
 * fuse_session_loop_mt(), which a signal interrupts (so the signals are not
 * sd-event sources: a signalfd would not wake it).
 *
 * SIGTERM/SIGINT end the loop; fused then unmounts what it mounted itself and
 * exits 0.  When the mount goes away from outside, it exits EXIT_TEMPFAIL.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/epoll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fuse_metrics.h"
#include "generation.h"
#include "invalidate.h"
#include "log.h"
#include "mount.h"
#include "ops.h"
#include "snapshot.h"
#include "source.h"
#include "startup.h"
#include "webdav_source.h"
#include "watchdog_event.h"

#define PERIODIC_CHECK_MS 10000 /* default of --check-interval */
#define WATCH_RETRY_MS    1000
#define USEC_PER_MS       1000ULL

struct control {
	struct fused *f;
	int pipe_rd;
	pthread_t thread;
	int64_t check_ms; /* periodic look at vfs.snapshot; 0 = none */
	char *mount_point;

	sd_event *event;
	sd_event_source *command;     /* pipe_rd */
	sd_event_source *inotify;     /* the runtime directory; NULL while not watched */
	sd_event_source *watch_retry; /* the next try to watch it */
	sd_event_source *check;       /* the periodic check */
	bool inotify_failed;          /* said so once */
};

static struct fuse_session *volatile signal_session;
static volatile sig_atomic_t signal_stop;
static int signal_pipe = -1;

static void on_signal(int sig)
{
	int saved = errno;
	char c;

	if (sig == SIGHUP) {
		c = 'h';
	} else {
		signal_stop = 1;
		if (signal_session)
			fuse_session_exit(signal_session);
		c = 't';
	}
	if (signal_pipe >= 0)
		(void)!write(signal_pipe, &c, 1);
	errno = saved;
}

static void install_signals(void)
{
	struct sigaction sa = {0};

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (level <= FUSE_LOG_ERR)
		log_errorx("libfuse: %s", line);
	else if (level <= FUSE_LOG_WARNING)
		log_warnx("libfuse: %s", line);
	else if (level <= FUSE_LOG_INFO)
		log_info("libfuse: %s", line);
	else
		log_debug("libfuse: %s", line);
}

/* ---- reloads -------------------------------------------------------------- */

static void sink_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct fused *f = ctx;
	int r;

	r = fuse_lowlevel_notify_inval_entry(f->se, parent, name, len);
	if (r < 0 && r != -ENOENT)
		log_debug("invalidating entry \"%.*s\" of %" PRIu64 ": %s", (int)len, name, parent,
		          strerror(-r));
}

static void sink_inode(void *ctx, uint64_t id)
{
	struct fused *f = ctx;
	int r;

	ops_forget_cached(f, id);
	r = fuse_lowlevel_notify_inval_inode(f->se, id, 0, 0);
	if (r < 0 && r != -ENOENT)
		log_debug("invalidating inode %" PRIu64 ": %s", id, strerror(-r));
}

static void notify_status(const struct generation *g)
{
	if (g->snap) {
		const struct snap_header *h = snapshot_header(g->snap);

		sd_notifyf(0, "STATUS=generation %" PRIu64 ", %" PRIu64 " files%s", g->number,
		           h->files, g->error_text ? ", store unreachable" : "");
	} else {
		sd_notify(0, "STATUS=no snapshot yet");
	}
}

static void log_generation(const struct generation *g, const char *path, const char *why)
{
	if (g->snap) {
		const struct snap_header *h = snapshot_header(g->snap);

		log_info("serving generation %" PRIu64 " (%s): %" PRIu64 " files, %" PRIu64
		         " directories, in %s%s",
		         g->number, why, h->files, h->directories, generation_memory(g),
		         g->error_text ? "; the store is unreachable: ERROR.txt shown" : "");
	} else {
		log_info("no snapshot at \"%s\" yet: serving an empty tree with ERROR.txt", path);
	}
}

static void reload(struct control *c, const char *why)
{
	struct fused *f = c->f;
	struct generation *old = NULL, *new = NULL, *cur;
	char err[512];
	int r;

	r = gen_store_reload(f->gens, &old, &new, err, sizeof(err));
	if (r < 0) {
		log_errorx("reloading \"%s\" (%s): %s", gen_store_path(f->gens), why, strerror(-r));
	} else if (r == GEN_RELOAD_REFUSED) {
		cur = gen_store_get(f->gens);
		if (cur->snap)
			log_warnx("%s, keeping generation %" PRIu64, err, cur->number);
		else
			log_warnx("%s, no tree to serve yet", err);
		generation_put(cur);
	} else if (r == GEN_RELOAD_SWITCHED) {
		if (err[0] != '\0')
			log_warnx("%s", err);
		log_generation(new, gen_store_path(f->gens), why);
	} else {
		log_debug("reload (%s): \"%s\" unchanged", why, gen_store_path(f->gens));
	}
	if (old && new) {
		struct inval_sink sink = {.entry = sink_entry, .inode = sink_inode, .ctx = f};
		struct inval_stats stats;
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		invalidate_diff(old, new, &sink, &stats);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_debug("generation %" PRIu64 " -> %" PRIu64 ": invalidated %" PRIu64
		          " entries and %" PRIu64 " inodes in %.1f ms",
		          old->number, new->number, stats.entries, stats.inodes,
		          (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		              (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		notify_status(new);
	}
	generation_put(old);
	generation_put(new);
}

/* ---- the control loop (sd-event) ------------------------------------------ */

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata);

static void arm_watch_retry(struct control *c)
{
	sd_event_source_set_time_relative(c->watch_retry, WATCH_RETRY_MS * USEC_PER_MS);
	sd_event_source_set_enabled(c->watch_retry, SD_EVENT_ONESHOT);
}

/* Watch the runtime directory; while it cannot be watched, try again every second. */
static void watch_runtime_dir(struct control *c)
{
	const char *dir = c->f->cfg->runtime_dir;
	int r;

	r = sd_event_add_inotify(c->event, &c->inotify, dir,
	                         IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF |
	                             IN_ONLYDIR,
	                         on_inotify, c);
	if (r < 0) {
		/* A missing directory is kvwatch's to make (or said to have gone). */
		if (r == -ENOENT)
			log_debug("\"%s\" does not exist (yet), watching for it", dir);
		else if (!c->inotify_failed)
			log_warnx("cannot watch \"%s\": %s; looking for new snapshots on SIGHUP, "
			          "the periodic check and every %d s until it can be watched",
			          dir, strerror(-r), WATCH_RETRY_MS / 1000);
		c->inotify_failed = r != -ENOENT;
		arm_watch_retry(c);
		return;
	}
	c->inotify_failed = false;
	log_debug("watching \"%s\" for new snapshots", dir);
	/* It may have appeared while nobody watched. */
	reload(c, "runtime directory watched");
}

static int on_watch_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct control *c = userdata;

	if (!c->inotify)
		watch_runtime_dir(c);
	if (!c->inotify)
		reload(c, "runtime directory not watched");
	return 0;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	struct control *c = userdata;

	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (c->inotify)
			log_warnx("runtime directory \"%s\" went away, watching for it again",
			          c->f->cfg->runtime_dir);
		c->inotify = sd_event_source_disable_unref(c->inotify);
		arm_watch_retry(c);
	} else if (ev->len && strcmp(ev->name, SNAP_FILE_NAME) == 0) {
		reload(c, "inotify");
	}
	return 0;
}

static int on_check(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct control *c = userdata;

	reload(c, "periodic check");
	sd_event_source_set_time_relative(s, (uint64_t)c->check_ms * USEC_PER_MS);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/* Commands on the pipe: 'h' SIGHUP, 'i' FUSE INIT done, 't' SIGTERM/SIGINT, 'q' quit. */
static int on_command(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct control *c = userdata;
	bool hup = false, init = false;
	char cmds[64];
	ssize_t n;

	while ((n = read(fd, cmds, sizeof(cmds))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (cmds[i] == 'q' || cmds[i] == 't')
				return sd_event_exit(c->event, 0);
			hup |= cmds[i] == 'h';
			init |= cmds[i] == 'i';
		}
	}
	if (init) {
		struct generation *g = gen_store_get(c->f->gens);

		log_info("mounted at \"%s\", reads up to %u KiB%s", c->mount_point,
		         c->f->max_read / 1024, c->f->splice ? " by splice" : "");
		sd_notify(0, "READY=1");
		notify_status(g);
		generation_put(g);
	}
	if (hup)
		reload(c, "SIGHUP");
	return 0;
}

static void *control_main(void *arg)
{
	struct control *c = arg;
	int r;

	watch_runtime_dir(c);
	r = sd_event_loop(c->event);
	if (r < 0)
		log_errorx("control loop: %s", strerror(-r));
	return NULL;
}

static void control_free(struct control *c)
{
	c->inotify = sd_event_source_disable_unref(c->inotify);
	c->watch_retry = sd_event_source_disable_unref(c->watch_retry);
	c->check = sd_event_source_disable_unref(c->check);
	c->command = sd_event_source_disable_unref(c->command);
	c->event = sd_event_unref(c->event);
}

/*
 * The loop's sources, made here and run by the control thread alone: the command
 * pipe, the periodic check, the retry of the directory watch, the watchdog
 * (watchdog_attach(): the supervisor's timerfd, or WATCHDOG=1 as $WATCHDOG_USEC asks).
 */
static int control_start(struct control *c)
{
	sigset_t block, old;
	int r;

	r = sd_event_new(&c->event);
	if (r >= 0)
		r = watchdog_attach(c->event);
	if (r >= 0)
		r = sd_event_add_io(c->event, &c->command, c->pipe_rd, EPOLLIN, on_command, c);
	if (r >= 0)
		r = sd_event_add_time_relative(c->event, &c->watch_retry, CLOCK_MONOTONIC,
		                               WATCH_RETRY_MS * USEC_PER_MS, 0, on_watch_retry, c);
	if (r >= 0)
		r = sd_event_source_set_enabled(c->watch_retry, SD_EVENT_OFF);
	if (r >= 0 && c->check_ms > 0)
		r = sd_event_add_time_relative(c->event, &c->check, CLOCK_MONOTONIC,
		                               (uint64_t)c->check_ms * USEC_PER_MS, 0, on_check, c);
	if (r < 0) {
		control_free(c);
		return r;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	r = -pthread_create(&c->thread, NULL, control_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		control_free(c);
	return r;
}

/* ---- start-up ------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: meta-fuse-fused [-c FILE] [-v | -q] [-d] [--fuse-fd N] [--read-ahead-fd N]\n"
	    "                       [--check-interval MS]\n"
	    "  -c, --config FILE  configuration (default: $%s or %s)\n"
	    "  -v, --verbose      more log output (repeat for debug)\n"
	    "  -q, --quiet        less log output\n"
	    "  -d, --debug-fuse   log every FUSE request (libfuse's debug output)\n"
	    "      --fuse-fd N    serve the FUSE descriptor N, already mounted by the\n"
	    "                     supervisor, instead of mounting fuse.mount_point\n"
	    "      --read-ahead-fd N  the mount's bdi read_ahead_kb, opened for writing by\n"
	    "                     the supervisor: fuse.read_ahead_kb is written there once\n"
	    "                     the kernel has taken the INIT reply\n"
	    "      --check-interval MS  also look for a new snapshot every MS ms\n"
	    "                     (default %d; 0: only on inotify events and SIGHUP)\n"
	    "See meta-fuse-fused(1).\n",
	    CONFIG_ENV_PATH, CONFIG_DEFAULT_PATH, PERIODIC_CHECK_MS);
}

/* The mount options; only meaningful when fused mounts by itself. */
static void mount_options(const struct config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "ro,fsname=meta-fuse,subtype=meta-fuse,default_permissions%s",
	         cfg->fuse.allow_other ? ",allow_other" : "");
}

static struct fuse_session *session_new(struct fused *f, const char *opts, bool debug)
{
	char *argv[] = {"meta-fuse-fused", "-o", (char *)opts, debug ? "-d" : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, argv);
	struct fuse_session *se;

	se = fuse_session_new(&args, &fused_ops, sizeof(fused_ops), f);
	fuse_opt_free_args(&args);
	return se;
}

/*
 * Mount fuse.mount_point by ourselves: clear a stale mount, refuse a live one,
 * create the directory when missing.  (As root libfuse mounts directly, else
 * through fusermount3.)
 */
static int mount_alone(struct fused *f, bool debug, struct fuse_session **ret_se)
{
	const char *mp = f->cfg->fuse.mount_point;
	enum mount_state state;
	struct fuse_session *se;
	char opts[256];
	int r;

	r = mount_state(mp, &state);
	if (r < 0) {
		log_errorx("mount point \"%s\": %s", mp, strerror(-r));
		return -r == ENOTDIR ? -EINVAL : r;
	}
	switch (state) {
	case MOUNT_STALE:
		log_warnx("mount point \"%s\" holds a stale FUSE mount (transport endpoint "
		          "is not connected): detaching it and mounting afresh",
		          mp);
		r = mount_detach(mp);
		if (r < 0) {
			log_errorx("cannot detach the stale mount at \"%s\": %s", mp, strerror(-r));
			return r;
		}
		break;
	case MOUNT_LIVE_OURS:
		log_errorx("\"%s\" is already served by a running meta-fuse; stop it first", mp);
		return -EBUSY;
	case MOUNT_MISSING:
		if (mkdir(mp, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			log_errorx("mount point \"%s\" does not exist and cannot be created: %s",
			           mp, strerror(-r));
			return -EINVAL;
		}
		log_info("created the mount point \"%s\"", mp);
		break;
	default:
		break;
	}

	mount_options(f->cfg, opts, sizeof(opts));
	se = session_new(f, opts, debug);
	if (!se) {
		log_errorx("cannot set up the FUSE session (see the libfuse message above)");
		return -EIO;
	}
	if (fuse_session_mount(se, mp) < 0) {
		fuse_session_destroy(se);
		log_errorx("cannot mount \"%s\" (see the libfuse message above)", mp);
		return -EIO;
	}
	*ret_se = se;
	return 0;
}

/*
 * Open the mount's bdi read_ahead_kb now, while still privileged, or take the
 * one the supervisor opened (given_fd); ops.c writes it once the kernel has
 * processed INIT (INIT may only lower the read-ahead, so a value written before
 * it would be lost).
 */
static void prepare_read_ahead(struct fused *f, const char *real_mp, int given_fd)
{
	char dev[64], path[128];

	f->read_ahead_fd = -1;
	f->read_ahead_kb = f->cfg->fuse.read_ahead_kb;
	if (f->read_ahead_kb == 0) {
		if (given_fd >= 0)
			close(given_fd);
		return;
	}
	if (given_fd >= 0) {
		f->read_ahead_fd = given_fd;
		return;
	}
	if (!real_mp[0])
		return;
	if (mount_device(real_mp, dev, sizeof(dev)) < 0) {
		log_debug("no mount found at \"%s\" in mountinfo: read-ahead left as is", real_mp);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f->read_ahead_fd = open(path, O_WRONLY | O_CLOEXEC);
	if (f->read_ahead_fd < 0)
		log_debug("cannot open \"%s\": %m, read-ahead left as is", path);
}

/*
 * A mount made as root must go when fused goes, also when it is killed or has
 * dropped its privileges: a process that stays root detaches it then.
 */
static void start_unmounter(const char *real_mp, int *ret_fd, pid_t *ret_pid)
{
	char dev[64];
	int r;

	if (!real_mp[0] || mount_device(real_mp, dev, sizeof(dev)) < 0) {
		log_warnx("mount at \"%s\" not found in mountinfo: it will not be removed "
		          "if fused is killed",
		          real_mp);
		return;
	}
	r = mount_start_unmounter(real_mp, dev, ret_fd, ret_pid);
	if (r < 0)
		log_warnx("cannot start the unmounter: %s; the mount stays if fused is killed",
		          strerror(-r));
}

static int drop_privileges(uid_t uid, gid_t gid)
{
	if (geteuid() != 0) {
		if (geteuid() != uid)
			log_debug("not root: running as uid %u, not the configured %u",
			          (unsigned)geteuid(), (unsigned)uid);
		return 0;
	}
	if (uid == 0 && gid == 0)
		return 0;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		log_error("cannot drop privileges to uid %u gid %u", (unsigned)uid, (unsigned)gid);
		return -EPERM;
	}
	if (uid != 0 && (setresuid(0, 0, 0) == 0 || geteuid() == 0))
		fatalx_temp("privileges still held after dropping them to uid %u", (unsigned)uid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		log_warn("PR_SET_NO_NEW_PRIVS");
	log_debug("running as uid %u gid %u", (unsigned)uid, (unsigned)gid);
	return 0;
}

static int parse_nonneg(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

/* The options of fused's own, for startup(). */
struct fused_args {
	bool debug;
	int fuse_fd;
	int read_ahead_fd;
	int check_ms;
};

static int fused_option(int opt, const char *arg, void *userdata)
{
	struct fused_args *a = userdata;

	switch (opt) {
	case 'd':
		a->debug = true;
		return 0;
	case 'F':
		a->fuse_fd = parse_nonneg(arg);
		if (a->fuse_fd < 0) {
			log_errorx("--fuse-fd: \"%s\" is not a descriptor number", arg);
			return -EINVAL;
		}
		return 0;
	case 'R':
		a->read_ahead_fd = parse_nonneg(arg);
		if (a->read_ahead_fd < 0 || fcntl(a->read_ahead_fd, F_GETFD) < 0) {
			log_errorx("--read-ahead-fd: \"%s\" is not an open descriptor", arg);
			return -EINVAL;
		}
		return 0;
	case 'I':
		a->check_ms = parse_nonneg(arg);
		if (a->check_ms < 0) {
			log_errorx("--check-interval: \"%s\" is not a number of ms", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

int fused_main(int argc, char **argv);

int fused_main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"debug-fuse", no_argument, NULL, 'd'},
	    {"fuse-fd", required_argument, NULL, 'F'},
	    {"read-ahead-fd", required_argument, NULL, 'R'},
	    {"check-interval", required_argument, NULL, 'I'},
	    {NULL, 0, NULL, 0},
	};
	struct fused_args args = {
	    .fuse_fd = -1, .read_ahead_fd = -1, .check_ms = PERIODIC_CHECK_MS};
	const struct startup start = {.name = "fused",
	                              .usage = usage,
	                              .shortopts = "d",
	                              .longopts = options,
	                              .option = fused_option,
	                              .userdata = &args};
	struct fused f = {.read_ahead_fd = -1, .wake_fd = -1};
	struct control ctl = {.pipe_rd = -1, .check_ms = PERIODIC_CHECK_MS};
	struct config *cfg = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop_cfg = NULL;
	char err[512], fd_path[32], real_mp[PATH_MAX] = "";
	int fuse_fd = -1, pipefd[2] = {-1, -1}, unmounter_fd = -1, file_err = 0;
	pid_t unmounter_pid = -1;
	bool debug = false, mounted_alone = false, control_running = false;
	int r, rc = EXIT_TEMPFAIL;

	fused_handles_init(&f);
	r = startup(&start, argc, argv, &cfg, NULL);
	if (r != STARTUP_RUN)
		return r;
	debug = args.debug;
	fuse_fd = args.fuse_fd;
	ctl.check_ms = args.check_ms;
	fuse_set_log_func(fuse_log_to_ours);
	if (!cfg->fuse.enabled) {
		log_notice("fuse.enabled is false: nothing to serve");
		config_free(cfg);
		return 0;
	}
	if (fuse_fd < 0 && strncmp(cfg->fuse.mount_point, "/dev/fd/", 8) == 0) {
		fuse_fd = parse_nonneg(cfg->fuse.mount_point + 8);
		if (fuse_fd < 0) {
			log_errorx("fuse.mount_point: \"%s\" is not a descriptor",
			           cfg->fuse.mount_point);
			config_free(cfg);
			return EXIT_CONFIG;
		}
	}
	if (fuse_fd >= 0 && fcntl(fuse_fd, F_GETFD) < 0) {
		log_errorx("--fuse-fd %d: not an open descriptor", fuse_fd);
		config_free(cfg);
		return EXIT_CONFIG;
	}

	f.cfg = cfg;
	f.attr_timeout = cfg->fuse.attr_ttl_ms / 1000.0;
	f.dir_ttl_ns = (int64_t)cfg->fuse.dir_ttl_ms * 1000000;
	f.file_mode = cfg->fuse.file_mode & 07777;
	f.dir_mode = cfg->fuse.dir_mode & 07777;
	f.uid = cfg->uid;
	f.gid = cfg->gid;
	if (gen_store_new(cfg->runtime_dir, &f.gens) < 0 ||
	    source_new(cfg->files_volume, &f.src) < 0 || keep_table_new(65536, &f.file_cache) < 0)
		fatalx_temp("out of memory");
	r = source_volume_status(f.src);
	if (r < 0)
		log_warnx("files volume \"%s\": %s; sources will not open until it is there",
		          cfg->files_volume, strerror(-r));
	if (cfg->source_webdav_url && *cfg->source_webdav_url) {
		r = webdav_new(cfg->source_webdav_url, &f.dav);
		if (r < 0)
			fatalx_temp("cannot set up the WebDAV source: %s", strerror(-r));
		log_info("files not readable under \"%s\" are read from \"%s\"", cfg->files_volume,
		         cfg->source_webdav_url);
	}

	/* The first generation, before the mount answers anything. */
	{
		struct generation *old = NULL, *new = NULL, *g;

		r = gen_store_reload(f.gens, &old, &new, err, sizeof(err));
		if (r == GEN_RELOAD_REFUSED)
			log_warnx("%s, no tree to serve yet", err);
		else if (r == GEN_RELOAD_SWITCHED && err[0] != '\0')
			log_warnx("%s", err);
		generation_put(old);
		generation_put(new);
		g = gen_store_get(f.gens);
		log_generation(g, gen_store_path(f.gens), "start");
		generation_put(g);
	}

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		fatal_temp("pipe");
	signal_pipe = pipefd[1];
	f.wake_fd = pipefd[1];
	install_signals();

	if (fuse_fd >= 0) {
		char opts[256];

		mount_options(cfg, opts, sizeof(opts));
		se = session_new(&f, opts, debug);
		snprintf(fd_path, sizeof(fd_path), "/dev/fd/%d", fuse_fd);
		if (!se || fuse_session_mount(se, fd_path) != 0) {
			log_errorx("cannot serve the FUSE descriptor %d", fuse_fd);
			goto out;
		}
		ctl.mount_point = fd_path;
		if (realpath(cfg->fuse.mount_point, real_mp) == NULL)
			real_mp[0] = '\0';
	} else {
		if (realpath(cfg->fuse.mount_point, real_mp) == NULL)
			real_mp[0] = '\0';
		r = mount_alone(&f, debug, &se);
		if (r < 0) {
			rc = r == -EINVAL ? EXIT_CONFIG : EXIT_TEMPFAIL;
			goto out;
		}
		mounted_alone = true;
		ctl.mount_point = cfg->fuse.mount_point;
		if (!real_mp[0] && realpath(cfg->fuse.mount_point, real_mp) == NULL)
			real_mp[0] = '\0';
	}
	f.se = se;
	signal_session = se;
	if (signal_stop)
		fuse_session_exit(se);
	prepare_read_ahead(&f, real_mp, args.read_ahead_fd);
	if (mounted_alone && geteuid() == 0)
		start_unmounter(real_mp, &unmounter_fd, &unmounter_pid);

	if (drop_privileges(cfg->uid, cfg->gid) < 0)
		goto out_unmount;
	/* After dropping privileges: the file is the service user's, to remove at the end. */
	r = fuse_metrics_new(cfg->runtime_dir, fused_op_names, FOP_MAX, &f.metrics, &file_err);
	if (r < 0)
		fatalx_temp("out of memory");
	if (file_err < 0)
		log_warnx("cannot create \"%s/" METRICS_FILE_DIR
		          "/" FUSE_METRICS_NAME METRICS_FILE_SUFFIX
		          "\": %s; apid will not see fused's operation counts",
		          cfg->runtime_dir, strerror(-file_err));

	ctl.f = &f;
	ctl.pipe_rd = pipefd[0];
	r = control_start(&ctl);
	if (r < 0) {
		log_errorx("cannot start the control thread: %s", strerror(-r));
		goto out_unmount;
	}
	control_running = true;

	loop_cfg = fuse_loop_cfg_create();
	if (!loop_cfg)
		fatalx_temp("out of memory");
	fuse_loop_cfg_set_clone_fd(loop_cfg, 0);
	fuse_loop_cfg_set_idle_threads(loop_cfg, 4);
	fuse_loop_cfg_set_max_threads(loop_cfg, 16);
	r = fuse_session_loop_mt(se, loop_cfg);
	if (signal_stop) {
		log_info("stopping");
		rc = 0;
	} else if (r == 0) {
		log_warnx("the mount at \"%s\" went away", ctl.mount_point);
	} else {
		log_errorx("the FUSE session failed: %s", strerror(r < 0 ? -r : EIO));
	}
	sd_notify(0, "STOPPING=1");

out_unmount:
	if (control_running) {
		char q = 'q';

		(void)!write(pipefd[1], &q, 1);
		pthread_join(ctl.thread, NULL);
		control_free(&ctl);
	}
	signal_session = NULL;
	if (unmounter_fd >= 0) {
		/*
		 * The unmounter detaches the mount (fused may no longer be root);
		 * libfuse then finds the connection ended and only closes it.
		 */
		close(unmounter_fd);
		unmounter_fd = -1;
		while (waitpid(unmounter_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (mounted_alone)
		fuse_session_unmount(se);
out:
	if (se)
		fuse_session_destroy(se);
	if (unmounter_fd >= 0)
		close(unmounter_fd);
	signal_pipe = -1;
	if (loop_cfg)
		fuse_loop_cfg_destroy(loop_cfg);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (f.read_ahead_fd >= 0)
		close(f.read_ahead_fd);
	webdav_free(f.dav);
	fused_handles_free(&f); /* the ones the kernel never released */
	keep_table_free(f.file_cache);
	fuse_metrics_free(f.metrics);
	source_free(f.src);
	gen_store_free(f.gens);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	return fused_main(argc, argv);
}
