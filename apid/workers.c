/*
 * workers: GET /api/fuse/workers (the supervisor's runtime_dir/status.json,
 * passed through once it parses as a JSON object) and POST /api/fuse/refresh.
 *
 * status.json is written by the supervisor (write + rename), so a read sees a
 * whole file.  Without a supervisor there is no such file: 503 with that
 * reason.  A refresh asks kvwatch for a full resync through the supervisor's
 * notify socket (apid runs as another user than kvwatch and cannot signal it);
 * without meta-fuse's supervisor it answers 503 and says what to do instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "daemon.h"
#include "workers.h"

#define STATUS_MAX (1024 * 1024)

int workers_load(const struct config *cfg, json_t **ret, char *err, size_t errlen)
{
	char path[4096];
	json_error_t jerr;
	json_t *doc;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cfg->runtime_dir, WORKERS_STATUS_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int r = -errno;

		if (r == -ENOENT)
			snprintf(err, errlen, "no supervisor: %s does not exist", path);
		else
			snprintf(err, errlen, "reading %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > STATUS_MAX) {
		close(fd);
		snprintf(err, errlen, "%s is not a regular file under %d bytes", path, STATUS_MAX);
		return -EINVAL;
	}
	doc = json_loadfd(fd, 0, &jerr);
	close(fd);
	if (doc == NULL || !json_is_object(doc)) {
		snprintf(err, errlen, "%s: %s", path, doc ? "not a JSON object" : jerr.text);
		json_decref(doc);
		return -EBADMSG;
	}
	*ret = doc;
	return 0;
}

int api_workers(struct api_call *c)
{
	char err[4200];
	json_t *doc;
	struct jsonw w;
	char *text;
	int r;

	r = workers_load(c->api->cfg, &doc, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return api_error(c, 503, "%s", err);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		return -ENOMEM;
	r = jsonw_init(&w);
	if (r == 0) {
		jsonw_raw(&w, text, strlen(text));
		r = api_reply(c, 200, &w);
	}
	free(text);
	return r;
}

/*
 * A full resync costs the shared Redis a walk of the whole keyspace: one asked
 * through the API is passed on at most this often.
 */
#define REFRESH_EVERY_NS (10LL * 1000000000)

int api_refresh(struct api_call *c)
{
	static _Atomic int64_t last_ns;
	struct timespec ts;
	int64_t now, prev;
	struct jsonw w;
	int r;

	/* Only meta-fuse's supervisor passes the request on (SIGUSR2 to kvwatch). */
	if (getenv("META_FUSE_SUPERVISOR") == NULL || getenv("NOTIFY_SOCKET") == NULL)
		return api_error(c, 503,
		                 "no supervisor to pass the request to kvwatch: send it SIGUSR2, "
		                 "or wait for its own resync (kv.refresh_interval_ms = %u)",
		                 c->api->cfg->kv.refresh_interval_ms);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	prev = atomic_load(&last_ns);
	if ((prev != 0 && now - prev < REFRESH_EVERY_NS) ||
	    !atomic_compare_exchange_strong(&last_ns, &prev, now))
		return api_error(c, 429, "a resync was asked for less than %lld s ago",
		                 (long long)(REFRESH_EVERY_NS / 1000000000));
	if (daemon_notify("X_META_FUSE_REFRESH=1") <= 0)
		return api_error(c, 503, "the supervisor's notify socket did not take the request");
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "status", "accepted");
	jsonw_kv_string(&w, "message", "kvwatch was asked for a full resync");
	jsonw_object_end(&w);
	return api_reply(c, 202, &w);
}
