/*
 * confdiff: key-by-key comparison of two configurations (see confdiff.h).
 */
#include "confdiff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* check-config's text of a configuration, the origin comments cut off. */
char *confdiff_text(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	config_print(cfg, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		char *hash;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		hash = NULL;
		for (char *p = strstr(line, "  # "); p; p = strstr(p + 1, "  # "))
			hash = p;
		if (hash)
			memset(hash, ' ', strlen(hash)); /* same length: the walk stays simple */
		if (nl)
			*nl = '\n';
	}
	return buf;
}

/* The line of key in text ("key = value   "), or NULL. */
static const char *find_line(const char *text, const char *key, size_t keylen, size_t *ret_len)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len > keylen + 3 && memcmp(line, key, keylen) == 0 &&
		    memcmp(line + keylen, " = ", 3) == 0) {
			while (len > 0 && line[len - 1] == ' ')
				len--; /* where the origin comment was */
			*ret_len = len;
			return line;
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

bool confdiff_changed(const char *old, const char *new, const char *prefix)
{
	size_t plen = strlen(prefix);
	bool group = plen > 0 && prefix[plen - 1] == '.';
	const char *texts[2] = {old, new};

	for (int t = 0; t < 2; t++) {
		for (const char *line = texts[t]; line && *line;) {
			const char *nl = strchr(line, '\n'), *eq = strstr(line, " = ");
			size_t klen = eq ? (size_t)(eq - line) : 0, la, lb;
			const char *a, *b;

			line = nl ? nl + 1 : NULL;
			if (!eq || (nl && eq > nl))
				continue;
			if (group ? strncmp(eq - klen, prefix, plen) != 0
			          : !(klen == plen && strncmp(eq - klen, prefix, plen) == 0))
				continue;
			a = find_line(old, eq - klen, klen, &la);
			b = find_line(new, eq - klen, klen, &lb);
			if (!a || !b || la != lb || memcmp(a, b, la) != 0)
				return true;
		}
	}
	return false;
}
