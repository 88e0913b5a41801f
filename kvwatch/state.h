/*
 * state: kvwatch's life as an explicit state machine.  The one table in
 * state.c says which event moves which state; kvwatch.c reports events with
 * kv_state_next() and does the work that goes with them.  Pure logic.
 *
 *   DISCOVERING   no leader known: the lock is missing or unusable
 *   CONNECTING    a leader is known, its connections are being made
 *   LOADING       connected, a full load runs (live changes still apply)
 *   LIVE          connected, following pub/sub, the last load applied
 *   HELD          connected, the last load would remove too much: held back
 *   DISCONNECTED  a connection or a load failed: waiting to retry
 *
 * Connected (published as kv.connected) means LOADING, LIVE or HELD.
 */
#ifndef MF_KVWATCH_STATE_H
#define MF_KVWATCH_STATE_H

#include <stdbool.h>

enum kv_state {
	KV_DISCOVERING,
	KV_CONNECTING,
	KV_LOADING,
	KV_LIVE,
	KV_HELD,
	KV_DISCONNECTED,
	KV_STATE_MAX,
};

enum kv_event {
	KV_EV_NO_LEADER,   /* the lock names no usable leader, and none is known */
	KV_EV_LEADER,      /* a leader to follow: kv.redis_url, the lock, a new lock */
	KV_EV_CONNECTED,   /* both connections up (a full load follows) */
	KV_EV_LOAD,        /* a full load starts */
	KV_EV_APPLIED,     /* a load ended and its result stands (applied or the same) */
	KV_EV_HELD,        /* a load ended with a removal held back */
	KV_EV_FAILED,      /* a connection, a fetch or a load failed */
	KV_EV_RETRY,       /* the backoff is over: connect again */
	KV_EV_SOURCE_GONE, /* a reload dropped the source (a new one is set up next) */
	KV_EVENT_MAX,
};

/* The state event moves state to (state itself when the event does not apply). */
enum kv_state kv_state_next(enum kv_state state, enum kv_event event);

static inline bool kv_state_is_connected(enum kv_state s)
{
	return s == KV_LOADING || s == KV_LIVE || s == KV_HELD;
}

const char *kv_state_name(enum kv_state s);
const char *kv_event_name(enum kv_event e);

#endif
