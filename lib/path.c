/*
 * path: see path.h.  Pure string work on untrusted input; every routine bounds its
 * output and reports what was wrong as -errno.
 */
#include "path.h"

#include <errno.h>
#include <string.h>

#include "utf8.h"

#define PATH_COMPONENT_MAX 255

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int path_percent_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -EINVAL; /* '%' needs two hex digits */
			hi = hex_value(in[i + 1]);
			lo = hex_value(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == '\0')
			return -EINVAL;
		if (o + 1 >= cap)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	if (cap == 0)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

int path_normalize(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;

	if (cap < 2)
		return -ENAMETOOLONG;
	if (memchr(in, '\0', len) != NULL || !utf8_is_valid(in, len))
		return -EINVAL;
	while (i < len) {
		size_t start, clen;

		while (i < len && in[i] == '/')
			i++;
		start = i;
		while (i < len && in[i] != '/')
			i++;
		clen = i - start;
		if (clen == 0 || (clen == 1 && in[start] == '.'))
			continue;
		if (clen == 2 && in[start] == '.' && in[start + 1] == '.') {
			if (o == 0)
				return -EINVAL; /* above the root */
			while (o > 0 && out[o - 1] != '/')
				o--;
			o--; /* the '/' before the dropped component */
			continue;
		}
		if (clen > PATH_COMPONENT_MAX || o + 1 + clen >= cap)
			return -ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, in + start, clen);
		o += clen;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return (int)o;
}

bool path_is_safe_source(const char *rel, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > 4095 || rel[0] == '/' || memchr(rel, '\0', len) != NULL)
		return false;
	while (i <= len) {
		size_t start = i;

		while (i < len && rel[i] != '/')
			i++;
		if (i == start)
			return false; /* empty component: "a//b" or a trailing '/' */
		if (i - start == 1 && rel[start] == '.')
			return false;
		if (i - start == 2 && rel[start] == '.' && rel[start + 1] == '.')
			return false;
		i++;
	}
	return true;
}
