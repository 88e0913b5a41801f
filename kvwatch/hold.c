/*
 * hold: decide whether a large removal is applied or held back (see hold.h).
 */
#include "hold.h"

#define NS_PER_MS 1000000LL

static void clear(struct hold *h)
{
	h->active = false;
	h->confirmed = false;
	h->removals = 0;
	h->since_ns = 0;
}

enum hold_verdict hold_check(struct hold *h, uint64_t current, uint64_t removals,
                             uint32_t threshold_percent, uint32_t hold_time_ms, int64_t now_ns)
{
	/* removals / current > threshold / 100, in integers. */
	bool large = threshold_percent < 100 && current > 0 && removals > 0 &&
	             removals * 100 > current * (uint64_t)threshold_percent;

	if (!large || h->confirmed) {
		clear(h);
		return HOLD_APPLY;
	}
	if (!h->active) {
		h->active = true;
		h->since_ns = now_ns;
	}
	h->removals = removals;
	if (hold_time_ms > 0 && now_ns - h->since_ns >= (int64_t)hold_time_ms * NS_PER_MS) {
		clear(h);
		return HOLD_APPLY;
	}
	return HOLD_KEEP;
}

void hold_confirm(struct hold *h)
{
	/* A confirmation is for the change held now, never a blank cheque for later. */
	if (h->active)
		h->confirmed = true;
}

int64_t hold_remaining_ns(const struct hold *h, uint32_t hold_time_ms, int64_t now_ns)
{
	int64_t left;

	if (!h->active || hold_time_ms == 0)
		return -1;
	left = h->since_ns + (int64_t)hold_time_ms * NS_PER_MS - now_ns;
	return left < 0 ? 0 : left;
}
