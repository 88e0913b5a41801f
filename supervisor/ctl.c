/*
 * ctl: the control commands of the meta-fuse binary, the client side of
 * control.sock (control.c): `status [--json]`, `restart NAME`, `reload`,
 * `refresh`, `confirm-removals`, `stop`.
 *
 * The socket is found in the configuration's runtime directory (-c FILE) or
 * given with --runtime-dir.  The answer is printed as it comes, except status,
 * which arrives as JSON and is printed as a table unless --json is asked for.
 * The server must be root (or ourselves): a socket planted by someone else is
 * not believed.  Exit status: 0 done; 1 refused (bad configuration, unknown
 * worker, not root); 75 the supervisor is not running or the request failed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"

#define REPLY_MAX (1024 * 1024)

static int runtime_dir_of(const char *config_path, const char *runtime_dir, char *buf, size_t len)
{
	struct config *cfg;
	char err[1024];

	if (runtime_dir) {
		snprintf(buf, len, "%s", runtime_dir);
		return 0;
	}
	if (config_load(config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "meta-fuse: %s\n", err);
		return -EINVAL;
	}
	snprintf(buf, len, "%s", cfg->runtime_dir);
	config_free(cfg);
	return 0;
}

/* Send request, return the reply (code in *ret_code) or NULL with a message printed. */
static char *ask(const char *dir, const char *request, char *ret_code)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char *buf;
	ssize_t n;
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", dir) >=
	    sizeof(sa.sun_path)) {
		fprintf(stderr, "meta-fuse: runtime directory path too long: \"%s\"\n", dir);
		*ret_code = '1';
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM) {
			fprintf(stderr,
			        "meta-fuse: %s: permission denied: the control socket is for root "
			        "only\n",
			        sa.sun_path);
			*ret_code = '1';
		} else {
			fprintf(stderr, "meta-fuse: the supervisor is not running (%s: %s)\n",
			        sa.sun_path, strerror(e));
			*ret_code = '2';
		}
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		fprintf(stderr, "meta-fuse: %s is not served by root: not trusting it\n",
		        sa.sun_path);
		close(fd);
		*ret_code = '1';
		return NULL;
	}
	buf = malloc(REPLY_MAX + 1);
	/* A refusal may come before the request is read: read the answer whatever send says. */
	if (buf)
		(void)send(fd, request, strlen(request), MSG_NOSIGNAL);
	if (!buf || (n = recv(fd, buf, REPLY_MAX, 0)) < 2) {
		fprintf(stderr, "meta-fuse: no answer from the supervisor on %s\n", sa.sun_path);
		free(buf);
		close(fd);
		*ret_code = '2';
		return NULL;
	}
	close(fd);
	buf[n] = '\0';
	*ret_code = buf[0];
	memmove(buf, buf + 2, (size_t)n - 1);
	return buf;
}

static int exit_of(char code)
{
	return code == '0' ? 0 : code == '1' ? EXIT_CONFIG : EXIT_TEMPFAIL;
}

static void format_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%01" PRIu64 "s", s, (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, (s / 60) % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, (s / 3600) % 24);
}

static const char *str_of(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v && *v ? v : "-";
}

static int print_status_table(const char *text)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr), *snap, *workers, *w;
	size_t i;

	if (!root) {
		fprintf(stderr, "meta-fuse: unreadable status: %s\n", jerr.text);
		return EXIT_TEMPFAIL;
	}
	printf("meta-fuse (pid %" JSON_INTEGER_FORMAT "): %s",
	       json_integer_value(json_object_get(root, "pid")), str_of(root, "state"));
	snap = json_object_get(root, "snapshot");
	if (json_is_object(snap)) {
		printf(", generation %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
		       " files, store %s",
		       json_integer_value(json_object_get(snap, "generation")),
		       json_integer_value(json_object_get(snap, "files")),
		       json_is_true(json_object_get(snap, "kvConnected")) ? "connected"
		                                                          : "unreachable");
		if (json_is_true(json_object_get(snap, "held")))
			printf(", %" JSON_INTEGER_FORMAT
			       " removals held (meta-fuse confirm-removals applies them)",
			       json_integer_value(json_object_get(snap, "heldRemovals")));
	} else {
		printf(", no snapshot yet");
	}
	printf("\n%-10s %-9s %8s %9s %8s  %-24s %s\n", "NAME", "STATE", "PID", "UPTIME", "RESTARTS",
	       "LAST EXIT", "STATUS");
	workers = json_object_get(root, "workers");
	json_array_foreach(workers, i, w)
	{
		char up[32] = "-", pid[24] = "-", waiting[96] = "";
		json_int_t p = json_integer_value(json_object_get(w, "pid"));
		const char *st = str_of(w, "status");

		if (p > 0) {
			snprintf(pid, sizeof(pid), "%" JSON_INTEGER_FORMAT, p);
			format_duration(
			    (uint64_t)json_integer_value(json_object_get(w, "uptimeMs")), up,
			    sizeof(up));
		}
		if (strcmp(str_of(w, "state"), "skipped") == 0)
			st = str_of(w, "reason");
		if (strcmp(str_of(w, "state"), "waiting") == 0 &&
		    strcmp(str_of(w, "waitingFor"), "-") != 0)
			snprintf(waiting, sizeof(waiting), "waiting for %s",
			         str_of(w, "waitingFor"));
		if (waiting[0])
			st = waiting;
		printf("%-10s %-9s %8s %9s %8" JSON_INTEGER_FORMAT "  %-24s %s\n",
		       str_of(w, "name"), str_of(w, "state"), pid, up,
		       json_integer_value(json_object_get(w, "restarts")), str_of(w, "lastExit"),
		       st);
	}
	json_decref(root);
	return 0;
}

static void usage(FILE *out, const char *cmd)
{
	fprintf(out, "usage: meta-fuse %s [-c FILE | --runtime-dir DIR]%s\n", cmd,
	        strcmp(cmd, "status") == 0    ? " [--json]"
	        : strcmp(cmd, "restart") == 0 ? " NAME"
	                                      : "");
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"runtime-dir", required_argument, NULL, 'r'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd = argv[0], *config_path = NULL, *runtime_dir = NULL;
	bool json = false, is_status = strcmp(cmd, "status") == 0,
	     is_restart = strcmp(cmd, "restart") == 0;
	char dir[4096], request[256], code, *answer;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'r':
			runtime_dir = optarg;
			break;
		case 'j':
			if (!is_status) {
				usage(stderr, cmd);
				return EXIT_CONFIG;
			}
			json = true;
			break;
		case 'h':
			usage(stdout, cmd);
			return 0;
		default:
			usage(stderr, cmd);
			return EXIT_CONFIG;
		}
	}
	if (argc - optind != (is_restart ? 1 : 0) || (config_path && runtime_dir)) {
		usage(stderr, cmd);
		return EXIT_CONFIG;
	}
	if (is_restart && (strlen(argv[optind]) > 64 || strpbrk(argv[optind], " \n"))) {
		fprintf(stderr, "meta-fuse: restart: \"%s\" is not a worker name\n", argv[optind]);
		return EXIT_CONFIG;
	}
	if (runtime_dir_of(config_path, runtime_dir, dir, sizeof(dir)) < 0)
		return EXIT_CONFIG;
	snprintf(request, sizeof(request), "%s%s%s", cmd, is_restart ? " " : "",
	         is_restart ? argv[optind] : "");
	answer = ask(dir, request, &code);
	if (!answer)
		return exit_of(code);
	rc = exit_of(code);
	if (rc != 0)
		fprintf(stderr, "meta-fuse: %s: %s\n", cmd, answer);
	else if (is_status && !json)
		rc = print_status_table(answer);
	else
		printf("%s%s", answer, answer[0] && answer[strlen(answer) - 1] == '\n' ? "" : "\n");
	free(answer);
	return rc;
}
