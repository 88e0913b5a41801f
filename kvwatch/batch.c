/*
 * batch: strict parsing of change messages with jansson (see batch.h).
 */
#include "batch.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[BATCH_ACTION_MAX] = {
    [BATCH_ADD] = "add",
    [BATCH_UPDATE] = "update",
    [BATCH_REMOVE] = "remove",
};

const char *batch_action_name(enum batch_action a)
{
	return a < BATCH_ACTION_MAX ? action_names[a] : "?";
}

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int parse_change(const struct key_layout *kl, json_t *c, size_t i, struct batch_change *out,
                        char *err, size_t errlen)
{
	json_t *action = json_object_get(c, "action");
	json_t *id = json_object_get(c, "hashId");
	const char *a;
	size_t id_len;
	int k;

	if (!json_is_object(c))
		return fail(err, errlen, "changes[%zu]: expected an object", i);
	if (action == NULL)
		return fail(err, errlen, "changes[%zu]: no \"action\"", i);
	if (!json_is_string(action))
		return fail(err, errlen, "changes[%zu].action: expected a string", i);
	a = json_string_value(action);
	for (k = 0; k < BATCH_ACTION_MAX; k++)
		if (strcmp(a, action_names[k]) == 0)
			break;
	if (k == BATCH_ACTION_MAX)
		return fail(err, errlen, "changes[%zu].action: unknown action \"%.32s\"", i, a);
	if (id == NULL)
		return fail(err, errlen, "changes[%zu]: no \"hashId\"", i);
	if (!json_is_string(id))
		return fail(err, errlen, "changes[%zu].hashId: expected a string", i);
	id_len = json_string_length(id);
	if (!keys_id_is_valid(kl, json_string_value(id), id_len))
		return fail(err, errlen, "changes[%zu].hashId: not a valid hash id", i);
	out->action = (enum batch_action)k;
	out->id_len = (uint32_t)id_len;
	memcpy(out->id, json_string_value(id), id_len);
	out->id[id_len] = '\0';
	return 0;
}

int batch_parse(const struct key_layout *kl, const char *msg, size_t len, struct batch_change **ret,
                size_t *ret_count, char *err, size_t errlen)
{
	struct batch_change *changes = NULL;
	json_t *root, *ts, *list;
	json_error_t jerr;
	size_t n;
	int r = 0;

	if (len > BATCH_MESSAGE_MAX) {
		fail(err, errlen, "message of %zu bytes exceeds the limit of %u", len,
		     BATCH_MESSAGE_MAX);
		return -EMSGSIZE;
	}
	root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail(err, errlen, "not JSON: %s at column %d", jerr.text, jerr.column);
	if (!json_is_object(root)) {
		r = fail(err, errlen, "expected a JSON object");
		goto out;
	}
	ts = json_object_get(root, "timestamp");
	if (ts != NULL && !json_is_number(ts)) {
		r = fail(err, errlen, "timestamp: expected a number");
		goto out;
	}
	list = json_object_get(root, "changes");
	if (list == NULL) {
		r = fail(err, errlen, "no \"changes\"");
		goto out;
	}
	if (!json_is_array(list)) {
		r = fail(err, errlen, "changes: expected an array");
		goto out;
	}
	n = json_array_size(list);
	if (n > BATCH_CHANGES_MAX) {
		r = fail(err, errlen, "%zu changes exceed the limit of %d", n, BATCH_CHANGES_MAX);
		goto out;
	}
	if (n > 0) {
		changes = calloc(n, sizeof(*changes));
		if (changes == NULL) {
			r = -ENOMEM;
			fail(err, errlen, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		r = parse_change(kl, json_array_get(list, i), i, &changes[i], err, errlen);
		if (r < 0)
			goto out;
	}
	*ret = changes;
	*ret_count = n;
	changes = NULL;
out:
	free(changes);
	json_decref(root);
	return r;
}
