/*
 * batch: the change messages meta-sort publishes on <prefix>file:batch.
 *
 *   {"timestamp": 1703808000000,
 *    "changes": [{"action": "add"|"update"|"remove", "hashId": "..."}, ...]}
 *
 * Parsing is strict: a message larger than BATCH_MESSAGE_MAX, text that is not
 * JSON, a wrong type anywhere, an unknown action or an invalid hash id makes the
 * whole message malformed (a batch is applied whole or not at all; the periodic
 * resync repairs what was refused).  Unknown fields are ignored, so the producer
 * may add some.  Pure: no I/O, no logging.
 */
#ifndef MF_KVWATCH_BATCH_H
#define MF_KVWATCH_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define BATCH_MESSAGE_MAX (1u << 20) /* bytes */
#define BATCH_CHANGES_MAX 100000

enum batch_action {
	BATCH_ADD,
	BATCH_UPDATE,
	BATCH_REMOVE,
	BATCH_ACTION_MAX,
};

struct batch_change {
	enum batch_action action;
	uint32_t id_len;
	char id[KEYS_ID_MAX + 1];
};

/*
 * Parse msg[0..len).  On success returns 0 and an array the caller frees (NULL
 * when there are no changes).  On a malformed message returns -EINVAL (-EMSGSIZE
 * when too large) with a one-line reason in err.
 */
int batch_parse(const struct key_layout *kl, const char *msg, size_t len, struct batch_change **ret,
                size_t *ret_count, char *err, size_t errlen);

const char *batch_action_name(enum batch_action a);

#endif
