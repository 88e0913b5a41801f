/*
 * warm: the warm start.  kvwatch keeps a copy of the last snapshot it published
 * after a successful load in state_dir (a disk that survives a reboot, unlike
 * the runtime directory), and at start publishes it at once, so the readers
 * serve the library while the first load runs; the snapshot's KV state says
 * "resyncing" (SNAP_KV_RESYNCING, not connected) until that load's generation
 * replaces it.
 *
 * warm_publish() runs once at start, before the event loop: it takes the
 * runtime directory's vfs.snapshot when one is valid (a restart), else
 * state_dir's (a reboot), validates it like any snapshot, and publishes its
 * bytes as the next generation with only the header restamped (generation, KV
 * state, header checksum): no rules, no build.
 *
 * The copy is written by warm_save_start() on a thread of its own, never on the
 * update path: it reads the published file through a descriptor (a file cut
 * under it gives a short copy that is dropped, never a SIGBUS), writes a
 * temporary file in state_dir and renames it over state_dir/vfs.snapshot.
 * kvwatch.c decides when (at most every few minutes, and at shutdown).
 */
#ifndef MF_KVWATCH_WARM_H
#define MF_KVWATCH_WARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct publisher;
struct snapshot;

/*
 * Publish the saved tree as generation p->generation + 1 (p->generation is set
 * to it).  Returns 0 and the validated source snapshot (the caller owns it: the
 * published file holds the same body), -ENOENT when there is nothing to start
 * from, or another -errno with the reason in err.
 */
int warm_publish(struct publisher *p, const char *state_dir, struct snapshot **ret, char *err,
                 size_t errlen);

/* A copy of runtime_dir/vfs.snapshot into state_dir in progress. */
struct warm_save;

/*
 * Start copying the published generation (a file of another generation is not
 * copied).  NULL when the thread cannot start (out of memory).
 */
struct warm_save *warm_save_start(const char *runtime_dir, const char *state_dir,
                                  uint64_t generation);
/* Whether the copy is over (then warm_save_end() does not wait). */
bool warm_save_done(struct warm_save *ws);
/* Wait for the copy and free ws: 0, or -errno with the reason in err. */
int warm_save_end(struct warm_save *ws, char *err, size_t errlen);

#endif
