/* rules_source: see rules_source.h. */
#include "rules_source.h"

#include <errno.h>
#include <libconfig.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errbuf.h"

extern const char rules_default_text[];

#define DEPTH_MAX 64

static json_t *to_json(const config_setting_t *s, unsigned depth)
{
	json_t *v = NULL;
	int n;

	if (depth > DEPTH_MAX)
		return NULL;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		v = json_object();
		n = config_setting_length(s);
		for (int i = 0; v && i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);

			if (json_object_set_new(v, config_setting_name(m), to_json(m, depth + 1)) <
			    0) {
				json_decref(v);
				v = NULL;
			}
		}
		break;
	case CONFIG_TYPE_LIST:
	case CONFIG_TYPE_ARRAY:
		v = json_array();
		n = config_setting_length(s);
		for (int i = 0; v && i < n; i++) {
			if (json_array_append_new(
			        v, to_json(config_setting_get_elem(s, (unsigned)i), depth + 1)) <
			    0) {
				json_decref(v);
				v = NULL;
			}
		}
		break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = json_integer(config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		v = json_real(config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		v = json_boolean(config_setting_get_bool(s));
		break;
	case CONFIG_TYPE_STRING:
		v = json_string(config_setting_get_string(s)); /* NULL when not UTF-8 */
		break;
	default:
		break;
	}
	return v;
}

/* Read path into lc, with @include resolved beside it. */
static int read_file(config_t *lc, const char *path, char *err, size_t errlen)
{
	char *dir = strdup(path), *slash;

	if (dir == NULL)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash) {
		slash[slash == dir ? 1 : 0] = '\0';
		config_set_include_dir(lc, dir);
	}
	free(dir);
	if (config_read_file(lc, path) != CONFIG_TRUE)
		return errbuf_set(err, errlen, -EINVAL, "%s:%d: %s", path, config_error_line(lc),
		                  config_error_text(lc) ? config_error_text(lc) : "cannot read");
	return 0;
}

int rules_source_json(const struct config *cfg, json_t **ret, char *err, size_t errlen)
{
	const config_setting_t *list;
	json_t *out;
	config_t lc;
	int r = 0;

	config_init(&lc);
	if (cfg->rules_file)
		r = read_file(&lc, cfg->rules_file, err, errlen);
	else if (config_origin_of(cfg, "rules") == CONFIG_ORIGIN_FILE && cfg->path)
		r = read_file(&lc, cfg->path, err, errlen);
	else if (config_read_string(&lc, rules_default_text) != CONFIG_TRUE)
		r = errbuf_set(err, errlen, -EINVAL, "the built-in rules: %s",
		               config_error_text(&lc));
	if (r < 0)
		goto out;
	list = config_lookup(&lc, "rules");
	if (list == NULL || !config_setting_is_list(list)) {
		r = errbuf_set(err, errlen, -EINVAL, "no rules = ( ... ); list");
		goto out;
	}
	out = to_json(list, 0);
	if (out == NULL) {
		r = errbuf_set(err, errlen, -EINVAL, "a rule holds a string that is not UTF-8");
		goto out;
	}
	*ret = out;
out:
	config_destroy(&lc);
	return r;
}
