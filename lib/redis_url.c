/*
 * redis_url: parse and redact Redis URLs (see redis_url.h).  A hand-written
 * scanner over a bounded string: scheme, optional userinfo, then host:port/db or
 * a socket path with an optional ?db=N.
 */
#include "redis_url.h"
#include "path.h"
#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX     253
#define SUN_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 */
#define USERINFO_MAX 1024

/* Percent-decode s[0..len) into a new string; NUL and control bytes are refused. */
static int decode(const char *s, size_t len, char **ret)
{
	char *out = malloc(len + 1);
	int n;

	if (out == NULL)
		return -ENOMEM;
	n = path_percent_decode(s, len, out, len + 1);
	for (int i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			n = -EINVAL;
	if (n < 0) {
		free(out);
		return -EINVAL;
	}
	*ret = out;
	return 0;
}

static bool parse_uint(const char *s, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return false;
	*ret = v;
	return true;
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static bool is_v6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '.';
}

/* userinfo = [user] ":" password | password */
static int parse_userinfo(struct redis_url *u, const char *s, size_t len, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', len);
	int r;

	if (len > USERINFO_MAX)
		return errbuf_set(err, errlen, -EINVAL, "credentials are longer than %d bytes",
		                  USERINFO_MAX);
	if (colon != NULL && colon > s) {
		r = decode(s, (size_t)(colon - s), &u->user);
		if (r < 0)
			return r == -ENOMEM
			           ? r
			           : errbuf_set(err, errlen, -EINVAL, "malformed user name");
	}
	if (colon != NULL) {
		len -= (size_t)(colon + 1 - s);
		s = colon + 1;
	}
	r = decode(s, len, &u->password);
	if (r < 0)
		return r == -ENOMEM ? r : errbuf_set(err, errlen, -EINVAL, "malformed password");
	if (u->password[0] == '\0') {
		free(u->password);
		u->password = NULL;
	}
	return 0;
}

static int parse_tcp(struct redis_url *u, const char *s, char *err, size_t errlen)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	const char *at = NULL, *host, *end, *port = NULL;
	size_t hlen;
	uint64_t v;
	int r;

	if (strpbrk(s, "?#") != NULL)
		return errbuf_set(err, errlen, -EINVAL, "query and fragment are not supported");
	for (size_t i = 0; i < alen; i++)
		if (s[i] == '@')
			at = s + i;
	if (at != NULL) {
		r = parse_userinfo(u, s, (size_t)(at - s), err, errlen);
		if (r < 0)
			return r;
		host = at + 1;
	} else {
		host = s;
	}
	end = s + alen;
	if (host < end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (close == NULL)
			return errbuf_set(err, errlen, -EINVAL, "unterminated '[' in the host");
		hlen = (size_t)(close - host - 1);
		if (hlen == 0)
			return errbuf_set(err, errlen, -EINVAL, "empty IPv6 address");
		for (size_t i = 0; i < hlen; i++)
			if (!is_v6_char(host[1 + i]))
				return errbuf_set(err, errlen, -EINVAL,
				                  "invalid character in the IPv6 address");
		if (close + 1 < end && close[1] != ':')
			return errbuf_set(err, errlen, -EINVAL,
			                  "unexpected text after the IPv6 address");
		if (close + 1 < end)
			port = close + 2;
		u->host = strndup(host + 1, hlen);
	} else {
		const char *colon = memchr(host, ':', (size_t)(end - host));

		hlen = colon ? (size_t)(colon - host) : (size_t)(end - host);
		if (colon != NULL)
			port = colon + 1;
		for (size_t i = 0; i < hlen; i++)
			if (!is_host_char(host[i]))
				return errbuf_set(err, errlen, -EINVAL,
				                  "invalid character in the host name");
		u->host = strndup(host, hlen);
	}
	if (u->host == NULL)
		return -ENOMEM;
	if (u->host[0] == '\0')
		return errbuf_set(err, errlen, -EINVAL, "no host");
	if (hlen > HOST_MAX)
		return errbuf_set(err, errlen, -EINVAL, "host name longer than %d bytes", HOST_MAX);
	u->port = REDIS_DEFAULT_PORT;
	if (port != NULL) {
		if (!parse_uint(port, (size_t)(end - port), 65535, &v) || v == 0)
			return errbuf_set(
			    err, errlen, -EINVAL, "invalid port \"%.*s\"",
			    (int)((size_t)(end - port) > 16 ? 16 : (size_t)(end - port)), port);
		u->port = (uint16_t)v;
	}
	if (slash != NULL && slash[1] != '\0') {
		if (!parse_uint(slash + 1, strlen(slash + 1), INT32_MAX, &v))
			return errbuf_set(err, errlen, -EINVAL, "invalid database number \"%.16s\"",
			                  slash + 1);
		u->db = (uint32_t)v;
	}
	return 0;
}

static int parse_unix(struct redis_url *u, const char *s, char *err, size_t errlen)
{
	const char *path = s, *q;
	size_t plen;
	uint64_t v;
	int r;

	if (*s != '/') {
		const char *at = strchr(s, '@');
		const char *slash = strchr(s, '/');

		if (at == NULL || (slash != NULL && slash < at))
			return errbuf_set(err, errlen, -EINVAL,
			                  "the socket path must be absolute (unix:///path)");
		r = parse_userinfo(u, s, (size_t)(at - s), err, errlen);
		if (r < 0)
			return r;
		path = at + 1;
		if (*path != '/')
			return errbuf_set(err, errlen, -EINVAL,
			                  "the socket path must be absolute (unix:///path)");
	}
	q = strchr(path, '?');
	plen = q ? (size_t)(q - path) : strlen(path);
	if (plen > SUN_PATH_MAX)
		return errbuf_set(err, errlen, -EINVAL, "socket path longer than %d bytes",
		                  SUN_PATH_MAX);
	if (plen < 2)
		return errbuf_set(err, errlen, -EINVAL, "no socket path");
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f || path[i] == '#')
			return errbuf_set(err, errlen, -EINVAL,
			                  "invalid character in the socket path");
	u->path = strndup(path, plen);
	if (u->path == NULL)
		return -ENOMEM;
	if (q != NULL) {
		if (strncmp(q, "?db=", 4) != 0 || !parse_uint(q + 4, strlen(q + 4), INT32_MAX, &v))
			return errbuf_set(err, errlen, -EINVAL,
			                  "only ?db=N may follow the socket path");
		u->db = (uint32_t)v;
	}
	return 0;
}

static int make_redacted(struct redis_url *u)
{
	int n;

	if (u->kind == REDIS_URL_UNIX)
		n = asprintf(&u->redacted, "unix://%s?db=%u", u->path, u->db);
	else if (strchr(u->host, ':') != NULL)
		n = asprintf(&u->redacted, "redis://[%s]:%u/%u", u->host, u->port, u->db);
	else
		n = asprintf(&u->redacted, "redis://%s:%u/%u", u->host, u->port, u->db);
	if (n < 0) {
		u->redacted = NULL;
		return -ENOMEM;
	}
	return 0;
}

int redis_url_parse(const char *text, struct redis_url **ret, char *err, size_t errlen)
{
	struct redis_url *u;
	size_t len;
	int r;

	if (text == NULL || text[0] == '\0')
		return errbuf_set(err, errlen, -EINVAL, "empty Redis URL");
	len = strnlen(text, REDIS_URL_MAX + 1);
	if (len > REDIS_URL_MAX)
		return errbuf_set(err, errlen, -EINVAL, "Redis URL longer than %d bytes",
		                  REDIS_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
			return errbuf_set(err, errlen, -EINVAL,
			                  "Redis URL holds a space or control character");
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return -ENOMEM;
	if (strncasecmp(text, "redis://", 8) == 0) {
		u->kind = REDIS_URL_TCP;
		r = parse_tcp(u, text + 8, err, errlen);
	} else if (strncasecmp(text, "unix://", 7) == 0) {
		u->kind = REDIS_URL_UNIX;
		r = parse_unix(u, text + 7, err, errlen);
	} else if (strncasecmp(text, "rediss://", 9) == 0) {
		r = errbuf_set(err, errlen, -EINVAL, "TLS (rediss://) is not supported");
	} else {
		r = errbuf_set(err, errlen, -EINVAL, "not a redis:// or unix:// URL");
	}
	if (r == 0)
		r = make_redacted(u);
	if (r < 0) {
		if (r == -ENOMEM)
			errbuf_set(err, errlen, -EINVAL, "out of memory");
		redis_url_free(u);
		return r;
	}
	*ret = u;
	return 0;
}

void redis_url_free(struct redis_url *u)
{
	if (u == NULL)
		return;
	free(u->host);
	free(u->path);
	free(u->user);
	if (u->password != NULL)
		explicit_bzero(u->password, strlen(u->password));
	free(u->password);
	free(u->redacted);
	free(u);
}

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int redis_url_equal(const struct redis_url *a, const struct redis_url *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->kind == b->kind && a->port == b->port && a->db == b->db &&
	       str_eq(a->host, b->host) && str_eq(a->path, b->path) && str_eq(a->user, b->user) &&
	       str_eq(a->password, b->password);
}
