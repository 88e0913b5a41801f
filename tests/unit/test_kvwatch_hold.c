/*
 * Unit tests of kvwatch's hold-back policy (hold.c): small removals pass, large
 * ones are held until they persist or are confirmed, and a later resync that no
 * longer removes that much ends the hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hold.h"

static void test_hold(void **state)
{
	const int64_t ms = 1000000;
	struct hold h = {0};

	/* Small removals pass. */
	assert_int_equal(hold_check(&h, 100, 20, 20, 1000, 0), HOLD_APPLY);
	assert_false(h.active);
	/* Large ones are held, and keep being held until the hold time passed. */
	assert_int_equal(hold_check(&h, 100, 21, 20, 1000, 0), HOLD_KEEP);
	assert_true(h.active);
	assert_int_equal(h.removals, 21);
	assert_int_equal(hold_remaining_ns(&h, 1000, 400 * ms), 600 * ms);
	assert_int_equal(hold_check(&h, 100, 50, 20, 1000, 999 * ms), HOLD_KEEP);
	assert_int_equal(h.removals, 50);
	assert_int_equal(hold_check(&h, 100, 50, 20, 1000, 1000 * ms), HOLD_APPLY);
	assert_false(h.active);
	/* A hold ends when the removal shrinks again. */
	assert_int_equal(hold_check(&h, 100, 100, 20, 1000, 0), HOLD_KEEP);
	assert_int_equal(hold_check(&h, 100, 1, 20, 1000, 10 * ms), HOLD_APPLY);
	assert_false(h.active);
	/* The operator confirms. */
	hold_confirm(&h); /* nothing held: no blank cheque */
	assert_int_equal(hold_check(&h, 100, 100, 20, 0, 0), HOLD_KEEP);
	assert_int_equal(hold_remaining_ns(&h, 0, 0), -1);
	assert_int_equal(hold_check(&h, 100, 100, 20, 0, 99999 * ms), HOLD_KEEP);
	hold_confirm(&h);
	assert_int_equal(hold_check(&h, 100, 100, 20, 0, 99999 * ms), HOLD_APPLY);
	assert_false(h.active || h.confirmed);
	/* An empty tree has nothing to lose; 100 % disables the guard. */
	assert_int_equal(hold_check(&h, 0, 0, 20, 1000, 0), HOLD_APPLY);
	assert_int_equal(hold_check(&h, 10, 10, 100, 1000, 0), HOLD_APPLY);
	/* 0 % holds any removal. */
	assert_int_equal(hold_check(&h, 1000000, 1, 0, 1000, 0), HOLD_KEEP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
