/*
 * store: apid's own read-only connection to the key-value store, for the one
 * question the snapshot cannot answer: every property of one file as meta-sort
 * wrote it (POST /api/fuse/metadata).
 *
 * Whom to ask is what kvwatch follows: kv.redis_url (env REDIS_URL), else the
 * "api" of <kv.meta_core_path>/locks/kv-leader.lock, read again whenever the
 * file changes; the keys are <kv.prefix>file:<id><kv.separator><property>.
 * The store keeps no index of a file's keys.  kvwatch notes every property
 * name its full loads see in <runtime_dir>/properties (kvwatch/propnames.h):
 * while that file is there and complete, exactly those names (and the
 * schema's) are asked for, with no SCAN; the file is read again when it
 * changes, and a malformed one is logged once and ignored (the one line this
 * file logs).  Otherwise the keys are found by SCAN with a MATCH pattern (the
 * id and separator glob-escaped; every key returned is checked again byte by
 * byte) over the whole keyspace, for at most
 * STORE_SCAN_MS: in a larger keyspace the answer is what was found by then,
 * marked incomplete, plus the properties kvwatch fetches (the configuration's
 * schema), which are always asked for by name.  Each key's kind and length
 * come from TYPE and STRLEN, its value from GETRANGE, so a huge value costs
 * its first bytes only.  SCAN, TYPE, STRLEN, GETRANGE, AUTH and SELECT are the
 * only commands this file can send.
 *
 * A lookup runs on the request's thread, so everything is bounded: the
 * connect and command timeouts (kv's, at most STORE_TIMEOUT_MS), the whole
 * lookup (STORE_DEADLINE_MS), the properties (STORE_PROPS_MAX), each value's
 * bytes (STORE_VALUE_MAX) and all values' bytes together (STORE_BYTES_MAX), and
 * the lookups at once (STORE_LOOKUPS_MAX, so that the server keeps threads for
 * everything else).  Connections are kept for the next lookup (a few).
 * Errors come back with a one-line reason for the caller.
 */
#ifndef MF_APID_STORE_H
#define MF_APID_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

#define STORE_TIMEOUT_MS  1000          /* connect, and each reply, at most */
#define STORE_DEADLINE_MS 2000          /* one whole lookup */
#define STORE_SCAN_MS     1500          /* ... of which the SCAN of the keyspace */
#define STORE_PROPS_MAX   1000          /* properties of one file */
#define STORE_VALUE_MAX   (64 * 1024)   /* bytes of one value */
#define STORE_BYTES_MAX   (1024 * 1024) /* bytes of all values of one file */
#define STORE_LOOKUPS_MAX 2             /* lookups at once */
#define STORE_SCAN_COUNT  "10000"       /* keys SCAN looks at per call */
#define STORE_LOCK_PATH   "locks/kv-leader.lock"
#define STORE_LOCK_MAX    65536

/* One property: the name after the separator, and its value's first bytes. */
struct store_prop {
	char *name;
	size_t name_len;
	char *value; /* NULL: the key holds no string (another type, or it went away) */
	size_t value_len;
	uint64_t full_len; /* the value's whole length (> value_len: cut) */
};

/* Owner: the caller of store_lookup(); store_props_clear() releases it. */
struct store_props {
	struct store_prop *props; /* sorted by name, each name once */
	size_t count;
	bool complete;  /* false: more than STORE_PROPS_MAX keys, or scan_cut */
	bool scan_cut;  /* the SCAN did not reach the keyspace's end within STORE_SCAN_MS */
	bool by_names;  /* the names came from kvwatch's names file, not from SCAN */
	size_t scanned; /* names SCAN found (duplicates included) */
	char *server;   /* the store asked, without credentials ("redis://10.0.1.50:6379/0") */
};

void store_props_clear(struct store_props *p);

struct store;

/* Owner: the caller; the configuration is borrowed and must outlive the store. */
int store_new(const struct config *cfg, struct store **ret);
void store_free(struct store *st);

/*
 * Every property of the file id.  Returns 0 and *ret, or -errno with a
 * one-line reason in err: -EBUSY (STORE_LOOKUPS_MAX lookups running),
 * -ENOENT (no store known: no redis_url and no usable leader lock),
 * -ECONNREFUSED (cannot connect or authenticate), -ETIMEDOUT (the store did
 * not answer in time), -EIO (the connection failed or answered nonsense),
 * -ENOMEM.
 */
int store_lookup(struct store *st, const char *id, struct store_props *ret, char *err,
                 size_t errlen);

#endif
