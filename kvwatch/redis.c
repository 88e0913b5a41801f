/*
 * redis: connections, the command whitelist and the non-blocking subscriber
 * reads (see redis.h).
 */
#include "redis.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Read-only and connection commands; nothing here can change data. */
static const char *const allowed[] = {
    "AUTH", "SELECT",    "PING",        "INFO",   "SCAN", "MGET",
    "GET",  "SUBSCRIBE", "UNSUBSCRIBE", "DBSIZE", "ROLE",
};

bool redis_command_allowed(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strlen(allowed[i]) == len && strncasecmp(allowed[i], name, len) == 0)
			return true;
	return false;
}

static struct timeval tv_ms(uint32_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

int redis_append(redisContext *c, int argc, const char **argv, const size_t *lens)
{
	if (argc < 1 || !redis_command_allowed(argv[0], lens[0]))
		return -EPERM;
	if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK)
		return -ENOMEM;
	return 0;
}

int redis_get_reply(redisContext *c, redisReply **ret, char *err, size_t errlen)
{
	void *reply = NULL;

	if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) {
		errbuf_set(err, errlen, 0, "%s", c->err ? c->errstr : "no reply");
		if (reply != NULL)
			freeReplyObject(reply);
		return -EIO;
	}
	*ret = reply;
	return 0;
}

int redis_call(redisContext *c, int argc, const char **argv, const size_t *lens, redisReply **ret,
               char *err, size_t errlen)
{
	int r = redis_append(c, argc, argv, lens);

	if (r == -EPERM) {
		errbuf_set(err, errlen, 0, "command \"%.*s\" refused: kvwatch is read-only",
		           (int)lens[0], argv[0]);
		return r;
	}
	if (r < 0) {
		errbuf_set(err, errlen, 0, "out of memory");
		return r;
	}
	return redis_get_reply(c, ret, err, errlen);
}

/* A command whose reply must be +OK (AUTH, SELECT). */
static int call_ok(redisContext *c, int argc, const char **argv, char *err, size_t errlen)
{
	size_t lens[3];
	redisReply *reply;
	int r;

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = redis_call(c, argc, argv, lens, &reply, err, errlen);
	if (r < 0)
		return r;
	if (reply->type == REDIS_REPLY_ERROR) {
		errbuf_set(err, errlen, 0, "%s: %.*s", argv[0],
		           (int)(reply->len > 200 ? 200 : reply->len), reply->str);
		freeReplyObject(reply);
		return -EACCES;
	}
	freeReplyObject(reply);
	return 0;
}

int redis_connect(const struct redis_url *u, uint32_t connect_timeout_ms,
                  uint32_t command_timeout_ms, redisContext **ret, char *err, size_t errlen)
{
	redisContext *c;
	char db[16];
	int r;

	if (u->kind == REDIS_URL_UNIX)
		c = redisConnectUnixWithTimeout(u->path, tv_ms(connect_timeout_ms));
	else
		c = redisConnectWithTimeout(u->host, u->port, tv_ms(connect_timeout_ms));
	if (c == NULL) {
		errbuf_set(err, errlen, 0, "connect: out of memory");
		return -ENOMEM;
	}
	if (c->err) {
		errbuf_set(err, errlen, 0, "connect: %s", c->errstr);
		redisFree(c);
		return -ECONNREFUSED;
	}
	if (redisSetTimeout(c, tv_ms(command_timeout_ms)) != REDIS_OK) {
		errbuf_set(err, errlen, 0, "setting the command timeout: %s", c->errstr);
		redisFree(c);
		return -EIO;
	}
	if (u->kind == REDIS_URL_TCP)
		redisEnableKeepAlive(c);
	if (u->password != NULL) {
		const char *auth_user[] = {"AUTH", u->user ? u->user : "", u->password};
		const char *auth[] = {"AUTH", u->password};

		r = u->user ? call_ok(c, 3, auth_user, err, errlen)
		            : call_ok(c, 2, auth, err, errlen);
		if (r < 0) {
			redisFree(c);
			return r;
		}
	}
	if (u->db != 0) {
		const char *sel[] = {"SELECT", db};

		snprintf(db, sizeof(db), "%u", u->db);
		r = call_ok(c, 2, sel, err, errlen);
		if (r < 0) {
			redisFree(c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

int redis_set_nonblocking(redisContext *c)
{
	int fl = fcntl(c->fd, F_GETFL);

	/* Only the descriptor: hiredis's own I/O is not used on it from here on. */
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int redis_read_some(redisContext *c, size_t max, size_t *ret_read, char *err, size_t errlen)
{
	char buf[65536];
	size_t total = 0;

	*ret_read = 0;
	while (total < max) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			errbuf_set(err, errlen, 0, "read: %s", strerror(errno));
			return -EIO;
		}
		if (n == 0) {
			errbuf_set(err, errlen, 0, "server closed the connection");
			return -EIO;
		}
		if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
			errbuf_set(err, errlen, 0, "protocol error: %s", c->reader->errstr);
			return -EIO;
		}
		total += (size_t)n;
		*ret_read = total;
	}
	return 0;
}

int redis_next_reply(redisContext *c, redisReply **ret, char *err, size_t errlen)
{
	void *reply = NULL;

	if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
		errbuf_set(err, errlen, 0, "protocol error: %s", c->reader->errstr);
		return -EIO;
	}
	if (reply == NULL)
		return 0;
	*ret = reply;
	return 1;
}
