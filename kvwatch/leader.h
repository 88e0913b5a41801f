/*
 * leader: find the Redis leader of the MetaMesh cluster and follow it.
 *
 * meta-core's elected leader writes <meta_core_path>/locks/kv-leader.lock:
 *   {"host": "...", "api": "redis://10.0.1.50:6379", "http": "...",
 *    "timestamp": 1703808000000, "pid": 1234}
 * Only "api" is required (a Redis URL, see redis_url.h); the other fields are
 * type-checked when present and otherwise ignored.  meta-fuse only reads the
 * file; it never takes the lock.
 *
 * The watcher reads the lock at start, on every inotify event in the locks
 * directory (after a short settle delay, since the file may be rewritten in
 * place) and every few seconds as a fallback (the directory may not exist yet,
 * or live on a file system without inotify).  A missing, empty, half-written or
 * malformed file is reported to the caller once per distinct problem, never
 * per retry, and never stops the watcher.
 */
#ifndef MF_KVWATCH_LEADER_H
#define MF_KVWATCH_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define LEADER_LOCK_DIR  "locks"
#define LEADER_LOCK_NAME "kv-leader.lock"
#define LEADER_LOCK_MAX  65536 /* bytes; a lock file is a few hundred */

/* Owner: the caller; leader_lock_clear() frees the strings. */
struct leader_lock {
	char *api;  /* the Redis URL, never NULL after a successful parse */
	char *host; /* NULL when absent */
	char *http; /* NULL when absent */
	int64_t timestamp;
	int64_t pid;
	bool has_timestamp;
	bool has_pid;
};

/* Parse the lock's JSON text.  -EINVAL with a one-line reason in err. */
int leader_parse(const char *buf, size_t len, struct leader_lock *ret, char *err, size_t errlen);
/* Read and parse the file at path (a regular file of at most LEADER_LOCK_MAX bytes). */
int leader_read(const char *path, struct leader_lock *ret, char *err, size_t errlen);
void leader_lock_clear(struct leader_lock *l);

struct leader_watch;

/*
 * Called with the lock's Redis URL when it first becomes readable and whenever
 * it changes, or with url == NULL and a reason when the lock cannot be used (once
 * per distinct reason; a good read in between re-arms the report).
 */
typedef void (*leader_cb)(void *userdata, const char *url, const char *error);

int leader_watch_new(sd_event *event, const char *meta_core_path, leader_cb cb, void *userdata,
                     struct leader_watch **ret);
void leader_watch_free(struct leader_watch *w);
/* The path being watched ("<meta_core_path>/locks/kv-leader.lock"). */
const char *leader_watch_path(const struct leader_watch *w);
/* Read the lock now (also done by the watcher itself). */
void leader_watch_check(struct leader_watch *w);

#endif
