/*
 * hooks: debounce changes, run the hook, reap it or kill it (see hooks.h).
 *
 * The directory list goes to the child through a memfd: the hook reads it at
 * its own pace and kvwatch never blocks on a pipe.  The hook is started with
 * posix_spawn() (its own process group, stdin from that file, no descriptor of
 * kvwatch's, default signal dispositions), the environment prepared before.
 */
#include "hooks.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define USEC_PER_MS 1000ULL

extern char **environ;

struct hooks {
	sd_event *event;
	char *command;
	uint64_t debounce_usec;
	uint64_t timeout_usec;

	/* Pending changes. */
	char **dirs;
	size_t ndirs;
	size_t cap;
	bool all; /* too many to list: "/" */
	uint64_t generation;
	uint64_t first_usec; /* when the first pending change came, 0 = none */
	sd_event_source *timer;

	/* The running hook. */
	pid_t pid;
	uint64_t running_generation;
	sd_event_source *child;
	sd_event_source *kill_timer;

	uint64_t runs;
	uint64_t failures;
};

static void clear_pending(struct hooks *h)
{
	for (size_t i = 0; i < h->ndirs; i++)
		free(h->dirs[i]);
	h->ndirs = 0;
	h->all = false;
	h->first_usec = 0;
}

static bool pending(const struct hooks *h)
{
	return h->ndirs > 0 || h->all;
}

static void add_dir(struct hooks *h, const char *dir)
{
	char *copy;

	if (h->all)
		return;
	for (size_t i = 0; i < h->ndirs; i++)
		if (strcmp(h->dirs[i], dir) == 0)
			return;
	if (h->ndirs == HOOKS_DIRS_MAX || strcmp(dir, "/") == 0) {
		clear_pending(h);
		h->all = true;
		return;
	}
	if (h->ndirs == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		char **n = realloc(h->dirs, cap * sizeof(*n));

		if (n == NULL) {
			h->all = true;
			return;
		}
		h->dirs = n;
		h->cap = cap;
	}
	copy = strdup(dir);
	if (copy == NULL) {
		h->all = true;
		return;
	}
	h->dirs[h->ndirs++] = copy;
}

/* The list as the hook reads it, in a memfd positioned at 0; -1 on failure. */
static int make_input(struct hooks *h, size_t *ret_lines)
{
	int fd = memfd_create("meta-fuse-hook", MFD_CLOEXEC);
	FILE *f;

	if (fd < 0)
		return -1;
	f = fdopen(dup(fd), "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	if (h->all) {
		fputs("/\n", f);
		*ret_lines = 1;
	} else {
		for (size_t i = 0; i < h->ndirs; i++)
			fprintf(f, "%s\n", h->dirs[i]);
		*ret_lines = h->ndirs;
	}
	if (fclose(f) != 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* environ plus our two variables; the strings are owned by the caller's buffers. */
static char **make_env(char *gen, char *count)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "META_FUSE_GENERATION=", 21) != 0 &&
		    strncmp(environ[i], "META_FUSE_DIR_COUNT=", 20) != 0 &&
		    strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
		    strncmp(environ[i], "LISTEN_", 7) != 0 &&
		    strncmp(environ[i], "WATCHDOG_", 9) != 0 &&
		    strncmp(environ[i], "META_FUSE_WATCHDOG_", 19) != 0)
			env[k++] = environ[i];
	env[k++] = gen;
	env[k++] = count;
	env[k] = NULL;
	return env;
}

static void arm(struct hooks *h);

static int on_kill(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct hooks *h = userdata;

	if (h->pid > 0) {
		log_warnx("change hook for generation %" PRIu64 " still running after %" PRIu64
		          " ms, killing it",
		          h->running_generation, (uint64_t)(h->timeout_usec / USEC_PER_MS));
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
	}
	return 0;
}

static int on_exit_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct hooks *h = userdata;

	if (si->si_code == CLD_EXITED && si->si_status == 0) {
		log_debug("change hook for generation %" PRIu64 " done", h->running_generation);
	} else {
		h->failures++;
		if (si->si_code == CLD_EXITED)
			log_warnx("change hook for generation %" PRIu64
			          " failed with exit status %d",
			          h->running_generation, si->si_status);
		else
			log_warnx("change hook for generation %" PRIu64 " killed by signal %d",
			          h->running_generation, si->si_status);
	}
	h->pid = 0;
	h->child = sd_event_source_disable_unref(h->child);
	sd_event_source_set_enabled(h->kill_timer, SD_EVENT_OFF);
	if (pending(h))
		arm(h);
	return 0;
}

static void run(struct hooks *h)
{
	char gen[64], count[64];
	char *argv[] = {"sh", "-c", h->command, NULL};
	size_t lines = 0;
	char **env;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, def;
	uint64_t now;
	int fd, r;
	pid_t pid;

	fd = make_input(h, &lines);
	if (fd < 0) {
		log_warn("change hook: preparing its input");
		h->failures++;
		clear_pending(h);
		return;
	}
	snprintf(gen, sizeof(gen), "META_FUSE_GENERATION=%" PRIu64, h->generation);
	snprintf(count, sizeof(count), "META_FUSE_DIR_COUNT=%zu", lines);
	env = make_env(gen, count);
	if (env == NULL) {
		close(fd);
		h->failures++;
		clear_pending(h);
		return;
	}
	/*
	 * posix_spawn: its own process group, stdin from the input file, no other
	 * descriptor of ours, no signal blocked or ignored.
	 */
	r = posix_spawn_file_actions_init(&fa);
	if (r == 0) {
		r = posix_spawnattr_init(&at);
		if (r != 0)
			posix_spawn_file_actions_destroy(&fa);
	}
	if (r == 0) {
		sigemptyset(&all);
		sigfillset(&def);
		r = posix_spawn_file_actions_adddup2(&fa, fd, STDIN_FILENO);
		if (r == 0)
			r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
		if (r == 0)
			r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
			                                      POSIX_SPAWN_SETSIGMASK |
			                                      POSIX_SPAWN_SETSIGDEF);
		if (r == 0)
			r = posix_spawnattr_setpgroup(&at, 0);
		if (r == 0)
			r = posix_spawnattr_setsigmask(&at, &all);
		if (r == 0)
			r = posix_spawnattr_setsigdefault(&at, &def);
		if (r == 0)
			r = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
		posix_spawnattr_destroy(&at);
		posix_spawn_file_actions_destroy(&fa);
	}
	free(env);
	close(fd);
	if (r != 0) {
		log_warnx("change hook: starting /bin/sh: %s", strerror(r));
		h->failures++;
		clear_pending(h);
		return;
	}
	setpgid(pid, pid); /* also from here, so a kill never misses the group */
	h->runs++;
	h->pid = pid;
	h->running_generation = h->generation;
	log_debug("change hook for generation %" PRIu64 " started (pid %d, %zu directories)",
	          h->generation, (int)pid, lines);
	clear_pending(h);
	r = sd_event_add_child(h->event, &h->child, pid, WEXITED, on_exit_child, h);
	if (r < 0) {
		log_warnx("change hook: watching pid %d: %s; killing it", (int)pid, strerror(-r));
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		h->pid = 0;
		return;
	}
	sd_event_now(h->event, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(h->kill_timer, now + h->timeout_usec);
	sd_event_source_set_enabled(h->kill_timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct hooks *h = userdata;

	if (h->pid > 0 || !pending(h))
		return 0; /* re-armed when the running hook exits */
	run(h);
	return 0;
}

/* Fire when changes went quiet for the debounce time, at the latest 10 x it. */
static void arm(struct hooks *h)
{
	uint64_t now, when;

	sd_event_now(h->event, CLOCK_MONOTONIC, &now);
	if (h->first_usec == 0)
		h->first_usec = now;
	when = now + h->debounce_usec;
	if (when > h->first_usec + 10 * h->debounce_usec)
		when = h->first_usec + 10 * h->debounce_usec;
	if (when < now)
		when = now;
	sd_event_source_set_time(h->timer, when);
	sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

void hooks_changed(struct hooks *h, uint64_t generation, char *const *dirs, size_t n)
{
	if (h == NULL || n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		add_dir(h, dirs[i]);
	h->generation = generation;
	if (h->pid == 0)
		arm(h);
}

int hooks_new(sd_event *event, const char *command, uint32_t debounce_ms, uint32_t timeout_ms,
              struct hooks **ret)
{
	struct hooks *h;
	int r;

	*ret = NULL;
	if (command == NULL || command[0] == '\0')
		return 0;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->event = sd_event_ref(event);
	h->debounce_usec = debounce_ms * USEC_PER_MS;
	h->timeout_usec = (timeout_ms ? timeout_ms : HOOKS_TIMEOUT_MS) * USEC_PER_MS;
	h->command = strdup(command);
	r = h->command ? 0 : -ENOMEM;
	if (r == 0)
		r = sd_event_add_time(event, &h->timer, CLOCK_MONOTONIC, 0, 0, on_timer, h);
	if (r == 0)
		r = sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
	if (r == 0)
		r = sd_event_add_time(event, &h->kill_timer, CLOCK_MONOTONIC, 0, 0, on_kill, h);
	if (r == 0)
		r = sd_event_source_set_enabled(h->kill_timer, SD_EVENT_OFF);
	if (r < 0) {
		hooks_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

void hooks_free(struct hooks *h)
{
	if (h == NULL)
		return;
	if (h->pid > 0) {
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
	}
	sd_event_source_disable_unref(h->child);
	sd_event_source_disable_unref(h->timer);
	sd_event_source_disable_unref(h->kill_timer);
	clear_pending(h);
	free(h->dirs);
	free(h->command);
	sd_event_unref(h->event);
	free(h);
}

void hooks_counters(const struct hooks *h, uint64_t *ret_runs, uint64_t *ret_failures)
{
	*ret_runs = h ? h->runs : 0;
	*ret_failures = h ? h->failures : 0;
}
