/*
 * keys: build and split the Redis key names of file metadata (see keys.h).
 */
#include "keys.h"

#include <errno.h>
#include <string.h>

#define FILE_PART     "file:"
#define FILE_PART_LEN 5

int keys_init(struct key_layout *kl, const char *prefix, const char *sep)
{
	size_t plen = strlen(prefix), slen = strlen(sep);

	if (slen == 0 || slen > KEYS_SEP_MAX || plen > KEYS_PREFIX_MAX)
		return -EINVAL;
	kl->prefix = prefix;
	kl->prefix_len = plen;
	kl->sep = sep;
	kl->sep_len = slen;
	return 0;
}

/* First occurrence of the separator in s[0..len), or NULL. */
static const char *find_sep(const struct key_layout *kl, const char *s, size_t len)
{
	if (kl->sep_len == 1)
		return memchr(s, kl->sep[0], len);
	return memmem(s, len, kl->sep, kl->sep_len);
}

bool keys_id_is_valid(const struct key_layout *kl, const char *id, size_t len)
{
	if (len == 0 || len > KEYS_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
			return false;
	return find_sep(kl, id, len) == NULL;
}

int keys_parse(const struct key_layout *kl, const char *key, size_t len, const char **ret_id,
               size_t *ret_id_len, const char **ret_prop, size_t *ret_prop_len)
{
	size_t head = kl->prefix_len + FILE_PART_LEN;
	const char *id, *sep;
	size_t id_len, prop_len;

	if (len <= head || memcmp(key, kl->prefix, kl->prefix_len) != 0 ||
	    memcmp(key + kl->prefix_len, FILE_PART, FILE_PART_LEN) != 0)
		return -EINVAL;
	id = key + head;
	sep = find_sep(kl, id, len - head);
	if (sep == NULL)
		return -EINVAL;
	id_len = (size_t)(sep - id);
	prop_len = len - head - id_len - kl->sep_len;
	if (!keys_id_is_valid(kl, id, id_len) || prop_len == 0 || prop_len > KEYS_PROP_MAX)
		return -EINVAL;
	*ret_id = id;
	*ret_id_len = id_len;
	*ret_prop = sep + kl->sep_len;
	*ret_prop_len = prop_len;
	return 0;
}

int keys_format(const struct key_layout *kl, const char *id, size_t id_len, const char *prop,
                char *buf, size_t cap)
{
	size_t prop_len = strlen(prop);
	size_t need = kl->prefix_len + FILE_PART_LEN + id_len + kl->sep_len + prop_len;
	char *p = buf;

	if (need + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(p, kl->prefix, kl->prefix_len);
	p += kl->prefix_len;
	memcpy(p, FILE_PART, FILE_PART_LEN);
	p += FILE_PART_LEN;
	memcpy(p, id, id_len);
	p += id_len;
	memcpy(p, kl->sep, kl->sep_len);
	p += kl->sep_len;
	memcpy(p, prop, prop_len);
	p[prop_len] = '\0';
	return (int)need;
}

int keys_scan_pattern(const struct key_layout *kl, char *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < kl->prefix_len; i++) {
		char c = kl->prefix[i];

		if (n + 2 >= cap)
			return -ENAMETOOLONG;
		if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
			buf[n++] = '\\';
		buf[n++] = c;
	}
	if (n + FILE_PART_LEN + 2 > cap)
		return -ENAMETOOLONG;
	memcpy(buf + n, FILE_PART "*", FILE_PART_LEN + 1);
	n += FILE_PART_LEN + 1;
	buf[n] = '\0';
	return (int)n;
}

int keys_channel(const struct key_layout *kl, char *buf, size_t cap)
{
	size_t need = kl->prefix_len + FILE_PART_LEN + 5;

	if (need + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(buf, kl->prefix, kl->prefix_len);
	memcpy(buf + kl->prefix_len, FILE_PART "batch", FILE_PART_LEN + 6);
	return (int)need;
}
