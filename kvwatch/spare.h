/*
 * spare: the next snapshot file, made ready on a thread of its own.
 *
 * On a tmpfs, allocating a file's pages and mapping them costs about as much as
 * the patch that fills them.  spare_prepare() has snapshot_prepare() do
 * it on a thread while the caller builds; spare_wait() joins the thread and
 * hands the file over.  The event loop only takes a spare that spare_is_ready()
 * says is done: it never waits for the thread.
 */
#ifndef MF_KVWATCH_SPARE_H
#define MF_KVWATCH_SPARE_H

#include <stdbool.h>

#include <stdint.h>

struct spare;
struct snapshot_file;

/*
 * Room to add to the current size: the strings of a live change, the KV state's.
 * A file prepared too small still works: what does not fit its mapping is
 * written behind it.
 */
#define SPARE_SLACK ((uint64_t)1 << 16)

/*
 * Start preparing a file of size bytes for dir/SNAP_FILE_NAME, allocated and
 * mapped (snapshot_prepare()).  NULL when no thread could be started: the patch
 * then makes a file of its own.
 */
struct spare *spare_prepare(const char *dir, uint64_t size);

/*
 * Wait for sp and free it.  Returns its file (the caller owns it), or NULL when
 * sp is NULL or the file could not be prepared (no space left: the build's own
 * attempt will say so).
 */
struct snapshot_file *spare_wait(struct spare *sp);

/* Is the thread done (so that spare_wait() does not wait)?  false for NULL. */
bool spare_is_ready(struct spare *sp);

#endif
