/*
 * backoff: the delay before the next reconnection attempt: capped exponential
 * growth with "equal jitter" (half the delay fixed, half random), so that many
 * workers that lost the same Redis do not come back in lockstep.  Pure: the
 * caller supplies the random bits.
 */
#ifndef MF_KVWATCH_BACKOFF_H
#define MF_KVWATCH_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t base_ms; /* first delay (before jitter) */
	uint32_t cap_ms;  /* no delay exceeds this */
	uint32_t attempt; /* failures since the last success */
};

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms);
/* Delay for this failure, in [d/2, d] with d = min(cap, base * 2^attempt). */
uint32_t backoff_next(struct backoff *b, uint32_t random_bits);
void backoff_reset(struct backoff *b);

#endif
