/*
 * hash: the one 64-bit hash of the project, used for stable node ids (hash of the
 * virtual path) and for the snapshot's body checksum.
 *
 * The function is part of the snapshot format: changing it changes every inode
 * number and ETag that clients have seen, so it never changes within a format
 * version.  It is fast and well mixed, not cryptographic: the snapshot is
 * written by our own kvwatch, the checksum guards against truncation and
 * corruption, not against an attacker who can write the runtime directory.
 *
 * Definition (docs/snapshot-format.md): the input is read as little-endian 64-bit
 * words, the tail zero-padded into one last word; each word w updates
 *   h = rotl64(h ^ (w * K1), 29) * K2 + K3
 * starting from h = seed ^ K4, and the result is fmix(h ^ total_length) with the
 * 64-bit finaliser fmix(x): x ^= x >> 33; x *= K5; x ^= x >> 29; x *= K6; x ^= x >> 32.
 */
#ifndef MF_HASH_H
#define MF_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hash_state {
	uint64_t h;
	uint64_t length;
	uint64_t tail;
	unsigned tail_len;
};

void hash_init(struct hash_state *st, uint64_t seed);
void hash_update(struct hash_state *st, const void *data, size_t len);
uint64_t hash_final(const struct hash_state *st);

/* hash_init + hash_update + hash_final in one call. */
uint64_t hash64(const void *data, size_t len, uint64_t seed);

#endif
