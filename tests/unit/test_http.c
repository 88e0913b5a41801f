/*
 * Unit tests of lib/'s HTTP layer: the client path routine (every traversal
 * encoding), href encoding, the errno -> status table, Basic authentication
 * (plain and crypt(3) passwords, DOMAIN\user, the cache, the per-address
 * slowdown), the metrics file and its Prometheus text, and the listening socket
 * (bound from the config, or passed in LISTEN_FDS).  Table-driven; each failing
 * case prints its input.
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "config.h"
#include "http_listen.h"
#include "http_metrics.h"
#include "http_path.h"
#include "http_status.h"
#include "snapshot_format.h"
#include "webdav_source.h"

static void test_path_decode(void **state)
{
	static char longpath[5000], longname[300];
	struct {
		const char *in;
		int want; /* length, or -errno */
		const char *out;
	} cases[] = {
	    {"/", 1, "/"},
	    {"", 1, "/"},
	    {"/a/b/", 4, "/a/b"},
	    {"//a//./b", 4, "/a/b"},
	    {"/%41%62", 3, "/Ab"},
	    {"/caf%C3%A9", 6, "/caf\xc3\xa9"},
	    {"/a b&c", 6, "/a b&c"},
	    {"/%252e%252e", 7, "/%2e%2e"}, /* decoded once: a name, not ".." */
	    {"/a%2Fb", -EINVAL, NULL},
	    {"/a%2fb", -EINVAL, NULL},
	    {"/a%5Cb", -EINVAL, NULL},
	    {"/a%5cb", -EINVAL, NULL},
	    {"/a\\b", -EINVAL, NULL},
	    {"/..\\x", -EINVAL, NULL},
	    {"/../x", -EINVAL, NULL},
	    {"/a/..", -EINVAL, NULL},
	    {"/a/../b", -EINVAL, NULL},
	    {"/%2e%2e/x", -EINVAL, NULL},
	    {"/%2E%2E", -EINVAL, NULL},
	    {"/.%2e/x", -EINVAL, NULL},
	    {"/%C0%AE%C0%AE/x", -EINVAL, NULL}, /* overlong '.' */
	    {"/%C0%AF", -EINVAL, NULL},         /* overlong '/' */
	    {"/%E0%80%AF", -EINVAL, NULL},      /* overlong '/', three bytes */
	    {"/%ED%A0%80", -EINVAL, NULL},      /* a surrogate */
	    {"/%FF", -EINVAL, NULL},
	    {"/%00", -EINVAL, NULL},
	    {"/a%00b", -EINVAL, NULL},
	    {"/%zz", -EINVAL, NULL},
	    {"/%4", -EINVAL, NULL},
	    {"/%", -EINVAL, NULL},
	    {"/./.", 1, "/"},
	    {longpath, -ENAMETOOLONG, NULL},
	    {longname, -ENAMETOOLONG, NULL},
	};
	char out[SNAP_PATH_MAX + 1];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	memset(longname, 'b', sizeof(longname) - 1);
	longname[0] = '/';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = http_path_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (got != cases[i].want)
			fail_msg("case %zu \"%.40s\": expected %d, got %d", i, cases[i].in,
			         cases[i].want, got);
		if (got >= 0 && strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu \"%s\": expected \"%s\", got \"%s\"", i, cases[i].in,
			         cases[i].out, out);
	}
	/* A raw NUL inside the given length. */
	assert_int_equal(http_path_decode("/a\0b", 4, out, sizeof(out)), -EINVAL);
}

static void test_path_below(void **state)
{
	struct {
		const char *url, *base, *want;
	} cases[] = {
	    {"/webdav", "/webdav", ""},
	    {"/webdav/", "/webdav", "/"},
	    {"/webdav/a/b", "/webdav", "/a/b"},
	    {"/webdav/a", "/webdav/", "/a"},
	    {"/webdavx", "/webdav", NULL},
	    {"/other", "/webdav", NULL},
	    {"/", "/webdav", NULL},
	    {"/x/y", "/", "/x/y"},
	    {"/x/y", "", "/x/y"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = http_path_below(cases[i].url, cases[i].base);

		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got && strcmp(got, cases[i].want) != 0))
			fail_msg("\"%s\" below \"%s\": expected \"%s\", got \"%s\"", cases[i].url,
			         cases[i].base, cases[i].want ? cases[i].want : "(null)",
			         got ? got : "(null)");
	}
}

static void test_path_encode(void **state)
{
	struct {
		const char *in, *want;
	} cases[] = {
	    {"/Movies/A (2010)/a.mkv", "/Movies/A%20%282010%29/a.mkv"},
	    {"/caf\xc3\xa9", "/caf%C3%A9"},
	    {"/100%#?&+", "/100%25%23%3F%26%2B"},
	    {"/a-b_c.d~e", "/a-b_c.d~e"},
	    {"/<x>\"'", "/%3Cx%3E%22%27"},
	};
	char out[256], back[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		int n = http_path_encode(cases[i].in, len, out, sizeof(out));

		if (n < 0 || strcmp(out, cases[i].want) != 0)
			fail_msg("encode \"%s\": expected \"%s\", got \"%s\" (%d)", cases[i].in,
			         cases[i].want, n < 0 ? "" : out, n);
		assert_int_equal((size_t)n, http_path_encoded_length(cases[i].in, len));
		/* And back through the decoder, unchanged. */
		n = http_path_decode(out, (size_t)n, back, sizeof(back));
		if (n < 0 || strcmp(back, cases[i].in) != 0)
			fail_msg("round trip \"%s\": got \"%s\" (%d)", cases[i].in, back, n);
	}
	assert_int_equal(http_path_encode("/abc def", 8, out, 8), -ENAMETOOLONG);
}

static void test_status_table(void **state)
{
	struct {
		int err;
		unsigned want;
	} cases[] = {
	    {-ENOENT, 404},    {-ENOTDIR, 404},    {-EACCES, 403}, {-EPERM, 403},
	    {-EXDEV, 403},     {-ELOOP, 403},      {-EINVAL, 400}, {-ENAMETOOLONG, 414},
	    {-EFBIG, 413},     {-ERANGE, 416},     {-EIO, 502},    {-ENOMEM, 503},
	    {-ETIMEDOUT, 504}, {-EOPNOTSUPP, 405}, {-ESPIPE, 500}, {ENOENT, 404},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = http_status_of_errno(cases[i].err);

		if (got != cases[i].want)
			fail_msg("errno %d: expected %u, got %u", cases[i].err, cases[i].want, got);
	}
	assert_string_equal(http_status_reason(207), "Multi-Status");
	assert_string_equal(http_status_reason(416), "Range Not Satisfiable");
	assert_string_equal(http_status_reason(299), "Unknown");
}

static void test_auth_parse(void **state)
{
	struct {
		const char *header;
		int want;
		const char *user, *pass;
	} cases[] = {
	    {"Basic bWV0YW1lc2g6bWV0YW1lc2g=", 0, "metamesh", "metamesh"},
	    {"basic   bWV0YW1lc2g6bWV0YW1lc2g=  ", 0, "metamesh", "metamesh"},
	    {"Basic bWV0YW1lc2g6bWV0YW1lc2g", 0, "metamesh", "metamesh"}, /* no padding */
	    {"Basic V09SS0dST1VQXG1ldGFtZXNoOnB3", 0, "metamesh", "pw"},  /* WORKGROUP\metamesh */
	    {"Basic dTo=", 0, "u", ""},
	    {"Basic OnB3", 0, "", "pw"},
	    {"Basic dTpwOnE=", 0, "u", "p:q"},
	    {"Digest username=\"u\"", -ENOENT, NULL, NULL},
	    {"Basicx dTpw", -ENOENT, NULL, NULL},
	    {"Basic dXNlcg==", -EINVAL, NULL, NULL}, /* no ':' */
	    {"Basic !!!!", -EINVAL, NULL, NULL},
	    {"Basic dQ", -EINVAL, NULL, NULL},       /* "u": no ':' */
	    {"Basic d", -EINVAL, NULL, NULL},        /* a lone character */
	    {"Basic dQA6cA==", -EINVAL, NULL, NULL}, /* "u\0:p" */
	};
	char user[64], pass[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = auth_parse_basic(cases[i].header, user, sizeof(user), pass, sizeof(pass));

		if (got != cases[i].want)
			fail_msg("\"%s\": expected %d, got %d", cases[i].header, cases[i].want,
			         got);
		if (got == 0 && (strcmp(user, cases[i].user) || strcmp(pass, cases[i].pass)))
			fail_msg("\"%s\": expected %s:%s, got %s:%s", cases[i].header,
			         cases[i].user, cases[i].pass, user, pass);
	}
	assert_int_equal(auth_parse_basic(NULL, user, sizeof(user), pass, sizeof(pass)), -ENOENT);
	assert_int_equal(auth_parse_basic("Basic bWV0YW1lc2g6bWV0YW1lc2g=", user, 4, pass, 64),
	                 -ENAMETOOLONG);
}

static void test_auth_equal(void **state)
{
	assert_true(auth_equal("abc", 3, "abc", 3));
	assert_false(auth_equal("abc", 3, "abd", 3));
	assert_false(auth_equal("abc", 3, "abcd", 4));
	assert_false(auth_equal("abcd", 4, "abc", 3));
	assert_false(auth_equal("", 0, "a", 1));
	assert_true(auth_equal("", 0, "", 0));
	assert_false(auth_equal("a", 1, "", 0));
}

/* "Basic base64(user:pass)" */
static void basic(const char *user, const char *pass, char *out, size_t cap)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char plain[256];
	size_t n = (size_t)snprintf(plain, sizeof(plain), "%s:%s", user, pass), o;

	o = (size_t)snprintf(out, cap, "Basic ");
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)plain[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)plain[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)plain[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

static char *make_hash(const char *prefix, const char *password)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;
	const char *h;

	memset(&cd, 0, sizeof(cd));
	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)));
	h = crypt_rn(password, salt, &cd, sizeof(cd));
	assert_non_null(h);
	assert_true(strncmp(h, prefix, strlen(prefix)) == 0);
	return strdup(h);
}

static void test_auth_check(void **state)
{
	char *y = make_hash("$y$", "s3cret"), *six = make_hash("$6$", "s3cret");
	struct {
		const char *password;
		bool hashed;
	} configs[] = {{"s3cret", false}, {y, true}, {six, true}};
	struct sockaddr_in peer = {.sin_family = AF_INET};
	char good[128], wrong_pass[128], wrong_user[128], domain[128];

	inet_pton(AF_INET, "192.0.2.1", &peer.sin_addr);
	basic("alice", "s3cret", good, sizeof(good));
	basic("alice", "s3cre", wrong_pass, sizeof(wrong_pass));
	basic("bob", "s3cret", wrong_user, sizeof(wrong_user));
	basic("CORP\\alice", "s3cret", domain, sizeof(domain));
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		struct {
			const char *header;
			enum auth_result want;
		} cases[] = {
		    {NULL, AUTH_MISSING},     {"", AUTH_MISSING},       {"Bearer x", AUTH_MISSING},
		    {good, AUTH_OK},          {good, AUTH_OK}, /* again: from the cache */
		    {domain, AUTH_OK},        {wrong_pass, AUTH_WRONG}, {wrong_user, AUTH_WRONG},
		    {"Basic !!", AUTH_WRONG},
		};
		struct auth *a;

		assert_int_equal(auth_new("alice", configs[i].password, &a), 0);
		assert_int_equal(auth_is_hashed(a), configs[i].hashed);
		assert_false(auth_is_default(a));
		for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
			enum auth_result got = auth_check(a, cases[j].header, NULL, 1000, NULL);

			if (got != cases[j].want)
				fail_msg("config %zu, \"%s\": expected %d, got %d", i,
				         cases[j].header ? cases[j].header : "(none)",
				         cases[j].want, got);
		}
		/* The cache entry expires; the header is then verified again. */
		assert_int_equal(
		    auth_check(a, good, NULL, 1000 + AUTH_CACHE_TTL_S * 1000 + 1, NULL), AUTH_OK);
		auth_free(a);
	}
	free(y);
	free(six);
}

static void test_auth_slowdown(void **state)
{
	struct sockaddr_in peer = {.sin_family = AF_INET}, other = {.sin_family = AF_INET};
	char good[128], bad[128];
	unsigned retry = 0;
	struct auth *a;
	int64_t now = 5000;

	inet_pton(AF_INET, "192.0.2.7", &peer.sin_addr);
	inet_pton(AF_INET, "192.0.2.8", &other.sin_addr);
	basic("metamesh", "metamesh", good, sizeof(good));
	basic("metamesh", "guess", bad, sizeof(bad));
	assert_int_equal(auth_new("metamesh", "metamesh", &a), 0);
	assert_true(auth_is_default(a));
	for (int i = 0; i < AUTH_FREE_FAILURES; i++)
		assert_int_equal(auth_check(a, bad, (struct sockaddr *)&peer, now, NULL),
		                 AUTH_WRONG);
	/* Now refused unchecked, even with the right password, for 1 s ... */
	assert_int_equal(auth_check(a, good, (struct sockaddr *)&peer, now + 10, &retry),
	                 AUTH_SLOWED);
	assert_int_equal(retry, 1);
	/* ... but only this address; missing credentials are not failures. */
	assert_int_equal(auth_check(a, good, (struct sockaddr *)&other, now + 10, NULL), AUTH_OK);
	assert_int_equal(auth_check(a, NULL, (struct sockaddr *)&other, now + 10, NULL),
	                 AUTH_MISSING);
	/* Each further failure doubles the wait. */
	now += 1001;
	assert_int_equal(auth_check(a, bad, (struct sockaddr *)&peer, now, NULL), AUTH_WRONG);
	assert_int_equal(auth_check(a, bad, (struct sockaddr *)&peer, now, &retry), AUTH_SLOWED);
	assert_int_equal(retry, 2);
	now += 2001;
	/* The right password after the wait: accepted, and the count starts over. */
	assert_int_equal(auth_check(a, good, (struct sockaddr *)&peer, now, NULL), AUTH_OK);
	assert_int_equal(auth_check(a, bad, (struct sockaddr *)&peer, now, NULL), AUTH_WRONG);
	assert_int_equal(auth_check(a, bad, (struct sockaddr *)&peer, now, NULL), AUTH_WRONG);
	/* The wait never exceeds AUTH_MAX_DELAY_S. */
	for (int i = 0; i < 40; i++) {
		now += AUTH_MAX_DELAY_S * 1000 + 1;
		auth_check(a, bad, (struct sockaddr *)&peer, now, NULL);
	}
	assert_int_equal(auth_check(a, bad, (struct sockaddr *)&peer, now, &retry), AUTH_SLOWED);
	assert_true(retry <= AUTH_MAX_DELAY_S && retry >= AUTH_MAX_DELAY_S - 1);
	auth_free(a);
}

static void test_auth_new_refuses(void **state)
{
	struct auth *a = NULL;

	assert_int_equal(auth_new("", "x", &a), -EINVAL);
	assert_int_equal(auth_new("u", "$9$notamethod", &a), -EINVAL);
	assert_int_equal(auth_new("u", "$6$", &a), -EINVAL);
	assert_null(a);
}

static void test_metrics_file(void **state)
{
	char dir[] = "/tmp/mf-test-metrics.XXXXXX", path[320], sub[256], *text = NULL;
	const char *routes[] = {"GET", "PROPFIND", "other"};
	struct http_metrics_file *f = NULL;
	const struct http_metrics_file *files[1];
	struct http_metrics *m;
	size_t len = 0;
	FILE *out;
	int err = 1;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(http_metrics_new(dir, "davd", routes, 3, &m, &err), 0);
	assert_int_equal(err, 0);
	/* The subdirectory is created when missing (a worker run alone). */
	snprintf(sub, sizeof(sub), "%s/" HTTP_METRICS_DIR, dir);
	snprintf(path, sizeof(path), "%s/davd.metrics", sub);
	assert_string_equal(http_metrics_path(m), path);
	http_metrics_record(m, 0, 200, 1024, 500);    /* <= 1 ms */
	http_metrics_record(m, 0, 206, 4096, 3000);   /* <= 5 ms */
	http_metrics_record(m, 1, 207, 10, 20000000); /* +Inf */
	http_metrics_record(m, 99, 404, 0, 100);      /* an unknown route: the last */
	http_metrics_connection(m);

	/* What another process (apid) reads. */
	assert_int_equal(http_metrics_load(path, &f), 0);
	assert_string_equal(f->server, "davd");
	assert_int_equal(f->route_count, 3);
	assert_int_equal(f->routes[0].responses[1], 2);
	assert_int_equal(f->routes[0].bytes, 5120);
	assert_int_equal(f->routes[0].latency[0], 1);
	assert_int_equal(f->routes[0].latency[2], 1);
	assert_int_equal(f->routes[1].latency[HTTP_METRICS_BUCKETS - 1], 1);
	assert_int_equal(f->routes[2].responses[3], 1);
	assert_int_equal(f->connections, 1);

	files[0] = f;
	out = open_memstream(&text, &len);
	assert_int_equal(http_metrics_prometheus(files, 1, out), 0);
	fclose(out);
	struct {
		const char *line;
	} want[] = {
	    {"# TYPE mf_http_responses_total counter\n"},
	    {"mf_http_responses_total{server=\"davd\",route=\"GET\",code=\"2xx\"} 2\n"},
	    {"mf_http_responses_total{server=\"davd\",route=\"other\",code=\"4xx\"} 1\n"},
	    {"mf_http_response_bytes_total{server=\"davd\",route=\"GET\"} 5120\n"},
	    {"mf_http_request_duration_seconds_bucket{server=\"davd\",route=\"GET\",le=\"0.001\"} "
	     "1\n"},
	    {"mf_http_request_duration_seconds_bucket{server=\"davd\",route=\"GET\",le=\"0.005\"} "
	     "2\n"},
	    {"mf_http_request_duration_seconds_bucket{server=\"davd\",route=\"PROPFIND\",le=\"2."
	     "5\"} 0\n"},
	    {"mf_http_request_duration_seconds_bucket{server=\"davd\",route=\"PROPFIND\",le=\"+"
	     "Inf\"} 1\n"},
	    {"mf_http_request_duration_seconds_count{server=\"davd\",route=\"GET\"} 2\n"},
	    {"mf_http_request_duration_seconds_sum{server=\"davd\",route=\"GET\"} 0.003500\n"},
	    {"mf_http_connections_total{server=\"davd\"} 1\n"},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i].line))
			fail_msg("expected the line %s in:\n%s", want[i].line, text);
	free(text);
	free(f);

	http_metrics_free(m);
	assert_int_equal(access(path, F_OK), -1);

	/* Not a metrics file. */
	out = fopen(path, "w");
	fputs("hello, this is not a metrics file at all, but long enough to be read as one "
	      "if nothing checked its magic, version and size: 0123456789012345678901234567890",
	      out);
	fclose(out);
	assert_int_equal(http_metrics_load(path, &f), -EBADMSG);
	unlink(path);
	assert_int_equal(http_metrics_load(path, &f), -ENOENT);

	/* No runtime directory: counters in memory, the caller told why. */
	assert_int_equal(http_metrics_new("/nonexistent/dir", "davd", routes, 3, &m, &err), 0);
	assert_int_equal(err, -ENOENT);
	assert_null(http_metrics_path(m));
	http_metrics_record(m, 0, 200, 1, 1);
	assert_int_equal(http_metrics_data(m)->routes[0].responses[1], 1);
	http_metrics_free(m);

	/* metrics/ already there (the supervisor made it): used as it is. */
	assert_int_equal(http_metrics_new(dir, "apid", routes, 3, &m, &err), 0);
	assert_int_equal(err, 0);
	snprintf(path, sizeof(path), "%s/apid.metrics", sub);
	assert_string_equal(http_metrics_path(m), path);
	http_metrics_free(m);

	/* metrics is a file, not a directory: in memory, the caller told why. */
	assert_int_equal(rmdir(sub), 0);
	out = fopen(sub, "w");
	fclose(out);
	assert_int_equal(http_metrics_new(dir, "davd", routes, 3, &m, &err), 0);
	assert_int_equal(err, -ENOTDIR);
	assert_null(http_metrics_path(m));
	http_metrics_free(m);
	unlink(sub);
	rmdir(dir);
}

static void test_listen_bind(void **state)
{
	struct {
		const char *host;
		int want_err;
		const char *prefix;
	} cases[] = {
	    {"127.0.0.1", 0, "127.0.0.1:"},
	    {"::1", 0, "[::1]:"},
	    {"localhost", -EINVAL, NULL}, /* an address, not a name */
	    {"300.1.1.1", -EINVAL, NULL},
	};

	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_listen l = {.host = (char *)cases[i].host, .port = 0};
		enum http_listen_origin origin = HTTP_LISTEN_ORIGIN_MAX;
		char buf[64];
		int fd = http_listen("webdav", &l, &origin);

		if (cases[i].want_err) {
			if (fd != cases[i].want_err)
				fail_msg("\"%s\": expected %d, got %d", cases[i].host,
				         cases[i].want_err, fd);
			continue;
		}
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
			continue; /* no IPv6 on this machine */
		if (fd < 0)
			fail_msg("\"%s\": expected a socket, got %d", cases[i].host, fd);
		if (origin != HTTP_LISTEN_BOUND)
			fail_msg("\"%s\": expected origin %d (bound), got %d", cases[i].host,
			         HTTP_LISTEN_BOUND, origin);
		assert_true(http_listen_describe(fd, buf, sizeof(buf)) > 0);
		if (strncmp(buf, cases[i].prefix, strlen(cases[i].prefix)) != 0)
			fail_msg("\"%s\": expected %s..., got %s", cases[i].host, cases[i].prefix,
			         buf);
		close(fd);
	}
}

static void test_listen_passed(void **state)
{
	struct {
		const char *names;
		const char *supervisor; /* META_FUSE_SUPERVISOR, NULL: unset */
		enum http_listen_origin want;
	} cases[] = {
	    {"webdav", NULL, HTTP_LISTEN_SERVICE_MANAGER},
	    {"webdav", "1", HTTP_LISTEN_SUPERVISOR},
	    {"webdav", "0", HTTP_LISTEN_SERVICE_MANAGER},
	    {"unknown", NULL, HTTP_LISTEN_SERVICE_MANAGER}, /* a lone unnamed socket */
	    {"unknown", "1", HTTP_LISTEN_SUPERVISOR},
	    {"api", "1", HTTP_LISTEN_BOUND}, /* somebody else's: bind instead */
	    {"api", NULL, HTTP_LISTEN_BOUND},
	};
	struct config_listen l = {.host = "127.0.0.1", .port = 0};
	char pid[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		int s = socket(AF_INET, SOCK_STREAM, 0), fd;
		enum http_listen_origin origin = HTTP_LISTEN_ORIGIN_MAX;
		bool want_passed = cases[i].want != HTTP_LISTEN_BOUND;
		socklen_t len;
		in_port_t port;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_true(s >= 0);
		assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(s, 8), 0);
		len = sizeof(sa);
		assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
		port = sa.sin_port;
		if (s != 3) {
			assert_int_equal(dup2(s, 3), 3);
			close(s);
		}
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_FDNAMES", cases[i].names, 1);
		if (cases[i].supervisor)
			setenv("META_FUSE_SUPERVISOR", cases[i].supervisor, 1);
		else
			unsetenv("META_FUSE_SUPERVISOR");
		fd = http_listen("webdav", &l, &origin);
		if (origin != cases[i].want)
			fail_msg("names \"%s\", META_FUSE_SUPERVISOR %s: expected origin \"%s\", "
			         "got \"%s\" (fd %d)",
			         cases[i].names,
			         cases[i].supervisor ? cases[i].supervisor : "unset",
			         http_listen_origin_to_string(cases[i].want),
			         http_listen_origin_to_string(origin), fd);
		assert_true(fd >= 0);
		if (want_passed) {
			assert_int_equal(fd, 3);
		} else {
			/* Not ours: closed, and a socket of our own bound instead. */
			struct sockaddr_in got = {0};
			socklen_t glen = sizeof(got);

			assert_int_equal(getsockname(fd, (struct sockaddr *)&got, &glen), 0);
			assert_int_not_equal(got.sin_port, port);
		}
		assert_null(getenv("LISTEN_FDS"));
		close(fd);
	}
	unsetenv("META_FUSE_SUPERVISOR");
}

static void test_source_range_check(void **state)
{
	struct {
		const char *content_range;
		uint64_t off, want, body;
		bool want_ok;
	} cases[] = {
	    {"bytes 100-199/1000", 100, 100, 100, true},
	    {"bytes 100-199/*", 100, 100, 100, true},
	    {"bytes 900-999/1000", 900, 200, 100, true}, /* the file ends first */
	    {"bytes 0-99/1000", 100, 100, 100, false},   /* another range */
	    {"bytes 100-149/1000", 100, 100, 50, false}, /* shorter, not at the end */
	    {"bytes 100-199/1000", 100, 100, 99, false}, /* the body fell short */
	    {"bytes 100-199/150", 100, 100, 100, false}, /* past its own total */
	    {"bytes 100-299/1000", 100, 100, 200, false},
	    {"", 100, 100, 100, false}, /* a 206 without Content-Range */
	    {"bytes */1000", 100, 100, 100, false},
	    {"bytes 100-199/1000 junk", 100, 100, 100, false},
	    {"items 100-199/1000", 100, 100, 100, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = webdav_range_matches(cases[i].content_range, cases[i].off, cases[i].want,
		                                cases[i].body);

		if (got != cases[i].want_ok)
			fail_msg("\"%s\" for %llu+%llu (%llu bytes): expected %d, got %d",
			         cases[i].content_range, (unsigned long long)cases[i].off,
			         (unsigned long long)cases[i].want,
			         (unsigned long long)cases[i].body, cases[i].want_ok, got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_decode),        cmocka_unit_test(test_path_below),
	    cmocka_unit_test(test_path_encode),        cmocka_unit_test(test_status_table),
	    cmocka_unit_test(test_auth_parse),         cmocka_unit_test(test_auth_equal),
	    cmocka_unit_test(test_auth_check),         cmocka_unit_test(test_auth_slowdown),
	    cmocka_unit_test(test_auth_new_refuses),   cmocka_unit_test(test_metrics_file),
	    cmocka_unit_test(test_listen_bind),        cmocka_unit_test(test_listen_passed),
	    cmocka_unit_test(test_source_range_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
