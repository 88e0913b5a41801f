/*
 * generation: the snapshot a reader (fused, davd, apid) serves now, and the ones
 * still in use.
 *
 * A generation is one mapped vfs.snapshot (or, before the first one exists, an
 * empty placeholder) plus what a reader derives from it once: the text of the
 * virtual ERROR.txt.  It is immutable.  Every request takes a reference to the
 * current generation at its start and drops it at its end, so a request never
 * sees two generations and an old mapping is unmapped only when the last
 * request (or open directory) using it is done.
 *
 * The store loads runtime_dir/vfs.snapshot when told to (SIGHUP, inotify); it
 * does not watch anything itself and does not log: reload returns what
 * happened and a reason, and the caller logs once.
 */
#ifndef MF_GENERATION_H
#define MF_GENERATION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct snapshot;

struct generation {
	struct snapshot *snap; /* NULL: the placeholder, no snapshot loaded yet */
	uint64_t number;       /* the snapshot's generation, 0 for the placeholder */
	int64_t loaded_ns;     /* CLOCK_REALTIME when it was loaded */

	/* ERROR.txt: NULL when the store is healthy (the file is absent then). */
	char *error_text;
	size_t error_len;
	int64_t error_mtime_ns;

	/* Identity of the file it came from, to skip a reload of the same file. */
	dev_t file_dev;
	ino_t file_ino;
	off_t file_size;
	int64_t file_mtime_ns;
	/* Mapped from kvwatch's shared copy; false: a private copy of the file. */
	bool shared;

	atomic_uint refs;
};

/* Drop a reference taken with gen_store_get(); frees the generation with the last. */
void generation_put(struct generation *g);

struct gen_store;

/*
 * A store serving runtime_dir/vfs.snapshot, starting with the placeholder; call
 * gen_store_reload() to load the file.  Owner: the caller; gen_store_free()
 * drops the store's reference to the current generation.
 */
int gen_store_new(const char *runtime_dir, struct gen_store **ret);
void gen_store_free(struct gen_store *st);

/* The current generation with a reference the caller drops; never NULL. */
struct generation *gen_store_get(struct gen_store *st);

enum gen_reload_result {
	GEN_RELOAD_UNCHANGED, /* same file as the current generation, or none */
	GEN_RELOAD_SWITCHED,  /* a new generation is current */
	GEN_RELOAD_REFUSED,   /* the file is invalid or older; the current generation stays */
	GEN_RELOAD_MAX,
};

/*
 * Look at vfs.snapshot and make it current when it is a new, valid file.  The
 * file's bytes come from kvwatch's shared copy when it serves one of this file
 * (snapshot_share.h), else from a private copy of the file.  On
 * GEN_RELOAD_SWITCHED, *ret_old holds a reference to the replaced generation (for
 * invalidation; the caller puts it) and *ret_new one to the new one; err is
 * empty, or says why a shared copy was refused (for a warning).  On
 * GEN_RELOAD_REFUSED, err says why ("vfs.snapshot: body checksum mismatch"); the
 * same refused file is not tried (or reported) again until it changes.  A valid
 * file that would roll the tree back is refused too: one whose generation is not
 * above the served one's and that was built no later (an old file renamed into
 * place); a writer that restarted its count at 1 builds later and is taken.  Returns
 * the result, or -errno for a failure of the reader itself (-ENOMEM).
 */
int gen_store_reload(struct gen_store *st, struct generation **ret_old, struct generation **ret_new,
                     char *err, size_t errlen);

/* For the log: where g's bytes are ("kvwatch's shared copy", "a private copy"). */
const char *generation_memory(const struct generation *g);

/* The path the store loads ("/run/meta-fuse/vfs.snapshot"). */
const char *gen_store_path(const struct gen_store *st);

#endif
