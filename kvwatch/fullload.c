/*
 * fullload: the full load, on a thread with a connection of its own, handing
 * back a fresh record set through an eventfd.  Live changes that came meanwhile
 * are copied over it (they are newer); then it is compared with the live set:
 * nothing changed, nothing is published; a removal of more than
 * kv.hold_threshold_percent of the files is held back (hold.h) until it
 * persists or the operator confirms it; otherwise it becomes the live set.
 * Loads run at start, after every connection, on SIGUSR1, at the end of a hold
 * and every kv.refresh_interval_ms after the previous one ended.
 */
#include "kvwatch_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "backoff.h"
#include "config.h"
#include "hold.h"
#include "loader.h"
#include "propnames.h"
#include "log.h"
#include "publish.h"
#include "redis_url.h"
#include "state.h"
#include "store.h"

void fullload_cancel(struct kvwatch *kv)
{
	if (kv->job != NULL)
		atomic_store(&kv->job->cancel, true);
	store_free(kv->touched);
	kv->touched = NULL;
}

/*
 * The property names the load saw, into runtime_dir for apid (propnames.h):
 * written when they changed.  Names first written after this load are not in
 * it until the next load; docs/kvwatch.md says what that means for apid.
 */
static void publish_names(const struct load_job *job)
{
	int r = propnames_write(job->names, job->cfg->runtime_dir);

	if (r < 0)
		log_warnx("writing %s/%s: %s, ignoring", job->cfg->runtime_dir, PROPNAMES_FILE,
		          strerror(-r));
	else if (r > 0)
		log_info("%zu property names%s written to %s/%s", propnames_count(job->names),
		         propnames_is_complete(job->names) ? "" : " (partial)",
		         job->cfg->runtime_dir, PROPNAMES_FILE);
}

static void *job_main(void *arg)
{
	struct load_job *job = arg;
	uint64_t one = 1;

	job->result =
	    loader_run(&job->params, &job->store, &job->stats, job->err, sizeof(job->err));
	if (job->result == 0 && job->names != NULL)
		publish_names(job);
	if (write(job->efd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write of 1 cannot fail */
	return NULL;
}

void fullload_job_free(struct load_job *job)
{
	if (job == NULL)
		return;
	store_free(job->store);
	propnames_free(job->names);
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
	gen_drop_loading(kv);
	live_delta_reset(kv, false);
}

/*
 * loading: the tree the job placed while loading fresh, if it did (a first load);
 * taken when fresh becomes the record set unchanged.
 */
/*
 * The next periodic resync: kv.refresh_interval_ms after this load, or later
 * when the loads cost more than kv.resync_cpu_percent of the time (a load keeps
 * redis-server busy about as long as it takes).  load_ns: 0 for a check that
 * found nothing changed.
 */
static void arm_resync(struct kvwatch *kv, int64_t load_ns)
{
	uint64_t delay = (uint64_t)kv->cfg->kv.refresh_interval_ms * USEC_PER_MS;
	uint64_t gap =
	    (uint64_t)(load_ns > 0 ? load_ns : 0) / 1000 * 100 / kv->cfg->kv.resync_cpu_percent;

	if (kv->cfg->kv.refresh_interval_ms == 0)
		return;
	if (gap > delay) {
		log_debug("next resync in %.3f s (the load took %.4f s)", gap / 1e6, load_ns / 1e9);
		delay = gap;
	}
	arm(kv->resync_timer, now_usec(kv) + delay);
}

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
	if (kv->dirty || gen_state_changed(kv))
		gen_schedule(kv);
	arm_resync(kv, ls->elapsed_ns);
}

static void start(struct kvwatch *kv, bool check);

static int on_job_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kvwatch *kv = userdata;
	struct load_job *job = kv->job;
	bool cancelled;

	if (gen_building(kv)) {
		/* The build reads the store this would replace: fullload_after_build(). */
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
		kv->job_waits = true;
		return 0;
	}
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
	if (cancelled) {
		log_debug("full load cancelled");
	} else if (job->result == -EALREADY) {
		/* The fingerprint says no write came since the last load. */
		log_debug("resync: no write since the last load, nothing to load");
		kv_event(kv, KV_EV_APPLIED);
		backoff_reset(&kv->backoff);
		arm_resync(kv, 0);
	} else if (job->result < 0)
		kv_fail(kv, "full load: %s", job->err);
	else {
		memcpy(kv->fingerprint, job->fingerprint, sizeof(kv->fingerprint));
		apply_load(kv, job->store, &job->stats, &job->loading);
		job->store = NULL;
	}
	fullload_job_free(job);
	if (kv->load_again && kv_is_connected(kv) && !kv->fail_pending)
		start(kv, false);
	return 0;
}

/* check: a periodic resync, that loads only when the fingerprint changed. */
static void start(struct kvwatch *kv, bool check)
{
	struct load_job *job;
	char err[256];
	int r;

	if (!kv_is_connected(kv) || kv->url == NULL)
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
		fullload_job_free(job);
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
	    .fingerprint = job->fingerprint,
	};
	if (propnames_new(&job->names) == 0)
		job->params.names = job->names;
	if (check && kv->fingerprint[0] != '\0') {
		memcpy(job->unless, kv->fingerprint, sizeof(job->unless));
		job->params.unless_fingerprint = job->unless;
	}
	/*
	 * The first load of a process that has no tree yet will be published as it
	 * is: its records are placed while redis-server is still sending the next.
	 */
	if (store_count(kv->store) == 0 && !kv->pub.ready &&
	    publish_loading_new(kv->cfg->rules, &kv->cfg->schema, kv->pub.measure_volume,
	                        &job->loading) == 0) {
		job->params.on_record = publish_loading_record;
		job->params.on_record_ctx = job->loading;
	}
	atomic_init(&job->cancel, false);
	r = pthread_create(&job->thread, NULL, job_main, job);
	if (r != 0) {
		kv->job_io = sd_event_source_disable_unref(kv->job_io);
		fullload_job_free(job);
		kv_fail(kv, "full load: starting a thread: %s", strerror(r));
		return;
	}
	kv->job = job;
	kv_event(kv, KV_EV_LOAD);
	log_debug("full load from %s started", leader_name(kv));
}

void fullload_start(struct kvwatch *kv)
{
	start(kv, false);
}

int fullload_on_resync(sd_event_source *s, uint64_t usec, void *userdata)
{
	start(userdata, true);
	return 0;
}

int fullload_on_hold_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kvwatch *kv = userdata;

	log_info("held change: hold time over, checking it once more");
	fullload_start(kv);
	return 0;
}

void fullload_after_build(struct kvwatch *kv)
{
	if (!kv->job_waits)
		return;
	kv->job_waits = false;
	if (kv->job_io != NULL)
		sd_event_source_set_enabled(kv->job_io, SD_EVENT_ON); /* its eventfd is still set */
}

void fullload_stop(struct kvwatch *kv)
{
	if (kv->job == NULL)
		return;
	atomic_store(&kv->job->cancel, true);
	pthread_join(kv->job->thread, NULL);
	kv->job_io = sd_event_source_disable_unref(kv->job_io);
	fullload_job_free(kv->job);
	kv->job = NULL;
}
