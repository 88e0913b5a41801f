/*
 * Unit tests of kvwatch's publishing: generations written through the VFS core
 * writer and numbered on across restarts, the sd_notify messages (READY=1 once,
 * STATUS=, GENERATION=) as a supervisor receives them on NOTIFY_SOCKET, and the
 * changed-directory lists the change hook gets (treediff).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "publish.h"
#include "rules.h"
#include "snapshot.h"
#include "store.h"
#include "treediff.h"

static struct schema schema;
static struct rules *rules;
static char dir[] = "/tmp/mf-publish-XXXXXX";

static int setup(void **state)
{
	char err[256];

	if (schema_init(&schema) < 0 || rules_default(&schema, &rules, err, sizeof(err)) < 0)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_FILE_NAME);
	unlink(path);
	snprintf(path, sizeof(path), "%s/notify", dir);
	unlink(path);
	rmdir(dir);
	rules_free(rules);
	schema_free(&schema);
	return 0;
}

static void put_movie(struct store *s, const char *id, const char *title, const char *year,
                      const char *size)
{
	struct strview *v = calloc(schema.count, sizeof(*v));
	char path[256];

	snprintf(path, sizeof(path), "m/%s (%s)/%s.mkv", title, year, title);
	v[PROP_FILE_PATH] = (struct strview){path, (uint32_t)strlen(path)};
	v[PROP_SIZE] = (struct strview){size, (uint32_t)strlen(size)};
	v[schema_find(&schema, "title", 5)] = (struct strview){title, (uint32_t)strlen(title)};
	v[schema_find(&schema, "year", 4)] = (struct strview){year, (uint32_t)strlen(year)};
	assert_int_equal(store_put(s, id, strlen(id), v), 0);
	free(v);
}

static struct snapshot *publish(struct publisher *p, struct store *s)
{
	struct snapshot_kv_state kv = {.connected = true, .leader = "redis://h:1/0"};
	struct publish_result res;
	char err[256] = "";

	if (publish_tree(p, rules, &schema, s, NULL, &kv, &res, err, sizeof(err)) < 0)
		fail_msg("publish_tree: %s", err);
	assert_non_null(res.snap);
	assert_int_equal(res.generation, p->generation);
	return res.snap;
}

static void expect_dirs(const struct snapshot *old, const struct snapshot *new, size_t max,
                        const char *want)
{
	char **dirs = NULL, got[1024] = "";
	size_t n = 0;

	assert_int_equal(treediff_dirs(old, new, max, &dirs, &n), 0);
	for (size_t i = 0; i < n; i++) {
		strcat(got, dirs[i]);
		strcat(got, "|");
	}
	if (strcmp(got, want) != 0)
		fail_msg("expected \"%s\", got \"%s\"", want, got);
	treediff_free(dirs, n);
}

static void test_generations_and_treediff(void **state)
{
	struct publisher p = {.runtime_dir = dir};
	struct snapshot *s1, *s2, *s3, *prev = NULL;
	struct store *s;
	char err[256];

	assert_int_equal(publish_open_previous(&p, &prev, err, sizeof(err)), -ENOENT);
	assert_int_equal(store_new(&schema, false, &s), 0);
	put_movie(s, "a", "Alpha", "2001", "10");
	put_movie(s, "b", "Beta", "2002", "20");
	s1 = publish(&p, s);
	assert_int_equal(snapshot_generation(s1), 1);
	expect_dirs(NULL, s1, 100, "/|");

	/* One file's size changes; one file is added. */
	put_movie(s, "a", "Alpha", "2001", "11");
	put_movie(s, "c", "Gamma", "2003", "30");
	s2 = publish(&p, s);
	assert_int_equal(snapshot_generation(s2), 2);
	expect_dirs(s1, s2, 100, "/Movies|/Movies/Alpha (2001)|/Movies/Gamma (2003)|");
	expect_dirs(s2, s2, 100, "");
	expect_dirs(s1, s2, 2, "/|"); /* too many to list */

	/* A file goes: its parent's listing changed, its folder is gone. */
	store_remove(s, "b", 1);
	s3 = publish(&p, s);
	expect_dirs(s2, s3, 100, "/Movies|");

	/* A restarted kvwatch numbers on. */
	{
		struct publisher q = {.runtime_dir = dir};

		assert_int_equal(publish_open_previous(&q, &prev, err, sizeof(err)), 0);
		assert_int_equal(q.generation, 3);
		snapshot_free(prev);
	}
	snapshot_free(s1);
	snapshot_free(s2);
	snapshot_free(s3);
	store_free(s);
}

static void test_notify(void **state)
{
	struct publisher p = {.runtime_dir = dir};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char buf[512];
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);

	publish_notify(&p, 7, "generation 7: 2 files from redis://h:1/0");
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1\nSTATUS=generation 7: 2 files from redis://h:1/0\n"
	                         "GENERATION=7");
	publish_notify(&p, 8, "later");
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "STATUS=later\nGENERATION=8"); /* READY=1 only once */
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	/* Without a supervisor it is a no-op. */
	publish_notify(&p, 9, "alone");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generations_and_treediff),
	    cmocka_unit_test(test_notify),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
