/*
 * reload: what a new configuration changes for kvwatch (see reload.h).
 */
#include "reload.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "errbuf.h"
#include "keys.h"
#include "redis_url.h"

static bool str_differ(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

/* Does next's schema name a property cur's lacks? */
static bool schema_grew(const struct schema *cur, const struct schema *next)
{
	for (uint32_t i = 0; i < next->count; i++)
		if (schema_find(cur, next->names[i], strlen(next->names[i])) < 0)
			return true;
	return false;
}

unsigned reload_changes(const struct config *cur, const struct config *next)
{
	unsigned c = 0;

	if (cur->rules_fingerprint != next->rules_fingerprint ||
	    str_differ(cur->rules_file, next->rules_file))
		c |= RELOAD_RULES;
	if (!schema_equal(&cur->schema, &next->schema))
		c |= RELOAD_SCHEMA | RELOAD_RULES;
	if (schema_grew(&cur->schema, &next->schema))
		c |= RELOAD_FETCH;
	if (str_differ(cur->kv.redis_url, next->kv.redis_url) ||
	    str_differ(cur->kv.meta_core_path, next->kv.meta_core_path) ||
	    str_differ(cur->kv.prefix, next->kv.prefix) ||
	    str_differ(cur->kv.separator, next->kv.separator) ||
	    cur->kv.connect_timeout_ms != next->kv.connect_timeout_ms ||
	    cur->kv.command_timeout_ms != next->kv.command_timeout_ms)
		c |= RELOAD_SOURCE;
	if (str_differ(cur->hooks.on_change, next->hooks.on_change) ||
	    cur->hooks.debounce_ms != next->hooks.debounce_ms)
		c |= RELOAD_HOOKS;
	if (cur->kv.refresh_interval_ms != next->kv.refresh_interval_ms ||
	    cur->kv.debounce_ms != next->kv.debounce_ms ||
	    cur->kv.hold_threshold_percent != next->kv.hold_threshold_percent ||
	    cur->kv.hold_time_ms != next->kv.hold_time_ms ||
	    str_differ(cur->state_dir, next->state_dir))
		c |= RELOAD_OTHER;
	if (str_differ(cur->files_volume, next->files_volume) ||
	    cur->kv.measure_sizes != next->kv.measure_sizes)
		c |= RELOAD_SIZES;
	return c;
}

int reload_check(const struct config *cur, const struct config *next, char *err, size_t errlen)
{
	struct redis_url *u = NULL;
	struct key_layout layout;
	char why[256];

	if (str_differ(cur->runtime_dir, next->runtime_dir))
		return errbuf_set(err, errlen, -EINVAL,
		                  "runtime_dir cannot change while running (the readers map "
		                  "\"%s\"); restart kvwatch to move it",
		                  cur->runtime_dir);
	if (keys_init(&layout, next->kv.prefix, next->kv.separator) < 0)
		return errbuf_set(err, errlen, -EINVAL,
		                  "kv.prefix or kv.separator: empty separator or too long");
	if (next->kv.redis_url[0] != '\0') {
		if (redis_url_parse(next->kv.redis_url, &u, why, sizeof(why)) < 0)
			return errbuf_set(err, errlen, -EINVAL, "kv.redis_url: %s", why);
		redis_url_free(u);
	}
	return 0;
}
