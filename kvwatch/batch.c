/*
 * batch: strict parsing of change messages with jansson (see batch.h).
 */
#include "batch.h"
#include "errbuf.h"

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

static int parse_change(const struct key_layout *kl, json_t *c, size_t i, struct batch_change *out,
                        char *err, size_t errlen)
{
	json_t *action = json_object_get(c, "action");
	json_t *id = json_object_get(c, "hashId");
	const char *a;
	size_t id_len;
	int k;

	if (!json_is_object(c))
		return errbuf_set(err, errlen, -EINVAL, "changes[%zu]: expected an object", i);
	if (action == NULL)
		return errbuf_set(err, errlen, -EINVAL, "changes[%zu]: no \"action\"", i);
	if (!json_is_string(action))
		return errbuf_set(err, errlen, -EINVAL, "changes[%zu].action: expected a string",
		                  i);
	a = json_string_value(action);
	for (k = 0; k < BATCH_ACTION_MAX; k++)
		if (strcmp(a, action_names[k]) == 0)
			break;
	if (k == BATCH_ACTION_MAX)
		return errbuf_set(err, errlen, -EINVAL,
		                  "changes[%zu].action: unknown action \"%.32s\"", i, a);
	if (id == NULL)
		return errbuf_set(err, errlen, -EINVAL, "changes[%zu]: no \"hashId\"", i);
	if (!json_is_string(id))
		return errbuf_set(err, errlen, -EINVAL, "changes[%zu].hashId: expected a string",
		                  i);
	id_len = json_string_length(id);
	if (!keys_id_is_valid(kl, json_string_value(id), id_len))
		return errbuf_set(err, errlen, -EINVAL, "changes[%zu].hashId: not a valid hash id",
		                  i);
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
		errbuf_set(err, errlen, -EINVAL, "message of %zu bytes exceeds the limit of %u",
		           len, BATCH_MESSAGE_MAX);
		return -EMSGSIZE;
	}
	root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return errbuf_set(err, errlen, -EINVAL, "not JSON: %s at column %d", jerr.text,
		                  jerr.column);
	if (!json_is_object(root)) {
		r = errbuf_set(err, errlen, -EINVAL, "expected a JSON object");
		goto out;
	}
	ts = json_object_get(root, "timestamp");
	if (ts != NULL && !json_is_number(ts)) {
		r = errbuf_set(err, errlen, -EINVAL, "timestamp: expected a number");
		goto out;
	}
	list = json_object_get(root, "changes");
	if (list == NULL) {
		r = errbuf_set(err, errlen, -EINVAL, "no \"changes\"");
		goto out;
	}
	if (!json_is_array(list)) {
		r = errbuf_set(err, errlen, -EINVAL, "changes: expected an array");
		goto out;
	}
	n = json_array_size(list);
	if (n > BATCH_CHANGES_MAX) {
		r = errbuf_set(err, errlen, -EINVAL, "%zu changes exceed the limit of %d", n,
		               BATCH_CHANGES_MAX);
		goto out;
	}
	if (n > 0) {
		changes = calloc(n, sizeof(*changes));
		if (changes == NULL) {
			r = -ENOMEM;
			errbuf_set(err, errlen, -EINVAL, "out of memory");
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
