/*
 * Unit tests of lib/log.c: the one escape every line goes through (control bytes,
 * C1 controls and invalid UTF-8 shown as \xNN, everything else kept, truncation
 * never splitting an escape), and what a log call writes to stderr: a value with
 * terminal escapes or newlines comes out as one harmless line; fatal* exit 1 or 75.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		size_t len; /* 0: strlen(in) */
		size_t cap;
		const char *want;
	} cases[] = {
	    {"plain text", 0, 64, "plain text"},
	    {"\x1b[31mred\x1b[0m", 0, 64, "\\x1b[31mred\\x1b[0m"},
	    {"two\nlines\r\n", 0, 64, "two\\x0alines\\x0d\\x0a"},
	    {"tab\there", 0, 64, "tab\\x09here"},
	    {"del\x7f", 0, 64, "del\\x7f"},
	    {"nul\0inside", 10, 64, "nul\\x00inside"},
	    {"Movie \xc3\x9cn\xc3\xaf"
	     "code \xe2\x80\x93 \xf0\x9f\x8e\xac",
	     0, 64,
	     "Movie \xc3\x9cn\xc3\xaf"
	     "code \xe2\x80\x93 \xf0\x9f\x8e\xac"},
	    {"c1 csi \xc2\x9b"
	     "2J",
	     0, 64, "c1 csi \\xc2\\x9b2J"},
	    {"nbsp \xc2\xa0 kept", 0, 64, "nbsp \xc2\xa0 kept"},
	    {"latin1 \x9b"
	     "2J \xe9t\xe9",
	     0, 64, "latin1 \\x9b2J \\xe9t\\xe9"},
	    {"cut \xe2\x80", 0, 64, "cut \\xe2\\x80"},
	    {"overlong \xc0\xaf", 0, 64, "overlong \\xc0\\xaf"},
	    {"abc\x1b", 0, 6, "abc"},       /* the escape does not fit: left out whole */
	    {"abcd\xc3\xa9", 0, 6, "abcd"}, /* nor does a split sequence */
	    {"", 0, 1, ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		size_t n = log_escape(out, cases[i].cap, cases[i].in, len);

		if (strcmp(out, cases[i].want) != 0 || n != strlen(cases[i].want))
			fail_msg("case %zu: expected \"%s\" (%zu), got \"%s\" (%zu)", i,
			         cases[i].want, strlen(cases[i].want), out, n);
	}
}

/* What one log call writes to stderr. */
static void capture(char *buf, size_t len, void (*fn)(void))
{
	int fds[2], saved;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	log_init("test", 0); /* stderr is a pipe now: lines carry their priority */
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, len - 1);
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
}

static void log_hostile_value(void)
{
	const char *title = "Evil\x1b]0;owned\x07\nfused: forged line";

	log_warnx("record \"%s\": bad size", title);
}

static void log_with_errno(void)
{
	errno = ENOENT;
	log_warn("opening \"%s\"", "a\rb");
}

static void test_lines(void **state)
{
	static const struct {
		void (*fn)(void);
		const char *want;
	} cases[] = {
	    {log_hostile_value,
	     "<4>test: record \"Evil\\x1b]0;owned\\x07\\x0afused: forged line\": bad size\n"},
	    {log_with_errno, "<4>test: opening \"a\\x0db\": No such file or directory\n"},
	};
	char buf[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		capture(buf, sizeof(buf), cases[i].fn);
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].want, buf);
	}
}

/* A message longer than a line: cut, still one line ending in a newline. */
static void log_long(void)
{
	static char big[6000];

	memset(big, '\x1b', sizeof(big) - 1);
	log_warnx("%s", big);
}

static void test_long_line(void **state)
{
	static char buf[8192];
	size_t n;

	capture(buf, sizeof(buf), log_long);
	n = strlen(buf);
	if (n == 0 || n > 4096 || buf[n - 1] != '\n' || memchr(buf, '\n', n - 1) ||
	    memchr(buf, '\x1b', n))
		fail_msg("expected one escaped line of at most 4096 bytes, got %zu bytes", n);
	if (strncmp(buf + n - 5, "\\x1b\n", 5) != 0)
		fail_msg("expected the line to end in a whole escape, got \"%s\"", buf + n - 8);
}

/* fatal* exit 1 (configuration, usage) or 75 (anything a restart may cure). */
static void test_fatal_status(void **state)
{
	static const struct {
		void (*fn)(const char *, ...);
		int want;
	} cases[] = {
	    {fatal, 1},
	    {fatalx, 1},
	    {fatal_temp, 75},
	    {fatalx_temp, 75},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = 0;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, STDERR_FILENO);
			cases[i].fn("case %zu", i);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != cases[i].want)
			fail_msg("case %zu: expected exit %d, got status 0x%x", i, cases[i].want,
			         status);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_lines),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_fatal_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
