/*
 * error_file: renders /ERROR.txt from a snapshot's KV state (see error_file.h).
 *
 * The text is for a person looking at a media share: what is wrong, since when,
 * what they still see, what to check.  Times are absolute (UTC) so that the
 * text, rendered once per generation, stays true while it is served.
 */
#include "error_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"

struct text {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3))) add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		/* No arithmetic on the NULL of an empty text (undefined behaviour). */
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n;
		char *p = realloc(t->buf, cap);

		if (!p) {
			t->failed = true;
			return;
		}
		t->buf = p;
		t->cap = cap;
	}
}

/* "2024-05-01 10:03:12 UTC", or "never" for 0. */
static const char *fmt_time(int64_t ns, char *buf, size_t len)
{
	struct tm tm;
	time_t sec;

	if (ns <= 0)
		return "never";
	sec = (time_t)(ns / 1000000000);
	if (!gmtime_r(&sec, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		return "unknown";
	return buf;
}

/* "3 h 12 min", "45 s": how long from a to b. */
static const char *fmt_span(int64_t a_ns, int64_t b_ns, char *buf, size_t len)
{
	int64_t s = (b_ns - a_ns) / 1000000000;

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%lld s", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lld min", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, len, "%lld h %lld min", (long long)(s / 3600),
		         (long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%lld days", (long long)(s / 86400));
	return buf;
}

static void add_checklist(struct text *t)
{
	add(t, "What to check:\n"
	       "  - Is Redis running, and reachable from this host at the address the\n"
	       "    configuration names (kv.redis_url, or REDIS_URL)?\n"
	       "  - Without kv.redis_url, the leader is read from\n"
	       "    <kv.meta_core_path>/locks/kv-leader.lock: does it name a live leader?\n"
	       "  - Is kvwatch running?  `meta-fuse status` shows every worker;\n"
	       "    its log (journalctl -u meta-fuse, or the container's log) says why\n"
	       "    it cannot connect.\n");
}

int error_file_render(const struct snapshot *s, const char *path, const char *reason,
                      int64_t now_ns, char **ret_text, size_t *ret_len, int64_t *ret_mtime_ns)
{
	struct text t = {0};
	char b1[64], b2[64], b3[64];
	int64_t mtime;

	if (s) {
		const struct snap_header *h = snapshot_header(s);

		if (h->kv_connected)
			goto healthy;
		const char *error = snapshot_str(s, h->kv_error);
		const char *leader = snapshot_str(s, h->kv_leader);
		int64_t since = h->kv_error_since_ns;

		mtime = since > 0 ? since : h->build_time_ns;
		if ((h->kv_flags & SNAP_KV_RESYNCING) && !*error) {
			/* A warm start: the saved tree is served while the first load runs. */
			add(&t,
			    "meta-fuse has just started and is loading the library from its\n"
			    "metadata store (Redis).\n\n"
			    "The %llu files shown here are the tree saved at its last run\n"
			    "(generation %llu, last full sync %s). This file disappears by\n"
			    "itself when the first load ends.\n\n",
			    (unsigned long long)h->files, (unsigned long long)h->generation,
			    fmt_time(h->kv_last_sync_ns, b3, sizeof(b3)));
			add_checklist(&t);
			goto done;
		}
		add(&t, "meta-fuse cannot reach its metadata store (Redis).\n\n");
		add(&t, "Last error:         %s\n", *error ? error : "(none recorded)");
		if (since > 0)
			add(&t, "Unreachable since:  %s (%s before this snapshot was written)\n",
			    fmt_time(since, b1, sizeof(b1)),
			    fmt_span(since, h->build_time_ns, b2, sizeof(b2)));
		add(&t, "Last full sync:     %s\n", fmt_time(h->kv_last_sync_ns, b3, sizeof(b3)));
		add(&t, "Redis in use:       %s\n", *leader ? leader : "unknown (no leader found)");
		add(&t, "Snapshot:           generation %llu, written %s\n\n",
		    (unsigned long long)h->generation, fmt_time(h->build_time_ns, b1, sizeof(b1)));
		if (h->files > 0)
			add(&t,
			    "The %llu files shown here are the last known tree: files added,\n"
			    "changed or removed since then do not show until the store is\n"
			    "reachable again.",
			    (unsigned long long)h->files);
		else
			add(&t, "No file has been loaded yet, so the tree is empty.");
		add(&t, "  This file disappears by itself once it is.\n\n");
		add_checklist(&t);
	} else {
		mtime = now_ns;
		add(&t, "meta-fuse has no tree to show yet.\n\n");
		if (reason && *reason)
			add(&t, "The snapshot at %s\ncould not be read: %s\n\n", path, reason);
		else
			add(&t,
			    "No snapshot has been published at %s:\n"
			    "kvwatch has not finished its first load from the metadata store\n"
			    "(Redis), or it cannot reach it.\n\n",
			    path);
		add(&t, "This file disappears by itself as soon as a snapshot is published.\n\n");
		add_checklist(&t);
	}
done:
	if (t.failed) {
		free(t.buf);
		return -ENOMEM;
	}
	*ret_text = t.buf;
	*ret_len = t.len;
	*ret_mtime_ns = mtime;
	return 0;

healthy:
	*ret_text = NULL;
	*ret_len = 0;
	*ret_mtime_ns = 0;
	return 0;
}
