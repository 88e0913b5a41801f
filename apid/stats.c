/*
 * stats: GET /health (and /api/health, /api/fuse/health) and GET
 * /api/fuse/stats, both read from the header of the generation being served.
 *
 * Health is what a load balancer or the container's HEALTHCHECK looks at: 200
 * while a snapshot is served and it says the key-value store is connected, 503
 * with the reason otherwise.  Stats carry the original service's fields plus
 * what the dashboard shows (skip reasons, hidden records per rule, the held
 * removal, the leader).  Whether the FUSE mount is up is read from
 * /proc/self/mountinfo (apid shares the supervisor's mount namespace), at most
 * once a second.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "generation.h"
#include "snapshot.h"

#define MOUNT_CHECK_NS 1000000000LL

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static bool mountinfo_has_fuse(const char *mount_point)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		char *fields[5], *save = NULL, *p = line, *dash;
		int n = 0;

		dash = strstr(line, " - ");
		if (dash == NULL)
			continue;
		*dash = '\0';
		for (char *t = strtok_r(p, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
			fields[n++] = t;
		if (n < 5)
			continue;
		unescape(fields[4]);
		if (strcmp(fields[4], mount_point) == 0 && strncmp(dash + 3, "fuse", 4) == 0)
			found = true;
	}
	free(line);
	fclose(f);
	return found;
}

bool api_fuse_is_mounted(const struct api *api)
{
	static _Atomic int64_t checked_ns;
	static atomic_bool mounted;
	int64_t now = api_now_ns(api);

	if (!api->cfg->fuse.enabled)
		return false;
	if (now - atomic_load(&checked_ns) >= MOUNT_CHECK_NS || now < atomic_load(&checked_ns)) {
		atomic_store(&mounted, mountinfo_has_fuse(api->cfg->fuse.mount_point));
		atomic_store(&checked_ns, now);
	}
	return atomic_load(&mounted);
}

int api_health(struct api_call *c)
{
	const struct snap_header *h = c->gen->snap ? snapshot_header(c->gen->snap) : NULL;
	char reason[512] = "";
	struct jsonw w;
	int r;

	if (h == NULL)
		snprintf(reason, sizeof(reason), "no snapshot loaded yet");
	else if (!h->kv_connected)
		snprintf(reason, sizeof(reason), "the key-value store is disconnected: %s",
		         *snapshot_str(c->gen->snap, h->kv_error)
		             ? snapshot_str(c->gen->snap, h->kv_error)
		             : "no reason given");
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "status", *reason ? "error" : "ok");
	if (*reason)
		jsonw_kv_string(&w, "error", reason);
	jsonw_kv_time(&w, "timestamp", api_now_ns(c->api));
	jsonw_kv_string(&w, "service", "meta-fuse");
	jsonw_kv_u64(&w, "generation", c->gen->number);
	jsonw_kv_string(&w, "kvConnection", h && h->kv_connected ? "connected" : "disconnected");
	jsonw_object_end(&w);
	return api_reply(c, *reason ? 503 : 200, &w);
}

static void write_categories(struct jsonw *w, const struct snapshot *s, bool bytes)
{
	const struct snap_category *cat;
	uint32_t n = 0;

	cat = s ? snapshot_categories(s, &n) : NULL;
	jsonw_object_begin(w);
	for (uint32_t i = 0; i < n; i++)
		jsonw_kv_u64(w, snapshot_str(s, cat[i].name), bytes ? cat[i].bytes : cat[i].files);
	jsonw_object_end(w);
}

static void write_rules_and_skips(struct jsonw *w, const struct snapshot *s)
{
	const struct snap_rule *rules;
	const struct snap_skip *skips;
	uint32_t n = 0;

	jsonw_key(w, "hiddenByRule");
	jsonw_array_begin(w);
	rules = s ? snapshot_rules(s, &n) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		if (rules[i].hidden == 0)
			continue;
		jsonw_object_begin(w);
		jsonw_kv_string(w, "rule", snapshot_str(s, rules[i].name));
		jsonw_kv_u64(w, "count", rules[i].hidden);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);

	n = 0;
	jsonw_key(w, "skipReasons");
	jsonw_array_begin(w);
	skips = s ? snapshot_skips(s, &n) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		jsonw_object_begin(w);
		jsonw_kv_string(w, "reason", snapshot_str(s, skips[i].reason));
		jsonw_kv_u64(w, "count", skips[i].count);
		jsonw_kv_string(w, "example", snapshot_str(s, skips[i].example));
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
}

int api_stats(struct api_call *c)
{
	const struct snapshot *s = c->gen->snap;
	const struct snap_header *h = s ? snapshot_header(s) : NULL;
	static const struct snap_header none;
	int64_t now = api_now_ns(c->api);
	struct jsonw w;
	int r;

	if (h == NULL)
		h = &none;
	r = jsonw_init(&w);
	if (r < 0)
		return r;
	jsonw_object_begin(&w);
	jsonw_kv_u64(&w, "totalFiles", h->files);
	jsonw_kv_u64(&w, "totalDirectories", h->directories);
	jsonw_kv_u64(&w, "totalSize", h->total_bytes);
	jsonw_key(&w, "categories");
	write_categories(&w, s, false);
	jsonw_key(&w, "categorySizes");
	write_categories(&w, s, true);
	jsonw_kv_string(&w, "kvConnection", h->kv_connected ? "connected" : "disconnected");
	jsonw_kv_string(&w, "fuseMount", api_fuse_is_mounted(c->api) ? "mounted" : "unmounted");
	jsonw_kv_u64(&w, "generation", c->gen->number);
	jsonw_kv_time(&w, "lastSync", h->kv_last_sync_ns);
	jsonw_kv_u64(&w, "skipped", h->skipped);
	jsonw_kv_u64(&w, "hidden", h->hidden);
	jsonw_kv_time(&w, "snapshotTime", h->build_time_ns);
	jsonw_key(&w, "snapshotAgeSeconds");
	if (h->build_time_ns)
		jsonw_double(&w, (double)(now - h->build_time_ns) / 1e9);
	else
		jsonw_null(&w);
	jsonw_kv_string(&w, "kvLeader", s ? snapshot_str(s, h->kv_leader) : "");
	jsonw_kv_string(&w, "kvError", s ? snapshot_str(s, h->kv_error) : "");
	jsonw_kv_time(&w, "kvErrorSince", h->kv_error_since_ns);
	jsonw_kv_bool(&w, "removalHeld", (h->kv_flags & SNAP_KV_HELD) != 0);
	jsonw_kv_u64(&w, "heldRemovals", h->kv_held_removals);
	write_rules_and_skips(&w, s);
	jsonw_key(&w, "uptimeSeconds");
	jsonw_double(&w, (double)(now - c->api->started_ns) / 1e9);
	jsonw_object_end(&w);
	return api_reply(c, 200, &w);
}
