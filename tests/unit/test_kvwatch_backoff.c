/*
 * Unit tests of kvwatch's reconnect backoff (backoff.c): capped, exponential,
 * with equal jitter, and reset after a success.
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

#include "backoff.h"

static void test_backoff(void **state)
{
	struct backoff b;
	/* base 100, cap 1000: nominal 100, 200, 400, 800, 1000, 1000 ... */
	const uint32_t nominal[] = {100, 200, 400, 800, 1000, 1000, 1000};
	uint32_t d;

	backoff_init(&b, 100, 1000);
	for (size_t i = 0; i < sizeof(nominal) / sizeof(nominal[0]); i++) {
		uint32_t lo = nominal[i] - nominal[i] / 2, hi = nominal[i];
		struct backoff save = b;

		d = backoff_next(&b, 0);
		if (d != lo)
			fail_msg("attempt %zu, no jitter: expected %u, got %u", i, lo, d);
		b = save;
		d = backoff_next(&b, UINT32_MAX);
		if (d < lo || d > hi)
			fail_msg("attempt %zu, max jitter: expected %u..%u, got %u", i, lo, hi, d);
	}
	/* Many failures never overflow past the cap. */
	for (int i = 0; i < 200; i++)
		d = backoff_next(&b, (uint32_t)i * 2654435761u);
	assert_true(d <= 1000 && d >= 500);
	backoff_reset(&b);
	assert_int_equal(backoff_next(&b, 0), 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
