/*
 * redis_url: the Redis address kvwatch connects to, parsed from kv.redis_url,
 * REDIS_URL or the "api" field of the leader lock file.  The one parser: the
 * configuration's check (check-config) refuses what kvwatch would refuse.
 *
 *   redis://[[user]:password@]host[:port][/db]     (host: name, IPv4 or [IPv6])
 *   unix://[[user]:password@]/path/to/socket[?db=N]
 *
 * userinfo without ':' is a password alone (as redis-cli reads it).  The parsed
 * form keeps a redacted copy of the URL, without any credentials, for logs and
 * the snapshot's KV state.  Input is untrusted (the lock file is written by
 * another program): everything is length- and character-checked.  Nothing here
 * connects or logs.
 */
#ifndef MF_REDIS_URL_H
#define MF_REDIS_URL_H

#include <stddef.h>
#include <stdint.h>

#define REDIS_URL_MAX      4096
#define REDIS_DEFAULT_PORT 6379

enum redis_url_kind {
	REDIS_URL_TCP,
	REDIS_URL_UNIX,
	REDIS_URL_KIND_MAX,
};

/* Owner: the caller of redis_url_parse(); redis_url_free() releases it. */
struct redis_url {
	enum redis_url_kind kind;
	char *host;     /* TCP: name or address, IPv6 without brackets */
	uint16_t port;  /* TCP */
	char *path;     /* unix: absolute socket path */
	char *user;     /* NULL when none */
	char *password; /* NULL when none */
	uint32_t db;
	char *redacted; /* "redis://host:6379/0", "unix:///run/redis.sock?db=0" */
};

/*
 * Parse text.  On error returns -EINVAL and a one-line reason in err
 * ("port 70000 is out of range").  A redacted URL never holds credentials.
 */
int redis_url_parse(const char *text, struct redis_url **ret, char *err, size_t errlen);
void redis_url_free(struct redis_url *u);

/* Same target and credentials? (Used to tell a new leader from a rewritten lock.) */
int redis_url_equal(const struct redis_url *a, const struct redis_url *b);

#endif
