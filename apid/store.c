/* store: see store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "propnames.h"
#include "redis_url.h"

#define STORE_KEY_MAX 1024 /* bytes of "<prefix>file:<id><sep>" */

struct store {
	const struct config *cfg;
	pthread_mutex_t lock;
	unsigned running; /* lookups now */

	/* The leader lock as last read (kv.redis_url unset): its identity and verdict. */
	struct stat lock_st;
	bool lock_read;
	char *lock_url;       /* the lock's "api", NULL when unusable */
	char lock_error[256]; /* why it is unusable */

	/* kvwatch's property names file as last read: its identity and the names. */
	struct stat names_st;
	bool names_read;
	struct propnames *names; /* NULL: none, or unusable */

	/* Connections kept for the next lookup, with the URL each was made for. */
	redisContext *idle[STORE_LOOKUPS_MAX];
	char *idle_url[STORE_LOOKUPS_MAX];
	size_t idle_count;
};

/* One lookup: the deadline, the connection and the reason of a failure. */
struct lookup {
	redisContext *c;
	int64_t deadline_ns;      /* CLOCK_MONOTONIC */
	int64_t scan_deadline_ns; /* no SCAN call starts after it */
	char *err;
	size_t errlen;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Note why the lookup failed; returns r. */
static int __attribute__((format(printf, 3, 4)))
fail(struct lookup *lk, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lk->err, lk->errlen, fmt, ap);
	va_end(ap);
	return r;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static struct timeval tv_of_ms(uint32_t ms)
{
	return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
}

void store_props_clear(struct store_props *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->props[i].name);
		free(p->props[i].value);
	}
	free(p->props);
	free(p->server);
	memset(p, 0, sizeof(*p));
}

int store_new(const struct config *cfg, struct store **ret)
{
	struct store *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return -ENOMEM;
	st->cfg = cfg;
	pthread_mutex_init(&st->lock, NULL);
	*ret = st;
	return 0;
}

void store_free(struct store *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->idle_count; i++) {
		redisFree(st->idle[i]);
		free(st->idle_url[i]);
	}
	free(st->lock_url);
	propnames_free(st->names);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* The lock file's "api" (malloc'd), or NULL and why in err. */
static char *lock_parse(int fd, char *err, size_t errlen)
{
	char *buf = malloc(STORE_LOCK_MAX + 1), *url = NULL;
	json_error_t jerr;
	json_t *root, *api;
	ssize_t n;

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = read(fd, buf, STORE_LOCK_MAX + 1);
	if (n < 0 || n > STORE_LOCK_MAX) {
		snprintf(err, errlen, "%s", n < 0 ? strerror(errno) : "larger than 64 KiB");
		free(buf);
		return NULL;
	}
	root = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	api = json_object_get(root, "api");
	if (root == NULL)
		snprintf(err, errlen, "not JSON: %s", jerr.text);
	else if (!json_is_string(api) || json_string_length(api) == 0)
		snprintf(err, errlen, "no \"api\" string (the Redis URL)");
	else if ((url = strdup(json_string_value(api))) == NULL)
		snprintf(err, errlen, "out of memory");
	json_decref(root);
	return url;
}

/*
 * The URL to ask (malloc'd): kv.redis_url, else the leader lock's, read again
 * when the file changed.  Called with the lock held.
 */
static char *target_locked(struct store *st, char *err, size_t errlen)
{
	const struct config *cfg = st->cfg;
	char path[4096];
	struct stat sb;
	int fd;

	if (*cfg->kv.redis_url)
		return strdup(cfg->kv.redis_url);
	snprintf(path, sizeof(path), "%s/" STORE_LOCK_PATH, cfg->kv.meta_core_path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "no kv.redis_url, and the leader lock \"%s\" %s", path,
		         fd < 0 ? strerror(errno) : "is not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!st->lock_read || sb.st_dev != st->lock_st.st_dev || sb.st_ino != st->lock_st.st_ino ||
	    sb.st_size != st->lock_st.st_size || sb.st_mtim.tv_sec != st->lock_st.st_mtim.tv_sec ||
	    sb.st_mtim.tv_nsec != st->lock_st.st_mtim.tv_nsec) {
		free(st->lock_url);
		st->lock_url = lock_parse(fd, st->lock_error, sizeof(st->lock_error));
		st->lock_st = sb;
		st->lock_read = true;
	}
	close(fd);
	if (st->lock_url == NULL) {
		snprintf(err, errlen, "leader lock \"%s\": %s", path, st->lock_error);
		return NULL;
	}
	return strdup(st->lock_url);
}

/* Only these commands are ever sent: the store is read, never written. */
static bool is_read_command(const char *name)
{
	static const char *const allowed[] = {"SCAN",     "TYPE", "STRLEN",
	                                      "GETRANGE", "AUTH", "SELECT"};

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcasecmp(name, allowed[i]) == 0)
			return true;
	return false;
}

/*
 * The failure of the connection as -errno and a reason.  hiredis 0.14 reports
 * a reply timeout as an I/O error of EAGAIN, with strerror's text.
 */
static int conn_error(struct lookup *lk, const char *what)
{
	bool timeout = lk->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK ||
	                                              strcmp(lk->c->errstr, strerror(EAGAIN)) == 0);

#ifdef REDIS_ERR_TIMEOUT
	timeout = timeout || lk->c->err == REDIS_ERR_TIMEOUT;
#endif
	if (timeout)
		return fail(lk, -ETIMEDOUT, "%s: no answer in time", what);
	return fail(lk, -EIO, "%s: %s", what, lk->c->err ? lk->c->errstr : "no reply");
}

/* Queue one command (a read, see is_read_command()). */
static int append(struct lookup *lk, int argc, const char **argv, const size_t *lens)
{
	if (!is_read_command(argv[0]))
		return fail(lk, -EPERM, "%s: not a read command", argv[0]);
	if (redisAppendCommandArgv(lk->c, argc, argv, lens) != REDIS_OK)
		return fail(lk, -ENOMEM, "out of memory");
	return 0;
}

/* The next reply, within the lookup's deadline. */
static int get_reply(struct lookup *lk, const char *what, redisReply **ret)
{
	int64_t left_ms = (lk->deadline_ns - mono_ns()) / 1000000;
	void *reply = NULL;

	if (left_ms <= 0)
		return fail(lk, -ETIMEDOUT, "%s: not done within %d ms", what, STORE_DEADLINE_MS);
	if (redisSetTimeout(lk->c, tv_of_ms(min_u32((uint32_t)left_ms, STORE_TIMEOUT_MS))) !=
	    REDIS_OK)
		return conn_error(lk, what);
	if (redisGetReply(lk->c, &reply) != REDIS_OK || reply == NULL) {
		if (reply)
			freeReplyObject(reply);
		return conn_error(lk, what);
	}
	*ret = reply;
	return 0;
}

/* A command whose answer must be +OK (AUTH, SELECT). */
static int call_ok(struct lookup *lk, int argc, const char **argv)
{
	size_t lens[3];
	redisReply *reply;
	int r;

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = append(lk, argc, argv, lens);
	if (r < 0 || (r = get_reply(lk, argv[0], &reply)) < 0)
		return r;
	if (reply->type == REDIS_REPLY_ERROR)
		r = fail(lk, -ECONNREFUSED, "%s: %.*s", argv[0],
		         (int)(reply->len > 200 ? 200 : reply->len), reply->str);
	freeReplyObject(reply);
	return r;
}

static int connect_to(const struct config *cfg, const struct redis_url *u, struct lookup *lk)
{
	struct timeval tv = tv_of_ms(min_u32(cfg->kv.connect_timeout_ms, STORE_TIMEOUT_MS));
	char db[16];
	int r;

	lk->c = u->kind == REDIS_URL_UNIX ? redisConnectUnixWithTimeout(u->path, tv)
	                                  : redisConnectWithTimeout(u->host, u->port, tv);
	if (lk->c == NULL)
		return fail(lk, -ENOMEM, "out of memory");
	if (lk->c->err)
		return fail(lk, -ECONNREFUSED, "connect: %s", lk->c->errstr);
	if (u->password) {
		const char *auth[] = {"AUTH", u->user ? u->user : u->password, u->password};

		r = call_ok(lk, u->user ? 3 : 2, auth);
		if (r < 0)
			return r;
	}
	if (u->db) {
		const char *sel[] = {"SELECT", db};

		snprintf(db, sizeof(db), "%u", u->db);
		return call_ok(lk, 2, sel);
	}
	return 0;
}

/*
 * lk->c: an idle connection to url (*ret_reused), or a new one.  Idle
 * connections to another URL (a former leader) are closed on the way.
 */
static int take_connection(struct store *st, const char *url_text, const struct redis_url *u,
                           struct lookup *lk, bool *ret_reused)
{
	redisContext *stale[STORE_LOOKUPS_MAX];
	size_t nstale = 0, i = 0;

	pthread_mutex_lock(&st->lock);
	while (i < st->idle_count) {
		bool same = strcmp(st->idle_url[i], url_text) == 0;

		if (same && lk->c == NULL) {
			lk->c = st->idle[i];
		} else if (!same) {
			stale[nstale++] = st->idle[i];
		} else {
			i++;
			continue;
		}
		free(st->idle_url[i]);
		st->idle_count--;
		st->idle[i] = st->idle[st->idle_count];
		st->idle_url[i] = st->idle_url[st->idle_count];
	}
	pthread_mutex_unlock(&st->lock);
	for (i = 0; i < nstale; i++)
		redisFree(stale[i]);
	*ret_reused = lk->c != NULL;
	if (lk->c)
		return 0;
	return connect_to(st->cfg, u, lk);
}

/* Keep a healthy connection for the next lookup (or close it). */
static void give_back(struct store *st, const char *url_text, redisContext *c)
{
	char *u = strdup(url_text);

	pthread_mutex_lock(&st->lock);
	if (u && st->idle_count < STORE_LOOKUPS_MAX) {
		st->idle[st->idle_count] = c;
		st->idle_url[st->idle_count++] = u;
		c = NULL;
		u = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	free(u);
	if (c)
		redisFree(c);
}

/* "<prefix>file:<id><sep>" into key; the same, glob-escaped, + "*" into pattern. */
static int key_prefix(const struct config *cfg, const char *id, char *key, size_t *key_len,
                      char *pattern)
{
	size_t n = 0, m = 0;
	int len =
	    snprintf(key, STORE_KEY_MAX, "%sfile:%s%s", cfg->kv.prefix, id, cfg->kv.separator);

	if (len < 0 || len >= STORE_KEY_MAX)
		return -ENAMETOOLONG;
	for (n = 0; n < (size_t)len; n++) {
		if (strchr("*?[]\\", key[n]))
			pattern[m++] = '\\';
		pattern[m++] = key[n];
	}
	pattern[m++] = '*';
	pattern[m] = '\0';
	*key_len = (size_t)len;
	return 0;
}

/* Add a name to look up; SCAN's (scanned) count against STORE_PROPS_MAX. */
static int add_name(struct store_props *p, const char *name, size_t len, bool scanned)
{
	struct store_prop *pr;

	if (scanned && p->scanned == STORE_PROPS_MAX) {
		p->complete = false;
		return 0;
	}
	p->scanned += scanned;
	if (p->count % 64 == 0) {
		pr = realloc(p->props, (p->count + 64) * sizeof(*pr));
		if (pr == NULL)
			return -ENOMEM;
		p->props = pr;
	}
	pr = &p->props[p->count];
	*pr = (struct store_prop){.name = malloc(len + 1), .name_len = len};
	if (pr->name == NULL)
		return -ENOMEM;
	memcpy(pr->name, name, len);
	pr->name[len] = '\0';
	p->count++;
	return 0;
}

/*
 * The names kvwatch fetches (the rules' and the core's): asked for whether or
 * not the SCAN gets to them, so that a lookup cut short in a large keyspace
 * still has them; a name the file lacks is dropped by fetch().
 */
static int add_schema(const struct config *cfg, struct store_props *p)
{
	for (uint32_t i = 0; i < cfg->schema.count; i++)
		if (add_name(p, cfg->schema.names[i], strlen(cfg->schema.names[i]), false) < 0)
			return -ENOMEM;
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * kvwatch's property names (runtime_dir/properties), read again when the file
 * changed.  A file that cannot be used is logged once per version of it and
 * ignored: the lookups SCAN as without one.  Called with the lock held.
 */
static void names_locked(struct store *st)
{
	char path[4096];
	struct stat sb;
	size_t skipped = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s", st->cfg->runtime_dir, PROPNAMES_FILE);
	if (stat(path, &sb) < 0) {
		propnames_free(st->names); /* gone: SCAN */
		st->names = NULL;
		st->names_read = false;
		return;
	}
	if (st->names_read && same_file(&sb, &st->names_st))
		return;
	propnames_free(st->names);
	st->names = NULL;
	st->names_st = sb;
	st->names_read = true;
	r = propnames_read(path, &st->names, &skipped);
	if (r < 0)
		log_warnx("property names \"%s\": %s, ignoring it: properties are found by SCAN",
		          path, r == -EINVAL ? "malformed" : strerror(-r));
	else if (skipped > 0)
		log_warnx("property names \"%s\": %zu bad lines skipped", path, skipped);
}

/*
 * The names of a complete names file, asked for by name (*ret_used); with none,
 * or a partial one, the lookup SCANs.
 */
static int add_names(struct store *st, struct store_props *p, bool *ret_used)
{
	int r = 0;

	pthread_mutex_lock(&st->lock);
	names_locked(st);
	*ret_used = st->names != NULL && propnames_is_complete(st->names);
	for (size_t i = 0; *ret_used && r == 0 && i < propnames_count(st->names); i++) {
		size_t len;
		const char *name = propnames_get(st->names, i, &len);

		r = add_name(p, name, len, false);
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* The keys of one SCAN reply that are the file's: added to p. */
static int scan_keys(struct lookup *lk, const redisReply *keys, const char *key, size_t key_len,
                     struct store_props *p)
{
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];

		if (k->type != REDIS_REPLY_STRING)
			return fail(lk, -EIO, "SCAN: a key that is not a string");
		/* MATCH is a glob: only keys of exactly this prefix count. */
		if (k->len <= key_len || memcmp(k->str, key, key_len) != 0)
			continue;
		if (add_name(p, k->str + key_len, k->len - key_len, true) < 0)
			return fail(lk, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Every key "<key>*" of the store, by SCAN; names into p. */
static int scan(struct lookup *lk, const char *key, size_t key_len, const char *pattern,
                struct store_props *p)
{
	char cursor[24] = "0";

	do {
		const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", STORE_SCAN_COUNT};
		size_t lens[6];
		redisReply *reply;
		int r;

		if (mono_ns() >= lk->scan_deadline_ns) {
			/* A large keyspace: what was found is the answer, said to be partial. */
			p->complete = false;
			p->scan_cut = true;
			return 0;
		}
		for (int i = 0; i < 6; i++)
			lens[i] = strlen(argv[i]);
		r = append(lk, 6, argv, lens);
		if (r < 0 || (r = get_reply(lk, "SCAN", &reply)) < 0)
			return r;
		if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
		    reply->element[0]->type != REDIS_REPLY_STRING ||
		    reply->element[0]->len >= sizeof(cursor) ||
		    reply->element[1]->type != REDIS_REPLY_ARRAY) {
			r = fail(lk, -EIO, "SCAN: unexpected reply%s%.*s",
			         reply->type == REDIS_REPLY_ERROR ? ": " : "",
			         reply->type == REDIS_REPLY_ERROR ? (int)reply->len : 0,
			         reply->type == REDIS_REPLY_ERROR ? reply->str : "");
			freeReplyObject(reply);
			return r;
		}
		memcpy(cursor, reply->element[0]->str, reply->element[0]->len);
		cursor[reply->element[0]->len] = '\0';
		r = scan_keys(lk, reply->element[1], key, key_len, p);
		freeReplyObject(reply);
		if (r < 0)
			return r;
	} while (strcmp(cursor, "0") != 0 && p->complete);
	return 0;
}

static int cmp_prop(const void *a, const void *b)
{
	const struct store_prop *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);

	if (c != 0)
		return c;
	return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Sort by name and drop the names SCAN returned twice (it may, while the store rehashes). */
static void sort_unique(struct store_props *p)
{
	size_t out = 0;

	if (p->count == 0)
		return;
	qsort(p->props, p->count, sizeof(p->props[0]), cmp_prop);
	for (size_t i = 1; i < p->count; i++) {
		if (cmp_prop(&p->props[out], &p->props[i]) == 0) {
			free(p->props[i].name);
			continue;
		}
		p->props[++out] = p->props[i];
	}
	p->count = out + 1;
}

/*
 * Queue "<cmd> <key><name>" for every property, or with caps "<cmd> <key><name>
 * 0 <cap - 1>" for every string property with a cap; the key is built in buf,
 * which starts with the key_len bytes of the prefix.
 */
static int append_each(struct lookup *lk, struct store_props *p, const char *cmd, char *buf,
                       size_t key_len, const uint64_t *caps)
{
	for (size_t i = 0; i < p->count; i++) {
		const struct store_prop *pr = &p->props[i];
		char to[24];
		const char *argv[] = {cmd, buf, "0", to};
		size_t lens[] = {strlen(cmd), key_len + pr->name_len, 1, 0};
		int r;

		if (caps && (pr->value == NULL || caps[i] == 0))
			continue;
		memcpy(buf + key_len, pr->name, pr->name_len);
		if (caps)
			lens[3] = (size_t)snprintf(to, sizeof(to), "%llu",
			                           (unsigned long long)caps[i] - 1);
		r = append(lk, caps ? 4 : 2, argv, lens);
		if (r < 0)
			return r;
	}
	return 0;
}

enum kind {
	KIND_NONE,   /* no such key (a schema name the file lacks, or gone meanwhile) */
	KIND_STRING, /* read */
	KIND_OTHER,  /* a hash, a list, ...: named, not read */
	KIND_MAX,
};

/* The kind of key each TYPE reply names; -EIO for a reply that is no type. */
static int read_kinds(struct lookup *lk, struct store_props *p, unsigned char *kinds)
{
	for (size_t i = 0; i < p->count; i++) {
		redisReply *reply;
		int r = get_reply(lk, "TYPE", &reply);

		if (r < 0)
			return r;
		if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
			r = fail(lk, -EIO, "TYPE: unexpected reply");
		else if (strcmp(reply->str, "none") == 0)
			kinds[i] = KIND_NONE;
		else if (strcmp(reply->str, "string") == 0)
			kinds[i] = KIND_STRING;
		else
			kinds[i] = KIND_OTHER;
		freeReplyObject(reply);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Drop the properties that turned out not to exist, and those beyond
 * STORE_PROPS_MAX (the schema's names come on top of SCAN's).
 */
static void drop_missing(struct store_props *p, const unsigned char *kinds)
{
	size_t out = 0;

	for (size_t i = 0; i < p->count; i++) {
		if (kinds[i] == KIND_NONE || out == STORE_PROPS_MAX) {
			if (kinds[i] != KIND_NONE)
				p->complete = false;
			free(p->props[i].name);
			if (p->props[i].value)
				free(p->props[i].value);
			continue;
		}
		p->props[out++] = p->props[i];
	}
	p->count = out;
}

/*
 * Each property's kind and length (TYPE and STRLEN, pipelined), then the first
 * bytes of each string within the budgets (GETRANGE).
 */
static int fetch(struct lookup *lk, const char *key, size_t key_len, struct store_props *p)
{
	static const char empty[] = "";
	uint64_t budget = STORE_BYTES_MAX, *caps;
	unsigned char *kinds;
	size_t max_name = 0;
	char *buf;
	redisReply *reply;
	int r = 0;

	for (size_t i = 0; i < p->count; i++)
		if (p->props[i].name_len > max_name)
			max_name = p->props[i].name_len;
	buf = malloc(key_len + max_name + 1);
	caps = calloc(p->count ? p->count : 1, sizeof(*caps));
	kinds = calloc(p->count ? p->count : 1, 1);
	if (buf == NULL || caps == NULL || kinds == NULL) {
		r = fail(lk, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(buf, key, key_len);

	r = append_each(lk, p, "TYPE", buf, key_len, NULL);
	if (r == 0)
		r = append_each(lk, p, "STRLEN", buf, key_len, NULL);
	if (r == 0)
		r = read_kinds(lk, p, kinds);
	for (size_t i = 0; r == 0 && i < p->count; i++) {
		struct store_prop *pr = &p->props[i];

		r = get_reply(lk, "STRLEN", &reply);
		if (r < 0)
			break;
		if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0) {
			if (kinds[i] == KIND_STRING) {
				pr->full_len = (uint64_t)reply->integer;
				pr->value = (char *)empty; /* a string: read below */
				caps[i] =
				    pr->full_len < STORE_VALUE_MAX ? pr->full_len : STORE_VALUE_MAX;
				if (caps[i] > budget)
					caps[i] = budget;
				budget -= caps[i];
			}
		} else if (reply->type == REDIS_REPLY_ERROR) {
			if (kinds[i] == KIND_STRING) /* its type changed since TYPE */
				kinds[i] = KIND_OTHER;
		} else {
			r = fail(lk, -EIO, "STRLEN: unexpected reply");
		}
		freeReplyObject(reply);
	}
	if (r < 0)
		goto out;

	/* GETRANGE key 0 cap-1: at most cap bytes, whatever the value's size. */
	r = append_each(lk, p, "GETRANGE", buf, key_len, caps);
	for (size_t i = 0; r == 0 && i < p->count; i++) {
		struct store_prop *pr = &p->props[i];

		if (pr->value == NULL || caps[i] == 0)
			continue;
		r = get_reply(lk, "GETRANGE", &reply);
		if (r < 0)
			break;
		if (reply->type == REDIS_REPLY_STRING) {
			size_t n = reply->len < caps[i] ? reply->len : (size_t)caps[i];

			pr->value = malloc(n + 1);
			if (pr->value == NULL) {
				r = fail(lk, -ENOMEM, "out of memory");
			} else {
				memcpy(pr->value, reply->str, n);
				pr->value[n] = '\0';
				pr->value_len = n;
			}
		} else if (reply->type == REDIS_REPLY_ERROR) {
			pr->value = NULL; /* its type changed since STRLEN */
		} else {
			r = fail(lk, -EIO, "GETRANGE: unexpected reply");
		}
		freeReplyObject(reply);
	}
out:
	/* Whatever was not read (an empty value, a failure) holds no borrowed pointer. */
	for (size_t i = 0; i < p->count; i++)
		if (p->props[i].value == empty)
			p->props[i].value = calloc(1, 1);
	if (kinds)
		drop_missing(p, kinds);
	free(kinds);
	free(caps);
	free(buf);
	return r;
}

/* p anew: the server's name and the names to ask for (the schema's, kvwatch's). */
static int start_props(struct store *st, const struct redis_url *u, struct store_props *p,
                       struct lookup *lk)
{
	*p = (struct store_props){.complete = true, .server = strdup(u->redacted)};
	if (p->server == NULL || add_schema(st->cfg, p) < 0 || add_names(st, p, &p->by_names) < 0)
		return fail(lk, -ENOMEM, "out of memory");
	return 0;
}

/* The file's names (by SCAN unless kvwatch's names are known), then their values. */
static int gather(struct lookup *lk, const char *key, size_t key_len, const char *pattern,
                  struct store_props *p)
{
	int r = p->by_names ? 0 : scan(lk, key, key_len, pattern, p);

	if (r < 0)
		return r;
	sort_unique(p);
	return fetch(lk, key, key_len, p);
}

int store_lookup(struct store *st, const char *id, struct store_props *ret, char *err,
                 size_t errlen)
{
	struct store_props p = {0};
	struct lookup lk = {.err = err, .errlen = errlen};
	char key[STORE_KEY_MAX], pattern[2 * STORE_KEY_MAX + 2];
	struct redis_url *u = NULL;
	bool reused = false;
	char *url_text;
	size_t key_len;
	int r;

	if (key_prefix(st->cfg, id, key, &key_len, pattern) < 0)
		return fail(&lk, -ENAMETOOLONG, "the file's key prefix is too long");
	pthread_mutex_lock(&st->lock);
	if (st->running == STORE_LOOKUPS_MAX) {
		pthread_mutex_unlock(&st->lock);
		return fail(&lk, -EBUSY, "%d lookups in the store are running already",
		            STORE_LOOKUPS_MAX);
	}
	url_text = target_locked(st, err, errlen);
	if (url_text)
		st->running++;
	pthread_mutex_unlock(&st->lock);
	if (url_text == NULL)
		return -ENOENT;

	lk.deadline_ns = mono_ns() + (int64_t)STORE_DEADLINE_MS * 1000000;
	lk.scan_deadline_ns = mono_ns() + (int64_t)STORE_SCAN_MS * 1000000;
	r = redis_url_parse(url_text, &u, err, errlen);
	if (r < 0) {
		r = -ENOENT;
		goto out;
	}
	r = start_props(st, u, &p, &lk);
	if (r == 0)
		r = take_connection(st, url_text, u, &lk, &reused);
	if (r == 0)
		r = gather(&lk, key, key_len, pattern, &p);
	if (r == -EIO && reused) {
		/* A kept connection the store has closed meanwhile (a restart): once more, anew. */
		redisFree(lk.c);
		lk.c = NULL;
		store_props_clear(&p);
		r = start_props(st, u, &p, &lk);
		if (r == 0)
			r = connect_to(st->cfg, u, &lk);
		if (r == 0)
			r = gather(&lk, key, key_len, pattern, &p);
	}
	if (r == 0) {
		give_back(st, url_text, lk.c);
		lk.c = NULL;
		*ret = p;
		memset(&p, 0, sizeof(p));
	}
out:
	if (lk.c)
		redisFree(lk.c);
	store_props_clear(&p);
	redis_url_free(u);
	free(url_text);
	pthread_mutex_lock(&st->lock);
	st->running--;
	pthread_mutex_unlock(&st->lock);
	return r;
}
