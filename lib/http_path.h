/*
 * http_path: the path routine of the HTTP front ends (davd, apid), on top of
 * path.h.  A request path is taken raw (the server is told not to unescape it),
 * decoded exactly once, refused when it hides anything, normalised, and looked
 * up in the snapshot.  Also the reverse: a virtual path percent-encoded for an
 * href or a Location.  Pure string work plus one snapshot lookup; no logging.
 */
#ifndef MF_HTTP_PATH_H
#define MF_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

struct snapshot;
struct snap_node;

/*
 * The part of the raw path url below base ("/webdav"): "" for url == base, else a
 * string starting with '/'.  NULL when url is not base or below it ("/webdavx").
 * base "/" (or "") takes every path.
 */
const char *http_path_below(const char *url, const char *base);

/*
 * Decode raw[0..len) once into an absolute normalised path in out (cap bytes):
 * "/" or "/a/b" with no empty or "." components and no trailing '/'.  Refused
 * with -EINVAL: a malformed escape, an escaped '/' or '\' (%2F, %5C), a '\' at
 * all, a decoded NUL, invalid UTF-8 (overlong forms and surrogates included), a
 * ".." component; -ENAMETOOLONG: longer than cap - 1 or SNAP_PATH_MAX, or a
 * component over 255 bytes.  Returns the length.  A decoded '%' stays a literal
 * character ("%252e" names the file "%2e").
 */
int http_path_decode(const char *raw, size_t len, char *out, size_t cap);

/*
 * http_path_decode() and then the snapshot lookup: *ret gets the node.  Returns
 * 0, the decode errors above, -ENOENT or -ENOTDIR.  out keeps the decoded path.
 */
int http_path_lookup(const struct snapshot *s, const char *raw, size_t len, char *out, size_t cap,
                     const struct snap_node **ret);

/*
 * Percent-encode path[0..len) for a URL: every byte but the unreserved ones
 * (RFC 3986: ALPHA DIGIT - . _ ~) and '/' becomes %XX, so any UTF-8 name (or a
 * name with '%', '#', '?', ' ', '&') survives a round trip.  Returns the length
 * written (NUL-terminated), or -ENAMETOOLONG when out is too small.
 */
int http_path_encode(const char *path, size_t len, char *out, size_t cap);

/* The length http_path_encode() needs for path[0..len), without the NUL. */
size_t http_path_encoded_length(const char *path, size_t len);

#endif
