/*
 * redis: kvwatch's one door to Redis, over hiredis.
 *
 * Connections are made with a connect timeout and get a command timeout (a
 * server that stops answering turns into an error, never a hang), then AUTH and
 * SELECT as the URL says.  kvwatch is strictly read-only: every command goes
 * through redis_append()/redis_call(), which refuse anything not on a short
 * whitelist of read and connection commands.  A NULL reply or c->err means
 * "reconnect"; a REDIS_REPLY_ERROR is a data error the caller judges.
 */
#ifndef MF_KVWATCH_REDIS_H
#define MF_KVWATCH_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"

/* Is name[0..len) (any case) a command kvwatch may send? */
bool redis_command_allowed(const char *name, size_t len);

/*
 * Connect to u, authenticate and select the database.  Returns 0 and a blocking
 * context, or -errno with a one-line reason in err ("connect: Connection
 * refused", "AUTH: WRONGPASS ...").  The caller owns the context (redisFree).
 */
int redis_connect(const struct redis_url *u, uint32_t connect_timeout_ms,
                  uint32_t command_timeout_ms, redisContext **ret, char *err, size_t errlen);

/* Queue one command (pipelining).  -EPERM for a command off the whitelist. */
int redis_append(redisContext *c, int argc, const char **argv, const size_t *lens);

/*
 * Wait for the next reply.  Returns 0 and the reply (the caller frees it with
 * freeReplyObject), or -EIO when the connection failed (reason in err).
 */
int redis_get_reply(redisContext *c, redisReply **ret, char *err, size_t errlen);

/* redis_append + redis_get_reply. */
int redis_call(redisContext *c, int argc, const char **argv, const size_t *lens, redisReply **ret,
               char *err, size_t errlen);

/*
 * For a subscriber driven by an event loop: switch the connection to
 * non-blocking; then redis_read_some() reads what is available (at most max
 * bytes) into the reply parser and redis_next_reply() takes parsed replies.
 * redis_read_some() returns 0 and the bytes read, or -EIO on EOF or error
 * (reason in err).  Only hiredis's public API is used: the descriptor is made
 * non-blocking, the context's flags are left alone.
 */
int redis_set_nonblocking(redisContext *c);
int redis_read_some(redisContext *c, size_t max, size_t *ret_read, char *err, size_t errlen);
/* 1 and a reply, 0 when none is complete yet, -EIO on a protocol error. */
int redis_next_reply(redisContext *c, redisReply **ret, char *err, size_t errlen);

#endif
