/*
 * snapshot_diff: two snapshots compared directory by directory (see
 * snapshot_diff.h).
 *
 * A directory only in the new tree is reported as new and its children are not
 * merged (nothing under a new name can have been seen before); a directory only
 * in the old tree shows as a name gone in its surviving parent.
 */
#include "snapshot_diff.h"

#include <stdbool.h>
#include <string.h>

#include "snapshot.h"

struct side {
	const struct snapshot *s;
	const struct snap_node *c; /* children */
	uint32_t n;
};

static bool str_eq(const struct snapshot *a, struct snap_str x, const struct snapshot *b,
                   struct snap_str y)
{
	return x.len == y.len && memcmp(snapshot_str(a, x), snapshot_str(b, y), x.len) == 0;
}

static bool file_changed(const struct snapshot *os, const struct snap_node *o,
                         const struct snapshot *ns, const struct snap_node *n)
{
	return o->size != n->size || o->mtime_ns != n->mtime_ns || o->ctime_ns != n->ctime_ns ||
	       !str_eq(os, o->source, ns, n->source) || !str_eq(os, o->hash_id, ns, n->hash_id);
}

/* Merge the children of one directory present in both trees; *how gets its bits. */
static int merge(const struct side *o, const struct side *n, uint64_t dir_id,
                 const struct snapshot_diff_ops *ops, void *ctx, unsigned *how)
{
	uint32_t i = 0, j = 0;
	int r = 0;

	while (r == 0 && (i < o->n || j < n->n)) {
		const struct snap_node *a = i < o->n ? &o->c[i] : NULL;
		const struct snap_node *b = j < n->n ? &n->c[j] : NULL;
		const char *an = a ? snapshot_str(o->s, a->name) : NULL;
		const char *bn = b ? snapshot_str(n->s, b->name) : NULL;
		int c = !a ? 1 : !b ? -1 : snap_name_cmp(an, a->name.len, bn, b->name.len);

		if (c < 0 || c > 0 || a->id != b->id || a->type != b->type) {
			*how |= SNAPSHOT_DIR_LISTING;
			if (ops->entry)
				r = c < 0 ? ops->entry(ctx, dir_id, an, a->name.len)
				          : ops->entry(ctx, dir_id, bn, b->name.len);
		} else if (!snapshot_node_is_dir(b) && file_changed(o->s, a, n->s, b)) {
			*how |= SNAPSHOT_DIR_FILES;
			if (ops->file)
				r = ops->file(ctx, b);
		}
		i += c <= 0;
		j += c >= 0;
	}
	return r;
}

static void children(const struct snapshot *s, const struct snap_node *dir, struct side *ret)
{
	ret->s = s;
	ret->c = s && dir ? snapshot_children(s, dir, &ret->n) : NULL;
	if (!ret->c)
		ret->n = 0;
}

/* One side is NULL: only the root is compared (its children against none). */
static int diff_root_only(const struct snapshot *old, const struct snapshot *new,
                          const struct snapshot_diff_ops *ops, void *ctx)
{
	struct side o, n;
	unsigned how = 0;
	int r;

	children(old, old ? snapshot_root(old) : NULL, &o);
	children(new, new ? snapshot_root(new) : NULL, &n);
	r = merge(&o, &n, SNAP_ROOT_ID, ops, ctx, &how);
	if (r == 0 && how && new && ops->dir)
		r = ops->dir(ctx, snapshot_root(new), how);
	return r;
}

int snapshot_diff(const struct snapshot *old, const struct snapshot *new,
                  const struct snapshot_diff_ops *ops, void *ctx)
{
	uint32_t count;

	if (!old || !new)
		return diff_root_only(old, new, ops, ctx);
	count = snapshot_node_count(new);
	for (uint32_t k = 0; k < count; k++) {
		const struct snap_node *nd = snapshot_node(new, k), *od;
		struct side o, n;
		unsigned how = 0;
		int r;

		if (!snapshot_node_is_dir(nd))
			continue;
		od = snapshot_lookup_id(old, nd->id);
		if (!od || !snapshot_node_is_dir(od)) {
			how = SNAPSHOT_DIR_NEW;
		} else {
			children(old, od, &o);
			children(new, nd, &n);
			r = merge(&o, &n, nd->id, ops, ctx, &how);
			if (r != 0)
				return r;
			if (od->mtime_ns != nd->mtime_ns || od->ctime_ns != nd->ctime_ns)
				how |= SNAPSHOT_DIR_TIMES;
		}
		if (how && ops->dir) {
			r = ops->dir(ctx, nd, how);
			if (r != 0)
				return r;
		}
	}
	return 0;
}
