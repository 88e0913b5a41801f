/*
 * updates: the pub/sub subscriber and the application of change batches (see
 * updates.h).
 */
#include "updates.h"
#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"
#include "store.h"

struct subscriber {
	redisContext *c;
	sd_event_source *io;
	sd_event_source *kick;
	subscriber_message_cb on_msg;
	subscriber_error_cb on_error;
	void *userdata;
	bool failed;
	size_t unparsed; /* bytes read since the last whole reply (to within one read) */
};

static bool is_str(const redisReply *r, const char *s)
{
	return r->type == REDIS_REPLY_STRING && r->len == strlen(s) &&
	       memcmp(r->str, s, r->len) == 0;
}

static void fail_once(struct subscriber *s, const char *why)
{
	if (s->failed)
		return;
	s->failed = true;
	sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
	s->on_error(s->userdata, why);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct subscriber *s = userdata;
	char err[256];
	redisReply *reply;
	size_t got = 0;
	int r;

	r = redis_read_some(s->c, SUBSCRIBER_READ_MAX, &got, err, sizeof(err));
	s->unparsed += got;
	while (r == 0 && !s->failed) {
		r = redis_next_reply(s->c, &reply, err, sizeof(err));
		if (r <= 0)
			break;
		r = 0;
		s->unparsed = 0;
		if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
		    is_str(reply->element[0], "message") &&
		    reply->element[2]->type == REDIS_REPLY_STRING)
			s->on_msg(s->userdata, reply->element[2]->str, reply->element[2]->len);
		else
			log_debug("subscriber: ignoring a reply of type %d", reply->type);
		freeReplyObject(reply);
	}
	if (s->failed)
		return 0;
	if (r < 0) {
		fail_once(s, err);
		return 0;
	}
	if (s->unparsed > SUBSCRIBER_BUFFER_MAX) {
		snprintf(err, sizeof(err), "a pub/sub message exceeds %u bytes",
		         SUBSCRIBER_BUFFER_MAX);
		fail_once(s, err);
	}
	return 0;
}

static int on_kick(sd_event_source *src, void *userdata)
{
	struct subscriber *s = userdata;

	return on_io(s->io, s->c->fd, EPOLLIN, s);
}

int subscriber_new(sd_event *event, const struct redis_url *u, uint32_t connect_timeout_ms,
                   uint32_t command_timeout_ms, const char *channel, subscriber_message_cb on_msg,
                   subscriber_error_cb on_error, void *userdata, struct subscriber **ret, char *err,
                   size_t errlen)
{
	const char *argv[] = {"SUBSCRIBE", channel};
	size_t lens[] = {9, strlen(channel)};
	struct subscriber *s;
	redisReply *reply;
	int r;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->on_msg = on_msg;
	s->on_error = on_error;
	s->userdata = userdata;
	r = redis_connect(u, connect_timeout_ms, command_timeout_ms, &s->c, err, errlen);
	if (r < 0)
		goto fail;
	r = redis_call(s->c, 2, argv, lens, &reply, err, errlen);
	if (r < 0)
		goto fail;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    !is_str(reply->element[0], "subscribe")) {
		errbuf_set(err, errlen, 0, "SUBSCRIBE: unexpected reply%s%.*s",
		           reply->type == REDIS_REPLY_ERROR ? ": " : "",
		           reply->type == REDIS_REPLY_ERROR
		               ? (int)(reply->len > 200 ? 200 : reply->len)
		               : 0,
		           reply->type == REDIS_REPLY_ERROR ? reply->str : "");
		freeReplyObject(reply);
		r = -EPROTO;
		goto fail;
	}
	freeReplyObject(reply);
	r = redis_set_nonblocking(s->c);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "fcntl: %s", strerror(-r));
		goto fail;
	}
	r = sd_event_add_io(event, &s->io, s->c->fd, EPOLLIN, on_io, s);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "watching the connection: %s", strerror(-r));
		goto fail;
	}
	/* Messages that came with the SUBSCRIBE reply may sit in the parser already. */
	r = sd_event_add_defer(event, &s->kick, on_kick, s);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "watching the connection: %s", strerror(-r));
		goto fail;
	}
	sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
	*ret = s;
	return 0;
fail:
	subscriber_free(s);
	return r;
}

void subscriber_free(struct subscriber *s)
{
	if (s == NULL)
		return;
	sd_event_source_disable_unref(s->io);
	sd_event_source_disable_unref(s->kick);
	if (s->c != NULL)
		redisFree(s->c);
	free(s);
}

int updates_fetch(redisContext *c, const struct key_layout *layout, const struct schema *schema,
                  const struct batch_change *changes, size_t n, struct store **ret,
                  struct load_stats *st, char *err, size_t errlen)
{
	const char **ids = calloc(n ? n : 1, sizeof(*ids));
	uint32_t *lens = calloc(n ? n : 1, sizeof(*lens));
	struct store *fetched = NULL;
	size_t nf = 0;
	int r;

	r = ids == NULL || lens == NULL ? -ENOMEM : store_new(schema, false, &fetched);
	if (r < 0) {
		errbuf_set(err, errlen, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (changes[i].action == BATCH_REMOVE)
			continue;
		ids[nf] = changes[i].id;
		lens[nf] = changes[i].id_len;
		nf++;
	}
	r = loader_fetch(c, layout, schema, fetched, ids, lens, nf, st, err, errlen);
	if (r == 0) {
		*ret = fetched;
		fetched = NULL;
	}
out:
	store_free(fetched);
	free(ids);
	free(lens);
	return r;
}

int updates_merge(struct store *store, struct store *touched, struct store *fetched,
                  const struct batch_change *changes, size_t n, struct update_stats *st)
{
	uint32_t np = store_nprops(store);
	struct strview *vals = calloc(np, sizeof(*vals)), *none = calloc(np, sizeof(*none));
	int r = vals == NULL || none == NULL ? -ENOMEM : 0;

	/* In message order: a remove after an add wins, an add after a remove too. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct batch_change *ch = &changes[i];

		if (touched != NULL && store_put(touched, ch->id, ch->id_len, none) < 0) {
			r = -ENOMEM;
			break;
		}
		if (ch->action == BATCH_REMOVE) {
			st->changed += store_remove(store, ch->id, ch->id_len);
			st->removed++;
			continue;
		}
		st->fetched++;
		if (!store_get(fetched, ch->id, ch->id_len, vals)) {
			/* None of its keys is left. */
			st->changed += store_remove(store, ch->id, ch->id_len);
			continue;
		}
		r = store_put_changed(store, ch->id, ch->id_len, vals);
		if (r > 0)
			st->changed++;
		r = r < 0 ? r : 0;
	}
	free(vals);
	free(none);
	return r;
}
