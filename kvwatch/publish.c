/*
 * publish: build, write and announce a generation (see publish.h).
 */
#include "publish.h"
#include "errbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"
#include "snapshot.h"
#include "snapshot_share.h"
#include "store.h"
#include "tree.h"

static int64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int publish_open_previous(struct publisher *p, struct snapshot **ret, char *err, size_t errlen)
{
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/%s", p->runtime_dir, SNAP_FILE_NAME);
	r = snapshot_open(path, ret, err, errlen);
	if (r < 0)
		return r;
	p->generation = snapshot_generation(*ret);
	return 0;
}

/* Write b as the next generation and map it back; frees b.  t0: when the build began. */
static int publish_build(struct publisher *p, struct snapshot_build *b,
                         const struct snapshot_kv_state *kv, int64_t t0, struct publish_result *res,
                         char *err, size_t errlen)
{
	char path[4096], why[256];
	int64_t t1 = clock_ns(CLOCK_MONOTONIC), t2;
	uint64_t gen = p->generation + 1;
	int r;

	b->before_rename = publish_share;
	b->before_rename_ctx = p;
	r = snapshot_write(b, kv, gen, clock_ns(CLOCK_REALTIME), p->runtime_dir, SNAP_FILE_NAME);
	res->files = b->files;
	res->directories = b->directories;
	res->skipped = b->skipped;
	res->hidden = b->hidden;
	snapshot_build_free(b);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "writing %s/%s: %s", p->runtime_dir, SNAP_FILE_NAME,
		           strerror(-r));
		return r;
	}
	p->generation = gen;
	res->generation = gen;
	res->build_ns = t1 - t0;
	t2 = clock_ns(CLOCK_MONOTONIC);
	res->write_ns = t2 - t1;
	if (p->no_map) {
		res->snap = NULL;
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", p->runtime_dir, SNAP_FILE_NAME);
	r = snapshot_open(path, &res->snap, why, sizeof(why));
	if (r < 0) {
		/* Published all the same; only the store's memory saving is lost. */
		res->snap = NULL;
		errbuf_set(err, errlen, 0, "mapping the new snapshot back: %s", why);
	}
	res->map_ns = clock_ns(CLOCK_MONOTONIC) - t2;
	return 0;
}

/* The store's records for tree_build_next(), until p->cancel is set. */
struct records_iter {
	struct store_iter it;
	const atomic_bool *cancel;
	bool cancelled;
};

static const struct record *next_record(void *ctx)
{
	struct records_iter *ri = ctx;

	if (ri->cancel != NULL && atomic_load_explicit(ri->cancel, memory_order_relaxed)) {
		ri->cancelled = true;
		return NULL;
	}
	return store_iter_next(&ri->it);
}

static int nodes_in_file(void *ctx, uint32_t count, struct snap_node **nodes,
                         struct snapshot_file **file);

int publish_tree(struct publisher *p, const struct rules *rules, const struct schema *schema,
                 struct store *store, struct store *prev, const struct snapshot_kv_state *kv,
                 struct publish_result *res, char *err, size_t errlen)
{
	struct snapshot_build *b = NULL;
	struct records_iter ri = {.cancel = p->cancel};
	struct tree_builder *tb = NULL;
	const struct record *rec;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int r;

	memset(res, 0, sizeof(*res));
	/* One record at a time: no array of every record's values beside the store. */
	r = store_iter_init(store, &ri.it);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "collecting records: %s", strerror(-r));
		return r;
	}
	r = sizes_run_begin(&res->sizes, p->measure_volume);
	if (r == 0)
		r = tree_builder_new(rules, schema, &tb);
	if (r == 0) {
		/* What the published tree holds unchanged was measured for it. */
		if (!p->measure_all) {
			res->sizes.iter = &ri.it;
			res->sizes.prev =
			    prev != NULL && store_snapshot(prev) != NULL ? prev : NULL;
		}
		tree_builder_set_sizes(tb, sizes_run_tree(&res->sizes));
	}
	while (r == 0 && (rec = next_record(&ri)) != NULL)
		r = tree_builder_add(tb, rec);
	sizes_run_end(&res->sizes);
	store_iter_free(&ri.it);
	if (r == 0 && ri.cancelled)
		r = -ECANCELED;
	/* The nodes go straight into the new file, as a load's build does. */
	if (r == 0)
		r = tree_builder_finish_into(tb, nodes_in_file, p, &b);
	else
		tree_builder_free(tb);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "building the tree: %s", strerror(-r));
		return r;
	}
	return publish_build(p, b, kv, t0, res, err, errlen);
}

struct lookup_ctx {
	struct store *store;
	struct strview *vals;
	struct record rec;
};

static const struct record *lookup_record(void *ctx, const char *id, size_t len)
{
	struct lookup_ctx *l = ctx;

	if (!store_get(l->store, id, len, l->vals))
		return NULL;
	l->rec.hash_id = (struct strview){id, (uint32_t)len};
	l->rec.values = l->vals;
	record_derive(&l->rec);
	return &l->rec;
}

/* One side of a change: the record id in s, derived into rec, or NULL. */
static const struct record *get_record(struct store *s, struct strview id, struct record *rec,
                                       struct strview *vals)
{
	if (s == NULL || !store_get(s, id.ptr, id.len, vals))
		return NULL;
	rec->hash_id = id;
	rec->values = vals;
	record_derive(rec);
	return rec;
}

/* A patch or a build writes its nodes straight into the next generation's file. */
static int nodes_in_file(void *ctx, uint32_t count, struct snap_node **nodes,
                         struct snapshot_file **file)
{
	struct publisher *p = ctx;
	struct snapshot_file *f = p->take_spare ? p->take_spare(p->spare_ctx) : NULL;

	if (f != NULL && snapshot_begin_in(f, count, nodes) == 0) {
		*file = f;
		return 0;
	}
	snapshot_file_free(f);
	return snapshot_begin(p->runtime_dir, SNAP_FILE_NAME, count, file, nodes);
}

int publish_patch(struct publisher *p, const struct rules *rules, const struct schema *schema,
                  struct store *store, struct store *prev, struct store *changed,
                  const struct snapshot_kv_state *kv, struct publish_result *res, char *err,
                  size_t errlen)
{
	struct snapshot *old = store_snapshot(store);
	size_t n = changed != NULL ? store_count(changed) : 0, i = 0;
	uint32_t np = store_nprops(store);
	struct tree_change *changes = NULL;
	struct record *recs = NULL;
	struct strview *vals = NULL, id;
	struct lookup_ctx l = {.store = store};
	struct snapshot_build *b = NULL;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	uint64_t it = 0;
	int r = -ENOMEM;

	memset(res, 0, sizeof(*res));
	if (old == NULL || n > TREE_PATCH_MAX)
		return -EAGAIN;
	if (sizes_run_begin(&res->sizes, p->measure_volume) < 0)
		goto out;
	changes = calloc(n + 1, sizeof(*changes));
	recs = calloc(2 * n + 1, sizeof(*recs));
	vals = calloc((2 * n + 1) * np + 1, sizeof(*vals));
	if (changes == NULL || recs == NULL || vals == NULL)
		goto out;
	l.vals = &vals[2 * n * np];
	while (i < n && store_next(changed, &it, &id, NULL)) {
		changes[i].old = get_record(prev, id, &recs[2 * i], &vals[2 * i * np]);
		changes[i].new = get_record(store, id, &recs[2 * i + 1], &vals[(2 * i + 1) * np]);
		i++;
	}
	r = tree_patch_into(old, rules, schema, changes, i, lookup_record, &l, nodes_in_file, p,
	                    sizes_run_tree(&res->sizes), &b);
out:
	sizes_run_end(&res->sizes);
	free(changes);
	free(recs);
	free(vals);
	if (r == -EAGAIN)
		return r;
	if (r < 0) {
		errbuf_set(err, errlen, 0, "patching the tree: %s", strerror(-r));
		return r;
	}
	res->patched = true;
	return publish_build(p, b, kv, t0, res, err, errlen);
}

struct publish_loading {
	struct tree_builder *builder;
	uint32_t nprops;
	struct strview *vals;   /* one record's values, derived in place */
	struct sizes_run sizes; /* the sizes, measured as the records come */
};

int publish_loading_new(const struct rules *rules, const struct schema *schema,
                        const char *measure_volume, struct publish_loading **ret)
{
	struct publish_loading *l = calloc(1, sizeof(*l));
	int r;

	if (l == NULL)
		return -ENOMEM;
	l->nprops = schema->count;
	l->vals = calloc(schema->count ? schema->count : 1, sizeof(*l->vals));
	r = l->vals == NULL ? -ENOMEM : sizes_run_begin(&l->sizes, measure_volume);
	if (r == 0)
		r = tree_builder_new(rules, schema, &l->builder);
	if (r < 0) {
		publish_loading_free(l);
		return r;
	}
	tree_builder_set_sizes(l->builder, sizes_run_tree(&l->sizes));
	*ret = l;
	return 0;
}

int publish_loading_record(void *ctx, const char *id, size_t id_len, const struct strview *values)
{
	struct publish_loading *l = ctx;
	struct record rec = {.hash_id = {id, (uint32_t)id_len}, .values = l->vals};

	memcpy(l->vals, values, l->nprops * sizeof(*l->vals));
	record_derive(&rec);
	return tree_builder_add(l->builder, &rec);
}

int publish_loading(struct publisher *p, struct publish_loading *l,
                    const struct snapshot_kv_state *kv, struct publish_result *res, char *err,
                    size_t errlen)
{
	struct snapshot_build *b = NULL;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	int r;

	memset(res, 0, sizeof(*res));
	r = tree_builder_finish_into(l->builder, nodes_in_file, p, &b);
	l->builder = NULL;
	sizes_run_end(&l->sizes);
	res->sizes = l->sizes;
	publish_loading_free(l);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "building the tree: %s", strerror(-r));
		return r;
	}
	return publish_build(p, b, kv, t0, res, err, errlen);
}

void publish_loading_free(struct publish_loading *l)
{
	if (l == NULL)
		return;
	tree_builder_free(l->builder);
	sizes_run_end(&l->sizes);
	free(l->vals);
	free(l);
}

void publish_notify(struct publisher *p, uint64_t generation, const char *status)
{
	sd_notifyf(0, "%sSTATUS=%s\nGENERATION=%" PRIu64, p->ready ? "" : "READY=1\n", status,
	           generation);
	p->ready = true;
}

void publish_share(void *publisher, int fd, const void *data, uint64_t size)
{
	struct publisher *p = publisher;
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	char why[256];
	int r;

	if (p->share == NULL)
		return;
	r = snapshot_share_set(p->share, fd, data, size, why, sizeof(why));
	if (r >= 0) {
		log_debug("the readers' shared copy: %" PRIu64 " bytes in %.1f ms (%s)", size,
		          (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6,
		          r > 0 ? "into the spare" : "into a new memfd");
		if (p->share_error[0] != '\0')
			log_info("the readers' shared copy of the snapshot is made again");
		p->share_error[0] = '\0';
		return;
	}
	if (strcmp(why, p->share_error) != 0)
		log_warnx("the readers' shared copy of the snapshot: %s (they load the file "
		          "instead)",
		          why);
	snprintf(p->share_error, sizeof(p->share_error), "%s", why);
}

/* The end of the warm start's copy, on its thread. */
static void share_made(void *ctx, int r, const char *why, int64_t ns)
{
	if (r < 0)
		log_warnx("the readers' shared copy of the saved tree: %s (they load the file "
		          "instead)",
		          why);
	else
		log_debug("the readers' shared copy of the saved tree: made in %.1f ms on its "
		          "own thread",
		          (double)ns / 1e6);
}

void publish_share_async(struct publisher *p, int fd, uint64_t size)
{
	char why[256];

	if (p->share != NULL &&
	    snapshot_share_set_async(p->share, fd, size, share_made, NULL, why, sizeof(why)) < 0)
		log_warnx("the readers' shared copy of the saved tree: %s (they load the file "
		          "instead)",
		          why);
}
