/*
 * leader: parse the leader lock file and watch it with inotify (see leader.h).
 */
#include "leader.h"
#include "log.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redis_url.h"

#define SETTLE_USEC (50 * 1000ULL)       /* after an event, let the writer finish */
#define POLL_USEC   (5 * 1000 * 1000ULL) /* fallback re-read */
#define DIR_EVENTS                                                                          \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define PARENT_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)

void leader_lock_clear(struct leader_lock *l)
{
	free(l->api);
	free(l->host);
	free(l->http);
	memset(l, 0, sizeof(*l));
}

/* An optional string field: absent or null is fine, another type is not. */
static int opt_string(json_t *root, const char *key, char **ret, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return errbuf_set(err, errlen, -EINVAL, "\"%s\": expected a string", key);
	*ret = strndup(json_string_value(v), json_string_length(v));
	return *ret ? 0 : -ENOMEM;
}

int leader_parse(const char *buf, size_t len, struct leader_lock *ret, char *err, size_t errlen)
{
	struct leader_lock l = {0};
	json_error_t jerr;
	json_t *root, *v;
	int r;

	if (len == 0)
		return errbuf_set(err, errlen, -EINVAL, "empty");
	if (len > LEADER_LOCK_MAX)
		return errbuf_set(err, errlen, -EINVAL, "larger than %d bytes", LEADER_LOCK_MAX);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return errbuf_set(err, errlen, -EINVAL, "not JSON: %s at line %d column %d",
		                  jerr.text, jerr.line, jerr.column);
	if (!json_is_object(root)) {
		r = errbuf_set(err, errlen, -EINVAL, "not a JSON object");
		goto out;
	}
	v = json_object_get(root, "api");
	if (v == NULL || json_is_null(v)) {
		r = errbuf_set(err, errlen, -EINVAL, "no \"api\" (the Redis URL)");
		goto out;
	}
	if (!json_is_string(v)) {
		r = errbuf_set(err, errlen, -EINVAL, "\"api\": expected a string");
		goto out;
	}
	if (json_string_length(v) == 0) {
		r = errbuf_set(err, errlen, -EINVAL, "\"api\" is empty");
		goto out;
	}
	l.api = strndup(json_string_value(v), json_string_length(v));
	if (l.api == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = opt_string(root, "host", &l.host, err, errlen);
	if (r == 0)
		r = opt_string(root, "http", &l.http, err, errlen);
	if (r < 0)
		goto out;
	v = json_object_get(root, "timestamp");
	if (v != NULL && !json_is_null(v)) {
		double d = json_number_value(v);

		if (!json_is_number(v) || !isfinite(d) || d < -9.2e18 || d > 9.2e18) {
			r = errbuf_set(err, errlen, -EINVAL, "\"timestamp\": expected a number");
			goto out;
		}
		l.timestamp = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)d;
		l.has_timestamp = true;
	}
	v = json_object_get(root, "pid");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v)) {
			r = errbuf_set(err, errlen, -EINVAL, "\"pid\": expected an integer");
			goto out;
		}
		l.pid = (int64_t)json_integer_value(v);
		l.has_pid = true;
	}
	*ret = l;
	memset(&l, 0, sizeof(l));
	r = 0;
out:
	leader_lock_clear(&l);
	json_decref(root);
	return r;
}

int leader_read(const char *path, struct leader_lock *ret, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		errbuf_set(err, errlen, -EINVAL, "%s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		errbuf_set(err, errlen, -EINVAL, "%s", strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = errbuf_set(err, errlen, -EINVAL, "is a directory");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = errbuf_set(err, errlen, -EINVAL, "not a regular file");
		goto out;
	}
	if (st.st_size > LEADER_LOCK_MAX) {
		r = errbuf_set(err, errlen, -EINVAL, "larger than %d bytes", LEADER_LOCK_MAX);
		goto out;
	}
	buf = malloc(LEADER_LOCK_MAX + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* The size may change under us: read until EOF, but never past the limit. */
	for (;;) {
		ssize_t n = read(fd, buf + len, LEADER_LOCK_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			errbuf_set(err, errlen, -EINVAL, "%s", strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > LEADER_LOCK_MAX) {
			r = errbuf_set(err, errlen, -EINVAL, "larger than %d bytes",
			               LEADER_LOCK_MAX);
			goto out;
		}
	}
	r = leader_parse(buf, len, ret, err, errlen);
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- the watcher ---- */

struct leader_watch {
	sd_event *event;
	char *parent; /* <meta_core_path> */
	char *dir;    /* <meta_core_path>/locks */
	char *path;   /* <meta_core_path>/locks/kv-leader.lock */
	int ifd;
	int wd_dir;
	int wd_parent;
	sd_event_source *io;
	sd_event_source *settle;
	sd_event_source *poll;
	leader_cb cb;
	void *userdata;
	char *last_url;
	char *last_error;
};

const char *leader_watch_path(const struct leader_watch *w)
{
	return w->path;
}

/* Watch the locks directory, or its parent until the directory appears. */
static void add_watches(struct leader_watch *w)
{
	if (w->ifd < 0 || w->wd_dir >= 0)
		return;
	w->wd_dir = inotify_add_watch(w->ifd, w->dir, DIR_EVENTS);
	if (w->wd_dir >= 0) {
		if (w->wd_parent >= 0) {
			inotify_rm_watch(w->ifd, w->wd_parent);
			w->wd_parent = -1;
		}
		return;
	}
	if (w->wd_parent < 0)
		w->wd_parent = inotify_add_watch(w->ifd, w->parent, PARENT_EVENTS);
}

static void report_error(struct leader_watch *w, const char *reason)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "leader lock %s: %s", w->path, reason);
	if (w->last_error != NULL && strcmp(w->last_error, msg) == 0) {
		log_debug("%s (said already)", msg);
		return;
	}
	free(w->last_error);
	w->last_error = strdup(msg);
	w->cb(w->userdata, NULL, msg);
}

void leader_watch_check(struct leader_watch *w)
{
	struct leader_lock lock = {0};
	struct redis_url *url = NULL;
	char err[256];
	bool was_error;

	add_watches(w);
	if (leader_read(w->path, &lock, err, sizeof(err)) < 0) {
		report_error(w, err);
		return;
	}
	if (redis_url_parse(lock.api, &url, err, sizeof(err)) < 0) {
		char reason[300];

		snprintf(reason, sizeof(reason), "\"api\": %s", err);
		leader_lock_clear(&lock);
		report_error(w, reason);
		return;
	}
	redis_url_free(url);
	was_error = w->last_error != NULL;
	free(w->last_error);
	w->last_error = NULL;
	if (w->last_url == NULL || strcmp(w->last_url, lock.api) != 0 || was_error) {
		free(w->last_url);
		w->last_url = lock.api;
		lock.api = NULL;
		w->cb(w->userdata, w->last_url, NULL);
	}
	leader_lock_clear(&lock);
}

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct leader_watch *w = userdata;

	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	leader_watch_check(w);
	return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct leader_watch *w = userdata;

	leader_watch_check(w);
	sd_event_source_set_time(s, usec + POLL_USEC);
	return 0;
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct leader_watch *w = userdata;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->wd == w->wd_dir) {
				if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
					if (!(ev->mask & IN_IGNORED))
						inotify_rm_watch(w->ifd, w->wd_dir);
					w->wd_dir = -1;
					relevant = true;
				} else if (ev->len > 0 && strcmp(ev->name, LEADER_LOCK_NAME) == 0) {
					relevant = true;
				}
			} else if (ev->wd == w->wd_parent) {
				if (ev->mask & IN_IGNORED)
					w->wd_parent = -1;
				else if (ev->len > 0 && strcmp(ev->name, LEADER_LOCK_DIR) == 0)
					relevant = true;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
	if (relevant) {
		uint64_t now;

		add_watches(w);
		sd_event_now(w->event, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(w->settle, now + SETTLE_USEC);
		sd_event_source_set_enabled(w->settle, SD_EVENT_ONESHOT);
	}
	return 0;
}

int leader_watch_new(sd_event *event, const char *meta_core_path, leader_cb cb, void *userdata,
                     struct leader_watch **ret)
{
	struct leader_watch *w = calloc(1, sizeof(*w));
	uint64_t now;
	int r = -ENOMEM;

	if (w == NULL)
		return -ENOMEM;
	w->event = sd_event_ref(event);
	w->cb = cb;
	w->userdata = userdata;
	w->ifd = -1;
	w->wd_dir = -1;
	w->wd_parent = -1;
	w->parent = strdup(meta_core_path);
	if (w->parent == NULL)
		goto fail;
	if (asprintf(&w->dir, "%s/%s", meta_core_path, LEADER_LOCK_DIR) < 0) {
		w->dir = NULL;
		goto fail;
	}
	if (asprintf(&w->path, "%s/%s", w->dir, LEADER_LOCK_NAME) < 0) {
		w->path = NULL;
		goto fail;
	}
	/* Without inotify (a limit reached) the poll timer still follows the lock. */
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd >= 0) {
		r = sd_event_add_io(event, &w->io, w->ifd, EPOLLIN, on_inotify, w);
		if (r < 0)
			goto fail;
	}
	sd_event_now(event, CLOCK_MONOTONIC, &now);
	r = sd_event_add_time(event, &w->settle, CLOCK_MONOTONIC, now, 0, on_settle, w);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(w->settle, SD_EVENT_OFF);
	r = sd_event_add_time(event, &w->poll, CLOCK_MONOTONIC, now + POLL_USEC, 0, on_poll, w);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(w->poll, SD_EVENT_ON);
	add_watches(w);
	*ret = w;
	return 0;
fail:
	leader_watch_free(w);
	return r;
}

void leader_watch_free(struct leader_watch *w)
{
	if (w == NULL)
		return;
	sd_event_source_disable_unref(w->io);
	sd_event_source_disable_unref(w->settle);
	sd_event_source_disable_unref(w->poll);
	if (w->ifd >= 0)
		close(w->ifd);
	sd_event_unref(w->event);
	free(w->parent);
	free(w->dir);
	free(w->path);
	free(w->last_url);
	free(w->last_error);
	free(w);
}
