/*
 * kvwatch_int: what the parts of kvwatch's event loop share (not an API).
 *
 * struct kvwatch is the daemon's one state, owned by kvwatch_run() (kvwatch.c:
 * the loop, signals, set-up and reloads).  Its concerns live in a file each:
 * conn.c (the state machine's events, the connections, the leader), fullload.c
 * (the full load and the hold-back policy), live.c (pub/sub changes and their
 * fetch), generations.c (publishing, the prepared file, the saved copy).  All
 * run on the loop thread; the threads (full load, fetch, spare, saver) share
 * nothing with it but what they are handed.
 */
#ifndef MF_KVWATCH_KVWATCH_INT_H
#define MF_KVWATCH_KVWATCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "backoff.h"
#include "batch.h"
#include "hold.h"
#include "keys.h"
#include "fingerprint.h"
#include "loader.h"
#include "publish.h"
#include "redis_url.h"
#include "state.h"

struct build_job;
struct config;
struct fetch;
struct hooks;
struct leader_watch;
struct spare;
struct store;
struct subscriber;
struct warm_save;
struct snapshot_file;

#define USEC_PER_MS            1000ULL
#define USEC_PER_SEC           1000000ULL
#define RETRY_BASE_MS          250
#define RETRY_CAP_MS           10000
#define PUBLISH_RETRY_USEC     (2 * USEC_PER_SEC)
#define PUBLISH_RETRY_MAX_USEC (60 * USEC_PER_SEC)
#define MALFORMED_LOG_USEC     (10 * USEC_PER_SEC)
#define ERROR_MAX              512
#define SAVE_EVERY_USEC        (300 * USEC_PER_SEC) /* the copy in state_dir, at most */
#define SAVE_POLL_USEC         (1 * USEC_PER_SEC)
/*
 * Live changes waiting for a slow fetch, at most (136 bytes each): more, and they
 * are dropped for a full load, which finds whatever they changed.
 */
#define LIVE_QUEUE_MAX BATCH_CHANGES_MAX

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
	struct publish_loading *loading;   /* the tree, placed as the records came (first load) */
	char fingerprint[FINGERPRINT_MAX]; /* the server's, before the scan */
	char unless[FINGERPRINT_MAX];      /* a periodic resync: load only if it differs */
	struct propnames *names;           /* the property names seen, for runtime_dir */
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
	bool fetch_waits;           /* kv->fetch is done, its changes wait for the build */
	struct batch_change *queue; /* changes waiting for the fetch in flight */
	size_t queue_n;
	bool queue_overflow; /* LIVE_QUEUE_MAX passed (said once) until the queue drains */
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
	bool job_waits;        /* the load is done, its result waits for the build */
	struct store *touched; /* ids changed by pub/sub while the job runs */
	bool load_again;
	bool rules_pending; /* new rules wait for a load of the properties they need */
	sd_event_source *resync_timer;
	char fingerprint[FINGERPRINT_MAX]; /* the server's at the last load, "" unknown */
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
	struct build_job *build; /* a full build on its thread (generations.c) */
	bool reload_pending;     /* a SIGHUP waits for the build */
	bool dirty;
	sd_event_source *publish_timer;
	uint64_t last_publish_usec;
	uint64_t publish_retry_usec; /* the last retry delay after a failed publish, 0: none */
	bool pub_connected;
	bool pub_held;
	uint64_t pub_held_removals;
	char pub_error[ERROR_MAX];
	int sizes_volume_logged; /* -errno of files_volume said last (sizes_report()) */

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
	bool save_failing; /* the last copy failed: said once, tried again a period later */
	bool pub_savable;  /* the last generation published holds loaded data */
	bool resyncing;    /* the published tree is the saved one, no load ended since */

	uint64_t messages;
	uint64_t malformed;
	uint64_t malformed_logged_usec;
};

static inline int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t now_usec(struct kvwatch *kv)
{
	uint64_t now;

	sd_event_now(kv->event, CLOCK_MONOTONIC, &now);
	return now;
}

static inline void arm(sd_event_source *s, uint64_t usec)
{
	sd_event_source_set_time(s, usec);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static inline void disarm(sd_event_source *s)
{
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static inline const char *leader_name(const struct kvwatch *kv)
{
	return kv->url ? kv->url->redacted : "redis";
}

static inline bool kv_is_connected(const struct kvwatch *kv)
{
	return kv_state_is_connected(kv->state);
}

/* conn.c: the state machine's events, the connections, the leader, the source. */
void __attribute__((format(printf, 2, 3))) kv_fail(struct kvwatch *kv, const char *fmt, ...);
void kv_event(struct kvwatch *kv, enum kv_event ev);
void kv_set_error(struct kvwatch *kv, const char *text);
void conn_disconnect(struct kvwatch *kv);
int conn_on_fail(sd_event_source *s, void *userdata);
void conn_connect(struct kvwatch *kv);
int conn_on_retry(sd_event_source *s, uint64_t usec, void *userdata);
int conn_setup(struct kvwatch *kv);
void conn_drop(struct kvwatch *kv);
void conn_start(struct kvwatch *kv);

/* kvwatch.c: SIGHUP's reload (kept for after a build). */
void kv_reload(struct kvwatch *kv);

/*
 * generations.c: the next generation, the prepared file, the copy in state_dir.
 * While gen_building(), the record set, the configuration and the publisher
 * are the build thread's to read: nothing may change them.
 */
bool gen_building(const struct kvwatch *kv);
/* At exit: cancel a build and wait for it. */
void gen_build_stop(struct kvwatch *kv);
bool gen_state_changed(const struct kvwatch *kv);
void gen_spare_start(struct kvwatch *kv);
void gen_spare_for_build(struct kvwatch *kv);
struct snapshot_file *gen_spare_take(void *ctx);
int gen_on_spare_timer(sd_event_source *s, uint64_t usec, void *userdata);
void gen_drop_loading(struct kvwatch *kv);
int gen_on_save_timer(sd_event_source *s, uint64_t usec, void *userdata);
void gen_save_final(struct kvwatch *kv);
int gen_on_publish_timer(sd_event_source *s, uint64_t usec, void *userdata);
void gen_schedule(struct kvwatch *kv);
bool gen_check_damage(struct kvwatch *kv);

/* live.c: pub/sub batches, their fetch off the loop, the delta a patch needs. */
void live_delta_reset(struct kvwatch *kv, bool patchable);
void live_drop(struct kvwatch *kv);
void live_on_message(void *userdata, const char *payload, size_t len);
/* A fetch that ended during a build is carried out now. */
void live_after_build(struct kvwatch *kv);

/* fullload.c: the full load on its thread, its result, the hold-back policy. */
void fullload_cancel(struct kvwatch *kv);
void fullload_job_free(struct load_job *job);
/* At exit: cancel the load and wait for its thread. */
void fullload_stop(struct kvwatch *kv);
void fullload_start(struct kvwatch *kv);
int fullload_on_resync(sd_event_source *s, uint64_t usec, void *userdata);
int fullload_on_hold_timer(sd_event_source *s, uint64_t usec, void *userdata);
/* A load that ended during a build is taken now. */
void fullload_after_build(struct kvwatch *kv);

#endif
