/*
 * propnames: the distinct property names of the keyspace, as a full load saw
 * them, and the file in runtime_dir that hands them to apid.
 *
 * Redis keeps no index of one file's keys, so apid would have to SCAN the
 * whole keyspace to answer "every property of this file".  The full load SCANs
 * every key anyway: it notes each property name in a small set, and after the
 * load the set is written to <runtime_dir>/properties, so that apid can look up
 * exactly those names for a file.
 *
 * The set is bounded: at most PROPNAMES_MAX names of 1..PROPNAMES_NAME_MAX
 * bytes, each valid UTF-8 without control bytes (0x00-0x1f, 0x7f).  A name the
 * set cannot hold (past the cap, too long, not such text) is not listed and
 * makes the set partial: a reader then cannot rely on the list.
 *
 * The file:
 *
 *   meta-fuse-properties 1 complete      (or "partial")
 *   filePath
 *   video/codec
 *   ...
 *
 * one name per line, sorted bytewise, every line ended by "\n".  It is
 * written by rename over the old one (mode 0444) and only when its bytes
 * change.  A reader treats it as untrusted: a file without that first line, of
 * another version, larger than PROPNAMES_FILE_MAX, with more than
 * PROPNAMES_MAX names or not ending in "\n" is malformed (-EINVAL); a line that
 * is no valid name, or a name twice, is skipped (counted).
 *
 * No logging, no threads: the caller owns a set and decides.
 */
#ifndef MF_KVWATCH_PROPNAMES_H
#define MF_KVWATCH_PROPNAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROPNAMES_MAX      1024
#define PROPNAMES_NAME_MAX 255
#define PROPNAMES_FILE     "properties"
#define PROPNAMES_MAGIC    "meta-fuse-properties 1"
/* The header and PROPNAMES_MAX names of the longest with their newlines. */
#define PROPNAMES_FILE_MAX (64 + PROPNAMES_MAX * (PROPNAMES_NAME_MAX + 1))

/* Owner: the caller of propnames_new(). */
struct propnames;

int propnames_new(struct propnames **ret);
void propnames_free(struct propnames *s);

/* Is name[0..len) a name the set holds (length, UTF-8, no control byte)? */
bool propnames_is_valid(const char *name, size_t len);

/*
 * Note a name.  Returns 1 when it was new, 0 when it was known, -EINVAL when
 * it is not a valid name, -E2BIG when the set is full; in those two cases the
 * set is marked partial.  -ENOMEM leaves the set unchanged.
 */
int propnames_add(struct propnames *s, const char *name, size_t len);

/* Mark the set partial (a name it could not note). */
void propnames_set_partial(struct propnames *s);

bool propnames_is_complete(const struct propnames *s);
size_t propnames_count(const struct propnames *s);

/* The i-th name (NUL-terminated, in the order added; i < count). */
const char *propnames_get(const struct propnames *s, size_t i, size_t *ret_len);

/* The file's bytes (malloc'd, the caller frees them), names sorted. */
int propnames_format(const struct propnames *s, char **ret_buf, size_t *ret_len);

/*
 * Parse a file's bytes into a new set.  Returns 0, *ret and in *ret_skipped
 * the lines skipped; -EINVAL for a malformed file, -ENOMEM.
 */
int propnames_parse(const char *buf, size_t len, struct propnames **ret, size_t *ret_skipped);

/*
 * Write the set to <dir>/PROPNAMES_FILE, unless the file there already holds
 * exactly these bytes.  Returns 1 written, 0 unchanged, -errno.
 */
int propnames_write(const struct propnames *s, const char *dir);

/*
 * Read and parse <path>.  Returns as propnames_parse(), or -errno of the I/O
 * (-ENOENT: no such file); -EFBIG when larger than PROPNAMES_FILE_MAX.
 */
int propnames_read(const char *path, struct propnames **ret, size_t *ret_skipped);

#endif
