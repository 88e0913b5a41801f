/*
 * path: the one routine every front end uses on a path a client sent, and the
 * check that a record's source path stays beneath the files volume.
 *
 * Client paths: percent-decode (WebDAV, API) -> reject NUL and invalid UTF-8 ->
 * normalise ('.', '..', '//') -> must stay under the root.  Nothing here touches
 * the file system.
 */
#ifndef MF_PATH_H
#define MF_PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Decode %XX escapes of in[0..len) into out (cap bytes, NUL-terminated).  Returns
 * the decoded length, or -EINVAL for a malformed escape or a decoded NUL,
 * -ENAMETOOLONG when out is too small.
 */
int path_percent_decode(const char *in, size_t len, char *out, size_t cap);

/*
 * Normalise in[0..len) into an absolute path in out: "/" for the root, otherwise
 * "/a/b" with no empty, "." or ".." components and no trailing '/'.  A relative
 * input is taken as relative to the root.  Returns the length, or -EINVAL (NUL,
 * invalid UTF-8, ".." above the root), -ENAMETOOLONG (longer than cap - 1, or a
 * component longer than 255 bytes).
 */
int path_normalize(const char *in, size_t len, char *out, size_t cap);

/*
 * A record's source path is served only when this holds: relative, non-empty, at
 * most 4095 bytes, no NUL, no empty, "." or ".." component.  (Symlinks leaving the
 * volume are stopped at open time by RESOLVE_BENEATH.)
 */
bool path_is_safe_source(const char *rel, size_t len);

#endif
