/*
 * publish: turn the record set into the next generation of vfs.snapshot and
 * announce it.
 *
 * publish_tree() places every record with the rules (tree_build), or
 * publish_patch() patches the previous tree with the records that changed
 * (tree_patch, for live updates), writes the
 * snapshot through the VFS core writer (a temporary file renamed over
 * vfs.snapshot, so readers see the old file or the new one) with the KV state
 * stamped in, and maps the new file back for the caller, who rebinds the store
 * to it.  publish_notify() then tells the supervisor over sd_notify:
 *   READY=1                  with the first snapshot of this process
 *   STATUS=<one line>        every time
 *   GENERATION=<n>           every time (read by the supervisor to signal readers)
 * Without NOTIFY_SOCKET sd_notify is a no-op and readers notice the new file
 * themselves.
 */
#ifndef MF_KVWATCH_PUBLISH_H
#define MF_KVWATCH_PUBLISH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "sizes.h"
#include "snapshot_writer.h"

struct rules;
struct snapshot;
struct store;

struct publisher {
	const char *runtime_dir; /* borrowed */
	uint64_t generation;     /* the last one published (or found at start) */
	bool ready;              /* READY=1 sent */
	bool no_map;             /* --once: nobody maps the new file back (res.snap NULL) */
	/* The file prepared for the next patch (snapshot_prepare()), or NULL; called
	 * when the patch needs it, which then owns what it returns. */
	struct snapshot_file *(*take_spare)(void *ctx);
	void *spare_ctx;
	/* Set: publish_tree() stops placing records and returns -ECANCELED. */
	const atomic_bool *cancel;
	/* Sizes are measured beneath this directory (sizes.h); NULL: the KV store's. */
	const char *measure_volume; /* borrowed */
	/* publish_tree() measures every file, even those the published tree holds. */
	bool measure_all;
	/* The readers' shared copy, made of each file before it is published
	 * (snapshot_share.h); NULL: none (--once, or the socket could not be made). */
	struct snapshot_share *share;
	char share_error[256]; /* the last failure logged, not logged again in a row */
};

struct publish_result {
	uint64_t generation;
	uint64_t files;
	uint64_t directories;
	uint64_t skipped;
	uint64_t hidden;
	int64_t build_ns;       /* records + tree_build or tree_patch (publish_loading():
	                          the passes left after the load) */
	bool patched;           /* by tree_patch */
	int64_t write_ns;       /* snapshot_write, up to the rename */
	int64_t map_ns;         /* mapping the new file back (validation included) */
	struct snapshot *snap;  /* the new generation, mapped; the caller owns it */
	struct sizes_run sizes; /* what measuring the sizes found (ended) */
};

/*
 * Read the generation of an existing runtime_dir/vfs.snapshot so numbering goes
 * on after a restart.  Returns 0 and the mapped snapshot (caller owns it), or
 * -errno with the reason in err (-ENOENT: none).
 */
int publish_open_previous(struct publisher *p, struct snapshot **ret, char *err, size_t errlen);

/*
 * prev (may be NULL): the record set the published tree was made of, when a
 * load replaced it by store; the files of its records that store has unchanged
 * keep the size that tree gives them (sizes.h).  Neither changes meanwhile.
 */
int publish_tree(struct publisher *p, const struct rules *rules, const struct schema *schema,
                 struct store *store, struct store *prev, const struct snapshot_kv_state *kv,
                 struct publish_result *res, char *err, size_t errlen);

/*
 * publish_tree() for a live update: the tree is patched from the snapshot the
 * store maps (which must be the last one published from it) with the records
 * whose ids are in changed; prev holds their values as that snapshot had them
 * (an id of changed absent from prev was not in the set, absent from store is
 * gone).  Returns -EAGAIN, with nothing published, when there is no snapshot to
 * patch or tree_patch() declines: call publish_tree().
 */
int publish_patch(struct publisher *p, const struct rules *rules, const struct schema *schema,
                  struct store *store, struct store *prev, struct store *changed,
                  const struct snapshot_kv_state *kv, struct publish_result *res, char *err,
                  size_t errlen);

/*
 * The tree of a full load, placed while it loads: publish_loading_new() makes
 * the builder, the loader calls publish_loading_record() (loader_params.on_record)
 * for every record it stores, and publish_loading() publishes the tree once the
 * load is done, for the same result as publish_tree() on the loaded store with
 * only the last passes of the build left after the load.  publish_loading_free()
 * drops a tree whose records are not what is published after all.
 */
struct publish_loading;
/* measure_volume: as in struct publisher (the placing runs before any publish). */
int publish_loading_new(const struct rules *rules, const struct schema *schema,
                        const char *measure_volume, struct publish_loading **ret);
int publish_loading_record(void *ctx, const char *id, size_t id_len, const struct strview *values);
/* Frees l. */
int publish_loading(struct publisher *p, struct publish_loading *l,
                    const struct snapshot_kv_state *kv, struct publish_result *res, char *err,
                    size_t errlen);
void publish_loading_free(struct publish_loading *l);

/* sd_notify READY=1 (first time), STATUS=status and GENERATION=n. */
void publish_notify(struct publisher *p, uint64_t generation, const char *status);

/*
 * Make the readers' shared copy of fd's first size bytes (data: the same bytes
 * mapped, or NULL), the file about to be renamed into place (the writer's before_rename; warm.c calls it too).  A
 * failure is logged once and costs only memory: readers load the file instead.
 */
void publish_share(void *publisher, int fd, const void *data, uint64_t size);
/*
 * The same made on a thread while the caller goes on (the warm start: the saved
 * tree is published at once, and a reader asking meanwhile waits for its copy).
 */
void publish_share_async(struct publisher *p, int fd, uint64_t size);

#endif
