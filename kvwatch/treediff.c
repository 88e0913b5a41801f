/*
 * treediff: compare two generations directory by directory (see treediff.h).
 */
#include "treediff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static bool str_eq(const struct snapshot *a, struct snap_str x, const struct snapshot *b,
                   struct snap_str y)
{
	return x.len == y.len && memcmp(snapshot_str(a, x), snapshot_str(b, y), x.len) == 0;
}

static bool same_listing(const struct snapshot *old, const struct snap_node *od,
                         const struct snapshot *new, const struct snap_node *nd)
{
	const struct snap_node *oc, *nc;
	uint32_t on, nn;

	oc = snapshot_children(old, od, &on);
	nc = snapshot_children(new, nd, &nn);
	if (on != nn)
		return false;
	for (uint32_t i = 0; i < nn; i++) {
		const struct snap_node *a = &oc[i], *b = &nc[i];

		if (a->id != b->id || a->type != b->type || !str_eq(old, a->name, new, b->name))
			return false;
		if (b->type == SNAP_NODE_FILE &&
		    (a->size != b->size || a->mtime_ns != b->mtime_ns ||
		     !str_eq(old, a->source, new, b->source) ||
		     !str_eq(old, a->hash_id, new, b->hash_id)))
			return false;
	}
	return true;
}

static int add(char ***list, size_t *n, size_t *cap, const char *path)
{
	char *copy = strdup(path);

	if (copy == NULL)
		return -ENOMEM;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **l = realloc(*list, c * sizeof(*l));

		if (l == NULL) {
			free(copy);
			return -ENOMEM;
		}
		*list = l;
		*cap = c;
	}
	(*list)[(*n)++] = copy;
	return 0;
}

int treediff_dirs(const struct snapshot *old, const struct snapshot *new, size_t max, char ***ret,
                  size_t *ret_count)
{
	char **list = NULL;
	size_t n = 0, cap = 0;
	uint32_t count = snapshot_node_count(new);
	char path[SNAP_PATH_MAX];
	bool all = old == NULL;
	int r = 0;

	for (uint32_t i = 0; !all && i < count; i++) {
		const struct snap_node *nd = snapshot_node(new, i), *od;

		if (!snapshot_node_is_dir(nd))
			continue;
		od = snapshot_lookup_id(old, nd->id);
		if (od != NULL && snapshot_node_is_dir(od) && same_listing(old, od, new, nd))
			continue;
		if (n == max) {
			all = true;
			break;
		}
		if (snapshot_node_path(new, nd, path, sizeof(path)) < 0)
			continue;
		r = add(&list, &n, &cap, path);
		if (r < 0)
			goto fail;
	}
	if (all) {
		treediff_free(list, n);
		list = NULL;
		n = cap = 0;
		r = add(&list, &n, &cap, "/");
		if (r < 0)
			goto fail;
	}
	*ret = list;
	*ret_count = n;
	return 0;
fail:
	treediff_free(list, n);
	return r;
}

void treediff_free(char **dirs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(dirs[i]);
	free(dirs);
}
