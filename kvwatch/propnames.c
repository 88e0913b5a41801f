/* propnames: see propnames.h. */
#include "propnames.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utf8.h"

#define SLOTS (PROPNAMES_MAX * 2) /* a power of two, at most half full */

struct propnames {
	char *names[PROPNAMES_MAX];
	uint8_t lens[PROPNAMES_MAX]; /* each at most PROPNAMES_NAME_MAX */
	uint16_t slot[SLOTS];        /* 0 empty, else the name's index + 1 */
	size_t count;
	bool partial;
};

int propnames_new(struct propnames **ret)
{
	struct propnames *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	*ret = s;
	return 0;
}

void propnames_free(struct propnames *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count; i++)
		free(s->names[i]);
	free(s);
}

bool propnames_is_valid(const char *name, size_t len)
{
	if (len == 0 || len > PROPNAMES_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return utf8_is_valid(name, len);
}

static uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

int propnames_add(struct propnames *s, const char *name, size_t len)
{
	uint32_t i;
	char *copy;

	if (len > PROPNAMES_NAME_MAX) {
		s->partial = true;
		return -EINVAL;
	}
	for (i = name_hash(name, len) & (SLOTS - 1); s->slot[i] != 0; i = (i + 1) & (SLOTS - 1)) {
		uint16_t k = s->slot[i] - 1;

		if (s->lens[k] == len && memcmp(s->names[k], name, len) == 0)
			return 0;
	}
	if (!propnames_is_valid(name, len)) {
		s->partial = true;
		return -EINVAL;
	}
	if (s->count == PROPNAMES_MAX) {
		s->partial = true;
		return -E2BIG;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, name, len);
	copy[len] = '\0';
	s->names[s->count] = copy;
	s->lens[s->count] = (uint8_t)len;
	s->slot[i] = (uint16_t)(++s->count);
	return 1;
}

void propnames_set_partial(struct propnames *s)
{
	s->partial = true;
}

bool propnames_is_complete(const struct propnames *s)
{
	return !s->partial;
}

size_t propnames_count(const struct propnames *s)
{
	return s->count;
}

const char *propnames_get(const struct propnames *s, size_t i, size_t *ret_len)
{
	if (ret_len != NULL)
		*ret_len = s->lens[i];
	return s->names[i];
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int propnames_format(const struct propnames *s, char **ret_buf, size_t *ret_len)
{
	const char **sorted = malloc((s->count ? s->count : 1) * sizeof(*sorted));
	size_t cap = 64, off;
	char *buf;

	if (sorted == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->count; i++) {
		sorted[i] = s->names[i];
		cap += (size_t)s->lens[i] + 1;
	}
	/* Names hold no NUL (valid text without control bytes): strcmp is bytewise. */
	qsort(sorted, s->count, sizeof(*sorted), cmp_name);
	buf = malloc(cap);
	if (buf == NULL) {
		free(sorted);
		return -ENOMEM;
	}
	off = (size_t)snprintf(buf, cap, "%s %s\n", PROPNAMES_MAGIC,
	                       s->partial ? "partial" : "complete");
	for (size_t i = 0; i < s->count; i++) {
		size_t n = strlen(sorted[i]);

		memcpy(buf + off, sorted[i], n);
		buf[off + n] = '\n';
		off += n + 1;
	}
	free(sorted);
	*ret_buf = buf;
	*ret_len = off;
	return 0;
}

int propnames_parse(const char *buf, size_t len, struct propnames **ret, size_t *ret_skipped)
{
	static const char magic[] = PROPNAMES_MAGIC " ";
	struct propnames *s;
	const char *p, *end = buf + len, *nl;
	size_t skipped = 0;
	bool partial;
	int r;

	if (len > PROPNAMES_FILE_MAX || len == 0 || buf[len - 1] != '\n' ||
	    len < sizeof(magic) - 1 || memcmp(buf, magic, sizeof(magic) - 1) != 0)
		return -EINVAL;
	p = buf + sizeof(magic) - 1;
	nl = memchr(p, '\n', (size_t)(end - p));
	if ((size_t)(nl - p) == 8 && memcmp(p, "complete", 8) == 0)
		partial = false;
	else if ((size_t)(nl - p) == 7 && memcmp(p, "partial", 7) == 0)
		partial = true;
	else
		return -EINVAL;
	r = propnames_new(&s);
	if (r < 0)
		return r;
	s->partial = partial;
	for (p = nl + 1; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!propnames_is_valid(p, (size_t)(nl - p))) {
			skipped++;
			continue;
		}
		if (s->count == PROPNAMES_MAX) {
			propnames_free(s);
			return -EINVAL; /* more names than a writer lists */
		}
		r = propnames_add(s, p, (size_t)(nl - p));
		if (r < 0) {
			propnames_free(s);
			return r;
		}
		skipped += r == 0; /* a name twice */
	}
	*ret = s;
	*ret_skipped = skipped;
	return 0;
}

/* Does path hold exactly buf[0..len)? */
static bool same_bytes(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool same = false;
	struct stat st;
	char *old;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len &&
	    (old = malloc(len + 1)) != NULL) {
		same = read(fd, old, len + 1) == (ssize_t)len && memcmp(old, buf, len) == 0;
		free(old);
	}
	close(fd);
	return same;
}

int propnames_write(const struct propnames *s, const char *dir)
{
	char path[4096], tmp[4096];
	size_t len, off = 0;
	char *buf;
	int fd, r;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, PROPNAMES_FILE) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, PROPNAMES_FILE) >= sizeof(tmp))
		return -ENAMETOOLONG;
	r = propnames_format(s, &buf, &len);
	if (r < 0)
		return r;
	if (same_bytes(path, buf, len)) {
		free(buf);
		return 0;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	free(buf);
	if (r == 0 && fchmod(fd, 0444) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return 1;
}

int propnames_read(const char *path, struct propnames **ret, size_t *ret_skipped)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	size_t len = 0;
	struct stat st;
	char *buf;
	int r;

	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (r < 0) {
		close(fd);
		return r;
	}
	buf = malloc(PROPNAMES_FILE_MAX + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, PROPNAMES_FILE_MAX + 1 - len);

		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > PROPNAMES_FILE_MAX) {
			r = -EFBIG;
			goto out;
		}
	}
	r = propnames_parse(buf, len, ret, ret_skipped);
out:
	free(buf);
	close(fd);
	return r;
}
