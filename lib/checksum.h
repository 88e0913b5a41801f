/*
 * checksum: the snapshot body's checksum, XXH3 64-bit (seed 0) from Debian's
 * libxxhash.
 *
 * A snapshot of 1,000,000 files is ~330 MB, written at every generation and
 * checked by every reader, so the checksum must run at memory speed; XXH3 does
 * (it uses the CPU's vector units), and it is a published, widely checked
 * function rather than one of our own.  It guards against torn writes and
 * corruption, not against an attacker who can write the runtime directory.  It
 * is part of the snapshot format (version 3 on; docs/snapshot-format.md).
 */
#ifndef MF_CHECKSUM_H
#define MF_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY /* the state's layout, so that it can live on the stack */
#include <xxhash.h>

/* The streaming state (64-byte aligned: not for malloc()). */
struct checksum {
	XXH3_state_t state;
};

void checksum_init(struct checksum *c);
void checksum_update(struct checksum *c, const void *data, size_t len);
uint64_t checksum_final(const struct checksum *c);

/* checksum_init + checksum_update + checksum_final in one call. */
uint64_t checksum64(const void *data, size_t len);

#endif
