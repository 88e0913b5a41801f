/*
 * updates: live changes from meta-sort's pub/sub channel.
 *
 * The subscriber holds its own connection in subscribe mode, driven by the
 * event loop (non-blocking reads, at most SUBSCRIBER_READ_MAX bytes per wake-up
 * so one flood cannot starve the loop, at most SUBSCRIBER_BUFFER_MAX bytes of
 * one unfinished message before the connection is dropped).  Each message
 * payload goes to the caller; a closed or broken connection is reported once.
 *
 * updates_fetch() fetches what parsed changes need (pipelined MGETs on a command
 * connection, off the event loop) and updates_merge() then carries them out on
 * the store: add and update take the fetched properties, remove drops the file.
 * Every id it touches is also recorded in `touched` (when given), so a full load
 * running meanwhile can be corrected with them.
 */
#ifndef MF_KVWATCH_UPDATES_H
#define MF_KVWATCH_UPDATES_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "batch.h"
#include "keys.h"
#include "loader.h"
#include "record.h"
#include "redis_url.h"

#define SUBSCRIBER_READ_MAX   (1u << 20)
#define SUBSCRIBER_BUFFER_MAX (64u << 20)

struct store;
struct subscriber;

typedef void (*subscriber_message_cb)(void *userdata, const char *payload, size_t len);
typedef void (*subscriber_error_cb)(void *userdata, const char *error);

/*
 * Connect (blocking, with the timeouts), SUBSCRIBE to channel and wait for the
 * confirmation, then follow the connection in event.  -errno with err set.
 */
int subscriber_new(sd_event *event, const struct redis_url *u, uint32_t connect_timeout_ms,
                   uint32_t command_timeout_ms, const char *channel, subscriber_message_cb on_msg,
                   subscriber_error_cb on_error, void *userdata, struct subscriber **ret, char *err,
                   size_t errlen);
void subscriber_free(struct subscriber *s);

struct update_stats {
	uint64_t fetched;       /* add/update */
	uint64_t removed;       /* remove changes */
	uint64_t changed;       /* records of the store that changed (0: publish nothing) */
	struct load_stats load; /* of the fetches */
};

/*
 * Fetch the properties of every add and update of changes[0..n) on c (pipelined
 * MGETs) into a new store of schema; an id none of whose keys exists is absent
 * from it.  Blocking: kvwatch runs it on a thread (fetch.h).  Returns 0 and the
 * store (the caller owns it), or -EIO when the connection failed (reason in err).
 */
int updates_fetch(redisContext *c, const struct key_layout *layout, const struct schema *schema,
                  const struct batch_change *changes, size_t n, struct store **ret,
                  struct load_stats *stats, char *err, size_t errlen);

/*
 * Carry changes[0..n) out on store in message order, the values of adds and
 * updates from fetched (absent there: the file is gone); record every id in
 * touched when given.  fetched has store's schema.  0 or -ENOMEM.
 */
int updates_merge(struct store *store, struct store *touched, struct store *fetched,
                  const struct batch_change *changes, size_t n, struct update_stats *stats);

#endif
