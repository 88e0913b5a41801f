/*
 * treediff: the changed directories of two generations as paths (see
 * treediff.h); the comparison itself is lib/snapshot_diff.c's.
 */
#include "treediff.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "snapshot_diff.h"

struct dirs {
	const struct snapshot *new;
	char **list;
	size_t n, cap, max;
	bool all; /* more than max: "/" stands for everything */
};

static int add(struct dirs *d, const char *path)
{
	char *copy = strdup(path);

	if (copy == NULL)
		return -ENOMEM;
	if (d->n == d->cap) {
		size_t c = d->cap ? d->cap * 2 : 16;
		char **l = realloc(d->list, c * sizeof(*l));

		if (l == NULL) {
			free(copy);
			return -ENOMEM;
		}
		d->list = l;
		d->cap = c;
	}
	d->list[d->n++] = copy;
	return 0;
}

/* A listing that changed, or a new directory; its own times alone do not count. */
static int on_dir(void *ctx, const struct snap_node *dir, unsigned how)
{
	struct dirs *d = ctx;
	char path[SNAP_PATH_MAX];

	if (!(how & ~(unsigned)SNAPSHOT_DIR_TIMES))
		return 0;
	if (d->n == d->max) {
		d->all = true;
		return 1;
	}
	if (snapshot_node_path(d->new, dir, path, sizeof(path)) < 0)
		return 0;
	return add(d, path);
}

int treediff_dirs(const struct snapshot *old, const struct snapshot *new, size_t max, char ***ret,
                  size_t *ret_count)
{
	static const struct snapshot_diff_ops ops = {.dir = on_dir};
	struct dirs d = {.new = new, .max = max, .all = old == NULL};
	int r = 0;

	if (!d.all)
		r = snapshot_diff(old, new, &ops, &d);
	if (r < 0)
		goto fail;
	if (d.all) {
		treediff_free(d.list, d.n);
		d.list = NULL;
		d.n = d.cap = 0;
		r = add(&d, "/");
		if (r < 0)
			goto fail;
	}
	*ret = d.list;
	*ret_count = d.n;
	return 0;
fail:
	treediff_free(d.list, d.n);
	return r;
}

void treediff_free(char **dirs, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(dirs[i]);
	free(dirs);
}
