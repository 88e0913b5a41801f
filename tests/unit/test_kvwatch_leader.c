/*
 * Unit tests of leader discovery: the lock file's JSON (required and optional
 * fields, wrong types), reading it safely (empty, directory, FIFO, too large,
 * half-written), and the inotify watcher following a rewritten lock, reporting a
 * bad lock once, and noticing a locks directory created late.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "leader.h"

static void test_lock_parse(void **state)
{
	struct {
		const char *json;
		const char *api;    /* NULL: refused */
		const char *reason; /* substring of the error */
	} cases[] = {
	    {"{\"host\":\"n1\",\"api\":\"redis://10.0.1.50:6379\",\"http\":\"http://n1:8180\","
	     "\"timestamp\":1703808000000,\"pid\":42}",
	     "redis://10.0.1.50:6379", NULL},
	    {"{\"api\":\"redis://h\"}", "redis://h", NULL},
	    {"{\"api\":\"redis://h\",\"timestamp\":1.7e12,\"host\":null}", "redis://h", NULL},
	    {"", NULL, "empty"},
	    {"   ", NULL, "not JSON"},
	    {"{\"api\":\"redis://h\"", NULL, "not JSON"},
	    {"redis://h:6379", NULL, "not JSON"},
	    {"[\"redis://h\"]", NULL, "not a JSON object"},
	    {"{}", NULL, "no \"api\""},
	    {"{\"host\":\"n1\"}", NULL, "no \"api\""},
	    {"{\"api\":null}", NULL, "no \"api\""},
	    {"{\"api\":6379}", NULL, "\"api\": expected a string"},
	    {"{\"api\":\"\"}", NULL, "empty"},
	    {"{\"api\":\"redis://h\",\"host\":5}", NULL, "\"host\": expected a string"},
	    {"{\"api\":\"redis://h\",\"http\":[]}", NULL, "\"http\": expected a string"},
	    {"{\"api\":\"redis://h\",\"pid\":\"42\"}", NULL, "\"pid\": expected an integer"},
	    {"{\"api\":\"redis://h\",\"pid\":4.5}", NULL, "\"pid\": expected an integer"},
	    {"{\"api\":\"redis://h\",\"timestamp\":\"x\"}", NULL, "\"timestamp\""},
	    {"{\"api\":\"redis://h\",\"timestamp\":1e300}", NULL, "\"timestamp\""},
	    {"{\"api\":\"a\",\"api\":\"b\"}", NULL, "not JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct leader_lock l = {0};
		char err[256] = "";
		int r = leader_parse(cases[i].json, strlen(cases[i].json), &l, err, sizeof(err));

		if (cases[i].api != NULL) {
			if (r != 0 || strcmp(l.api, cases[i].api) != 0)
				fail_msg("%s: expected api \"%s\", got %d \"%s\" (%s)",
				         cases[i].json, cases[i].api, r, l.api ? l.api : "", err);
		} else if (r != -EINVAL || strstr(err, cases[i].reason) == NULL) {
			fail_msg("%s: expected -EINVAL with \"%s\", got %d \"%s\"", cases[i].json,
			         cases[i].reason, r, err);
		}
		leader_lock_clear(&l);
	}
	{
		struct leader_lock l = {0};
		char err[64];
		const char *j = "{\"api\":\"redis://h\",\"pid\":42,\"timestamp\":7,\"host\":\"x\"}";

		assert_int_equal(leader_parse(j, strlen(j), &l, err, sizeof(err)), 0);
		assert_true(l.has_pid && l.pid == 42 && l.has_timestamp && l.timestamp == 7);
		assert_string_equal(l.host, "x");
		assert_null(l.http);
		leader_lock_clear(&l);
	}
}

static char tmpdir[] = "/tmp/mf-leader-XXXXXX";

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_read_error(const char *path, const char *reason)
{
	struct leader_lock l = {0};
	char err[256] = "";
	int r = leader_read(path, &l, err, sizeof(err));

	if (r >= 0 || strstr(err, reason) == NULL)
		fail_msg("%s: expected an error with \"%s\", got %d \"%s\"", path, reason, r, err);
	leader_lock_clear(&l);
}

static void test_lock_read(void **state)
{
	char path[256], sub[256];
	struct leader_lock l = {0};
	char err[256];
	char *big;
	FILE *f;

	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/lock", tmpdir);
	expect_read_error(path, "No such file");
	put(path, "");
	expect_read_error(path, "empty");
	put(path, "{\"api\": \"redis://h:1\", \"ho");
	expect_read_error(path, "not JSON");
	put(path, "{\"api\": \"redis://h:1\"}\n");
	assert_int_equal(leader_read(path, &l, err, sizeof(err)), 0);
	assert_string_equal(l.api, "redis://h:1");
	leader_lock_clear(&l);
	big = malloc(LEADER_LOCK_MAX + 2);
	memset(big, ' ', LEADER_LOCK_MAX + 1);
	big[LEADER_LOCK_MAX + 1] = '\0';
	f = fopen(path, "w");
	fputs(big, f);
	fclose(f);
	free(big);
	expect_read_error(path, "larger than");
	unlink(path);
	snprintf(sub, sizeof(sub), "%s/dir", tmpdir);
	mkdir(sub, 0700);
	expect_read_error(sub, "is a directory");
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(sub, 0600), 0);
	expect_read_error(sub, "not a regular file");
	unlink(sub);
	rmdir(tmpdir);
}

/* ---- the watcher, driven by a real sd-event loop ---- */

struct seen {
	int urls, errors;
	char url[256];
	char error[512];
};

static void on_leader(void *userdata, const char *url, const char *error)
{
	struct seen *s = userdata;

	if (url != NULL) {
		s->urls++;
		snprintf(s->url, sizeof(s->url), "%s", url);
	} else {
		s->errors++;
		snprintf(s->error, sizeof(s->error), "%s", error);
	}
}

/* Run the loop until *counter reaches want or about 3 s pass. */
static void run_until(sd_event *e, const int *counter, int want)
{
	for (int i = 0; i < 300 && *counter < want; i++)
		sd_event_run(e, 10000);
}

static void test_watch(void **state)
{
	char base[] = "/tmp/mf-watch-XXXXXX";
	char locks[256], lock[300], tmp[300];
	struct leader_watch *w = NULL;
	struct seen s = {0};
	sd_event *e = NULL;

	assert_non_null(mkdtemp(base));
	snprintf(locks, sizeof(locks), "%s/locks", base);
	snprintf(lock, sizeof(lock), "%s/kv-leader.lock", locks);
	snprintf(tmp, sizeof(tmp), "%s/.tmp", locks);
	assert_int_equal(sd_event_new(&e), 0);
	/* The locks directory does not exist yet. */
	assert_int_equal(leader_watch_new(e, base, on_leader, &s, &w), 0);
	assert_string_equal(leader_watch_path(w), lock);
	leader_watch_check(w);
	assert_int_equal(s.errors, 1);
	assert_non_null(strstr(s.error, "No such file"));
	leader_watch_check(w);
	assert_int_equal(s.errors, 1); /* the same problem is reported once */

	/* The directory and the lock appear: followed through the parent's watch. */
	mkdir(locks, 0700);
	put(tmp, "{\"api\": \"redis://127.0.0.1:7001\"}");
	rename(tmp, lock);
	run_until(e, &s.urls, 1);
	assert_int_equal(s.urls, 1);
	assert_string_equal(s.url, "redis://127.0.0.1:7001");

	/* Rewritten in place with the same URL: nothing to report. */
	put(lock, "{\"api\": \"redis://127.0.0.1:7001\", \"pid\": 9}");
	for (int i = 0; i < 20; i++)
		sd_event_run(e, 10000);
	assert_int_equal(s.urls, 1);

	/* A new leader. */
	put(lock, "{\"api\": \"redis://127.0.0.1:7002\"}");
	run_until(e, &s.urls, 2);
	assert_int_equal(s.urls, 2);
	assert_string_equal(s.url, "redis://127.0.0.1:7002");

	/* Garbage, written twice: one report. */
	put(lock, "{\"api\": 7002}");
	run_until(e, &s.errors, 2);
	assert_int_equal(s.errors, 2);
	assert_non_null(strstr(s.error, "expected a string"));
	put(lock, "{\"api\": 7002}");
	for (int i = 0; i < 20; i++)
		sd_event_run(e, 10000);
	assert_int_equal(s.errors, 2);

	/* A lock whose URL is unusable is a bad lock too. */
	put(lock, "{\"api\": \"http://x\"}");
	run_until(e, &s.errors, 3);
	assert_non_null(strstr(s.error, "\"api\": not a redis"));

	/* Good again (same URL as before): reported, so the caller can say so. */
	put(lock, "{\"api\": \"redis://127.0.0.1:7002\"}");
	run_until(e, &s.urls, 3);
	assert_int_equal(s.urls, 3);

	/* The lock replaced by a directory. */
	unlink(lock);
	mkdir(lock, 0700);
	run_until(e, &s.errors, 4);
	assert_non_null(strstr(s.error, "is a directory"));
	rmdir(lock);

	leader_watch_free(w);
	sd_event_unref(e);
	rmdir(locks);
	rmdir(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lock_parse),
	    cmocka_unit_test(test_lock_read),
	    cmocka_unit_test(test_watch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
