/*
 * keys: the key layout of file metadata in Redis.
 *
 *   <prefix>file:<id><separator><property>     one string key per property
 *   <prefix>file:batch                         the pub/sub channel of changes
 *
 * With the defaults (prefix "meta-sort:", separator ":") a key reads
 * "meta-sort:file:3f2a...:filePath"; the newer upstream layout has an empty prefix
 * and "/" as separator ("file:3f2a.../video/codec").  An id is what lies between
 * "file:" and the first separator; a property may itself hold the separator.
 * Ids are untrusted bytes from the store: only 1..KEYS_ID_MAX printable ASCII
 * characters (0x21..0x7e) are accepted.  Pure functions, no I/O.
 */
#ifndef MF_KVWATCH_KEYS_H
#define MF_KVWATCH_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KEYS_ID_MAX     128
#define KEYS_PROP_MAX   256
#define KEYS_PREFIX_MAX 256
#define KEYS_SEP_MAX    16

/* Borrows prefix and sep from the configuration; they must outlive it. */
struct key_layout {
	const char *prefix;
	size_t prefix_len;
	const char *sep;
	size_t sep_len;
};

/* -EINVAL when sep is empty or either is too long. */
int keys_init(struct key_layout *kl, const char *prefix, const char *sep);

/* Does id[0..len) look like a hash id (length, characters, no separator)? */
bool keys_id_is_valid(const struct key_layout *kl, const char *id, size_t len);

/*
 * Split key[0..len) into id and property (views into key).  Returns 0, or -EINVAL
 * when the key is not "<prefix>file:<valid id><sep><non-empty property>".
 */
int keys_parse(const struct key_layout *kl, const char *key, size_t len, const char **ret_id,
               size_t *ret_id_len, const char **ret_prop, size_t *ret_prop_len);

/*
 * Write "<prefix>file:<id><sep><prop>" into buf (cap bytes, NUL-terminated).
 * Returns the length, or -ENAMETOOLONG.
 */
int keys_format(const struct key_layout *kl, const char *id, size_t id_len, const char *prop,
                char *buf, size_t cap);

/* The SCAN MATCH pattern "<prefix>file:*", glob characters of the prefix escaped. */
int keys_scan_pattern(const struct key_layout *kl, char *buf, size_t cap);

/* The channel "<prefix>file:batch". */
int keys_channel(const struct key_layout *kl, char *buf, size_t cap);

#endif
