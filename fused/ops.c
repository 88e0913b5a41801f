/*
 * ops: the FUSE low-level operations (see ops.h).
 *
 * Speed comes from three places.  Attributes live in the mapped snapshot, so
 * lookup, getattr and readdirplus are a hash or binary search and never touch a
 * disk; readdirplus hands the kernel the attributes of every entry with the
 * listing, so a stat walk after a listing asks nothing more.  Reads are served
 * by fuse_reply_data() on a descriptor buffer, which libfuse splices from the
 * source file into /dev/fuse without copying through this process, in requests
 * of up to 1 MiB.  And the kernel keeps what it has: entries and attributes for
 * fuse.attr_ttl_ms, directory listings until they change (see op_opendir), a
 * file's pages as long as its source is unchanged since the last open
 * (keep_cache).  Reloads invalidate exactly what changed (invalidate.c), which
 * is what makes long timeouts safe.
 *
 * The keep table remembers, per inode in a small direct-mapped table, which
 * source (device, inode, size, mtime) a file's cached pages came from.  A
 * collision evicts an entry; an evicted entry only costs one re-read.  The size
 * it holds is also the size stat shows (docs/fused.md, "Sizes"): the source's
 * own, measured at the last open, or at lookup for a file the KV store gave no
 * usable size, so that a size shown never differs from the bytes a read returns.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error_file.h"
#include "fuse_metrics.h"
#include "generation.h"
#include "log.h"
#include "snapshot.h"
#include "source.h"
#include "webdav_source.h"

#define XATTR_PREFIX     "user.meta."
#define XATTR_PREFIX_LEN (sizeof(XATTR_PREFIX) - 1)
#define ATTR_BLKSIZE     (128 * 1024)

/* ---- keep tables ---------------------------------------------------------- */

struct keep_slot {
	uint64_t id; /* 0 = empty (no node has id 0) */
	uint64_t a, b, c;
	int64_t t;
};

struct keep_table {
	pthread_mutex_t lock;
	unsigned mask;
	struct keep_slot slots[];
};

int keep_table_new(unsigned slots, struct keep_table **ret)
{
	struct keep_table *t;
	unsigned n = 1;

	while (n < slots)
		n <<= 1;
	t = calloc(1, sizeof(*t) + n * sizeof(struct keep_slot));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->mask = n - 1;
	*ret = t;
	return 0;
}

void keep_table_free(struct keep_table *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct keep_slot *keep_slot(struct keep_table *t, uint64_t id)
{
	return &t->slots[(id ^ (id >> 29)) & t->mask];
}

static void keep_forget(struct keep_table *t, uint64_t id)
{
	struct keep_slot *s;

	pthread_mutex_lock(&t->lock);
	s = keep_slot(t, id);
	if (s->id == id)
		s->id = 0;
	pthread_mutex_unlock(&t->lock);
}

void ops_forget_cached(struct fused *f, uint64_t id)
{
	keep_forget(f->file_cache, id);
}

static int64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* May the kernel keep the cached pages of file id, now backed by source st? */
static bool keep_pages(struct fused *f, uint64_t id, const struct stat *st)
{
	uint64_t mtime = (uint64_t)st->st_mtim.tv_sec * 1000000000 + (uint64_t)st->st_mtim.tv_nsec;
	struct keep_slot *s;
	bool keep;

	pthread_mutex_lock(&f->file_cache->lock);
	s = keep_slot(f->file_cache, id);
	keep = s->id == id && s->a == (uint64_t)st->st_dev && s->b == (uint64_t)st->st_ino &&
	       s->c == (uint64_t)st->st_size && (uint64_t)s->t == mtime;
	s->id = id;
	s->a = (uint64_t)st->st_dev;
	s->b = (uint64_t)st->st_ino;
	s->c = (uint64_t)st->st_size;
	s->t = (int64_t)mtime;
	pthread_mutex_unlock(&f->file_cache->lock);
	return keep;
}

/* The source size measured for id (at an open or a lookup), if any. */
static bool measured_size(struct keep_table *t, uint64_t id, uint64_t *ret)
{
	struct keep_slot *s;
	bool known;

	pthread_mutex_lock(&t->lock);
	s = keep_slot(t, id);
	known = s->id == id;
	if (known)
		*ret = s->c;
	pthread_mutex_unlock(&t->lock);
	return known;
}

/* Remember a size measured without opening for a read: no pages may be kept on it. */
static void remember_size(struct keep_table *t, uint64_t id, uint64_t size)
{
	struct keep_slot *s;

	pthread_mutex_lock(&t->lock);
	s = keep_slot(t, id);
	if (s->id != id) {
		memset(s, 0, sizeof(*s));
		s->id = id;
	}
	s->c = size;
	pthread_mutex_unlock(&t->lock);
}

/* ---- rate-limited warnings ------------------------------------------------ */

#define WARN_BURST     20
#define WARN_WINDOW_NS (10LL * 1000000000)

static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t warn_window_start;
static unsigned warn_count, warn_suppressed;

static void __attribute__((format(printf, 1, 2))) warn_limited(const char *fmt, ...)
{
	int64_t now = now_mono_ns();
	unsigned suppressed = 0;
	bool emit;
	va_list ap;

	pthread_mutex_lock(&warn_lock);
	if (now - warn_window_start > WARN_WINDOW_NS) {
		suppressed = warn_suppressed;
		warn_window_start = now;
		warn_count = 0;
		warn_suppressed = 0;
	}
	emit = warn_count++ < WARN_BURST;
	if (!emit)
		warn_suppressed++;
	pthread_mutex_unlock(&warn_lock);

	if (suppressed)
		log_warnx("%u similar messages suppressed", suppressed);
	if (emit) {
		va_start(ap, fmt);
		log_vmsg(LOG_LEVEL_WARNING, 0, fmt, ap);
		va_end(ap);
	}
}

/* ---- answers ------------------------------------------------------------- */

/*
 * The errno the request this thread is answering was answered with (0: not an
 * error), for its count (see "counting" below).  Every errno answer of a
 * handler goes through reply_err().
 */
static __thread int answered_errno;

static void reply_err(fuse_req_t req, int err)
{
	answered_errno = err;
	fuse_reply_err(req, err);
}

/* ---- nodes ---------------------------------------------------------------- */

enum vnode_kind {
	VN_NODE,             /* a node of the snapshot */
	VN_PLACEHOLDER_ROOT, /* the root while no snapshot is loaded */
	VN_ERROR_FILE,       /* the virtual /ERROR.txt */
	VN_MAX,
};

struct vnode {
	enum vnode_kind kind;
	const struct snap_node *node; /* VN_NODE */
};

static int resolve(const struct generation *g, fuse_ino_t ino, struct vnode *ret)
{
	const struct snap_node *n;

	if (ino == SNAP_ERROR_FILE_ID) {
		if (!g->error_text)
			return -ENOENT;
		*ret = (struct vnode){.kind = VN_ERROR_FILE};
		return 0;
	}
	if (!g->snap) {
		if (ino != FUSE_ROOT_ID)
			return -ENOENT;
		*ret = (struct vnode){.kind = VN_PLACEHOLDER_ROOT};
		return 0;
	}
	n = snapshot_lookup_id(g->snap, ino);
	if (!n)
		return -ENOENT;
	*ret = (struct vnode){.kind = VN_NODE, .node = n};
	return 0;
}

static bool vnode_is_dir(const struct vnode *v)
{
	return v->kind == VN_PLACEHOLDER_ROOT ||
	       (v->kind == VN_NODE && snapshot_node_is_dir(v->node));
}

static uint64_t vnode_id(const struct vnode *v)
{
	switch (v->kind) {
	case VN_NODE:
		return v->node->id;
	case VN_ERROR_FILE:
		return SNAP_ERROR_FILE_ID;
	default:
		return FUSE_ROOT_ID;
	}
}

static void set_time(struct timespec *ts, int64_t ns)
{
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)rem;
}

/*
 * The size a file shows: the source's when it was measured (an open found it,
 * or the KV store gave none and the source is stat'ed now), else the snapshot's.
 */
static uint64_t file_size(const struct fused *f, const struct generation *g,
                          const struct snap_node *n)
{
	uint64_t size;

	if (measured_size(f->file_cache, n->id, &size))
		return size;
	if (!(n->flags & SNAP_NODE_F_SIZE_UNKNOWN))
		return n->size;
	if (source_size(f->src, snapshot_str(g->snap, n->source), &size) < 0)
		return 0; /* an open will say why; a read returns nothing */
	remember_size(f->file_cache, n->id, size);
	return size;
}

static void attr_of(const struct fused *f, const struct generation *g, const struct vnode *v,
                    struct stat *st)
{
	int64_t mtime = 0, ctime = 0;
	uint64_t size;

	memset(st, 0, sizeof(*st));
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_blksize = ATTR_BLKSIZE;
	st->st_ino = vnode_id(v);
	switch (v->kind) {
	case VN_ERROR_FILE:
		st->st_mode = S_IFREG | (f->file_mode & 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)g->error_len;
		mtime = ctime = g->error_mtime_ns;
		break;
	case VN_PLACEHOLDER_ROOT:
		st->st_mode = S_IFDIR | f->dir_mode;
		st->st_nlink = 2;
		mtime = ctime = g->loaded_ns;
		break;
	case VN_NODE:
	default:
		mtime = v->node->mtime_ns;
		ctime = v->node->ctime_ns;
		if (snapshot_node_is_dir(v->node)) {
			st->st_mode = S_IFDIR | f->dir_mode;
			st->st_nlink = 2 + (nlink_t)v->node->subdirs;
		} else {
			size = file_size(f, g, v->node);
			st->st_mode = S_IFREG | f->file_mode;
			st->st_nlink = 1;
			st->st_size = size > INT64_MAX ? INT64_MAX : (off_t)size;
			st->st_blocks = (blkcnt_t)((size / 512) + (size % 512 != 0));
		}
		break;
	}
	set_time(&st->st_mtim, mtime);
	set_time(&st->st_ctim, ctime ? ctime : mtime);
	st->st_atim = st->st_mtim;
}

static void entry_of(const struct fused *f, const struct generation *g, const struct vnode *v,
                     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = vnode_id(v);
	e->attr_timeout = f->attr_timeout;
	e->entry_timeout = f->attr_timeout;
	attr_of(f, g, v, &e->attr);
}

static bool is_error_name(const char *name, size_t len)
{
	return len == sizeof(ERROR_FILE_NAME) - 1 && memcmp(name, ERROR_FILE_NAME, len) == 0;
}

/* The virtual path of a node, for log lines. */
static const char *node_path(const struct generation *g, const struct snap_node *n, char *buf,
                             size_t len)
{
	if (snapshot_node_path(g->snap, n, buf, len) < 0)
		snprintf(buf, len, "(node %" PRIu64 ")", n->id);
	return buf;
}

/* Write the bdi read-ahead once the kernel has taken the INIT reply (see main.c). */
static void apply_read_ahead(struct fused *f)
{
	char val[32];
	int n;

	if (!atomic_exchange(&f->read_ahead_pending, false))
		return;
	n = snprintf(val, sizeof(val), "%u\n", f->read_ahead_kb);
	if (pwrite(f->read_ahead_fd, val, (size_t)n, 0) != n)
		log_debug("cannot set read_ahead_kb to %u: %m, keeping the kernel's",
		          f->read_ahead_kb);
	else
		log_debug("read_ahead_kb set to %u", f->read_ahead_kb);
	close(f->read_ahead_fd);
	f->read_ahead_fd = -1;
}

static struct generation *begin(struct fused *f)
{
	if (__builtin_expect(atomic_load_explicit(&f->read_ahead_pending, memory_order_relaxed), 0))
		apply_read_ahead(f);
	return gen_store_get(f->gens);
}

/* ---- handles -------------------------------------------------------------- */

#define HANDLE_FILE_MAGIC 0x6d66666cu /* "mffl" */
#define HANDLE_DIR_MAGIC  0x6d666472u /* "mfdr" */

enum file_kind {
	FH_FD,
	FH_WEBDAV,
	FH_TEXT,
	FH_MAX,
};

struct open_file {
	struct fused_handle link; /* first: fused_handles_free() tells the kinds apart */
	uint32_t magic;
	enum file_kind kind;
	int fd;
	struct webdav_file *dav;
	char *text; /* FH_TEXT: a copy of ERROR.txt as it was at open */
	size_t text_len;
	struct stat st; /* attributes at open */
};

struct dir_handle {
	struct fused_handle link; /* first, as in struct open_file */
	uint32_t magic;
	uint64_t id;
	pthread_mutex_t lock;
	struct generation *gen; /* the generation being listed */
};

static struct open_file *open_file_of(const struct fuse_file_info *fi)
{
	struct open_file *fh = fi ? (struct open_file *)(uintptr_t)fi->fh : NULL;

	return fh && fh->magic == HANDLE_FILE_MAGIC ? fh : NULL;
}

static void open_file_free(struct open_file *fh)
{
	if (!fh)
		return;
	if (fh->fd >= 0)
		close(fh->fd);
	webdav_file_close(fh->dav);
	free(fh->text);
	free(fh);
}

static void dir_handle_free(struct dir_handle *dh)
{
	if (!dh)
		return;
	generation_put(dh->gen);
	pthread_mutex_destroy(&dh->lock);
	free(dh);
}

static void handle_link(struct fused *f, struct fused_handle *h)
{
	pthread_mutex_lock(&f->handles_lock);
	h->prev = &f->handles;
	h->next = f->handles.next;
	f->handles.next->prev = h;
	f->handles.next = h;
	pthread_mutex_unlock(&f->handles_lock);
}

static void handle_unlink(struct fused *f, struct fused_handle *h)
{
	pthread_mutex_lock(&f->handles_lock);
	if (h->next) {
		h->prev->next = h->next;
		h->next->prev = h->prev;
		h->next = h->prev = NULL;
	}
	pthread_mutex_unlock(&f->handles_lock);
}

void fused_handles_init(struct fused *f)
{
	pthread_mutex_init(&f->handles_lock, NULL);
	f->handles.prev = f->handles.next = &f->handles;
}

void fused_handles_free(struct fused *f)
{
	while (f->handles.next != &f->handles) {
		struct fused_handle *h = f->handles.next;

		handle_unlink(f, h);
		if (((struct open_file *)h)->magic == HANDLE_FILE_MAGIC)
			open_file_free((struct open_file *)h);
		else
			dir_handle_free((struct dir_handle *)h);
	}
	pthread_mutex_destroy(&f->handles_lock);
}

/* ---- operations ----------------------------------------------------------- */

static bool pipe_fits(size_t bytes)
{
	int p[2];
	bool ok;

	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	ok = fcntl(p[0], F_SETPIPE_SZ, (int)bytes) >= (int)bytes;
	close(p[0]);
	close(p[1]);
	return ok;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fused *f = userdata;
	const unsigned want_max = 1024 * 1024;

	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Attributes cost nothing here: always send them with the listing. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);

	/*
	 * libfuse splices a read reply through a pipe of the reply's size plus three
	 * pages; a pipe larger than fs.pipe-max-size (1 MiB) needs CAP_SYS_RESOURCE,
	 * and without it every 1 MiB read would be copied instead.  So ask for 1 MiB
	 * requests only when such a pipe can be had, else for 1 MiB - 16 KiB.
	 */
	conn->max_write = pipe_fits(want_max + 16 * 1024) ? want_max : want_max - 16 * 1024;
	if (conn->max_background < 64)
		conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;

	f->max_read = conn->max_write;
	f->splice = (conn->want & FUSE_CAP_SPLICE_WRITE) != 0;
	if (f->read_ahead_fd >= 0)
		atomic_store(&f->read_ahead_pending, true);
	atomic_store(&f->initialized, true);
	log_debug("fuse protocol %u.%u, max read %u KiB, splice %s, readdirplus %s",
	          conn->proto_major, conn->proto_minor, f->max_read / 1024,
	          f->splice ? "on" : "off", (conn->want & FUSE_CAP_READDIRPLUS) ? "on" : "off");
	if (f->wake_fd >= 0) {
		char c = 'i';

		(void)!write(f->wake_fd, &c, 1);
	}
}

static int do_lookup(struct fused *f, const struct generation *g, fuse_ino_t parent,
                     const char *name, struct fuse_entry_param *e)
{
	struct vnode dir, child;
	size_t len = strlen(name);
	int r;

	if (len > SNAP_NAME_MAX)
		return -ENAMETOOLONG;
	r = resolve(g, parent, &dir);
	if (r < 0)
		return r;
	if (!vnode_is_dir(&dir))
		return -ENOTDIR;
	if (parent == FUSE_ROOT_ID && g->error_text && is_error_name(name, len)) {
		child = (struct vnode){.kind = VN_ERROR_FILE};
	} else {
		if (!g->snap)
			return -ENOENT;
		child.kind = VN_NODE;
		child.node = snapshot_lookup_child(g->snap, dir.node, name, len);
		if (!child.node)
			return -ENOENT;
	}
	entry_of(f, g, &child, e);
	return 0;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	struct fuse_entry_param e;
	int r;

	r = do_lookup(f, g, parent, name, &e);
	if (r == -ENOENT && f->attr_timeout > 0) {
		/* A negative entry: the kernel remembers the name is absent (reloads
		 * invalidate names that appear). */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = f->attr_timeout;
		answered_errno = ENOENT; /* counted as what it is */
		fuse_reply_entry(req, &e);
	} else if (r < 0) {
		reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
	generation_put(g);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	struct open_file *fh;
	struct vnode v;
	struct stat st;

	if (resolve(g, ino, &v) == 0) {
		attr_of(f, g, &v, &st);
		fuse_reply_attr(req, &st, f->attr_timeout);
	} else if ((fh = open_file_of(fi)) != NULL) {
		/* The path left the tree, the open file did not. */
		fuse_reply_attr(req, &fh->st, f->attr_timeout);
	} else {
		reply_err(req, ENOENT);
	}
	generation_put(g);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	struct vnode v;

	if (resolve(g, ino, &v) < 0)
		reply_err(req, ENOENT);
	else if (mask & W_OK)
		reply_err(req, EROFS);
	else
		reply_err(req, 0);
	generation_put(g);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	struct statvfs sv = {0};

	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = SNAP_NAME_MAX;
	if (g->snap) {
		const struct snap_header *h = snapshot_header(g->snap);

		sv.f_blocks = (fsblkcnt_t)((h->total_bytes + 4095) / 4096);
		sv.f_files = (fsfilcnt_t)(h->files + h->directories);
	} else {
		sv.f_files = 1;
	}
	if (g->error_text)
		sv.f_files++;
	fuse_reply_statfs(req, &sv);
	generation_put(g);
}

/* ---- open, read, release -------------------------------------------------- */

/* Open the source of file node n into fh; logs and maps the errors of a failure. */
static int open_source(struct fused *f, const struct generation *g, const struct snap_node *n,
                       struct open_file *fh)
{
	const char *rel = snapshot_str(g->snap, n->source);
	char vpath[SNAP_PATH_MAX];
	struct stat st;
	uint64_t size;
	int fd, r;

	fd = source_open(f->src, rel, &st);
	if (fd >= 0) {
		fh->kind = FH_FD;
		fh->fd = fd;
		return keep_pages(f, n->id, &st) ? 1 : 0;
	}
	switch (fd) {
	case -EINVAL:
	case -EXDEV:
	case -ELOOP:
		/* Never served, whatever else is configured. */
		warn_limited("refusing source \"%s\" of \"%s\": %s", rel,
		             node_path(g, n, vpath, sizeof(vpath)),
		             fd == -EINVAL  ? "not a relative path beneath the files volume"
		             : fd == -EXDEV ? "it leads out of the files volume"
		                            : "symlink refused (loop, or not allowed here)");
		return -EACCES;
	default:
		break;
	}
	if (f->dav) {
		r = webdav_file_open(f->dav, rel, &fh->dav, &size);
		if (r == 0) {
			fh->kind = FH_WEBDAV;
			remember_size(f->file_cache, n->id, size);
			return 0;
		}
		warn_limited("source \"%s\" of \"%s\": not readable locally (%s) nor over "
		             "WebDAV (%s)",
		             rel, node_path(g, n, vpath, sizeof(vpath)), strerror(-fd),
		             strerror(-r));
		return r == -ENOENT && fd == -ENOENT ? -ENOENT : -EIO;
	}
	if (fd == -ENOENT) {
		warn_limited("source \"%s\" of \"%s\" is gone (%s)", rel,
		             node_path(g, n, vpath, sizeof(vpath)),
		             source_volume_status(f->src) < 0 ? "the files volume is missing"
		                                              : "no such file");
		return -ENOENT;
	}
	warn_limited("source \"%s\" of \"%s\" is unreadable: %s", rel,
	             node_path(g, n, vpath, sizeof(vpath)),
	             fd == -EISDIR || fd == -EPERM ? "not a regular file" : strerror(-fd));
	return -EIO;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	struct open_file *fh = NULL;
	bool stale_size = false;
	struct vnode v;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		r = -EROFS;
		goto fail;
	}
	r = resolve(g, ino, &v);
	if (r < 0)
		goto fail;
	if (vnode_is_dir(&v)) {
		r = -EISDIR;
		goto fail;
	}
	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		r = -ENOMEM;
		goto fail;
	}
	fh->magic = HANDLE_FILE_MAGIC;
	fh->fd = -1;
	attr_of(f, g, &v, &fh->st);
	fi->keep_cache = 0;
	if (v.kind == VN_ERROR_FILE) {
		fh->kind = FH_TEXT;
		fh->text = malloc(g->error_len + 1);
		if (!fh->text) {
			r = -ENOMEM;
			goto fail;
		}
		memcpy(fh->text, g->error_text, g->error_len);
		fh->text_len = g->error_len;
	} else {
		off_t shown = fh->st.st_size;

		r = open_source(f, g, v.node, fh);
		if (r < 0)
			goto fail;
		fi->keep_cache = r == 1;
		/* open_source() measured the source: it may differ from the size shown. */
		attr_of(f, g, &v, &fh->st);
		stale_size =
		    fh->st.st_size != shown || (!(v.node->flags & SNAP_NODE_F_SIZE_UNKNOWN) &&
		                                (uint64_t)fh->st.st_size != v.node->size);
	}
	/*
	 * The kernel may hold another size than the source's (the snapshot's, from a
	 * lookup or readdirplus, or an older measurement): drop its attributes now,
	 * before the reply, so that the opener's first fstat or read past the old end
	 * asks again.  After the reply would be too late: the reply wakes the opener,
	 * whose fstat can come first (see docs/fused.md, "Sizes").  Attributes only:
	 * pages of a changed source go because keep_cache is off then.  Allowed
	 * here: the kernel holds no lock of the inode while a plain open (no
	 * O_TRUNC, refused above) waits, and without writeback caching the
	 * notification never blocks (fuse_lowlevel.h).
	 */
	if (stale_size)
		(void)fuse_lowlevel_notify_inval_inode(f->se, ino, -1, 0);
	fi->noflush = 1;
	fi->fh = (uintptr_t)fh;
	handle_link(f, &fh->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		handle_unlink(f, &fh->link);
		open_file_free(fh); /* interrupted: no release will come */
	}
	generation_put(g);
	return;
fail:
	open_file_free(fh);
	reply_err(req, -r);
	generation_put(g);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	struct open_file *fh = open_file_of(fi);
	char *buf;
	ssize_t n;

	if (!fh) {
		reply_err(req, EBADF);
		return;
	}
	switch (fh->kind) {
	case FH_FD: {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = fh->fd;
		bv.buf[0].pos = off;
		/* Replies itself, with the error of a failed read too. */
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	case FH_WEBDAV:
		buf = malloc(size ? size : 1);
		if (!buf) {
			reply_err(req, ENOMEM);
			return;
		}
		n = webdav_file_read(fh->dav, buf, size, off);
		if (n < 0) {
			warn_limited("WebDAV read of inode %" PRIu64 " at %lld failed: %s",
			             (uint64_t)ino, (long long)off, strerror((int)-n));
			reply_err(req, n == -ENOENT ? ENOENT : EIO);
		} else {
			fuse_reply_buf(req, buf, (size_t)n);
		}
		free(buf);
		return;
	case FH_TEXT:
	default:
		if (off < 0 || (size_t)off >= fh->text_len) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		n = (ssize_t)(fh->text_len - (size_t)off < size ? fh->text_len - (size_t)off
		                                                : size);
		/*
		 * Reply from a copy: the kernel may complete this read, and so let a
		 * release of the handle run on another thread, before fuse_reply_buf()
		 * has returned here.
		 */
		buf = malloc((size_t)n);
		if (!buf) {
			reply_err(req, ENOMEM);
			return;
		}
		memcpy(buf, fh->text + off, (size_t)n);
		fuse_reply_buf(req, buf, (size_t)n);
		free(buf);
		return;
	}
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct open_file *fh = open_file_of(fi);

	if (fh)
		handle_unlink(fuse_req_userdata(req), &fh->link);
	open_file_free(fh);
	reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	reply_err(req, 0); /* nothing is ever dirty */
}

/* ---- directories ---------------------------------------------------------- */

/*
 * With fuse.dir_ttl_ms > 0 (the default), opendir answers ENOSYS once: the kernel
 * then never sends opendir or releasedir again and caches every listing until
 * told otherwise (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR, its default without
 * opendir), which saves two round trips per directory of a walk.  Reloads tell
 * it exactly which listings changed (invalidate.c).  With dir_ttl_ms = 0 a
 * directory handle pins the generation it lists and nothing is cached.
 */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g;
	struct dir_handle *dh;
	struct vnode v;
	int r;

	if (f->dir_ttl_ns > 0) {
		reply_err(req, ENOSYS);
		return;
	}
	g = begin(f);
	r = resolve(g, ino, &v);
	if (r == 0 && !vnode_is_dir(&v))
		r = -ENOTDIR;
	if (r == 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		r = -EROFS;
	if (r == 0 && !(dh = calloc(1, sizeof(*dh))))
		r = -ENOMEM;
	if (r < 0) {
		reply_err(req, -r);
		generation_put(g);
		return;
	}
	dh->magic = HANDLE_DIR_MAGIC;
	dh->id = ino;
	pthread_mutex_init(&dh->lock, NULL);
	dh->gen = g; /* the reference moves to the handle */
	fi->fh = (uintptr_t)dh;
	fi->cache_readdir = 0;
	fi->keep_cache = 0;
	handle_link(f, &dh->link);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		handle_unlink(f, &dh->link);
		dir_handle_free(dh);
	}
}

static struct dir_handle *dir_handle(const struct fuse_file_info *fi)
{
	struct dir_handle *dh = fi ? (struct dir_handle *)(uintptr_t)fi->fh : NULL;

	return dh && dh->magic == HANDLE_DIR_MAGIC ? dh : NULL;
}

/*
 * The buffer a listing is built in: one per thread, kept, since the kernel asks
 * for up to 128 KiB per call and a fresh allocation of that size is an mmap()
 * and munmap() each time.  *size is capped at LISTING_MAX.
 */
#define LISTING_MAX (1024 * 1024)

static pthread_key_t listing_key;
static pthread_once_t listing_once = PTHREAD_ONCE_INIT;

struct listing_buf {
	size_t cap;
	char data[];
};

static void listing_key_init(void)
{
	pthread_key_create(&listing_key, free);
}

static char *listing_buffer(size_t *size)
{
	struct listing_buf *b;

	if (*size > LISTING_MAX)
		*size = LISTING_MAX;
	pthread_once(&listing_once, listing_key_init);
	b = pthread_getspecific(listing_key);
	if (!b || b->cap < *size) {
		free(b);
		b = malloc(sizeof(*b) + *size);
		pthread_setspecific(listing_key, b);
		if (!b)
			return NULL;
		b->cap = *size;
	}
	return b->data;
}

/*
 * One listing position: 0 ".", 1 "..", then ERROR.txt in the root while it
 * exists, then the children in name order.  An entry's offset is its position
 * + 1, so offsets are stable within a generation.
 */
static void list_dir(fuse_req_t req, struct fused *f, const struct generation *g, uint64_t id,
                     size_t size, off_t off, bool plus)
{
	const struct snap_node *children = NULL;
	uint64_t parent_id = FUSE_ROOT_ID;
	uint32_t count = 0, base;
	struct vnode v;
	size_t len = 0;
	char *buf;

	if (off < 0 || resolve(g, id, &v) < 0 || !vnode_is_dir(&v)) {
		fuse_reply_buf(req, NULL, 0); /* gone from the tree: an empty listing */
		return;
	}
	if (v.kind == VN_NODE) {
		children = snapshot_children(g->snap, v.node, &count);
		if (v.node->id != FUSE_ROOT_ID)
			parent_id = snapshot_parent(g->snap, v.node)->id;
	}
	base = 2 + (id == FUSE_ROOT_ID && g->error_text ? 1 : 0);

	buf = listing_buffer(&size);
	if (!buf) {
		reply_err(req, ENOMEM);
		return;
	}
	for (uint64_t pos = (uint64_t)off; pos < (uint64_t)base + count; pos++) {
		struct fuse_entry_param e;
		struct vnode cv;
		const char *name;
		size_t need;

		if (pos < 2) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = pos == 0 ? id : parent_id;
			e.attr.st_mode = S_IFDIR;
			name = pos == 0 ? "." : "..";
		} else {
			if (pos < base) {
				cv = (struct vnode){.kind = VN_ERROR_FILE};
				name = ERROR_FILE_NAME;
			} else {
				cv = (struct vnode){.kind = VN_NODE, .node = &children[pos - base]};
				name = snapshot_str(g->snap, cv.node->name);
				/* The virtual ERROR.txt hides a real one while it is shown. */
				if (base == 3 && is_error_name(name, cv.node->name.len))
					continue;
			}
			if (plus) {
				entry_of(f, g, &cv, &e);
			} else {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = vnode_id(&cv);
				e.attr.st_mode = vnode_is_dir(&cv) ? S_IFDIR : S_IFREG;
			}
		}
		if (plus)
			need = fuse_add_direntry_plus(req, buf + len, size - len, name, &e,
			                              (off_t)pos + 1);
		else
			need = fuse_add_direntry(req, buf + len, size - len, name, &e.attr,
			                         (off_t)pos + 1);
		if (need > size - len)
			break;
		len += need;
	}
	fuse_reply_buf(req, buf, len);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, bool plus)
{
	struct fused *f = fuse_req_userdata(req);
	struct dir_handle *dh = dir_handle(fi);
	struct generation *g;

	if (!dh) {
		/* No opendir (dir_ttl_ms > 0): each call lists the current generation. */
		g = begin(f);
		list_dir(req, f, g, ino, size, off, plus);
		generation_put(g);
		return;
	}
	pthread_mutex_lock(&dh->lock);
	if (off == 0) {
		/* A listing that starts over sees the current tree. */
		generation_put(dh->gen);
		dh->gen = begin(f);
	}
	list_dir(req, f, dh->gen, dh->id, size, off, plus);
	pthread_mutex_unlock(&dh->lock);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *dh = dir_handle(fi);

	if (dh)
		handle_unlink(fuse_req_userdata(req), &dh->link);
	dir_handle_free(dh);
	reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	reply_err(req, 0);
}

/* ---- extended attributes -------------------------------------------------- */

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	const char *value;
	struct vnode v;
	size_t len;
	int r;

	r = resolve(g, ino, &v);
	if (r < 0)
		goto fail;
	r = -ENODATA;
	if (strncmp(name, XATTR_PREFIX, XATTR_PREFIX_LEN) != 0 || v.kind != VN_NODE ||
	    snapshot_node_is_dir(v.node))
		goto fail;
	value = snapshot_prop(g->snap, v.node, name + XATTR_PREFIX_LEN);
	if (!value)
		goto fail;
	len = strlen(value);
	if (len > XATTR_SIZE_MAX) {
		r = -E2BIG;
		goto fail;
	}
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
	generation_put(g);
	return;
fail:
	reply_err(req, -r);
	generation_put(g);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fused *f = fuse_req_userdata(req);
	struct generation *g = begin(f);
	const struct snap_prop *props = NULL;
	uint32_t count = 0;
	size_t total = 0, len = 0;
	struct vnode v;
	char *buf;

	if (resolve(g, ino, &v) < 0) {
		reply_err(req, ENOENT);
		goto out;
	}
	if (v.kind == VN_NODE && !snapshot_node_is_dir(v.node))
		props = snapshot_props(g->snap, v.node, &count);
	for (uint32_t i = 0; i < count; i++)
		if (XATTR_PREFIX_LEN + props[i].key.len <= XATTR_NAME_MAX)
			total += XATTR_PREFIX_LEN + props[i].key.len + 1;
	if (total > XATTR_LIST_MAX) {
		reply_err(req, E2BIG);
		goto out;
	}
	if (size == 0) {
		fuse_reply_xattr(req, total);
		goto out;
	}
	if (total > size) {
		reply_err(req, ERANGE);
		goto out;
	}
	buf = malloc(total ? total : 1);
	if (!buf) {
		reply_err(req, ENOMEM);
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (XATTR_PREFIX_LEN + props[i].key.len > XATTR_NAME_MAX)
			continue;
		memcpy(buf + len, XATTR_PREFIX, XATTR_PREFIX_LEN);
		len += XATTR_PREFIX_LEN;
		memcpy(buf + len, snapshot_str(g->snap, props[i].key), props[i].key.len + 1);
		len += props[i].key.len + 1;
	}
	fuse_reply_buf(req, buf, len);
	free(buf);
out:
	generation_put(g);
}

/* ---- everything that would write ------------------------------------------ */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
	reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_err(req, EROFS);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
	reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
	reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
	reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
	reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_err(req, EROFS);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
	reply_err(req, EROFS);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                               struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                               struct fuse_file_info *fi_out, size_t len, int flags)
{
	reply_err(req, EROFS);
}

/* ---- counting ------------------------------------------------------------ */

const char *const fused_op_names[FOP_MAX] = {
    [FOP_LOOKUP] = "lookup",
    [FOP_FORGET] = "forget",
    [FOP_GETATTR] = "getattr",
    [FOP_ACCESS] = "access",
    [FOP_STATFS] = "statfs",
    [FOP_OPEN] = "open",
    [FOP_READ] = "read",
    [FOP_RELEASE] = "release",
    [FOP_FSYNC] = "fsync",
    [FOP_OPENDIR] = "opendir",
    [FOP_READDIR] = "readdir",
    [FOP_READDIRPLUS] = "readdirplus",
    [FOP_RELEASEDIR] = "releasedir",
    [FOP_FSYNCDIR] = "fsyncdir",
    [FOP_GETXATTR] = "getxattr",
    [FOP_LISTXATTR] = "listxattr",
    [FOP_SETATTR] = "setattr",
    [FOP_MKNOD] = "mknod",
    [FOP_MKDIR] = "mkdir",
    [FOP_UNLINK] = "unlink",
    [FOP_RMDIR] = "rmdir",
    [FOP_SYMLINK] = "symlink",
    [FOP_RENAME] = "rename",
    [FOP_LINK] = "link",
    [FOP_WRITE] = "write",
    [FOP_CREATE] = "create",
    [FOP_SETXATTR] = "setxattr",
    [FOP_REMOVEXATTR] = "removexattr",
    [FOP_FALLOCATE] = "fallocate",
    [FOP_COPY_FILE_RANGE] = "copy_file_range",
};

/*
 * counted_NAME: the handler op_NAME, counted as operation ID in f->metrics
 * (lib/fuse_metrics.c: relaxed atomic additions, no lock): whether its answer
 * was an errno, and the time from the handler's start to the end of its answer
 * (for a read: the splice of the bytes into /dev/fuse).  The handler's request
 * is gone once answered, so f is taken first.
 */
#define COUNTED(NAME, ID, PARAMS, ARGS)                                   \
	static void counted_##NAME PARAMS                                 \
	{                                                                 \
		struct fused *f_ = fuse_req_userdata(req);                \
		int64_t t0_ = now_mono_ns();                              \
                                                                          \
		answered_errno = 0;                                       \
		op_##NAME ARGS;                                           \
		fuse_metrics_record(f_->metrics, ID, answered_errno == 0, \
		                    (uint64_t)(now_mono_ns() - t0_));     \
	}

#define FI struct fuse_file_info *fi /* only to keep the lines below short */
COUNTED(lookup, FOP_LOOKUP, (fuse_req_t req, fuse_ino_t parent, const char *name),
        (req, parent, name))
COUNTED(forget, FOP_FORGET, (fuse_req_t req, fuse_ino_t ino, uint64_t nlookup), (req, ino, nlookup))
COUNTED(forget_multi, FOP_FORGET, (fuse_req_t req, size_t count, struct fuse_forget_data *fd),
        (req, count, fd))
COUNTED(getattr, FOP_GETATTR, (fuse_req_t req, fuse_ino_t ino, FI), (req, ino, fi))
COUNTED(access, FOP_ACCESS, (fuse_req_t req, fuse_ino_t ino, int mask), (req, ino, mask))
COUNTED(statfs, FOP_STATFS, (fuse_req_t req, fuse_ino_t ino), (req, ino))
COUNTED(open, FOP_OPEN, (fuse_req_t req, fuse_ino_t ino, FI), (req, ino, fi))
COUNTED(read, FOP_READ, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, FI),
        (req, ino, size, off, fi))
COUNTED(release, FOP_RELEASE, (fuse_req_t req, fuse_ino_t ino, FI), (req, ino, fi))
COUNTED(fsync, FOP_FSYNC, (fuse_req_t req, fuse_ino_t ino, int datasync, FI),
        (req, ino, datasync, fi))
COUNTED(opendir, FOP_OPENDIR, (fuse_req_t req, fuse_ino_t ino, FI), (req, ino, fi))
COUNTED(readdir, FOP_READDIR, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, FI),
        (req, ino, size, off, fi))
COUNTED(readdirplus, FOP_READDIRPLUS, (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, FI),
        (req, ino, size, off, fi))
COUNTED(releasedir, FOP_RELEASEDIR, (fuse_req_t req, fuse_ino_t ino, FI), (req, ino, fi))
COUNTED(fsyncdir, FOP_FSYNCDIR, (fuse_req_t req, fuse_ino_t ino, int datasync, FI),
        (req, ino, datasync, fi))
COUNTED(getxattr, FOP_GETXATTR, (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size),
        (req, ino, name, size))
COUNTED(listxattr, FOP_LISTXATTR, (fuse_req_t req, fuse_ino_t ino, size_t size), (req, ino, size))
COUNTED(setattr, FOP_SETATTR, (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, FI),
        (req, ino, attr, to_set, fi))
COUNTED(mknod, FOP_MKNOD,
        (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev),
        (req, parent, name, mode, rdev))
COUNTED(mkdir, FOP_MKDIR, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode),
        (req, parent, name, mode))
COUNTED(unlink, FOP_UNLINK, (fuse_req_t req, fuse_ino_t parent, const char *name),
        (req, parent, name))
COUNTED(rmdir, FOP_RMDIR, (fuse_req_t req, fuse_ino_t parent, const char *name),
        (req, parent, name))
COUNTED(symlink, FOP_SYMLINK,
        (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name),
        (req, link, parent, name))
COUNTED(rename, FOP_RENAME,
        (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
         const char *newname, unsigned int flags),
        (req, parent, name, newparent, newname, flags))
COUNTED(link, FOP_LINK, (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname),
        (req, ino, newparent, newname))
COUNTED(write, FOP_WRITE,
        (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, FI),
        (req, ino, buf, size, off, fi))
COUNTED(create, FOP_CREATE, (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, FI),
        (req, parent, name, mode, fi))
COUNTED(setxattr, FOP_SETXATTR,
        (fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
         int flags),
        (req, ino, name, value, size, flags))
COUNTED(removexattr, FOP_REMOVEXATTR, (fuse_req_t req, fuse_ino_t ino, const char *name),
        (req, ino, name))
COUNTED(fallocate, FOP_FALLOCATE,
        (fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, FI),
        (req, ino, mode, offset, length, fi))
COUNTED(copy_file_range, FOP_COPY_FILE_RANGE,
        (fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
         fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags),
        (req, ino_in, off_in, fi_in, ino_out, off_out, fi_out, len, flags))
#undef FI
#undef COUNTED

const struct fuse_lowlevel_ops fused_ops = {
    .init = op_init,
    .lookup = counted_lookup,
    .forget = counted_forget,
    .forget_multi = counted_forget_multi,
    .getattr = counted_getattr,
    .access = counted_access,
    .statfs = counted_statfs,
    .open = counted_open,
    .read = counted_read,
    .release = counted_release,
    .fsync = counted_fsync,
    .opendir = counted_opendir,
    .readdir = counted_readdir,
    .readdirplus = counted_readdirplus,
    .releasedir = counted_releasedir,
    .fsyncdir = counted_fsyncdir,
    .getxattr = counted_getxattr,
    .listxattr = counted_listxattr,
    .setattr = counted_setattr,
    .mknod = counted_mknod,
    .mkdir = counted_mkdir,
    .unlink = counted_unlink,
    .rmdir = counted_rmdir,
    .symlink = counted_symlink,
    .rename = counted_rename,
    .link = counted_link,
    .write = counted_write,
    .create = counted_create,
    .setxattr = counted_setxattr,
    .removexattr = counted_removexattr,
    .fallocate = counted_fallocate,
    .copy_file_range = counted_copy_file_range,
};
