/*
 * fingerprint: has Redis's data changed since the last load (see fingerprint.h)?
 */
#include "fingerprint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"
#include "redis.h"

/* The value of "name:" at the start of a line of text, up to the line's end. */
static int field(const char *text, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = text;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n;

		if (strncmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		p += nl + 1;
		n = strcspn(p, "\r\n");
		if (n >= outlen)
			return -EPROTO;
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

int fingerprint_parse(const char *persistence, const char *keyspace, unsigned db, char *buf,
                      size_t len)
{
	char changes[32], saved[32], name[16], keys[96] = "empty", *ttl;
	int r, n;

	if (field(persistence, "rdb_changes_since_last_save", changes, sizeof(changes)) < 0 ||
	    field(persistence, "rdb_last_save_time", saved, sizeof(saved)) < 0)
		return -EPROTO;
	snprintf(name, sizeof(name), "db%u", db);
	r = field(keyspace, name, keys, sizeof(keys));
	if (r == -EPROTO)
		return r;
	/* "keys=N,expires=M,avg_ttl=T": the average TTL moves by itself; keep the rest. */
	ttl = strstr(keys, ",avg_ttl=");
	if (ttl != NULL)
		*ttl = '\0';
	n = snprintf(buf, len, "%s/%s/%s", changes, saved, keys);
	return n < 0 || (size_t)n >= len ? -EPROTO : 0;
}

static int info(redisContext *c, const char *section, redisReply **ret, char *err, size_t errlen)
{
	const char *argv[] = {"INFO", section};
	size_t lens[] = {4, strlen(section)};
	redisReply *reply;
	int r;

	r = redis_call(c, 2, argv, lens, &reply, err, errlen);
	if (r < 0)
		return r;
	if (reply->type != REDIS_REPLY_STRING) {
		freeReplyObject(reply);
		return errbuf_set(err, errlen, -EPROTO, "INFO %s: unexpected reply", section);
	}
	*ret = reply;
	return 0;
}

int fingerprint_read(redisContext *c, unsigned db, char *buf, size_t len, char *err, size_t errlen)
{
	redisReply *p = NULL, *k = NULL;
	int r;

	r = info(c, "persistence", &p, err, errlen);
	if (r == 0)
		r = info(c, "keyspace", &k, err, errlen);
	if (r == 0 && fingerprint_parse(p->str, k->str, db, buf, len) < 0)
		r = errbuf_set(err, errlen, -EPROTO, "INFO: no write count or keyspace");
	if (p != NULL)
		freeReplyObject(p);
	if (k != NULL)
		freeReplyObject(k);
	return r;
}
