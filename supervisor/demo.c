/*
 * demo: `meta-fuse demo`, the whole suite on the bundled sample library until
 * Ctrl-C (scripts/demo.sh, the README's first command, ends in it).
 *
 * In a fresh temporary directory: the sample files of demo/library.tsv (sparse,
 * of the listed sizes) under files/, a private redis-server on a free loopback
 * port loaded with their metadata in the seed layout, a configuration, and
 * `meta-fuse run` on it.  The demo waits for the supervisor's READY=1 on a
 * notify socket of its own (no polling), prints where to look, waits for
 * Ctrl-C or SIGTERM, stops the supervisor and redis-server and removes the
 * directory.  As root the workers run as the numeric users 61000 (kvwatch)
 * and 61001 (the readers), so no account has to exist; otherwise as the caller.
 * Parts that are not built are named, not faked.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "hash.h"

#ifndef MF_DEMO_DIR
#define MF_DEMO_DIR "/usr/share/meta-fuse/demo"
#endif

#define DEMO_WRITER      61000
#define DEMO_READER      61001
#define READY_TIMEOUT_MS 120000

struct demo {
	char dir[PATH_MAX];
	char self[PATH_MAX];
	const char *library;
	unsigned redis_port, webdav_port, api_port;
	pid_t redis_pid, sup_pid;
	int notify_fd;
	size_t files;
	bool keep;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("meta-fuse demo: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A loopback port nothing listens on now (the kernel's choice). */
static unsigned free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static pid_t spawn(char *const argv[], const char *log, char *const envp[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		setpgid(0, 0); /* Ctrl-C is ours to forward */
		if (envp)
			execve(argv[0], argv, envp);
		else
			execvp(argv[0], argv);
		fprintf(stderr, "meta-fuse demo: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static int start_redis(struct demo *d, redisContext **ret)
{
	char port[16], dir[PATH_MAX + 8], log[PATH_MAX + 16];
	char *argv[] = {"redis-server", "--port", port,    "--bind", "127.0.0.1", "--save", "",
	                "--appendonly", "no",     "--dir", dir,      NULL};

	d->redis_port = free_port();
	snprintf(port, sizeof(port), "%u", d->redis_port);
	snprintf(dir, sizeof(dir), "%s/redis", d->dir);
	snprintf(log, sizeof(log), "%s/redis.log", d->dir);
	if (mkdir(dir, 0700) < 0)
		return -errno;
	d->redis_pid = spawn(argv, log, NULL);
	if (d->redis_pid < 0)
		return -errno;
	/* redis-server takes a moment to listen: try for up to 10 s. */
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		redisContext *c = redisConnect("127.0.0.1", (int)d->redis_port);

		if (c && !c->err) {
			*ret = c;
			return 0;
		}
		redisFree(c);
		if (waitpid(d->redis_pid, NULL, WNOHANG) == d->redis_pid) {
			d->redis_pid = 0;
			say("redis-server did not start; see %s", log);
			return -EIO;
		}
		nanosleep(&ts, NULL);
	}
	say("redis-server does not answer on port %u", d->redis_port);
	return -ETIMEDOUT;
}

static int set_key(redisContext *c, const char *id, const char *prop, const char *value)
{
	redisReply *r = redisCommand(c, "SET meta-sort:file:%s:%s %s", id, prop, value);
	int ok = r && r->type == REDIS_REPLY_STATUS;

	freeReplyObject(r);
	return ok ? 0 : -EIO;
}

/* One line of library.tsv: size, then property=value fields. */
static int load_line(struct demo *d, redisContext *c, char *line, int64_t now_ms)
{
	char *save = NULL, *size_s = strtok_r(line, "\t", &save), *f, *path = NULL;
	char *fields[32], id[32], full[PATH_MAX * 2], num[32];
	size_t n = 0;
	long long size;
	int fd;

	if (!size_s || !*size_s || *size_s == '#')
		return 0;
	size = atoll(size_s);
	while ((f = strtok_r(NULL, "\t", &save)) && n < sizeof(fields) / sizeof(fields[0])) {
		fields[n++] = f;
		if (strncmp(f, "filePath=", 9) == 0)
			path = f + 9;
	}
	if (!path || size < 0 || strstr(path, "..") || path[0] == '/')
		return -EINVAL;
	snprintf(full, sizeof(full), "%s/files/%s", d->dir, path);
	for (char *p = full + strlen(d->dir) + 7; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(full, 0755);
		*p = '/';
	}
	fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, size) < 0) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		return r;
	}
	close(fd);
	snprintf(id, sizeof(id), "demo%016" PRIx64, hash64(path, strlen(path), 0));
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(fields[i], '=');

		if (!eq)
			continue;
		*eq = '\0';
		if (set_key(c, id, fields[i], eq + 1) < 0)
			return -EIO;
	}
	snprintf(num, sizeof(num), "%lld", size);
	if (set_key(c, id, "size", num) < 0)
		return -EIO;
	snprintf(num, sizeof(num), "%" PRId64, now_ms);
	if (set_key(c, id, "mtime", num) < 0)
		return -EIO;
	d->files++;
	return 0;
}

static int load_library(struct demo *d, redisContext *c)
{
	FILE *f = fopen(d->library, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int r = 0;

	if (!f) {
		say("cannot read the sample library \"%s\": %s", d->library, strerror(errno));
		return -errno;
	}
	while (r == 0 && (len = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		r = load_line(d, c, line, (int64_t)time(NULL) * 1000);
		if (r < 0)
			say("%s:%u: %s", d->library, lineno, strerror(-r));
	}
	free(line);
	fclose(f);
	return r;
}

static int write_config(struct demo *d)
{
	char path[PATH_MAX + 32];
	bool root = geteuid() == 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/meta-fuse.conf", d->dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	d->webdav_port = free_port();
	d->api_port = free_port();
	fprintf(f,
	        "# The demo's configuration, written by meta-fuse demo.\n"
	        "runtime_dir = \"%s/run\";\n"
	        "state_dir = \"%s/state\";\n" /* never a saved tree of another run */
	        "files_volume = \"%s/files\";\n"
	        "uid = %u;\ngid = %u;\nwriter_user = \"%u\";\n"
	        "kv = { redis_url = \"redis://127.0.0.1:%u\"; meta_core_path = \"%s\"; };\n"
	        "fuse = { mount_point = \"%s/mnt\"; allow_other = %s; };\n"
	        "webdav = { listen = \"127.0.0.1:%u\"; };\n"
	        "api = { listen = \"127.0.0.1:%u\"; };\n",
	        d->dir, d->dir, d->dir, root ? DEMO_READER : (unsigned)getuid(),
	        root ? DEMO_READER : (unsigned)getgid(), root ? DEMO_WRITER : (unsigned)getuid(),
	        d->redis_port, d->dir, d->dir, root ? "true" : "false", d->webdav_port,
	        d->api_port);
	if (fclose(f) != 0)
		return -errno;
	return chmod(path, 0644) < 0 ? -errno : 0;
}

/* The notify socket the supervisor says READY=1 on. */
static int open_notify(struct demo *d, char *name, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n;

	snprintf(name, len, "@meta-fuse-demo/%d", (int)getpid());
	n = strlen(name);
	memcpy(sa.sun_path, name, n);
	sa.sun_path[0] = '\0';
	d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (d->notify_fd < 0 || bind(d->notify_fd, (struct sockaddr *)&sa,
	                             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		return -errno;
	return 0;
}

static bool built(const struct demo *d, const char *exe)
{
	char path[PATH_MAX + 64];
	char *slash = strrchr(d->self, '/');

	snprintf(path, sizeof(path), "%.*s/%s", slash ? (int)(slash - d->self) : 0, d->self, exe);
	return access(path, X_OK) == 0;
}

static int start_supervisor(struct demo *d)
{
	char conf[PATH_MAX + 32], log[PATH_MAX + 32], notify[128], env_notify[160];
	char *argv[] = {d->self, "run", "-c", conf, NULL};
	char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", env_notify, NULL, NULL};
	const char *asan = getenv("ASAN_OPTIONS");
	char env_asan[512];
	int r;

	snprintf(conf, sizeof(conf), "%s/meta-fuse.conf", d->dir);
	r = open_notify(d, notify, sizeof(notify));
	if (r < 0)
		return r;
	snprintf(env_notify, sizeof(env_notify), "NOTIFY_SOCKET=%s", notify);
	if (asan) {
		snprintf(env_asan, sizeof(env_asan), "ASAN_OPTIONS=%s", asan);
		envp[2] = env_asan;
	}
	snprintf(log, sizeof(log), "%s/meta-fuse.log", d->dir);
	d->sup_pid = spawn(argv, log, envp);
	return d->sup_pid < 0 ? -errno : 0;
}

/* Is this SIGCHLD the supervisor's end?  Reaps redis-server too. */
static bool supervisor_gone(struct demo *d)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		if (pid == d->sup_pid)
			d->sup_pid = 0;
		else if (pid == d->redis_pid)
			d->redis_pid = 0;
	}
	return d->sup_pid == 0 || d->redis_pid == 0;
}

/*
 * Wait for READY=1 from the supervisor (ready) or a signal: SIGCHLD of the
 * supervisor or redis-server (-ECHILD), SIGINT/SIGTERM/SIGHUP (-EINTR).
 */
static int wait_event(struct demo *d, int sfd, bool ready)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = sfd, .events = POLLIN},
		                      {.fd = d->notify_fd, .events = POLLIN}};
		struct signalfd_siginfo si;
		char buf[4096];
		ssize_t n;
		int k = poll(p, ready ? 2 : 1, ready ? READY_TIMEOUT_MS : -1);

		if (k == 0)
			return -ETIMEDOUT;
		if (k < 0 && errno != EINTR)
			return -errno;
		if (p[0].revents & POLLIN) {
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo != SIGCHLD)
					return -EINTR;
				if (supervisor_gone(d))
					return -ECHILD;
			}
		}
		if (ready && (p[1].revents & POLLIN)) {
			n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (n > 0) {
				buf[n] = '\0';
				if (strstr(buf, "READY=1"))
					return 0;
				/* A worker gave up: READY will not come. */
				if (strstr(buf, "STATUS=") &&
				    (strstr(buf, " fatal,") || strstr(buf, " failed,"))) {
					say("%s", strstr(buf, "STATUS=") + 7);
					return -EPROTO;
				}
			}
		}
	}
}

static void print_banner(const struct demo *d)
{
	bool dav = built(d, "meta-fuse-davd"), api = built(d, "meta-fuse-apid");

	printf("\nmeta-fuse demo is running: %zu sample files from %s\n"
	       "everything lives under %s\n\n",
	       d->files, d->library, d->dir);
	printf("  mount point   %s/mnt    (try: find %s/mnt)\n", d->dir, d->dir);
	if (dav)
		printf("  WebDAV        http://127.0.0.1:%u/webdav/   user metamesh, password "
		       "metamesh\n",
		       d->webdav_port);
	else
		printf("  WebDAV        not built (meta-fuse-davd), not started\n");
	if (api) {
		printf("  REST API      http://127.0.0.1:%u/api/fuse/health\n", d->api_port);
		printf("  dashboard     http://127.0.0.1:%u/\n", d->api_port);
	} else {
		printf("  REST API      not built (meta-fuse-apid), not started\n");
		printf("  dashboard     not built (meta-fuse-apid), not started\n");
	}
	printf("  status        %s status --runtime-dir %s/run\n", d->self, d->dir);
	printf("  the snapshot  %s dump --runtime-dir %s/run\n", d->self, d->dir);
	printf("  logs          %s/meta-fuse.log\n", d->dir);
	printf("  Redis         redis-cli -p %u   (seed layout, meta-sort:file:{id}:{property})\n",
	       d->redis_port);
	printf("\nCtrl-C stops everything and removes %s.\n", d->dir);
	fflush(stdout);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)(flag == FTW_DP ? rmdir(path) : unlink(path));
	return 0;
}

static void stop_child(pid_t *pid, int sig, const char *what)
{
	int status;

	if (*pid <= 0)
		return;
	kill(*pid, sig);
	for (int i = 0; i < 300; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		if (waitpid(*pid, &status, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		nanosleep(&ts, NULL);
	}
	say("%s did not stop in 15 s: killing it", what);
	kill(*pid, SIGKILL);
	waitpid(*pid, &status, 0);
	*pid = 0;
}

int cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"library", required_argument, NULL, 'l'},
	    {"keep", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct demo d = {.library = MF_DEMO_DIR "/library.tsv", .notify_fd = -1};
	redisContext *c = NULL;
	sigset_t sigs;
	ssize_t n;
	int opt, r, sfd, rc = EXIT_TEMPFAIL;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			d.library = optarg;
			break;
		case 'k':
			d.keep = true;
			break;
		case 'h':
			printf("usage: meta-fuse demo [--library FILE] [--keep]\n");
			return 0;
		default:
			fprintf(stderr, "usage: meta-fuse demo [--library FILE] [--keep]\n");
			return EXIT_CONFIG;
		}
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0)
		return EXIT_TEMPFAIL;

	n = readlink("/proc/self/exe", d.self, sizeof(d.self) - 1);
	if (n <= 0)
		return EXIT_TEMPFAIL;
	d.self[n] = '\0';
	snprintf(d.dir, sizeof(d.dir), "%s/meta-fuse-demo.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(d.dir) || chmod(d.dir, 0755) < 0) {
		say("cannot create a directory in /tmp: %s", strerror(errno));
		return EXIT_TEMPFAIL;
	}
	{
		char p[PATH_MAX + 16];

		snprintf(p, sizeof(p), "%s/files", d.dir);
		(void)mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/mnt", d.dir);
		(void)mkdir(p, 0755);
	}
	r = start_redis(&d, &c);
	if (r == 0)
		r = load_library(&d, c);
	redisFree(c);
	if (r == 0)
		r = write_config(&d);
	if (r == 0)
		r = start_supervisor(&d);
	if (r == 0)
		r = wait_event(&d, sfd, true);
	if (r == 0) {
		print_banner(&d);
		/* Until Ctrl-C, SIGTERM, or the end of the supervisor or redis-server. */
		if (wait_event(&d, sfd, false) == -ECHILD)
			say("%s ended by itself; see %s/*.log",
			    d.sup_pid ? "redis-server" : "the supervisor", d.dir);
		rc = 0;
	} else if (r == -EINTR) {
		rc = 0;
	} else if (r == -EPROTO) {
		say("a worker could not start; its log is in %s/meta-fuse.log", d.dir);
		d.keep = true;
	} else if (r == -ECHILD) {
		say("the supervisor stopped before it was ready; run it by hand to see why:\n"
		    "  %s run -c %s/meta-fuse.conf",
		    d.self, d.dir);
		d.keep = true;
	} else {
		say("cannot start: %s", strerror(-r));
	}
	say("stopping");
	stop_child(&d.sup_pid, SIGTERM, "the supervisor");
	stop_child(&d.redis_pid, SIGTERM, "redis-server");
	if (d.notify_fd >= 0)
		close(d.notify_fd);
	close(sfd);
	if (!d.keep)
		nftw(d.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	else
		say("kept %s", d.dir);
	return rc;
}
