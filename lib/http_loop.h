/*
 * http_loop: the main thread of an HTTP worker (davd, apid) once its server
 * runs: it waits for signals and for new snapshots, and nothing else.
 *
 * SIGHUP, an inotify event for vfs.snapshot in the runtime directory (when run
 * alone, without a supervisor to send SIGHUP) and a slow periodic check each
 * call gen_store_reload() of lib/generation.h; requests in flight keep the
 * generation they took, so a switch never disturbs a download.  SIGTERM and
 * SIGINT end the loop.  While the service manager asks for it, the watchdog is
 * pinged at half its interval (lib/watchdog.h: the supervisor's timerfd, or
 * WATCHDOG=1).  The loop decides nothing about logging: each
 * reload is handed to the caller's on_reload (http_loop_log_reload() is the
 * usual one).
 */
#ifndef MF_HTTP_LOOP_H
#define MF_HTTP_LOOP_H

#include <stdint.h>

struct gen_store;
struct generation;

struct http_loop_config {
	struct gen_store *gens;
	const char *runtime_dir;
	int64_t check_ms; /* periodic look at vfs.snapshot; 0 = none */
	/*
	 * After each reload: result is enum gen_reload_result or -errno; old and new
	 * are set on GEN_RELOAD_SWITCHED (borrowed for the call); err says why a
	 * file was refused; why is "SIGHUP", "inotify", "periodic check" or "start".
	 */
	void (*on_reload)(void *ctx, int result, const struct generation *old,
	                  const struct generation *new, const char *err, const char *why);
	void *ctx;
};

/*
 * Block SIGHUP, SIGTERM and SIGINT in the calling thread and ignore SIGPIPE; call
 * it before any thread starts, so that every thread inherits the mask and the
 * loop alone receives them.  Returns 0 or -errno.
 */
int http_loop_block_signals(void);

/*
 * One reload now, reported to on_reload with why (the first generation is loaded
 * this way, with why "start", before the server answers anything).  Returns
 * what gen_store_reload() returned.
 */
int http_loop_reload(const struct http_loop_config *cfg, const char *why);

/*
 * Serve reloads until SIGTERM or SIGINT.  Returns the signal that ended the loop,
 * or -errno when it cannot wait (signalfd failed).
 */
int http_loop_run(const struct http_loop_config *cfg);

/*
 * One reload's log line (log.h): info for a switch ("serving generation N
 * (why): F files, D directories"), a warning for a refused file, debug for
 * no change.  Also sends STATUS= to the service manager.  An on_reload.
 */
void http_loop_log_reload(void *ctx, int result, const struct generation *old,
                          const struct generation *new, const char *err, const char *why);

#endif
