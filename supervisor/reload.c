/*
 * reload: `meta-fuse reload` and SIGHUP.  The configuration is loaded anew; on
 * an error nothing changes and the message goes back to the caller.  Otherwise
 * the old and the new configuration are compared key by key (as check-config
 * prints them) and only the workers whose keys changed are restarted (the role
 * table names each role's keys); kvwatch re-reads the file itself on SIGHUP, so
 * a change of the rules alone restarts nothing and leaves the mount alone.
 * Programs of the configuration are started, restarted or stopped as their
 * entries appear, change or go.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "supervisor.h"

/* check-config's text of a configuration, the origin comments cut off. */
static char *config_text(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	config_print(cfg, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		char *hash;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		hash = NULL;
		for (char *p = strstr(line, "  # "); p; p = strstr(p + 1, "  # "))
			hash = p;
		if (hash)
			memset(hash, ' ', strlen(hash)); /* same length: the walk stays simple */
		if (nl)
			*nl = '\n';
	}
	return buf;
}

/* The line of key in text ("key = value   "), or NULL. */
static const char *find_line(const char *text, const char *key, size_t keylen, size_t *ret_len)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len > keylen + 3 && memcmp(line, key, keylen) == 0 &&
		    memcmp(line + keylen, " = ", 3) == 0) {
			*ret_len = len;
			return line;
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* Did any key starting with prefix (a whole key when it has no final '.') change? */
static bool key_changed(const char *old, const char *new, const char *prefix)
{
	size_t plen = strlen(prefix);
	bool group = plen > 0 && prefix[plen - 1] == '.';
	const char *texts[2] = {old, new};

	for (int t = 0; t < 2; t++) {
		for (const char *line = texts[t]; line && *line;) {
			const char *nl = strchr(line, '\n'), *eq = strstr(line, " = ");
			size_t klen = eq ? (size_t)(eq - line) : 0, la, lb;
			const char *a, *b;

			line = nl ? nl + 1 : NULL;
			if (!eq || (nl && eq > nl))
				continue;
			if (group ? strncmp(eq - klen, prefix, plen) != 0
			          : !(klen == plen && strncmp(eq - klen, prefix, plen) == 0))
				continue;
			a = find_line(old, eq - klen, klen, &la);
			b = find_line(new, eq - klen, klen, &lb);
			if (!a || !b || la != lb || memcmp(a, b, la) != 0)
				return true;
		}
	}
	return false;
}

static bool role_changed(const struct role *r, const char *old, const char *new)
{
	for (const char *const *k = r->restart_keys; *k; k++)
		if (key_changed(old, new, *k))
			return true;
	return false;
}

static bool argv_equal(char **a, char **b)
{
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return !*a && !*b;
}

static void append(char *msg, size_t msglen, const char *name)
{
	size_t n = strlen(msg);

	snprintf(msg + n, msglen - n, "%s%s", n ? ", " : "", name);
}

static int reopen_listen(struct supervisor *s, int *fd, const struct config_listen *l)
{
	int nfd = -1, r = listen_open(l, &nfd);

	if (r < 0)
		return r;
	if (*fd >= 0)
		close(*fd);
	*fd = nfd;
	return 0;
}

int reload_config(struct supervisor *s, char *msg, size_t msglen)
{
	struct config *ncfg = NULL, *old = s->cfg;
	char err[1024], restarted[512] = "";
	char *told = NULL, *tnew = NULL;
	uid_t wuid;
	gid_t wgid;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec());
	r = config_load(s->config_path, &ncfg, err, sizeof(err));
	if (r == 0)
		r = users_resolve_writer(ncfg, &wuid, &wgid, err, sizeof(err));
	if (r == 0) {
		told = config_text(old);
		tnew = config_text(ncfg);
		if (!told || !tnew) {
			snprintf(err, sizeof(err), "out of memory");
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		snprintf(msg, msglen, "%s; keeping the running configuration", err);
		log_errorx("reload: %s", msg);
		config_free(ncfg);
		goto out;
	}
	for (size_t i = 0; i < ncfg->warning_count; i++)
		log_warnx("%s", ncfg->warnings[i]);

	/* Sockets first: a port that cannot be bound keeps everything as it was. */
	if (key_changed(told, tnew, "webdav.listen") && s->webdav_fd >= 0 &&
	    reopen_listen(s, &s->webdav_fd, &ncfg->webdav.listen) < 0) {
		snprintf(msg, msglen,
		         "webdav.listen: cannot bind the new address; keeping the "
		         "running configuration");
		config_free(ncfg);
		r = -EADDRINUSE;
		goto out;
	}
	if (key_changed(told, tnew, "api.listen") && s->api_fd >= 0 &&
	    reopen_listen(s, &s->api_fd, &ncfg->api.listen) < 0) {
		snprintf(msg, msglen,
		         "api.listen: cannot bind the new address; keeping the "
		         "running configuration");
		config_free(ncfg);
		r = -EADDRINUSE;
		goto out;
	}

	s->cfg = ncfg;
	s->writer_uid = wuid;
	s->writer_gid = wgid;
	if (key_changed(told, tnew, "runtime_dir") || key_changed(told, tnew, "uid") ||
	    key_changed(told, tnew, "gid") || key_changed(told, tnew, "writer_user"))
		(void)users_prepare_dirs(s);

	for (size_t i = 0; i < s->worker_count; i++) {
		struct worker *w = s->workers[i];
		bool want, changed;

		if (!w->role)
			continue;
		want = w->exe[0] && w->role->enabled(ncfg);
		changed = role_changed(w->role, told, tnew);
		if (!want) {
			if (w->pid > 0) {
				worker_stop(w, false);
				append(restarted, sizeof(restarted), w->name);
			}
			w->skip_reason = w->exe[0] ? "disabled" : "not built";
			if (w->pid <= 0)
				worker_set_state(w, WORKER_SKIPPED);
		} else if (w->state == WORKER_SKIPPED) {
			worker_set_state(w, WORKER_STOPPED);
			worker_start(w);
			append(restarted, sizeof(restarted), w->name);
		} else if (changed && w->pid > 0) {
			worker_stop(w, true);
			append(restarted, sizeof(restarted), w->name);
		} else if (w->role->flags & ROLE_WRITER && w->pid > 0) {
			worker_signal(w, SIGHUP); /* it reloads the file (rules) itself */
		}
	}

	/* Programs: by name. */
	for (size_t i = 0; i < s->worker_count; i++) {
		struct worker *w = s->workers[i];
		const struct config_program *p = NULL;

		if (w->role)
			continue;
		for (size_t j = 0; j < ncfg->program_count; j++)
			if (strcmp(ncfg->programs[j].name, w->name) == 0)
				p = &ncfg->programs[j];
		if (!p) {
			w->remove = true;
			worker_stop(w, false);
			append(restarted, sizeof(restarted), w->name);
		} else if (!argv_equal(p->argv, w->argv) || key_changed(told, tnew, "uid") ||
		           key_changed(told, tnew, "gid")) {
			char **copy = NULL;
			size_t n = 0;

			while (p->argv[n])
				n++;
			copy = calloc(n + 1, sizeof(*copy));
			for (size_t k = 0; copy && k < n; k++)
				copy[k] = strdup(p->argv[k]);
			if (copy) {
				for (char **a = w->argv; a && *a; a++)
					free(*a);
				free(w->argv);
				w->argv = copy;
			}
			worker_stop(w, true);
			append(restarted, sizeof(restarted), w->name);
		}
	}
	for (size_t j = 0; j < ncfg->program_count; j++) {
		struct worker *w = sup_find_worker(s, ncfg->programs[j].name);

		if (w && !w->remove)
			continue;
		w = sup_add_program(s, &ncfg->programs[j]);
		if (w) {
			worker_start(w);
			append(restarted, sizeof(restarted), w->name);
		}
	}
	config_free(old);
	snprintf(msg, msglen, "configuration reloaded; %s%s",
	         restarted[0] ? "restarted or started/stopped: " : "no worker restarted",
	         restarted);
	log_info("reload: %s", msg);
	r = 0;
out:
	free(told);
	free(tnew);
	if (s->ready_sent)
		sd_notify(0, "READY=1");
	status_changed(s);
	return r;
}
