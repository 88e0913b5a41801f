/*
 * invalidate: the difference of two generations, as kernel cache invalidations
 * (see invalidate.h).
 *
 * Every directory of the new tree that also is a directory of the old one (same
 * id) has its children merged with the old children by name; both lists are
 * sorted bytewise, so this is one linear pass and the whole diff is O(nodes)
 * with one hash lookup per directory.  Directories only in the new tree need
 * nothing: the kernel cannot have cached anything below a name it never saw,
 * and the name itself is reported in the parent.
 */
#include "invalidate.h"

#include <stdbool.h>
#include <string.h>

#include "error_file.h"
#include "generation.h"
#include "snapshot.h"

struct diff {
	const struct inval_sink *sink;
	struct inval_stats stats;
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

static bool file_changed(const struct snapshot *os, const struct snap_node *o,
                         const struct snapshot *ns, const struct snap_node *n)
{
	return o->size != n->size || o->mtime_ns != n->mtime_ns || o->ctime_ns != n->ctime_ns ||
	       o->source.len != n->source.len ||
	       memcmp(snapshot_str(os, o->source), snapshot_str(ns, n->source), n->source.len) != 0;
}

/*
 * Merge the children of one directory (oc[0..on) of os with nc[0..nn) of ns);
 * either snapshot may be NULL with a count of 0.  Returns whether the listing
 * changed.
 */
static bool diff_children(struct diff *d, uint64_t dir_id, const struct snapshot *os,
                          const struct snap_node *oc, uint32_t on, const struct snapshot *ns,
                          const struct snap_node *nc, uint32_t nn)
{
	bool changed = false;
	uint32_t i = 0, j = 0;

	while (i < on || j < nn) {
		const struct snap_node *o = i < on ? &oc[i] : NULL;
		const struct snap_node *n = j < nn ? &nc[j] : NULL;
		const char *oname = o ? snapshot_str(os, o->name) : NULL;
		const char *nname = n ? snapshot_str(ns, n->name) : NULL;
		int c;

		if (!o)
			c = 1;
		else if (!n)
			c = -1;
		else
			c = snap_name_cmp(oname, o->name.len, nname, n->name.len);

		if (c < 0) { /* gone */
			report_entry(d, dir_id, oname, o->name.len);
			changed = true;
			i++;
		} else if (c > 0) { /* new: there may be a negative dentry */
			report_entry(d, dir_id, nname, n->name.len);
			changed = true;
			j++;
		} else {
			if (o->id != n->id || o->type != n->type) {
				report_entry(d, dir_id, nname, n->name.len);
				changed = true;
			} else if (!snapshot_node_is_dir(n) && file_changed(os, o, ns, n)) {
				report_inode(d, n->id);
			}
			i++;
			j++;
		}
	}
	return changed;
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

static const struct snap_node *root_children(const struct snapshot *s, uint32_t *ret_count)
{
	if (!s) {
		*ret_count = 0;
		return NULL;
	}
	return snapshot_children(s, snapshot_root(s), ret_count);
}

void invalidate_diff(const struct generation *old, const struct generation *new,
                     const struct inval_sink *sink, struct inval_stats *ret_stats)
{
	struct diff d = {.sink = sink};
	const struct snapshot *os = old->snap, *ns = new->snap;
	bool root_changed = false;

	diff_error_file(&d, old, new, &root_changed);

	if (!os || !ns) {
		/* A placeholder on either side: the root is all there is to compare. */
		const struct snap_node *oc, *nc;
		uint32_t on, nn;

		oc = root_children(os, &on);
		nc = root_children(ns, &nn);
		if (diff_children(&d, SNAP_ROOT_ID, os, oc, on, ns, nc, nn))
			root_changed = true;
		if (root_changed || !os != !ns)
			report_inode(&d, SNAP_ROOT_ID);
		goto out;
	}

	uint32_t count = snapshot_node_count(ns);

	for (uint32_t k = 0; k < count; k++) {
		const struct snap_node *n = snapshot_node(ns, k), *o;
		const struct snap_node *oc, *nc;
		uint32_t on, nn;
		bool changed;

		if (!snapshot_node_is_dir(n))
			continue;
		o = snapshot_lookup_id(os, n->id);
		if (!o || !snapshot_node_is_dir(o))
			continue;
		oc = snapshot_children(os, o, &on);
		nc = snapshot_children(ns, n, &nn);
		changed = diff_children(&d, n->id, os, oc, on, ns, nc, nn);
		if (n->id == SNAP_ROOT_ID)
			changed = changed || root_changed;
		if (changed || o->mtime_ns != n->mtime_ns || o->ctime_ns != n->ctime_ns)
			report_inode(&d, n->id);
	}
out:
	if (ret_stats)
		*ret_stats = d.stats;
}
