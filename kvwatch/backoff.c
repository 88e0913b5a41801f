/*
 * backoff: capped exponential backoff with equal jitter (see backoff.h).
 */
#include "backoff.h"

void backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms)
{
	b->base_ms = base_ms ? base_ms : 1;
	b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
	b->attempt = 0;
}

uint32_t backoff_next(struct backoff *b, uint32_t random_bits)
{
	uint64_t d = b->base_ms;
	uint32_t half;

	for (uint32_t i = 0; i < b->attempt && d < b->cap_ms; i++)
		d *= 2;
	if (d > b->cap_ms)
		d = b->cap_ms;
	if (b->attempt < 64)
		b->attempt++;
	half = (uint32_t)(d / 2);
	return (uint32_t)(d - half) + random_bits % (half + 1);
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}
