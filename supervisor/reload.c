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

#include "confdiff.h"
#include "log.h"
#include "supervisor.h"

static bool role_changed(const struct role *r, const char *old, const char *new)
{
	for (const char *const *k = r->restart_keys; *k; k++)
		if (confdiff_changed(old, new, *k))
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

int reload_config(struct supervisor *s, char *msg, size_t msglen)
{
	struct config *ncfg = NULL, *old = s->cfg;
	char err[1024], restarted[512] = "";
	char *told = NULL, *tnew = NULL;
	struct {
		const char *key;
		int *fd;
		const struct config_listen *l;
		int nfd;
	} socks[] = {
	    {"webdav.listen", &s->webdav_fd, NULL, -1},
	    {"api.listen", &s->api_fd, NULL, -1},
	};
	uid_t wuid;
	gid_t wgid;
	int r;

	if (s->stopping) {
		snprintf(msg, msglen, "the supervisor is stopping");
		return -ESHUTDOWN;
	}
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec());
	r = config_load(s->config_path, &ncfg, err, sizeof(err));
	if (r == 0)
		r = users_resolve_writer(ncfg, &wuid, &wgid, err, sizeof(err));
	if (r == 0) {
		told = confdiff_text(old);
		tnew = confdiff_text(ncfg);
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

	/* Sockets first: an address that cannot be bound keeps everything as it was. */
	for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		socks[i].l = i == 0 ? &ncfg->webdav.listen : &ncfg->api.listen;
		if (*socks[i].fd < 0 || !confdiff_changed(told, tnew, socks[i].key))
			continue;
		if (listen_open(socks[i].l, &socks[i].nfd) < 0) {
			snprintf(msg, msglen,
			         "%s: cannot bind the new address; keeping the running "
			         "configuration",
			         socks[i].key);
			for (size_t j = 0; j < i; j++)
				if (socks[j].nfd >= 0)
					close(socks[j].nfd);
			config_free(ncfg);
			r = -EADDRINUSE;
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		if (socks[i].nfd < 0)
			continue;
		close(*socks[i].fd);
		*socks[i].fd = socks[i].nfd;
	}

	s->cfg = ncfg;
	s->writer_uid = wuid;
	s->writer_gid = wgid;
	if (confdiff_changed(told, tnew, "runtime_dir") || confdiff_changed(told, tnew, "uid") ||
	    confdiff_changed(told, tnew, "gid") || confdiff_changed(told, tnew, "writer_user") ||
	    confdiff_changed(told, tnew, "state_dir"))
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
		} else {
			char key[WORKER_NAME_MAX + 16], err2[256];

			snprintf(key, sizeof(key), "programs.%s.", w->name);
			if (argv_equal(p->argv, w->argv) && !confdiff_changed(told, tnew, key) &&
			    !confdiff_changed(told, tnew, "uid") &&
			    !confdiff_changed(told, tnew, "gid"))
				continue;
			if (worker_set_program(w, p, err2, sizeof(err2)) < 0) {
				log_errorx("%s; stopping it", err2);
				worker_stop(w, false);
			} else {
				worker_stop(w, true);
			}
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
