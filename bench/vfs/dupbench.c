/*
 * dupbench: files that all render to one name in one folder (disc rips without a
 * title: BDMV/STREAM/00000.m2ts), the case that made contested names quadratic.
 *
 * It builds N such records with the shipped default rules and times the full
 * build, the snapshot write, then three single-record patches of the written
 * snapshot (remove the record ranked first, which renames every later one; add
 * one ranked in the middle; update one's size), each followed by its write, as
 * kvwatch's live path does.  Targets (issue 11): the build of 100,000 under 1 s,
 * a patch under 50 ms.  Last, the ordinary case for comparison: one update in
 * a folder of 51,000 different names (target ~20 ms with its write).
 *
 * With -r, each patch is computed RUNS times over the same snapshot and the
 * median is printed beside the fastest, so a busy machine's noise shows.
 *
 *   dupbench [-n RECORDS] [-r RUNS] [-d DIR]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "snapshot_writer.h"
#include "tree.h"

#define PATH "BDMV/STREAM/00000.m2ts"

struct lib {
	size_t n;
	uint32_t nvals;
	char (*ids)[32];
	char (*paths)[48]; /* NULL: every file is PATH */
	struct strview *values;
	struct record *recs;
	bool *present;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a busy machine closer to the work than the wall clock. */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set(struct lib *l, size_t i, const char *size)
{
	struct strview *v = &l->values[i * l->nvals];
	const char *path = l->paths != NULL ? l->paths[i] : PATH;

	memset(v, 0, l->nvals * sizeof(*v));
	v[PROP_FILE_PATH] = (struct strview){path, (uint32_t)strlen(path)};
	v[PROP_SIZE] = (struct strview){size, (uint32_t)strlen(size)};
	l->recs[i].hash_id = (struct strview){l->ids[i], (uint32_t)strlen(l->ids[i])};
	l->recs[i].values = v;
	record_derive(&l->recs[i]);
}

/* Every record is unchanged but for the patch's delta: a linear scan is enough here. */
static const struct record *lookup(void *ctx, const char *id, size_t len)
{
	struct lib *l = ctx;

	for (size_t i = 0; i < l->n; i++)
		if (l->present[i] && strlen(l->ids[i]) == len && memcmp(l->ids[i], id, len) == 0)
			return &l->recs[i];
	return NULL;
}

static struct snapshot *write_open(const struct snapshot_build *b, const char *dir, unsigned gen,
                                   double *ret_write)
{
	struct snapshot_kv_state kv = {.connected = true, .leader = "redis://bench"};
	char path[4096], err[512];
	struct snapshot *s;
	double t0 = now();
	int r = snapshot_write(b, &kv, gen, 0, dir, "dupbench.snapshot");

	*ret_write = now() - t0;
	if (r < 0)
		fatalx("snapshot_write: %s", strerror(-r));
	snprintf(path, sizeof(path), "%s/dupbench.snapshot", dir);
	if (snapshot_open(path, &s, err, sizeof(err)) < 0)
		fatalx("%s", err);
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void patch(struct lib *l, const struct rules *rules, const struct schema *schema,
                  struct snapshot **s, const struct tree_change *ch, const char *what,
                  const char *dir, unsigned gen, unsigned runs, const char *target)
{
	struct snapshot_build *b = NULL;
	struct snapshot *next;
	double t_patch[64], c_patch[64], t_write;
	int r;

	for (unsigned i = 0; i < runs; i++) {
		double t0 = now(), c0 = cpu();

		snapshot_build_free(b);
		r = tree_patch(*s, rules, schema, ch, 1, lookup, l, &b);
		t_patch[i] = now() - t0;
		c_patch[i] = cpu() - c0;
		if (r < 0)
			fatalx("tree_patch (%s): %s", what, strerror(-r));
	}
	next = write_open(b, dir, gen, &t_write);
	snapshot_build_free(b);
	snapshot_free(*s);
	*s = next;
	qsort(t_patch, runs, sizeof(*t_patch), cmp_double);
	qsort(c_patch, runs, sizeof(*c_patch), cmp_double);
	printf("patch: %-24s %6.1f ms (cpu %6.1f) + write %5.1f ms = %6.1f ms  (target %s)", what,
	       t_patch[runs / 2] * 1e3, c_patch[runs / 2] * 1e3, t_write * 1e3,
	       (t_patch[runs / 2] + t_write) * 1e3, target);
	if (runs > 1)
		printf("  median of %u, fastest %.1f ms", runs, t_patch[0] * 1e3);
	printf("\n");
}

/* The arrays of l (l->n records, l->nvals values each), paths too when asked. */
static void lib_alloc(struct lib *l, bool with_paths, const struct record ***ptrs,
                      struct strview **saved_values)
{
	l->ids = calloc(l->n, sizeof(*l->ids));
	l->paths = with_paths ? calloc(l->n, sizeof(*l->paths)) : NULL;
	l->values = calloc(l->n * l->nvals, sizeof(*l->values));
	l->recs = calloc(l->n, sizeof(*l->recs));
	l->present = calloc(l->n, sizeof(*l->present));
	*ptrs = calloc(l->n, sizeof(**ptrs));
	*saved_values = calloc(l->nvals, sizeof(**saved_values));
	if (!l->ids || (with_paths && !l->paths) || !l->values || !l->recs || !l->present ||
	    !*ptrs || !*saved_values)
		fatalx("out of memory");
}

static void lib_free(struct lib *l, const struct record **ptrs, struct strview *saved_values)
{
	free(l->ids);
	free(l->paths);
	free(l->values);
	free(l->recs);
	free(l->present);
	free(ptrs);
	free(saved_values);
}

#define ORDINARY 51000

/*
 * The ordinary case beside it: one update in a folder of 51,000 different names
 * (the /Movies of a 100,000-file library), patched the same way.
 */
static void ordinary(const struct rules *rules, const struct schema *schema, const char *dir,
                     unsigned runs)
{
	struct lib l = {.n = ORDINARY, .nvals = schema->count};
	const struct record **ptrs;
	struct strview *saved_values;
	struct snapshot_build *b;
	struct snapshot *s;
	struct tree_change ch;
	struct record saved;
	double t_write;

	lib_alloc(&l, true, &ptrs, &saved_values);
	for (size_t i = 0; i < l.n; i++) {
		snprintf(l.ids[i], sizeof(l.ids[i]), "ord%06zu", i);
		snprintf(l.paths[i], sizeof(l.paths[i]), "BDMV/STREAM/%06u.m2ts", (unsigned)i);
		set(&l, i, "1000");
		l.present[i] = true;
		ptrs[i] = &l.recs[i];
	}
	if (tree_build(rules, schema, ptrs, l.n, &b) < 0)
		fatalx("tree_build: out of memory");
	s = write_open(b, dir, 1, &t_write);
	snapshot_build_free(b);
	saved = l.recs[l.n / 2];
	memcpy(saved_values, saved.values, l.nvals * sizeof(*saved_values));
	saved.values = saved_values;
	set(&l, l.n / 2, "2000");
	ch = (struct tree_change){.old = &saved, .new = &l.recs[l.n / 2]};
	patch(&l, rules, schema, &s, &ch, "one of 51,000 names", dir, 2, runs, "~20 ms");
	snapshot_free(s);
	lib_free(&l, ptrs, saved_values);
}

int main(int argc, char **argv)
{
	struct lib l = {.n = 100000};
	const char *dir = "/tmp";
	struct schema schema;
	struct rules *rules;
	struct snapshot_build *b;
	struct snapshot *s;
	const struct record **ptrs;
	struct tree_change ch;
	struct record saved;
	struct strview *saved_values;
	char err[512];
	double t0, c0, t_build, c_build, t_write;
	size_t mid;
	unsigned runs = 1;
	int c, r;

	log_init("dupbench", 0);
	while ((c = getopt(argc, argv, "n:r:d:")) != -1) {
		switch (c) {
		case 'n':
			l.n = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = (unsigned)strtoul(optarg, NULL, 10);
			if (runs < 1 || runs > 64)
				fatalx("-r: 1 to 64 runs");
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: dupbench [-n RECORDS] [-r RUNS] [-d DIR]\n");
			return 1;
		}
	}
	if (l.n < 4)
		fatalx("-n: at least 4 records");
	if (schema_init(&schema) < 0 || rules_default(&schema, &rules, err, sizeof(err)) < 0)
		fatalx("default rules: %s", err);
	l.nvals = schema.count;
	l.n++; /* the last one is added by a patch */
	lib_alloc(&l, false, &ptrs, &saved_values);
	for (size_t i = 0; i < l.n; i++) {
		snprintf(l.ids[i], sizeof(l.ids[i]), "dup%06zu", i * 2);
		set(&l, i, "1000");
		l.present[i] = i + 1 < l.n;
		ptrs[i] = &l.recs[i];
	}
	mid = l.n / 2;
	snprintf(l.ids[l.n - 1], sizeof(l.ids[0]), "dup%06zux", mid * 2); /* ranked mid-way */

	t0 = now();
	c0 = cpu();
	r = tree_build(rules, &schema, ptrs, l.n - 1, &b);
	t_build = now() - t0;
	c_build = cpu() - c0;
	if (r < 0)
		fatalx("tree_build: %s", strerror(-r));
	printf("records              %zu with one name in one folder\n", l.n - 1);
	s = write_open(b, dir, 1, &t_write);
	snapshot_build_free(b);
	printf("build                %.3f s (cpu %.3f s)  (target < 1 s at 100,000)\n", t_build,
	       c_build);
	printf("write                %.3f s\n", t_write);

	saved = l.recs[0];
	memcpy(saved_values, saved.values, l.nvals * sizeof(*saved_values));
	saved.values = saved_values;
	l.present[0] = false;
	ch = (struct tree_change){.old = &saved, .new = NULL};
	patch(&l, rules, &schema, &s, &ch, "remove the first ranked", dir, 2, runs, "< 50 ms");

	l.present[l.n - 1] = true;
	ch = (struct tree_change){.old = NULL, .new = &l.recs[l.n - 1]};
	patch(&l, rules, &schema, &s, &ch, "add one ranked mid-way", dir, 3, runs, "< 50 ms");

	saved = l.recs[mid];
	memcpy(saved_values, saved.values, l.nvals * sizeof(*saved_values));
	saved.values = saved_values;
	set(&l, mid, "2000");
	ch = (struct tree_change){.old = &saved, .new = &l.recs[mid]};
	patch(&l, rules, &schema, &s, &ch, "update one's size", dir, 4, runs, "< 50 ms");

	snapshot_free(s);
	ordinary(rules, &schema, dir, runs);
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/dupbench.snapshot", dir);
		unlink(path);
	}
	rules_free(rules);
	schema_free(&schema);
	lib_free(&l, ptrs, saved_values);
	return 0;
}
