/* rule_json: see rule_json.h. */
#include "rule_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"
#include "record.h"

static int add_value(config_setting_t *parent, const char *name, json_t *v, char *where,
                     size_t wlen, unsigned depth, char *err, size_t errlen);

/* Append ".name" (or "[i]" when name is NULL) to where; returns the old length. */
static size_t where_push(char *where, size_t wlen, const char *name, size_t i)
{
	size_t n = strlen(where);

	if (name)
		snprintf(where + n, wlen - n, ".%s", name);
	else
		snprintf(where + n, wlen - n, "[%zu]", i);
	return n;
}

static int add_children(config_setting_t *s, json_t *v, char *where, size_t wlen, unsigned depth,
                        char *err, size_t errlen)
{
	int r = 0;

	if (json_is_object(v)) {
		const char *key;
		json_t *m;

		json_object_foreach(v, key, m)
		{
			size_t n = where_push(where, wlen, key, 0);

			r = add_value(s, key, m, where, wlen, depth + 1, err, errlen);
			where[n] = '\0';
			if (r < 0)
				return r;
		}
	} else {
		size_t i;
		json_t *m;

		json_array_foreach(v, i, m)
		{
			size_t n = where_push(where, wlen, NULL, i);

			r = add_value(s, NULL, m, where, wlen, depth + 1, err, errlen);
			where[n] = '\0';
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int add_value(config_setting_t *parent, const char *name, json_t *v, char *where,
                     size_t wlen, unsigned depth, char *err, size_t errlen)
{
	config_setting_t *s;
	int type;

	if (depth > RULE_JSON_DEPTH_MAX)
		return errbuf_set(err, errlen, -EINVAL, "%s: nested too deeply", where);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		type = CONFIG_TYPE_GROUP;
		break;
	case JSON_ARRAY:
		type = CONFIG_TYPE_LIST;
		break;
	case JSON_STRING:
		type = CONFIG_TYPE_STRING;
		break;
	case JSON_INTEGER:
		type = CONFIG_TYPE_INT64;
		break;
	case JSON_REAL:
		type = CONFIG_TYPE_FLOAT;
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		type = CONFIG_TYPE_BOOL;
		break;
	default:
		return errbuf_set(err, errlen, -EINVAL, "%s: null is not allowed", where);
	}
	s = config_setting_add(parent, name, type);
	if (s == NULL)
		return errbuf_set(err, errlen, -EINVAL,
		                  "%s: \"%s\" is not a valid setting name (letters, digits, '-', "
		                  "'_', starting with a letter)",
		                  where, name ? name : "");
	switch (type) {
	case CONFIG_TYPE_GROUP:
	case CONFIG_TYPE_LIST:
		return add_children(s, v, where, wlen, depth, err, errlen);
	case CONFIG_TYPE_STRING:
		if (strlen(json_string_value(v)) != json_string_length(v))
			return errbuf_set(err, errlen, -EINVAL, "%s: NUL in a string", where);
		config_setting_set_string(s, json_string_value(v));
		break;
	case CONFIG_TYPE_INT64:
		config_setting_set_int64(s, json_integer_value(v));
		break;
	case CONFIG_TYPE_FLOAT:
		config_setting_set_float(s, json_real_value(v));
		break;
	default:
		config_setting_set_bool(s, json_is_true(v));
		break;
	}
	return 0;
}

int rule_json_to_config(json_t *array, const char *where, config_t *cfg, config_setting_t **ret,
                        char *err, size_t errlen)
{
	config_setting_t *list;
	char path[512];
	size_t i;
	json_t *rule;
	int r;

	if (!json_is_array(array))
		return errbuf_set(err, errlen, -EINVAL, "%s: expected an array of rules", where);
	list = config_setting_add(config_root_setting(cfg), "rules", CONFIG_TYPE_LIST);
	if (list == NULL)
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	json_array_foreach(array, i, rule)
	{
		snprintf(path, sizeof(path), "%s[%zu]", where, i);
		if (!json_is_object(rule))
			return errbuf_set(err, errlen, -EINVAL, "%s: a rule is an object", path);
		r = add_value(list, NULL, rule, path, sizeof(path), 0, err, errlen);
		if (r < 0)
			return r;
	}
	*ret = list;
	return 0;
}

void rule_json_record(json_t *obj, const struct schema *schema, struct record *rec,
                      struct strview *values, char *scratch, size_t scratch_len)
{
	size_t used = 0;

	for (uint32_t i = 0; i < schema->count; i++) {
		json_t *v = json_is_object(obj) ? json_object_get(obj, schema->names[i]) : NULL;
		int n;

		values[i] = (struct strview){0};
		if (json_is_string(v)) {
			values[i].ptr = json_string_value(v);
			values[i].len = (uint32_t)json_string_length(v);
			continue;
		}
		if (json_is_integer(v))
			n = snprintf(scratch + used, scratch_len - used, "%" JSON_INTEGER_FORMAT,
			             json_integer_value(v));
		else if (json_is_real(v))
			n = snprintf(scratch + used, scratch_len - used, "%.17g",
			             json_real_value(v));
		else if (json_is_boolean(v))
			n = snprintf(scratch + used, scratch_len - used, "%s",
			             json_is_true(v) ? "true" : "false");
		else
			continue;
		if (n < 0 || (size_t)n >= scratch_len - used)
			continue;
		values[i].ptr = scratch + used;
		values[i].len = (uint32_t)n;
		used += (size_t)n + 1;
	}
	rec->hash_id.ptr = "sample";
	rec->hash_id.len = 6;
	if (json_is_object(obj) && json_is_string(json_object_get(obj, "hashId"))) {
		rec->hash_id.ptr = json_string_value(json_object_get(obj, "hashId"));
		rec->hash_id.len = (uint32_t)json_string_length(json_object_get(obj, "hashId"));
	}
	rec->values = values;
	record_derive(rec);
}
