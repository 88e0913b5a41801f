/*
 * hold: the guard against an empty library by accident.
 *
 * Media servers delete library entries whose files vanish, so a resync (or a new
 * leader) that would remove more than kv.hold_threshold_percent of the files at
 * once is not applied at once.  The previous tree stays published, marked as
 * holding a change; the change is applied when it has persisted for
 * kv.hold_time_ms (every resync re-checks it; 0 = never by time) or when the
 * operator confirms it (SIGUSR1).  A later resync that no longer removes that
 * much ends the hold.  Removals named one by one on the pub/sub channel are
 * explicit and not held.  Pure logic; the caller owns timers and signals.
 */
#ifndef MF_KVWATCH_HOLD_H
#define MF_KVWATCH_HOLD_H

#include <stdbool.h>
#include <stdint.h>

struct hold {
	bool active;
	bool confirmed;    /* the operator confirmed; the next check applies */
	uint64_t removals; /* files the held change would remove */
	int64_t since_ns;  /* monotonic time the hold began */
};

enum hold_verdict {
	HOLD_APPLY, /* apply the change (hold cleared) */
	HOLD_KEEP,  /* keep serving the previous tree */
	HOLD_VERDICT_MAX,
};

/*
 * A change would remove `removals` of the `current` files.  threshold_percent
 * >= 100 disables the guard; hold_time_ms == 0 means "only when confirmed".
 */
enum hold_verdict hold_check(struct hold *h, uint64_t current, uint64_t removals,
                             uint32_t threshold_percent, uint32_t hold_time_ms, int64_t now_ns);

/* The operator confirmed the held change. */
void hold_confirm(struct hold *h);

/* Nanoseconds until the held change is applied by time; -1 when never. */
int64_t hold_remaining_ns(const struct hold *h, uint32_t hold_time_ms, int64_t now_ns);

#endif
