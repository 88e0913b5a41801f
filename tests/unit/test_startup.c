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

static void test_startup_cases(void **state)
{
	static const struct option longopts[] = {
	    {"once", no_argument, NULL, 'O'},
	    {NULL, 0, NULL, 0},
	};
	struct {
		int line;
		const char *args[6]; /* after argv[0], NULL-terminated; "GOOD"/"BROKEN"/"MISSING" */
		int want;            /* the status, or STARTUP_RUN */
		int want_once, want_n;
		bool want_path;    /* *ret_path is the file named */
		bool want_debug;   /* LOG_LEVEL_DEBUG enabled */
		bool want_info;    /* LOG_LEVEL_INFO enabled */
		const char *err;   /* stderr holds this exactly once (NULL: nothing checked) */
		const char *noerr; /* stderr does not hold this */
	} cases[] = {
	    {__LINE__,
	     {"-c", "GOOD"},
	     STARTUP_RUN,
	     0,
	     0,
	     true,
	     false,
	     true,
	     "unknown key \"nonsense\", ignoring",
	     USAGE_TEXT},
	    {__LINE__,
	     {"--config", "GOOD", "-vv", "--once", "-n", "7"},
	     STARTUP_RUN,
	     1,
	     7,
	     true,
	     true,
	     true,
	     "unknown key \"nonsense\"",
	     NULL},
	    {__LINE__,
	     {"--config=GOOD", "-q"},
	     STARTUP_RUN,
	     0,
	     0,
	     true,
	     false,
	     false,
	     "unknown key \"nonsense\"",
	     NULL},
	    {__LINE__,
	     {"-c", "BROKEN"},
	     EXIT_CONFIG,
	     0,
	     0,
	     false,
	     false,
	     true,
	     "broken.conf:",
	     USAGE_TEXT},
	    {__LINE__,
	     {"-c", "MISSING"},
	     EXIT_CONFIG,
	     0,
	     0,
	     false,
	     false,
	     true,
	     "missing.conf",
	     USAGE_TEXT},
	    {__LINE__, {"-h"}, 0, 0, 0, false, false, true, NULL, USAGE_TEXT},
	    {__LINE__, {"--help", "-c", "BROKEN"}, 0, 0, 0, false, false, true, NULL, "broken"},
	    {__LINE__, {"-x"}, EXIT_CONFIG, 0, 0, false, false, true, USAGE_TEXT, NULL},
	    {__LINE__, {"--no-such"}, EXIT_CONFIG, 0, 0, false, false, true, USAGE_TEXT, NULL},
	    {__LINE__, {"-c"}, EXIT_CONFIG, 0, 0, false, false, true, USAGE_TEXT, NULL},
	    {__LINE__,
	     {"-c", "GOOD", "extra"},
	     EXIT_CONFIG,
	     0,
	     0,
	     false,
	     false,
	     true,
	     "unexpected argument \"extra\"",
	     "nonsense"},
	    {__LINE__,
	     {"-c", "GOOD", "-n", "x"},
	     EXIT_CONFIG,
	     0,
	     0,
	     false,
	     false,
	     true,
	     "-n: \"x\" is not a number",
	     "nonsense"},
	};
	char out_path[128];

	(void)state;
	snprintf(out_path, sizeof(out_path), "%s/stderr", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct own own = {0};
		const struct startup s = {.name = "test",
		                          .usage = usage,
		                          .shortopts = "n:",
		                          .longopts = longopts,
		                          .option = own_option,
		                          .userdata = &own};
		char *argv[8] = {"test-program"}, fixed[6][160], text[8192];
		const char *path = "untouched";
		struct config *cfg = NULL;
		int argc = 1, r, saved, fd;
		ssize_t len;

		for (size_t a = 0; a < 6 && cases[i].args[a]; a++) {
			subst(cases[i].args[a], fixed[a], sizeof(fixed[a]));
			argv[argc++] = fixed[a];
		}
		argv[argc] = NULL;

		fflush(stderr);
		saved = dup(STDERR_FILENO);
		fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(saved >= 0 && fd >= 0);
		dup2(fd, STDERR_FILENO);
		close(fd);
		r = startup(&s, argc, argv, &cfg, &path);
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
		fd = open(out_path, O_RDONLY);
		assert_true(fd >= 0);
		len = read(fd, text, sizeof(text) - 1);
		close(fd);
		text[len > 0 ? len : 0] = '\0';

		if (r != cases[i].want)
			fail_msg("line %d: expected status %d, got %d (stderr: %s)", cases[i].line,
			         cases[i].want, r, text);
		if (r == STARTUP_RUN) {
			if (!cfg)
				fail_msg("line %d: expected a configuration, got NULL",
				         cases[i].line);
			if (cfg->webdav.listen.port != 8123)
				fail_msg("line %d: expected the file's port 8123, got %u",
				         cases[i].line, cfg->webdav.listen.port);
			if (cases[i].want_path && (!path || strcmp(path, good) != 0))
				fail_msg("line %d: expected path %s, got %s", cases[i].line, good,
				         path ? path : "NULL");
			if (own.once != cases[i].want_once || own.n != cases[i].want_n)
				fail_msg("line %d: expected once %d n %d, got once %d n %d",
				         cases[i].line, cases[i].want_once, cases[i].want_n,
				         own.once, own.n);
			if (log_is_enabled(LOG_LEVEL_DEBUG) != cases[i].want_debug ||
			    log_is_enabled(LOG_LEVEL_INFO) != cases[i].want_info)
				fail_msg("line %d: expected debug %d info %d, got %d %d",
				         cases[i].line, cases[i].want_debug, cases[i].want_info,
				         log_is_enabled(LOG_LEVEL_DEBUG),
				         log_is_enabled(LOG_LEVEL_INFO));
			config_free(cfg);
		} else {
			if (cfg)
				fail_msg("line %d: expected no configuration, got one",
				         cases[i].line);
			if (strcmp(path, "untouched") != 0)
				fail_msg("line %d: expected *ret_path untouched, got %s",
				         cases[i].line, path ? path : "NULL");
		}
		if (cases[i].err && count(text, cases[i].err) != 1)
			fail_msg(
			    "line %d: expected \"%s\" once on stderr, got it %d times in \"%s\"",
			    cases[i].line, cases[i].err, count(text, cases[i].err), text);
		if (cases[i].noerr && strstr(text, cases[i].noerr))
			fail_msg("line %d: expected no \"%s\" on stderr, got \"%s\"", cases[i].line,
			         cases[i].noerr, text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_startup_cases),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
