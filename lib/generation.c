/*
 * generation: the current snapshot and reference counting (see generation.h).
 *
 * The store's pointer to the current generation is guarded by a mutex held only
 * to read or swap the pointer and take a reference; the reference count itself
 * is atomic, so dropping a reference takes no lock.  The store holds one
 * reference to the current generation; a swap hands that reference to the
 * caller of gen_store_reload() (as *ret_old), which drops it after sending the
 * invalidations.
 */
#include "generation.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "error_file.h"
#include "snapshot.h"
#include "snapshot_share.h"

struct gen_store {
	char *path;
	char *share_path; /* kvwatch's socket handing out the shared copy */
	pthread_mutex_t lock;
	struct generation *current;

	/* The last file refused, so that it is not retried until it changes. */
	bool refused_valid;
	dev_t refused_dev;
	ino_t refused_ino;
	off_t refused_size;
	int64_t refused_mtime_ns;
	char last_refusal[512]; /* the reason last reported, not reported twice in a row */
};

static int64_t now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t stat_mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void generation_free(struct generation *g)
{
	if (!g)
		return;
	snapshot_free(g->snap);
	free(g->error_text);
	free(g);
}

void generation_put(struct generation *g)
{
	if (g && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		generation_free(g);
}

/* A new generation of snap (NULL: a placeholder saying reason), one reference. */
static int generation_new(const char *path, struct snapshot *snap, const char *reason,
                          struct generation **ret)
{
	struct generation *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->loaded_ns = now_realtime_ns();
	r = error_file_render(snap, path, reason, g->loaded_ns, &g->error_text, &g->error_len,
	                      &g->error_mtime_ns);
	if (r < 0) {
		free(g);
		return r;
	}
	g->snap = snap;
	g->number = snap ? snapshot_generation(snap) : 0;
	atomic_init(&g->refs, 1);
	*ret = g;
	return 0;
}

int gen_store_new(const char *runtime_dir, struct gen_store **ret)
{
	struct gen_store *st = calloc(1, sizeof(*st));
	int r;

	if (!st)
		return -ENOMEM;
	if (asprintf(&st->path, "%s/%s", runtime_dir, SNAP_FILE_NAME) < 0) {
		free(st);
		return -ENOMEM;
	}
	if (asprintf(&st->share_path, "%s/%s", runtime_dir, SNAP_SHARE_NAME) < 0) {
		free(st->path);
		free(st);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	r = generation_new(st->path, NULL, NULL, &st->current);
	if (r < 0) {
		gen_store_free(st);
		return r;
	}
	*ret = st;
	return 0;
}

void gen_store_free(struct gen_store *st)
{
	if (!st)
		return;
	generation_put(st->current);
	pthread_mutex_destroy(&st->lock);
	free(st->share_path);
	free(st->path);
	free(st);
}

const char *generation_memory(const struct generation *g)
{
	return g->shared ? "kvwatch's shared copy" : "a private copy";
}

const char *gen_store_path(const struct gen_store *st)
{
	return st->path;
}

struct generation *gen_store_get(struct gen_store *st)
{
	struct generation *g;

	pthread_mutex_lock(&st->lock);
	g = st->current;
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&st->lock);
	return g;
}

/* Make g current; the store's reference to the old one goes to *ret_old. */
static void swap_in(struct gen_store *st, struct generation *g, struct generation **ret_old,
                    struct generation **ret_new)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed); /* the caller's */
	pthread_mutex_lock(&st->lock);
	*ret_old = st->current;
	st->current = g;
	pthread_mutex_unlock(&st->lock);
	*ret_new = g;
}

/* A refused file is not tried again until it changes. */
static void remember_refused(struct gen_store *st, const struct stat *sb)
{
	st->refused_valid = true;
	st->refused_dev = sb->st_dev;
	st->refused_ino = sb->st_ino;
	st->refused_size = sb->st_size;
	st->refused_mtime_ns = stat_mtime_ns(sb);
}

/*
 * Whether snap would roll cur back: a lower (or the same) generation built no
 * later than cur.  kvwatch continues the numbering of the file it finds at start;
 * one that starts afresh (the file was gone or refused) counts from 1 again, but
 * everything it writes is built after what is served, so it is taken.
 */
static bool is_older(const struct snapshot *snap, const struct generation *cur)
{
	if (!cur->snap)
		return false;
	return snapshot_generation(snap) <= cur->number &&
	       snapshot_header(snap)->build_time_ns <= snapshot_header(cur->snap)->build_time_ns;
}

/*
 * The shared copy of the file open as fd, from kvwatch (snapshot_share.h): 0 and
 * *ret mapped, else -errno and the file is to be loaded instead.  A reason worth
 * an operator's attention (a copy refused, a peer that is not kvwatch) goes to
 * note; that nobody serves a copy, or one of another generation, is not one,
 * nor a runtime directory too long for a socket's path (kvwatch says that once).
 */
static int load_shared(struct gen_store *st, int fd, const struct stat *sb, struct snapshot **ret,
                       char *note, size_t nl)
{
	struct snap_header file_h, copy_h;
	char why[512], refused[256]; /* refused: a reason that fits in note after the path */
	int mfd, r;

	r = snapshot_share_fetch(st->share_path, sb->st_uid, SHARE_FETCH_TIMEOUT_MS, &mfd, why,
	                         sizeof(why));
	if (r < 0) {
		if (r != -ENOENT && r != -ECONNREFUSED && r != -ENODATA && r != -ENAMETOOLONG)
			snprintf(note, nl, "%s", why);
		return r;
	}
	/* The copy kvwatch serves now is the file's, or not one to use for it. */
	if (pread(fd, &file_h, sizeof(file_h), 0) != (ssize_t)sizeof(file_h) ||
	    pread(mfd, &copy_h, sizeof(copy_h), 0) != (ssize_t)sizeof(copy_h) ||
	    memcmp(&file_h, &copy_h, sizeof(file_h)) != 0) {
		close(mfd);
		return -ESTALE;
	}
	r = snapshot_map_sealed_fd(mfd, ret, refused, sizeof(refused));
	close(mfd);
	if (r < 0 && r != -ENOMEM)
		snprintf(note, nl, "%s: the shared copy was refused: %s", st->share_path, refused);
	return r;
}

int gen_store_reload(struct gen_store *st, struct generation **ret_old, struct generation **ret_new,
                     char *err, size_t errlen)
{
	struct generation *cur, *g;
	struct snapshot *snap = NULL;
	struct stat sb;
	char note[512], why[512] = "";
	bool placeholder, same, older, shared;
	int fd, r;

	*ret_old = *ret_new = NULL;
	if (errlen)
		err[0] = '\0';

	fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		/*
		 * No file: keep serving what we have.  (kvwatch replaces the file by
		 * rename(), so a missing file is a first start or an operator's hand.)
		 */
		if (errno == ENOENT)
			return GEN_RELOAD_UNCHANGED;
		r = -errno;
		snprintf(err, errlen, "%s: %s", st->path, strerror(-r));
		goto refused;
	}
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", st->path, strerror(-r));
		close(fd);
		goto refused;
	}

	cur = gen_store_get(st);
	same = cur->snap && cur->file_dev == sb.st_dev && cur->file_ino == sb.st_ino &&
	       cur->file_size == sb.st_size && cur->file_mtime_ns == stat_mtime_ns(&sb);
	generation_put(cur);
	if (same ||
	    (st->refused_valid && st->refused_dev == sb.st_dev && st->refused_ino == sb.st_ino &&
	     st->refused_size == sb.st_size && st->refused_mtime_ns == stat_mtime_ns(&sb))) {
		close(fd);
		return GEN_RELOAD_UNCHANGED;
	}

	note[0] = '\0';
	shared = load_shared(st, fd, &sb, &snap, note, sizeof(note)) == 0;
	r = shared ? 0 : snapshot_load_fd(fd, &snap, why, sizeof(why));
	close(fd);
	if (r < 0) {
		/* Out of memory says nothing about the file: try it again next time. */
		if (r != -ENOMEM)
			remember_refused(st, &sb);
		/* The reason names the file: "…/vfs.snapshot: truncated: …". */
		errbuf_set(err, errlen, r, "%s: %s", st->path, why[0] ? why : strerror(-r));
		goto refused;
	}
	cur = gen_store_get(st);
	older = is_older(snap, cur);
	if (older)
		snprintf(err, errlen,
		         "%s: generation %" PRIu64
		         " is not newer than the served generation %" PRIu64
		         " (numbered and built before it), refusing to roll back",
		         st->path, snapshot_generation(snap), cur->number);
	generation_put(cur);
	if (older) {
		snapshot_free(snap);
		remember_refused(st, &sb);
		goto refused;
	}
	st->refused_valid = false;
	st->last_refusal[0] = '\0';

	r = generation_new(st->path, snap, NULL, &g);
	if (r < 0) {
		snapshot_free(snap);
		return r;
	}
	g->file_dev = sb.st_dev;
	g->file_ino = sb.st_ino;
	g->file_size = sb.st_size;
	g->file_mtime_ns = stat_mtime_ns(&sb);
	g->shared = shared;
	swap_in(st, g, ret_old, ret_new); /* generation_new's reference goes to the store */
	/* Served from the file, but the copy's refusal is for the operator to know. */
	snprintf(err, errlen, "%s", note);
	return GEN_RELOAD_SWITCHED;

refused:
	if (strcmp(err, st->last_refusal) == 0)
		return GEN_RELOAD_UNCHANGED;
	snprintf(st->last_refusal, sizeof(st->last_refusal), "%s", err);
	/*
	 * While there is no tree at all, ERROR.txt says why: replace the placeholder
	 * by one carrying the reason (the caller invalidates ERROR.txt).
	 */
	cur = gen_store_get(st);
	placeholder = cur->snap == NULL;
	generation_put(cur);
	if (placeholder) {
		r = generation_new(st->path, NULL, err, &g);
		if (r < 0)
			return r;
		swap_in(st, g, ret_old, ret_new);
	}
	return GEN_RELOAD_REFUSED;
}
