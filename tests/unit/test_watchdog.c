/*
 * Unit tests of a worker's side of the supervisor's watchdog (lib/watchdog.c):
 * the environment's values, each hostile form refused, and a ping that pushes
 * the deadline of a real timerfd one period ahead.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "watchdog.h"

static void test_parse(void **state)
{
	struct {
		const char *fd, *usec;
		int r, ret_fd;
		uint64_t ret_usec;
	} cases[] = {
	    {"3", "60000000", 0, 3, 60000000},
	    {"4", "1000", 0, 4, 1000},
	    {"4", "999", -EINVAL, -1, 0}, /* below 1 ms: pings would spin */
	    {"4", "1", -EINVAL, -1, 0},
	    {"1024", "86400000000", 0, 1024, 86400000000ULL},
	    {NULL, "1000", -EINVAL, -1, 0},
	    {"3", NULL, -EINVAL, -1, 0},
	    {"", "1000", -EINVAL, -1, 0},
	    {"3", "", -EINVAL, -1, 0},
	    {"2", "1000", -EINVAL, -1, 0}, /* stdio is never the watchdog */
	    {"0", "1000", -EINVAL, -1, 0},
	    {"-3", "1000", -EINVAL, -1, 0},
	    {"+3", "1000", -EINVAL, -1, 0},
	    {" 3", "1000", -EINVAL, -1, 0},
	    {"3 ", "1000", -EINVAL, -1, 0},
	    {"3x", "1000", -EINVAL, -1, 0},
	    {"0x3", "1000", -EINVAL, -1, 0},
	    {"1025", "1000", -EINVAL, -1, 0},
	    {"99999999999999999999", "1000", -EINVAL, -1, 0},
	    {"3", "0", -EINVAL, -1, 0},
	    {"3", "-1", -EINVAL, -1, 0},
	    {"3", "86400000001", -EINVAL, -1, 0},
	    {"3", "18446744073709551616", -EINVAL, -1, 0},
	    {"3", "1e6", -EINVAL, -1, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = -1;
		uint64_t usec = 0;
		int r = watchdog_parse(cases[i].fd, cases[i].usec, &fd, &usec);

		if (r != cases[i].r || fd != cases[i].ret_fd || usec != cases[i].ret_usec) {
			print_error("case %zu (\"%s\", \"%s\"): expected %d, fd %d, %llu µs; "
			            "got %d, fd %d, %llu µs\n",
			            i, cases[i].fd ? cases[i].fd : "(null)",
			            cases[i].usec ? cases[i].usec : "(null)", cases[i].r,
			            cases[i].ret_fd, (unsigned long long)cases[i].ret_usec, r, fd,
			            (unsigned long long)usec);
			fail();
		}
	}
}

/* The environment names a real timerfd: a ping arms it one period ahead. */
static void test_ping(void **state)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), fd;
	struct itimerspec its;
	char num[16];
	uint64_t left;

	assert_true(tfd >= 0);
	fd = tfd >= 3 ? tfd : 3;
	if (fd != tfd) {
		assert_int_equal(dup2(tfd, fd), fd);
		close(tfd);
	}
	snprintf(num, sizeof(num), "%d", fd);
	setenv("META_FUSE_WATCHDOG_FD", num, 1);
	setenv("META_FUSE_WATCHDOG_USEC", "5000000", 1);
	if (watchdog_fd_usec() != 5000000) {
		print_error("expected a period of 5000000 µs, got %llu\n",
		            (unsigned long long)watchdog_fd_usec());
		fail();
	}
	assert_int_equal(timerfd_gettime(fd, &its), 0);
	if (its.it_value.tv_sec || its.it_value.tv_nsec) {
		print_error("expected the timer unarmed before a ping, got %lld s left\n",
		            (long long)its.it_value.tv_sec);
		fail();
	}
	watchdog_ping();
	assert_int_equal(timerfd_gettime(fd, &its), 0);
	left = (uint64_t)its.it_value.tv_sec * 1000000 + (uint64_t)its.it_value.tv_nsec / 1000;
	if (left == 0 || left > 5000000 || left < 4000000) {
		print_error("expected about 5000000 µs left after a ping, got %llu\n",
		            (unsigned long long)left);
		fail();
	}
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_ping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
