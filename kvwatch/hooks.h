/*
 * hooks: run the user's change hook (hooks.on_change) after the tree changed.
 *
 * FUSE and WebDAV give media servers no inotify events; the hook is where users
 * tell Plex, Jellyfin or rclone to look again.  After a published generation
 * the changed virtual directories are collected; once no new change came for
 * hooks.debounce_ms (and at the latest 10 x that after the first), the command
 * runs as `/bin/sh -c COMMAND` with
 *   stdin                   the changed directories, one absolute path a line
 *                           ("/" alone when too many changed to list)
 *   META_FUSE_GENERATION    the generation it describes
 *   META_FUSE_DIR_COUNT     the number of lines on stdin
 * in its own process group, with no descriptor of kvwatch but stdout/stderr.
 * One hook runs at a time; changes arriving meanwhile wait for the next run.  A
 * hook still running after HOOKS_TIMEOUT_MS is killed (the whole group).  Exit
 * status and signals are logged; nothing a hook does delays publishing.
 */
#ifndef MF_KVWATCH_HOOKS_H
#define MF_KVWATCH_HOOKS_H

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define HOOKS_TIMEOUT_MS 60000
#define HOOKS_DIRS_MAX   10000

struct hooks;

/* command "" or NULL: hooks_new() returns 0 and *ret = NULL (no hook). */
int hooks_new(sd_event *event, const char *command, uint32_t debounce_ms, uint32_t timeout_ms,
              struct hooks **ret);
/* Kills a running hook. */
void hooks_free(struct hooks *h);

/* Generation `generation` changed dirs[0..n) (copied).  NULL-safe on h. */
void hooks_changed(struct hooks *h, uint64_t generation, char *const *dirs, size_t n);

/* For tests and status: runs started, failed (non-zero exit, signal, timeout). */
void hooks_counters(const struct hooks *h, uint64_t *ret_runs, uint64_t *ret_failures);

#endif
