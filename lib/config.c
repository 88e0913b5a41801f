/*
 * config: the configuration of the suite, see config.h.
 *
 * Every scalar key lives in one static table below: dotted name, environment
 * variable(s), type, default (written as text and parsed by the same code as the
 * environment, so a default is valid by construction), range and an optional
 * extra check.  Loading fills the defaults, then walks the file (which also finds
 * unknown keys), then applies the environment, recording for each key where its
 * value came from.  `rules`, `rules_file` and `programs` are lists, not scalars,
 * and have their own small parsers at the end.
 *
 * This file does not log: errors go back as one line of text, warnings as a list
 * in struct config, and the caller decides what to print.
 */
#include "config.h"
#include "settings.h"
#include "errbuf.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hash.h"
#include "redis_url.h"
#include "rules.h"

enum key_type {
	KT_STRING, /* any string, "" included */
	KT_PATH,   /* an absolute path */
	KT_BOOL,
	KT_UINT,   /* uint32_t within [min, max] */
	KT_MODE,   /* octal permission bits as a string: "644", "0755" */
	KT_LISTEN, /* "host:port", "[v6]:port" */
	KT_URL,    /* a string checked by the key's check function; its password is masked */
	KT_SECRET, /* a string never printed */
	KT_USER,   /* a uid: a number or a user name, stored as uint32_t */
	KT_GROUP,  /* a gid: a number or a group name, stored as uint32_t */
	KT_MAX,
};

union value {
	char *str;
	bool b;
	uint32_t u;
	mode_t mode;
	struct config_listen listen;
};

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	const char *env;      /* the whole value; the host of a KT_LISTEN key */
	const char *env_port; /* KT_LISTEN: the port alone */
	const char *def;      /* the default, as the environment would spell it */
	uint32_t min, max;    /* KT_UINT */
	/* Further validation of a parsed value; writes the reason into why. */
	int (*check)(const union value *v, char *why, size_t whylen);
};

#define ENV_USED_VALUE 0x1
#define ENV_USED_PORT  0x2

static int check_nonempty(const union value *v, char *why, size_t whylen);
static int check_redis_url(const union value *v, char *why, size_t whylen);
static int check_http_url(const union value *v, char *why, size_t whylen);
static int check_base_path(const union value *v, char *why, size_t whylen);
static int check_readonly(const union value *v, char *why, size_t whylen);

#define MS_DAY 86400000u
#define ID_MAX 4294967294u /* (uid_t)-1 means "unchanged" to setresuid() */

/* The key's name is its field's name: KEY(T, kv.prefix, ...) is the key "kv.prefix". */
#define KEY(type_, field, env_, def_, ...)                                               \
	{                                                                                \
		.name = #field, .type = type_, .offset = offsetof(struct config, field), \
		.env = env_, .def = def_, __VA_ARGS__                                    \
	}

/*
 * KEY(type, field, environment variable, default, optional .min/.max/.env_port/.check).
 * docs/configuration.md, etc/meta-fuse.conf and meta-fuse.conf(5) describe this table.
 */
static const struct key keys[] = {
    KEY(KT_PATH, runtime_dir, "META_FUSE_RUNTIME_DIR", "/run/meta-fuse"),
    KEY(KT_PATH, state_dir, "META_FUSE_STATE_DIR", "/var/lib/meta-fuse"),
    KEY(KT_USER, uid, "PUID", "1000", .min = 0, .max = ID_MAX),
    KEY(KT_GROUP, gid, "PGID", "1000", .min = 0, .max = ID_MAX),
    KEY(KT_PATH, files_volume, "FILES_VOLUME", "/files"),
    KEY(KT_URL, source_webdav_url, "META_SORT_WEBDAV_URL", "", .check = check_http_url),

    KEY(KT_PATH, kv.meta_core_path, "META_CORE_PATH", "/meta-core"),
    KEY(KT_URL, kv.redis_url, "REDIS_URL", "", .check = check_redis_url),
    KEY(KT_STRING, kv.prefix, "REDIS_PREFIX", "meta-sort:"),
    KEY(KT_STRING, kv.separator, NULL, ":", .check = check_nonempty),
    KEY(KT_UINT, kv.refresh_interval_ms, "VFS_REFRESH_INTERVAL", "30000", .min = 100,
        .max = MS_DAY),
    KEY(KT_UINT, kv.debounce_ms, NULL, "200", .min = 0, .max = 60000),
    KEY(KT_UINT, kv.hold_threshold_percent, NULL, "20", .min = 0, .max = 100),
    KEY(KT_UINT, kv.hold_time_ms, NULL, "600000", .min = 0, .max = MS_DAY),
    KEY(KT_UINT, kv.connect_timeout_ms, NULL, "2000", .min = 1, .max = 600000),
    KEY(KT_UINT, kv.command_timeout_ms, NULL, "10000", .min = 1, .max = 3600000),
    KEY(KT_UINT, kv.resync_cpu_percent, NULL, "1", .min = 1, .max = 100),
    KEY(KT_BOOL, kv.measure_sizes, NULL, "true"),

    KEY(KT_BOOL, fuse.enabled, NULL, "true"),
    KEY(KT_PATH, fuse.mount_point, "FUSE_MOUNT_POINT", "/mnt/virtual"),
    KEY(KT_MODE, fuse.file_mode, "FUSE_FILE_MODE", "644"),
    KEY(KT_MODE, fuse.dir_mode, "FUSE_DIR_MODE", "755"),
    KEY(KT_BOOL, fuse.allow_other, "FUSE_ALLOW_OTHER", "true"),
    KEY(KT_UINT, fuse.attr_ttl_ms, NULL, "600000", .min = 0, .max = MS_DAY),
    KEY(KT_UINT, fuse.dir_ttl_ms, NULL, "30000", .min = 0, .max = MS_DAY),
    KEY(KT_UINT, fuse.read_ahead_kb, NULL, "1024", .min = 0, .max = 65536),

    KEY(KT_BOOL, webdav.enabled, NULL, "true"),
    KEY(KT_LISTEN, webdav.listen, NULL, "0.0.0.0:8080", .env_port = "WEBDAV_PORT"),
    KEY(KT_STRING, webdav.base_path, NULL, "/webdav", .check = check_base_path),
    KEY(KT_STRING, webdav.username, "WEBDAV_USERNAME", "metamesh"),
    KEY(KT_SECRET, webdav.password, "WEBDAV_PASSWORD", "metamesh"),
    KEY(KT_BOOL, webdav.readonly, "WEBDAV_READONLY", "true", .check = check_readonly),
    KEY(KT_STRING, webdav.tls_cert, NULL, ""),
    KEY(KT_STRING, webdav.tls_key, NULL, ""),
    KEY(KT_UINT, webdav.max_connections, NULL, "2048", .min = 1, .max = 65536),
    KEY(KT_UINT, webdav.max_connections_per_address, NULL, "256", .min = 1, .max = 65536),
    KEY(KT_UINT, webdav.idle_timeout_s, NULL, "60", .min = 1, .max = 86400),
    KEY(KT_UINT, webdav.threads, NULL, "4", .min = 1, .max = 64),

    KEY(KT_BOOL, api.enabled, NULL, "true"),
    KEY(KT_LISTEN, api.listen, "API_HOST", "0.0.0.0:3000", .env_port = "API_PORT"),
    KEY(KT_STRING, api.username, "API_USERNAME", ""),
    KEY(KT_SECRET, api.password, "API_PASSWORD", ""),
    KEY(KT_STRING, api.cors_origins, "API_CORS_ORIGINS", ""),

    KEY(KT_STRING, hooks.on_change, NULL, ""),
    KEY(KT_UINT, hooks.debounce_ms, NULL, "5000", .min = 0, .max = MS_DAY),

    /* Resolved by the supervisor when it starts kvwatch, not here: see config.h. */
    KEY(KT_STRING, writer_user, "META_FUSE_WRITER_USER", "meta-fuse", .check = check_nonempty),
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))
static_assert(KEY_COUNT <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX in config.h");
static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t),
              "uid and gid are stored as uint32_t");

/* Top-level keys that are not in the table. */
#define KEY_RULES      "rules"
#define KEY_RULES_FILE "rules_file"
#define KEY_PROGRAMS   "programs"

/* Names a program may not take: the supervisor's own workers. */
#define PROGRAMS_MAX 256
static const char *const reserved_programs[] = {"kvwatch", "fused", "davd", "apid"};

#define PROGRAM_NAME_MAX 32

/* -------------------------------------------------------------------------- */
/* Small helpers                                                              */

static int __attribute__((format(printf, 2, 3)))
add_warning(struct config *cfg, const char *fmt, ...)
{
	char **w;
	char *text;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	w = reallocarray(cfg->warnings, cfg->warning_count + 1, sizeof(*w));
	if (!w) {
		free(text);
		return -ENOMEM;
	}
	cfg->warnings = w;
	cfg->warnings[cfg->warning_count++] = text;
	return 0;
}

static const char *key_type_name(enum key_type t)
{
	switch (t) {
	case KT_BOOL:
		return "a boolean (true or false)";
	case KT_UINT:
		return "an integer";
	case KT_USER:
		return "a uid or a user name";
	case KT_GROUP:
		return "a gid or a group name";
	case KT_MODE:
		return "an octal mode string such as \"644\"";
	case KT_LISTEN:
		return "a \"host:port\" string";
	case KT_PATH:
		return "an absolute path string";
	default:
		return "a string";
	}
}

static const struct key *key_find(const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void *key_field(struct config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

static const void *key_cfield(const struct config *cfg, const struct key *k)
{
	return (const char *)cfg + k->offset;
}

static bool is_string_type(enum key_type t)
{
	return t == KT_STRING || t == KT_PATH || t == KT_URL || t == KT_SECRET;
}

static void value_clear(enum key_type t, union value *v)
{
	if (is_string_type(t))
		free(v->str);
	else if (t == KT_LISTEN)
		free(v->listen.host);
	memset(v, 0, sizeof(*v));
}

/* Move v into the key's field of cfg, releasing what was there. */
static void key_store(struct config *cfg, const struct key *k, union value *v)
{
	void *f = key_field(cfg, k);

	switch (k->type) {
	case KT_BOOL:
		*(bool *)f = v->b;
		break;
	case KT_UINT:
	case KT_USER:
	case KT_GROUP:
		*(uint32_t *)f = v->u;
		break;
	case KT_MODE:
		*(mode_t *)f = v->mode;
		break;
	case KT_LISTEN:
		free(((struct config_listen *)f)->host);
		*(struct config_listen *)f = v->listen;
		break;
	default:
		free(*(char **)f);
		*(char **)f = v->str;
		break;
	}
	memset(v, 0, sizeof(*v));
}

/* -------------------------------------------------------------------------- */
/* Parsing values from text (defaults, the environment, strings of the file)  */

static int parse_uint(const char *s, uint32_t min, uint32_t max, uint32_t *ret, char *why,
                      size_t whylen)
{
	unsigned long long v = 0;

	if (*s == '\0')
		return errbuf_set(why, whylen, -EINVAL,
		                  "empty value; expected a number from %u to %u", min, max);
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\" is not a number from %u to %u", s, min, max);
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT32_MAX)
			break;
	}
	if (v < min || v > max)
		return errbuf_set(why, whylen, -EINVAL, "%s is out of range (%u-%u)", s, min, max);
	*ret = (uint32_t)v;
	return 0;
}

/* A uid or gid: digits, or a name the system's user (group) database knows. */
static int parse_id(const char *s, bool group, uint32_t min, uint32_t max, uint32_t *ret, char *why,
                    size_t whylen)
{
	if (*s >= '0' && *s <= '9')
		return parse_uint(s, min, max, ret, why, whylen);
	if (*s == '\0')
		return errbuf_set(why, whylen, -EINVAL,
		                  "empty value; expected a number or a %s name",
		                  group ? "group" : "user");
	if (group) {
		struct group *gr = getgrnam(s);

		if (!gr)
			return errbuf_set(why, whylen, -EINVAL, "group \"%s\" does not exist", s);
		*ret = (uint32_t)gr->gr_gid;
	} else {
		struct passwd *pw = getpwnam(s);

		if (!pw)
			return errbuf_set(why, whylen, -EINVAL, "user \"%s\" does not exist", s);
		*ret = (uint32_t)pw->pw_uid;
	}
	if (*ret < min || *ret > max)
		return errbuf_set(why, whylen, -EINVAL,
		                  "\"%s\" has the id %u, out of range (%u-%u)", s, *ret, min, max);
	return 0;
}

static int parse_bool(const char *s, bool *ret, char *why, size_t whylen)
{
	static const struct {
		const char *text;
		bool value;
	} words[] = {
	    {"true", true},   {"yes", true}, {"1", true},
	    {"false", false}, {"no", false}, {"0", false},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(s, words[i].text) == 0) {
			*ret = words[i].value;
			return 0;
		}
	}
	return errbuf_set(why, whylen, -EINVAL,
	                  "\"%s\" is not a boolean; use true/false, yes/no or 1/0", s);
}

static int parse_mode(const char *s, mode_t *ret, char *why, size_t whylen)
{
	unsigned long v = 0;

	if (*s == '\0')
		return errbuf_set(why, whylen, -EINVAL,
		                  "empty value; expected an octal mode such as \"644\"");
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return errbuf_set(
			    why, whylen, -EINVAL,
			    "\"%s\" is not an octal mode; expected octal digits such as "
			    "\"644\" or \"0755\"",
			    s);
		v = v * 8 + (unsigned)(*p - '0');
		if (v > 07777)
			return errbuf_set(
			    why, whylen, -EINVAL,
			    "\"%s\" is out of range; a mode is at most \"7777\" (octal)", s);
	}
	*ret = (mode_t)v;
	return 0;
}

static int parse_port(const char *s, uint16_t *ret, char *why, size_t whylen)
{
	uint32_t v;

	if (parse_uint(s, 1, 65535, &v, why, whylen) < 0)
		return errbuf_set(why, whylen, -EINVAL,
		                  "port \"%s\" is not a number from 1 to 65535", s);
	*ret = (uint16_t)v;
	return 0;
}

/*
 * A host to listen on: an IPv4 or IPv6 literal (IPv6 with or without brackets
 * when bracketed is false) or a host name.  Returns the host without brackets.
 */
static int parse_host(const char *s, size_t len, char **ret, char *why, size_t whylen)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[256];
	bool dotted = true, bracketed = false;

	if (len == 0)
		return errbuf_set(why, whylen, -EINVAL,
		                  "the host is empty; use \"0.0.0.0\" for every address");
	if (len >= sizeof(buf))
		return errbuf_set(why, whylen, -EINVAL, "the host is too long");
	if (s[0] == '[' && len >= 2 && s[len - 1] == ']') {
		s++;
		len -= 2;
		bracketed = true;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (bracketed || strchr(buf, ':')) {
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return errbuf_set(why, whylen, -EINVAL, "\"%s\" is not an IPv6 address",
			                  buf);
	} else {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)buf[i];

			if (!isalnum(c) && c != '.' && c != '-')
				return errbuf_set(why, whylen, -EINVAL,
				                  "\"%s\" is not an address or host name", buf);
			if (!isdigit(c) && c != '.')
				dotted = false;
		}
		if (buf[0] == '-' || buf[0] == '.')
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\" is not an address or host name", buf);
		if (dotted && inet_pton(AF_INET, buf, &a4) != 1)
			return errbuf_set(why, whylen, -EINVAL, "\"%s\" is not an IPv4 address",
			                  buf);
	}
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int parse_listen(const char *s, struct config_listen *ret, char *why, size_t whylen)
{
	const char *colon, *host = s;
	size_t hostlen;
	uint16_t port = 0;
	char *h;
	int r;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return errbuf_set(
			    why, whylen, -EINVAL,
			    "\"%s\" is not \"[address]:port\" (IPv6 example: \"[::]:8080\")", s);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\" has no port; expected \"host:port\" such as "
			                  "\"0.0.0.0:8080\"",
			                  s);
		if (memchr(s, ':', (size_t)(colon - s)))
			return errbuf_set(
			    why, whylen, -EINVAL,
			    "\"%s\": put an IPv6 address in brackets, as in \"[::]:8080\"", s);
	}
	hostlen = (size_t)(colon - host);
	r = parse_port(colon + 1, &port, why, whylen);
	if (r < 0)
		return r;
	r = parse_host(host, hostlen, &h, why, whylen);
	if (r < 0)
		return r;
	ret->host = h;
	ret->port = port;
	return 0;
}

/* Parse text into v as the key's type and run its check.  v is cleared on failure. */
static int parse_value(const struct key *k, const char *s, union value *v, char *why, size_t whylen)
{
	int r = 0;

	memset(v, 0, sizeof(*v));
	switch (k->type) {
	case KT_BOOL:
		r = parse_bool(s, &v->b, why, whylen);
		break;
	case KT_UINT:
		r = parse_uint(s, k->min, k->max, &v->u, why, whylen);
		break;
	case KT_USER:
	case KT_GROUP:
		r = parse_id(s, k->type == KT_GROUP, k->min, k->max, &v->u, why, whylen);
		break;
	case KT_MODE:
		r = parse_mode(s, &v->mode, why, whylen);
		break;
	case KT_LISTEN:
		r = parse_listen(s, &v->listen, why, whylen);
		break;
	case KT_PATH:
		if (s[0] != '/') {
			r = errbuf_set(why, whylen, -EINVAL,
			               "\"%s\" is not an absolute path; it must start with '/'", s);
			break;
		}
		/* fall through */
	default:
		v->str = strdup(s);
		if (!v->str)
			r = -ENOMEM;
		break;
	}
	if (r == 0 && k->check)
		r = k->check(v, why, whylen);
	if (r < 0)
		value_clear(k->type, v);
	if (r == -ENOMEM)
		errbuf_set(why, whylen, -EINVAL, "out of memory");
	return r;
}

static int check_nonempty(const union value *v, char *why, size_t whylen)
{
	if (v->str[0] == '\0')
		return errbuf_set(why, whylen, -EINVAL, "must not be empty");
	return 0;
}

/*
 * "scheme://[userinfo@]rest": is s of this scheme?  *ret_rest points after the
 * userinfo, *ret_at at its '@' (NULL when there is none).
 */
static bool has_scheme(const char *s, const char *scheme, const char **ret_rest,
                       const char **ret_at)
{
	size_t n = strlen(scheme);
	const char *at = NULL, *p;

	if (strncasecmp(s, scheme, n) != 0 || strncmp(s + n, "://", 3) != 0)
		return false;
	for (p = s + n + 3; *p && *p != '/'; p++)
		if (*p == '@')
			at = p;
	*ret_rest = at ? at + 1 : s + n + 3;
	*ret_at = at;
	return true;
}

/*
 * A URL with the password of its userinfo (user:PASSWORD@, or a lone PASSWORD@ as
 * redis-cli reads it) replaced by "********", for messages and check-config.
 */
static const char *url_masked(const char *s, char *buf, size_t buflen)
{
	const char *sep = strstr(s, "://"), *at = NULL, *colon = NULL, *p;

	if (!sep)
		return s;
	for (p = sep + 3; *p && *p != '/'; p++) {
		if (*p == '@')
			at = p;
	}
	if (!at)
		return s;
	colon = memchr(sep + 3, ':', (size_t)(at - (sep + 3)));
	p = colon ? colon + 1 : sep + 3;
	snprintf(buf, buflen, "%.*s********%s", (int)(p - s), s, at);
	return buf;
}

static int check_redis_url(const union value *v, char *why, size_t whylen)
{
	const char *s = v->str, *rest, *at;
	struct redis_url *u = NULL;
	char masked[512], reason[256];

	if (s[0] == '\0')
		return 0;
	s = url_masked(s, masked, sizeof(masked));
	if (has_scheme(v->str, "redis", &rest, &at)) {
		if (rest[0] == '\0' || rest[0] == '/')
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\" has no host; expected \"redis://host:port\"", s);
	} else if (has_scheme(v->str, "unix", &rest, &at)) {
		if (rest[0] != '/')
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\": a unix socket URL needs an absolute path, as in "
			                  "\"unix:///run/redis/redis.sock\"",
			                  s);
	} else {
		return errbuf_set(why, whylen, -EINVAL,
		                  "\"%s\" is not a Redis URL; expected \"redis://host:port\", "
		                  "\"unix:///path/to/socket\" or \"\" to discover the leader",
		                  s);
	}
	/* What kvwatch refuses, refused here the same way (one parser). */
	if (redis_url_parse(v->str, &u, reason, sizeof(reason)) < 0)
		return errbuf_set(why, whylen, -EINVAL, "\"%s\": %s", s, reason);
	redis_url_free(u);
	return 0;
}

static int check_http_url(const union value *v, char *why, size_t whylen)
{
	const char *s = v->str, *rest, *at;
	char masked[512];

	if (s[0] == '\0')
		return 0;
	s = url_masked(s, masked, sizeof(masked));
	if (!has_scheme(v->str, "http", &rest, &at) && !has_scheme(v->str, "https", &rest, &at))
		return errbuf_set(why, whylen, -EINVAL,
		                  "\"%s\" is not an http:// or https:// URL (or \"\" to read local "
		                  "files)",
		                  s);
	if (rest[0] == '\0' || rest[0] == '/')
		return errbuf_set(why, whylen, -EINVAL, "\"%s\" has no host", s);
	return 0;
}

static int check_base_path(const union value *v, char *why, size_t whylen)
{
	char *s = v->str;
	size_t len;

	if (s[0] != '/')
		return errbuf_set(why, whylen, -EINVAL,
		                  "\"%s\" must start with '/', as in \"/webdav\"", s);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == 0x7f || strchr("?#%\\", c))
			return errbuf_set(
			    why, whylen, -EINVAL,
			    "\"%s\" holds a character that is not allowed in a URL path "
			    "prefix (space, control, '?', '#', '%%' or '\\')",
			    s);
		if (c == '/' && p[1] == '/')
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\" holds an empty segment (\"//\")", s);
		if (c == '/' && p[1] == '.' &&
		    (p[2] == '/' || p[2] == '\0' || (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
			return errbuf_set(why, whylen, -EINVAL,
			                  "\"%s\" holds a \".\" or \"..\" segment", s);
	}
	/* "/webdav/" and "/webdav" are the same prefix; keep the short one. */
	len = strlen(s);
	while (len > 1 && s[len - 1] == '/')
		s[--len] = '\0';
	return 0;
}

static int check_readonly(const union value *v, char *why, size_t whylen)
{
	if (!v->b)
		return errbuf_set(why, whylen, -EINVAL,
		                  "meta-fuse is a read-only service; writes would have to go to "
		                  "meta-sort, so set it to true (or leave it out)");
	return 0;
}

/* -------------------------------------------------------------------------- */
/* Loading                                                                    */

struct loader {
	struct config *cfg;
	config_t lc;
	bool lc_live;
	const char *file; /* the file read, for messages */
	char *include_dir;
	char fbuf[4096];
	char *err;
	size_t errlen;
};

/*
 * The file a message names: the main file, or an @included one (which libconfig
 * records as written in the @include, relative to the include directory).
 */
static const char *message_file(struct loader *ld, const char *f)
{
	if (!f)
		return ld->file;
	if (f[0] == '/' || !ld->include_dir || strcmp(f, ld->file) == 0)
		return f;
	snprintf(ld->fbuf, sizeof(ld->fbuf), "%s%s%s", ld->include_dir,
	         strcmp(ld->include_dir, "/") == 0 ? "" : "/", f);
	return ld->fbuf;
}

static const char *setting_file(struct loader *ld, const config_setting_t *s)
{
	return message_file(ld, config_setting_source_file(s));
}

/* "<file>:<line>: <what>: <why>" */
static int __attribute__((format(printf, 4, 5)))
fail_at(struct loader *ld, const config_setting_t *s, const char *what, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s:%u: %s: %s", setting_file(ld, s),
	                  (unsigned)config_setting_source_line(s), what, why);
}

static int apply_defaults(struct loader *ld)
{
	char why[512];
	union value v;
	int r;

	for (size_t i = 0; i < KEY_COUNT; i++) {
		r = parse_value(&keys[i], keys[i].def, &v, why, sizeof(why));
		if (r < 0)
			return errbuf_set(ld->err, ld->errlen, -EINVAL,
			                  "built-in default of %s: %s", keys[i].name, why);
		key_store(ld->cfg, &keys[i], &v);
		ld->cfg->origin_[i] = CONFIG_ORIGIN_DEFAULT;
	}
	ld->cfg->rules_origin_ = CONFIG_ORIGIN_DEFAULT;
	ld->cfg->programs_origin_ = CONFIG_ORIGIN_DEFAULT;
	return 0;
}

/* One scalar setting of the file for a key of the table. */
static int apply_setting(struct loader *ld, const struct key *k, const config_setting_t *s)
{
	int type = config_setting_type(s);
	char why[512];
	union value v;
	int r;

	memset(&v, 0, sizeof(v));
	if (k->type == KT_BOOL && type == CONFIG_TYPE_BOOL) {
		v.b = config_setting_get_bool(s);
		if (k->check && k->check(&v, why, sizeof(why)) < 0)
			return fail_at(ld, s, k->name, "%s", why);
	} else if ((k->type == KT_UINT || k->type == KT_USER || k->type == KT_GROUP) &&
	           (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)) {
		long long n = config_setting_get_int64(s);

		/* libconfig 1.5 wraps a plain integer above 2147483647 to a negative one. */
		if (n < 0 && type == CONFIG_TYPE_INT && k->max > INT32_MAX)
			return fail_at(ld, s, k->name,
			               "%lld is out of range (%u-%u); write numbers above "
			               "2147483647 with an L suffix (4294967294L)",
			               n, k->min, k->max);
		if (n < (long long)k->min || n > (long long)k->max)
			return fail_at(ld, s, k->name, "%lld is out of range (%u-%u)", n, k->min,
			               k->max);
		v.u = (uint32_t)n;
	} else if (k->type != KT_BOOL && k->type != KT_UINT && type == CONFIG_TYPE_STRING) {
		r = parse_value(k, config_setting_get_string(s), &v, why, sizeof(why));
		if (r == -ENOMEM)
			return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
		if (r < 0)
			return fail_at(ld, s, k->name, "%s", why);
	} else {
		return fail_at(ld, s, k->name, "expected %s, got %s", key_type_name(k->type),
		               settings_type_name(s));
	}
	key_store(ld->cfg, k, &v);
	ld->cfg->origin_[k - keys] = CONFIG_ORIGIN_FILE;
	return 0;
}

/* Is name the group part of some key of the table ("kv" of "kv.prefix")? */
static bool is_known_group(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strncmp(keys[i].name, name, n) == 0 && keys[i].name[n] == '.')
			return true;
	return false;
}

static int warn_unknown(struct loader *ld, const config_setting_t *s, const char *name)
{
	int r = add_warning(ld->cfg, "%s:%u: unknown key \"%s\", ignoring", setting_file(ld, s),
	                    (unsigned)config_setting_source_line(s), name);

	return r < 0 ? errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory") : 0;
}

/* The scalar keys, groups of them and the unknown keys of the file. */
static int walk_file(struct loader *ld)
{
	config_setting_t *root = config_root_setting(&ld->lc);
	char full[256];
	int r;

	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct key *k;

		if (strcmp(name, KEY_RULES) == 0 || strcmp(name, KEY_RULES_FILE) == 0 ||
		    strcmp(name, KEY_PROGRAMS) == 0)
			continue; /* see load_rules() and load_programs() */
		k = key_find(name);
		if (k) {
			r = apply_setting(ld, k, s);
			if (r < 0)
				return r;
			continue;
		}
		if (!is_known_group(name)) {
			r = warn_unknown(ld, s, name);
			if (r < 0)
				return r;
			continue;
		}
		if (!config_setting_is_group(s))
			return fail_at(ld, s, name, "expected a group ( %s = { ... }; ), got %s",
			               name, settings_type_name(s));
		for (int j = 0; j < config_setting_length(s); j++) {
			config_setting_t *c = config_setting_get_elem(s, (unsigned)j);

			snprintf(full, sizeof(full), "%s.%s", name, config_setting_name(c));
			k = key_find(full);
			r = k ? apply_setting(ld, k, c) : warn_unknown(ld, c, full);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static const char *env_get(const char *name)
{
	const char *v = name ? getenv(name) : NULL;

	/* An empty variable counts as unset: containers often pass "VAR=" for "nothing". */
	return v && v[0] != '\0' ? v : NULL;
}

static int apply_env(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	char why[512];
	union value v;
	int r;

	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct key *k = &keys[i];
		const char *text = env_get(k->env), *port = env_get(k->env_port);

		if (k->type == KT_LISTEN) {
			struct config_listen *l = key_field(cfg, k);

			if (text) {
				char *host;

				r = parse_host(text, strlen(text), &host, why, sizeof(why));
				if (r < 0)
					return errbuf_set(ld->err, ld->errlen, -EINVAL,
					                  "%s (host of %s): %s", k->env, k->name,
					                  why);
				free(l->host);
				l->host = host;
				cfg->env_used_[i] |= ENV_USED_VALUE;
				cfg->origin_[i] = CONFIG_ORIGIN_ENV;
			}
			if (port) {
				r = parse_port(port, &l->port, why, sizeof(why));
				if (r < 0)
					return errbuf_set(ld->err, ld->errlen, -EINVAL,
					                  "%s (port of %s): %s", k->env_port,
					                  k->name, why);
				cfg->env_used_[i] |= ENV_USED_PORT;
				cfg->origin_[i] = CONFIG_ORIGIN_ENV;
			}
			continue;
		}
		if (!text)
			continue;
		r = parse_value(k, text, &v, why, sizeof(why));
		if (r < 0)
			return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s (%s): %s", k->env,
			                  k->name, why);
		key_store(cfg, k, &v);
		cfg->env_used_[i] |= ENV_USED_VALUE;
		cfg->origin_[i] = CONFIG_ORIGIN_ENV;
	}
	if (env_get("FUSE_API_URL")) {
		r = add_warning(cfg, "FUSE_API_URL is set but ignored: the FUSE worker reads the "
		                     "snapshot directly, not through the API");
		if (r < 0)
			return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

/* dir of the config file + "/" + rel, or a copy of rel when it is absolute. */
static char *resolve_beside(const char *config_path, const char *rel)
{
	const char *slash;
	char *out;

	if (rel[0] == '/' || !config_path)
		return strdup(rel);
	slash = strrchr(config_path, '/');
	if (!slash)
		return strdup(rel);
	if (asprintf(&out, "%.*s/%s", (int)(slash - config_path), config_path, rel) < 0)
		return NULL;
	return out;
}

/*
 * The rules' fingerprint (config.rules_fingerprint): every setting of the inline
 * list, name, type and value, in order; or the bytes of the rules file.
 */
static void fingerprint_setting(struct hash_state *h, const config_setting_t *s)
{
	const char *name = config_setting_name(s);
	int type = config_setting_type(s);
	long long ll;
	double d;
	const char *str;

	hash_update(h, &type, sizeof(type));
	if (name != NULL)
		hash_update(h, name, strlen(name) + 1);
	switch (type) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
	case CONFIG_TYPE_BOOL:
		ll = type == CONFIG_TYPE_BOOL ? config_setting_get_bool(s)
		                              : config_setting_get_int64(s);
		hash_update(h, &ll, sizeof(ll));
		break;
	case CONFIG_TYPE_FLOAT:
		d = config_setting_get_float(s);
		hash_update(h, &d, sizeof(d));
		break;
	case CONFIG_TYPE_STRING:
		str = config_setting_get_string(s);
		hash_update(h, str, strlen(str) + 1);
		break;
	default:
		for (int i = 0, n = config_setting_length(s); i < n; i++)
			fingerprint_setting(h, config_setting_get_elem(s, (unsigned)i));
		hash_update(h, "}", 1);
		break;
	}
}

static uint64_t fingerprint_file(const char *path)
{
	struct hash_state h;
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "re");

	hash_init(&h, 1);
	if (f == NULL)
		return 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		hash_update(&h, buf, n);
	fclose(f);
	return hash_final(&h);
}

static int load_rules(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	struct hash_state h;
	config_setting_t *list = NULL, *file = NULL;
	char why[1024];
	int r;

	if (ld->lc_live) {
		list = config_setting_get_member(config_root_setting(&ld->lc), KEY_RULES);
		file = config_setting_get_member(config_root_setting(&ld->lc), KEY_RULES_FILE);
	}
	if (list && file)
		return fail_at(ld, file, KEY_RULES_FILE,
		               "\"rules\" is set as well (line %u); keep one of the two",
		               (unsigned)config_setting_source_line(list));
	why[0] = '\0';
	if (file) {
		const char *rel;

		if (config_setting_type(file) != CONFIG_TYPE_STRING)
			return fail_at(ld, file, KEY_RULES_FILE, "expected a path string, got %s",
			               settings_type_name(file));
		rel = config_setting_get_string(file);
		if (rel[0] == '\0')
			return fail_at(ld, file, KEY_RULES_FILE,
			               "is empty; name a rules file or leave the key out");
		cfg->rules_file = resolve_beside(ld->file, rel);
		if (!cfg->rules_file)
			return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
		r = rules_from_file(cfg->rules_file, &cfg->schema, &cfg->rules, why, sizeof(why));
		/* A compile error names the rules file and line; a missing file names ours. */
		if (r == -EINVAL)
			return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s", why);
		if (r < 0)
			return fail_at(ld, file, KEY_RULES_FILE, "%s", why);
		cfg->rules_origin_ = CONFIG_ORIGIN_FILE;
		cfg->rules_fingerprint = fingerprint_file(cfg->rules_file);
	} else if (list) {
		if (!config_setting_is_list(list))
			return fail_at(ld, list, KEY_RULES,
			               "expected a list of rule groups ( rules = ( { ... } ); ), "
			               "got %s",
			               settings_type_name(list));
		/* The rules module's message names the file and line itself. */
		r = rules_from_setting(list, &cfg->schema, &cfg->rules, why, sizeof(why));
		if (r < 0)
			return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s", why);
		cfg->rules_origin_ = CONFIG_ORIGIN_FILE;
		hash_init(&h, 2);
		fingerprint_setting(&h, list);
		cfg->rules_fingerprint = hash_final(&h);
	} else {
		r = rules_default(&cfg->schema, &cfg->rules, why, sizeof(why));
		if (r < 0)
			return errbuf_set(ld->err, ld->errlen, -EINVAL, "built-in rules: %s", why);
	}
	return 0;
}

static bool is_program_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROGRAM_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '_' &&
		    *p != '-')
			return false;
	return true;
}

/* A program's "key" of milliseconds, 0 to 3600000, when set. */
static int load_program_ms(struct loader *ld, const config_setting_t *v, const char *what,
                           const char *key, uint32_t *ret)
{
	long long n;

	if (!v)
		return 0;
	n = config_setting_get_int64(v);
	if ((config_setting_type(v) != CONFIG_TYPE_INT &&
	     config_setting_type(v) != CONFIG_TYPE_INT64) ||
	    n < 0 || n > 3600000)
		return fail_at(ld, v, what, "%s: expected an integer from 0 to 3600000", key);
	*ret = (uint32_t)n;
	return 0;
}

static bool is_env_entry(const char *t)
{
	const char *eq = strchr(t, '=');

	return eq && eq != t;
}

/*
 * A program's "key": a list of strings each of which valid() accepts, copied
 * NULL-terminated into *ret; items ("worker names") and item ("a worker name")
 * word the errors.
 */
static int load_program_strings(struct loader *ld, const config_setting_t *list, const char *what,
                                const char *key, bool (*valid)(const char *), const char *items,
                                const char *item, char ***ret)
{
	unsigned n;

	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		return fail_at(ld, list, what, "%s: expected a list of %s, got %s", key, items,
		               settings_type_name(list));
	n = (unsigned)config_setting_length(list);
	*ret = calloc(n + 1, sizeof(**ret));
	if (!*ret)
		return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, i);
		const char *t = config_setting_type(e) == CONFIG_TYPE_STRING
		                    ? config_setting_get_string(e)
		                    : NULL;

		if (!t || !valid(t))
			return fail_at(ld, e, what, "%s[%u]: expected %s", key, i, item);
		(*ret)[i] = strdup(t);
		if (!(*ret)[i])
			return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * start_after and start_delay_ms of a program: the names are checked here for
 * their form; check_start_order() checks what they name once every program is
 * loaded.
 */
static int load_program_order(struct loader *ld, const config_setting_t *g, const char *what,
                              struct config_program *p)
{
	config_setting_t *sa = config_setting_get_member(g, "start_after");
	int r = load_program_ms(ld, config_setting_get_member(g, "start_delay_ms"), what,
	                        "start_delay_ms", &p->start_delay_ms);

	if (r < 0 || !sa)
		return r;
	r = load_program_strings(ld, sa, what, "start_after", is_program_name,
	                         "worker or program names", "the name of a worker or a program",
	                         &p->start_after);
	if (r < 0)
		return r;
	for (char **a = p->start_after; *a; a++)
		if (strcmp(*a, p->name) == 0)
			return fail_at(ld, sa, what, "start_after: the program names itself");
	return 0;
}

static const struct config_program *find_program(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->program_count; i++)
		if (strcmp(cfg->programs[i].name, name) == 0)
			return &cfg->programs[i];
	return NULL;
}

/*
 * A depth-first walk of start_after from program i; color: 0 not seen, 1 on
 * the current path, 2 done.  A program on a cycle when the walk comes back to
 * its own path, else NULL.
 */
static const struct config_program *order_cycle(const struct config *cfg, size_t i,
                                                unsigned char *color)
{
	color[i] = 1;
	for (char **a = cfg->programs[i].start_after; a && *a; a++) {
		const struct config_program *q = find_program(cfg, *a), *c;
		size_t j = q ? (size_t)(q - cfg->programs) : 0;

		if (q && color[j] == 1)
			return q;
		if (q && color[j] == 0 && (c = order_cycle(cfg, j, color)))
			return c;
	}
	color[i] = 2;
	return NULL;
}

/* Every name in start_after is a worker or a program, and no program waits for itself. */
static int check_start_order(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	unsigned char color[PROGRAMS_MAX] = {0};
	const struct config_program *c;

	for (size_t i = 0; i < cfg->program_count; i++) {
		const struct config_program *p = &cfg->programs[i];

		for (char **a = p->start_after; a && *a; a++) {
			bool worker = false;

			for (size_t k = 0;
			     k < sizeof(reserved_programs) / sizeof(reserved_programs[0]); k++)
				worker = worker || strcmp(*a, reserved_programs[k]) == 0;
			if (!worker && !find_program(cfg, *a))
				return errbuf_set(
				    ld->err, ld->errlen, -EINVAL,
				    "program \"%s\": start_after: \"%s\" is neither a "
				    "worker nor a program",
				    p->name, *a);
		}
		if (color[i] == 0 && (c = order_cycle(cfg, i, color)))
			return errbuf_set(
			    ld->err, ld->errlen, -EINVAL,
			    "program \"%s\": start_after: a cycle, it waits for itself", c->name);
	}
	return 0;
}

/* user, environment, autorestart and stop_timeout_ms of a program (all optional). */
static int load_program_options(struct loader *ld, const config_setting_t *g, const char *what,
                                struct config_program *p)
{
	config_setting_t *user = config_setting_get_member(g, "user");
	config_setting_t *env = config_setting_get_member(g, "environment");
	config_setting_t *ar = config_setting_get_member(g, "autorestart");
	config_setting_t *st = config_setting_get_member(g, "stop_timeout_ms");
	int r = load_program_order(ld, g, what, p);

	if (r < 0)
		return r;
	p->autorestart = true;
	p->stop_timeout_ms = 10000;
	if (user) {
		if (config_setting_type(user) != CONFIG_TYPE_STRING)
			return fail_at(ld, user, what,
			               "user: expected a user name or a number as a string, got %s",
			               settings_type_name(user));
		if (config_setting_get_string(user)[0] == '\0')
			return fail_at(ld, user, what, "user: must not be empty");
		p->user = strdup(config_setting_get_string(user));
		if (!p->user)
			return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	}
	if (ar) {
		if (config_setting_type(ar) != CONFIG_TYPE_BOOL)
			return fail_at(ld, ar, what, "autorestart: expected true or false, got %s",
			               settings_type_name(ar));
		p->autorestart = config_setting_get_bool(ar);
	}
	r = load_program_ms(ld, st, what, "stop_timeout_ms", &p->stop_timeout_ms);
	if (r == 0 && env)
		r = load_program_strings(ld, env, what, "environment", is_env_entry,
		                         "\"NAME=value\" strings", "a \"NAME=value\" string",
		                         &p->env);
	return r;
}

static int load_program(struct loader *ld, const config_setting_t *g, size_t index,
                        struct config_program *p)
{
	config_setting_t *name = NULL, *cmd = NULL;
	char what[64];
	unsigned n;
	int r;

	snprintf(what, sizeof(what), "programs[%zu]", index);
	if (!config_setting_is_group(g))
		return fail_at(ld, g, what,
		               "expected a group { name = \"...\"; command = [ ... ]; }, got %s",
		               settings_type_name(g));
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
		const char *cn = config_setting_name(c);
		char full[128];

		if (strcmp(cn, "name") == 0) {
			name = c;
		} else if (strcmp(cn, "command") == 0) {
			cmd = c;
		} else if (strcmp(cn, "user") == 0 || strcmp(cn, "environment") == 0 ||
		           strcmp(cn, "autorestart") == 0 || strcmp(cn, "stop_timeout_ms") == 0 ||
		           strcmp(cn, "start_after") == 0 || strcmp(cn, "start_delay_ms") == 0) {
			continue; /* see load_program_options() */
		} else {
			snprintf(full, sizeof(full), "%s.%s", what, cn);
			r = warn_unknown(ld, c, full);
			if (r < 0)
				return r;
		}
	}
	if (!name)
		return fail_at(ld, g, what, "has no name");
	if (config_setting_type(name) != CONFIG_TYPE_STRING)
		return fail_at(ld, name, what, "name: expected a string, got %s",
		               settings_type_name(name));
	if (!is_program_name(config_setting_get_string(name)))
		return fail_at(ld, name, what,
		               "name \"%s\" is not 1 to %d characters of a-z, 0-9, '_' and '-'",
		               config_setting_get_string(name), PROGRAM_NAME_MAX);
	p->name = strdup(config_setting_get_string(name));
	if (!p->name)
		return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "program \"%s\"", p->name);
	for (size_t i = 0; i < sizeof(reserved_programs) / sizeof(reserved_programs[0]); i++)
		if (strcmp(p->name, reserved_programs[i]) == 0)
			return fail_at(
			    ld, name, what,
			    "the name is taken by a worker of meta-fuse; choose another");
	if (!cmd)
		return fail_at(ld, g, what, "has no command = [ \"program\", \"arg\", ... ]");
	if (!config_setting_is_list(cmd) && !config_setting_is_array(cmd))
		return fail_at(ld, cmd, what, "command: expected a list of strings, got %s",
		               settings_type_name(cmd));
	n = (unsigned)config_setting_length(cmd);
	if (n == 0)
		return fail_at(ld, cmd, what, "command is empty");
	p->argv = calloc(n + 1, sizeof(*p->argv));
	if (!p->argv)
		return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *a = config_setting_get_elem(cmd, i);

		if (config_setting_type(a) != CONFIG_TYPE_STRING)
			return fail_at(ld, a, what, "command[%u]: expected a string, got %s", i,
			               settings_type_name(a));
		p->argv[i] = strdup(config_setting_get_string(a));
		if (!p->argv[i])
			return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	}
	if (p->argv[0][0] == '\0')
		return fail_at(ld, cmd, what, "command: the program to run is empty");
	return load_program_options(ld, g, what, p);
}

static int load_programs(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	config_setting_t *list;
	unsigned n;
	int r;

	if (!ld->lc_live)
		return 0;
	list = config_setting_get_member(config_root_setting(&ld->lc), KEY_PROGRAMS);
	if (!list)
		return 0;
	if (!config_setting_is_list(list))
		return fail_at(ld, list, KEY_PROGRAMS,
		               "expected a list of groups ( programs = ( { ... } ); ), got %s",
		               settings_type_name(list));
	cfg->programs_origin_ = CONFIG_ORIGIN_FILE;
	n = (unsigned)config_setting_length(list);
	if (n == 0)
		return 0;
	if (n > PROGRAMS_MAX)
		return fail_at(ld, list, KEY_PROGRAMS, "%u programs: at most %d", n, PROGRAMS_MAX);
	cfg->programs = calloc(n, sizeof(*cfg->programs));
	if (!cfg->programs)
		return errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, i);

		r = load_program(ld, g, i, &cfg->programs[i]);
		cfg->program_count = i + 1; /* config_free releases the partial entry too */
		if (r < 0)
			return r;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(cfg->programs[j].name, cfg->programs[i].name) == 0)
				return fail_at(ld, g, KEY_PROGRAMS,
				               "program \"%s\" is defined twice",
				               cfg->programs[i].name);
	}
	return check_start_order(ld);
}

const char *config_default_path(void)
{
	const char *env = getenv(CONFIG_ENV_PATH);

	return env && env[0] != '\0' ? env : CONFIG_DEFAULT_PATH;
}

/*
 * Open and parse the file.  Returns 1 when loaded, 0 when the default file is
 * absent (all defaults), -errno on error.
 */
static int read_file(struct loader *ld, const char *path, bool named)
{
	struct stat st;
	char *dir, *slash;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT && !named)
			return 0;
		errbuf_set(ld->err, ld->errlen, -EINVAL, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s: not a regular file", path);
	}
	ld->cfg->path = strdup(path);
	dir = strdup(path);
	if (!ld->cfg->path || !dir) {
		fclose(f);
		free(dir);
		errbuf_set(ld->err, ld->errlen, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	ld->file = ld->cfg->path;
	config_init(&ld->lc);
	ld->lc_live = true;
	/* `@include "x.conf"` resolves beside the file, like rules_file. */
	slash = strrchr(dir, '/');
	if (slash) {
		slash[slash == dir ? 1 : 0] = '\0';
		config_set_include_dir(&ld->lc, dir);
		ld->include_dir = dir;
	} else {
		free(dir);
	}
	fclose(f);
	/* By name, so that libconfig records the file of every setting (rules use it). */
	r = config_read_file(&ld->lc, path);
	if (r != CONFIG_TRUE) {
		const char *ef = message_file(ld, config_error_file(&ld->lc));

		if (config_error_type(&ld->lc) == CONFIG_ERR_FILE_IO)
			return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s: %s", ef,
			                  config_error_text(&ld->lc));
		return errbuf_set(ld->err, ld->errlen, -EINVAL, "%s:%d: %s", ef,
		                  config_error_line(&ld->lc), config_error_text(&ld->lc));
	}
	return 1;
}

int config_load(const char *path, struct config **ret, char *err, size_t errlen)
{
	struct loader ld = {.err = err, .errlen = errlen};
	bool named = path != NULL;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	if (!path) {
		path = config_default_path();
		named = getenv(CONFIG_ENV_PATH) && getenv(CONFIG_ENV_PATH)[0] != '\0';
	}
	ld.cfg = calloc(1, sizeof(*ld.cfg));
	if (!ld.cfg) {
		errbuf_set(err, errlen, -EINVAL, "out of memory");
		return -ENOMEM;
	}
	r = schema_init(&ld.cfg->schema);
	if (r < 0) {
		errbuf_set(err, errlen, -EINVAL, "out of memory");
		goto out;
	}
	r = apply_defaults(&ld);
	if (r < 0)
		goto out;
	r = read_file(&ld, path, named);
	if (r < 0)
		goto out;
	if (ld.lc_live) {
		r = walk_file(&ld);
		if (r < 0)
			goto out;
	}
	r = load_programs(&ld);
	if (r < 0)
		goto out;
	r = apply_env(&ld);
	if (r < 0)
		goto out;
	r = load_rules(&ld);
	if (r < 0)
		goto out;
	r = 0;
out:
	if (ld.lc_live)
		config_destroy(&ld.lc);
	free(ld.include_dir);
	if (r < 0) {
		config_free(ld.cfg);
		return r;
	}
	*ret = ld.cfg;
	return 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < KEY_COUNT; i++) {
		void *f = key_field(cfg, &keys[i]);

		if (is_string_type(keys[i].type))
			free(*(char **)f);
		else if (keys[i].type == KT_LISTEN)
			free(((struct config_listen *)f)->host);
	}
	for (size_t i = 0; i < cfg->program_count; i++) {
		free(cfg->programs[i].name);
		for (char **a = cfg->programs[i].argv; a && *a; a++)
			free(*a);
		free(cfg->programs[i].argv);
		free(cfg->programs[i].user);
		for (char **e = cfg->programs[i].env; e && *e; e++)
			free(*e);
		free(cfg->programs[i].env);
		for (char **a = cfg->programs[i].start_after; a && *a; a++)
			free(*a);
		free(cfg->programs[i].start_after);
	}
	free(cfg->programs);
	for (size_t i = 0; i < cfg->warning_count; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	rules_free(cfg->rules);
	schema_free(&cfg->schema);
	free(cfg->rules_file);
	free(cfg->path);
	free(cfg);
}

/* -------------------------------------------------------------------------- */
/* Printing                                                                   */

int config_listen_format(const struct config_listen *listen, char *buf, size_t buflen)
{
	const char *host = listen->host ? listen->host : "";
	bool v6 = strchr(host, ':') != NULL;
	int n;

	n = snprintf(buf, buflen, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)listen->port);
	if (n < 0 || (size_t)n >= buflen)
		return -ENOSPC;
	return n;
}

/* A string the way libconfig writes it: quoted, with escapes. */
static void print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void print_origin(FILE *out, enum config_origin o, const char *env1, const char *env2)
{
	static const char *const names[] = {
	    [CONFIG_ORIGIN_DEFAULT] = "default",
	    [CONFIG_ORIGIN_FILE] = "file",
	    [CONFIG_ORIGIN_ENV] = "env",
	};

	fprintf(out, "  # %s", o < CONFIG_ORIGIN_MAX ? names[o] : "?");
	if (o == CONFIG_ORIGIN_ENV) {
		if (env1 && env2)
			fprintf(out, " (%s, %s)", env1, env2);
		else if (env1 || env2)
			fprintf(out, " (%s)", env1 ? env1 : env2);
	}
	fputc('\n', out);
}

static void print_key(const struct config *cfg, const struct key *k, FILE *out)
{
	const void *f = key_cfield(cfg, k);
	size_t i = (size_t)(k - keys);
	char buf[300];

	fprintf(out, "%s = ", k->name);
	switch (k->type) {
	case KT_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		break;
	case KT_UINT:
	case KT_USER:
	case KT_GROUP:
		fprintf(out, "%u", *(const uint32_t *)f);
		break;
	case KT_MODE:
		fprintf(out, "\"%04o\"", (unsigned)*(const mode_t *)f);
		break;
	case KT_LISTEN:
		if (config_listen_format(f, buf, sizeof(buf)) < 0)
			buf[0] = '\0';
		print_quoted(out, buf);
		break;
	case KT_SECRET:
		print_quoted(out, (*(char *const *)f)[0] ? "********" : "");
		break;
	case KT_URL:
		print_quoted(out, url_masked(*(char *const *)f, buf, sizeof(buf)));
		break;
	default:
		print_quoted(out, *(char *const *)f);
		break;
	}
	print_origin(out, cfg->origin_[i], cfg->env_used_[i] & ENV_USED_VALUE ? k->env : NULL,
	             cfg->env_used_[i] & ENV_USED_PORT ? k->env_port : NULL);
}

/* programs.NAME.key = [ "a", "b" ] (programs.NAME = [ ... ] when key is NULL). */
static void print_program_strings(FILE *out, const struct config *cfg, const char *name,
                                  const char *key, char *const *v)
{
	fprintf(out, "%s.%s%s%s = [", KEY_PROGRAMS, name, key ? "." : "", key ? key : "");
	for (char *const *a = v; *a; a++) {
		fputs(a == v ? " " : ", ", out);
		print_quoted(out, *a);
	}
	fputs(v[0] ? " ]" : "]", out);
	print_origin(out, cfg->programs_origin_, NULL, NULL);
}

/* A program's optional settings, each only when it is not the default. */
static void print_program_options(FILE *out, const struct config *cfg,
                                  const struct config_program *p)
{
	if (p->user) {
		fprintf(out, "%s.%s.user = ", KEY_PROGRAMS, p->name);
		print_quoted(out, p->user);
		print_origin(out, cfg->programs_origin_, NULL, NULL);
	}
	if (p->env)
		print_program_strings(out, cfg, p->name, "environment", p->env);
	if (!p->autorestart) {
		fprintf(out, "%s.%s.autorestart = false", KEY_PROGRAMS, p->name);
		print_origin(out, cfg->programs_origin_, NULL, NULL);
	}
	if (p->stop_timeout_ms != 10000) {
		fprintf(out, "%s.%s.stop_timeout_ms = %u", KEY_PROGRAMS, p->name,
		        p->stop_timeout_ms);
		print_origin(out, cfg->programs_origin_, NULL, NULL);
	}
	if (p->start_after)
		print_program_strings(out, cfg, p->name, "start_after", p->start_after);
	if (p->start_delay_ms) {
		fprintf(out, "%s.%s.start_delay_ms = %u", KEY_PROGRAMS, p->name, p->start_delay_ms);
		print_origin(out, cfg->programs_origin_, NULL, NULL);
	}
}

void config_print(const struct config *cfg, FILE *out)
{
	uint32_t n;

	if (cfg->path)
		fprintf(out, "# configuration file: %s\n", cfg->path);
	else
		fprintf(out, "# no configuration file: built-in defaults and the environment\n");
	for (size_t i = 0; i < KEY_COUNT; i++)
		print_key(cfg, &keys[i], out);

	if (cfg->rules_file) {
		fprintf(out, "%s = ", KEY_RULES_FILE);
		print_quoted(out, cfg->rules_file);
		print_origin(out, CONFIG_ORIGIN_FILE, NULL, NULL);
	}
	/* The rules by name, in evaluation order. */
	fprintf(out, "%s = [", KEY_RULES);
	n = cfg->rules ? rules_count(cfg->rules) : 0;
	for (uint32_t i = 0; i < n; i++) {
		fputs(i ? ", " : " ", out);
		print_quoted(out, rules_name(cfg->rules, i));
	}
	fputs(n ? " ]" : "]", out);
	print_origin(out, cfg->rules_origin_, NULL, NULL);

	if (cfg->program_count == 0) {
		fprintf(out, "%s = ()", KEY_PROGRAMS);
		print_origin(out, cfg->programs_origin_, NULL, NULL);
	}
	for (size_t i = 0; i < cfg->program_count; i++) {
		print_program_strings(out, cfg, cfg->programs[i].name, NULL, cfg->programs[i].argv);
		print_program_options(out, cfg, &cfg->programs[i]);
	}
}

enum config_origin config_origin_of(const struct config *cfg, const char *key)
{
	const struct key *k = key_find(key);

	if (k)
		return (enum config_origin)cfg->origin_[k - keys];
	if (strcmp(key, KEY_RULES) == 0 || strcmp(key, KEY_RULES_FILE) == 0)
		return (enum config_origin)cfg->rules_origin_;
	if (strcmp(key, KEY_PROGRAMS) == 0)
		return (enum config_origin)cfg->programs_origin_;
	return CONFIG_ORIGIN_MAX;
}

bool config_is_env_var(const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if ((keys[i].env && strcmp(keys[i].env, name) == 0) ||
		    (keys[i].env_port && strcmp(keys[i].env_port, name) == 0))
			return true;
	return strcmp(name, CONFIG_ENV_PATH) == 0;
}
