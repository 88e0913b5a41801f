/*
 * reload: what a new configuration changes for kvwatch, so that SIGHUP applies
 * only that ("parse into new, swap on success").
 *
 * reload_changes() compares the running configuration with a freshly loaded
 * one and returns RELOAD_* bits; kvwatch.c acts on them: new rules re-place the
 * records it holds without asking Redis, a new source reconnects and loads, new
 * hooks replace the hook runner, and the rest (intervals, thresholds) is simply
 * taken.  reload_check() refuses what cannot change while running.  Pure logic.
 */
#ifndef MF_KVWATCH_RELOAD_H
#define MF_KVWATCH_RELOAD_H

#include <stddef.h>

struct config;

enum {
	RELOAD_RULES = 1u << 0,  /* the rules differ: re-place every record */
	RELOAD_FETCH = 1u << 1,  /* the rules need a property the records lack: load */
	RELOAD_SOURCE = 1u << 2, /* redis_url, meta_core_path, key layout, timeouts */
	RELOAD_HOOKS = 1u << 3,  /* hooks.on_change or hooks.debounce_ms */
	RELOAD_SCHEMA = 1u << 4, /* the fetched properties differ (names or order) */
	RELOAD_OTHER = 1u << 5,  /* anything else kvwatch reads (timers, thresholds, state_dir) */
	RELOAD_SIZES = 1u << 6,  /* files_volume or kv.measure_sizes: measure every file again */
};

unsigned reload_changes(const struct config *cur, const struct config *next);

/*
 * 0 when next can replace cur in a running kvwatch, else -EINVAL with the reason
 * in err (runtime_dir cannot move under the readers; a bad key layout or URL).
 */
int reload_check(const struct config *cur, const struct config *next, char *err, size_t errlen);

#endif
