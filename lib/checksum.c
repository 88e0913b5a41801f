/*
 * checksum: four-lane streaming checksum of the snapshot body (see checksum.h).
 */
#include "checksum.h"

#include <string.h>

#define C1 0x9e3779b185ebca87ULL
#define C2 0xc2b2ae3d27d4eb4fULL
#define C3 0x165667b19e3779f9ULL
#define C4 0x85ebca77c2b2ae63ULL
#define C5 0xff51afd7ed558ccdULL
#define C6 0xc4ceb9fe1a85ec53ULL

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline uint64_t round64(uint64_t lane, uint64_t w)
{
	return rotl64(lane + w * C2, 31) * C1;
}

static void blocks(uint64_t lane[4], const unsigned char *p, size_t n)
{
	uint64_t a = lane[0], b = lane[1], c = lane[2], d = lane[3];

	for (; n > 0; n--, p += 32) {
		a = round64(a, load_le64(p));
		b = round64(b, load_le64(p + 8));
		c = round64(c, load_le64(p + 16));
		d = round64(d, load_le64(p + 24));
	}
	lane[0] = a;
	lane[1] = b;
	lane[2] = c;
	lane[3] = d;
}

void checksum_init(struct checksum *c)
{
	c->lane[0] = C1 + C2;
	c->lane[1] = C2;
	c->lane[2] = 0;
	c->lane[3] = 0 - C1;
	c->length = 0;
	c->block_len = 0;
}

void checksum_update(struct checksum *c, const void *data, size_t len)
{
	const unsigned char *p = data;

	c->length += len;
	if (c->block_len > 0) {
		size_t take = 32 - c->block_len < len ? 32 - c->block_len : len;

		memcpy(c->block + c->block_len, p, take);
		c->block_len += (unsigned)take;
		p += take;
		len -= take;
		if (c->block_len < 32)
			return;
		blocks(c->lane, c->block, 1);
		c->block_len = 0;
	}
	blocks(c->lane, p, len / 32);
	p += len / 32 * 32;
	len %= 32;
	memcpy(c->block, p, len);
	c->block_len = (unsigned)len;
}

static inline uint64_t tail_word(uint64_t h, uint64_t w)
{
	return rotl64(h ^ (w * C1), 29) * C2 + C3;
}

uint64_t checksum_final(const struct checksum *c)
{
	const unsigned char *p = c->block;
	unsigned len = c->block_len;
	uint64_t h;

	h = rotl64(c->lane[0], 1) + rotl64(c->lane[1], 7) + rotl64(c->lane[2], 12) +
	    rotl64(c->lane[3], 18);
	for (unsigned i = 0; i < 4; i++)
		h = (h ^ round64(0, c->lane[i])) * C1 + C4;
	for (; len >= 8; p += 8, len -= 8)
		h = tail_word(h, load_le64(p));
	if (len > 0) {
		unsigned char last[8] = {0};

		memcpy(last, p, len);
		h = tail_word(h, load_le64(last));
	}
	h ^= c->length;
	h ^= h >> 33;
	h *= C5;
	h ^= h >> 29;
	h *= C6;
	h ^= h >> 32;
	return h;
}

uint64_t checksum64(const void *data, size_t len)
{
	struct checksum c;

	checksum_init(&c);
	checksum_update(&c, data, len);
	return checksum_final(&c);
}
