/*
 * http_path: decode, refuse, normalise, look up (see http_path.h).  The decode
 * is path.h's; what an HTTP path must not hide is checked on the raw bytes
 * (escaped separators) and on the decoded ones (NUL, UTF-8, "..", '\').
 */
#include "http_path.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "path.h"
#include "snapshot.h"
#include "utf8.h"

const char *http_path_below(const char *url, const char *base)
{
	size_t blen = base ? strlen(base) : 0;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if (blen == 0)
		return url;
	if (strncmp(url, base, blen) != 0)
		return NULL;
	if (url[blen] != '\0' && url[blen] != '/')
		return NULL;
	return url + blen;
}

static bool has_escaped_separator(const char *raw, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++)
		if (raw[i] == '%' && (strncasecmp(raw + i + 1, "2f", 2) == 0 ||
		                      strncasecmp(raw + i + 1, "5c", 2) == 0))
			return true;
	return false;
}

static bool has_dotdot(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t start = i;

		while (i < len && p[i] != '/')
			i++;
		if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
			return true;
	}
	return false;
}

int http_path_decode(const char *raw, size_t len, char *out, size_t cap)
{
	char dec[SNAP_PATH_MAX + 1];
	int n;

	if (memchr(raw, '\0', len) != NULL || memchr(raw, '\\', len) != NULL ||
	    has_escaped_separator(raw, len))
		return -EINVAL;
	n = path_percent_decode(raw, len, dec, sizeof(dec));
	if (n < 0)
		return n;
	if (memchr(dec, '\\', (size_t)n) != NULL || !utf8_is_valid(dec, (size_t)n) ||
	    has_dotdot(dec, (size_t)n))
		return -EINVAL;
	return path_normalize(dec, (size_t)n, out, cap);
}

int http_path_lookup(const struct snapshot *s, const char *raw, size_t len, char *out, size_t cap,
                     const struct snap_node **ret)
{
	int n = http_path_decode(raw, len, out, cap);

	if (n < 0)
		return n;
	return snapshot_lookup_path(s, out, ret);
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

size_t http_path_encoded_length(const char *path, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += is_unreserved((unsigned char)path[i]) ? 1 : 3;
	return n;
}

int http_path_encode(const char *path, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (is_unreserved(c)) {
			if (o + 1 >= cap)
				return -ENAMETOOLONG;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -ENAMETOOLONG;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (cap == 0)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}
