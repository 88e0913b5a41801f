/*
 * users: who the workers run as, and the directories that depend on it.
 *
 * The readers (fused, davd, apid and the configuration's programs) run as the
 * configuration's uid/gid; the writer kvwatch runs as writer_user, resolved
 * here: a user name (group: its primary group) or a number (group: the primary
 * group of its passwd entry, or the same number when it has none); a program's
 * `user` is resolved the same way.  Each lookup runs in a short-lived child:
 * the system's user database may load NSS modules (libnss_systemd for a uid
 * that /etc/passwd does not know: 0.6 MB of resident pages, half of it
 * private), which would otherwise stay mapped in the supervisor for good.
 * The runtime
 * directory belongs to the writer with the readers' group, mode 0750: the readers
 * can map the snapshot but not write, truncate, rename or replace anything in it.
 * Its metrics/ subdirectory belongs to the readers (0755): davd and apid keep
 * their request counters there (lib/http_metrics.h), fused its operation counts
 * (lib/fuse_metrics.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errbuf.h"
#include "http_metrics.h"
#include "log.h"
#include "supervisor.h"

struct answer {
	bool found;
	uid_t uid;
	gid_t gid;
};

static void lookup_here(const char *name, uid_t uid, struct answer *a)
{
	struct passwd *pw = name ? getpwnam(name) : getpwuid(uid);

	a->found = pw != NULL;
	a->uid = pw ? pw->pw_uid : 0;
	a->gid = pw ? pw->pw_gid : 0;
}

/* getpwnam(name), or getpwuid(uid) when name is NULL, in a child of its own. */
static void lookup(const char *name, uid_t uid, struct answer *ret)
{
	struct answer a = {0};
	int p[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		lookup_here(name, uid, ret); /* no child: the pages stay, the answer is right */
		return;
	}
	if (pid == 0) {
		close(p[0]);
		lookup_here(name, uid, &a);
		_exit(write(p[1], &a, sizeof(a)) == (ssize_t)sizeof(a) ? 0 : 1);
	}
	close(p[1]);
	do
		n = read(p[0], &a, sizeof(a));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(a))
		lookup_here(name, uid, &a); /* the child failed: ask here */
	*ret = a;
}

int users_resolve(const char *u, const char *what, uid_t *ret_uid, gid_t *ret_gid, char *err,
                  size_t errlen)
{
	struct answer a;
	char *end;

	if (*u >= '0' && *u <= '9') {
		unsigned long v;

		errno = 0;
		v = strtoul(u, &end, 10);
		if (errno || *end || v >= 4294967295ul)
			return errbuf_set(err, errlen, -EINVAL,
			                  "%s: \"%s\" is not a user name or a uid", what, u);
		lookup(NULL, (uid_t)v, &a);
		*ret_uid = (uid_t)v;
		*ret_gid = a.found ? a.gid : (gid_t)v;
		return 0;
	}
	lookup(u, 0, &a);
	if (!a.found)
		return errbuf_set(err, errlen, -EINVAL, "%s: user \"%s\" does not exist", what, u);
	*ret_uid = a.uid;
	*ret_gid = a.gid;
	return 0;
}

int users_resolve_writer(const struct config *cfg, uid_t *ret_uid, gid_t *ret_gid, char *err,
                         size_t errlen)
{
	int r = users_resolve(cfg->writer_user, "writer_user", ret_uid, ret_gid, err, errlen);

	if (r < 0 && !(*cfg->writer_user >= '0' && *cfg->writer_user <= '9'))
		errbuf_set(err, errlen, r,
		           "writer_user: user \"%s\" does not exist; create it (the packages do) "
		           "or set writer_user (META_FUSE_WRITER_USER) to another name or a number",
		           cfg->writer_user);
	return r;
}

/* mkdir -p, the missing parents 0755 (root's). */
static int mkdir_parents(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Create dir if needed and give it owner, group and mode (never through a symlink). */
static int own_dir(const char *dir, uid_t uid, gid_t gid, mode_t mode)
{
	int fd, r = 0;

	r = mkdir_parents(dir, mode);
	if (r < 0) {
		log_errorx("cannot create \"%s\": %s", dir, strerror(-r));
		return r;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_errorx("\"%s\": %s (a directory is expected, not a symlink)", dir,
		           strerror(-r));
		return r;
	}
	if (geteuid() == 0 && fchown(fd, uid, gid) < 0) {
		r = -errno;
		log_errorx("cannot give \"%s\" to uid %u gid %u: %s", dir, (unsigned)uid,
		           (unsigned)gid, strerror(-r));
	} else if (fchmod(fd, mode) < 0) {
		r = -errno;
		log_errorx("cannot chmod \"%s\": %s", dir, strerror(-r));
	}
	close(fd);
	return r;
}

int users_prepare_dirs(const struct supervisor *s)
{
	const struct config *cfg = s->cfg;
	char metrics[PATH_MAX];
	int r;

	r = own_dir(cfg->runtime_dir, s->writer_uid, cfg->gid, 0750);
	if (r < 0)
		return r;
	/* davd's and apid's request counters: the readers write there, and only there. */
	if (snprintf(metrics, sizeof(metrics), "%s/%s", cfg->runtime_dir, HTTP_METRICS_DIR) >=
	    (int)sizeof(metrics))
		return -ENAMETOOLONG;
	r = own_dir(metrics, cfg->uid, cfg->gid, 0755);
	if (r < 0)
		return r;
	/* kvwatch's saved tree (the warm start): the writer's alone. */
	return own_dir(cfg->state_dir, s->writer_uid, s->writer_gid, 0700);
}
