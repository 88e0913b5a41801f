/*
 * Unit tests of the Redis URL parser (lib/redis_url.c), shared by kvwatch and the
 * configuration check: every accepted form, redaction (no credential ever in the
 * redacted text), and each refusal.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_url.h"

static const char *nz(const char *s)
{
	return s ? s : "(null)";
}

static void test_url_accepts(void **state)
{
	struct {
		const char *in;
		int kind;
		const char *host, *path, *user, *password;
		unsigned port, db;
		const char *redacted;
	} cases[] = {
	    {"redis://10.0.1.50:6379", REDIS_URL_TCP, "10.0.1.50", NULL, NULL, NULL, 6379, 0,
	     "redis://10.0.1.50:6379/0"},
	    {"redis://localhost", REDIS_URL_TCP, "localhost", NULL, NULL, NULL, 6379, 0,
	     "redis://localhost:6379/0"},
	    {"redis://h:1/15", REDIS_URL_TCP, "h", NULL, NULL, NULL, 1, 15, "redis://h:1/15"},
	    {"redis://h:7000/", REDIS_URL_TCP, "h", NULL, NULL, NULL, 7000, 0, "redis://h:7000/0"},
	    {"redis://:s3cret@h:6380/2", REDIS_URL_TCP, "h", NULL, NULL, "s3cret", 6380, 2,
	     "redis://h:6380/2"},
	    {"redis://alice:p%40ss@h", REDIS_URL_TCP, "h", NULL, "alice", "p@ss", 6379, 0,
	     "redis://h:6379/0"},
	    {"redis://onlypass@h", REDIS_URL_TCP, "h", NULL, NULL, "onlypass", 6379, 0,
	     "redis://h:6379/0"},
	    {"REDIS://[::1]:6390/3", REDIS_URL_TCP, "::1", NULL, NULL, NULL, 6390, 3,
	     "redis://[::1]:6390/3"},
	    {"redis://[fe80::1]", REDIS_URL_TCP, "fe80::1", NULL, NULL, NULL, 6379, 0,
	     "redis://[fe80::1]:6379/0"},
	    {"unix:///run/redis/redis.sock", REDIS_URL_UNIX, NULL, "/run/redis/redis.sock", NULL,
	     NULL, 0, 0, "unix:///run/redis/redis.sock?db=0"},
	    {"unix:///tmp/r.sock?db=4", REDIS_URL_UNIX, NULL, "/tmp/r.sock", NULL, NULL, 0, 4,
	     "unix:///tmp/r.sock?db=4"},
	    {"unix://:pw@/tmp/r.sock", REDIS_URL_UNIX, NULL, "/tmp/r.sock", NULL, "pw", 0, 0,
	     "unix:///tmp/r.sock?db=0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redis_url *u = NULL;
		char err[256] = "";
		int r = redis_url_parse(cases[i].in, &u, err, sizeof(err));

		if (r != 0)
			fail_msg("\"%s\": expected success, got %d (%s)", cases[i].in, r, err);
		if ((int)u->kind != cases[i].kind || strcmp(nz(u->host), nz(cases[i].host)) ||
		    strcmp(nz(u->path), nz(cases[i].path)) ||
		    strcmp(nz(u->user), nz(cases[i].user)) ||
		    strcmp(nz(u->password), nz(cases[i].password)) ||
		    (u->kind == REDIS_URL_TCP && u->port != cases[i].port) ||
		    u->db != cases[i].db || strcmp(u->redacted, cases[i].redacted))
			fail_msg("\"%s\": expected host=%s path=%s user=%s pass=%s port=%u db=%u "
			         "\"%s\", got host=%s path=%s user=%s pass=%s port=%u db=%u \"%s\"",
			         cases[i].in, nz(cases[i].host), nz(cases[i].path),
			         nz(cases[i].user), nz(cases[i].password), cases[i].port,
			         cases[i].db, cases[i].redacted, nz(u->host), nz(u->path),
			         nz(u->user), nz(u->password), u->port, u->db, u->redacted);
		if (u->password && strstr(u->redacted, u->password))
			fail_msg("\"%s\": the redacted URL shows the password", cases[i].in);
		redis_url_free(u);
	}
}

static void test_url_refuses(void **state)
{
	struct {
		const char *in;
		const char *reason; /* a substring of the error */
	} cases[] = {
	    {"", "empty"},
	    {"http://h:6379", "not a redis"},
	    {"rediss://h:6379", "TLS"},
	    {"redis://", "no host"},
	    {"redis://:6379", "no host"},
	    {"redis://h:0", "invalid port"},
	    {"redis://h:65536", "invalid port"},
	    {"redis://h:12ab", "invalid port"},
	    {"redis://h:99999999999999999999", "invalid port"},
	    {"redis://h/abc", "database"},
	    {"redis://h/1/2", "database"},
	    {"redis://h/-1", "database"},
	    {"redis://h?x=1", "query"},
	    {"redis://h#frag", "query"},
	    {"redis://[::1", "unterminated"},
	    {"redis://[]:1", "empty IPv6"},
	    {"redis://[::1]x", "unexpected"},
	    {"redis://[zz]:1", "IPv6"},
	    {"redis://ho$t:1", "invalid character"},
	    {"redis://h st:1", "space"},
	    {"redis://a:%zz@h", "malformed password"},
	    {"redis://%00:x@h", "malformed user"},
	    {"redis://a:%0a@h", "malformed password"},
	    {"unix://relative/path", "absolute"},
	    {"unix://", "absolute"},
	    {"unix:///", "no socket path"},
	    {"unix:///tmp/s?x=1", "db=N"},
	    {"unix:///tmp/s?db=", "db=N"},
	    {"unix:///tmp/"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "a"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	     "longer"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redis_url *u = NULL;
		char err[256] = "";
		int r = redis_url_parse(cases[i].in, &u, err, sizeof(err));

		if (r != -EINVAL || strstr(err, cases[i].reason) == NULL)
			fail_msg("\"%s\": expected -EINVAL with \"%s\", got %d \"%s\"", cases[i].in,
			         cases[i].reason, r, err);
		assert_null(u);
	}
	/* Over-long input is refused before it is looked at. */
	{
		size_t n = REDIS_URL_MAX + 10;
		char *big = malloc(n + 1);
		struct redis_url *u = NULL;
		char err[128];

		memcpy(big, "redis://", 8);
		memset(big + 8, 'a', n - 8);
		big[n] = '\0';
		assert_int_equal(redis_url_parse(big, &u, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "longer"));
		free(big);
	}
}

static void test_url_equal(void **state)
{
	struct redis_url *a, *b, *c;
	char err[64];

	assert_int_equal(redis_url_parse("redis://h:1/0", &a, err, sizeof(err)), 0);
	assert_int_equal(redis_url_parse("redis://h:1", &b, err, sizeof(err)), 0);
	assert_int_equal(redis_url_parse("redis://:x@h:1", &c, err, sizeof(err)), 0);
	assert_true(redis_url_equal(a, b));
	assert_false(redis_url_equal(a, c));
	redis_url_free(a);
	redis_url_free(b);
	redis_url_free(c);
	redis_url_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_accepts),
	    cmocka_unit_test(test_url_refuses),
	    cmocka_unit_test(test_url_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
