/*
 * latency: single-file update latency of kvwatch, PUBLISH -> new generation.
 *
 * For each of N updates: SET the title of one file, note the time, PUBLISH an
 * "update" change for it on <prefix>file:batch, and wait for the rename of a
 * vfs.snapshot with a newer generation than before the PUBLISH into the runtime
 * directory (inotify IN_MOVED_TO: kvwatch writes a temporary file and renames
 * it, then announces it).  Updates are spaced by GAP_MS so that each one is
 * published on its own (kvwatch coalesces bursts).
 * Prints "p50_ms p99_ms max_ms n".  Part of bench/kvwatch/run.sh; not built by
 * CMake.
 *
 *   latency HOST PORT RUNTIME_DIR HASH_ID N GAP_MS [PREFIX]
 */
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The generation in the header of dir/vfs.snapshot, 0 when unreadable. */
static uint64_t generation(const char *dir)
{
	char path[4096];
	uint64_t gen = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/vfs.snapshot", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* magic (8), version (4), header_size (4), total_size (8), generation (8) */
	if (pread(fd, &gen, sizeof(gen), 24) != (ssize_t)sizeof(gen))
		gen = 0;
	close(fd);
	return gen;
}

/* Wait up to 5 s for vfs.snapshot to be renamed into dir; 0 when it was. */
static int wait_rename(int ifd)
{
	char buf[4096] __attribute__((aligned(8)));
	struct pollfd p = {.fd = ifd, .events = POLLIN};

	for (;;) {
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return -1;
		n = read(ifd, buf, sizeof(buf));
		for (char *q = buf; n > 0 && q < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)q;

			if (ev->len > 0 && strcmp(ev->name, "vfs.snapshot") == 0)
				return 0;
			q += sizeof(*ev) + ev->len;
		}
	}
}

int main(int argc, char **argv)
{
	const char *prefix = argc > 7 ? argv[7] : "meta-sort:";
	double *lat;
	int n, gap, ifd, got = 0;
	redisContext *c;

	if (argc < 7) {
		fprintf(stderr, "usage: latency HOST PORT RUNTIME_DIR HASH_ID N GAP_MS [PREFIX]\n");
		return 2;
	}
	n = atoi(argv[5]);
	gap = atoi(argv[6]);
	lat = calloc(n, sizeof(*lat));
	c = redisConnect(argv[1], atoi(argv[2]));
	if (c == NULL || c->err) {
		fprintf(stderr, "latency: %s\n", c ? c->errstr : "out of memory");
		return 1;
	}
	ifd = inotify_init1(IN_CLOEXEC);
	if (ifd < 0 || inotify_add_watch(ifd, argv[3], IN_MOVED_TO) < 0) {
		perror("latency: inotify");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char msg[512];
		uint64_t before;
		double t0;
		redisReply *r;

		r = redisCommand(c, "SET %sfile:%s:title %s%d", prefix, argv[4], "Bench Title ", i);
		freeReplyObject(r);
		snprintf(msg, sizeof(msg),
		         "{\"timestamp\": 0, \"changes\": [{\"action\": \"update\", \"hashId\": "
		         "\"%s\"}]}",
		         argv[4]);
		before = generation(argv[3]);
		t0 = now_ms();
		r = redisCommand(c, "PUBLISH %sfile:batch %s", prefix, msg);
		freeReplyObject(r);
		while (wait_rename(ifd) == 0) {
			if (generation(argv[3]) > before) {
				lat[got++] = now_ms() - t0;
				break;
			}
		}
		usleep(gap * 1000);
	}
	if (got == 0) {
		fprintf(stderr, "latency: no generation was published\n");
		return 1;
	}
	qsort(lat, got, sizeof(*lat), cmp);
	printf("%.1f %.1f %.1f %d\n", lat[got / 2],
	       lat[(got * 99) / 100 < got ? (got * 99) / 100 : got - 1], lat[got - 1], got);
	return 0;
}
