/*
 * names: turning values into names every client can show, and keeping two files
 * with the same rendered name apart.
 *
 * A safe name is non-empty valid UTF-8 of at most SNAP_NAME_MAX bytes, with no '/',
 * no '\\', none of <>:"|?* and no control character, not "." or "..", not ending in
 * a dot or a space, and not a Windows reserved device name (CON, PRN, AUX, NUL,
 * COM1-9, LPT1-9, with or without an extension), with no bidirectional override,
 * embedding or isolate, zero-width space or byte order mark.
 */
#ifndef MF_NAMES_H
#define MF_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot_format.h"

bool names_is_safe(const char *name, size_t len);

/*
 * Append value to out (at *len, capacity cap) with every byte that would change
 * the path's shape replaced: '/', '\\', <>:"|?*, control characters -> '_' (or a
 * look-alike, documented in docs/rules.md), invalid UTF-8 -> U+FFFD.  Used while
 * rendering a template.  Returns 0 or -ENAMETOOLONG.
 */
int names_append_value(char *out, size_t *len, size_t cap, const char *value, size_t vlen);
/*
 * The same, but a value that does not fit is cut before the first character that
 * does not fit instead of refused.  Returns the new length.
 */
size_t names_append_value_cut(char *out, size_t len, size_t cap, const char *value, size_t vlen);

/*
 * Make one rendered path component safe in place: trailing dots and spaces
 * removed, "."/".." and empty names replaced, reserved device names altered,
 * names longer than SNAP_NAME_MAX cut on a UTF-8 boundary keeping the extension.
 * A name starting with a dot would be hidden: unless dot_ok (the source file's
 * own name starts with one) it gets a '_' in front, as a reserved name does.
 * name must have room for len + 1 bytes (an empty name becomes "_", "CON" "_CON",
 * "..mkv" "_..mkv").  Returns the new length (>0, <= SNAP_NAME_MAX).
 */
size_t names_fix_component(char *name, size_t len, bool dot_ok);

/*
 * Write name with " (n)" before its extension ("a.mkv", 2 -> "a (2).mkv") into out,
 * shortening the stem on a UTF-8 boundary if the result would exceed SNAP_NAME_MAX.
 * out is NUL-terminated and may be name itself.  Returns the length or
 * -ENAMETOOLONG if cap (counting the NUL) is too small.
 */
int names_add_suffix(const char *name, size_t len, unsigned n, char *out, size_t cap);

/*
 * names_add_suffix() shortens a stem only for a result of at least this many
 * bytes: a shorter suffixed name gives back its unsuffixed name exactly.
 */
#define NAMES_SUFFIX_SURE (SNAP_NAME_MAX - 3)

/*
 * The inverse of names_add_suffix() for a name shorter than NAMES_SUFFIX_SURE:
 * name without its " (n)" into out (capacity cap, NUL-terminated; not name).
 * Returns the length and the n of the suffix in *ret_n, -EINVAL when name is not
 * names_add_suffix() of the result ("a.mkv", "a (02).mkv"), or -ENAMETOOLONG when
 * cap is too small.
 */
int names_strip_suffix(const char *name, size_t len, char *out, size_t cap, unsigned *ret_n);

#endif
