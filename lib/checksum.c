/*
 * checksum: XXH3 64-bit over the snapshot body (see checksum.h).  The streaming
 * and the one-shot forms give the same value for the same bytes.
 */
#include "checksum.h"

void checksum_init(struct checksum *c)
{
	XXH3_INITSTATE(&c->state);
	XXH3_64bits_reset(&c->state);
}

void checksum_update(struct checksum *c, const void *data, size_t len)
{
	if (len)
		XXH3_64bits_update(&c->state, data, len);
}

uint64_t checksum_final(const struct checksum *c)
{
	return XXH3_64bits_digest(&c->state);
}

uint64_t checksum64(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}
