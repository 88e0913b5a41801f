/*
 * mountinfo: what /proc/self/mountinfo says is mounted at a path (see
 * mountinfo.h).
 */
#include "mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mountinfo_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* The entries at real_path come in order: the last one is the top. */
int mountinfo_find(const char *real_path, char *dev, size_t devlen, char *fstype, size_t fslen)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		char *save = NULL, *field[6] = {0}, *sep, *fs;
		int i = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		fs = strtok_r(sep + 3, " \n", &save);
		save = NULL;
		for (char *t = strtok_r(line, " ", &save); t && i < 6;
		     t = strtok_r(NULL, " ", &save))
			field[i++] = t;
		if (i < 5 || !fs)
			continue;
		mountinfo_unescape(field[4]);
		if (strcmp(field[4], real_path) != 0)
			continue;
		if (dev)
			snprintf(dev, devlen, "%s", field[2]);
		if (fstype)
			snprintf(fstype, fslen, "%s", fs);
		r = 0;
	}
	free(line);
	fclose(fp);
	return r;
}
