/* tree_place: see tree_place.h. */
#include "tree_place.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "path.h"
#include "tree.h"

const char *const tree_skip_reasons[TREE_SKIP_MAX] = {
    [TREE_SKIP_NO_PATH] = TREE_SKIP_NO_FILE_PATH,
    [TREE_SKIP_UNSAFE] = TREE_SKIP_UNSAFE_PATH,
    [TREE_SKIP_NO_RULE] = TREE_SKIP_UNPLACED,
    [TREE_SKIP_NO_NAME] = TREE_SKIP_BAD_NAME,
};

/* "/a/b": absolute, at least one component, none empty. */
static bool is_clean_virtual_path(const char *path)
{
	if (path[0] != '/' || path[1] == '\0')
		return false;
	for (const char *p = path; *p != '\0'; p++)
		if (p[0] == '/' && (p[1] == '/' || p[1] == '\0'))
			return false;
	return true;
}

enum tree_outcome tree_place(const struct rules *rules, const struct record *rec, char *path,
                             uint32_t *ret)
{
	uint32_t rule = 0;
	int r;

	if (!record_has(rec, PROP_FILE_PATH)) {
		*ret = TREE_SKIP_NO_PATH;
		return TREE_SKIPPED;
	}
	if (!path_is_safe_source(rec->values[PROP_FILE_PATH].ptr,
	                         rec->values[PROP_FILE_PATH].len)) {
		*ret = TREE_SKIP_UNSAFE;
		return TREE_SKIPPED;
	}
	r = rules_place(rules, rec, path, SNAP_PATH_MAX, &rule);
	if (r == RULES_HIDDEN) {
		*ret = rule;
		return TREE_HIDDEN;
	}
	if (r == RULES_UNPLACED) {
		*ret = TREE_SKIP_NO_RULE;
		return TREE_SKIPPED;
	}
	if (r < 0 || !is_clean_virtual_path(path)) {
		*ret = TREE_SKIP_NO_NAME;
		return TREE_SKIPPED;
	}
	*ret = rule;
	return TREE_PLACED;
}

uint64_t tree_parse_size(struct strview v)
{
	uint64_t n = 0;

	if (v.ptr == NULL || v.len == 0 || v.len > 20)
		return 0;
	for (uint32_t i = 0; i < v.len; i++) {
		unsigned d = (unsigned char)v.ptr[i] - '0';

		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return 0;
		n = n * 10 + d;
	}
	return n;
}

int tree_grow(void *array, size_t *cap, size_t n, size_t size)
{
	void **p = array;
	size_t c = *cap ? *cap : 16;
	void *q;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	q = realloc(*p, c * size);
	if (q == NULL)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

int tree_nodes_room(tree_nodes_fn nodes_fn, void *nodes_ctx, size_t count,
                    struct snapshot_build *out)
{
	if (nodes_fn != NULL)
		return nodes_fn(nodes_ctx, (uint32_t)count, &out->nodes, &out->file);
	out->nodes = malloc(count * sizeof(*out->nodes));
	return out->nodes != NULL ? 0 : -ENOMEM;
}

void tree_date_directories(struct snapshot_build *out)
{
	for (uint32_t i = out->node_count; i-- > 1;) {
		struct snap_node *child = &out->nodes[i], *parent = &out->nodes[child->parent];

		if (child->mtime_ns > parent->mtime_ns)
			parent->mtime_ns = child->mtime_ns;
		if (child->ctime_ns > parent->ctime_ns)
			parent->ctime_ns = child->ctime_ns;
	}
}
