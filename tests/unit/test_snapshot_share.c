/*
 * Unit tests of the shared copy (snapshot_share.h) and of the reader's side of
 * it: kvwatch's socket before and after each copy it is given (sealed, the
 * file's bytes, an earlier copy left intact), a copy that cannot be made, the
 * socket's removal, many readers fetching while the copy is replaced; then
 * peers on the socket that are not kvwatch (forked servers sending garbage,
 * unsealed or foreign descriptors, too many of them, nothing at all, or
 * listening as another user): each is refused with -errno and a reason, and no
 * descriptor is left open.  snapshot_map_sealed_fd() refuses what is not
 * sealed; gen_store_reload() maps the shared copy when it is the file's and
 * loads the file otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fused_testsnap.h"
#include "generation.h"
#include "snapshot.h"
#include "snapshot_share.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NOBODY        65534

static char dir[64];
static pid_t peer_pid; /* a forked peer still listening; teardown stops it */
static char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];

static const struct tspec files_a[] = {
    {"/Movies/A (2001)/A.mkv", 100, 1000000000000000000LL, "m/a.mkv", "title=A;year=2001"},
    {"/TV/S/Season 01/S - S01E01.mkv", 200, 1000000000000000000LL, "t/e1.mkv", NULL},
};
static const struct tspec files_b[] = {
    {"/Movies/B (2002)/B.mkv", 300, 1000000000000000000LL, "m/b.mkv", "title=B;year=2002"},
};

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/mf-test-share.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/%s", dir, SNAP_SHARE_NAME);
	return 0;
}

static int remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void peer_stop(void);

static int teardown(void **state)
{
	peer_stop();
	return nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

/* A snapshot of files in dir/sub/vfs.snapshot; its path in out. */
static void write_snap(const char *sub, uint64_t gen, const struct tspec *f, size_t n, char *out,
                       size_t ol)
{
	char d[160];

	snprintf(d, sizeof(d), "%s/%s", dir, sub);
	if (mkdir(d, 0700) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: expected success, got %s", d, strerror(errno));
	assert_int_equal(tsnap_write(d, gen, f, n, NULL), 0);
	snprintf(out, ol, "%s/vfs.snapshot", d);
}

/* The whole content of path (caller frees), its size in *size. */
static unsigned char *slurp(const char *path, size_t *size)
{
	struct stat sb;
	unsigned char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*size = (size_t)sb.st_size;
	return buf;
}

/* fd holds exactly want (size bytes) and is sealed as kvwatch seals its copies. */
static void expect_copy(int fd, const unsigned char *want, size_t size, const char *what)
{
	unsigned char *got = malloc(size + 1);
	int seals = fcntl(fd, F_GET_SEALS);
	int want_seals = SHARE_SEALS_REQUIRED | F_SEAL_SEAL;
	struct stat sb;
	ssize_t n;

	assert_non_null(got);
	if (seals != want_seals)
		fail_msg("%s: expected seals 0x%x, got 0x%x", what, (unsigned)want_seals,
		         (unsigned)seals);
	assert_int_equal(fstat(fd, &sb), 0);
	if ((size_t)sb.st_size != size)
		fail_msg("%s: expected %zu bytes, got %lld", what, size, (long long)sb.st_size);
	/* One byte more than expected is asked for: a longer copy shows. */
	n = pread(fd, got, size + 1, 0);
	if (n != (ssize_t)size || memcmp(got, want, size) != 0)
		fail_msg("%s: expected the file's %zu bytes, got %zd bytes%s", what, size, n,
		         n == (ssize_t)size ? " that differ" : "");
	free(got);
}

/* Fetch from sock as a reader would; expect want (0 or -errno); the fd or -1. */
/* snapshot_share_set_async()'s end: its result in *ctx. */
static void made(void *ctx, int r, const char *why, int64_t ns)
{
	*(int *)ctx = r;
}

static int expect_fetch(uid_t owner, int timeout_ms, int want, const char *what)
{
	char why[512] = "";
	int fd = -1, r;

	r = snapshot_share_fetch(sock, owner, timeout_ms, &fd, why, sizeof(why));
	if (r != want)
		fail_msg("%s: expected %d (%s), got %d (%s: \"%s\")", what, want, strerror(-want),
		         r, strerror(-r), why);
	if (r == 0 && fd < 0)
		fail_msg("%s: expected a descriptor, got %d", what, fd);
	if (r < 0 && fd != -1)
		fail_msg("%s: expected the descriptor untouched on failure, got %d", what, fd);
	if (r < 0 && why[0] == '\0')
		fail_msg("%s: expected a reason, got none", what);
	return fd;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A sealed memfd (seals as given) holding path's bytes; size in *size. */
static int memfd_of(const char *path, int seals, size_t *size)
{
	size_t n;
	unsigned char *buf = slurp(path, &n);
	int fd = memfd_create("test-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, 0), (ssize_t)n);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	free(buf);
	if (size)
		*size = n;
	return fd;
}

/* ---- kvwatch's side ---- */

static void test_share_sequence(void **state)
{
	struct snapshot_share *sh = NULL;
	char pa[192], pb[192], cut[192], why[256];
	unsigned char *a, *b;
	size_t na, nb;
	int fa, fb, fd1, fd2, fcut, fds, r, made_r = -1;
	struct stat sb;

	write_snap("a", 5, files_a, ARRAY_SIZE(files_a), pa, sizeof(pa));
	write_snap("b", 6, files_b, ARRAY_SIZE(files_b), pb, sizeof(pb));
	a = slurp(pa, &na);
	b = slurp(pb, &nb);
	if (na == nb && memcmp(a, b, na) == 0)
		fail_msg("expected two different snapshots, got the same bytes");
	fds = count_fds();

	expect_fetch(geteuid(), 1000, -ENOENT, "no socket");

	/* A socket nobody listens on (a kvwatch killed with -9 leaves one). */
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(s);
		expect_fetch(geteuid(), 1000, -ECONNREFUSED,
		             "a socket left behind, nobody listening");
	}

	r = snapshot_share_open(dir, &sh, why, sizeof(why));
	if (r < 0)
		fail_msg("snapshot_share_open over a stale socket: expected 0, got %d (%s)", r,
		         why);
	assert_int_equal(stat(sock, &sb), 0);
	if (!S_ISSOCK(sb.st_mode) || (sb.st_mode & 0777) != 0666)
		fail_msg("%s: expected a socket of mode 0666, got mode 0%o", sock,
		         (unsigned)sb.st_mode);
	expect_fetch(geteuid(), 1000, -ENODATA, "before any copy");

	fa = open(pa, O_RDONLY | O_CLOEXEC);
	assert_true(fa >= 0);
	r = snapshot_share_set(sh, fa, NULL, na, why, sizeof(why));
	if (r < 0)
		fail_msg("snapshot_share_set(a): expected 0, got %d (%s)", r, why);
	close(fa);
	fd1 = expect_fetch(geteuid(), 1000, 0, "after the first copy");
	expect_copy(fd1, a, na, "the first copy");
	/* Writing through the received descriptor: the seals refuse it. */
	if (pwrite(fd1, "x", 1, 0) != -1 || errno != EPERM)
		fail_msg("a write to the copy: expected EPERM, got %s", strerror(errno));
	if (ftruncate(fd1, 10) != -1 || errno != EPERM)
		fail_msg("shrinking the copy: expected EPERM, got %s", strerror(errno));

	fb = open(pb, O_RDONLY | O_CLOEXEC);
	assert_true(fb >= 0);
	r = snapshot_share_set(sh, fb, NULL, nb, why, sizeof(why));
	if (r < 0)
		fail_msg("snapshot_share_set(b): expected 0, got %d (%s)", r, why);
	close(fb);
	fd2 = expect_fetch(geteuid(), 1000, 0, "after the second copy");
	expect_copy(fd2, b, nb, "the second copy");
	expect_copy(fd1, a, na, "the first copy, after the second was made");

	/* A file shorter than claimed (cut under kvwatch): no copy, none served. */
	snprintf(cut, sizeof(cut), "%s/cut", dir);
	fcut = open(cut, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fcut >= 0);
	assert_int_equal(pwrite(fcut, a, na / 2, 0), (ssize_t)(na / 2));
	why[0] = '\0';
	r = snapshot_share_set(sh, fcut, NULL, na, why, sizeof(why));
	if (r >= 0 || why[0] == '\0')
		fail_msg("a copy of a short file: expected -errno and a reason, got %d (\"%s\")", r,
		         why);
	close(fcut);
	expect_fetch(geteuid(), 1000, -ENODATA, "after a copy that failed");
	expect_copy(fd2, b, nb, "the second copy, after a failed one");

	/* The next good copy is served again. */
	fa = open(pa, O_RDONLY | O_CLOEXEC);
	assert_int_equal(snapshot_share_set(sh, fa, NULL, na, why, sizeof(why)), 0);
	close(fa);
	close(fd1);
	fd1 = expect_fetch(geteuid(), 1000, 0, "a copy made again");
	expect_copy(fd1, a, na, "the copy made again");

	/* Into a spare allocated ahead, from the caller's mapping: the same copy. */
	snapshot_share_prepare(sh, nb + 65536);
	r = snapshot_share_set(sh, -1, b, nb, why, sizeof(why));
	if (r != 1)
		fail_msg("a copy into the spare: expected 1, got %d (%s)", r, why);
	close(fd2);
	fd2 = expect_fetch(geteuid(), 1000, 0, "a copy into the spare");
	expect_copy(fd2, b, nb, "the copy into the spare (cut to the file's size)");
	/* A spare too small for the snapshot is not used. */
	snapshot_share_prepare(sh, 16);
	fa = open(pa, O_RDONLY | O_CLOEXEC);
	r = snapshot_share_set(sh, fa, NULL, na, why, sizeof(why));
	close(fa);
	if (r != 0)
		fail_msg("a copy with a spare too small: expected 0, got %d (%s)", r, why);
	close(fd1);
	fd1 = expect_fetch(geteuid(), 1000, 0, "a copy past a small spare");
	expect_copy(fd1, a, na, "the copy past a small spare");
	/* A spare prepared and never taken goes with snapshot_share_drop_spare(). */
	snapshot_share_prepare(sh, na);
	snapshot_share_drop_spare(sh);

	/* Made on a thread of its own: a reader asking meanwhile waits for it. */
	fb = open(pb, O_RDONLY | O_CLOEXEC);
	assert_true(fb >= 0);
	r = snapshot_share_set_async(sh, fb, nb, made, &made_r, why, sizeof(why));
	close(fb); /* the copy's thread has its own descriptor */
	if (r != 0)
		fail_msg("snapshot_share_set_async: expected 0, got %d (%s)", r, why);
	close(fd2);
	fd2 = expect_fetch(geteuid(), 3000, 0, "while the copy is made on its thread");
	expect_copy(fd2, b, nb, "the copy made on its thread");

	/* A copy of 4 MiB and more from memory is written by two threads: every byte in place. */
	{
		size_t nbig = ((size_t)5 << 20) + 123;
		unsigned char *big = malloc(nbig);
		int fbig;

		assert_non_null(big);
		for (size_t i = 0; i < nbig; i++)
			big[i] = (unsigned char)(i * 2654435761u >> 13);
		r = snapshot_share_set(sh, -1, big, nbig, why, sizeof(why));
		if (r != 0)
			fail_msg("a 5 MiB copy from memory: expected 0, got %d (%s)", r, why);
		fbig = expect_fetch(geteuid(), 1000, 0, "a 5 MiB copy from memory");
		expect_copy(fbig, big, nbig, "the 5 MiB copy written in two halves");
		close(fbig);
		free(big);
	}

	snapshot_share_close(sh);
	if (made_r != 0)
		fail_msg("the copy made on its thread: expected done with 0, got %d", made_r);
	if (lstat(sock, &sb) == 0 || errno != ENOENT)
		fail_msg("after snapshot_share_close: expected %s gone, got %s", sock,
		         strerror(errno));
	expect_fetch(geteuid(), 1000, -ENOENT, "after snapshot_share_close");
	expect_copy(fd2, b, nb, "a copy received before the close");
	close(fd1);
	close(fd2);
	if (count_fds() != fds)
		fail_msg("descriptors: expected %d open, got %d", fds, count_fds());
	free(a);
	free(b);
}

/* Readers fetching while kvwatch replaces the copy: each gets one whole copy. */
struct racer {
	const unsigned char *a, *b;
	size_t na, nb;
	int rounds;
	atomic_int *done; /* readers finished */
	int got_a, got_b, none;
	char failure[400];
};

static void *race_fetch(void *arg)
{
	struct racer *rc = arg;

	/* At least rounds fetches, more until both copies were seen (up to a limit). */
	for (int i = 0; (i < rc->rounds || !(rc->got_a && rc->got_b)) && i < 20 * rc->rounds &&
	                rc->failure[0] == '\0';
	     i++) {
		char why[256];
		unsigned char *buf;
		struct stat sb;
		int fd, r = snapshot_share_fetch(sock, geteuid(), 5000, &fd, why, sizeof(why));

		if (r == -ENODATA) {
			rc->none++;
			continue;
		}
		if (r < 0) {
			snprintf(rc->failure, sizeof(rc->failure),
			         "fetch %d: expected 0, got %d (%s)", i, r, why);
			break;
		}
		fstat(fd, &sb);
		buf = malloc((size_t)sb.st_size + 1);
		if (buf != NULL && pread(fd, buf, (size_t)sb.st_size, 0) == sb.st_size &&
		    (size_t)sb.st_size == rc->na && memcmp(buf, rc->a, rc->na) == 0)
			rc->got_a++;
		else if (buf != NULL && (size_t)sb.st_size == rc->nb &&
		         memcmp(buf, rc->b, rc->nb) == 0)
			rc->got_b++;
		else
			snprintf(rc->failure, sizeof(rc->failure),
			         "fetch %d: expected copy a or b, got %lld other bytes", i,
			         (long long)sb.st_size);
		free(buf);
		close(fd);
	}
	atomic_fetch_add(rc->done, 1);
	return NULL;
}

static void test_share_race(void **state)
{
	struct racer rc[3];
	pthread_t t[3];
	struct snapshot_share *sh;
	char pa[192], pb[192], why[256];
	unsigned char *a, *b;
	size_t na, nb;
	atomic_int done = 0;
	int fa, fb, fds;

	write_snap("a", 5, files_a, ARRAY_SIZE(files_a), pa, sizeof(pa));
	write_snap("b", 6, files_b, ARRAY_SIZE(files_b), pb, sizeof(pb));
	a = slurp(pa, &na);
	b = slurp(pb, &nb);
	fds = count_fds();
	fa = open(pa, O_RDONLY | O_CLOEXEC);
	fb = open(pb, O_RDONLY | O_CLOEXEC);
	assert_true(fa >= 0 && fb >= 0);
	assert_int_equal(snapshot_share_open(dir, &sh, why, sizeof(why)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		rc[i] = (struct racer){
		    .a = a, .b = b, .na = na, .nb = nb, .rounds = 150, .done = &done};
		assert_int_equal(pthread_create(&t[i], NULL, race_fetch, &rc[i]), 0);
	}
	/* Replaced again and again while they fetch. */
	for (int i = 0; atomic_load(&done) < (int)ARRAY_SIZE(t); i++) {
		int r = snapshot_share_set(sh, i % 2 ? fb : fa, NULL, i % 2 ? nb : na, why,
		                           sizeof(why));

		if (r < 0)
			fail_msg("set %d: expected 0, got %d (%s)", i, r, why);
	}
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		pthread_join(t[i], NULL);
		if (rc[i].failure[0] != '\0')
			fail_msg("reader %zu: %s", i, rc[i].failure);
		printf("# reader %zu: %d copies of a, %d of b, %d times none\n", i, rc[i].got_a,
		       rc[i].got_b, rc[i].none);
		if (rc[i].got_a == 0 || rc[i].got_b == 0)
			fail_msg("reader %zu: expected both copies while they were replaced, got "
			         "%d of a, %d of b",
			         i, rc[i].got_a, rc[i].got_b);
	}
	snapshot_share_close(sh);
	close(fa);
	close(fb);
	if (count_fds() != fds)
		fail_msg("descriptors after the race: expected %d open, got %d", fds, count_fds());
	free(a);
	free(b);
}

/* ---- peers that are not kvwatch ---- */

enum peer {
	PEER_SILENT,       /* accepts, never answers */
	PEER_CLOSE,        /* accepts and closes */
	PEER_GARBAGE,      /* bytes that are not an answer, no descriptor */
	PEER_SHORT,        /* the magic alone */
	PEER_LONG,         /* an answer followed by more bytes */
	PEER_NO_FD,        /* an answer announcing a copy, without its descriptor */
	PEER_UNSEALED,     /* the file's exact bytes in a memfd without seals */
	PEER_HALF_SEALED,  /* sealed against shrinking and growing, not writing */
	PEER_FILE,         /* the snapshot file's own descriptor */
	PEER_PIPE,         /* a pipe */
	PEER_SIZE_LIE,     /* a good copy, announced larger than it is */
	PEER_TWO_FDS,      /* a good copy and one descriptor more */
	PEER_MANY_FDS,     /* more descriptors than a reader takes */
	PEER_NOBODY,       /* a good copy, listening as another user */
	PEER_NOBODY_OWNER, /* the same, and that user owns the snapshot */
	PEER_GOOD,         /* a good copy, as kvwatch sends it */
	PEER_CORRUPT,      /* sealed, the file's header, a body that does not match it */
};

static void peer_send(int conn, const char *magic, uint64_t size, const int *fds, size_t nfds,
                      size_t extra)
{
	char msg[64] = {0}, control[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = {.iov_base = msg, .iov_len = 16 + extra};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;

	memcpy(msg, magic, 8);
	memcpy(msg + 8, &size, 8);
	if (nfds > 0) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	(void)sendmsg(conn, &mh, MSG_NOSIGNAL);
}

/* The child: listen on sock and answer every connection as kind says, until killed. */
static void peer_run(enum peer kind, const char *snap, int ready)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0), good, fds[8], p[2];
	size_t size;

	good = memfd_of(snap, SHARE_SEALS_REQUIRED | F_SEAL_SEAL, &size);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	unlink(sock);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sock, 0666) < 0)
		_exit(2);
	/* The listener's credentials are what a reader sees (SO_PEERCRED). */
	if ((kind == PEER_NOBODY || kind == PEER_NOBODY_OWNER) &&
	    (setgid(NOBODY) < 0 || setuid(NOBODY) < 0))
		_exit(3);
	if (listen(s, 8) < 0 || pipe(p) < 0)
		_exit(4);
	(void)!write(ready, "r", 1);
	close(ready);
	for (;;) {
		int conn = accept(s, NULL, NULL);

		if (conn < 0)
			_exit(5);
		switch (kind) {
		case PEER_SILENT:
			continue; /* kept open, never answered */
		case PEER_CLOSE:
			break;
		case PEER_GARBAGE:
			(void)send(conn, "HTTP/1.0 200 OK\r\n\r\n", 19, MSG_NOSIGNAL);
			break;
		case PEER_SHORT:
			(void)send(conn, SHARE_MAGIC, 8, MSG_NOSIGNAL);
			break;
		case PEER_LONG:
			peer_send(conn, SHARE_MAGIC, size, &good, 1, 32);
			break;
		case PEER_NO_FD:
			peer_send(conn, SHARE_MAGIC, size, NULL, 0, 0);
			break;
		case PEER_UNSEALED:
			fds[0] = memfd_of(snap, 0, NULL);
			peer_send(conn, SHARE_MAGIC, size, fds, 1, 0);
			close(fds[0]);
			break;
		case PEER_HALF_SEALED:
			fds[0] = memfd_of(snap, F_SEAL_SHRINK | F_SEAL_GROW, NULL);
			peer_send(conn, SHARE_MAGIC, size, fds, 1, 0);
			close(fds[0]);
			break;
		case PEER_FILE:
			fds[0] = open(snap, O_RDONLY);
			peer_send(conn, SHARE_MAGIC, size, fds, 1, 0);
			close(fds[0]);
			break;
		case PEER_PIPE:
			peer_send(conn, SHARE_MAGIC, size, p, 1, 0);
			break;
		case PEER_SIZE_LIE:
			peer_send(conn, SHARE_MAGIC, size + 4096, &good, 1, 0);
			break;
		case PEER_TWO_FDS:
			fds[0] = good;
			fds[1] = p[1];
			peer_send(conn, SHARE_MAGIC, size, fds, 2, 0);
			break;
		case PEER_MANY_FDS:
			for (size_t i = 0; i < 8; i++)
				fds[i] = i % 2 ? p[0] : good;
			peer_send(conn, SHARE_MAGIC, size, fds, 8, 0);
			break;
		case PEER_CORRUPT:
			fds[0] = memfd_of(snap, 0, NULL);
			(void)!pwrite(fds[0], "garbage!", 8, (off_t)size - 8);
			(void)fcntl(fds[0], F_ADD_SEALS, SHARE_SEALS_REQUIRED);
			peer_send(conn, SHARE_MAGIC, size, fds, 1, 0);
			close(fds[0]);
			break;
		case PEER_NOBODY:
		case PEER_NOBODY_OWNER:
		case PEER_GOOD:
			peer_send(conn, SHARE_MAGIC, size, &good, 1, 0);
			break;
		}
		close(conn);
	}
}

/* A forked peer listening on sock as kind says; peer_stop() ends it. */
static void peer_start(enum peer kind, const char *snap)
{
	int ready[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		peer_run(kind, snap, ready[1]);
		_exit(0);
	}
	peer_pid = pid;
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		fail_msg("peer %d: expected it listening, got it gone", (int)kind);
	close(ready[0]);
}

static void peer_stop(void)
{
	if (peer_pid <= 0)
		return;
	kill(peer_pid, SIGKILL);
	waitpid(peer_pid, NULL, 0);
	peer_pid = 0;
	unlink(sock);
}

static void test_hostile_peers(void **state)
{
	static const struct {
		enum peer kind;
		const char *what;
		int want;
		const char *reason; /* in the why, for a refusal */
		bool root_only;     /* needs to become another user */
	} cases[] = {
	    {PEER_SILENT, "a peer that never answers", -ETIMEDOUT, "no answer within", false},
	    {PEER_CLOSE, "a peer that closes at once", -EPROTO, "not an answer", false},
	    {PEER_GARBAGE, "garbage without a descriptor", -EPROTO, "not an answer", false},
	    {PEER_SHORT, "the magic alone", -EPROTO, "not an answer", false},
	    {PEER_LONG, "an answer with bytes after it", -EPROTO, "not an answer", false},
	    {PEER_NO_FD, "a copy announced, no descriptor", -EPROTO, "without its descriptor",
	     false},
	    {PEER_UNSEALED, "an unsealed memfd of the file's bytes", -EPERM, "not sealed", false},
	    {PEER_HALF_SEALED, "a memfd not sealed against writing", -EPERM, "not sealed", false},
	    {PEER_FILE, "the snapshot file's descriptor", -EPERM, "sealed", false},
	    {PEER_PIPE, "a pipe", -EPERM, "cannot be sealed", false},
	    {PEER_SIZE_LIE, "a copy announced larger than it is", -EPROTO, "were announced", false},
	    {PEER_TWO_FDS, "a good copy and a descriptor more", 0, NULL, false},
	    {PEER_MANY_FDS, "eight descriptors", -EPROTO, "not an answer", false},
	    {PEER_NOBODY, "a listener running as nobody", -EPERM, "served by uid 65534", true},
	    {PEER_NOBODY_OWNER, "a listener running as the snapshot's owner", 0, NULL, true},
	    {PEER_GOOD, "a good copy", 0, NULL, false},
	};
	char snap[192];
	unsigned char *bytes;
	size_t n;

	write_snap("a", 5, files_a, ARRAY_SIZE(files_a), snap, sizeof(snap));
	bytes = slurp(snap, &n);
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		uid_t owner = cases[k].kind == PEER_NOBODY_OWNER ? NOBODY : geteuid();
		char why[512] = "";
		int fds, fd = -1, r;

		if (cases[k].root_only && geteuid() != 0) {
			printf("# %s: skipped, needs root to listen as another user\n",
			       cases[k].what);
			continue;
		}
		fds = count_fds();
		peer_start(cases[k].kind, snap);
		r = snapshot_share_fetch(sock, owner, 300, &fd, why, sizeof(why));
		peer_stop();
		if (r != cases[k].want)
			fail_msg("%s: expected %d (%s), got %d (%s: \"%s\")", cases[k].what,
			         cases[k].want, strerror(-cases[k].want), r, strerror(-r), why);
		if (cases[k].reason && !strstr(why, cases[k].reason))
			fail_msg("%s: expected a reason with \"%s\", got \"%s\"", cases[k].what,
			         cases[k].reason, why);
		if (r < 0 && fd != -1)
			fail_msg("%s: expected no descriptor, got %d", cases[k].what, fd);
		if (r == 0)
			expect_copy(fd, bytes, n, cases[k].what);
		if (fd >= 0)
			close(fd);
		if (count_fds() != fds)
			fail_msg("%s: expected %d descriptors open after it, got %d", cases[k].what,
			         fds, count_fds());
	}
	free(bytes);
}

/* ---- mapping a sealed copy ---- */

static void test_map_sealed(void **state)
{
	enum fd_kind { UNSEALED, REGULAR, GROW_ONLY, WRITE_ONLY, SEALED, SEALED_CORRUPT, EMPTY };
	static const struct {
		enum fd_kind kind;
		const char *what;
		int want;
	} cases[] = {
	    {UNSEALED, "an unsealed memfd of valid bytes", -EPERM},
	    {REGULAR, "the snapshot file itself", -EPERM},
	    {GROW_ONLY, "a memfd sealed against growing only", -EPERM},
	    {WRITE_ONLY, "a memfd sealed against writing, not shrinking", -EPERM},
	    {SEALED, "a sealed memfd of valid bytes", 0},
	    {SEALED_CORRUPT, "a sealed memfd of corrupt bytes", -EBADMSG},
	    {EMPTY, "an empty sealed memfd", -EBADMSG},
	};
	char snap[192];

	write_snap("a", 5, files_a, ARRAY_SIZE(files_a), snap, sizeof(snap));
	/* Validated on one thread (the mapping populated) and on two (it is not). */
	for (size_t k = 0; k < 2 * ARRAY_SIZE(cases); k++) {
		int threads = k < ARRAY_SIZE(cases) ? 1 : 2;
		struct snapshot *s = NULL;
		const struct snap_node *node = NULL;
		const char *what = cases[k % ARRAY_SIZE(cases)].what;
		int want = cases[k % ARRAY_SIZE(cases)].want;
		char err[256] = "";
		int fd = -1, r;

		snapshot_set_parallel_min(threads == 2 ? 0 : SIZE_MAX);
		switch (cases[k % ARRAY_SIZE(cases)].kind) {
		case UNSEALED:
			fd = memfd_of(snap, 0, NULL);
			break;
		case REGULAR:
			fd = open(snap, O_RDONLY | O_CLOEXEC);
			break;
		case GROW_ONLY:
			fd = memfd_of(snap, F_SEAL_GROW, NULL);
			break;
		case WRITE_ONLY:
			fd = memfd_of(snap, F_SEAL_WRITE | F_SEAL_GROW, NULL);
			break;
		case SEALED:
			fd = memfd_of(snap, SHARE_SEALS_REQUIRED | F_SEAL_SEAL, NULL);
			break;
		case SEALED_CORRUPT:
			fd = memfd_of(snap, 0, NULL);
			assert_int_equal(pwrite(fd, "garbage!", 8, 300), 8);
			assert_int_equal(fcntl(fd, F_ADD_SEALS, SHARE_SEALS_REQUIRED), 0);
			break;
		case EMPTY:
			fd = memfd_create("empty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
			assert_int_equal(fcntl(fd, F_ADD_SEALS, SHARE_SEALS_REQUIRED), 0);
			break;
		}
		assert_true(fd >= 0);
		r = snapshot_map_sealed_fd(fd, &s, err, sizeof(err));
		snapshot_set_parallel_min(SNAPSHOT_PARALLEL_MIN);
		close(fd);
		if (r != want)
			fail_msg("%s, %d thread(s): expected %d (%s), got %d (%s)", what, threads,
			         want, strerror(-want), r, err);
		if (r < 0) {
			if (s != NULL || err[0] == '\0')
				fail_msg("%s: expected no snapshot and a reason, got %p \"%s\"",
				         what, (void *)s, err);
			continue;
		}
		/* The pages were given back after the validation: read again, from the copy. */
		assert_int_equal(snapshot_generation(s), 5);
		r = snapshot_lookup_path(s, "/Movies/A (2001)/A.mkv", &node);
		if (r < 0 || node->size != 100)
			fail_msg("%s: expected /Movies/A (2001)/A.mkv of 100 bytes, got %d, %llu",
			         what, r, r < 0 ? 0ULL : (unsigned long long)node->size);
		snapshot_free(s);
	}
}

/* ---- the reader's reload ---- */

/* Reload st; expect a switch to gen, shared or not, and err empty or holding want_err. */
static void expect_switch(struct gen_store *st, uint64_t gen, bool shared, const char *want_err,
                          const char *what)
{
	struct generation *old = NULL, *new = NULL;
	const struct snap_node *node = NULL;
	char err[512];
	int r = gen_store_reload(st, &old, &new, err, sizeof(err));

	if (r != GEN_RELOAD_SWITCHED)
		fail_msg("%s: expected a switch, got %d (%s)", what, r, err);
	if (new->number != gen)
		fail_msg("%s: expected generation %llu, got %llu", what, (unsigned long long)gen,
		         (unsigned long long)new->number);
	if (new->shared != shared)
		fail_msg("%s: expected %s, got %s", what,
		         shared ? "the shared copy" : "a private copy", generation_memory(new));
	if (want_err == NULL && err[0] != '\0')
		fail_msg("%s: expected no warning, got \"%s\"", what, err);
	if (want_err != NULL && !strstr(err, want_err))
		fail_msg("%s: expected a warning with \"%s\", got \"%s\"", what, want_err, err);
	if (snapshot_lookup_path(new->snap, "/Movies", &node) < 0)
		fail_msg("%s: expected /Movies in the tree served", what);
	generation_put(old);
	generation_put(new);
}

/* Publish files as generation gen into dir, by rename, as kvwatch does. */
static void publish(uint64_t gen, const struct tspec *f, size_t n, struct snapshot_share *sh,
                    const char *serve)
{
	char staged[192], path[160], why[256];
	int fd;

	write_snap("stage", gen, f, n, staged, sizeof(staged));
	if (sh != NULL) {
		fd = open(serve ? serve : staged, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(snapshot_share_set(sh, fd, NULL, (uint64_t)lseek(fd, 0, SEEK_END),
		                                    why, sizeof(why)),
		                 0);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/vfs.snapshot", dir);
	assert_int_equal(rename(staged, path), 0);
}

static void test_reload_shared(void **state)
{
	struct snapshot_share *sh;
	struct gen_store *st;
	char other[192], served[160], why[256];

	assert_int_equal(gen_store_new(dir, &st), 0);

	/* No socket at all: the file, quietly. */
	publish(1, files_a, ARRAY_SIZE(files_a), NULL, NULL);
	expect_switch(st, 1, false, NULL, "no socket");

	/* kvwatch's socket, no copy yet: the file, quietly. */
	assert_int_equal(snapshot_share_open(dir, &sh, why, sizeof(why)), 0);
	publish(2, files_a, ARRAY_SIZE(files_a), NULL, NULL);
	expect_switch(st, 2, false, NULL, "a socket without a copy");

	/* The copy of the file published: mapped shared. */
	publish(3, files_a, ARRAY_SIZE(files_a), sh, NULL);
	expect_switch(st, 3, true, NULL, "the copy of the file");
	publish(4, files_b, ARRAY_SIZE(files_b), sh, NULL);
	expect_switch(st, 4, true, NULL, "the copy of the next file");

	/* A copy of another snapshot (the file came from elsewhere): the file, quietly. */
	write_snap("other", 9, files_b, ARRAY_SIZE(files_b), other, sizeof(other));
	publish(5, files_a, ARRAY_SIZE(files_a), sh, other);
	expect_switch(st, 5, false, NULL, "a copy of another snapshot");

	/* kvwatch gone: the file, quietly. */
	snapshot_share_close(sh);
	publish(6, files_b, ARRAY_SIZE(files_b), NULL, NULL);
	expect_switch(st, 6, false, NULL, "kvwatch gone");

	/* Peers that are not kvwatch: the file, and a warning. */
	publish(7, files_a, ARRAY_SIZE(files_a), NULL, NULL);
	peer_start(PEER_UNSEALED, other); /* any bytes: refused before they count */
	expect_switch(st, 7, false, "not sealed", "an unsealed copy");
	peer_stop();
	publish(8, files_b, ARRAY_SIZE(files_b), NULL, NULL);
	peer_start(PEER_GARBAGE, other);
	expect_switch(st, 8, false, "not an answer", "garbage on the socket");
	peer_stop();
	/* A sealed copy with the file's header whose body fails the validation. */
	publish(9, files_b, ARRAY_SIZE(files_b), NULL, NULL);
	snprintf(served, sizeof(served), "%s/vfs.snapshot", dir);
	peer_start(PEER_CORRUPT, served);
	expect_switch(st, 9, false,
	              "the shared copy was refused: ", "a copy that does not validate");
	peer_stop();
	if (geteuid() == 0) {
		publish(10, files_a, ARRAY_SIZE(files_a), NULL, NULL);
		peer_start(PEER_NOBODY, other);
		expect_switch(st, 10, false, "served by uid 65534", "a listener running as nobody");
		peer_stop();
	}
	gen_store_free(st);
}

/*
 * A runtime directory whose socket path would not fit in sun_path: kvwatch
 * says so once, at its start; a reader loads the file without a word on every
 * reload (it cannot be helped there).
 */
static void test_long_runtime_dir(void **state)
{
	struct snapshot_share *sh = (struct snapshot_share *)&sh;
	struct gen_store *st;
	char lng[256], why[256] = "";
	int r;

	snprintf(lng, sizeof(lng), "%s/%0100d", dir, 0);
	assert_int_equal(mkdir(lng, 0700), 0);
	r = snapshot_share_open(lng, &sh, why, sizeof(why));
	if (r != -ENAMETOOLONG || !strstr(why, "too long"))
		fail_msg("kvwatch's socket in a %zu-byte directory: expected -ENAMETOOLONG and "
		         "\"too long\", got %d \"%s\"",
		         strlen(lng), r, why);
	if (sh != (struct snapshot_share *)&sh)
		fail_msg("expected *ret untouched on failure, got %p", (void *)sh);
	assert_int_equal(tsnap_write(lng, 1, files_a, ARRAY_SIZE(files_a), NULL), 0);
	assert_int_equal(gen_store_new(lng, &st), 0);
	expect_switch(st, 1, false, NULL, "a socket path too long");
	gen_store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_share_sequence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_share_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_peers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_sealed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_shared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_runtime_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
