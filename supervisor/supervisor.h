/*
 * supervisor: the state of `meta-fuse run`, shared by the files of supervisor/
 * (see docs/supervisor.md).
 *
 * One struct supervisor owns everything: the configuration, the event loop, the
 * descriptors it hands out (listening sockets, the FUSE device) and one struct
 * worker per supervised process.  Workers come from the static role table of
 * roles.c and from the configuration's `programs`; both go through the same
 * spawn, notify, log and restart machinery.  Single-threaded: every callback
 * runs on the sd-event loop.
 */
#ifndef MF_SUPERVISOR_H
#define MF_SUPERVISOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "config.h"

/* What a role receives and how it is treated; flags of struct role. */
#define ROLE_WRITER    (1u << 0) /* owns the runtime directory; runs as writer_user */
#define ROLE_FUSE_FD   (1u << 1) /* gets the mounted /dev/fuse descriptor */
#define ROLE_WEBDAV_FD (1u << 2) /* gets the webdav.listen socket */
#define ROLE_API_FD    (1u << 3) /* gets the api.listen socket */
#define ROLE_NOTIFY    (1u << 4) /* says READY=1 and pings WATCHDOG=1 itself */
#define ROLE_GEN_HUP   (1u << 5) /* SIGHUP on each new generation of kvwatch */

struct role {
	const char *name;
	const char *exe; /* file name, looked up beside meta-fuse, then in libexec */
	unsigned flags;
	/* Is it enabled by this configuration? */
	bool (*enabled)(const struct config *cfg);
	/*
	 * Key prefixes of check-config's output whose change means a restart
	 * ("fuse." matches every fuse key; a name without a dot matches that key).
	 */
	const char *const *restart_keys;
};

extern const struct role roles[];
extern const size_t role_count;

enum worker_state {
	WORKER_STOPPED,  /* not started (yet), or stopped on purpose */
	WORKER_WAITING,  /* a reader waiting for kvwatch's READY */
	WORKER_STARTING, /* running, READY=1 not said yet */
	WORKER_RUNNING,  /* ready */
	WORKER_STOPPING, /* SIGTERM sent */
	WORKER_BACKOFF,  /* exited; restart timer armed */
	WORKER_FATAL,    /* too many quick failures; `meta-fuse restart NAME` */
	WORKER_FAILED,   /* exit status 1 (configuration): not retried in a loop */
	WORKER_SKIPPED,  /* not built, or disabled by the configuration */
	WORKER_STATE_MAX,
};

#define WORKER_NAME_MAX 40
#define LOG_LINE_MAX    4096

struct supervisor;

struct worker {
	struct supervisor *sup;
	const struct role *role; /* NULL for a program of the configuration */
	char name[WORKER_NAME_MAX];
	char **argv;       /* programs: owned copy of the command */
	char **env;        /* programs: extra "NAME=value" strings, or NULL */
	bool own_user;     /* programs: runs as uid/gid below, not the readers' */
	bool user_unknown; /* programs: its user did not resolve; not started */
	uid_t uid;
	gid_t gid;
	bool autorestart; /* false: a program that exits stays stopped */
	uint64_t stop_timeout_usec;
	char **start_after;        /* programs: workers that must be running first, or NULL */
	uint64_t start_delay_usec; /* programs: then this long before a start */
	bool delay_armed;          /* the start delay is running */
	bool delay_over;           /* ... and has passed: the next start goes ahead */
	char waiting_for[WORKER_NAME_MAX + 16]; /* WORKER_WAITING: for whom, or "start delay" */
	char exe[PATH_MAX];                     /* roles: "" when not built */
	enum worker_state state;
	const char *skip_reason; /* WORKER_SKIPPED */

	pid_t pid;
	int pidfd;
	uint64_t started_usec; /* CLOCK_MONOTONIC */
	uint64_t ready_usec;
	int64_t since_ms; /* CLOCK_REALTIME of the last state change, for status */
	unsigned restarts;
	unsigned quick_failures;
	uint64_t restart_credit_usec; /* run.c's booking of restarts at once */
	bool restart_now;             /* stopped to be started again at once (restart, reload) */
	bool remove;                  /* a program dropped by a reload: forget it once it exited */
	bool watchdog_fired;
	char last_exit[64];
	char status[256]; /* its last STATUS= */

	int log_fd;
	sd_event_source *log_source;
	char log_buf[LOG_LINE_MAX];
	size_t log_len;
	bool log_skipping; /* inside an over-long line */

	int watchdog_fd; /* timerfd: expiry is the deadline (watchdog.c); -1 when none */
	uint64_t watchdog_period_usec;
	sd_event_source *watchdog_source;
	sd_event_source *restart_timer;
	sd_event_source *delay_timer;
	sd_event_source *up_timer; /* programs: GOOD_RUN after the start, for start_after */
	sd_event_source *kill_timer;
};

struct supervisor {
	sd_event *event;
	struct config *cfg;
	char *config_path; /* absolute; NULL: the defaults */
	char self_dir[PATH_MAX];
	uid_t writer_uid;
	gid_t writer_gid;
	uint64_t watchdog_usec;      /* given to every ROLE_NOTIFY worker; 0 = none */
	uint64_t start_timeout_usec; /* from a start to READY, at most */

	struct worker **workers;
	size_t worker_count;

	int notify_fd;
	char notify_socket[108]; /* "@meta-fuse/..." for NOTIFY_SOCKET */
	int control_fd;
	int webdav_fd, api_fd;
	int fuse_fd;       /* a fresh mount waiting for fused; -1 when none */
	bool mounted;      /* a mount of ours is at mount_point */
	char *mount_point; /* where we mounted (the configuration may change) */

	uint64_t generation; /* kvwatch's last GENERATION= */
	uint64_t start_usec;
	bool writer_ready; /* kvwatch said READY once: the readers may start */
	bool stopping;
	bool ready_sent;
	bool status_dirty;
	int exit_status;
	sd_event_source *status_defer;
	sd_event_source *stop_timer;
	sd_event_source *trim_timer; /* trim.c, a second after the last activity */
	bool trim_ran;               /* the loop's last iteration was the trim */
};

/* roles.c */
void roles_find_exe(const struct supervisor *s, const struct role *r, char *buf, size_t len);

/* users.c */
int users_resolve(const char *name, const char *what, uid_t *ret_uid, gid_t *ret_gid, char *err,
                  size_t errlen);
int users_resolve_writer(const struct config *cfg, uid_t *ret_uid, gid_t *ret_gid, char *err,
                         size_t errlen);
int users_prepare_dirs(const struct supervisor *s);

/* listen.c */
int listen_open(const struct config_listen *l, int *ret_fd);

/* fusemount.c */
int fusemount_mount(struct supervisor *s);
int fusemount_detach_all(struct supervisor *s);
/*
 * The mount's bdi read_ahead_kb opened for writing, for fused to write
 * fuse.read_ahead_kb once the kernel has taken its INIT reply (INIT may only
 * lower it, so the supervisor cannot write it at mount time); -1 when unset.
 */
int fusemount_read_ahead_open(struct supervisor *s);

/* spawn.c */
int spawn_worker(struct supervisor *s, struct worker *w);

/* watchdog.c */
int worker_watchdog_open(struct worker *w, uint64_t first_usec);
/* The deadline usec from now (0: none). */
void worker_watchdog_set(struct worker *w, uint64_t usec);
void worker_watchdog_close(struct worker *w);

/* trim.c: after start-up, stop counting pages of code only the start-up used. */
void trim_pages(void);

/* logfwd.c */
int logfwd_attach(struct worker *w, int fd);
void logfwd_flush(struct worker *w);

/* notify.c */
int notify_open(struct supervisor *s);

/* control.c */
int control_open(struct supervisor *s);

/* status.c */
const char *worker_state_name(enum worker_state st);
char *status_json(const struct supervisor *s, bool live);
void status_changed(struct supervisor *s);

/* reload.c */
int reload_config(struct supervisor *s, char *msg, size_t msglen);

/* run.c: what the other files ask of the loop */
struct worker *sup_find_worker(struct supervisor *s, const char *name);
struct worker *sup_find_pid(struct supervisor *s, pid_t pid);
void worker_set_state(struct worker *w, enum worker_state st);
int worker_start(struct worker *w);
void worker_stop(struct worker *w, bool restart);
void worker_signal(struct worker *w, int sig);
void worker_ready(struct worker *w);
void worker_watchdog(struct worker *w);
void sup_new_generation(struct supervisor *s, uint64_t generation);
int sup_restart_by_hand(struct supervisor *s, const char *name, char *msg, size_t msglen);
void sup_shutdown(struct supervisor *s);
struct worker *sup_add_program(struct supervisor *s, const struct config_program *p);
int worker_set_program(struct worker *w, const struct config_program *p, char *err, size_t errlen);
uint64_t now_usec(void);

#endif
