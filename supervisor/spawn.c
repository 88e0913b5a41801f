/*
 * spawn: fork and exec one worker, unprivileged.
 *
 * The child goes through one fixed order and dies with one clear line (on its
 * log pipe) at the first step that fails, before running anything of the
 * worker:
 *   own process group; signal mask and dispositions reset; stdin /dev/null,
 *   stdout and stderr the log pipe; the passed descriptors at 3, 4, ... and
 *   every other descriptor closed; the capability bounding set emptied;
 *   setgroups, setgid, setuid (and a check that root cannot be regained);
 *   PR_SET_NO_NEW_PRIVS; empty capability sets (checked with capget); a
 *   parent-death signal; a clean environment: PATH, the configuration's own
 *   variables, LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES, NOTIFY_SOCKET, and
 *   META_FUSE_WATCHDOG_FD/_USEC (its watchdog's timerfd, passed after the
 *   sockets; WATCHDOG_USEC when there is none); exec.
 * When the supervisor is not root it cannot change users: the workers then run
 * as the supervisor's user, still with no capabilities and no new privileges,
 * except fused, which then mounts by itself through the setuid fusermount3.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

#define ENV_MAX  64
#define ARGV_MAX 8
#define FDS_MAX  4
#define ENV_KEEP "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

/* Variables that are not configuration but that a worker should still see. */
static const char *const passed_vars[] = {"TZ",           "LANG",          "LC_ALL",
                                          "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};

struct plan {
	const char *name;
	const char *exe;
	char *const *argv;
	char *env[ENV_MAX];
	size_t envc;
	char listen_pid[32]; /* "LISTEN_PID=" filled in by the child */
	int fds[FDS_MAX];
	size_t nfds;
	size_t nlisten; /* of fds, the listening sockets (LISTEN_FDS) */
	uid_t uid;
	gid_t gid;
	int log_fd;
	pid_t parent;
	bool keep_setuid; /* fused of a supervisor that is not root: fusermount3 */
};

/* One line on the log pipe (stderr) and exit: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_die(const struct plan *p, int status, const char *what, int err)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "<3>%s: cannot start: %s%s%s\n", p->name, what,
	                 err ? ": " : "", err ? strerror(err) : "");

	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	_exit(status);
}

static int cap_last(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC), n = 0;

	if (fd >= 0) {
		n = (int)read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	return n > 0 ? atoi(buf) : 40;
}

static void child_drop(const struct plan *p)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	bool root = geteuid() == 0;

	if (root) {
		for (int c = 0, last = cap_last(); c <= last; c++)
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				child_die(p, EXIT_TEMPFAIL, "dropping the bounding set", errno);
		if (setgroups(0, NULL) < 0)
			child_die(p, EXIT_CONFIG, "setgroups", errno);
		if (setresgid(p->gid, p->gid, p->gid) < 0)
			child_die(p, EXIT_CONFIG, "setgid", errno);
		if (setresuid(p->uid, p->uid, p->uid) < 0)
			child_die(p, EXIT_CONFIG, "setuid", errno);
		if (p->uid != 0 && (setresuid(0, 0, 0) == 0 || geteuid() == 0))
			child_die(p, EXIT_TEMPFAIL, "root could be regained after setuid", 0);
	}
	if (!p->keep_setuid && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_die(p, EXIT_TEMPFAIL, "PR_SET_NO_NEW_PRIVS", errno);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_die(p, EXIT_TEMPFAIL, "emptying the capability sets", errno);
	memset(data, 0xff, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		child_die(p, EXIT_TEMPFAIL, "capget", errno);
	for (int i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			child_die(p, EXIT_TEMPFAIL, "capabilities still held after dropping them",
			          0);
}

static void __attribute__((noreturn)) child_run(struct plan *p)
{
	sigset_t none;
	int devnull, high[FDS_MAX];

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);

	/* stdio first: from here on child_die() reaches the log. */
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(p->log_fd, STDOUT_FILENO) < 0 ||
	    dup2(p->log_fd, STDERR_FILENO) < 0)
		_exit(EXIT_TEMPFAIL);
	/* Out of the way of 3.. first, then into place. */
	for (size_t i = 0; i < p->nfds; i++) {
		high[i] = fcntl(p->fds[i], F_DUPFD_CLOEXEC, 100);
		if (high[i] < 0)
			child_die(p, EXIT_TEMPFAIL, "dup", errno);
	}
	for (size_t i = 0; i < p->nfds; i++)
		if (dup2(high[i], 3 + (int)i) < 0) /* dup2 clears close-on-exec */
			child_die(p, EXIT_TEMPFAIL, "dup2", errno);
	close_range(3 + (unsigned)p->nfds, ~0U, 0);

	child_drop(p);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
		child_die(p, EXIT_TEMPFAIL, "PR_SET_PDEATHSIG", errno);
	if (getppid() != p->parent)
		_exit(EXIT_TEMPFAIL); /* the supervisor is already gone */
	if (chdir("/") < 0)
		child_die(p, EXIT_TEMPFAIL, "chdir /", errno);
	if (p->nfds > 0) {
		snprintf(p->listen_pid, sizeof(p->listen_pid), "LISTEN_PID=%d", (int)getpid());
		p->env[p->envc++] = p->listen_pid;
	}
	p->env[p->envc] = NULL;
	execve(p->exe, p->argv, p->env);
	child_die(p, errno == ENOENT || errno == EACCES ? EXIT_CONFIG : EXIT_TEMPFAIL, p->exe,
	          errno);
}

static int env_add(struct plan *p, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (p->envc >= ENV_MAX - 2) /* room for LISTEN_PID and the NULL */
		return -E2BIG;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	p->env[p->envc++] = s;
	return 0;
}

static int plan_env(struct plan *p, const struct supervisor *s, const struct worker *w,
                    const char *fdnames, int wd_fdnum)
{
	int r = env_add(p, "%s", ENV_KEEP);

	for (char **e = environ; r == 0 && *e; e++) {
		const char *eq = strchr(*e, '=');
		char name[64];
		bool keep;

		if (!eq || (size_t)(eq - *e) >= sizeof(name))
			continue;
		memcpy(name, *e, (size_t)(eq - *e));
		name[eq - *e] = '\0';
		keep = config_is_env_var(name);
		for (size_t i = 0; !keep && i < sizeof(passed_vars) / sizeof(passed_vars[0]); i++)
			keep = strcmp(name, passed_vars[i]) == 0;
		if (keep)
			r = env_add(p, "%s", *e);
	}
	for (char **e = w->env; r == 0 && e && *e; e++)
		r = env_add(p, "%s", *e); /* a program's own environment */
	if (r == 0 && p->nlisten > 0)
		r = env_add(p, "LISTEN_FDS=%zu", p->nlisten);
	if (r == 0 && fdnames)
		r = env_add(p, "LISTEN_FDNAMES=%s", fdnames);
	if (r == 0 && w->role && (w->role->flags & ROLE_NOTIFY)) {
		r = env_add(p, "NOTIFY_SOCKET=%s", s->notify_socket);
		/* The socket understands meta-fuse's own requests (notify.c), systemd's does not. */
		if (r == 0)
			r = env_add(p, "META_FUSE_SUPERVISOR=1");
		/* The deadline's timerfd (supervisor/watchdog.c): pings wake nobody. */
		if (r == 0 && s->watchdog_usec && wd_fdnum >= 0)
			r = env_add(p, "META_FUSE_WATCHDOG_FD=%d", wd_fdnum);
		if (r == 0 && s->watchdog_usec && wd_fdnum >= 0)
			r = env_add(p, "META_FUSE_WATCHDOG_USEC=%" PRIu64, s->watchdog_usec);
		else if (r == 0 && s->watchdog_usec)
			r = env_add(p, "WATCHDOG_USEC=%" PRIu64, s->watchdog_usec);
	}
	return r;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->envc; i++)
		free(p->env[i]);
}

/*
 * A program's command without a '/' is looked up in the supervisor's PATH (as a
 * shell would: `command = ["nginx", ...]`), in the parent, since the child's
 * environment is cleaned.  Not found: the name as it is, which execve() refuses
 * with ENOENT (a configuration error, not retried).
 */
static const char *find_command(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/') != NULL)
		return name;
	if (path == NULL || *path == '\0')
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t n =
		    strcspn(path, ":"); /* an empty entry (the current directory) is skipped */

		if (n > 0) {
			int w = snprintf(buf, len, "%.*s/%s", (int)n, path, name);

			if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0)
				return buf;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return name;
}

int spawn_worker(struct supervisor *s, struct worker *w)
{
	char found[PATH_MAX];
	struct plan p = {.name = w->name, .log_fd = -1};
	const struct config *cfg = s->cfg;
	char *argv[ARGV_MAX], fdnum[16], ra_fdnum[16];
	const char *fdnames = NULL;
	int pipefd[2], r, wd_fdnum = -1, ra_fd = -1;
	size_t argc = 0;
	pid_t pid;

	if (w->role) {
		argv[argc++] = w->exe;
		if (s->config_path) {
			argv[argc++] = "-c";
			argv[argc++] = s->config_path;
		}
		if ((w->role->flags & ROLE_FUSE_FD) && s->fuse_fd >= 0) {
			p.fds[p.nfds++] = s->fuse_fd;
			snprintf(fdnum, sizeof(fdnum), "%d", 3);
			argv[argc++] = "--fuse-fd";
			argv[argc++] = fdnum;
		}
		if ((w->role->flags & ROLE_WEBDAV_FD) && s->webdav_fd >= 0) {
			p.fds[p.nfds++] = s->webdav_fd;
			p.nlisten++;
			fdnames = "webdav";
		}
		if ((w->role->flags & ROLE_API_FD) && s->api_fd >= 0) {
			p.fds[p.nfds++] = s->api_fd;
			p.nlisten++;
			fdnames = "api";
		}
		/* After the sockets: LISTEN_FDS counts those alone. */
		if (w->watchdog_fd >= 0 && s->watchdog_usec) {
			wd_fdnum = 3 + (int)p.nfds;
			p.fds[p.nfds++] = w->watchdog_fd;
		}
		if ((w->role->flags & ROLE_FUSE_FD) && s->fuse_fd >= 0 &&
		    (ra_fd = fusemount_read_ahead_open(s)) >= 0) {
			snprintf(ra_fdnum, sizeof(ra_fdnum), "%d", 3 + (int)p.nfds);
			p.fds[p.nfds++] = ra_fd;
			argv[argc++] = "--read-ahead-fd";
			argv[argc++] = ra_fdnum;
		}
		argv[argc] = NULL;
		p.exe = w->exe;
		p.argv = argv;
	} else {
		p.exe = find_command(w->argv[0], found, sizeof(found));
		p.argv = w->argv;
	}
	p.keep_setuid = w->role && (w->role->flags & ROLE_FUSE_FD) && geteuid() != 0;
	if (w->role && (w->role->flags & ROLE_WRITER)) {
		p.uid = s->writer_uid;
		p.gid = s->writer_gid;
	} else if (w->own_user) {
		p.uid = w->uid;
		p.gid = w->gid;
	} else {
		p.uid = cfg->uid;
		p.gid = cfg->gid;
	}
	r = plan_env(&p, s, w, fdnames, wd_fdnum);
	if (r < 0) {
		plan_free(&p);
		if (ra_fd >= 0)
			close(ra_fd);
		return r;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		plan_free(&p);
		if (ra_fd >= 0)
			close(ra_fd);
		return r;
	}
	p.log_fd = pipefd[1];
	p.parent = getpid();
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		plan_free(&p);
		if (ra_fd >= 0)
			close(ra_fd);
		return r;
	}
	if (pid == 0)
		child_run(&p);
	close(pipefd[1]);
	plan_free(&p);
	if (ra_fd >= 0)
		close(ra_fd); /* fused has its own */
	/* Its own group from the start, whichever of the two runs first. */
	(void)setpgid(pid, pid);
	w->pid = pid;
	w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	r = logfwd_attach(w, pipefd[0]);
	if (r < 0) {
		log_warnx("%s: cannot forward its log: %s", w->name, strerror(-r));
		close(pipefd[0]);
	}
	return 0;
}
