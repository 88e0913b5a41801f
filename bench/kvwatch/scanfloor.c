/*
 * scanfloor: the floor of a full load in meta-sort's layout, a bare SCAN over
 * the keyspace: SCAN cursor MATCH pattern COUNT n until the cursor is 0, keys
 * counted and thrown away.  Prints "<seconds> <keys> <calls>".  Part of the
 * kvwatch benchmark (bench/kvwatch/run.sh); not built by CMake.
 *
 *   scanfloor HOST PORT PATTERN COUNT
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char cursor[32] = "0";
	unsigned long long keys = 0, calls = 0;
	redisContext *c;
	double t0;

	if (argc != 5) {
		fprintf(stderr, "usage: scanfloor HOST PORT PATTERN COUNT\n");
		return 2;
	}
	c = redisConnect(argv[1], atoi(argv[2]));
	if (c == NULL || c->err) {
		fprintf(stderr, "scanfloor: %s\n", c ? c->errstr : "out of memory");
		return 1;
	}
	t0 = now();
	do {
		redisReply *r =
		    redisCommand(c, "SCAN %s MATCH %s COUNT %s", cursor, argv[3], argv[4]);

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			fprintf(stderr, "scanfloor: bad reply\n");
			return 1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		keys += r->element[1]->elements;
		calls++;
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	printf("%.3f %llu %llu\n", now() - t0, keys, calls);
	redisFree(c);
	return 0;
}
