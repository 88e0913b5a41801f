/*
 * metrics_file: one worker's counters in a small fixed-layout file beneath
 * runtime_dir/metrics, mapped shared, so that apid can read them for /metrics.
 *
 * What the counters mean is not known here: http_metrics.c lays out davd's and
 * apid's per-route HTTP counters after the common head, fuse_metrics.c fused's
 * per-operation counters.  This file does what they share: the head every such
 * file starts with (magic and version of the layout, item count, size, the
 * writer's pid and start time, its name), creating the file under a temporary
 * name and renaming it into place once filled, falling back to process memory
 * when the file cannot be had, removing it at the end only while it is still
 * the writer's own, and reading one back with its head checked.  Native byte
 * order: the file never leaves the machine.  Nothing here logs.
 */
#ifndef MF_METRICS_FILE_H
#define MF_METRICS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_FILE_DIR      "metrics" /* beneath runtime_dir */
#define METRICS_FILE_SUFFIX   ".metrics"
#define METRICS_FILE_NAME_MAX 32 /* bytes of a writer's or an item's name, with the NUL */

/* The start of every counters file (72 bytes). */
struct metrics_head {
	char magic[8];    /* the layout's, e.g. "MFHTTPM\n" */
	uint32_t version; /* of the layout */
	uint32_t count;   /* items (routes, operations) after the layout's own head */
	uint64_t size;    /* of the whole file */
	int64_t pid;
	int64_t start_ns;                 /* CLOCK_REALTIME when the writer started */
	char name[METRICS_FILE_NAME_MAX]; /* the writer: "davd", "fused" */
};

/* A layout: its magic and version, and how its size follows from the item count. */
struct metrics_layout {
	const char *magic; /* 8 bytes */
	uint32_t version;
	size_t head_size; /* the layout's head, struct metrics_head at its start */
	size_t item_size;
	uint32_t items_max;
};

struct metrics_file;

/*
 * Counters of writer name (no '/'), count items of layout l: creates
 * runtime_dir/METRICS_FILE_DIR (0755) when missing and in it <name>.metrics,
 * zeroed but for the head and what fill(data, ctx) writes before the file is
 * renamed into place.  When the file cannot be had, *ret_file_err (may be
 * NULL) gets the -errno and the counters live in memory.  Returns 0, -EINVAL
 * (a bad name or count) or -ENOMEM.  Owner: the caller; metrics_file_free()
 * removes the file.
 */
int metrics_file_new(const char *runtime_dir, const char *name, const struct metrics_layout *l,
                     uint32_t count, void (*fill)(void *data, void *ctx), void *ctx,
                     struct metrics_file **ret, int *ret_file_err);
void metrics_file_free(struct metrics_file *m);

/* The counters (the head first), mapped or in memory. */
void *metrics_file_data(const struct metrics_file *m);
/* The file's path, NULL when the counters are in memory only. */
const char *metrics_file_path(const struct metrics_file *m);

/*
 * Read a counters file of layout l into a malloc'd copy the caller frees, its
 * head checked: a regular file (not a symlink), magic, version, an item count
 * of 1..items_max, the size both the file's and the one the count gives, a
 * NUL-ended name.  The layout checks its items' own fields.  Returns 0,
 * -ENOENT, -EBADMSG for a file that is not one of l, -ENOMEM.
 */
int metrics_file_load(const char *path, const struct metrics_layout *l, void **ret);

/* Whether a fixed-size name field of cap bytes holds its terminating NUL. */
bool metrics_name_is_terminated(const char *s, size_t cap);

#endif
