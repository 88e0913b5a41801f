/*
 * kvwatch: the event loop of the Redis follower (see kvwatch.h, docs/kvwatch.md).
 *
 * The parts of the loop live beside it (kvwatch_int.h); this file sets the loop
 * up, handles the signals and reloads, and runs --once.
 *
 * One sd-event loop owns everything but the full load: signals, the leader lock
 * watcher, the subscriber connection, the command connection used to fetch
 * changed files, and the timers (publish debounce, reconnect backoff, periodic
 * resync, hold-back).  A full load runs on a thread with a connection of its
 * own and hands back a fresh record set through an eventfd; pub/sub changes
 * that arrive meanwhile are applied to the live set at once (and published) and
 * remembered, and when the load is done they are copied over its result, which
 * is then compared with the live set: nothing changed, publish nothing; a large
 * removal, hold it back; otherwise it becomes the live set.
 *
 * Failures of Redis never stop the worker: the connections are dropped, the
 * last tree is published again marked disconnected with the error, and a
 * reconnect follows after a capped, jittered backoff, then a full resync.
 * Failure handling is deferred to its own event so that it never frees a
 * connection whose callback is still on the stack.
 */
#include "kvwatch.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "fetch.h"
#include "config.h"
#include "guard.h"
#include "kvwatch_int.h"
#include "hold.h"
#include "hooks.h"
#include "keys.h"
#include "leader.h"
#include "loader.h"
#include "log.h"
#include "propnames.h"
#include "publish.h"
#include "redis_url.h"
#include "reload.h"
#include "snapshot.h"
#include "snapshot_share.h"
#include "spare.h"
#include "state.h"
#include "store.h"
#include "warm.h"
#include "watchdog_event.h"

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kvwatch *kv = userdata;

	log_info("stopping on signal %u", si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	sd_event_exit(kv->event, 0);
	return 0;
}

static int on_usr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (!kv->hold.active) {
		log_info("SIGUSR1: no change is held back, nothing to confirm");
		return 0;
	}
	log_notice("SIGUSR1: the operator confirmed the removal of %" PRIu64
	           " files; loading once more to apply it",
	           kv->hold.removals);
	hold_confirm(&kv->hold);
	fullload_start(kv);
	return 0;
}

/* SIGUSR2 (meta-fuse refresh, POST /api/fuse/refresh): a full load, fingerprint or not. */
static int on_usr2(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (!kv_is_connected(kv)) {
		log_info("SIGUSR2: not connected; the load after the connection resyncs");
		return 0;
	}
	log_info("SIGUSR2: a full resync was asked for");
	fullload_start(kv);
	return 0;
}

static void teardown(struct kvwatch *kv)
{
	gen_build_stop(kv);
	fullload_stop(kv);
	config_free(kv->job_cfg);
	kv->job_cfg = NULL;
	conn_drop(kv);
	fetch_free(kv->orphan);
	kv->orphan = NULL;
	hooks_free(kv->hooks);
	kv->hooks = NULL;
	store_free(kv->retired);
	kv->retired = NULL;
	store_free(kv->store);
	kv->store = NULL;
	gen_drop_loading(kv);
	snapshot_file_free(spare_wait(kv->spare)); /* at exit: waits */
	kv->spare = NULL;
	live_delta_reset(kv, false);
}

/*
 * The record set to start from: the previous run's tree (the runtime
 * directory's, else the copy in state_dir), published again at once as the
 * next generation, marked resyncing, so the readers serve it while the first
 * load runs (warm.h).
 */
static int open_store(struct kvwatch *kv)
{
	struct snapshot *prev = NULL;
	struct timespec t0, t1;
	char err[512], status[256];
	uint64_t files;
	int r;

	r = store_new(&kv->cfg->schema, false, &kv->store);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = warm_publish(&kv->pub, kv->cfg->state_dir, &prev, err, sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_warnx("previous snapshot: %s, starting empty", err);
		return 0;
	}
	files = snapshot_header(prev)->files;
	snprintf(status, sizeof(status), "generation %" PRIu64 ": %" PRIu64 " files, resyncing",
	         kv->pub.generation, files);
	publish_notify(&kv->pub, kv->pub.generation, status);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	kv->last_publish_usec = now_usec(kv);
	kv->pub_connected = false;
	kv->pub_error[0] = '\0';
	kv->resyncing = true;
	log_info("published generation %" PRIu64 ": %" PRIu64 " files of the previous run, "
	         "resyncing (%.1f ms)",
	         kv->pub.generation, files,
	         (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	r = store_import_snapshot(kv->store, prev);
	if (r < 0) {
		log_warnx("previous snapshot: %s, starting empty", strerror(-r));
		store_free(kv->store);
		return store_new(&kv->cfg->schema, false, &kv->store);
	}
	guard_set(snapshot_header(prev), snapshot_header(prev)->total_size, NULL);
	return 0;
}

static int setup_hooks(struct kvwatch *kv)
{
	int r;

	r = hooks_new(kv->event, kv->cfg->hooks.on_change, kv->cfg->hooks.debounce_ms, 0,
	              &kv->hooks);
	if (r < 0)
		log_errorx("hooks.on_change: %s", strerror(-r));
	return r;
}

static int setup(struct kvwatch *kv)
{
	int r;

	r = open_store(kv);
	if (r < 0) {
		log_errorx("out of memory");
		return r;
	}
	r = setup_hooks(kv);
	if (r < 0)
		return r;
	return conn_setup(kv);
}

/*
 * Point every record set at the new configuration's schema: the same properties,
 * the same sets; other properties, the records are copied (by name) and what
 * was tracked for a patch or a running load is dropped.
 */
static int rebase_stores(struct kvwatch *kv, struct config *ncfg, unsigned changes)
{
	struct store *fresh = NULL;
	int r;

	live_delta_reset(kv, false);
	if (!(changes & RELOAD_SCHEMA)) {
		store_set_schema(kv->store, &ncfg->schema);
		if (kv->retired != NULL)
			store_set_schema(kv->retired, &ncfg->schema);
		if (kv->touched != NULL)
			store_set_schema(kv->touched, &ncfg->schema);
		return 0;
	}
	r = store_reschema(kv->store, &ncfg->schema, &fresh);
	if (r < 0)
		return r;
	fullload_cancel(kv); /* its records would lack the new properties */
	kv->load_again = kv->job != NULL;
	/* The old set keeps the published snapshot for the hooks' diff, nothing else. */
	if (store_snapshot(kv->store) != NULL && kv->retired == NULL)
		kv->retired = kv->store;
	else
		store_free(kv->store);
	kv->store = fresh;
	return 0;
}

/*
 * SIGHUP: parse the file beside the running configuration; a broken one is
 * refused with one line and nothing changes.  A good one is swapped in, and only
 * what it changes is redone (reload.h): new rules re-place the records held,
 * without a Redis command, unless they need properties the records lack.
 */
static int on_hup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (gen_building(kv)) {
		/* The build reads the rules and the records: after it (on_build_done). */
		log_info("reload: after the build of the tree in progress");
		kv->reload_pending = true;
		return 0;
	}
	kv_reload(kv);
	return 0;
}

void kv_reload(struct kvwatch *kv)
{
	struct config *ncfg = NULL, *old = kv->cfg;
	char err[512];
	unsigned changes;
	int r;

	r = config_load(kv->config_path, &ncfg, err, sizeof(err));
	if (r == 0)
		r = reload_check(old, ncfg, err, sizeof(err));
	if (r < 0) {
		log_errorx("reload: %s; keeping the running configuration", err);
		config_free(ncfg);
		return;
	}
	for (size_t i = 0; i < ncfg->warning_count; i++)
		log_warnx("%s", ncfg->warnings[i]);
	changes = reload_changes(old, ncfg);
	r = rebase_stores(kv, ncfg, changes);
	if (r < 0) {
		log_errorx("reload: %s; keeping the running configuration", strerror(-r));
		config_free(ncfg);
		return;
	}
	log_info(
	    "reloading the configuration:%s%s%s%s%s%s%s", changes & RELOAD_RULES ? " rules" : "",
	    changes & RELOAD_FETCH ? " properties" : "", changes & RELOAD_SOURCE ? " source" : "",
	    changes & RELOAD_HOOKS ? " hooks" : "", changes & RELOAD_SIZES ? " sizes" : "",
	    changes & RELOAD_OTHER ? " settings" : "", changes == 0 ? " nothing changed" : "");
	if (changes & (RELOAD_SOURCE | RELOAD_FETCH))
		fullload_cancel(kv);
	if (changes & RELOAD_SOURCE)
		conn_drop(kv);
	if (changes & RELOAD_HOOKS) {
		hooks_free(kv->hooks);
		kv->hooks = NULL;
	}
	gen_drop_loading(kv); /* placed with the running rules */

	kv->cfg = ncfg;
	kv->pub.runtime_dir = ncfg->runtime_dir;
	kv->pub.measure_volume = ncfg->kv.measure_sizes ? ncfg->files_volume : NULL;
	keys_init(&kv->layout, ncfg->kv.prefix, ncfg->kv.separator); /* it points into ncfg */
	if (kv->job != NULL && kv->job->cfg == old && kv->job_cfg == NULL)
		kv->job_cfg = old; /* the load still reads it; freed when it ends */
	else
		config_free(old);

	if ((changes & RELOAD_HOOKS) && setup_hooks(kv) < 0)
		log_warnx("reload: running without a change hook");
	if (changes & RELOAD_SOURCE) {
		if (conn_setup(kv) < 0) {
			/* reload_check() let it through: not the file's fault. */
			sd_event_exit(kv->event, EXIT_TEMPFAIL);
			return;
		}
		conn_start(kv); /* connects, then loads */
	} else if (changes & RELOAD_FETCH) {
		fullload_start(kv); /* the records lack what the new rules ask for */
	}
	if ((changes & RELOAD_FETCH) && kv->url != NULL) {
		/* Placing now would move files that only lack the new property. */
		kv->rules_pending = true;
	} else if (changes & RELOAD_RULES) {
		/* Re-place the records held with the new rules: a full build, no Redis. */
		log_info("reload: placing %u records with the new rules", store_count(kv->store));
		kv->dirty = true;
		gen_spare_for_build(kv); /* its file, allocated while the records are placed */
	}
	if (changes & RELOAD_SIZES) {
		/* Sizes measured in another volume, or not measured: a full build measures. */
		kv->pub.measure_all = true;
		kv->dirty = true;
		gen_spare_for_build(kv);
	}
	if (kv->dirty || gen_state_changed(kv))
		gen_schedule(kv);
}

/*
 * kvwatch is the only writer of dir: a temporary snapshot file found at start
 * was left by a process that died while writing or preparing it.
 */
static void remove_leftovers(const char *dir)
{
	static const char prefix[] = "." SNAP_FILE_NAME ".", names[] = "." PROPNAMES_FILE ".";
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, sizeof(prefix) - 1) != 0 &&
		    strncmp(de->d_name, names, sizeof(names) - 1) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
		else
			log_warn("removing the leftover \"%s/%s\"", dir, de->d_name);
	}
	closedir(d);
	if (n > 0)
		log_info("removed %d temporary file%s left in %s", n, n == 1 ? "" : "s", dir);
}

/* The socket that hands the readers their shared copy; without it they copy the file. */
static void share_open(struct publisher *pub, const char *dir)
{
	char why[256];

	if (snapshot_share_open(dir, &pub->share, why, sizeof(why)) < 0)
		log_warnx("no shared copy for the readers: %s (they load the file instead)", why);
}

static int check_runtime_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		log_error("runtime_dir \"%s\"", dir);
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_errorx("runtime_dir \"%s\": not a directory", dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		log_error("runtime_dir \"%s\": not writable", dir);
		return -EACCES;
	}
	return 0;
}

int kvwatch_run(struct config *cfg, const char *config_path)
{
	struct kvwatch kv = {
	    .cfg = cfg,
	    .config_path = config_path,
	    .pub = {.runtime_dir = cfg->runtime_dir, .take_spare = gen_spare_take},
	};
	sigset_t mask;
	int r, status = 0;

	kv.pub.spare_ctx = &kv;
	kv.pub.measure_volume = cfg->kv.measure_sizes ? cfg->files_volume : NULL;
	if (check_runtime_dir(cfg->runtime_dir) < 0) {
		config_free(cfg);
		return EXIT_TEMPFAIL;
	}
	remove_leftovers(cfg->runtime_dir);
	remove_leftovers(cfg->state_dir);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	/* Before any thread exists, so that every thread inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (guard_install() < 0) {
		log_error("installing the SIGBUS guard");
		config_free(cfg);
		return EXIT_TEMPFAIL;
	}
	share_open(&kv.pub, cfg->runtime_dir); /* its thread inherits the mask */
	backoff_init(&kv.backoff, RETRY_BASE_MS, RETRY_CAP_MS);

	r = sd_event_default(&kv.event);
	if (r >= 0)
		r = watchdog_attach(kv.event);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGTERM, on_term, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGINT, on_term, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGHUP, on_hup, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGUSR1, on_usr1, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGUSR2, on_usr2, &kv);
	if (r >= 0)
		r = sd_event_add_defer(kv.event, &kv.fail_defer, conn_on_fail, &kv);
	if (r >= 0)
		r = sd_event_source_set_enabled(kv.fail_defer, SD_EVENT_OFF);
	if (r >= 0)
		/* Accuracy 1 us: the default (0 = 250 ms) would delay each publish by up to that. */
		r = sd_event_add_time(kv.event, &kv.publish_timer, CLOCK_MONOTONIC, 0, 1,
		                      gen_on_publish_timer, &kv);
	if (r >= 0)
		/* Below I/O: messages already waiting join the coming generation. */
		r = sd_event_source_set_priority(kv.publish_timer, SD_EVENT_PRIORITY_IDLE);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.retry_timer, CLOCK_MONOTONIC, 0, 0,
		                      conn_on_retry, &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.resync_timer, CLOCK_MONOTONIC, 0, 0,
		                      fullload_on_resync, &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.hold_timer, CLOCK_MONOTONIC, 0, 0,
		                      fullload_on_hold_timer, &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.spare_timer, CLOCK_MONOTONIC, 0, 0,
		                      gen_on_spare_timer, &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.save_timer, CLOCK_MONOTONIC, 0, 0,
		                      gen_on_save_timer, &kv);
	if (r < 0) {
		log_errorx("setting up the event loop: %s", strerror(-r));
		status = EXIT_TEMPFAIL;
		goto out;
	}
	disarm(kv.publish_timer);
	disarm(kv.retry_timer);
	disarm(kv.resync_timer);
	disarm(kv.hold_timer);
	disarm(kv.spare_timer);
	disarm(kv.save_timer);

	r = setup(&kv);
	if (r < 0) {
		/* A bad value is the configuration's; anything else a restart may cure. */
		status = r == -EINVAL ? EXIT_CONFIG : EXIT_TEMPFAIL;
		goto out;
	}
	conn_start(&kv);
	r = sd_event_loop(kv.event);
	if (r < 0) {
		log_errorx("event loop: %s", strerror(-r));
		status = EXIT_TEMPFAIL;
	} else {
		status = r;
	}
	gen_build_stop(&kv); /* it stops placing records at once */
	gen_save_final(&kv);
out:
	teardown(&kv);
	sd_event_source_disable_unref(kv.save_timer);
	sd_event_source_disable_unref(kv.fail_defer);
	sd_event_source_disable_unref(kv.publish_timer);
	sd_event_source_disable_unref(kv.retry_timer);
	sd_event_source_disable_unref(kv.resync_timer);
	sd_event_source_disable_unref(kv.hold_timer);
	sd_event_source_disable_unref(kv.spare_timer);
	sd_event_unref(kv.event);
	snapshot_share_close(kv.pub.share);
	config_free(kv.cfg);
	return status;
}

int kvwatch_once(const struct config *cfg)
{
	struct publisher pub = {
	    .runtime_dir = cfg->runtime_dir,
	    .no_map = true,
	    .measure_volume = cfg->kv.measure_sizes ? cfg->files_volume : NULL,
	};
	int volume_logged = 0;
	struct publish_loading *loading = NULL;
	struct snapshot_kv_state st = {.connected = true};
	struct leader_lock lock = {0};
	struct redis_url *url = NULL;
	struct key_layout layout;
	struct load_stats ls;
	struct publish_result res;
	struct snapshot *prev = NULL;
	struct store *s = NULL;
	const char *text = cfg->kv.redis_url;
	char err[512], path[4096];
	int r, status = EXIT_CONFIG;

	if (check_runtime_dir(cfg->runtime_dir) < 0)
		return EXIT_TEMPFAIL;
	if (keys_init(&layout, cfg->kv.prefix, cfg->kv.separator) < 0) {
		log_errorx("kv.prefix or kv.separator: empty separator or too long");
		return EXIT_CONFIG;
	}
	if (text[0] == '\0') {
		snprintf(path, sizeof(path), "%s/%s/%s", cfg->kv.meta_core_path, LEADER_LOCK_DIR,
		         LEADER_LOCK_NAME);
		if (leader_read(path, &lock, err, sizeof(err)) < 0) {
			log_errorx("cannot find the Redis leader: lock %s: %s", path, err);
			return EXIT_TEMPFAIL; /* meta-core may not have written it yet */
		}
		text = lock.api;
	}
	if (redis_url_parse(text, &url, err, sizeof(err)) < 0) {
		log_errorx("Redis URL: %s", err);
		goto out;
	}
	if (publish_open_previous(&pub, &prev, err, sizeof(err)) == 0)
		snapshot_free(prev);
	struct loader_params p = {
	    .url = url,
	    .connect_timeout_ms = cfg->kv.connect_timeout_ms,
	    .command_timeout_ms = cfg->kv.command_timeout_ms,
	    .layout = &layout,
	    .schema = &cfg->schema,
	    .on_record = publish_loading_record,
	};
	if (publish_loading_new(cfg->rules, &cfg->schema, pub.measure_volume, &loading) < 0) {
		log_errorx("out of memory");
		status = EXIT_TEMPFAIL;
		goto out;
	}
	p.on_record_ctx = loading;
	r = loader_run(&p, &s, &ls, err, sizeof(err));
	if (r < 0) {
		log_errorx("cannot load from %s: %s", url->redacted, err);
		/* Refused credentials are the configuration's; an absent Redis is not. */
		status = r == -EACCES ? EXIT_CONFIG : EXIT_TEMPFAIL;
		goto out;
	}
	log_info("full load from %s: %u records from %" PRIu64 " keys in %.2f s (scan %.2f s)",
	         url->redacted, store_count(s), ls.keys, ls.elapsed_ns / 1e9, ls.scan_ns / 1e9);
	st.leader = url->redacted;
	st.last_sync_ns = realtime_ns();
	/* The records were placed as they came; only the last passes are left. */
	r = publish_loading(&pub, loading, &st, &res, err, sizeof(err));
	loading = NULL;
	if (r < 0) {
		log_errorx("%s", err);
		status = EXIT_TEMPFAIL;
		goto out;
	}
	log_info("published generation %" PRIu64 ": %" PRIu64 " files, %" PRIu64
	         " directories, %" PRIu64 " skipped, %" PRIu64 " hidden (build %.1f ms after the "
	         "load, write %.1f ms)",
	         res.generation, res.files, res.directories, res.skipped, res.hidden,
	         res.build_ns / 1e6, res.write_ns / 1e6);
	sizes_report(&res.sizes, true, cfg->files_volume, &volume_logged);
	status = 0;
out:
	publish_loading_free(loading);
	store_free(s);
	redis_url_free(url);
	leader_lock_clear(&lock);
	return status;
}
