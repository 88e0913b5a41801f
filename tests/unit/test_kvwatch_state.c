/*
 * Unit tests of kvwatch's state machine (state.c): the transitions of a normal
 * life, of failures and reloads, and that events that do not apply leave the
 * state alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "state.h"

static void test_transitions(void **state)
{
	static const struct {
		enum kv_state from;
		enum kv_event ev;
		enum kv_state to;
	} cases[] = {
	    /* a life: discover, connect, load, follow, resync, hold, fail, retry */
	    {KV_DISCOVERING, KV_EV_NO_LEADER, KV_DISCOVERING},
	    {KV_DISCOVERING, KV_EV_LEADER, KV_CONNECTING},
	    {KV_CONNECTING, KV_EV_CONNECTED, KV_LIVE},
	    {KV_LIVE, KV_EV_LOAD, KV_LOADING},
	    {KV_LOADING, KV_EV_APPLIED, KV_LIVE},
	    {KV_LOADING, KV_EV_HELD, KV_HELD},
	    {KV_HELD, KV_EV_LOAD, KV_LOADING},
	    {KV_LOADING, KV_EV_FAILED, KV_DISCONNECTED},
	    {KV_LIVE, KV_EV_FAILED, KV_DISCONNECTED},
	    {KV_HELD, KV_EV_FAILED, KV_DISCONNECTED},
	    {KV_CONNECTING, KV_EV_FAILED, KV_DISCONNECTED},
	    {KV_DISCONNECTED, KV_EV_RETRY, KV_CONNECTING},
	    /* a new leader from anywhere */
	    {KV_LIVE, KV_EV_LEADER, KV_CONNECTING},
	    {KV_HELD, KV_EV_LEADER, KV_CONNECTING},
	    {KV_DISCONNECTED, KV_EV_LEADER, KV_CONNECTING},
	    /* a reload drops the source */
	    {KV_LIVE, KV_EV_SOURCE_GONE, KV_DISCOVERING},
	    {KV_DISCONNECTED, KV_EV_SOURCE_GONE, KV_DISCOVERING},
	    /* events that do not apply change nothing */
	    {KV_DISCONNECTED, KV_EV_FAILED, KV_DISCONNECTED},
	    {KV_DISCONNECTED, KV_EV_APPLIED, KV_DISCONNECTED},
	    {KV_DISCOVERING, KV_EV_LOAD, KV_DISCOVERING},
	    {KV_LOADING, KV_EV_LOAD, KV_LOADING},
	    {KV_LIVE, KV_EV_NO_LEADER, KV_LIVE},
	    {KV_LIVE, KV_EVENT_MAX, KV_LIVE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum kv_state got = kv_state_next(cases[i].from, cases[i].ev);

		if (got != cases[i].to) {
			print_error("case %zu: %s on %s: expected %s, got %s\n", i,
			            kv_state_name(cases[i].from), kv_event_name(cases[i].ev),
			            kv_state_name(cases[i].to), kv_state_name(got));
			fail();
		}
	}
}

static void test_connected_and_names(void **state)
{
	for (int s = 0; s < KV_STATE_MAX; s++) {
		bool expect = s == KV_LOADING || s == KV_LIVE || s == KV_HELD;

		if (kv_state_is_connected((enum kv_state)s) != expect) {
			print_error("%s: expected connected %d, got %d\n",
			            kv_state_name((enum kv_state)s), expect, !expect);
			fail();
		}
		assert_string_not_equal(kv_state_name((enum kv_state)s), "?");
	}
	for (int e = 0; e < KV_EVENT_MAX; e++)
		assert_string_not_equal(kv_event_name((enum kv_event)e), "?");
	/* Every failure of a state with a connection or an attempt ends disconnected. */
	for (int s = KV_CONNECTING; s <= KV_HELD; s++)
		assert_int_equal(kv_state_next((enum kv_state)s, KV_EV_FAILED), KV_DISCONNECTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transitions),
	    cmocka_unit_test(test_connected_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
