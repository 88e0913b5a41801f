/*
 * fingerprint: a cheap sign that Redis's data changed, so that a periodic
 * resync that would find nothing new does not SCAN the whole keyspace.
 *
 * Two INFO sections, a few microseconds of the server's time: the count of
 * writes since the last save (rdb_changes_since_last_save, which every write
 * command raises, replicated ones on a replica too) with the time of that save
 * (rdb_last_save_time, as a save resets the count), and the database's line of
 * the keyspace section (keys, expires).  Equal fingerprints: no write reached
 * the server in between, so a load would find what the last one found.  Any
 * write, even to keys kvwatch does not read, changes it: that only costs a
 * load, never a missed change.
 */
#ifndef MF_KVWATCH_FINGERPRINT_H
#define MF_KVWATCH_FINGERPRINT_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#define FINGERPRINT_MAX 160

/*
 * From the text of INFO persistence and INFO keyspace, for database db.
 * Returns 0, or -EPROTO when a field is missing (the server is not a Redis
 * kvwatch knows: no fingerprint, always load).
 */
int fingerprint_parse(const char *persistence, const char *keyspace, unsigned db, char *buf,
                      size_t len);

/* Ask c for both sections.  0, -EIO (connection) or -EPROTO, reason in err. */
int fingerprint_read(redisContext *c, unsigned db, char *buf, size_t len, char *err, size_t errlen);

#endif
