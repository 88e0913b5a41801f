/*
 * Unit tests of kvwatch's full load (loader_run) against a scripted fake Redis on
 * a unix socket: the fake answers SCAN with the batches a case gives (so a key
 * can come back twice, as SCAN may do) and MGET from the case's key/value table
 * (so a key SCAN returned can be gone by the time it is fetched).  Checked: the
 * records and their values, ids with only keys the schema does not need, ids
 * whose keys all vanished, values too long or not strings, bad keys, each key
 * fetched once, MGETs split by size, a large keyspace, and every failure: error
 * replies, malformed replies, a connection closed midway, cancellation.  The fake
 * also checks that nothing but SCAN and MGET is sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"
#include "loader.h"
#include "propnames.h"
#include "record.h"
#include "redis_url.h"
#include "store.h"

/* The properties these tests look at (the schema also has the other core ones). */
static const char *const props[] = {"filePath", "title", "size"};
#define NPROPS   3
#define MAXPROPS 16
static int prop_idx[NPROPS]; /* their schema indices */

enum fault {
	FAULT_NONE,
	FAULT_SCAN_ERROR,  /* SCAN answers -ERR */
	FAULT_SCAN_BAD,    /* SCAN answers an integer */
	FAULT_SCAN2_ERROR, /* the second SCAN answers -ERR */
	FAULT_MGET_ERROR,  /* MGET answers -ERR */
	FAULT_MGET_SHORT,  /* MGET answers one element too few */
	FAULT_MGET_CLOSE,  /* the server closes the connection at the first MGET */
	FAULT_MGET_CANCEL, /* the cancel flag is raised at the first MGET */
	FAULT_GENERATED,   /* a large generated keyspace (see gen_*) */
};

struct kv {
	const char *key;
	const char *val; /* "#INT": an integer reply; "#LONG:n": n bytes of 'x' */
};

struct want {
	const char *id;
	const char *vals[NPROPS]; /* NULL: absent; "#LONG:n" as above */
};

struct lcase {
	const char *name;
	const char *batches[4][12]; /* SCAN replies, in order; a batch ends at NULL */
	int nbatches;
	struct kv kv[16]; /* what MGET sees; a key not here is nil */
	enum fault fault;
	uint32_t mget_keys;
	/* expected */
	int ret;
	const char *err;
	struct want want[8];
	uint32_t nrecords;
	uint64_t keys, bad_keys, vanished, dropped, mgets, asked;
	const char *names; /* the property names file the load gives, NULL: not checked */
};

static const struct lcase cases[] = {
    {
        .name = "ids across batches, a key returned twice, bad keys, a vanished id",
        .batches = {{"meta-sort:file:a:filePath", "meta-sort:file:b:title",
                     "meta-sort:file:c:codec", "meta-sort:file:nosep", "meta-sort:file:d:title",
                     NULL},
                    {"meta-sort:file:a:title", "meta-sort:file:a:filePath",
                     "meta-sort:file:b:filePath", "meta-sort:file:bad id:title",
                     "meta-sort:file:d:size", "meta-sort:file:a:codec", NULL}},
        .nbatches = 2,
        .kv = {{"meta-sort:file:a:filePath", "m/a.mkv"},
               {"meta-sort:file:a:title", "A"},
               {"meta-sort:file:a:codec", "h264"},
               {"meta-sort:file:b:title", "B"},
               {"meta-sort:file:b:filePath", "m/b.mkv"},
               {"meta-sort:file:c:codec", "x"}},
        .want = {{"a", {"m/a.mkv", "A", NULL}}, {"b", {"m/b.mkv", "B", NULL}}, {"c", {NULL}}},
        .nrecords = 3,
        .keys = 11,
        .bad_keys = 2,
        .vanished = 1,
        .mgets = 1,
        .asked = 6,
        .names = PROPNAMES_MAGIC " complete\ncodec\nfilePath\nsize\ntitle\n",
    },
    {
        .name = "property names that are no text make the names partial",
        .batches = {{"meta-sort:file:h:filePath", "meta-sort:file:h:na\nme",
                     "meta-sort:file:h:\xff\xfe", "meta-sort:file:h:ok/name",
                     "meta-sort:file:i:ok/name", NULL}},
        .nbatches = 1,
        .kv = {{"meta-sort:file:h:filePath", "m/h.mkv"}},
        .want = {{"h", {"m/h.mkv", NULL, NULL}}, {"i", {NULL}}},
        .nrecords = 2,
        .keys = 5,
        .mgets = 1,
        .asked = 1,
        .names = PROPNAMES_MAGIC " partial\nfilePath\nok/name\n",
    },
    {
        .name = "values too long or not strings are dropped",
        .batches = {{"meta-sort:file:e:filePath", "meta-sort:file:e:title", "meta-sort:file:e:size",
                     "meta-sort:file:f:title", NULL}},
        .nbatches = 1,
        .kv = {{"meta-sort:file:e:filePath", "#LONG:65536"},
               {"meta-sort:file:e:title", "#LONG:65537"},
               {"meta-sort:file:e:size", "#INT"},
               {"meta-sort:file:f:title", "#INT"}},
        .want = {{"e", {"#LONG:65536", NULL, NULL}}},
        .nrecords = 1,
        .keys = 4,
        .vanished = 1,
        .dropped = 3,
        .mgets = 1,
        .asked = 4,
    },
    {
        .name = "an empty string keeps the record, the value absent",
        .batches = {{"meta-sort:file:g:title", "meta-sort:file:h:size", NULL}},
        .nbatches = 1,
        .kv = {{"meta-sort:file:g:title", ""}, {"meta-sort:file:h:size", "7"}},
        .want = {{"g", {NULL, NULL, NULL}}, {"h", {NULL, NULL, "7"}}},
        .nrecords = 2,
        .keys = 2,
        .mgets = 1,
        .asked = 2,
    },
    {
        .name = "small MGETs",
        .batches = {{"meta-sort:file:i:filePath", "meta-sort:file:i:title", "meta-sort:file:j:size",
                     "meta-sort:file:j:filePath", "meta-sort:file:k:title", NULL},
                    {"meta-sort:file:k:size", NULL}},
        .nbatches = 2,
        .kv = {{"meta-sort:file:i:filePath", "p/i"},
               {"meta-sort:file:i:title", "I"},
               {"meta-sort:file:j:size", "1"},
               {"meta-sort:file:j:filePath", "p/j"},
               {"meta-sort:file:k:title", "K"},
               {"meta-sort:file:k:size", "2"}},
        .mget_keys = 2,
        .want = {{"i", {"p/i", "I", NULL}}, {"j", {"p/j", NULL, "1"}}, {"k", {NULL, "K", "2"}}},
        .nrecords = 3,
        .keys = 6,
        .mgets = 3,
        .asked = 6,
    },
    {
        .name = "an id with more keys than an MGET takes",
        .batches = {{"meta-sort:file:l:filePath", "meta-sort:file:m:title",
                     "meta-sort:file:l:title", "meta-sort:file:l:size", NULL}},
        .nbatches = 1,
        .kv = {{"meta-sort:file:l:filePath", "p/l"},
               {"meta-sort:file:l:title", "L"},
               {"meta-sort:file:l:size", "3"},
               {"meta-sort:file:m:title", "M"}},
        .mget_keys = 2,
        .want = {{"l", {"p/l", "L", "3"}}, {"m", {NULL, "M", NULL}}},
        .nrecords = 2,
        .keys = 4,
        .mgets = 2,
        .asked = 4,
    },
    {
        .name = "an empty keyspace",
        .nbatches = 1,
        .nrecords = 0,
    },
    {
        .name = "a large keyspace",
        .fault = FAULT_GENERATED,
        .nrecords = 20000 - 1539,
        .keys = 60000 + 2858,
        .vanished = 1539,
        .asked = 60000,
    },
    {
        .name = "SCAN refused",
        .batches = {{"meta-sort:file:a:title", NULL}},
        .nbatches = 1,
        .fault = FAULT_SCAN_ERROR,
        .ret = -EACCES,
        .err = "SCAN: ERR scan refused",
    },
    {
        .name = "the second SCAN refused",
        .batches = {{"meta-sort:file:a:title", NULL}, {"meta-sort:file:b:title", NULL}},
        .nbatches = 2,
        .fault = FAULT_SCAN2_ERROR,
        .ret = -EACCES,
        .err = "SCAN: ERR scan refused",
    },
    {
        .name = "SCAN malformed",
        .batches = {{"meta-sort:file:a:title", NULL}},
        .nbatches = 1,
        .fault = FAULT_SCAN_BAD,
        .ret = -EPROTO,
        .err = "SCAN: unexpected reply",
    },
    {
        .name = "MGET refused",
        .batches = {{"meta-sort:file:a:title", NULL}},
        .nbatches = 1,
        .fault = FAULT_MGET_ERROR,
        .ret = -EACCES,
        .err = "MGET: ERR mget refused",
    },
    {
        .name = "MGET short",
        .batches = {{"meta-sort:file:a:title", "meta-sort:file:a:size", NULL}},
        .nbatches = 1,
        .fault = FAULT_MGET_SHORT,
        .ret = -EPROTO,
        .err = "MGET: unexpected reply",
    },
    {
        .name = "connection closed",
        .batches = {{"meta-sort:file:a:title", NULL}, {"meta-sort:file:b:title", NULL}},
        .nbatches = 2,
        .fault = FAULT_MGET_CLOSE,
        .ret = -EIO,
    },
    {
        .name = "cancelled",
        .batches = {{"meta-sort:file:a:title", NULL},
                    {"meta-sort:file:b:title", "meta-sort:file:c:title", NULL}},
        .nbatches = 2,
        .fault = FAULT_MGET_CANCEL,
        .mget_keys = 1,
        .ret = -ECANCELED,
        .err = "cancelled",
    },
};

/* ---- the generated keyspace: ids g00000.., three keys each, one per batch ---- */

#define GEN_IDS 20000

static size_t gen_batch(int b, char ***ret)
{
	char **keys = calloc(GEN_IDS * 2, sizeof(*keys));
	size_t n = 0;

	assert_non_null(keys);
	for (int i = 0; i < GEN_IDS; i++) {
		assert_true(asprintf(&keys[n++], "meta-sort:file:g%05d:%s", i, props[b]) > 0);
		if (b == 2 && i % 7 == 0) /* filePath again: SCAN returning a key twice */
			assert_true(asprintf(&keys[n++], "meta-sort:file:g%05d:filePath", i) > 0);
	}
	*ret = keys;
	return n;
}

/* The value of a generated key; NULL for every key of each 13th id (vanished). */
static char *gen_value(const char *key, size_t len)
{
	int i, p = -1;
	char *v = NULL;

	if (len < 22 || sscanf(key, "meta-sort:file:g%05d:", &i) != 1 || i % 13 == 0)
		return NULL;
	for (int k = 0; k < NPROPS; k++)
		if (len == 22 + strlen(props[k]) && memcmp(key + 22, props[k], len - 22) == 0)
			p = k;
	if (p == 0)
		assert_true(asprintf(&v, "media/%05d/%0100d.mkv", i, i) > 0);
	else if (p == 1)
		assert_true(asprintf(&v, "Title %d", i) > 0);
	else if (p == 2)
		assert_true(asprintf(&v, "%d", 1000 + i) > 0);
	return v;
}

/* ---- the fake server ---- */

struct fake {
	const struct lcase *c;
	int lfd;
	char path[108];
	pthread_t thread;
	atomic_bool *cancel;
	/* seen */
	uint64_t mget_keys;
	unsigned asked[32]; /* per kv entry / batch key: times MGET named it */
	char bad_cmd[64];
	char **gkeys[3];
	size_t ngkeys[3];
};

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_add(b, tmp, (size_t)n);
}

static void buf_bulk(struct buf *b, const char *s, size_t n)
{
	buf_fmt(b, "$%zu\r\n", n);
	buf_add(b, s, n);
	buf_add(b, "\r\n", 2);
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/*
 * Parse one command (an array of bulk strings) at the start of in[0..len):
 * its argc and *used, 0 when it is not complete yet, -1 when it is not RESP.
 */
static int parse_command(const char *in, size_t len, char **argv, size_t *lens, int max,
                         size_t *used)
{
	const char *p = in, *end = in + len, *nl;
	int argc;

	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return 0;
	if (*p != '*' || (argc = atoi(p + 1)) < 1 || argc > max)
		return -1;
	p = nl + 1;
	for (int i = 0; i < argc; i++) {
		size_t n;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return 0;
		if (*p != '$')
			return -1;
		n = (size_t)atol(p + 1);
		p = nl + 1;
		if ((size_t)(end - p) < n + 2)
			return 0;
		argv[i] = (char *)p;
		lens[i] = n;
		p += n + 2;
	}
	*used = (size_t)(p - in);
	return argc;
}

static void reply_value(struct buf *b, const char *v)
{
	if (v == NULL) {
		buf_add(b, "$-1\r\n", 5);
	} else if (strcmp(v, "#INT") == 0) {
		buf_add(b, ":1\r\n", 4);
	} else if (strncmp(v, "#LONG:", 6) == 0) {
		size_t n = (size_t)atol(v + 6);
		char *x = malloc(n);

		assert_non_null(x);
		memset(x, 'x', n);
		buf_bulk(b, x, n);
		free(x);
	} else {
		buf_bulk(b, v, strlen(v));
	}
}

static void reply_scan(struct fake *f, struct buf *b, int cursor)
{
	const struct lcase *c = f->c;
	int nb = c->fault == FAULT_GENERATED ? 3 : c->nbatches;
	size_t n = 0;

	buf_add(b, "*2\r\n", 4);
	if (cursor + 1 < nb)
		buf_fmt(b, "$%d\r\n%d\r\n", cursor + 1 >= 10 ? 2 : 1, cursor + 1);
	else
		buf_add(b, "$1\r\n0\r\n", 7);
	if (c->fault == FAULT_GENERATED) {
		buf_fmt(b, "*%zu\r\n", f->ngkeys[cursor]);
		for (size_t i = 0; i < f->ngkeys[cursor]; i++)
			buf_bulk(b, f->gkeys[cursor][i], strlen(f->gkeys[cursor][i]));
		return;
	}
	while (cursor < nb && c->batches[cursor][n] != NULL)
		n++;
	buf_fmt(b, "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++)
		buf_bulk(b, c->batches[cursor][i], strlen(c->batches[cursor][i]));
}

static void reply_mget(struct fake *f, struct buf *b, char **argv, size_t *lens, int argc)
{
	const struct lcase *c = f->c;
	int n = argc - 1 - (c->fault == FAULT_MGET_SHORT);

	buf_fmt(b, "*%d\r\n", n);
	for (int i = 1; i <= n; i++) {
		const char *v = NULL;

		f->mget_keys++;
		if (c->fault == FAULT_GENERATED) {
			char *g = gen_value(argv[i], lens[i]);

			reply_value(b, g);
			free(g);
			continue;
		}
		for (int k = 0; k < 16 && c->kv[k].key != NULL; k++)
			if (strcmp(c->kv[k].key, argv[i]) == 0)
				v = c->kv[k].val;
		/* count per distinct key in the batches */
		for (int bi = 0, slot = 0; bi < c->nbatches; bi++)
			for (int j = 0; c->batches[bi][j] != NULL; j++, slot++)
				if (strcmp(c->batches[bi][j], argv[i]) == 0 && slot < 32) {
					f->asked[slot]++;
					bi = c->nbatches;
					break;
				}
		reply_value(b, v);
	}
}

/* Answer one command into out; false: close the connection. */
static bool answer(struct fake *f, char **argv, size_t *lens, int argc, struct buf *out)
{
	const struct lcase *c = f->c;
	bool scan = lens[0] == 4 && strncasecmp(argv[0], "SCAN", 4) == 0;
	bool mget = lens[0] == 4 && strncasecmp(argv[0], "MGET", 4) == 0;

	for (int i = 0; i < argc; i++)
		argv[i][lens[i]] = '\0'; /* over the '\r' */
	if (scan && (c->fault == FAULT_SCAN_ERROR ||
	             (c->fault == FAULT_SCAN2_ERROR && argc == 6 && atoi(argv[1]) == 1))) {
		buf_add(out, "-ERR scan refused\r\n", 19);
	} else if (scan && c->fault == FAULT_SCAN_BAD) {
		buf_add(out, ":5\r\n", 4);
	} else if (scan && argc == 6) {
		reply_scan(f, out, atoi(argv[1]));
	} else if (mget) {
		if (c->fault == FAULT_MGET_CLOSE)
			return false;
		if (c->fault == FAULT_MGET_CANCEL)
			atomic_store(f->cancel, true);
		if (c->fault == FAULT_MGET_ERROR)
			buf_add(out, "-ERR mget refused\r\n", 19);
		else
			reply_mget(f, out, argv, lens, argc);
	} else {
		snprintf(f->bad_cmd, sizeof(f->bad_cmd), "%s", argv[0]);
		buf_add(out, "-ERR unknown command\r\n", 22);
	}
	return true;
}

/*
 * One connection, like redis-server: read whatever comes, answer each complete
 * command into an output buffer, write it when the socket takes it, never
 * blocking on either side (the loader writes a lot before it reads).
 */
static void *fake_main(void *arg)
{
	enum { MAXARGS = 8200 };
	struct fake *f = arg;
	struct buf in = {0}, out = {0};
	size_t out_pos = 0;
	char **argv = calloc(MAXARGS, sizeof(*argv));
	size_t *lens = calloc(MAXARGS, sizeof(*lens));
	int fd = accept(f->lfd, NULL, NULL);
	bool open = fd >= 0;

	if (open)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (open) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char tmp[65536];
		ssize_t n;

		if (out_pos < out.len)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if (pfd.revents & POLLOUT) {
			n = write(fd, out.p + out_pos, out.len - out_pos);
			if (n > 0)
				out_pos += (size_t)n;
			if (out_pos == out.len)
				out_pos = out.len = 0;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, tmp, sizeof(tmp));
		if (n <= 0)
			break;
		buf_add(&in, tmp, (size_t)n);
		for (;;) {
			size_t used = 0;
			int argc = parse_command(in.p, in.len, argv, lens, MAXARGS, &used);

			if (argc <= 0) {
				open = argc == 0;
				break;
			}
			if (!answer(f, argv, lens, argc, &out)) {
				open = false;
				break;
			}
			memmove(in.p, in.p + used, in.len - used);
			in.len -= used;
		}
	}
	/* What was answered still goes out before the close. */
	if (fd >= 0) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		if (open || f->c->fault != FAULT_MGET_CLOSE)
			write_all(fd, out.p + out_pos, out.len - out_pos);
		close(fd);
	}
	free(in.p);
	free(out.p);
	free(argv);
	free(lens);
	return NULL;
}

static void fake_start(struct fake *f, const struct lcase *c, atomic_bool *cancel)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/mf-loader-XXXXXX";

	memset(f, 0, sizeof(*f));
	f->c = c;
	f->cancel = cancel;
	if (c->fault == FAULT_GENERATED)
		for (int b = 0; b < 3; b++)
			f->ngkeys[b] = gen_batch(b, &f->gkeys[b]);
	assert_non_null(mkdtemp(dir));
	snprintf(f->path, sizeof(f->path), "%s/r.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	char *slash;

	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	slash = strrchr(f->path, '/');
	*slash = '\0';
	rmdir(f->path);
	for (int b = 0; b < 3; b++) {
		for (size_t i = 0; i < f->ngkeys[b]; i++)
			free(f->gkeys[b][i]);
		free(f->gkeys[b]);
	}
}

/* ---- checks ---- */

static bool value_is(struct strview got, const char *want)
{
	if (want == NULL)
		return got.ptr == NULL || got.len == 0;
	if (strncmp(want, "#LONG:", 6) == 0) {
		size_t n = (size_t)atol(want + 6);

		if (got.ptr == NULL || got.len != n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (got.ptr[i] != 'x')
				return false;
		return true;
	}
	return got.ptr != NULL && got.len == strlen(want) && memcmp(got.ptr, want, got.len) == 0;
}

#define EXPECT_U64(what, got, want)                                                      \
	do {                                                                             \
		if ((uint64_t)(got) != (uint64_t)(want))                                 \
			fail_msg("%s: %s: expected %llu, got %llu", c->name, what,       \
			         (unsigned long long)(want), (unsigned long long)(got)); \
	} while (0)

static void check_generated(const struct lcase *c, struct store *s)
{
	struct strview v[MAXPROPS];

	for (int i = 0; i < GEN_IDS; i++) {
		char id[16], *want[NPROPS];
		bool found;

		snprintf(id, sizeof(id), "g%05d", i);
		found = store_get(s, id, strlen(id), v);
		if (found != (i % 13 != 0))
			fail_msg("%s: %s: expected %s, got %s", c->name, id,
			         i % 13 ? "a record" : "none", found ? "a record" : "none");
		if (!found)
			continue;
		for (int k = 0; k < NPROPS; k++) {
			char key[64];

			snprintf(key, sizeof(key), "meta-sort:file:%s:%s", id, props[k]);
			want[k] = gen_value(key, strlen(key));
			if (!value_is(v[prop_idx[k]], want[k]))
				fail_msg("%s: %s %s: expected \"%s\", got \"%.*s\"", c->name, id,
				         props[k], want[k], (int)v[prop_idx[k]].len,
				         v[prop_idx[k]].ptr ? v[prop_idx[k]].ptr : "");
			free(want[k]);
		}
	}
}

/* What loader_params.on_record saw: every record once, as the store has it. */
struct seen {
	struct store *copy;
	uint64_t calls;
	uint64_t fail_at; /* the call that fails with -ENOSPC, 0: none */
};

static int on_record(void *ctx, const char *id, size_t id_len, const struct strview *values)
{
	struct seen *sn = ctx;

	if (++sn->calls == sn->fail_at)
		return -ENOSPC;
	return store_put(sn->copy, id, id_len, values);
}

static void check_seen(const struct lcase *c, struct store *s, const struct seen *sn)
{
	struct strview id, *want = calloc(store_nprops(s) + 1, sizeof(*want));
	struct strview *got = calloc(store_nprops(s) + 1, sizeof(*got));
	uint64_t it = 0;

	assert_non_null(want);
	assert_non_null(got);
	EXPECT_U64("on_record calls", sn->calls, store_count(s));
	EXPECT_U64("records seen by on_record", store_count(sn->copy), store_count(s));
	while (store_next(s, &it, &id, want)) {
		if (!store_get(sn->copy, id.ptr, id.len, got))
			fail_msg("%s: expected on_record to see \"%.*s\", it did not", c->name,
			         (int)id.len, id.ptr);
		for (uint32_t k = 0; k < store_nprops(s); k++)
			if (want[k].len != got[k].len ||
			    (want[k].len && memcmp(want[k].ptr, got[k].ptr, want[k].len) != 0))
				fail_msg("%s: %.*s: on_record saw another value of property %u",
				         c->name, (int)id.len, id.ptr, k);
	}
	free(want);
	free(got);
}

/* The property names the load noted, as the file would hold them. */
static void check_names(const struct lcase *c, const struct propnames *names)
{
	size_t len;
	char *buf;

	if (c->names == NULL)
		return;
	assert_int_equal(propnames_format(names, &buf, &len), 0);
	if (len != strlen(c->names) || memcmp(buf, c->names, len) != 0)
		fail_msg("%s: names: expected \"%s\", got \"%.*s\"", c->name, c->names, (int)len,
		         buf);
	free(buf);
}

static void run_case(const struct lcase *c, uint64_t fail_at)
{
	struct seen sn = {.fail_at = fail_at};
	struct propnames *names = NULL;
	struct schema schema;
	struct key_layout kl;
	struct redis_url *url;
	struct load_stats st;
	struct store *s = NULL;
	struct fake f;
	atomic_bool cancel;
	char err[256] = "", text[200];
	int r;

	atomic_init(&cancel, false);
	assert_int_equal(schema_init(&schema), 0);
	for (int k = 0; k < NPROPS; k++) {
		prop_idx[k] = schema_intern(&schema, props[k], strlen(props[k]));
		assert_true(prop_idx[k] >= 0);
	}
	assert_true(schema.count <= MAXPROPS);
	assert_int_equal(keys_init(&kl, "meta-sort:", ":"), 0);
	fake_start(&f, c, &cancel);
	snprintf(text, sizeof(text), "unix://%s", f.path);
	assert_int_equal(redis_url_parse(text, &url, err, sizeof(err)), 0);

	struct loader_params p = {
	    .url = url,
	    .connect_timeout_ms = 2000,
	    .command_timeout_ms = 5000,
	    .layout = &kl,
	    .schema = &schema,
	    .mget_keys = c->mget_keys,
	    .cancel = &cancel,
	    .on_record = on_record,
	    .on_record_ctx = &sn,
	};
	assert_int_equal(store_new(&schema, false, &sn.copy), 0);
	assert_int_equal(propnames_new(&names), 0);
	p.names = names;
	r = loader_run(&p, &s, &st, err, sizeof(err));
	fake_stop(&f);
	if (fail_at > 0) {
		/* A failing callback ends the load with its error. */
		if (r != -ENOSPC || strstr(err, "placing a record") == NULL)
			fail_msg("%s: on_record failing: expected %d \"placing a record\", got "
			         "%d \"%s\"",
			         c->name, -ENOSPC, r, err);
		assert_null(s);
		goto out;
	}
	if (r != c->ret)
		fail_msg("%s: expected return %d, got %d (%s)", c->name, c->ret, r, err);
	if (c->err != NULL && strstr(err, c->err) == NULL)
		fail_msg("%s: expected an error with \"%s\", got \"%s\"", c->name, c->err, err);
	if (f.bad_cmd[0] != '\0')
		fail_msg("%s: expected only SCAN and MGET, got %s", c->name, f.bad_cmd);
	if (r == 0) {
		EXPECT_U64("records", store_count(s), c->nrecords);
		EXPECT_U64("stats.records", st.records, c->nrecords);
		EXPECT_U64("stats.keys", st.keys, c->keys);
		EXPECT_U64("stats.bad_keys", st.bad_keys, c->bad_keys);
		EXPECT_U64("stats.vanished", st.vanished, c->vanished);
		EXPECT_U64("stats.dropped", st.dropped, c->dropped);
		EXPECT_U64("keys fetched", f.mget_keys, c->asked);
		if (c->mgets != 0)
			EXPECT_U64("stats.mgets", st.mgets, c->mgets);
		for (int i = 0; i < 8 && c->want[i].id != NULL; i++) {
			const struct want *w = &c->want[i];
			struct strview v[MAXPROPS];

			if (!store_get(s, w->id, strlen(w->id), v))
				fail_msg("%s: expected a record \"%s\", got none", c->name, w->id);
			for (uint32_t k = 0; k < schema.count; k++) {
				int j = -1;

				for (int q = 0; q < NPROPS; q++)
					if (prop_idx[q] == (int)k)
						j = q;
				if (!value_is(v[k], j >= 0 ? w->vals[j] : NULL))
					fail_msg(
					    "%s: %s %s: expected \"%s\", got \"%.*s\" (%u bytes)",
					    c->name, w->id, schema.names[k],
					    j >= 0 && w->vals[j] ? w->vals[j] : "(absent)",
					    (int)(v[k].len > 40 ? 40 : v[k].len),
					    v[k].ptr ? v[k].ptr : "", v[k].len);
			}
		}
		for (int i = 0; i < 32; i++)
			if (f.asked[i] > 1)
				fail_msg("%s: expected each key fetched once, got one %u times",
				         c->name, f.asked[i]);
		if (c->fault == FAULT_GENERATED)
			check_generated(c, s);
		check_seen(c, s, &sn);
		check_names(c, names);
	}
out:
	propnames_free(names);
	store_free(sn.copy);
	store_free(s);
	redis_url_free(url);
	schema_free(&schema);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], 0);
}

/* The first case again, its record callback failing on the second record. */
static void test_record_callback_fails(void **state)
{
	(void)state;
	assert_true(cases[0].nrecords >= 2 && cases[0].ret == 0);
	run_case(&cases[0], 2);
}

/* Nobody listening: a clear error, no store. */
static void test_refused(void **state)
{
	struct schema schema;
	struct key_layout kl;
	struct redis_url *url;
	struct load_stats st;
	struct store *s = NULL;
	char err[256] = "";
	int r;

	(void)state;
	assert_int_equal(schema_init(&schema), 0);
	assert_int_equal(keys_init(&kl, "meta-sort:", ":"), 0);
	assert_int_equal(
	    redis_url_parse("unix:///nonexistent/mf-loader.sock", &url, err, sizeof(err)), 0);
	struct loader_params p = {
	    .url = url,
	    .connect_timeout_ms = 500,
	    .command_timeout_ms = 500,
	    .layout = &kl,
	    .schema = &schema,
	};
	r = loader_run(&p, &s, &st, err, sizeof(err));
	if (r >= 0 || strstr(err, "connect") == NULL)
		fail_msg("expected a connect error, got %d \"%s\"", r, err);
	assert_null(s);
	redis_url_free(url);
	schema_free(&schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_record_callback_fails),
	    cmocka_unit_test(test_refused),
	};

	signal(SIGPIPE, SIG_IGN); /* a closed connection is an error to see, not a signal */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
