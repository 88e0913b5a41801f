/*
 * generations: when and how the next generation is published.  Live changes
 * are debounced (kv.debounce_ms), then patched into the previous tree when the
 * store maps it, else built whole, on a thread (build_job: the loop keeps
 * answering meanwhile); the file of the next patch is prepared on a thread
 * (spare.h) and taken only when it is ready.  The KV state stamped into
 * each snapshot is compared with the last one published, so that failures that
 * repeat publish nothing.  A generation made of loaded data is copied into
 * state_dir at most every SAVE_EVERY_USEC and at exit (warm.h).
 */
#include "kvwatch_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "config.h"
#include "guard.h"
#include "hooks.h"
#include "log.h"
#include "publish.h"
#include "snapshot.h"
#include "snapshot_share.h"
#include "spare.h"
#include "state.h"
#include "store.h"
#include "treediff.h"
#include "warm.h"

bool gen_state_changed(const struct kvwatch *kv)
{
	/* The saved tree says "resyncing" until a load ends: errors only go to the log. */
	if (kv->resyncing)
		return false;
	return !kv->pub.ready || kv->pub_connected != kv_is_connected(kv) ||
	       kv->pub_held != kv->hold.active ||
	       (kv->hold.active && kv->pub_held_removals != kv->hold.removals) ||
	       strcmp(kv->pub_error, kv->error) != 0;
}

/*
 * Prepare the next generation's file, the size of the current one and a little;
 * called at each live change and after each patch, so it goes SPARE_KEEP_USEC
 * after the last of them.
 */
void gen_spare_start(struct kvwatch *kv)
{
	struct snapshot *cur = store_snapshot(kv->store);

	arm(kv->spare_timer, now_usec(kv) + SPARE_KEEP_USEC);
	if (cur == NULL || !kv->patchable)
		return;
	/* And the readers' copy of it, allocated ahead the same way. */
	snapshot_share_prepare(kv->pub.share, snapshot_header(cur)->total_size + SPARE_SLACK);
	if (kv->spare != NULL)
		return;
	kv->spare =
	    spare_prepare(kv->cfg->runtime_dir, snapshot_header(cur)->total_size + SPARE_SLACK);
}

/*
 * A full build of the records held is coming (a rules reload): its file is
 * prepared meanwhile, the size of the current one and a little.
 */
void gen_spare_for_build(struct kvwatch *kv)
{
	struct snapshot *cur = store_snapshot(kv->store);

	if (kv->spare != NULL || cur == NULL)
		return;
	arm(kv->spare_timer, now_usec(kv) + SPARE_KEEP_USEC);
	snapshot_share_prepare(kv->pub.share, snapshot_header(cur)->total_size + SPARE_SLACK);
	kv->spare =
	    spare_prepare(kv->cfg->runtime_dir, snapshot_header(cur)->total_size + SPARE_SLACK);
}

/*
 * The spare file if its thread is done (publisher.take_spare); NULL if none or
 * not ready: the loop never waits for it, the patch then makes its own file.
 */
struct snapshot_file *gen_spare_take(void *ctx)
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
	snapshot_file_free(gen_spare_take(kv));
}

int gen_on_spare_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	spare_drop(kv);
	snapshot_share_drop_spare(kv->pub.share);
	if (kv->spare != NULL)
		arm(kv->spare_timer, usec + USEC_PER_SEC); /* still being made */
	return 0;
}

void gen_drop_loading(struct kvwatch *kv)
{
	publish_loading_free(kv->loading);
	kv->loading = NULL;
}

/* Reap a finished copy; false while one runs. */
static bool save_reap(struct kvwatch *kv, bool wait)
{
	char err[512];

	if (kv->saver == NULL)
		return true;
	if (!wait && !warm_save_done(kv->saver))
		return false;
	if (warm_save_end(kv->saver, err, sizeof(err)) < 0) {
		if (!kv->save_failing)
			log_warnx("saving the tree for the next start: %s; trying again in %u s",
			          err, (unsigned)(SAVE_EVERY_USEC / USEC_PER_SEC));
		else
			log_debug("saving the tree for the next start: %s", err);
		kv->save_failing = true;
		kv->saved_generation = 0;
	} else {
		if (kv->save_failing)
			log_info("saving the tree for the next start works again");
		kv->save_failing = false;
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

int gen_on_save_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (!save_reap(kv, false)) {
		arm(kv->save_timer, usec + SAVE_POLL_USEC);
		return 0;
	}
	if (!kv->pub_savable || kv->saved_generation == kv->pub.generation)
		return 0;
	if (kv->save_failing && usec < kv->last_save_usec + SAVE_EVERY_USEC) {
		arm(kv->save_timer, kv->last_save_usec + SAVE_EVERY_USEC);
		return 0;
	}
	save_start(kv);
	arm(kv->save_timer, usec + SAVE_POLL_USEC); /* to reap it */
	return 0;
}

/* At exit: the last loaded generation, if not copied yet; waits. */
void gen_save_final(struct kvwatch *kv)
{
	save_reap(kv, true);
	if (!kv->pub_savable || kv->saved_generation == kv->pub.generation)
		return;
	save_start(kv);
	save_reap(kv, true);
}

/*
 * The published file kvwatch maps back was cut or rewritten under it (guard.h):
 * its records are gone; drop them and load everything again.  True if so.
 */
bool gen_check_damage(struct kvwatch *kv)
{
	struct store *fresh = NULL;

	if (!guard_damaged())
		return false;
	guard_set(NULL, 0, NULL);
	log_errorx("%s/%s was cut or rewritten under kvwatch; loading everything again from %s",
	           kv->cfg->runtime_dir, SNAP_FILE_NAME, leader_name(kv));
	if (store_new(&kv->cfg->schema, false, &fresh) < 0) {
		kv_fail(kv, "out of memory");
		return true;
	}
	store_free(kv->store);
	store_free(kv->retired);
	kv->retired = NULL;
	kv->store = fresh;
	live_delta_reset(kv, false);
	gen_drop_loading(kv);
	kv->dirty = false;
	fullload_start(kv); /* or the next connection's */
	return true;
}

/*
 * A full build runs on a thread of its own (1,000,000 files take seconds): the
 * loop keeps answering signals, the watchdog and the subscriber meanwhile.
 * Nothing changes the record set, the configuration or the publisher while it
 * runs: a fetched batch, a finished load and a reload wait for it (live.c,
 * fullload.c, kvwatch.c ask gen_building()), and it reads copies of the KV
 * state's strings.  Its end runs publish_done() on the loop.
 */
struct build_job {
	pthread_t thread;
	int efd;
	sd_event_source *io;
	struct publisher pub; /* a copy: the thread's generation, no spare, the cancel flag */
	const struct rules *rules;
	const struct schema *schema;
	struct store *store;
	struct store *prev;              /* kv->retired: the published tree's record set */
	struct publish_loading *loading; /* the first load's tree, else a build from store */
	struct spare *spare;             /* the file prepared for it, or NULL */
	struct snapshot_kv_state st;
	char error[ERROR_MAX];
	char leader[ERROR_MAX];
	uint64_t started;
	atomic_bool cancel;
	/* Written by the thread, read after the eventfd. */
	int result;
	struct publish_result res;
	char err[512];
};

static void *build_main(void *arg)
{
	struct build_job *job = arg;
	uint64_t one = 1;

	if (job->loading != NULL) {
		job->result = publish_loading(&job->pub, job->loading, &job->st, &job->res,
		                              job->err, sizeof(job->err));
		job->loading = NULL;
	} else {
		job->result =
		    publish_tree(&job->pub, job->rules, job->schema, job->store, job->prev,
		                 &job->st, &job->res, job->err, sizeof(job->err));
	}
	if (write(job->efd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write of 1 cannot fail */
	return NULL;
}

/* publisher.take_spare of the build, on its thread: it may wait for the spare. */
static struct snapshot_file *build_take_spare(void *ctx)
{
	struct build_job *job = ctx;
	struct snapshot_file *f = spare_wait(job->spare);

	job->spare = NULL;
	return f;
}

static void build_free(struct build_job *job)
{
	snapshot_file_free(spare_wait(job->spare));
	sd_event_source_disable_unref(job->io);
	if (job->efd >= 0)
		close(job->efd);
	publish_loading_free(job->loading);
	free(job);
}

bool gen_building(const struct kvwatch *kv)
{
	return kv->build != NULL;
}

static void publish_done(struct kvwatch *kv, int r, struct publish_result *res, char *err,
                         const struct snapshot_kv_state *st, uint64_t started);

static int on_build_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kvwatch *kv = userdata;
	struct build_job *job = kv->build;

	pthread_join(job->thread, NULL);
	kv->build = NULL;
	if (job->result >= 0)
		kv->pub.generation = job->pub.generation;
	publish_done(kv, job->result, &job->res, job->err, &job->st, job->started);
	build_free(job);
	/* What waited for the build. */
	live_after_build(kv);
	fullload_after_build(kv);
	if (kv->reload_pending) {
		kv->reload_pending = false;
		kv_reload(kv);
	}
	if (kv->dirty || gen_state_changed(kv))
		gen_schedule(kv);
	return 0;
}

/* Build st's generation on a thread, from kv->loading if set, else from the store. */
static int build_start(struct kvwatch *kv, const struct snapshot_kv_state *st, uint64_t started,
                       char *err, size_t errlen)
{
	struct build_job *job = calloc(1, sizeof(*job));
	int r;

	if (job == NULL) {
		snprintf(err, errlen, "building the tree: out of memory");
		return -ENOMEM;
	}
	job->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = job->efd < 0 ? -errno : 0;
	if (r == 0)
		r = sd_event_add_io(kv->event, &job->io, job->efd, EPOLLIN, on_build_done, kv);
	if (r < 0) {
		build_free(job);
		snprintf(err, errlen, "building the tree: %s", strerror(-r));
		return r;
	}
	job->pub = kv->pub;
	/* A file prepared for it (gen_spare_for_build()) is the build's now. */
	job->spare = kv->spare;
	kv->spare = NULL;
	job->pub.take_spare = build_take_spare;
	job->pub.spare_ctx = job;
	job->pub.cancel = &job->cancel;
	atomic_init(&job->cancel, false);
	job->rules = kv->cfg->rules;
	job->schema = &kv->cfg->schema;
	job->store = kv->store;
	job->prev = kv->retired;
	job->loading = kv->loading;
	kv->loading = NULL;
	job->st = *st;
	snprintf(job->error, sizeof(job->error), "%s", st->error ? st->error : "");
	snprintf(job->leader, sizeof(job->leader), "%s", st->leader ? st->leader : "");
	job->st.error = job->error;
	job->st.leader = st->leader ? job->leader : NULL;
	job->started = started;
	r = -pthread_create(&job->thread, NULL, build_main, job);
	if (r < 0) {
		kv->loading = job->loading;
		job->loading = NULL;
		build_free(job);
		snprintf(err, errlen, "building the tree: starting a thread: %s", strerror(-r));
		return r;
	}
	kv->build = job;
	log_debug("building generation %" PRIu64 " on a thread", kv->pub.generation + 1);
	return 0;
}

/* At exit: a build still running stops placing records; waits for it. */
void gen_build_stop(struct kvwatch *kv)
{
	struct build_job *job = kv->build;

	if (job == NULL)
		return;
	atomic_store(&job->cancel, true);
	pthread_join(job->thread, NULL);
	kv->build = NULL;
	if (job->result >= 0) {
		kv->pub.generation = job->pub.generation;
		snapshot_free(job->res.snap);
	}
	build_free(job);
}

static void do_publish(struct kvwatch *kv)
{
	struct snapshot_kv_state st = {
	    .connected = kv_is_connected(kv),
	    .held = kv->hold.active,
	    .resyncing = kv->resyncing,
	    .held_removals = kv->hold.active ? kv->hold.removals : 0,
	    .last_sync_ns = kv->last_sync_ns,
	    .error_since_ns = kv->error_since_ns,
	    .error = kv->error,
	    .leader = kv->url ? kv->url->redacted : NULL,
	};
	struct publish_result res = {0};
	char err[512] = "";
	/* The debounce counts from the start: a publish slower than it waits for nothing. */
	uint64_t started = now_usec(kv);
	int r;

	if (gen_check_damage(kv))
		return;
	r = -EAGAIN;
	if (kv->loading == NULL && kv->patchable)
		r = publish_patch(&kv->pub, kv->cfg->rules, &kv->cfg->schema, kv->store,
		                  kv->delta_prev, kv->delta_ids, &st, &res, err, sizeof(err));
	if (r == -EAGAIN) {
		/* A build: on its thread; publish_done() when it ends. */
		r = build_start(kv, &st, started, err, sizeof(err));
		if (r == 0)
			return;
	}
	publish_done(kv, r, &res, err, &st, started);
}

/* The end of a publish, on the loop: announce it, or back off after a failure. */
static void publish_done(struct kvwatch *kv, int r, struct publish_result *res, char *err,
                         const struct snapshot_kv_state *st, uint64_t started)
{
	struct snapshot *old;
	char status[600];

	spare_drop(kv); /* one the publish did not take: a build writes a file of its own */
	if (r < 0) {
		/* A full disk stays full for a while: back off, and say it once. */
		uint64_t delay =
		    kv->publish_retry_usec ? kv->publish_retry_usec * 2 : PUBLISH_RETRY_USEC;

		if (delay > PUBLISH_RETRY_MAX_USEC)
			delay = PUBLISH_RETRY_MAX_USEC;
		if (kv->publish_retry_usec == 0)
			log_errorx("publishing generation %" PRIu64 ": %s; retrying in %llu s, "
			           "backing off up to %llu s",
			           kv->pub.generation + 1, err, delay / USEC_PER_SEC,
			           PUBLISH_RETRY_MAX_USEC / USEC_PER_SEC);
		else if (delay == PUBLISH_RETRY_MAX_USEC)
			log_warnx("publishing generation %" PRIu64 ": still failing: %s; retrying "
			          "in %llu s",
			          kv->pub.generation + 1, err, delay / USEC_PER_SEC);
		else
			log_debug("publishing generation %" PRIu64 ": %s; retrying in %llu s",
			          kv->pub.generation + 1, err, delay / USEC_PER_SEC);
		kv->publish_retry_usec = delay;
		arm(kv->publish_timer, now_usec(kv) + delay);
		return;
	}
	if (kv->publish_retry_usec != 0)
		log_info("published again after a failure");
	kv->publish_retry_usec = 0;
	if (err[0] != '\0')
		log_warnx("%s", err);
	if (st->held)
		snprintf(status, sizeof(status),
		         "generation %" PRIu64 ": %" PRIu64
		         " files; holding back the removal of %" PRIu64
		         " files (SIGUSR1 applies it)",
		         res->generation, res->files, st->held_removals);
	else if (st->connected)
		snprintf(status, sizeof(status),
		         "generation %" PRIu64 ": %" PRIu64 " files from %s", res->generation,
		         res->files, leader_name(kv));
	else
		snprintf(status, sizeof(status),
		         "generation %" PRIu64 ": %" PRIu64 " files, disconnected: %s",
		         res->generation, res->files,
		         st->error != NULL && st->error[0] ? st->error : "no leader");
	publish_notify(&kv->pub, res->generation, status);
	log_info("published generation %" PRIu64 ": %" PRIu64 " files, %" PRIu64
	         " directories, %" PRIu64 " skipped, %" PRIu64 " hidden (%s; %s %.1f ms, "
	         "write %.1f ms, map %.1f ms)",
	         res->generation, res->files, res->directories, res->skipped, res->hidden,
	         st->connected ? "connected" : "disconnected", res->patched ? "patch" : "build",
	         res->build_ns / 1e6, res->write_ns / 1e6, res->map_ns / 1e6);
	sizes_report(&res->sizes, !res->patched, kv->cfg->files_volume, &kv->sizes_volume_logged);
	if (!res->patched)
		kv->pub.measure_all = false;

	kv->dirty = false;
	/* resyncing stays until a full load ends (fullload.c), live changes or not. */
	kv->last_publish_usec = started;
	kv->pub_savable = kv->last_sync_ns != 0;
	if (kv->pub_savable)
		save_schedule(kv);
	/* What this generation says, which may differ from now after a build. */
	kv->pub_connected = st->connected;
	kv->pub_held = st->held;
	kv->pub_held_removals = st->held_removals;
	snprintf(kv->pub_error, sizeof(kv->pub_error), "%s", st->error ? st->error : "");

	old = store_snapshot(kv->store);
	if (old == NULL && kv->retired != NULL)
		old = store_snapshot(kv->retired);
	if (kv->hooks != NULL && res->snap != NULL) {
		char **dirs = NULL;
		size_t n = 0;

		if (treediff_dirs(old, res->snap, HOOKS_DIRS_MAX, &dirs, &n) == 0) {
			hooks_changed(kv->hooks, res->generation, dirs, n);
			treediff_free(dirs, n);
		}
	}
	/* A damaged mapping read while publishing: the tree may be wrong, load again. */
	if (gen_check_damage(kv)) {
		snapshot_free(res->snap);
		return;
	}
	/* The next live changes patch this generation if the store maps it. */
	r = -1;
	if (res->snap != NULL) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", kv->cfg->runtime_dir, SNAP_FILE_NAME);
		if (chmod(path, 0444) < 0)
			log_debug("chmod 0444 \"%s\": %s", path, strerror(errno));
		r = store_rebind(kv->store, res->snap);
		if (r < 0)
			log_warnx("mapping records to generation %" PRIu64 ": %s", res->generation,
			          strerror(-r));
		else
			guard_set(snapshot_header(res->snap),
			          snapshot_header(res->snap)->total_size, path);
	}
	if (r < 0)
		guard_set(NULL, 0, NULL);
	live_delta_reset(kv, r == 0);
	store_free(kv->retired);
	kv->retired = NULL;
	malloc_trim(0);
	/* Live changes are flowing: the next one finds its file allocated. */
	if (res->patched)
		gen_spare_start(kv);
}

int gen_on_publish_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	if (gen_building(kv))
		return 0; /* on_build_done() schedules what came meanwhile */
	if (kv->dirty || gen_state_changed(kv))
		do_publish(kv);
	return 0;
}

/*
 * Publish at once when the last publish is older than the debounce time (one
 * change is seen fast), else when it has passed (a burst becomes one generation).
 */
void gen_schedule(struct kvwatch *kv)
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
