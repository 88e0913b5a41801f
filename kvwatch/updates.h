/*
 * updates: live changes from meta-sort's pub/sub channel.
 *
 * The subscriber holds its own connection in subscribe mode, driven by the
 * event loop (non-blocking reads, at most SUBSCRIBER_READ_MAX bytes per wake-up
 * so one flood cannot starve the loop, at most SUBSCRIBER_BUFFER_MAX bytes of
 * one unfinished message before the connection is dropped).  Each message
 * payload goes to the caller; a closed or broken connection is reported once.
 *
 * updates_apply() carries out parsed changes on the store: add and update fetch
 * the file's properties (pipelined MGETs on the caller's command connection),
 * remove drops it.  Every id it touches is also recorded in `touched` (when
 * given), so a full load running meanwhile can be corrected with them.
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

int updates_apply(redisContext *c, const struct key_layout *layout, const struct schema *schema,
                  struct store *store, struct store *touched, const struct batch_change *changes,
                  size_t n, struct update_stats *stats, char *err, size_t errlen);

#endif
