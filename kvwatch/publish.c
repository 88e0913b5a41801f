/*
 * publish: build, write and announce a generation (see publish.h).
 */
#include "publish.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "snapshot.h"
#include "store.h"
#include "tree.h"

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

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

int publish_tree(struct publisher *p, const struct rules *rules, const struct schema *schema,
                 struct store *store, const struct snapshot_kv_state *kv,
                 struct publish_result *res, char *err, size_t errlen)
{
	struct snapshot_build *b = NULL;
	struct store_records recs;
	char path[4096], why[256];
	int64_t t0 = clock_ns(CLOCK_MONOTONIC), t1;
	uint64_t gen = p->generation + 1;
	int r;

	memset(res, 0, sizeof(*res));
	r = store_records(store, &recs);
	if (r < 0) {
		say(err, errlen, "collecting records: %s", strerror(-r));
		return r;
	}
	r = tree_build(rules, schema, recs.ptrs, recs.count, &b);
	if (r < 0) {
		store_records_free(&recs);
		say(err, errlen, "building the tree: %s", strerror(-r));
		return r;
	}
	t1 = clock_ns(CLOCK_MONOTONIC);
	r = snapshot_write(b, kv, gen, clock_ns(CLOCK_REALTIME), p->runtime_dir, SNAP_FILE_NAME);
	res->files = b->files;
	res->directories = b->directories;
	res->skipped = b->skipped;
	res->hidden = b->hidden;
	/* The strings of the records are only needed until the write is done. */
	snapshot_build_free(b);
	store_records_free(&recs);
	if (r < 0) {
		say(err, errlen, "writing %s/%s: %s", p->runtime_dir, SNAP_FILE_NAME, strerror(-r));
		return r;
	}
	p->generation = gen;
	res->generation = gen;
	res->build_ns = t1 - t0;
	snprintf(path, sizeof(path), "%s/%s", p->runtime_dir, SNAP_FILE_NAME);
	r = snapshot_open(path, &res->snap, why, sizeof(why));
	if (r < 0) {
		/* Published all the same; only the store's memory saving is lost. */
		res->snap = NULL;
		say(err, errlen, "mapping the new snapshot back: %s", why);
	}
	res->write_ns = clock_ns(CLOCK_MONOTONIC) - t1;
	return 0;
}

void publish_notify(struct publisher *p, uint64_t generation, const char *status)
{
	sd_notifyf(0, "%sSTATUS=%s\nGENERATION=%" PRIu64, p->ready ? "" : "READY=1\n", status,
	           generation);
	p->ready = true;
}
