/*
 * state: the transitions of kvwatch's life (see state.h).
 */
#include "state.h"

#define S(x) (KV_##x + 1) /* 0 in the table: the event leaves the state as it is */

/*
 * [state][event]: the next state.  Rows: where kvwatch is; columns: what
 * happened.  Failures always lead to DISCONNECTED (from where there is a
 * connection or an attempt), a leader always to CONNECTING.
 */
static const unsigned char next[KV_STATE_MAX][KV_EVENT_MAX] = {
    [KV_DISCOVERING] =
        {
            [KV_EV_NO_LEADER] = S(DISCOVERING),
            [KV_EV_LEADER] = S(CONNECTING),
            [KV_EV_SOURCE_GONE] = S(DISCOVERING),
        },
    [KV_CONNECTING] =
        {
            [KV_EV_LEADER] = S(CONNECTING),
            [KV_EV_CONNECTED] = S(LIVE),
            [KV_EV_FAILED] = S(DISCONNECTED),
            [KV_EV_SOURCE_GONE] = S(DISCOVERING),
        },
    [KV_LOADING] =
        {
            [KV_EV_LEADER] = S(CONNECTING),
            [KV_EV_APPLIED] = S(LIVE),
            [KV_EV_HELD] = S(HELD),
            [KV_EV_FAILED] = S(DISCONNECTED),
            [KV_EV_SOURCE_GONE] = S(DISCOVERING),
        },
    [KV_LIVE] =
        {
            [KV_EV_LEADER] = S(CONNECTING),
            [KV_EV_LOAD] = S(LOADING),
            [KV_EV_FAILED] = S(DISCONNECTED),
            [KV_EV_SOURCE_GONE] = S(DISCOVERING),
        },
    [KV_HELD] =
        {
            [KV_EV_LEADER] = S(CONNECTING),
            [KV_EV_LOAD] = S(LOADING),
            [KV_EV_FAILED] = S(DISCONNECTED),
            [KV_EV_SOURCE_GONE] = S(DISCOVERING),
        },
    [KV_DISCONNECTED] =
        {
            [KV_EV_LEADER] = S(CONNECTING),
            [KV_EV_RETRY] = S(CONNECTING),
            [KV_EV_SOURCE_GONE] = S(DISCOVERING),
        },
};

enum kv_state kv_state_next(enum kv_state state, enum kv_event event)
{
	if ((unsigned)state >= KV_STATE_MAX || (unsigned)event >= KV_EVENT_MAX ||
	    next[state][event] == 0)
		return state;
	return (enum kv_state)(next[state][event] - 1);
}

const char *kv_state_name(enum kv_state s)
{
	static const char *const names[KV_STATE_MAX] = {
	    "discovering", "connecting", "loading", "live", "held", "disconnected",
	};

	return (unsigned)s < KV_STATE_MAX ? names[s] : "?";
}

const char *kv_event_name(enum kv_event e)
{
	static const char *const names[KV_EVENT_MAX] = {
	    "no leader", "leader", "connected", "load",        "applied",
	    "held",      "failed", "retry",     "source gone",
	};

	return (unsigned)e < KV_EVENT_MAX ? names[e] : "?";
}
