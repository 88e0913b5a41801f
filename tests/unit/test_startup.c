/*
 * Unit tests of lib/startup: the start of every program's main().  Each case
 * runs startup() on an argument list against real configuration files (a good
 * one with an unknown key, a broken one) and checks the status it returns, the
 * configuration and -c path it hands back, the program's own options it
 * passed on, the log level -v/-q set, and what reached stderr: the usage text,
 * the configuration's error once, each warning once.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "startup.h"

#define USAGE_TEXT "usage: test-program [-c FILE] [--once] [-n N]"

static char dir[64];
static char good[128], broken[128], missing[128];

static void usage(FILE *out)
{
	fprintf(out, "%s\n", USAGE_TEXT);
}

/* The program's own options: --once (no argument), -n N (a number). */
struct own {
	int once;
	int n;
};

static int own_option(int opt, const char *arg, void *userdata)
{
	struct own *o = userdata;
	char *end;

	switch (opt) {
	case 'O':
		o->once++;
		return 0;
	case 'n':
		o->n = (int)strtol(arg, &end, 10);
		if (*end || end == arg) {
			log_errorx("-n: \"%s\" is not a number", arg);
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mf-test-startup.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(good, sizeof(good), "%s/good.conf", dir);
	snprintf(broken, sizeof(broken), "%s/broken.conf", dir);
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	write_file(good, "webdav = { listen = \"127.0.0.1:8123\"; };\nnonsense = 1;\n");
	write_file(broken, "webdav = { listen = ;\n");
	unsetenv("META_FUSE_CONFIG");
	unsetenv("WEBDAV_PORT");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(good);
	unlink(broken);
	rmdir(dir);
	return 0;
}

/* arg with its placeholder GOOD, BROKEN or MISSING replaced by that file's path. */
static void subst(const char *arg, char *out, size_t outlen)
{
	static const struct {
		const char *token;
		const char *file;
	} files[] = {{"GOOD", good}, {"BROKEN", broken}, {"MISSING", missing}};

	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		const char *at = strstr(arg, files[f].token);

		if (at) {
			snprintf(out, outlen, "%.*s%s%s", (int)(at - arg), arg, files[f].file,
			         at + strlen(files[f].token));
			return;
		}
	}
	snprintf(out, outlen, "%s", arg);
}

/* Count the occurrences of needle in haystack. */
static int count(const char *haystack, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The program's own options, beside the common ones. */
static const struct option own_longopts[] = {
    {"once", no_argument, NULL, 'O'},
    {NULL, 0, NULL, 0},
};

struct run {
	int status;
	struct config *cfg;
	const char *path;
	struct own own;
	char err[8192]; /* what reached stderr */
};

/* startup() on args (space-separated, placeholders replaced), stderr captured. */
static void run(const char *args, struct run *ret)
{
	const struct startup s = {.name = "test",
	                          .usage = usage,
	                          .shortopts = "n:",
	                          .longopts = own_longopts,
	                          .option = own_option,
	                          .userdata = &ret->own};
	char words[512], fixed[8][160], out_path[128], *argv[10] = {"test-program"}, *save;
	int argc = 1, saved, fd;
	ssize_t len;

	*ret = (struct run){.path = "untouched"};
	snprintf(words, sizeof(words), "%s", args);
	for (char *w = strtok_r(words, " ", &save); w && argc < 9; w = strtok_r(NULL, " ", &save)) {
		subst(w, fixed[argc - 1], sizeof(fixed[0]));
		argv[argc] = fixed[argc - 1];
		argc++;
	}
	argv[argc] = NULL;

	snprintf(out_path, sizeof(out_path), "%s/stderr", dir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	ret->status = startup(&s, argc, argv, &ret->cfg, &ret->path);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fd = open(out_path, O_RDONLY);
	assert_true(fd >= 0);
	len = read(fd, ret->err, sizeof(ret->err) - 1);
	close(fd);
	ret->err[len > 0 ? len : 0] = '\0';
	unlink(out_path);
}

/* Argument lists that go on: the configuration, the path, own options, the log level. */
static void test_startup_runs(void **state)
{
	struct {
		int line;
		const char *args;
		int once, n;
		enum log_level level; /* the most verbose level enabled */
	} cases[] = {
	    {__LINE__, "-c GOOD", 0, 0, LOG_LEVEL_INFO},
	    {__LINE__, "--config GOOD -vv --once -n 7", 1, 7, LOG_LEVEL_DEBUG},
	    {__LINE__, "--config=GOOD -v", 0, 0, LOG_LEVEL_DEBUG},
	    {__LINE__, "-q -c GOOD --once --once", 2, 0, LOG_LEVEL_NOTICE},
	    {__LINE__, "-qq -c GOOD -n 3", 0, 3, LOG_LEVEL_WARNING},
	};
	static const char warning[] = "unknown key \"nonsense\", ignoring";

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		enum log_level want = cases[i].level;

		run(cases[i].args, &r);
		if (r.status != STARTUP_RUN)
			fail_msg("line %d: expected STARTUP_RUN, got %d (stderr: %s)",
			         cases[i].line, r.status, r.err);
		if (!r.cfg || r.cfg->webdav.listen.port != 8123)
			fail_msg("line %d: expected the file's port 8123, got %u", cases[i].line,
			         r.cfg ? r.cfg->webdav.listen.port : 0);
		if (!r.path || strcmp(r.path, good) != 0)
			fail_msg("line %d: expected path %s, got %s", cases[i].line, good,
			         r.path ? r.path : "NULL");
		if (r.own.once != cases[i].once || r.own.n != cases[i].n)
			fail_msg("line %d: expected once %d n %d, got once %d n %d", cases[i].line,
			         cases[i].once, cases[i].n, r.own.once, r.own.n);
		if (!log_is_enabled(want) || (want < LOG_LEVEL_DEBUG && log_is_enabled(want + 1)))
			fail_msg(
			    "line %d: expected level %d the most verbose, got %d enabled, %d %s",
			    cases[i].line, want, log_is_enabled(want), want + 1,
			    log_is_enabled(want + 1) ? "enabled" : "disabled");
		/* A warning is logged at level 4: shown unless -qq. */
		if (count(r.err, warning) != (want >= LOG_LEVEL_WARNING ? 1 : 0))
			fail_msg("line %d: expected the warning %s, got \"%s\"", cases[i].line,
			         want >= LOG_LEVEL_WARNING ? "once" : "not at all", r.err);
		if (strstr(r.err, USAGE_TEXT))
			fail_msg("line %d: expected no usage text, got \"%s\"", cases[i].line,
			         r.err);
		config_free(r.cfg);
	}
}

/* Argument lists that end the program: the status and what stderr says, once. */
static void test_startup_stops(void **state)
{
	struct {
		int line;
		const char *args;
		int status;
		const char *err;   /* on stderr exactly once (NULL: nothing at all) */
		const char *noerr; /* not on stderr */
	} cases[] = {
	    {__LINE__, "-c BROKEN", EXIT_CONFIG, "broken.conf:", USAGE_TEXT},
	    {__LINE__, "-c MISSING", EXIT_CONFIG, "missing.conf", USAGE_TEXT},
	    {__LINE__, "-h", 0, NULL, NULL},
	    {__LINE__, "--help -c BROKEN", 0, NULL, NULL},
	    {__LINE__, "-x", EXIT_CONFIG, USAGE_TEXT, NULL},
	    {__LINE__, "--no-such", EXIT_CONFIG, USAGE_TEXT, NULL},
	    {__LINE__, "-c", EXIT_CONFIG, USAGE_TEXT, NULL},
	    {__LINE__, "-n", EXIT_CONFIG, USAGE_TEXT, NULL},
	    {__LINE__, "-c GOOD extra", EXIT_CONFIG, "unexpected argument \"extra\"", "nonsense"},
	    {__LINE__, "-c GOOD -n x", EXIT_CONFIG, "-n: \"x\" is not a number", "nonsense"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;

		run(cases[i].args, &r);
		if (r.status != cases[i].status)
			fail_msg("line %d: expected status %d, got %d (stderr: %s)", cases[i].line,
			         cases[i].status, r.status, r.err);
		if (r.cfg)
			fail_msg("line %d: expected no configuration, got one", cases[i].line);
		if (strcmp(r.path, "untouched") != 0)
			fail_msg("line %d: expected *ret_path untouched, got %s", cases[i].line,
			         r.path ? r.path : "NULL");
		if (!cases[i].err && r.err[0])
			fail_msg("line %d: expected nothing on stderr, got \"%s\"", cases[i].line,
			         r.err);
		if (cases[i].err && count(r.err, cases[i].err) != 1)
			fail_msg(
			    "line %d: expected \"%s\" once on stderr, got it %d times in \"%s\"",
			    cases[i].line, cases[i].err, count(r.err, cases[i].err), r.err);
		if (cases[i].noerr && strstr(r.err, cases[i].noerr))
			fail_msg("line %d: expected no \"%s\" on stderr, got \"%s\"", cases[i].line,
			         cases[i].noerr, r.err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_startup_runs),
	    cmocka_unit_test(test_startup_stops),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
