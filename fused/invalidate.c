/*
 * invalidate: the difference of two generations, as kernel cache invalidations
 * (see invalidate.h).
 *
 * The comparison is lib/snapshot_diff.c's (one merge of each directory's sorted
 * children, O(nodes)); this file decides what the kernel must forget.
 * Directories only in the new tree need nothing: the kernel cannot have cached
 * anything below a name it never saw, and the name itself is reported in the
 * parent.
 */
#include "invalidate.h"

#include <stdbool.h>
#include <string.h>

#include "error_file.h"
#include "generation.h"
#include "snapshot.h"
#include "snapshot_diff.h"

struct diff {
	const struct inval_sink *sink;
	struct inval_stats stats;
	bool root_reported;
};

static void report_entry(struct diff *d, uint64_t parent, const char *name, size_t len)
{
	d->stats.entries++;
	d->sink->entry(d->sink->ctx, parent, name, len);
}

static void report_inode(struct diff *d, uint64_t id)
{
	d->stats.inodes++;
	d->sink->inode(d->sink->ctx, id);
}

static int on_entry(void *ctx, uint64_t dir_id, const char *name, size_t len)
{
	report_entry(ctx, dir_id, name, len);
	return 0;
}

static int on_file(void *ctx, const struct snap_node *file)
{
	report_inode(ctx, file->id);
	return 0;
}

/*
 * A directory new to the kernel needs nothing, nor one where only files changed
 * (their own inodes are reported); one whose listing or times changed loses its
 * cached listing and attributes.
 */
static int on_dir(void *ctx, const struct snap_node *dir, unsigned how)
{
	struct diff *d = ctx;

	if ((how & SNAPSHOT_DIR_NEW) || !(how & (SNAPSHOT_DIR_LISTING | SNAPSHOT_DIR_TIMES)))
		return 0;
	if (dir->id == SNAP_ROOT_ID)
		d->root_reported = true;
	report_inode(d, dir->id);
	return 0;
}

static void diff_error_file(struct diff *d, const struct generation *old,
                            const struct generation *new, bool *root_changed)
{
	bool had = old->error_text != NULL, has = new->error_text != NULL;

	if (had != has) {
		report_entry(d, SNAP_ROOT_ID, ERROR_FILE_NAME, strlen(ERROR_FILE_NAME));
		report_inode(d, SNAP_ERROR_FILE_ID);
		*root_changed = true;
	} else if (has && (old->error_len != new->error_len ||
	                   memcmp(old->error_text, new->error_text, new->error_len) != 0 ||
	                   old->error_mtime_ns != new->error_mtime_ns)) {
		report_inode(d, SNAP_ERROR_FILE_ID);
	}
}

void invalidate_diff(const struct generation *old, const struct generation *new,
                     const struct inval_sink *sink, struct inval_stats *ret_stats)
{
	static const struct snapshot_diff_ops ops = {
	    .entry = on_entry, .file = on_file, .dir = on_dir};
	struct diff d = {.sink = sink};
	bool root_changed = false;

	diff_error_file(&d, old, new, &root_changed);
	snapshot_diff(old->snap, new->snap, &ops, &d);
	/* ERROR.txt, or a placeholder on one side, changes the root's listing too. */
	if (!d.root_reported && (root_changed || !old->snap != !new->snap))
		report_inode(&d, SNAP_ROOT_ID);
	if (ret_stats)
		*ret_stats = d.stats;
}
