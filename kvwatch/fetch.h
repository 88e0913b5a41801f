/*
 * fetch: the live changes' fetch, off the event loop.
 *
 * A pub/sub batch names files whose properties must be read (MGETs on the
 * command connection).  Done on the loop thread, a slow or stalled Redis would
 * hold the loop for up to the command timeout, and with it the watchdog, the
 * subscriber and every timer.  fetch_start() hands the connection and the
 * batch to a thread that runs updates_fetch(); when it is done, the loop is
 * woken (an eventfd) and `done` runs there with the result, and the caller
 * takes the connection back.  One fetch at a time per connection.
 *
 * fetch_abandon() is for a connection given up meanwhile (a failure, a reload):
 * the thread finishes on its own and the fetch closes its connection without
 * calling `done`; the loop never waits for it.  The caller still frees it later
 * (fetch_free(), which waits only if it is still running then).
 */
#ifndef MF_KVWATCH_FETCH_H
#define MF_KVWATCH_FETCH_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "batch.h"
#include "keys.h"
#include "loader.h"
#include "record.h"

struct store;
struct fetch;

typedef void (*fetch_done_fn)(void *userdata, struct fetch *f);

/*
 * Start fetching what changes[0..n) need on c.  The fetch takes c, the changes
 * (malloc'ed; freed with it) and a copy of layout and schema.  -errno when the
 * thread cannot start (c and changes stay the caller's).
 */
int fetch_start(sd_event *event, redisContext *c, const struct key_layout *layout,
                const struct schema *schema, struct batch_change *changes, size_t n,
                fetch_done_fn done, void *userdata, struct fetch **ret);

/* In `done`: the outcome.  0, or -errno with the reason in *ret_err. */
int fetch_result(struct fetch *f, struct store **ret_fetched,
                 const struct batch_change **ret_changes, size_t *ret_n,
                 struct load_stats *ret_stats, const char **ret_err);
/* In `done`: take the connection back (NULL after a failure: it is freed). */
redisContext *fetch_take_connection(struct fetch *f);
/* The schema the values were fetched under (a copy of the one given). */
const struct schema *fetch_schema(const struct fetch *f);
/* After `done`, or instead of it at exit (waits for the thread). */
void fetch_free(struct fetch *f);
/* Give up a running fetch: see above. */
void fetch_abandon(struct fetch *f);

#endif
