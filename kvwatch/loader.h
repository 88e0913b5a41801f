/*
 * loader: read file records from Redis.
 *
 * loader_run() is the full load: SCAN MATCH <prefix>file:* with a large COUNT
 * over the whole keyspace, each new hash id fetched with one MGET of exactly the
 * schema's properties.  It is pipelined so that redis-server, whose CPU is the
 * floor of this layout, never waits for the client: as soon as a SCAN reply
 * arrives the next SCAN is sent, then the reply's keys are grouped by id and
 * their MGETs queued, and only then are the previous batch's MGET replies read.
 * It blocks (with the connection's timeouts) and is meant to run on a thread of
 * its own with a connection of its own; a cancel flag stops it between replies.
 *
 * loader_fetch() reads given ids on an existing connection (live updates).
 *
 * Values are untrusted: a value longer than LOADER_VALUE_MAX or of another type
 * than a string is dropped (counted); an id whose keys all vanished between SCAN
 * and MGET is not a record.  Only whitelisted read commands are sent (redis.h).
 */
#ifndef MF_KVWATCH_LOADER_H
#define MF_KVWATCH_LOADER_H

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "record.h"
#include "redis_url.h"

#define LOADER_VALUE_MAX  65536
#define LOADER_SCAN_COUNT 20000

struct store;

struct load_stats {
	uint64_t keys;     /* keys SCAN returned */
	uint64_t bad_keys; /* keys under file: that are not <id><sep><property> */
	uint64_t scans;    /* SCAN calls */
	uint64_t records;  /* records stored */
	uint64_t vanished; /* ids whose keys were gone when fetched */
	uint64_t dropped;  /* values dropped: too long or not a string */
	uint64_t changed;  /* records put with new values, or removed */
	int64_t scan_ns;   /* phase 1: SCAN */
	int64_t elapsed_ns;
};

struct loader_params {
	const struct redis_url *url;
	uint32_t connect_timeout_ms;
	uint32_t command_timeout_ms;
	const struct key_layout *layout;
	const struct schema *schema;
	uint32_t scan_count;       /* 0: LOADER_SCAN_COUNT */
	const atomic_bool *cancel; /* may be NULL */
};

/*
 * Load everything into a new bulk store.  Returns 0 and the store (the caller
 * owns it), -ECANCELED, or -EIO/-EPROTO/-ECONNREFUSED/... with a one-line reason
 * in err.  stats is filled in either case.
 */
int loader_run(const struct loader_params *p, struct store **ret, struct load_stats *stats,
               char *err, size_t errlen);

/*
 * Fetch ids[0..n) on c and put each into dst (or remove it from dst when none of
 * its keys exists any more).  Returns 0, or -EIO when the connection failed
 * (reason in err; dst may hold part of the results).
 */
int loader_fetch(redisContext *c, const struct key_layout *layout, const struct schema *schema,
                 struct store *dst, const char *const *ids, const uint32_t *id_lens, size_t n,
                 struct load_stats *stats, char *err, size_t errlen);

#endif
