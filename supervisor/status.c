/*
 * status: the supervisor's view of every worker as one JSON object, for
 * `meta-fuse status --json` (live, with uptimes) and for status.json in the
 * runtime directory (apid reads it; rewritten atomically, temporary file and
 * rename, at most once per loop iteration after a change).
 *
 * The snapshot's figures (generation, files, key-value store state, held
 * removals) come from the fixed header of vfs.snapshot, read with one pread():
 * the supervisor never maps the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "snapshot_format.h"
#include "supervisor.h"

static const char *const state_names[WORKER_STATE_MAX] = {
    [WORKER_STOPPED] = "stopped", [WORKER_WAITING] = "waiting",   [WORKER_STARTING] = "starting",
    [WORKER_RUNNING] = "running", [WORKER_STOPPING] = "stopping", [WORKER_BACKOFF] = "backoff",
    [WORKER_FATAL] = "fatal",     [WORKER_FAILED] = "failed",     [WORKER_SKIPPED] = "skipped",
};

const char *worker_state_name(enum worker_state st)
{
	return st < WORKER_STATE_MAX ? state_names[st] : "?";
}

static void put_str(FILE *f, const char *key, const char *value)
{
	fprintf(f, ",\"%s\":", key);
	json_put_string(f, value, strlen(value));
}

static void put_snapshot(FILE *f, const struct supervisor *s)
{
	struct snap_header h;
	char path[PATH_MAX];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", s->cfg->runtime_dir, SNAP_FILE_NAME);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = pread(fd, &h, sizeof(h), 0);
		close(fd);
	}
	if (n != (ssize_t)sizeof(h) || memcmp(h.magic, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0 ||
	    h.version != SNAP_VERSION) {
		fputs(",\"snapshot\":null", f);
		return;
	}
	fprintf(f,
	        ",\"snapshot\":{\"generation\":%" PRIu64 ",\"files\":%" PRIu64
	        ",\"directories\":%" PRIu64 ",\"totalSize\":%" PRIu64
	        ",\"kvConnected\":%s,\"held\":%s,\"heldRemovals\":%" PRIu64 "}",
	        h.generation, h.files, h.directories, h.total_bytes,
	        h.kv_connected ? "true" : "false", (h.kv_flags & SNAP_KV_HELD) ? "true" : "false",
	        h.kv_held_removals);
}

char *status_json(const struct supervisor *s, bool live)
{
	uint64_t now = now_usec();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "{\"pid\":%d", (int)getpid());
	put_str(f, "state", s->stopping ? "stopping" : s->ready_sent ? "running" : "starting");
	fprintf(f, ",\"generation\":%" PRIu64, s->generation);
	put_snapshot(f, s);
	fputs(",\"workers\":[", f);
	for (size_t i = 0, n = 0; i < s->worker_count; i++) {
		const struct worker *w = s->workers[i];
		bool up = w->pid > 0;

		if (w->remove && !up)
			continue; /* a program a reload dropped */
		fputs(n++ ? ",{" : "{", f);
		fputs("\"name\":", f);
		json_put_string(f, w->name, strlen(w->name));
		put_str(f, "state", worker_state_name(w->state));
		fprintf(f, ",\"pid\":%d,\"since\":%" PRId64 ",\"restarts\":%u",
		        up ? (int)w->pid : 0, w->since_ms, w->restarts);
		if (live)
			fprintf(f, ",\"uptimeMs\":%" PRIu64,
			        up ? (now - w->started_usec) / 1000 : (uint64_t)0);
		put_str(f, "lastExit", w->last_exit);
		put_str(f, "status", w->status);
		if (w->state == WORKER_SKIPPED && w->skip_reason)
			put_str(f, "reason", w->skip_reason);
		if (w->state == WORKER_WAITING && w->waiting_for[0])
			put_str(f, "waitingFor", w->waiting_for);
		fputc('}', f);
	}
	fputs("]}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void write_status_file(struct supervisor *s)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	char *json = status_json(s, false);
	size_t len;
	int fd;

	if (!json)
		return;
	len = strlen(json);
	snprintf(path, sizeof(path), "%s/status.json", s->cfg->runtime_dir);
	snprintf(tmp, sizeof(tmp), "%s/.status.json.tmp", s->cfg->runtime_dir);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, json, len) != (ssize_t)len || fchmod(fd, 0644) < 0 ||
	    rename(tmp, path) < 0) {
		log_warn("cannot write \"%s\"", path);
		(void)unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	free(json);
}

static int on_status_defer(sd_event_source *src, void *userdata)
{
	struct supervisor *s = userdata;

	sd_event_source_set_enabled(src, SD_EVENT_OFF);
	write_status_file(s);
	/* One line for systemd, too, naming the workers that gave up. */
	if (!s->stopping) {
		unsigned up = 0, total = 0;
		char down[256] = "";
		size_t n = 0;

		for (size_t i = 0; i < s->worker_count; i++) {
			const struct worker *w = s->workers[i];

			if (w->state == WORKER_SKIPPED || w->remove)
				continue;
			total++;
			up += w->state == WORKER_RUNNING;
			if ((w->state == WORKER_FATAL || w->state == WORKER_FAILED) &&
			    n < sizeof(down))
				n += (size_t)snprintf(down + n, sizeof(down) - n, ", %s %s",
				                      w->name, worker_state_name(w->state));
		}
		sd_notifyf(0, "STATUS=%u of %u workers running%s, generation %" PRIu64, up, total,
		           down, s->generation);
	}
	return 0;
}

void status_changed(struct supervisor *s)
{
	if (!s->status_defer) {
		if (sd_event_add_defer(s->event, &s->status_defer, on_status_defer, s) < 0)
			return;
		sd_event_source_set_priority(s->status_defer, SD_EVENT_PRIORITY_IDLE);
	}
	sd_event_source_set_enabled(s->status_defer, SD_EVENT_ONESHOT);
}
