/*
 * snapshot_share: the sealed copy of the published snapshot and the socket that
 * hands it to readers (see snapshot_share.h).
 */
#include "snapshot_share.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"

/* What a reader receives, with the copy's descriptor when there is one. */
struct share_msg {
	char magic[8]; /* SHARE_MAGIC */
	uint64_t size; /* the copy's size; 0: no copy (and no descriptor) */
};

/* A memfd allocated ahead, for the next copy (snapshot_share_prepare()). */
struct share_spare {
	pthread_t thread;
	bool making; /* the thread runs or has not been joined */
	int fd;      /* -1: none */
	uint64_t len;
};

struct snapshot_share {
	int listen_fd;
	pthread_t thread;
	bool thread_started;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_mutex_t lock; /* guards memfd, size and making against the answering thread */
	int memfd;            /* -1: none */
	uint64_t size;
	bool making;         /* a copy is made on the maker thread: answers wait for it */
	pthread_cond_t made; /* making went false */
	pthread_t maker;     /* snapshot_share_set_async()'s thread, to join */
	bool maker_started;
	pthread_mutex_t spare_lock; /* guards spare: prepared on the loop, taken by a build */
	struct share_spare spare;
	atomic_int closing; /* old copies handed to close_later(), not closed yet */
};

static int socket_address(const char *path, struct sockaddr_un *sa, char *why, size_t wl)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return errbuf_set(why, wl, -ENAMETOOLONG, "%s: path too long for a socket", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* ---- kvwatch's side ---- */

/* One message on a fresh connection; never blocks (a reader that does not read loses it). */
static void answer(struct snapshot_share *sh, int conn)
{
	struct share_msg m;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;

	memset(&m, 0, sizeof(m));
	memcpy(m.magic, SHARE_MAGIC, sizeof(m.magic));
	pthread_mutex_lock(&sh->lock);
	if (sh->making) {
		/* The copy of the file just published is on its way: worth a wait. */
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)SHARE_MAKING_WAIT_MS * 1000000;
		until.tv_sec += until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		while (sh->making && pthread_cond_timedwait(&sh->made, &sh->lock, &until) == 0)
			;
	}
	if (sh->memfd >= 0) {
		m.size = sh->size;
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &sh->memfd, sizeof(int));
	}
	/* The message takes its own reference: the copy may be replaced right after. */
	(void)sendmsg(conn, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	pthread_mutex_unlock(&sh->lock);
}

static void *answer_thread(void *arg)
{
	struct snapshot_share *sh = arg;

	for (;;) {
		int conn = accept4(sh->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(10000); /* out of descriptors: let some close */
				continue;
			}
			return NULL; /* shut down by snapshot_share_close() */
		}
		answer(sh, conn);
		close(conn);
	}
}

int snapshot_share_open(const char *dir, struct snapshot_share **ret, char *why, size_t wl)
{
	struct snapshot_share *sh = calloc(1, sizeof(*sh));
	struct sockaddr_un sa;
	int r;

	if (sh == NULL)
		return errbuf_set(why, wl, -ENOMEM, "out of memory");
	sh->memfd = -1;
	sh->listen_fd = -1;
	sh->spare.fd = -1;
	pthread_mutex_init(&sh->lock, NULL);
	pthread_mutex_init(&sh->spare_lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&sh->made, &ca);
		pthread_condattr_destroy(&ca);
	}
	if ((size_t)snprintf(sh->path, sizeof(sh->path), "%s/%s", dir, SNAP_SHARE_NAME) >=
	    sizeof(sh->path)) {
		r = errbuf_set(why, wl, -ENAMETOOLONG, "%s/%s: path too long for a socket", dir,
		               SNAP_SHARE_NAME);
		goto fail;
	}
	r = socket_address(sh->path, &sa, why, wl);
	if (r < 0)
		goto fail;
	sh->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sh->listen_fd < 0) {
		r = errbuf_set(why, wl, -errno, "socket: %s", strerror(errno));
		goto fail;
	}
	/* A socket left by an earlier kvwatch answers nobody: replace it. */
	if (unlink(sh->path) < 0 && errno != ENOENT) {
		r = errbuf_set(why, wl, -errno, "%s: %s", sh->path, strerror(errno));
		goto fail;
	}
	if (bind(sh->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sh->path, 0666) < 0 || listen(sh->listen_fd, 64) < 0) {
		r = errbuf_set(why, wl, -errno, "%s: %s", sh->path, strerror(errno));
		goto fail;
	}
	r = -pthread_create(&sh->thread, NULL, answer_thread, sh);
	if (r < 0) {
		errbuf_set(why, wl, r, "starting the thread of %s: %s", sh->path, strerror(-r));
		goto fail;
	}
	sh->thread_started = true;
	*ret = sh;
	return 0;
fail:
	snapshot_share_close(sh);
	return r;
}

/* Copy [0, size) of in into out: in the kernel, else by read and write. */
static int copy_into(int in, int out, uint64_t size)
{
	off_t off = 0;
	char buf[65536];

	while ((uint64_t)off < size) {
		size_t want = size - (uint64_t)off > (1u << 30) ? (1u << 30) : size - (uint64_t)off;
		ssize_t n = sendfile(out, in, &off, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EINVAL || errno == ENOSYS))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA; /* cut under us */
	}
	while ((uint64_t)off < size) {
		size_t want =
		    size - (uint64_t)off > sizeof(buf) ? sizeof(buf) : size - (uint64_t)off;
		ssize_t n = pread(in, buf, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ENODATA;
		if (pwrite(out, buf, (size_t)n, off) != n)
			return errno ? -errno : -EIO;
		off += n;
	}
	return 0;
}

static int new_memfd(void)
{
	return memfd_create("meta-fuse-vfs", MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

/* [from, to) of data written into fd at the same offsets. */
struct write_part {
	int fd;
	const unsigned char *data;
	uint64_t from, to;
	int r;
};

static void *write_part(void *arg)
{
	struct write_part *w = arg;
	uint64_t done = w->from;

	w->r = 0;
	while (done < w->to) {
		ssize_t n = pwrite(w->fd, w->data + done, w->to - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	return NULL;
}

/* From this size on the copy from memory is written by two threads, a half each. */
#define WRITE_SPLIT_MIN ((uint64_t)4 << 20)

/* Write [0, size) of data into fd: the copy into memory is the CPU's, and it splits. */
static int write_from(int fd, const unsigned char *data, uint64_t size)
{
	struct write_part head = {.fd = fd, .data = data, .from = 0, .to = size}, tail = head;
	pthread_t helper;
	bool split = false;

	if (size >= WRITE_SPLIT_MIN) {
		tail.from = head.to = (size / 2) & ~(uint64_t)4095;
		split = pthread_create(&helper, NULL, write_part, &tail) == 0;
		if (!split)
			head.to = size;
	}
	write_part(&head);
	if (split)
		pthread_join(helper, NULL);
	return head.r < 0 ? head.r : split ? tail.r : 0;
}

static void spare_free(struct share_spare *sp)
{
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	sp->len = 0;
}

static void *spare_main(void *arg)
{
	struct share_spare *sp = arg;

	sp->fd = new_memfd();
	/* fallocate: a full tmpfs is an error now, and the copy finds its pages there. */
	if (sp->fd >= 0 && fallocate(sp->fd, 0, 0, (off_t)sp->len) < 0)
		spare_free(sp);
	return NULL;
}

/* The spare, once its thread is done; with spare_lock held. */
static struct share_spare *spare_join(struct snapshot_share *sh)
{
	if (sh->spare.making) {
		pthread_join(sh->spare.thread, NULL);
		sh->spare.making = false;
	}
	return &sh->spare;
}

void snapshot_share_prepare(struct snapshot_share *sh, uint64_t size)
{
	if (sh == NULL || size == 0)
		return;
	pthread_mutex_lock(&sh->spare_lock);
	if (!sh->spare.making && sh->spare.fd < 0) {
		sh->spare.len = size;
		sh->spare.making =
		    pthread_create(&sh->spare.thread, NULL, spare_main, &sh->spare) == 0;
	}
	pthread_mutex_unlock(&sh->spare_lock);
}

void snapshot_share_drop_spare(struct snapshot_share *sh)
{
	if (sh == NULL)
		return;
	pthread_mutex_lock(&sh->spare_lock);
	spare_free(spare_join(sh));
	pthread_mutex_unlock(&sh->spare_lock);
}

/*
 * A memfd holding [0, size) of fd (or data), not sealed yet: the spare when
 * there is one large enough (its pages are there: the copy is a copy of bytes),
 * else a new one.  Returns 1 for the spare, 0 for a new one.
 */
static int fill_copy(struct snapshot_share *sh, int fd, const void *data, uint64_t size, int *ret)
{
	struct share_spare *sp;
	bool spared;
	int mfd = -1, r;

	pthread_mutex_lock(&sh->spare_lock);
	sp = spare_join(sh);
	spared = sp->fd >= 0 && sp->len >= size;
	if (spared) {
		mfd = sp->fd;
		sp->fd = -1;
	} else {
		spare_free(sp); /* too small for this snapshot: it will not grow */
		mfd = new_memfd();
	}
	pthread_mutex_unlock(&sh->spare_lock);
	if (mfd < 0)
		return -errno;
	r = data != NULL ? write_from(mfd, data, size) : copy_into(fd, mfd, size);
	/* The spare may have room to spare: the copy is the file's size. */
	if (r == 0 && spared && ftruncate(mfd, (off_t)size) < 0)
		r = -errno;
	if (r < 0) {
		close(mfd);
		return r;
	}
	*ret = mfd;
	return spared;
}

/* A new memfd holding [0, size) of fd, sealed; -errno with why. */
static int sealed_copy(struct snapshot_share *sh, int fd, const void *data, uint64_t size, int *ret,
                       char *why, size_t wl)
{
	int mfd = -1, r, spared;

	spared = r = fill_copy(sh, fd, data, size, &mfd);
	if (r < 0)
		return errbuf_set(why, wl, r, "copying the snapshot: %s", strerror(-r));
	if (fcntl(mfd, F_ADD_SEALS, SHARE_SEALS_REQUIRED | F_SEAL_SEAL) < 0) {
		r = errbuf_set(why, wl, -errno, "sealing the copy: %s", strerror(errno));
		close(mfd);
		return r;
	}
	*ret = mfd;
	return spared;
}

struct closing {
	struct snapshot_share *sh;
	int fd;
};

static void *close_main(void *arg)
{
	struct closing *c = arg;

	close(c->fd);
	atomic_fetch_sub(&c->sh->closing, 1);
	free(c);
	return NULL;
}

/*
 * Close the copy served before: when no reader maps it any more that frees its
 * pages, which costs about as much as the copy did; a thread of its own pays
 * it, not the publication waiting for its rename.
 */
static void close_later(struct snapshot_share *sh, int fd)
{
	struct closing *c = malloc(sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	bool started = false;

	if (c != NULL) {
		*c = (struct closing){.sh = sh, .fd = fd};
		atomic_fetch_add(&sh->closing, 1);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&t, &attr, close_main, c) == 0;
		pthread_attr_destroy(&attr);
		if (!started) {
			atomic_fetch_sub(&sh->closing, 1);
			free(c);
		}
	}
	if (!started)
		close(fd);
}

/* The copy, sealed, served from now on (or, r < 0, none); answers waiting are let go. */
static void serve(struct snapshot_share *sh, int r, int mfd, uint64_t size)
{
	int old;

	pthread_mutex_lock(&sh->lock);
	old = sh->memfd;
	sh->memfd = r < 0 ? -1 : mfd;
	sh->size = r < 0 ? 0 : size;
	sh->making = false;
	pthread_cond_broadcast(&sh->made);
	pthread_mutex_unlock(&sh->lock);
	if (old >= 0)
		close_later(sh, old);
}

/* A copy made on the maker thread is served before any later one. */
static void maker_join(struct snapshot_share *sh)
{
	if (sh->maker_started) {
		pthread_join(sh->maker, NULL);
		sh->maker_started = false;
	}
}

int snapshot_share_set(struct snapshot_share *sh, int fd, const void *data, uint64_t size,
                       char *why, size_t wl)
{
	int mfd = -1, r;

	maker_join(sh);
	r = sealed_copy(sh, fd, data, size, &mfd, why, wl);
	serve(sh, r, mfd, size);
	return r;
}

struct making {
	struct snapshot_share *sh;
	int fd;
	uint64_t size;
	snapshot_share_done_fn *done;
	void *ctx;
};

static void *maker_main(void *arg)
{
	struct making *mk = arg;
	struct timespec t0, t1;
	char why[256] = "";
	int mfd = -1, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sealed_copy(mk->sh, mk->fd, NULL, mk->size, &mfd, why, sizeof(why));
	serve(mk->sh, r, mfd, mk->size);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(mk->fd);
	if (mk->done != NULL)
		mk->done(mk->ctx, r, why,
		         (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec));
	free(mk);
	return NULL;
}

int snapshot_share_set_async(struct snapshot_share *sh, int fd, uint64_t size,
                             snapshot_share_done_fn *done, void *ctx, char *why, size_t wl)
{
	struct making *mk = malloc(sizeof(*mk));

	maker_join(sh);
	if (mk != NULL) {
		*mk = (struct making){.sh = sh, .size = size, .done = done, .ctx = ctx};
		mk->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	}
	if (mk == NULL || mk->fd < 0) {
		if (mk != NULL)
			free(mk);
		return snapshot_share_set(sh, fd, NULL, size, why, wl);
	}
	pthread_mutex_lock(&sh->lock);
	sh->making = true;
	pthread_mutex_unlock(&sh->lock);
	sh->maker_started = pthread_create(&sh->maker, NULL, maker_main, mk) == 0;
	if (!sh->maker_started) {
		close(mk->fd);
		free(mk);
		return snapshot_share_set(sh, fd, NULL, size, why, wl);
	}
	return 0;
}

void snapshot_share_close(struct snapshot_share *sh)
{
	if (sh == NULL)
		return;
	maker_join(sh);
	if (sh->thread_started) {
		/* Wakes the blocked accept4() with EINVAL. */
		shutdown(sh->listen_fd, SHUT_RDWR);
		pthread_join(sh->thread, NULL);
	}
	if (sh->listen_fd >= 0) {
		close(sh->listen_fd);
		unlink(sh->path);
	}
	if (sh->memfd >= 0)
		close(sh->memfd);
	snapshot_share_drop_spare(sh);
	/* The closing threads use sh: they are done before it goes. */
	while (atomic_load(&sh->closing) > 0)
		usleep(1000);
	pthread_mutex_destroy(&sh->spare_lock);
	pthread_cond_destroy(&sh->made);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/* ---- a reader's side ---- */

/* A connection to path; a listener whose queue is full answers -EAGAIN at once. */
static int connect_to(const char *path, int *ret, char *why, size_t wl)
{
	struct sockaddr_un sa;
	int s, r;

	r = socket_address(path, &sa, why, wl);
	if (r < 0)
		return r;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return errbuf_set(why, wl, -errno, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
		close(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* Wait for the one message; the descriptor it carries (or -1) in *ret_fd. */
static int receive(int s, const char *path, int timeout_ms, struct share_msg *m, int *ret_fd,
                   char *why, size_t wl)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = control.buf,
	                    .msg_controllen = sizeof(control.buf)};
	struct pollfd p = {.fd = s, .events = POLLIN};
	struct cmsghdr *c;
	ssize_t n;
	int r;

	*ret_fd = -1;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return errbuf_set(why, wl, -ETIMEDOUT, "%s: no answer within %d ms", path,
		                  timeout_ms);
	if (r < 0)
		return errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
	n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
	/* Every descriptor that came is ours to close, whatever else is wrong. */
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*ret_fd < 0)
				*ret_fd = fd;
			else
				close(fd);
		}
	}
	if ((size_t)n != sizeof(*m) || memcmp(m->magic, SHARE_MAGIC, sizeof(m->magic)) != 0 ||
	    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		r = errbuf_set(why, wl, -EPROTO, "%s: not an answer of kvwatch's (%zd bytes)", path,
		               n);
	else if (m->size == 0 && *ret_fd < 0)
		r = errbuf_set(why, wl, -ENODATA, "%s: no shared copy yet", path);
	else if (*ret_fd < 0)
		r = errbuf_set(why, wl, -EPROTO, "%s: an answer without its descriptor", path);
	else
		r = 0;
	if (r < 0 && *ret_fd >= 0) {
		close(*ret_fd);
		*ret_fd = -1;
	}
	return r;
}

/* Whether fd is a copy that can neither change nor shrink, of the announced size. */
static int check_copy(int fd, const char *path, uint64_t size, char *why, size_t wl)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return errbuf_set(why, wl, -EPERM, "%s: the copy cannot be sealed: %s", path,
		                  strerror(errno));
	if ((seals & SHARE_SEALS_REQUIRED) != SHARE_SEALS_REQUIRED)
		return errbuf_set(why, wl, -EPERM,
		                  "%s: the copy is not sealed against writing and resizing "
		                  "(seals 0x%x)",
		                  path, (unsigned)seals);
	if (fstat(fd, &st) < 0)
		return errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return errbuf_set(why, wl, -EPROTO,
		                  "%s: the copy holds %lld bytes, %llu were announced", path,
		                  (long long)st.st_size, (unsigned long long)size);
	return 0;
}

int snapshot_share_fetch(const char *path, uid_t owner, int timeout_ms, int *ret_fd, char *why,
                         size_t wl)
{
	struct share_msg m;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int s = -1, fd = -1, r;

	r = connect_to(path, &s, why, wl);
	if (r < 0)
		return r;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		r = errbuf_set(why, wl, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (cred.uid != owner && cred.uid != 0) {
		r = errbuf_set(why, wl, -EPERM,
		               "%s: served by uid %u, not by the owner of the snapshot (uid %u)",
		               path, (unsigned)cred.uid, (unsigned)owner);
		goto out;
	}
	r = receive(s, path, timeout_ms, &m, &fd, why, wl);
	if (r == 0)
		r = check_copy(fd, path, m.size, why, wl);
	if (r == 0) {
		*ret_fd = fd;
		fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	close(s);
	return r;
}
