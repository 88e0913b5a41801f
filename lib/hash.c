/*
 * hash: see hash.h for the definition; this file is the one implementation, with a
 * streaming form so the snapshot writer can checksum sections as it writes them.
 */
#include "hash.h"

#include <string.h>

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xc2b2ae3d27d4eb4fULL
#define K3 0x165667b19e3779f9ULL
#define K4 0x27d4eb2f165667c5ULL
#define K5 0xff51afd7ed558ccdULL
#define K6 0xc4ceb9fe1a85ec53ULL

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t mix_word(uint64_t h, uint64_t w)
{
	return rotl64(h ^ (w * K1), 29) * K2 + K3;
}

static inline uint64_t load_le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

void hash_init(struct hash_state *st, uint64_t seed)
{
	st->h = seed ^ K4;
	st->length = 0;
	st->tail = 0;
	st->tail_len = 0;
}

void hash_update(struct hash_state *st, const void *data, size_t len)
{
	const unsigned char *p = data;

	st->length += len;
	/* Finish a word left partial by the previous call. */
	while (st->tail_len > 0 && st->tail_len < 8 && len > 0) {
		st->tail |= (uint64_t)*p++ << (8 * st->tail_len++);
		len--;
	}
	if (st->tail_len == 8) {
		st->h = mix_word(st->h, st->tail);
		st->tail = 0;
		st->tail_len = 0;
	}
	for (; len >= 8; p += 8, len -= 8)
		st->h = mix_word(st->h, load_le64(p));
	for (; len > 0; len--)
		st->tail |= (uint64_t)*p++ << (8 * st->tail_len++);
}

uint64_t hash_final(const struct hash_state *st)
{
	uint64_t h = st->h;

	if (st->tail_len > 0)
		h = mix_word(h, st->tail);
	h ^= st->length;
	h ^= h >> 33;
	h *= K5;
	h ^= h >> 29;
	h *= K6;
	h ^= h >> 32;
	return h;
}

uint64_t hash64(const void *data, size_t len, uint64_t seed)
{
	struct hash_state st;

	hash_init(&st, seed);
	hash_update(&st, data, len);
	return hash_final(&st);
}
