/*
 * Unit tests of the resync fingerprint (fingerprint.c): what of INFO persistence
 * and INFO keyspace it keeps, and what it refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fingerprint.h"

#define PERSIST(changes, saved)                                              \
	"# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:" changes \
	"\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:" saved "\r\n"

static void test_parse(void **state)
{
	static const struct {
		const char *persistence, *keyspace;
		unsigned db;
		int ret;
		const char *expect;
	} cases[] = {
	    {PERSIST("12", "1700000000"), "# Keyspace\r\ndb0:keys=160,expires=0,avg_ttl=0\r\n", 0,
	     0, "12/1700000000/keys=160,expires=0"},
	    /* the average TTL moves by itself: not part of it */
	    {PERSIST("12", "1700000000"), "# Keyspace\r\ndb0:keys=160,expires=3,avg_ttl=9\r\n", 0,
	     0, "12/1700000000/keys=160,expires=3"},
	    /* another database's line is not ours */
	    {PERSIST("7", "1"),
	     "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
	     "db3:keys=5,expires=0,avg_ttl=0\r\n",
	     3, 0, "7/1/keys=5,expires=0"},
	    {PERSIST("7", "1"), "# Keyspace\r\ndb10:keys=5,expires=0,avg_ttl=0\r\n", 1, 0,
	     "7/1/empty"},
	    /* an empty server has no keyspace line */
	    {PERSIST("0", "5"), "# Keyspace\r\n", 0, 0, "0/5/empty"},
	    /* not a Redis kvwatch knows: no fingerprint */
	    {"# Persistence\r\nloading:0\r\n", "# Keyspace\r\n", 0, -EPROTO, NULL},
	    {"", "", 0, -EPROTO, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[FINGERPRINT_MAX] = "";
		int r = fingerprint_parse(cases[i].persistence, cases[i].keyspace, cases[i].db, buf,
		                          sizeof(buf));

		if (r != cases[i].ret || (r == 0 && strcmp(buf, cases[i].expect) != 0)) {
			print_error("case %zu: expected %d \"%s\", got %d \"%s\"\n", i,
			            cases[i].ret, cases[i].expect ? cases[i].expect : "", r, buf);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
