/*
 * ops: the FUSE low-level operations of fused, and the state they share.
 *
 * Inode numbers are the snapshot's node ids (root 1, the virtual ERROR.txt 2),
 * so nothing per inode is kept: lookup counts are not tracked and forget does
 * nothing.  Every request takes the current generation at its start and answers
 * from it alone.  Handles: an open file holds its source descriptor (or WebDAV
 * handle) and a copy of its attributes, so it keeps working when a later
 * generation drops or changes its path.  Directories have no handle while the
 * kernel caches listings (dir_ttl_ms > 0); without caching, an open directory
 * holds the generation it lists and moves to the current one when a listing
 * starts over at offset 0.
 *
 * Every request gets exactly one reply; errors are converted to a reply once, at
 * the end of each operation.  Anything that would write answers EROFS.  Each
 * handler runs inside a wrapper that counts its answer, ok or an errno, and its
 * latency in f->metrics (runtime_dir/metrics/fused.metrics, lib/fuse_metrics.h).
 */
#ifndef MF_FUSED_OPS_H
#define MF_FUSED_OPS_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct fuse_metrics;
struct gen_store;
struct source;
struct webdav;
struct keep_table;

/*
 * A handle the kernel holds (an open file, a listed directory).  The live ones
 * are linked, so that those never released, because fused stopped first, are
 * freed at exit.
 */
struct fused_handle {
	struct fused_handle *prev, *next;
};

/* Everything the operations need.  Owner: fused_main(). */
struct fused {
	const struct config *cfg;
	struct fuse_session *se;
	struct gen_store *gens;
	struct source *src;
	struct webdav *dav; /* NULL unless source_webdav_url is set */

	double attr_timeout; /* seconds: entries, attributes, negative lookups */
	int64_t dir_ttl_ns;  /* > 0: the kernel keeps listings (until invalidated) */
	mode_t file_mode;
	mode_t dir_mode;
	uid_t uid;
	gid_t gid;

	/* Requests answered, per operation (lib/fuse_metrics.h); NULL: not counted. */
	struct fuse_metrics *metrics;

	/* Handles not yet released: a circular list under handles_lock. */
	pthread_mutex_t handles_lock;
	struct fused_handle handles;

	/* Whose pages the kernel's page cache holds (see ops.c). */
	struct keep_table *file_cache;

	/* bdi read_ahead_kb, opened before privileges were dropped; written after INIT. */
	int read_ahead_fd;
	unsigned read_ahead_kb;
	atomic_bool read_ahead_pending;

	/* Filled by init: the largest read request (bytes), whether splice is on. */
	unsigned max_read;
	bool splice;
	atomic_bool initialized;
	int wake_fd; /* written to tell the control thread that init happened; -1 none */
};

extern const struct fuse_lowlevel_ops fused_ops;

/* The list of live handles: set up before the session, freed after it ends. */
void fused_handles_init(struct fused *f);
void fused_handles_free(struct fused *f);

/* The operations counted in fused.metrics, by their FUSE names (fused_op_names). */
enum fused_op {
	FOP_LOOKUP,
	FOP_FORGET, /* forget and batch_forget */
	FOP_GETATTR,
	FOP_ACCESS,
	FOP_STATFS,
	FOP_OPEN,
	FOP_READ,
	FOP_RELEASE,
	FOP_FSYNC,
	FOP_OPENDIR,
	FOP_READDIR,
	FOP_READDIRPLUS,
	FOP_RELEASEDIR,
	FOP_FSYNCDIR,
	FOP_GETXATTR,
	FOP_LISTXATTR,
	FOP_SETATTR, /* this one and all below: answered EROFS */
	FOP_MKNOD,
	FOP_MKDIR,
	FOP_UNLINK,
	FOP_RMDIR,
	FOP_SYMLINK,
	FOP_RENAME,
	FOP_LINK,
	FOP_WRITE,
	FOP_CREATE,
	FOP_SETXATTR,
	FOP_REMOVEXATTR,
	FOP_FALLOCATE,
	FOP_COPY_FILE_RANGE,
	FOP_MAX,
};

extern const char *const fused_op_names[FOP_MAX];

int keep_table_new(unsigned slots, struct keep_table **ret);
void keep_table_free(struct keep_table *t);

/* Forget what ops remember about id (after an invalidation of its inode). */
void ops_forget_cached(struct fused *f, uint64_t id);

#endif
