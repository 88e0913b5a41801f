/*
 * Unit tests of the worker's side of the service manager's protocols
 * (lib/daemon.c): notifications received on real datagram sockets (a path and
 * the abstract namespace), passed descriptors with and without names, the
 * environment cleared after, every malformed value refused, and the watchdog
 * period for this process or another.
 */
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
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

/* A datagram socket bound at where ("/path" or "@abstract"); the receiver. */
static int receiver(const char *where)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(where);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, where, len);
	if (where[0] == '@')
		sa.sun_path[0] = '\0';
	assert_int_equal(
	    bind(fd, (struct sockaddr *)&sa,
	         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (where[0] == '/'))),
	    0);
	return fd;
}

static void expect_received(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0)
		fail_msg("expected \"%s\", got nothing (%s)", want, strerror(errno));
	buf[n] = '\0';
	if (strcmp(buf, want) != 0)
		fail_msg("expected \"%s\", got \"%s\"", want, buf);
}

static void test_notify(void **state)
{
	char path[64], abstract[64];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(daemon_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(daemon_notify("READY=1"), 0);

	snprintf(path, sizeof(path), "/tmp/mf-test-notify.%d", (int)getpid());
	unlink(path);
	fd = receiver(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(daemon_notify("READY=1"), 1);
	expect_received(fd, "READY=1");
	assert_int_equal(daemon_notifyf("STATUS=generation %d, %s", 42, "ok"), 1);
	expect_received(fd, "STATUS=generation 42, ok");
	close(fd);
	unlink(path);
	/* Nobody listens any more: the sender's error, not a crash. */
	assert_int_equal(daemon_notify("READY=1"), -ENOENT);

	snprintf(abstract, sizeof(abstract), "@mf-test-notify.%d", (int)getpid());
	fd = receiver(abstract);
	setenv("NOTIFY_SOCKET", abstract, 1);
	assert_int_equal(daemon_notify("WATCHDOG=1"), 1);
	expect_received(fd, "WATCHDOG=1");
	close(fd);

	{
		const char *bad[] = {"relative/path", "@", "/", "x"};
		char longer[200];

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			setenv("NOTIFY_SOCKET", bad[i], 1);
			if (daemon_notify("READY=1") != -EINVAL)
				fail_msg("NOTIFY_SOCKET \"%s\": expected -EINVAL", bad[i]);
		}
		memset(longer, 'a', sizeof(longer) - 1);
		longer[0] = '/';
		longer[sizeof(longer) - 1] = '\0';
		setenv("NOTIFY_SOCKET", longer, 1);
		assert_int_equal(daemon_notify("READY=1"), -EINVAL);
	}
	unsetenv("NOTIFY_SOCKET");
}

static void set_listen(const char *pid, const char *fds, const char *names)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (pid)
		setenv("LISTEN_PID", pid, 1);
	if (fds)
		setenv("LISTEN_FDS", fds, 1);
	if (names)
		setenv("LISTEN_FDNAMES", names, 1);
}

static void expect_env_cleared(const char *what)
{
	if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") || getenv("LISTEN_FDNAMES"))
		fail_msg("%s: expected the LISTEN_* variables removed", what);
}

/* Two listening sockets on descriptors 3 and 4, as a service manager passes them. */
static void pass_two(void)
{
	for (int want = 3; want <= 4; want++) {
		struct sockaddr_in sin = {.sin_family = AF_INET,
		                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(listen(fd, 1), 0);
		if (fd != want) {
			assert_int_equal(dup2(fd, want), want);
			close(fd);
		}
	}
}

static void test_listen_fds(void **state)
{
	char me[32], other[32];
	char **names = NULL;
	int saved[5] = {-1, -1, -1, -1, -1};

	/* The protocol's numbers may hold the runner's descriptors: kept aside meanwhile. */
	for (int fd = 3; fd <= 4; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	snprintf(me, sizeof(me), "%d", (int)getpid());
	snprintf(other, sizeof(other), "%d", (int)getpid() + 1);

	set_listen(NULL, NULL, NULL);
	assert_int_equal(daemon_listen_fds(&names), 0);
	assert_null(names);

	set_listen(other, "2", "a:b");
	assert_int_equal(daemon_listen_fds(&names), 0);
	expect_env_cleared("another process's sockets");

	{
		struct {
			const char *pid, *fds, *names;
		} bad[] = {
		    {"x", "1", NULL},   {me, "x", NULL},
		    {me, "-1", NULL},   {me, "1025", NULL},
		    {me, "2", "a"},     {me, "1", "a:b"},
		    {me, "2", "a:b:c"}, {me, " 1", NULL},
		    {"", "1", NULL},    {me, "99999999999999999999999", NULL},
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			int r;

			pass_two();
			set_listen(bad[i].pid, bad[i].fds, bad[i].names);
			r = daemon_listen_fds(&names);
			if (r != -EINVAL || names != NULL)
				fail_msg("case %zu (%s, %s, %s): expected -EINVAL, got %d", i,
				         bad[i].pid, bad[i].fds, bad[i].names ? bad[i].names : "-",
				         r);
			expect_env_cleared("a malformed value");
		}
	}

	pass_two();
	set_listen(me, "2", "web:api");
	assert_int_equal(daemon_listen_fds(&names), 2);
	assert_non_null(names);
	assert_string_equal(names[0], "web");
	assert_string_equal(names[1], "api");
	assert_null(names[2]);
	daemon_free_names(names);
	expect_env_cleared("two passed sockets");
	assert_true(fcntl(3, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(4, F_GETFD) & FD_CLOEXEC);
	assert_true(daemon_is_stream_listener(3));

	set_listen(me, "2", NULL);
	assert_int_equal(daemon_listen_fds(&names), 2);
	assert_null(names);

	/* Said passed, not there: refused with the descriptor's error. */
	close(4);
	set_listen(me, "2", NULL);
	assert_int_equal(daemon_listen_fds(&names), -EBADF);
	close(3);
	for (int fd = 3; fd <= 4; fd++)
		if (saved[fd] >= 0) {
			dup2(saved[fd], fd);
			close(saved[fd]);
		}
}

static void test_is_stream_listener(void **state)
{
	int stream = socket(AF_INET, SOCK_STREAM, 0), dgram = socket(AF_INET, SOCK_DGRAM, 0);
	int p[2];

	assert_false(daemon_is_stream_listener(stream)); /* not listening */
	assert_false(daemon_is_stream_listener(dgram));
	assert_int_equal(pipe(p), 0);
	assert_false(daemon_is_stream_listener(p[0]));
	assert_false(daemon_is_stream_listener(-1));
	assert_int_equal(listen(stream, 1), 0);
	assert_true(daemon_is_stream_listener(stream));
	close(stream);
	close(dgram);
	close(p[0]);
	close(p[1]);
}

static void test_watchdog_usec(void **state)
{
	char me[32], other[32];
	uint64_t usec = 0;

	snprintf(me, sizeof(me), "%d", (int)getpid());
	snprintf(other, sizeof(other), "%d", (int)getpid() + 1);
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(daemon_watchdog_usec(&usec), 0);
	setenv("WATCHDOG_USEC", "5000000", 1);
	assert_int_equal(daemon_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 5000000);
	setenv("WATCHDOG_PID", me, 1);
	assert_int_equal(daemon_watchdog_usec(&usec), 1);
	setenv("WATCHDOG_PID", other, 1);
	assert_int_equal(daemon_watchdog_usec(&usec), 0);
	setenv("WATCHDOG_PID", "nope", 1);
	assert_int_equal(daemon_watchdog_usec(&usec), -EINVAL);
	unsetenv("WATCHDOG_PID");
	{
		const char *bad[] = {"", "0", "-5", "5s", "0x10", "18446744073709551616"};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			setenv("WATCHDOG_USEC", bad[i], 1);
			if (daemon_watchdog_usec(&usec) != -EINVAL)
				fail_msg("WATCHDOG_USEC \"%s\": expected -EINVAL", bad[i]);
		}
	}
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notify),
	    cmocka_unit_test(test_listen_fds),
	    cmocka_unit_test(test_is_stream_listener),
	    cmocka_unit_test(test_watchdog_usec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
