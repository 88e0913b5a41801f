/*
 * kvwatch: the event loop of the Redis follower (see kvwatch.h, docs/kvwatch.md).
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

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "fetch.h"
#include "batch.h"
#include "config.h"
#include "hold.h"
#include "hooks.h"
#include "keys.h"
#include "leader.h"
#include "loader.h"
#include "log.h"
#include "publish.h"
#include "redis.h"
#include "redis_url.h"
#include "reload.h"
#include "snapshot.h"
#include "spare.h"
#include "state.h"
#include "store.h"
#include "tree.h"
#include "treediff.h"
#include "updates.h"
#include "warm.h"

#define USEC_PER_MS        1000ULL
#define USEC_PER_SEC       1000000ULL
#define RETRY_BASE_MS      250
#define RETRY_CAP_MS       10000
#define PUBLISH_RETRY_USEC (2 * USEC_PER_SEC)
#define MALFORMED_LOG_USEC (10 * USEC_PER_SEC)
#define ERROR_MAX          512
#define SAVE_EVERY_USEC    (300 * USEC_PER_SEC) /* the copy in state_dir, at most */
#define SAVE_POLL_USEC     (1 * USEC_PER_SEC)

struct load_job {
	pthread_t thread;
	struct loader_params params;
	const struct config *cfg; /* the one it started under (schema, rules: kept alive) */
	struct key_layout layout;
	struct redis_url *url;
	atomic_bool cancel;
	int efd;
	int result;
	struct store *store;
	struct load_stats stats;
	struct publish_loading *loading; /* the tree, placed as the records came (first load) */
	char err[256];
};

/*
 * The file of the next generation, prepared ahead (spare.h).  While live changes
 * flow, one is made ready after each patch, so the next change finds it;
 * SPARE_KEEP_USEC after the last change it goes, so a quiet library does not
 * keep a second snapshot's worth of memory.
 */
#define SPARE_KEEP_USEC (30 * USEC_PER_SEC)

struct kvwatch {
	sd_event *event;
	struct config *cfg;
	struct config *job_cfg; /* a configuration replaced while the job runs under it */
	const char *config_path;
	struct key_layout layout;
	char channel[KEYS_PREFIX_MAX + 16];

	/* Whom to follow. */
	struct leader_watch *leader;
	char *url_text; /* with credentials */
	struct redis_url *url;
	bool lock_bad;

	/* The connections of this thread. */
	redisContext *cmd;          /* NULL while a fetch has it */
	struct fetch *fetch;        /* the live changes' fetch in flight (fetch.h) */
	struct fetch *orphan;       /* one given up with its connection, still to free */
	struct batch_change *queue; /* changes waiting for the fetch in flight */
	size_t queue_n;
	struct subscriber *sub;
	enum kv_state state; /* the one truth about where kvwatch is (state.h) */
	struct backoff backoff;
	sd_event_source *retry_timer;
	sd_event_source *fail_defer;
	bool fail_pending;
	char fail_reason[ERROR_MAX];

	/* The full load. */
	struct load_job *job;
	sd_event_source *job_io;
	struct store *touched; /* ids changed by pub/sub while the job runs */
	bool load_again;
	bool rules_pending; /* new rules wait for a load of the properties they need */
	sd_event_source *resync_timer;
	int64_t last_sync_ns;

	/* The records and what was published of them. */
	struct store *store;
	struct store *retired;           /* the previous set, kept until the next publish */
	struct publish_loading *loading; /* the tree of store as the first load brought it */
	struct spare *spare;             /* being prepared for the next patch */
	sd_event_source *spare_timer;    /* drops it when live changes stop */
	/*
	 * The live changes since the last publish, for publish_patch(): the ids, and
	 * the values they had then (absent: not in the set).  Tracked only while
	 * patchable: the store maps the last published snapshot and no full load,
	 * reload or oversized delta came since.
	 */
	struct store *delta_ids;
	struct store *delta_prev;
	bool patchable;
	struct publisher pub;
	bool dirty;
	sd_event_source *publish_timer;
	uint64_t last_publish_usec;
	bool pub_connected;
	bool pub_held;
	uint64_t pub_held_removals;
	char pub_error[ERROR_MAX];

	char error[ERROR_MAX]; /* "" when none */
	int64_t error_since_ns;

	struct hold hold;
	sd_event_source *hold_timer;

	struct hooks *hooks;

	/* The copy of the last loaded tree in state_dir (warm.h). */
	struct warm_save *saver;
	sd_event_source *save_timer;
	uint64_t saved_generation; /* the last one copied, or being copied */
	uint64_t last_save_usec;
	bool pub_savable; /* the last generation published holds loaded data */
	bool resyncing;   /* the published tree is the saved one, no load ended since */

	uint64_t messages;
	uint64_t malformed;
	uint64_t malformed_logged_usec;
};

static void start_load(struct kvwatch *kv);
static void schedule_publish(struct kvwatch *kv);
static void drop_source(struct kvwatch *kv);

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t now_usec(struct kvwatch *kv)
{
	uint64_t now;

	sd_event_now(kv->event, CLOCK_MONOTONIC, &now);
	return now;
}

static void arm(sd_event_source *s, uint64_t usec)
{
	sd_event_source_set_time(s, usec);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void disarm(sd_event_source *s)
{
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static const char *leader_name(const struct kvwatch *kv)
{
	return kv->url ? kv->url->redacted : "redis";
}

/* ---- the state machine (state.h) ---- */

static void kv_event(struct kvwatch *kv, enum kv_event ev)
{
	enum kv_state to = kv_state_next(kv->state, ev);

	if (to != kv->state)
		log_debug("state %s -> %s (%s)", kv_state_name(kv->state), kv_state_name(to),
		          kv_event_name(ev));
	kv->state = to;
}

static bool is_connected(const struct kvwatch *kv)
{
	return kv_state_is_connected(kv->state);
}

/* ---- the KV state ---- */

static void set_error(struct kvwatch *kv, const char *text)
{
	if (text == NULL || text[0] == '\0') {
		kv->error[0] = '\0';
		kv->error_since_ns = 0;
		return;
	}
	if (kv->error[0] == '\0')
		kv->error_since_ns = realtime_ns();
	/* Cut, not overflowed: the text ends up in the snapshot and ERROR.txt. */
	memccpy(kv->error, text, '\0', sizeof(kv->error) - 1);
	kv->error[sizeof(kv->error) - 1] = '\0';
}

static bool state_changed(const struct kvwatch *kv)
{
	/* The saved tree says "resyncing" until a load ends: errors only go to the log. */
	if (kv->resyncing)
		return false;
	return !kv->pub.ready || kv->pub_connected != is_connected(kv) ||
	       kv->pub_held != kv->hold.active ||
	       (kv->hold.active && kv->pub_held_removals != kv->hold.removals) ||
	       strcmp(kv->pub_error, kv->error) != 0;
}

/* ---- publishing ---- */

/*
 * Prepare the next generation's file, the size of the current one and a little;
 * called at each live change and after each patch, so it goes SPARE_KEEP_USEC
 * after the last of them.
 */
static void spare_start(struct kvwatch *kv)
{
	struct snapshot *cur = store_snapshot(kv->store);

	arm(kv->spare_timer, now_usec(kv) + SPARE_KEEP_USEC);
	if (kv->spare != NULL || cur == NULL || !kv->patchable)
		return;
	kv->spare =
	    spare_prepare(kv->cfg->runtime_dir, snapshot_header(cur)->total_size + SPARE_SLACK);
}

/*
 * The spare file if its thread is done (publisher.take_spare); NULL if none or
 * not ready: the loop never waits for it, the patch then makes its own file.
 */
static struct snapshot_file *spare_take(void *ctx)
{
	struct kvwatch *kv = ctx;
	struct snapshot_file *f;

	if (!spare_is_ready(kv->spare))
		return NULL;
	f = spare_wait(kv->spare);
	kv->spare = NULL;
	return f;
}

/* A spare nobody took: its temporary file goes (one still being made stays). */
static void spare_drop(struct kvwatch *kv)
{
	snapshot_file_free(spare_take(kv));
}

static int on_spare_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	spare_drop(kv);
	if (kv->spare != NULL)
		arm(kv->spare_timer, usec + USEC_PER_SEC); /* still being made */
	return 0;
}

static void drop_loading(struct kvwatch *kv)
{
	publish_loading_free(kv->loading);
	kv->loading = NULL;
}

static void delta_reset(struct kvwatch *kv, bool patchable)
{
	store_free(kv->delta_ids);
	store_free(kv->delta_prev);
	kv->delta_ids = NULL;
	kv->delta_prev = NULL;
	kv->patchable = patchable;
}

/* Note the values changes[0..n) are about to replace, before updates_apply(). */
static void delta_note(struct kvwatch *kv, const struct batch_change *changes, size_t n)
{
	uint32_t np = kv->cfg->schema.count;
	struct strview *vals;

	if (!kv->patchable)
		return;
	if (kv->delta_ids == NULL && (store_new(&kv->cfg->schema, false, &kv->delta_ids) < 0 ||
	                              store_new(&kv->cfg->schema, false, &kv->delta_prev) < 0)) {
		delta_reset(kv, false);
		return;
	}
	vals = calloc(np ? np : 1, sizeof(*vals));
	if (vals == NULL) {
		delta_reset(kv, false);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct batch_change *ch = &changes[i];

		if (store_contains(kv->delta_ids, ch->id, ch->id_len))
			continue; /* the first old value is the one the snapshot has */
		if (store_count(kv->delta_ids) >= TREE_PATCH_MAX) {
			delta_reset(kv, false); /* a full build is as fast */
			break;
		}
		memset(vals, 0, np * sizeof(*vals));
		if (store_put(kv->delta_ids, ch->id, ch->id_len, vals) < 0 ||
		    (store_get(kv->store, ch->id, ch->id_len, vals) &&
		     store_put(kv->delta_prev, ch->id, ch->id_len, vals) < 0)) {
			delta_reset(kv, false);
			break;
		}
	}
	free(vals);
}

/* ---- the copy in state_dir ---- */

/* Reap a finished copy; false while one runs. */
static bool save_reap(struct kvwatch *kv, bool wait)
{
	char err[512];

	if (kv->saver == NULL)
		return true;
	if (!wait && !warm_save_done(kv->saver))
		return false;
	if (warm_save_end(kv->saver, err, sizeof(err)) < 0) {
		log_warnx("saving the tree for the next start: %s", err);
		kv->saved_generation = 0;
	} else {
		log_debug("saved generation %" PRIu64 " in %s", kv->saved_generation,
		          kv->cfg->state_dir);
	}
	kv->saver = NULL;
	return true;
}

static void save_start(struct kvwatch *kv)
{
	kv->saver = warm_save_start(kv->cfg->runtime_dir, kv->cfg->state_dir, kv->pub.generation);
	if (kv->saver == NULL) {
		log_warnx("saving the tree for the next start: out of memory");
		return;
	}
	kv->saved_generation = kv->pub.generation;
	kv->last_save_usec = now_usec(kv);
}

/* A loaded generation was published: copy it when the last copy is old enough. */
static void save_schedule(struct kvwatch *kv)
{
	int enabled = SD_EVENT_OFF;
	uint64_t when = kv->last_save_usec + SAVE_EVERY_USEC, now = now_usec(kv);

	sd_event_source_get_enabled(kv->save_timer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	arm(kv->save_timer, kv->last_save_usec == 0 || when < now ? now : when);
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (!save_reap(kv, false)) {
		arm(kv->save_timer, usec + SAVE_POLL_USEC);
		return 0;
	}
	if (!kv->pub_savable || kv->saved_generation == kv->pub.generation)
		return 0;
	save_start(kv);
	arm(kv->save_timer, usec + SAVE_POLL_USEC); /* to reap it */
	return 0;
}

/* At exit: the last loaded generation, if not copied yet; waits. */
static void save_final(struct kvwatch *kv)
{
	save_reap(kv, true);
	if (!kv->pub_savable || kv->saved_generation == kv->pub.generation)
		return;
	save_start(kv);
	save_reap(kv, true);
}

static void do_publish(struct kvwatch *kv)
{
	struct snapshot_kv_state st = {
	    .connected = is_connected(kv),
	    .held = kv->hold.active,
	    .held_removals = kv->hold.active ? kv->hold.removals : 0,
	    .last_sync_ns = kv->last_sync_ns,
	    .error_since_ns = kv->error_since_ns,
	    .error = kv->error,
	    .leader = kv->url ? kv->url->redacted : NULL,
	};
	struct publish_result res;
	struct snapshot *old;
	char err[512] = "", status[600];
	/* The debounce counts from the start: a publish slower than it waits for nothing. */
	uint64_t started = now_usec(kv);
	int r;

	r = -EAGAIN;
	if (kv->loading != NULL) {
		/* The first load's records, placed while they loaded: the build is done. */
		r = publish_loading(&kv->pub, kv->loading, &st, &res, err, sizeof(err));
		kv->loading = NULL;
	} else if (kv->patchable) {
		r = publish_patch(&kv->pub, kv->cfg->rules, &kv->cfg->schema, kv->store,
		                  kv->delta_prev, kv->delta_ids, &st, &res, err, sizeof(err));
	}
	if (r == -EAGAIN)
		r = publish_tree(&kv->pub, kv->cfg->rules, &kv->cfg->schema, kv->store, &st, &res,
		                 err, sizeof(err));
	spare_drop(kv); /* one the publish did not take: a build writes a file of its own */
	if (r < 0) {
		log_errorx("publishing generation %" PRIu64 ": %s; retrying in %llu s",
		           kv->pub.generation + 1, err, PUBLISH_RETRY_USEC / USEC_PER_SEC);
		arm(kv->publish_timer, now_usec(kv) + PUBLISH_RETRY_USEC);
		return;
	}
	if (err[0] != '\0')
		log_warnx("%s", err);
	if (kv->hold.active)
		snprintf(status, sizeof(status),
		         "generation %" PRIu64 ": %" PRIu64
		         " files; holding back the removal of %" PRIu64
		         " files (SIGUSR1 applies it)",
		         res.generation, res.files, kv->hold.removals);
	else if (is_connected(kv))
		snprintf(status, sizeof(status),
		         "generation %" PRIu64 ": %" PRIu64 " files from %s", res.generation,
		         res.files, leader_name(kv));
	else
		snprintf(status, sizeof(status),
		         "generation %" PRIu64 ": %" PRIu64 " files, disconnected: %s",
		         res.generation, res.files, kv->error[0] ? kv->error : "no leader");
	publish_notify(&kv->pub, res.generation, status);
	log_info("published generation %" PRIu64 ": %" PRIu64 " files, %" PRIu64
	         " directories, %" PRIu64 " skipped, %" PRIu64 " hidden (%s; %s %.1f ms, "
	         "write %.1f ms, map %.1f ms)",
	         res.generation, res.files, res.directories, res.skipped, res.hidden,
	         is_connected(kv) ? "connected" : "disconnected", res.patched ? "patch" : "build",
	         res.build_ns / 1e6, res.write_ns / 1e6, res.map_ns / 1e6);

	kv->dirty = false;
	kv->resyncing = false;
	kv->last_publish_usec = started;
	kv->pub_savable = kv->last_sync_ns != 0;
	if (kv->pub_savable)
		save_schedule(kv);
	kv->pub_connected = is_connected(kv);
	kv->pub_held = kv->hold.active;
	kv->pub_held_removals = kv->hold.removals;
	snprintf(kv->pub_error, sizeof(kv->pub_error), "%s", kv->error);

	old = store_snapshot(kv->store);
	if (old == NULL && kv->retired != NULL)
		old = store_snapshot(kv->retired);
	if (kv->hooks != NULL && res.snap != NULL) {
		char **dirs = NULL;
		size_t n = 0;

		if (treediff_dirs(old, res.snap, HOOKS_DIRS_MAX, &dirs, &n) == 0) {
			hooks_changed(kv->hooks, res.generation, dirs, n);
			treediff_free(dirs, n);
		}
	}
	/* The next live changes patch this generation if the store maps it. */
	r = -1;
	if (res.snap != NULL) {
		r = store_rebind(kv->store, res.snap);
		if (r < 0)
			log_warnx("mapping records to generation %" PRIu64 ": %s", res.generation,
			          strerror(-r));
	}
	delta_reset(kv, r == 0);
	store_free(kv->retired);
	kv->retired = NULL;
	malloc_trim(0);
	/* Live changes are flowing: the next one finds its file allocated. */
	if (res.patched)
		spare_start(kv);
}

static int on_publish_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (kv->dirty || state_changed(kv))
		do_publish(kv);
	return 0;
}

/*
 * Publish at once when the last publish is older than the debounce time (one
 * change is seen fast), else when it has passed (a burst becomes one generation).
 */
static void schedule_publish(struct kvwatch *kv)
{
	int enabled = SD_EVENT_OFF;
	uint64_t now = now_usec(kv), when;

	sd_event_source_get_enabled(kv->publish_timer, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	when = kv->last_publish_usec + kv->cfg->kv.debounce_ms * USEC_PER_MS;
	if (!kv->pub.ready || when < now)
		when = now;
	arm(kv->publish_timer, when);
}

/* ---- connections ---- */

static void job_cancel(struct kvwatch *kv)
{
	if (kv->job != NULL)
		atomic_store(&kv->job->cancel, true);
	store_free(kv->touched);
	kv->touched = NULL;
}

static void drop_fetch(struct kvwatch *kv)
{
	if (kv->fetch != NULL) {
		fetch_free(kv->orphan); /* waits only if an older one still runs */
		kv->orphan = kv->fetch;
		fetch_abandon(kv->fetch);
		kv->fetch = NULL;
	}
	free(kv->queue);
	kv->queue = NULL;
	kv->queue_n = 0;
}

static void disconnect(struct kvwatch *kv)
{
	drop_fetch(kv);
	subscriber_free(kv->sub);
	kv->sub = NULL;
	if (kv->cmd != NULL)
		redisFree(kv->cmd);
	kv->cmd = NULL;
	job_cancel(kv);
	disarm(kv->resync_timer);
}

static void __attribute__((format(printf, 2, 3))) kv_fail(struct kvwatch *kv, const char *fmt, ...)
{
	va_list ap;

	if (kv->fail_pending)
		return; /* the first reason is the one that counts */
	va_start(ap, fmt);
	vsnprintf(kv->fail_reason, sizeof(kv->fail_reason), fmt, ap);
	va_end(ap);
	kv->fail_pending = true;
	sd_event_source_set_enabled(kv->fail_defer, SD_EVENT_ONESHOT);
}

static int on_fail(sd_event_source *s, void *userdata)
{
	struct kvwatch *kv = userdata;
	char text[ERROR_MAX + 200];
	uint32_t rnd = 0, delay;

	kv->fail_pending = false;
	disconnect(kv);
	kv_event(kv, KV_EV_FAILED);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd = (uint32_t)realtime_ns();
	delay = backoff_next(&kv->backoff, rnd);
	snprintf(text, sizeof(text), "%s: %s", leader_name(kv), kv->fail_reason);
	if (strcmp(text, kv->error) != 0)
		log_warnx("%s; retrying in %u ms", text, delay);
	else
		log_debug("%s; retrying in %u ms", text, delay);
	set_error(kv, text);
	if (state_changed(kv))
		schedule_publish(kv);
	arm(kv->retry_timer, now_usec(kv) + delay * USEC_PER_MS);
	return 0;
}

static void on_message(void *userdata, const char *payload, size_t len);

static void on_sub_error(void *userdata, const char *error)
{
	kv_fail(userdata, "pub/sub: %s", error);
}

static void connect_now(struct kvwatch *kv)
{
	char err[256];
	int r;

	disarm(kv->retry_timer);
	disconnect(kv);
	if (kv->url == NULL) {
		/* No leader known: the error says why; serve what we have. */
		if (state_changed(kv))
			schedule_publish(kv);
		return;
	}
	r = redis_connect(kv->url, kv->cfg->kv.connect_timeout_ms, kv->cfg->kv.command_timeout_ms,
	                  &kv->cmd, err, sizeof(err));
	if (r < 0) {
		kv_fail(kv, "%s", err);
		return;
	}
	r = subscriber_new(kv->event, kv->url, kv->cfg->kv.connect_timeout_ms,
	                   kv->cfg->kv.command_timeout_ms, kv->channel, on_message, on_sub_error,
	                   kv, &kv->sub, err, sizeof(err));
	if (r < 0) {
		kv_fail(kv, "%s", err);
		return;
	}
	if (kv->error[0] != '\0' || !kv->pub.ready)
		log_info("connected to %s, subscribed to %s", kv->url->redacted, kv->channel);
	kv_event(kv, KV_EV_CONNECTED);
	set_error(kv, NULL);
	/* Messages may have been missed while away: a full resync. */
	start_load(kv);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	kv_event(userdata, KV_EV_RETRY);
	connect_now(userdata);
	return 0;
}

/* ---- live updates ---- */

static void fetch_next(struct kvwatch *kv);

/* The changes' values are in (on the loop thread): carry them out. */
static void on_fetched(void *userdata, struct fetch *f)
{
	struct kvwatch *kv = userdata;
	const struct batch_change *changes;
	struct update_stats st = {0};
	struct store *fetched;
	const char *err;
	size_t n;
	int r;

	kv->fetch = NULL;
	r = fetch_result(f, &fetched, &changes, &n, &st.load, &err);
	kv->cmd = fetch_take_connection(f);
	if (r < 0) {
		kv_fail(kv, "fetching changed files: %s", err);
		fetch_free(f);
		return;
	}
	if (!schema_equal(fetch_schema(f), &kv->cfg->schema)) {
		/* A reload changed the properties meanwhile: a full load repairs it. */
		fetch_free(f);
		start_load(kv);
		fetch_next(kv);
		return;
	}
	delta_note(kv, changes, n);
	drop_loading(kv); /* the store is about to differ from what was loaded */
	r = updates_merge(kv->store, kv->job != NULL ? kv->touched : NULL, fetched, changes, n,
	                  &st);
	fetch_free(f);
	if (r < 0) {
		kv_fail(kv, "applying changed files: %s", strerror(-r));
		return;
	}
	log_debug("batch: %" PRIu64 " fetched, %" PRIu64 " removed, %" PRIu64 " vanished, %" PRIu64
	          " records changed",
	          st.fetched, st.removed, st.load.vanished, st.changed);
	if (st.changed > 0) {
		kv->dirty = true;
		schedule_publish(kv);
	}
	fetch_next(kv);
}

/* Hand the waiting changes to a fetch, unless one is in flight. */
static void fetch_next(struct kvwatch *kv)
{
	int r;

	if (kv->fetch != NULL || kv->queue_n == 0 || kv->cmd == NULL || kv->fail_pending)
		return;
	r = fetch_start(kv->event, kv->cmd, &kv->layout, &kv->cfg->schema, kv->queue, kv->queue_n,
	                on_fetched, kv, &kv->fetch);
	if (r < 0) {
		kv_fail(kv, "fetching changed files: %s", strerror(-r));
		return;
	}
	kv->cmd = NULL;
	kv->queue = NULL;
	kv->queue_n = 0;
}

static void on_message(void *userdata, const char *payload, size_t len)
{
	struct kvwatch *kv = userdata;
	struct batch_change *changes = NULL, *q;
	char err[256];
	size_t n = 0;
	int r;

	kv->messages++;
	if (!is_connected(kv) || kv->fail_pending)
		return;
	r = batch_parse(&kv->layout, payload, len, &changes, &n, err, sizeof(err));
	if (r < 0) {
		uint64_t now = now_usec(kv);

		kv->malformed++;
		if (kv->malformed_logged_usec == 0 ||
		    now - kv->malformed_logged_usec >= MALFORMED_LOG_USEC) {
			log_warnx("malformed message on %s: %s, ignoring (%" PRIu64 " so far)",
			          kv->channel, err, kv->malformed);
			kv->malformed_logged_usec = now;
		}
		return;
	}
	if (n == 0) {
		free(changes);
		return;
	}
	/* Behind the changes already waiting, in message order. */
	if (kv->queue_n == 0) {
		kv->queue = changes;
		kv->queue_n = n;
	} else {
		q = reallocarray(kv->queue, kv->queue_n + n, sizeof(*q));
		if (q == NULL) {
			free(changes);
			kv_fail(kv, "live changes: out of memory");
			return;
		}
		memcpy(q + kv->queue_n, changes, n * sizeof(*q));
		kv->queue = q;
		kv->queue_n += n;
		free(changes);
	}
	spare_start(kv); /* while the changes are fetched and the tree patched */
	fetch_next(kv);
}

/* ---- full loads ---- */

static void *job_main(void *arg)
{
	struct load_job *job = arg;
	uint64_t one = 1;

	job->result =
	    loader_run(&job->params, &job->store, &job->stats, job->err, sizeof(job->err));
	if (write(job->efd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write of 1 cannot fail */
	return NULL;
}

static void job_free(struct load_job *job)
{
	if (job == NULL)
		return;
	store_free(job->store);
	publish_loading_free(job->loading);
	redis_url_free(job->url);
	if (job->efd >= 0)
		close(job->efd);
	free(job);
}

/* Swap in a new record set; the old one keeps the published snapshot for diffing. */
static void adopt(struct kvwatch *kv, struct store *fresh)
{
	if (store_snapshot(kv->store) != NULL && kv->retired == NULL) {
		kv->retired = kv->store;
	} else {
		store_free(kv->store);
	}
	kv->store = fresh;
	kv->dirty = true;
	drop_loading(kv);
	delta_reset(kv, false);
}

/*
 * loading: the tree the job placed while loading fresh, if it did (a first load);
 * taken when fresh becomes the record set unchanged.
 */
static void apply_load(struct kvwatch *kv, struct store *fresh, const struct load_stats *ls,
                       struct publish_loading **loading)
{
	const struct config *cfg = kv->cfg;
	struct store_diff d;
	struct strview id;
	uint64_t it = 0;
	bool was_held = kv->hold.active;
	/* The job's tree is fresh's as long as no live change is copied over it. */
	bool as_loaded = kv->touched == NULL || store_count(kv->touched) == 0;
	enum hold_verdict verdict;

	/* Changes that came by pub/sub while the load ran are newer than it. */
	while (kv->touched != NULL && store_next(kv->touched, &it, &id, NULL))
		if (store_copy_entry(fresh, kv->store, id.ptr, id.len) < 0)
			log_warnx("out of memory re-applying a change of \"%.*s\"", (int)id.len,
			          id.ptr);
	store_free(kv->touched);
	kv->touched = NULL;

	store_diff(kv->store, fresh, &d);
	kv->last_sync_ns = realtime_ns();
	kv->resyncing = false;
	backoff_reset(&kv->backoff);
	log_info("full load from %s: %u records from %" PRIu64 " keys in %.2f s: %" PRIu64
	         " added, %" PRIu64 " removed, %" PRIu64 " changed",
	         leader_name(kv), store_count(fresh), ls->keys, ls->elapsed_ns / 1e9, d.added,
	         d.removed, d.changed);
	if (ls->bad_keys || ls->dropped || ls->vanished)
		log_info("full load: %" PRIu64 " keys not of the layout, %" PRIu64
		         " values dropped (too long or not strings), %" PRIu64
		         " files vanished while loading",
		         ls->bad_keys, ls->dropped, ls->vanished);

	/* The guard counts files: records with a filePath that would leave the tree. */
	verdict = hold_check(&kv->hold, d.files, d.lost, cfg->kv.hold_threshold_percent,
	                     cfg->kv.hold_time_ms, (int64_t)now_usec(kv) * 1000);
	kv_event(kv, verdict == HOLD_KEEP ? KV_EV_HELD : KV_EV_APPLIED);
	if (verdict == HOLD_KEEP) {
		if (!was_held) {
			char when[96] = "";

			if (cfg->kv.hold_time_ms > 0)
				snprintf(when, sizeof(when),
				         ", or by itself if it persists for %u s",
				         cfg->kv.hold_time_ms / 1000);
			log_warnx(
			    "the data from %s would remove %" PRIu64 " of %" PRIu64
			    " files (more than kv.hold_threshold_percent = %u %%): serving the "
			    "previous tree; `kill -USR1 %d` applies the change%s",
			    leader_name(kv), d.lost, d.files, cfg->kv.hold_threshold_percent,
			    (int)getpid(), when);
		}
		store_free(fresh);
		if (cfg->kv.hold_time_ms > 0) {
			int64_t left = hold_remaining_ns(&kv->hold, cfg->kv.hold_time_ms,
			                                 (int64_t)now_usec(kv) * 1000);

			arm(kv->hold_timer, now_usec(kv) + (uint64_t)left / 1000 + 1);
		}
	} else {
		if (was_held)
			log_notice("held change: %s",
			           d.lost * 100 > d.files * (uint64_t)cfg->kv.hold_threshold_percent
			               ? "applied"
			               : "it no longer removes that much; applying what there is");
		disarm(kv->hold_timer);
		if (kv->rules_pending)
			kv->dirty = true; /* placed with the new rules, even if nothing changed */
		kv->rules_pending = false;
		if (d.added || d.removed || d.changed || !kv->pub.ready) {
			adopt(kv, fresh);
			if (as_loaded) {
				kv->loading = *loading;
				*loading = NULL;
			}
		} else {
			store_free(fresh);
		}
	}
	if (kv->dirty || state_changed(kv))
		schedule_publish(kv);
	if (cfg->kv.refresh_interval_ms > 0)
		arm(kv->resync_timer, now_usec(kv) + cfg->kv.refresh_interval_ms * USEC_PER_MS);
}

static int on_job_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kvwatch *kv = userdata;
	struct load_job *job = kv->job;
	bool cancelled;

	pthread_join(job->thread, NULL);
	kv->job_io = sd_event_source_disable_unref(kv->job_io);
	kv->job = NULL;
	cancelled = atomic_load(&job->cancel);
	if (!cancelled && job->cfg != kv->cfg) {
		/* A reload came meanwhile: the records stand, the tree placed with the old
		 * rules does not (and the schema is the same, or the job was cancelled). */
		publish_loading_free(job->loading);
		job->loading = NULL;
		if (job->store != NULL && store_set_schema(job->store, &kv->cfg->schema) < 0)
			cancelled = kv->load_again = true;
	}
	config_free(kv->job_cfg);
	kv->job_cfg = NULL;
	if (cancelled)
		log_debug("full load cancelled");
	else if (job->result < 0)
		kv_fail(kv, "full load: %s", job->err);
	else {
		apply_load(kv, job->store, &job->stats, &job->loading);
		job->store = NULL;
	}
	job_free(job);
	if (kv->load_again && is_connected(kv) && !kv->fail_pending)
		start_load(kv);
	return 0;
}

static void start_load(struct kvwatch *kv)
{
	struct load_job *job;
	char err[256];
	int r;

	if (!is_connected(kv) || kv->url == NULL)
		return;
	if (kv->job != NULL) {
		kv->load_again = true;
		return;
	}
	kv->load_again = false;
	disarm(kv->resync_timer);
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		kv_fail(kv, "full load: out of memory");
		return;
	}
	job->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = job->efd < 0 ? -errno : 0;
	if (r == 0)
		r = redis_url_parse(kv->url_text, &job->url, err, sizeof(err));
	if (r == 0) {
		store_free(kv->touched);
		kv->touched = NULL;
		r = store_new(&kv->cfg->schema, false, &kv->touched);
	}
	if (r == 0)
		r = sd_event_add_io(kv->event, &kv->job_io, job->efd, EPOLLIN, on_job_done, kv);
	if (r < 0) {
		job_free(job);
		kv_fail(kv, "full load: %s", strerror(-r));
		return;
	}
	job->cfg = kv->cfg;
	job->layout = kv->layout;
	job->params = (struct loader_params){
	    .url = job->url,
	    .connect_timeout_ms = kv->cfg->kv.connect_timeout_ms,
	    .command_timeout_ms = kv->cfg->kv.command_timeout_ms,
	    .layout = &job->layout,
	    .schema = &kv->cfg->schema,
	    .cancel = &job->cancel,
	};
	/*
	 * The first load of a process that has no tree yet will be published as it
	 * is: its records are placed while redis-server is still sending the next.
	 */
	if (store_count(kv->store) == 0 && !kv->pub.ready &&
	    publish_loading_new(kv->cfg->rules, &kv->cfg->schema, &job->loading) == 0) {
		job->params.on_record = publish_loading_record;
		job->params.on_record_ctx = job->loading;
	}
	atomic_init(&job->cancel, false);
	r = pthread_create(&job->thread, NULL, job_main, job);
	if (r != 0) {
		kv->job_io = sd_event_source_disable_unref(kv->job_io);
		job_free(job);
		kv_fail(kv, "full load: starting a thread: %s", strerror(r));
		return;
	}
	kv->job = job;
	kv_event(kv, KV_EV_LOAD);
	log_debug("full load from %s started", leader_name(kv));
}

static int on_resync(sd_event_source *s, uint64_t usec, void *userdata)
{
	start_load(userdata);
	return 0;
}

static int on_hold_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	log_info("held change: hold time over, checking it once more");
	start_load(kv);
	return 0;
}

/* ---- leader ---- */

static void on_leader(void *userdata, const char *url, const char *error)
{
	struct kvwatch *kv = userdata;
	struct redis_url *u = NULL;
	char err[256];
	char *text;

	if (url == NULL) {
		kv->lock_bad = true;
		if (kv->url != NULL) {
			log_warnx("%s; staying with %s", error, kv->url->redacted);
			return;
		}
		log_warnx("%s; waiting for a usable lock", error);
		kv_event(kv, KV_EV_NO_LEADER);
		set_error(kv, error);
		if (state_changed(kv))
			schedule_publish(kv);
		return;
	}
	if (kv->url_text != NULL && strcmp(kv->url_text, url) == 0) {
		if (kv->lock_bad)
			log_info("leader lock %s is usable again", leader_watch_path(kv->leader));
		kv->lock_bad = false;
		return;
	}
	kv->lock_bad = false;
	if (redis_url_parse(url, &u, err, sizeof(err)) < 0 || (text = strdup(url)) == NULL) {
		redis_url_free(u);
		log_warnx("leader lock: \"api\": %s", err);
		return;
	}
	if (kv->url != NULL)
		log_notice("the leader moved from %s to %s", kv->url->redacted, u->redacted);
	else
		log_info("leader is %s", u->redacted);
	free(kv->url_text);
	redis_url_free(kv->url);
	kv->url_text = text;
	kv->url = u;
	backoff_reset(&kv->backoff);
	kv_event(kv, KV_EV_LEADER);
	connect_now(kv);
}

/* ---- signals ---- */

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
	start_load(kv);
	return 0;
}

/* ---- set-up ---- */

static void teardown(struct kvwatch *kv)
{
	if (kv->job != NULL) {
		atomic_store(&kv->job->cancel, true);
		pthread_join(kv->job->thread, NULL);
		kv->job_io = sd_event_source_disable_unref(kv->job_io);
		job_free(kv->job);
		kv->job = NULL;
	}
	config_free(kv->job_cfg);
	kv->job_cfg = NULL;
	drop_source(kv);
	fetch_free(kv->orphan);
	kv->orphan = NULL;
	hooks_free(kv->hooks);
	kv->hooks = NULL;
	store_free(kv->retired);
	kv->retired = NULL;
	store_free(kv->store);
	kv->store = NULL;
	drop_loading(kv);
	snapshot_file_free(spare_wait(kv->spare)); /* at exit: waits */
	kv->spare = NULL;
	delta_reset(kv, false);
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
	return 0;
}

/* Whom to follow and under which keys: kv.redis_url, or the leader lock. */
static int setup_source(struct kvwatch *kv)
{
	struct config *cfg = kv->cfg;
	char err[256];
	int r;

	if (keys_init(&kv->layout, cfg->kv.prefix, cfg->kv.separator) < 0) {
		log_errorx("kv.prefix or kv.separator: empty separator or too long");
		return -EINVAL;
	}
	keys_channel(&kv->layout, kv->channel, sizeof(kv->channel));
	if (cfg->kv.redis_url[0] != '\0') {
		r = redis_url_parse(cfg->kv.redis_url, &kv->url, err, sizeof(err));
		if (r < 0) {
			log_errorx("kv.redis_url: %s", err);
			return r;
		}
		kv->url_text = strdup(cfg->kv.redis_url);
		if (kv->url_text == NULL)
			return -ENOMEM;
		log_info("following %s (kv.redis_url, no leader discovery)", kv->url->redacted);
		return 0;
	}
	r = leader_watch_new(kv->event, cfg->kv.meta_core_path, on_leader, kv, &kv->leader);
	if (r < 0) {
		log_errorx("watching the leader lock: %s", strerror(-r));
		return r;
	}
	log_info("discovering the leader through %s", leader_watch_path(kv->leader));
	return 0;
}

static void drop_source(struct kvwatch *kv)
{
	disconnect(kv);
	kv->fail_pending = false;
	if (kv->fail_defer != NULL)
		disarm(kv->fail_defer);
	if (kv->retry_timer != NULL)
		disarm(kv->retry_timer);
	leader_watch_free(kv->leader);
	kv->leader = NULL;
	kv->lock_bad = false;
	free(kv->url_text);
	kv->url_text = NULL;
	redis_url_free(kv->url);
	kv->url = NULL;
	kv_event(kv, KV_EV_SOURCE_GONE);
}

static void start_source(struct kvwatch *kv)
{
	if (kv->leader != NULL) {
		leader_watch_check(kv->leader);
		return;
	}
	kv_event(kv, KV_EV_LEADER);
	connect_now(kv);
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
	return setup_source(kv);
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

	delta_reset(kv, false);
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
	job_cancel(kv); /* its records would lack the new properties */
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
		return 0;
	}
	for (size_t i = 0; i < ncfg->warning_count; i++)
		log_warnx("%s", ncfg->warnings[i]);
	changes = reload_changes(old, ncfg);
	r = rebase_stores(kv, ncfg, changes);
	if (r < 0) {
		log_errorx("reload: %s; keeping the running configuration", strerror(-r));
		config_free(ncfg);
		return 0;
	}
	log_info("reloading the configuration:%s%s%s%s%s%s", changes & RELOAD_RULES ? " rules" : "",
	         changes & RELOAD_FETCH ? " properties" : "",
	         changes & RELOAD_SOURCE ? " source" : "", changes & RELOAD_HOOKS ? " hooks" : "",
	         changes & RELOAD_OTHER ? " settings" : "", changes == 0 ? " nothing changed" : "");
	if (changes & (RELOAD_SOURCE | RELOAD_FETCH))
		job_cancel(kv);
	if (changes & RELOAD_SOURCE)
		drop_source(kv);
	if (changes & RELOAD_HOOKS) {
		hooks_free(kv->hooks);
		kv->hooks = NULL;
	}
	drop_loading(kv); /* placed with the running rules */

	kv->cfg = ncfg;
	kv->pub.runtime_dir = ncfg->runtime_dir;
	keys_init(&kv->layout, ncfg->kv.prefix, ncfg->kv.separator); /* it points into ncfg */
	if (kv->job != NULL && kv->job->cfg == old && kv->job_cfg == NULL)
		kv->job_cfg = old; /* the load still reads it; freed when it ends */
	else
		config_free(old);

	if ((changes & RELOAD_HOOKS) && setup_hooks(kv) < 0)
		log_warnx("reload: running without a change hook");
	if (changes & RELOAD_SOURCE) {
		if (setup_source(kv) < 0) {
			sd_event_exit(kv->event, EXIT_CONFIG); /* reload_check() let it through */
			return 0;
		}
		start_source(kv); /* connects, then loads */
	} else if (changes & RELOAD_FETCH) {
		start_load(kv); /* the records lack what the new rules ask for */
	}
	if ((changes & RELOAD_FETCH) && kv->url != NULL) {
		/* Placing now would move files that only lack the new property. */
		kv->rules_pending = true;
	} else if (changes & RELOAD_RULES) {
		/* Re-place the records held with the new rules: a full build, no Redis. */
		log_info("reload: placing %u records with the new rules", store_count(kv->store));
		kv->dirty = true;
	}
	if (kv->dirty || state_changed(kv))
		schedule_publish(kv);
	return 0;
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
	    .pub = {.runtime_dir = cfg->runtime_dir, .take_spare = spare_take},
	};
	sigset_t mask;
	int r, status = 0;

	kv.pub.spare_ctx = &kv;
	if (check_runtime_dir(cfg->runtime_dir) < 0) {
		config_free(cfg);
		return EXIT_TEMPFAIL;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGPIPE);
	/* Before any thread exists, so that every thread inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	backoff_init(&kv.backoff, RETRY_BASE_MS, RETRY_CAP_MS);

	r = sd_event_default(&kv.event);
	if (r >= 0)
		r = sd_event_set_watchdog(kv.event, true);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGTERM, on_term, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGINT, on_term, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGHUP, on_hup, &kv);
	if (r >= 0)
		r = sd_event_add_signal(kv.event, NULL, SIGUSR1, on_usr1, &kv);
	if (r >= 0)
		r = sd_event_add_defer(kv.event, &kv.fail_defer, on_fail, &kv);
	if (r >= 0)
		r = sd_event_source_set_enabled(kv.fail_defer, SD_EVENT_OFF);
	if (r >= 0)
		/* Accuracy 1 us: the default (0 = 250 ms) would delay each publish by up to that. */
		r = sd_event_add_time(kv.event, &kv.publish_timer, CLOCK_MONOTONIC, 0, 1,
		                      on_publish_timer, &kv);
	if (r >= 0)
		/* Below I/O: messages already waiting join the coming generation. */
		r = sd_event_source_set_priority(kv.publish_timer, SD_EVENT_PRIORITY_IDLE);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.retry_timer, CLOCK_MONOTONIC, 0, 0, on_retry,
		                      &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.resync_timer, CLOCK_MONOTONIC, 0, 0, on_resync,
		                      &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.hold_timer, CLOCK_MONOTONIC, 0, 0,
		                      on_hold_timer, &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.spare_timer, CLOCK_MONOTONIC, 0, 0,
		                      on_spare_timer, &kv);
	if (r >= 0)
		r = sd_event_add_time(kv.event, &kv.save_timer, CLOCK_MONOTONIC, 0, 0,
		                      on_save_timer, &kv);
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

	if (setup(&kv) < 0) {
		status = EXIT_CONFIG;
		goto out;
	}
	start_source(&kv);
	r = sd_event_loop(kv.event);
	if (r < 0) {
		log_errorx("event loop: %s", strerror(-r));
		status = EXIT_TEMPFAIL;
	} else {
		status = r;
	}
	save_final(&kv);
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
	config_free(kv.cfg);
	return status;
}

/* ---- --once ---- */

int kvwatch_once(const struct config *cfg)
{
	struct publisher pub = {.runtime_dir = cfg->runtime_dir, .no_map = true};
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
			return EXIT_CONFIG;
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
	if (publish_loading_new(cfg->rules, &cfg->schema, &loading) < 0) {
		log_errorx("out of memory");
		status = EXIT_TEMPFAIL;
		goto out;
	}
	p.on_record_ctx = loading;
	r = loader_run(&p, &s, &ls, err, sizeof(err));
	if (r < 0) {
		log_errorx("cannot load from %s: %s", url->redacted, err);
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
	status = 0;
out:
	publish_loading_free(loading);
	store_free(s);
	redis_url_free(url);
	leader_lock_clear(&lock);
	return status;
}
