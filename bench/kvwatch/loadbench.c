/*
 * loadbench: how long a snapshot file takes to become a validated snapshot, the
 * two ways the programs open one: mapped (snapshot_open(), what kvwatch's warm
 * start does with the saved tree) and read into private memory (snapshot_load(),
 * what fused, davd and apid do at every generation).  bench/kvwatch/warm.sh runs
 * it on the saved tree of its warm starts.
 *
 *   loadbench [-r RUNS] [-p BYTES] FILE
 *
 * Prints every run's wall time of each, then the best and the median, and the
 * median CPU time of the process (all threads: on a loaded machine it moves less
 * than the wall time).  -p sets snapshot_set_parallel_min() (0: two threads
 * always, a huge value: never).  The file is read once before timing, so every
 * run finds it in the page cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* CPU seconds of the process so far, every thread's. */
static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * Seconds of one open (load: snapshot_load, else snapshot_open) and its CPU
 * seconds in ret_cpu; exits on refusal.
 */
static double time_one(const char *path, int load, double *ret_cpu)
{
	struct snapshot *s;
	char err[512];
	double t0 = now(), c0 = cpu(), t;
	int r;

	r = load ? snapshot_load(path, &s, err, sizeof(err))
	         : snapshot_open(path, &s, err, sizeof(err));
	t = now() - t0;
	*ret_cpu = cpu() - c0;
	if (r < 0) {
		fprintf(stderr, "loadbench: %s\n", err);
		exit(1);
	}
	snapshot_free(s);
	return t;
}

int main(int argc, char **argv)
{
	static const char *const what[] = {"snapshot_open (mapped)", "snapshot_load (copied)"};
	int runs = 5, c;
	double *t, *tc;
	char buf[1 << 16];
	int fd;

	while ((c = getopt(argc, argv, "r:p:")) != -1) {
		if (c == 'r' && (runs = atoi(optarg)) >= 1)
			continue;
		if (c == 'p') {
			snapshot_set_parallel_min((size_t)strtoull(optarg, NULL, 10));
			continue;
		}
		optind = argc; /* usage */
		break;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: loadbench [-r RUNS] [-p BYTES] FILE\n");
		return 1;
	}
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "loadbench: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	t = calloc((size_t)runs, sizeof(*t));
	tc = calloc((size_t)runs, sizeof(*tc));
	if (t == NULL || tc == NULL)
		return 1;
	for (int load = 0; load < 2; load++) {
		printf("%-24s", what[load]);
		for (int i = 0; i < runs; i++) {
			t[i] = time_one(argv[optind], load, &tc[i]);
			printf(" %.4f", t[i]);
		}
		qsort(t, (size_t)runs, sizeof(*t), cmp_double);
		qsort(tc, (size_t)runs, sizeof(*tc), cmp_double);
		printf("  s; best %.4f s, median %.4f s, CPU median %.4f s\n", t[0], t[runs / 2],
		       tc[runs / 2]);
	}
	free(t);
	free(tc);
	return 0;
}
