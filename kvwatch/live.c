/*
 * live: meta-sort's pub/sub batches.  A batch is parsed strictly (batch.h) and
 * queued; its files' properties are fetched on a thread (fetch.h), so the loop
 * never waits for Redis, and carried out on the store in message order when
 * they are in.  The values a change replaces are noted for the patch of the
 * next generation (the delta).
 */
#include "kvwatch_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "batch.h"
#include "config.h"
#include "fetch.h"
#include "log.h"
#include "sizes.h"
#include "snapshot.h"
#include "store.h"
#include "tree.h"
#include "updates.h"

void live_delta_reset(struct kvwatch *kv, bool patchable)
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
		live_delta_reset(kv, false);
		return;
	}
	vals = calloc(np ? np : 1, sizeof(*vals));
	if (vals == NULL) {
		live_delta_reset(kv, false);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct batch_change *ch = &changes[i];

		if (store_contains(kv->delta_ids, ch->id, ch->id_len))
			continue; /* the first old value is the one the snapshot has */
		if (store_count(kv->delta_ids) >= TREE_PATCH_MAX) {
			live_delta_reset(kv, false); /* a full build is as fast */
			break;
		}
		memset(vals, 0, np * sizeof(*vals));
		if (store_put(kv->delta_ids, ch->id, ch->id_len, vals) < 0 ||
		    (store_get(kv->store, ch->id, ch->id_len, vals) &&
		     store_put(kv->delta_prev, ch->id, ch->id_len, vals) < 0)) {
			live_delta_reset(kv, false);
			break;
		}
	}
	free(vals);
}

void live_drop(struct kvwatch *kv)
{
	kv->fetch_waits = false;
	if (kv->fetch != NULL) {
		fetch_free(kv->orphan); /* waits only if an older one still runs */
		kv->orphan = kv->fetch;
		fetch_abandon(kv->fetch);
		kv->fetch = NULL;
	}
	free(kv->queue);
	kv->queue = NULL;
	kv->queue_n = 0;
	kv->queue_overflow = false;
}

/* The changes' values are in (on the loop thread): carry them out. */
static void fetch_next(struct kvwatch *kv);

/*
 * A file announced again whose record did not change may have changed on disk
 * (replaced, announced with the same size claim): are there files among the
 * first SIZES_RECHECK_MAX of changes whose source now has another size than
 * the published tree shows?  They are in the delta already (delta_note()), so
 * the patch places them again and measures them.  A few stats on the loop.
 */
#define SIZES_RECHECK_MAX 64
static bool sources_moved(struct kvwatch *kv, const struct batch_change *changes, size_t n)
{
	struct snapshot *snap = store_snapshot(kv->store);
	struct sizes_run run;
	size_t moved = 0;

	if (!kv->patchable || snap == NULL || kv->pub.measure_volume == NULL ||
	    sizes_run_begin(&run, kv->pub.measure_volume) < 0)
		return false;
	for (size_t i = 0; i < n && i < SIZES_RECHECK_MAX && run.src != NULL; i++) {
		const struct snap_node *node;
		struct strview claim;

		if (changes[i].action == BATCH_REMOVE)
			continue;
		node = store_mapped(kv->store, changes[i].id, changes[i].id_len, &claim);
		if (node != NULL && sizes_moved(&run, snap, node))
			moved++;
	}
	sizes_run_end(&run);
	if (moved > 0)
		log_debug("batch: %zu files announced unchanged have another size on disk; "
		          "placing them again",
		          moved);
	return moved > 0;
}

/* The changes' values are in (on the loop thread): carry them out. */
static void on_fetched(void *userdata, struct fetch *f)
{
	struct kvwatch *kv = userdata;
	const struct batch_change *changes;
	struct update_stats st = {0};
	struct store *fetched;
	bool moved;
	const char *err;
	size_t n;
	int r;

	if (gen_building(kv)) {
		kv->fetch_waits = true; /* the build reads the store: live_after_build() */
		return;
	}
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
		fullload_start(kv);
		fetch_next(kv);
		return;
	}
	delta_note(kv, changes, n);
	gen_drop_loading(kv); /* the store is about to differ from what was loaded */
	r = updates_merge(kv->store, kv->job != NULL ? kv->touched : NULL, fetched, changes, n,
	                  &st);
	moved = r >= 0 && st.changed == 0 && sources_moved(kv, changes, n); /* changes are f's */
	fetch_free(f);
	if (r < 0) {
		kv_fail(kv, "applying changed files: %s", strerror(-r));
		return;
	}
	log_debug("batch: %" PRIu64 " fetched, %" PRIu64 " removed, %" PRIu64 " vanished, %" PRIu64
	          " records changed",
	          st.fetched, st.removed, st.load.vanished, st.changed);
	if (st.changed > 0 || moved) {
		kv->dirty = true;
		gen_schedule(kv);
	}
	fetch_next(kv);
}

void live_after_build(struct kvwatch *kv)
{
	if (!kv->fetch_waits)
		return;
	kv->fetch_waits = false;
	on_fetched(kv, kv->fetch);
}

/* Hand the waiting changes to a fetch, unless one is in flight. */
static void fetch_next(struct kvwatch *kv)
{
	int r;

	if (kv->queue_n == 0 && kv->fetch == NULL)
		kv->queue_overflow = false; /* caught up */
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

void live_on_message(void *userdata, const char *payload, size_t len)
{
	struct kvwatch *kv = userdata;
	struct batch_change *changes = NULL, *q;
	char err[256];
	size_t n = 0;
	int r;

	kv->messages++;
	if (!kv_is_connected(kv) || kv->fail_pending)
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
	/*
	 * Redis answers the fetch slower than changes come: rather than queue without
	 * bound, drop them all and load everything, which finds what they changed.
	 */
	if (kv->queue_n + n > LIVE_QUEUE_MAX) {
		if (!kv->queue_overflow)
			log_warnx("live changes: more than %u waiting for %s to answer; dropping "
			          "them and loading everything again",
			          LIVE_QUEUE_MAX, leader_name(kv));
		kv->queue_overflow = true;
		free(kv->queue);
		kv->queue = NULL;
		kv->queue_n = 0;
		free(changes);
		fullload_start(kv);
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
	gen_spare_start(kv); /* while the changes are fetched and the tree patched */
	fetch_next(kv);
}
