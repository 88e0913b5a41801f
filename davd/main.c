/*
 * meta-fuse-davd: serves the snapshot as a read-only WebDAV share.
 *
 * Start-up in one fixed order: read the configuration and the TLS material,
 * take the listening socket (passed in LISTEN_FDS as "webdav" by the
 * supervisor, else bound from webdav.listen), block the signals every thread
 * inherits, drop privileges to the configured uid/gid and verify it, load the
 * current snapshot, start the server, say READY.  The main thread then only
 * waits for signals and new snapshots (lib/http_loop.h); libmicrohttpd's
 * threads answer requests (dispatch.c and the method files).
 *
 * SIGTERM/SIGINT stop the server (connections end) and exit 0.  Exit 1 for bad
 * usage or configuration (do not restart), 75 when the socket cannot be had
 * or the server cannot start.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "davd.h"
#include "generation.h"
#include "http_listen.h"
#include "http_loop.h"
#include "http_metrics.h"
#include "log.h"
#include "privileges.h"
#include "source.h"
#include "startup.h"
#include "webdav_source.h"

#define PERIODIC_CHECK_MS   10000
#define DAVD_MMAP_THRESHOLD (64 * 1024)
#define TLS_FILE_MAX        (1024 * 1024)

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: meta-fuse-davd [-c FILE] [-v | -q] [--check-interval MS]\n"
	        "  -c, --config FILE        configuration (default %s)\n"
	        "  -v, --verbose            more log output (twice: debug)\n"
	        "  -q, --quiet              less log output\n"
	        "      --check-interval MS  also look for a new snapshot this often "
	        "(default %d, 0 = never)\n",
	        config_default_path(), PERIODIC_CHECK_MS);
}

/* A whole PEM file, NUL-terminated; NULL with errno set. */
static char *read_pem(const char *path)
{
	struct stat st;
	char *text = NULL;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TLS_FILE_MAX) {
		errno = errno ? errno : EINVAL;
		goto out;
	}
	text = calloc(1, (size_t)st.st_size + 1);
	if (!text)
		goto out;
	n = read(fd, text, (size_t)st.st_size);
	if (n != st.st_size) {
		free(text);
		text = NULL;
		errno = EIO;
	}
out:
	close(fd);
	return text;
}

static int parse_ms(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

/* Room for webdav.max_connections descriptors: raise the soft limit to the hard one. */
static void raise_nofile(uint32_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want + 64)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want + 64)
		log_warnx("open files limited to %llu: fewer than webdav.max_connections = %u "
		          "connections can be held",
		          (unsigned long long)rl.rlim_cur, want);
}

/*
 * A new generation may name files a remounted volume holds: look at the volume
 * again.  Every reload (also the periodic check's) closes the source
 * descriptors kept past their time (lib/source.h), so that a quiet server
 * holds none for long.
 */
static void on_reload(void *ctx, int result, const struct generation *old,
                      const struct generation *new, const char *err, const char *why)
{
	struct davd *d = ctx;

	if (result == GEN_RELOAD_SWITCHED)
		source_recheck(d->src);
	source_sweep(d->src);
	http_loop_log_reload(ctx, result, old, new, err, why);
}

/* --check-interval MS */
static int davd_option(int opt, const char *arg, void *userdata)
{
	int *check_ms = userdata, v;

	if (opt != 'I')
		return -EINVAL;
	v = parse_ms(arg);
	if (v < 0) {
		log_errorx("--check-interval: \"%s\" is not a number of ms", arg);
		return -EINVAL;
	}
	*check_ms = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"check-interval", required_argument, NULL, 'I'},
	    {NULL, 0, NULL, 0},
	};
	struct davd d = {0};
	struct config *cfg = NULL;
	struct http_metrics *metrics = NULL;
	struct http_server *server = NULL;
	struct http_server_config scfg = {.listen_fd = -1};
	struct http_loop_config lcfg = {.check_ms = PERIODIC_CHECK_MS};
	const struct startup start = {.name = "davd",
	                              .usage = usage,
	                              .longopts = options,
	                              .option = davd_option,
	                              .userdata = &lcfg.check_ms};
	char where[80], base[256];
	char *cert = NULL, *key = NULL;
	int r, rc = EXIT_TEMPFAIL, file_err;
	enum http_listen_origin origin;

	r = startup(&start, argc, argv, &cfg, NULL);
	if (r != STARTUP_RUN)
		return r;
	/*
	 * Blocks of 64 KiB and more (the chunks of a PROPFIND reply, listings)
	 * come from mmap and go back to the system when freed, instead of staying
	 * in the arena of the thread that used them: with the trim when the last
	 * connection closes (lib/http_server.c), davd idles at its idle size again
	 * after a burst (docs/davd.md#memory).  A fixed threshold keeps glibc from
	 * raising it.
	 */
	mallopt(M_MMAP_THRESHOLD, DAVD_MMAP_THRESHOLD);
	if (!cfg->webdav.enabled) {
		log_notice("webdav.enabled is false: nothing to serve");
		config_free(cfg);
		return 0;
	}
	d.cfg = cfg;
	snprintf(base, sizeof(base), "%s", cfg->webdav.base_path);
	if (strcmp(base, "/") == 0)
		base[0] = '\0';
	d.base = base;

	r = auth_new(cfg->webdav.username, cfg->webdav.password, &d.auth);
	if (r < 0) {
		log_errorx("webdav.password: %s", r == -EINVAL ? "a crypt(3) hash libcrypt cannot "
		                                                 "verify (or an empty user name)"
		                                               : strerror(-r));
		rc = EXIT_CONFIG;
		goto out;
	}
	if (auth_is_default(d.auth))
		log_warnx("THE SHARE USES THE DEFAULT CREDENTIALS metamesh/metamesh: anyone who "
		          "reaches %s:%u can read it; set webdav.username and webdav.password",
		          cfg->webdav.listen.host, cfg->webdav.listen.port);
	if (!*cfg->webdav.tls_cert != !*cfg->webdav.tls_key) {
		log_errorx("webdav.tls_cert and webdav.tls_key go together: set both or neither");
		rc = EXIT_CONFIG;
		goto out;
	}
	if (*cfg->webdav.tls_cert) {
		cert = read_pem(cfg->webdav.tls_cert);
		if (!cert) {
			log_error("webdav.tls_cert \"%s\"", cfg->webdav.tls_cert);
			rc = EXIT_CONFIG;
			goto out;
		}
		key = read_pem(cfg->webdav.tls_key);
		if (!key) {
			log_error("webdav.tls_key \"%s\"", cfg->webdav.tls_key);
			rc = EXIT_CONFIG;
			goto out;
		}
	}

	raise_nofile(cfg->webdav.max_connections);
	scfg.listen_fd = http_listen("webdav", &cfg->webdav.listen, &origin);
	if (scfg.listen_fd < 0) {
		config_listen_format(&cfg->webdav.listen, where, sizeof(where));
		log_errorx("cannot listen on %s: %s", where, strerror(-scfg.listen_fd));
		rc = scfg.listen_fd == -EINVAL ? EXIT_CONFIG : EXIT_TEMPFAIL;
		goto out;
	}
	r = http_loop_block_signals();
	if (r < 0)
		fatalx("cannot block signals: %s", strerror(-r));
	r = privileges_drop(cfg->uid, cfg->gid);
	if (r < 0) {
		log_errorx("cannot drop privileges to uid %u gid %u: %s", (unsigned)cfg->uid,
		           (unsigned)cfg->gid, strerror(-r));
		goto out;
	}

	if (gen_store_new(cfg->runtime_dir, &d.gens) < 0 ||
	    source_new(cfg->files_volume, &d.src) < 0)
		fatalx("out of memory");
	r = source_volume_status(d.src);
	if (r < 0)
		log_warnx("files volume \"%s\": %s; sources will not open until it is there",
		          cfg->files_volume, strerror(-r));
	if (*cfg->source_webdav_url) {
		r = webdav_new(cfg->source_webdav_url, &d.dav);
		if (r < 0)
			fatalx_temp("cannot set up the WebDAV source: %s", strerror(-r));
		log_info("files not readable under \"%s\" are read from the source WebDAV URL",
		         cfg->files_volume);
	}
	lcfg.gens = d.gens;
	lcfg.runtime_dir = cfg->runtime_dir;
	lcfg.on_reload = on_reload;
	lcfg.ctx = &d;
	http_loop_reload(&lcfg, "start");
	{
		struct generation *g = gen_store_get(d.gens);

		if (!g->snap)
			log_info("no snapshot at \"%s\" yet: the share shows ERROR.txt alone",
			         gen_store_path(d.gens));
		generation_put(g);
	}

	r = http_metrics_new(cfg->runtime_dir, "davd", davd_route_names, DAVD_ROUTE_MAX, &metrics,
	                     &file_err);
	if (r < 0)
		fatalx("out of memory");
	if (file_err < 0)
		log_warnx("cannot create \"%s/" HTTP_METRICS_DIR "/davd.metrics\": %s; "
		          "apid will not see davd's metrics",
		          cfg->runtime_dir, strerror(-file_err));

	scfg.limits = HTTP_LIMITS_DEFAULT;
	scfg.limits.max_connections = cfg->webdav.max_connections;
	scfg.limits.max_per_address = cfg->webdav.max_connections_per_address;
	scfg.limits.idle_timeout_s = cfg->webdav.idle_timeout_s;
	scfg.limits.threads = cfg->webdav.threads;
	scfg.tls_cert_pem = cert;
	scfg.tls_key_pem = key;
	scfg.precheck = davd_precheck;
	scfg.handler = davd_handle;
	scfg.ctx = &d;
	scfg.metrics = metrics;
	http_listen_describe(scfg.listen_fd, where, sizeof(where));
	r = http_server_start(&scfg, &server);
	if (r < 0) {
		log_errorx("cannot start the HTTP server on %s: %s", where,
		           r == -EINVAL ? "bad TLS certificate or key" : strerror(-r));
		rc = r == -EINVAL ? EXIT_CONFIG : EXIT_TEMPFAIL;
		goto out;
	}
	scfg.listen_fd = -1; /* the server's now */
	log_info("serving \"%s/\" on %s%s (socket %s)", cfg->webdav.base_path[1] ? base : "", where,
	         cert ? " (HTTPS)" : "", http_listen_origin_to_string(origin));
	daemon_notify("READY=1");

	r = http_loop_run(&lcfg);
	if (r < 0)
		log_errorx("cannot wait for signals: %s", strerror(-r));
	else
		log_info("stopping");
	daemon_notify("STOPPING=1");
	rc = r < 0 ? EXIT_TEMPFAIL : 0;

out:
	http_server_stop(server);
	if (scfg.listen_fd >= 0)
		close(scfg.listen_fd);
	http_metrics_free(metrics);
	webdav_free(d.dav);
	source_free(d.src);
	gen_store_free(d.gens);
	auth_free(d.auth);
	free(cert);
	free(key);
	config_free(cfg);
	return rc;
}
