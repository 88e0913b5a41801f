/*
 * sizes: measuring the sources' sizes for the tree (see sizes.h).
 */
#include "sizes.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"
#include "source.h"
#include "store.h"

static bool sv_equal(struct strview a, struct strview b)
{
	/* An empty value is an absent one, as everywhere. */
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* rec's node in the published tree when the previous record set has it unchanged. */
static const struct snap_node *previous(struct sizes_run *run, const struct record *rec)
{
	const struct snap_node *node;
	struct strview claim, source;

	if (run->prev == NULL)
		return NULL;
	node = store_mapped(run->prev, rec->hash_id.ptr, rec->hash_id.len, &claim);
	if (node == NULL || !sv_equal(claim, rec->values[PROP_SIZE]))
		return NULL;
	source = (struct strview){snapshot_str(store_snapshot(run->prev), node->source),
	                          node->source.len};
	return sv_equal(source, rec->values[PROP_FILE_PATH]) ? node : NULL;
}

/* tree_sizes.measure: the size the published tree holds, or the source's. */
static int measure(void *ctx, const struct record *rec, uint64_t *ret_size)
{
	struct sizes_run *run = ctx;
	const struct strview *fp = &rec->values[PROP_FILE_PATH];
	const struct snap_node *node;
	char path[PATH_MAX];
	int r;

	if ((run->iter != NULL && (node = store_iter_node(run->iter)) != NULL) ||
	    (node = previous(run, rec)) != NULL) {
		run->reused++;
		if (node->flags & SNAP_NODE_F_SIZE_UNKNOWN)
			return -ENODATA; /* not measured then either */
		*ret_size = node->size;
		return 0;
	}
	if (fp->len >= sizeof(path)) {
		run->refused++;
		return -ENAMETOOLONG;
	}
	memcpy(path, fp->ptr, fp->len);
	path[fp->len] = '\0';
	r = source_measure(run->src, path, ret_size);
	switch (r) {
	case 0:
		break;
	case -ENOENT:
		run->missing++;
		break;
	case -EXDEV:
	case -ELOOP:
	case -EINVAL:
	case -EISDIR:
	case -EPERM:
		run->refused++;
		break;
	case -EACCES:
		run->denied++;
		break;
	default:
		run->other++;
		break;
	}
	return r;
}

int sizes_run_begin(struct sizes_run *run, const char *files_volume)
{
	int r;

	memset(run, 0, sizeof(*run));
	if (files_volume == NULL)
		return 0;
	r = source_new(files_volume, &run->src);
	if (r < 0)
		return r;
	r = source_volume_status(run->src);
	if (r < 0) {
		run->volume_error = r;
		source_free(run->src);
		run->src = NULL;
		return 0;
	}
	run->tree.measure = measure;
	run->tree.ctx = run;
	return 0;
}

bool sizes_moved(struct sizes_run *run, const struct snapshot *snap, const struct snap_node *node)
{
	uint64_t size;

	if (run->src == NULL || node->type != SNAP_NODE_FILE ||
	    source_measure(run->src, snapshot_str(snap, node->source), &size) < 0)
		return false;
	return size != node->size || (node->flags & SNAP_NODE_F_SIZE_UNKNOWN);
}

struct tree_sizes *sizes_run_tree(struct sizes_run *run)
{
	return run->src != NULL ? &run->tree : NULL;
}

void sizes_run_end(struct sizes_run *run)
{
	source_free(run->src);
	run->src = NULL;
	run->iter = NULL;
	run->prev = NULL;
	run->tree.ctx = NULL;
}

void sizes_report(const struct sizes_run *run, bool full, const char *files_volume,
                  int *volume_logged)
{
	const struct tree_sizes *t = &run->tree;
	uint64_t unmeasured = t->failed, files = t->measured + t->failed;
	char first[TREE_SIZES_EXAMPLE_MAX + 64] = "";

	if (run->volume_error < 0) {
		if (*volume_logged != run->volume_error)
			log_warnx("files_volume \"%s\": %s; sizes are the KV store's, not measured",
			          files_volume, strerror(-run->volume_error));
		*volume_logged = run->volume_error;
		return;
	}
	if (run->tree.measure == NULL)
		return; /* not measuring */
	if (*volume_logged != 0) {
		log_info("files_volume \"%s\" opens again; sizes are measured", files_volume);
		*volume_logged = 0;
	}
	if (t->corrected > 0)
		snprintf(first, sizeof(first), " (first: hash id %s, %" PRIu64 " bytes)",
		         t->example, t->example_size);
	if (full && (t->corrected > 0 || unmeasured > 0))
		log_info(
		    "sizes: %" PRIu64 " of %" PRIu64 " files differ from the KV store's size and "
		    "show their source's%s; %" PRIu64 " not measured (%" PRIu64 " missing, %" PRIu64
		    " refused, %" PRIu64 " permission denied to kvwatch's user, %" PRIu64
		    " other errors), %" PRIu64 " taken from the published tree",
		    t->corrected, files, first, unmeasured, run->missing, run->refused, run->denied,
		    run->other, run->reused);
	else
		log_debug("sizes: %" PRIu64 " of %" PRIu64 " files corrected%s, %" PRIu64
		          " not measured, %" PRIu64 " taken from the published tree",
		          t->corrected, files, first, unmeasured, run->reused);
}
