/*
 * conn: kvwatch's connections and whom they follow.  Every change of state goes
 * through kv_event() (state.h holds the one table); the leader lock or
 * kv.redis_url names the Redis, the command connection and the subscriber are
 * made and dropped here, and a failure is handled once, deferred to its own
 * event (so that no connection is freed under its own callback): the
 * connections go, the state says disconnected, and a jittered, capped backoff
 * leads to the next attempt, then a full load.
 */
#include "kvwatch_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <systemd/sd-event.h>

#include "backoff.h"
#include "config.h"
#include "keys.h"
#include "leader.h"
#include "log.h"
#include "redis.h"
#include "redis_url.h"
#include "state.h"
#include "updates.h"

void kv_event(struct kvwatch *kv, enum kv_event ev)
{
	enum kv_state to = kv_state_next(kv->state, ev);

	if (to != kv->state)
		log_debug("state %s -> %s (%s)", kv_state_name(kv->state), kv_state_name(to),
		          kv_event_name(ev));
	kv->state = to;
}

void kv_set_error(struct kvwatch *kv, const char *text)
{
	if (text == NULL || text[0] == '\0') {
		kv->error[0] = '\0';
		kv->error_since_ns = 0;
		return;
	}
	if (kv->error[0] == '\0')
		kv->error_since_ns = realtime_ns();
	/* Cut, not overflowed: the text ends up in the snapshot and ERROR.txt. */
	memccpy(kv->error, text, '\0', sizeof(kv->error) - 1);
	kv->error[sizeof(kv->error) - 1] = '\0';
}

void conn_disconnect(struct kvwatch *kv)
{
	live_drop(kv);
	subscriber_free(kv->sub);
	kv->sub = NULL;
	if (kv->cmd != NULL)
		redisFree(kv->cmd);
	kv->cmd = NULL;
	fullload_cancel(kv);
	disarm(kv->resync_timer);
}

void kv_fail(struct kvwatch *kv, const char *fmt, ...)
{
	va_list ap;

	if (kv->fail_pending)
		return; /* the first reason is the one that counts */
	va_start(ap, fmt);
	vsnprintf(kv->fail_reason, sizeof(kv->fail_reason), fmt, ap);
	va_end(ap);
	kv->fail_pending = true;
	sd_event_source_set_enabled(kv->fail_defer, SD_EVENT_ONESHOT);
}

int conn_on_fail(sd_event_source *s, void *userdata)
{
	struct kvwatch *kv = userdata;
	char text[ERROR_MAX + 200];
	uint32_t rnd = 0, delay;

	kv->fail_pending = false;
	conn_disconnect(kv);
	kv_event(kv, KV_EV_FAILED);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd = (uint32_t)realtime_ns();
	delay = backoff_next(&kv->backoff, rnd);
	snprintf(text, sizeof(text), "%s: %s", leader_name(kv), kv->fail_reason);
	if (strcmp(text, kv->error) != 0)
		log_warnx("%s; retrying in %u ms", text, delay);
	else
		log_debug("%s; retrying in %u ms", text, delay);
	kv_set_error(kv, text);
	if (gen_state_changed(kv))
		gen_schedule(kv);
	arm(kv->retry_timer, now_usec(kv) + delay * USEC_PER_MS);
	return 0;
}

static void on_sub_error(void *userdata, const char *error)
{
	kv_fail(userdata, "pub/sub: %s", error);
}

void conn_connect(struct kvwatch *kv)
{
	char err[256];
	int r;

	disarm(kv->retry_timer);
	conn_disconnect(kv);
	if (kv->url == NULL) {
		/* No leader known: the error says why; serve what we have. */
		if (gen_state_changed(kv))
			gen_schedule(kv);
		return;
	}
	r = redis_connect(kv->url, kv->cfg->kv.connect_timeout_ms, kv->cfg->kv.command_timeout_ms,
	                  &kv->cmd, err, sizeof(err));
	if (r < 0) {
		kv_fail(kv, "%s", err);
		return;
	}
	r = subscriber_new(kv->event, kv->url, kv->cfg->kv.connect_timeout_ms,
	                   kv->cfg->kv.command_timeout_ms, kv->channel, live_on_message,
	                   on_sub_error, kv, &kv->sub, err, sizeof(err));
	if (r < 0) {
		kv_fail(kv, "%s", err);
		return;
	}
	if (kv->error[0] != '\0' || !kv->pub.ready)
		log_info("connected to %s, subscribed to %s", kv->url->redacted, kv->channel);
	kv_event(kv, KV_EV_CONNECTED);
	kv_set_error(kv, NULL);
	/* Messages may have been missed while away: a full resync. */
	fullload_start(kv);
}

int conn_on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	kv_event(userdata, KV_EV_RETRY);
	conn_connect(userdata);
	return 0;
}

static void on_leader(void *userdata, const char *url, const char *error)
{
	struct kvwatch *kv = userdata;
	struct redis_url *u = NULL;
	char err[256];
	char *text;

	if (url == NULL) {
		kv->lock_bad = true;
		if (kv->url != NULL) {
			log_warnx("%s; staying with %s", error, kv->url->redacted);
			return;
		}
		log_warnx("%s; waiting for a usable lock", error);
		kv_event(kv, KV_EV_NO_LEADER);
		kv_set_error(kv, error);
		if (gen_state_changed(kv))
			gen_schedule(kv);
		return;
	}
	if (kv->url_text != NULL && strcmp(kv->url_text, url) == 0) {
		if (kv->lock_bad)
			log_info("leader lock %s is usable again", leader_watch_path(kv->leader));
		kv->lock_bad = false;
		return;
	}
	kv->lock_bad = false;
	if (redis_url_parse(url, &u, err, sizeof(err)) < 0 || (text = strdup(url)) == NULL) {
		redis_url_free(u);
		log_warnx("leader lock: \"api\": %s", err);
		return;
	}
	if (kv->url != NULL)
		log_notice("the leader moved from %s to %s", kv->url->redacted, u->redacted);
	else
		log_info("leader is %s", u->redacted);
	free(kv->url_text);
	redis_url_free(kv->url);
	kv->url_text = text;
	kv->url = u;
	backoff_reset(&kv->backoff);
	kv_event(kv, KV_EV_LEADER);
	conn_connect(kv);
}

/* Whom to follow and under which keys: kv.redis_url, or the leader lock. */
int conn_setup(struct kvwatch *kv)
{
	struct config *cfg = kv->cfg;
	char err[256];
	int r;

	if (keys_init(&kv->layout, cfg->kv.prefix, cfg->kv.separator) < 0) {
		log_errorx("kv.prefix or kv.separator: empty separator or too long");
		return -EINVAL;
	}
	keys_channel(&kv->layout, kv->channel, sizeof(kv->channel));
	if (cfg->kv.redis_url[0] != '\0') {
		r = redis_url_parse(cfg->kv.redis_url, &kv->url, err, sizeof(err));
		if (r < 0) {
			log_errorx("kv.redis_url: %s", err);
			return r;
		}
		kv->url_text = strdup(cfg->kv.redis_url);
		if (kv->url_text == NULL)
			return -ENOMEM;
		log_info("following %s (kv.redis_url, no leader discovery)", kv->url->redacted);
		return 0;
	}
	r = leader_watch_new(kv->event, cfg->kv.meta_core_path, on_leader, kv, &kv->leader);
	if (r < 0) {
		log_errorx("watching the leader lock: %s", strerror(-r));
		return r;
	}
	log_info("discovering the leader through %s", leader_watch_path(kv->leader));
	return 0;
}

void conn_drop(struct kvwatch *kv)
{
	conn_disconnect(kv);
	kv->fail_pending = false;
	if (kv->fail_defer != NULL)
		disarm(kv->fail_defer);
	if (kv->retry_timer != NULL)
		disarm(kv->retry_timer);
	leader_watch_free(kv->leader);
	kv->leader = NULL;
	kv->lock_bad = false;
	free(kv->url_text);
	kv->url_text = NULL;
	redis_url_free(kv->url);
	kv->url = NULL;
	kv_event(kv, KV_EV_SOURCE_GONE);
}

void conn_start(struct kvwatch *kv)
{
	if (kv->leader != NULL) {
		leader_watch_check(kv->leader);
		return;
	}
	kv_event(kv, KV_EV_LEADER);
	conn_connect(kv);
}
