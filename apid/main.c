/*
 * meta-fuse-apid: the REST API, the Prometheus metrics and the dashboard,
 * answered from the snapshot (docs/api.md).
 *
 * Start-up in one fixed order: read the configuration, block the signals
 * (every thread inherits the mask; the main loop alone takes them), take the
 * listening socket (passed in LISTEN_FDS as "api", else bound to api.listen),
 * drop privileges to the configured uid/gid when started as root and verify
 * they are dropped, load the current snapshot, start the HTTP server, say
 * READY.  The main thread then waits in http_loop_run() for SIGHUP, inotify
 * events and periodic checks that switch generations; SIGTERM or SIGINT stop
 * it, and apid exits 0 once the server has finished its connections.
 *
 * Exit status: 1 for a bad configuration or usage, 75 for other failures at
 * start (the port is taken, ...), which a restart may cure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "generation.h"
#include "http_listen.h"
#include "http_loop.h"
#include "log.h"
#include "privileges.h"
#include "rules_source.h"
#include "server.h"
#include "source.h"
#include "startup.h"
#include "store.h"
#include "webdav_source.h"

#define PERIODIC_CHECK_MS 10000

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: meta-fuse-apid [-c FILE] [-v | -q]\n"
	        "  -c, --config FILE  configuration (default: $%s or %s)\n"
	        "  -v, --verbose      more log output (repeat for debug)\n"
	        "  -q, --quiet        less log output\n"
	        "  -h, --help         this text\n"
	        "Signals: SIGHUP loads a new snapshot, SIGTERM/SIGINT stop.  See "
	        "meta-fuse-apid(1).\n",
	        CONFIG_ENV_PATH, CONFIG_DEFAULT_PATH);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const struct startup start = {.name = "apid", .usage = usage};
	struct apid_server srv = {0};
	struct api api = {0};
	struct config *cfg = NULL;
	struct http_loop_config loop;
	char err[1024], where[128];
	int r, fd, status = EXIT_TEMPFAIL;
	enum http_listen_origin origin = HTTP_LISTEN_BOUND;

	r = startup(&start, argc, argv, &cfg, NULL);
	if (r != STARTUP_RUN)
		return r;
	if (!cfg->api.enabled)
		log_notice("api.enabled is false; serving anyway, as asked to run alone");
	r = http_loop_block_signals();
	if (r < 0) {
		log_errorx("blocking signals: %s", strerror(-r));
		goto out;
	}
	if (*cfg->api.username) {
		r = auth_new(cfg->api.username, cfg->api.password, &srv.auth);
		if (r < 0) {
			log_errorx("api.password: %s",
			           r == -EINVAL ? "a hash of a method libcrypt cannot verify"
			                        : strerror(-r));
			status = EXIT_CONFIG;
			goto out;
		}
	}

	fd = http_listen("api", &cfg->api.listen, &origin);
	if (fd < 0) {
		config_listen_format(&cfg->api.listen, where, sizeof(where));
		log_errorx("cannot listen on %s (api.listen): %s", where, strerror(-fd));
		status = fd == -EINVAL ? EXIT_CONFIG : EXIT_TEMPFAIL;
		goto out;
	}
	r = privileges_drop(cfg->uid, cfg->gid);
	if (r < 0) {
		log_errorx("cannot drop privileges to uid %u gid %u: %s", (unsigned)cfg->uid,
		           (unsigned)cfg->gid, strerror(-r));
		close(fd);
		goto out;
	}

	if (*cfg->source_webdav_url) {
		r = webdav_new(cfg->source_webdav_url, &api.webdav);
		if (r < 0) {
			log_errorx("cannot set up the WebDAV source: %s", strerror(-r));
			close(fd);
			goto out;
		}
	}
	if (gen_store_new(cfg->runtime_dir, &api.gens) < 0 ||
	    source_new(cfg->files_volume, &api.src) < 0 || store_new(cfg, &api.store) < 0) {
		log_errorx("out of memory");
		close(fd);
		goto out;
	}
	api.cfg = cfg;
	api.started_ns = now_ns();
	if (rules_source_json(cfg, &api.rules_json, err, sizeof(err)) < 0)
		log_warnx("reading the rules' text again: %s; /api/fuse/rules lists them without "
		          "their conditions",
		          err);
	loop = (struct http_loop_config){
	    .gens = api.gens,
	    .runtime_dir = cfg->runtime_dir,
	    .check_ms = PERIODIC_CHECK_MS,
	    .on_reload = http_loop_log_reload,
	};
	http_loop_reload(&loop, "start");

	srv.api = &api;
	r = apid_server_start(&srv, fd);
	if (r < 0) {
		log_errorx("cannot start the HTTP server: %s", strerror(-r));
		goto out;
	}
	if (http_listen_describe(fd, where, sizeof(where)) < 0)
		snprintf(where, sizeof(where), "?");
	log_info("listening on %s (socket %s)%s", where, http_listen_origin_to_string(origin),
	         srv.auth ? ", Basic auth required" : "");
	daemon_notify("READY=1");

	r = http_loop_run(&loop);
	daemon_notify("STOPPING=1");
	if (r < 0)
		log_errorx("waiting for signals: %s", strerror(-r));
	else
		log_info("stopping on signal %d", r);
	status = r < 0 ? EXIT_TEMPFAIL : 0;
out:
	apid_server_stop(&srv);
	auth_free(srv.auth);
	source_free(api.src);
	store_free(api.store);
	webdav_free(api.webdav);
	gen_store_free(api.gens);
	json_decref(api.rules_json);
	config_free(cfg);
	return status;
}
