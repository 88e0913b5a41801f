/*
 * checksum: the snapshot body's checksum.
 *
 * A snapshot of 100,000 files is ~40 MB, written at every generation and checked
 * by every reader that maps it, so the checksum runs at memory speed: four
 * independent 64-bit lanes take 32-byte blocks, which a CPU computes in parallel
 * (hash64's single dependent chain manages about one byte per cycle).  It guards
 * against torn writes and corruption, not against an attacker who can write the
 * runtime directory.  It is part of the snapshot format (version 2 on).
 *
 * Definition (docs/snapshot-format.md): the input is read as little-endian 64-bit
 * words w; word i of each whole 32-byte block updates lane i % 4:
 *   lane = rotl64(lane + w * C2, 31) * C1
 * from lanes {C1 + C2, C2, 0, -C1}.  Then
 *   h = rotl64(l0, 1) + rotl64(l1, 7) + rotl64(l2, 12) + rotl64(l3, 18),
 * each lane folded in as h = (h ^ round(0, l)) * C1 + C4 where round(a, w) is the
 * lane update, the remaining bytes as hash64 reads them (8-byte words, then the
 * zero-padded tail: h = rotl64(h ^ (w * C1), 29) * C2 + C3), h ^= total length,
 * and the result is fmix(h) as in hash.h.  Constants in checksum.c.
 */
#ifndef MF_CHECKSUM_H
#define MF_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

struct checksum {
	uint64_t lane[4];
	uint64_t length;
	unsigned char block[32]; /* a partial block between updates */
	unsigned block_len;
};

void checksum_init(struct checksum *c);
void checksum_update(struct checksum *c, const void *data, size_t len);
uint64_t checksum_final(const struct checksum *c);

/* checksum_init + checksum_update + checksum_final in one call. */
uint64_t checksum64(const void *data, size_t len);

#endif
