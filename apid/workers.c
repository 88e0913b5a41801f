/*
 * workers: GET /api/fuse/workers (the supervisor's runtime_dir/status.json,
 * passed through once it parses as a JSON object) and POST /api/fuse/refresh.
 *
 * status.json is written by the supervisor (write + rename), so a read sees a
 * whole file.  Without a supervisor there is no such file: 503 with that
 * reason.  A refresh would ask kvwatch for a full resync, but apid runs as
 * another user than kvwatch and there is no channel for it yet: it answers 503
 * and says how often kvwatch resyncs by itself (docs/api.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
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

int api_refresh(struct api_call *c)
{
	return api_error(c, 503,
	                 "no resync channel to kvwatch: kvwatch follows changes as they are "
	                 "announced and resyncs by itself every %u ms (kv.refresh_interval_ms)",
	                 c->api->cfg->kv.refresh_interval_ms);
}
