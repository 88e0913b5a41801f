/*
 * error_file: the text of the virtual /ERROR.txt.
 *
 * The root of the mount shows ERROR.txt while the snapshot says the key-value
 * store is unreachable, or while there is no snapshot at all, so that a person
 * browsing a media share sees why nothing changes (or nothing is there) without
 * reading logs.  The text is rendered once per generation, so its size stays
 * the same for as long as the generation is served.  This file only renders
 * text; ops.c serves it under SNAP_ERROR_FILE_ID.
 */
#ifndef MF_ERROR_FILE_H
#define MF_ERROR_FILE_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;

#define ERROR_FILE_NAME "ERROR.txt"

/*
 * s: the snapshot being served, NULL when none could be loaded; path: where
 * the snapshot is expected; reason: why none could be loaded (NULL when it is
 * simply missing).  Sets *ret_text to NULL when the state is healthy (no
 * ERROR.txt), else to a malloc'd text the caller frees, with its length and
 * the time it describes (when the error began, for the file's mtime).
 * Returns 0 or -ENOMEM.
 */
int error_file_render(const struct snapshot *s, const char *path, const char *reason,
                      int64_t now_ns, char **ret_text, size_t *ret_len, int64_t *ret_mtime_ns);

#endif
