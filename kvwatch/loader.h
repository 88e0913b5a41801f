/*
 * loader: read file records from Redis.
 *
 * loader_run() is the full load, in two pipelined phases: SCAN MATCH
 * <prefix>file:* with a large COUNT over the whole keyspace, the next SCAN on the
 * wire as soon as a reply's first bytes give its cursor, noting every id and which
 * schema properties it has keys for; then MGETs of exactly those keys, whole ids
 * to an MGET of a few thousand keys, a few MGETs in flight, each id stored as its
 * reply comes.
 * redis-server's CPU is the floor of this layout and the server is kept busy
 * throughout (loader.c says why the MGETs do not run during the SCAN).  It blocks
 * (with the connection's timeouts) and is meant to run on a thread of its own
 * with a connection of its own; a cancel flag stops it between replies.
 *
 * loader_fetch() reads given ids on an existing connection (live updates).
 *
 * Values are untrusted: a value longer than LOADER_VALUE_MAX or of another type
 * than a string is dropped (counted).  An id seen only with keys the schema does
 * not need is a record with every value absent; an id whose schema keys were all
 * gone when fetched is not a record ("vanished").  Only whitelisted read
 * commands are sent (redis.h).
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
#define LOADER_MGET_KEYS  4096 /* keys per MGET of the full load, at most */

struct propnames;
struct store;

struct load_stats {
	uint64_t keys;      /* keys SCAN returned (a key returned twice counts twice) */
	uint64_t bad_keys;  /* keys under file: that are not <id><sep><property> */
	uint64_t scans;     /* SCAN calls */
	uint64_t mgets;     /* MGET calls */
	uint64_t records;   /* records stored */
	uint64_t vanished;  /* ids whose keys were gone when fetched */
	uint64_t dropped;   /* values dropped: too long or not a string */
	uint64_t changed;   /* records put with new values, or removed */
	int64_t scan_ns;    /* loader_run: connecting and phase 1, the SCAN */
	int64_t elapsed_ns; /* loader_run: all of it */
};

struct loader_params {
	const struct redis_url *url;
	uint32_t connect_timeout_ms;
	uint32_t command_timeout_ms;
	const struct key_layout *layout;
	const struct schema *schema;
	uint32_t scan_count;       /* 0: LOADER_SCAN_COUNT */
	uint32_t mget_keys;        /* 0: LOADER_MGET_KEYS */
	const atomic_bool *cancel; /* may be NULL */
	/*
	 * When set (FINGERPRINT_MAX bytes), the server's fingerprint is read before the
	 * scan (fingerprint.h; "" when it has none); when it then equals
	 * unless_fingerprint, nothing is loaded and loader_run() returns -EALREADY.
	 */
	char *fingerprint;
	const char *unless_fingerprint;
	/*
	 * Called on the loader's thread for every record as it is stored, with its
	 * values (valid during the call), while redis-server works on the next MGETs:
	 * kvwatch places the record in the tree it builds alongside.  A negative
	 * return ends the load with that error.  May be NULL.
	 */
	int (*on_record)(void *ctx, const char *id, size_t id_len, const struct strview *values);
	void *on_record_ctx;
	/*
	 * When set, an empty set (propnames.h) that the load fills with the distinct
	 * property names of the keys it saw (left partial where a name does not fit).
	 */
	struct propnames *names;
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
