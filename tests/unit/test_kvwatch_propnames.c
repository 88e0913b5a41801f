/*
 * Unit tests of the property names set and its file (kvwatch/propnames.h): which
 * names the set holds, its cap, the file's bytes, and a reader that skips hostile
 * lines and refuses malformed files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "propnames.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_add(void **state)
{
	char longest[PROPNAMES_NAME_MAX + 2];
	struct {
		const char *name;
		size_t len; /* 0: strlen */
		int expect;
		bool complete_after;
	} cases[] = {
	    {"filePath", 0, 1, true},
	    {"filePath", 0, 0, true},
	    {"video/codec", 0, 1, true},
	    {"titre \xc3\xa9t\xc3\xa9", 0, 1, true},
	    {longest, PROPNAMES_NAME_MAX, 1, true},
	    {"a\nb", 0, -EINVAL, false},
	    {"a\tb", 0, -EINVAL, false},
	    {"del\x7f", 0, -EINVAL, false},
	    {"bad\xc3", 0, -EINVAL, false},
	    {"\xed\xa0\x80", 0, -EINVAL, false},
	    {"nul\0x", 5, -EINVAL, false},
	    {longest, PROPNAMES_NAME_MAX + 1, -EINVAL, false},
	    {"", 0, -EINVAL, false},
	};
	struct propnames *s;

	memset(longest, 'x', sizeof(longest));
	assert_int_equal(propnames_new(&s), 0);
	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].name);
		int r = propnames_add(s, cases[i].name, len);

		if (r != cases[i].expect)
			fail_msg("case %zu: expected %d, got %d", i, cases[i].expect, r);
		if (propnames_is_complete(s) != cases[i].complete_after)
			fail_msg("case %zu: expected complete %d, got %d", i,
			         cases[i].complete_after, propnames_is_complete(s));
	}
	assert_int_equal(propnames_count(s), 4);
	propnames_free(s);
}

static void test_cap(void **state)
{
	struct propnames *s;
	char name[32];

	assert_int_equal(propnames_new(&s), 0);
	for (int i = 0; i < PROPNAMES_MAX; i++) {
		int n = snprintf(name, sizeof(name), "p%d", i);

		assert_int_equal(propnames_add(s, name, (size_t)n), 1);
	}
	assert_true(propnames_is_complete(s));
	/* A known name is still known at the cap; a new one makes the set partial. */
	assert_int_equal(propnames_add(s, "p7", 2), 0);
	assert_true(propnames_is_complete(s));
	assert_int_equal(propnames_add(s, "one more", 8), -E2BIG);
	assert_false(propnames_is_complete(s));
	assert_int_equal(propnames_count(s), PROPNAMES_MAX);
	propnames_free(s);
}

static void test_format_roundtrip(void **state)
{
	static const char want[] = PROPNAMES_MAGIC " complete\n"
	                                           "a/b\n"
	                                           "filePath\n"
	                                           "title\n";
	struct propnames *s, *back;
	size_t len, skipped = 99;
	char *buf;

	assert_int_equal(propnames_new(&s), 0);
	assert_int_equal(propnames_add(s, "title", 5), 1);
	assert_int_equal(propnames_add(s, "filePath", 8), 1);
	assert_int_equal(propnames_add(s, "a/b", 3), 1);
	assert_int_equal(propnames_format(s, &buf, &len), 0);
	if (len != strlen(want) || memcmp(buf, want, len) != 0)
		fail_msg("expected \"%s\", got \"%.*s\"", want, (int)len, buf);
	assert_int_equal(propnames_parse(buf, len, &back, &skipped), 0);
	assert_int_equal(skipped, 0);
	assert_true(propnames_is_complete(back));
	assert_int_equal(propnames_count(back), 3);
	free(buf);
	propnames_free(back);
	/* A partial set says so. */
	assert_int_equal(propnames_add(s, "x\n", 2), -EINVAL);
	assert_int_equal(propnames_format(s, &buf, &len), 0);
	assert_int_equal(propnames_parse(buf, len, &back, &skipped), 0);
	assert_false(propnames_is_complete(back));
	assert_int_equal(propnames_count(back), 3);
	free(buf);
	propnames_free(back);
	propnames_free(s);
}

static void test_parse(void **state)
{
	struct {
		const char *text;
		size_t len; /* 0: strlen */
		int expect;
		size_t count;
		size_t skipped;
		bool complete;
	} cases[] = {
	    {PROPNAMES_MAGIC " complete\n", 0, 0, 0, 0, true},
	    {PROPNAMES_MAGIC " partial\na\n", 0, 0, 1, 0, false},
	    {PROPNAMES_MAGIC " complete\na\nb\n", 0, 0, 2, 0, true},
	    /* Bad lines are skipped: empty, control bytes, bad UTF-8, twice. */
	    {PROPNAMES_MAGIC " complete\na\n\nb\r\n\x01\n\xff\xfe\na\nc\n", 0, 0, 2, 5, true},
	    {PROPNAMES_MAGIC " complete\na\0b\nc\n", sizeof(PROPNAMES_MAGIC) + 15, 0, 1, 1, true},
	    /* Malformed files are refused whole. */
	    {"", 0, -EINVAL, 0, 0, false},
	    {"\n", 0, -EINVAL, 0, 0, false},
	    {PROPNAMES_MAGIC " complete", 0, -EINVAL, 0, 0, false},
	    {PROPNAMES_MAGIC " complete\na", 0, -EINVAL, 0, 0, false},
	    {PROPNAMES_MAGIC " done\na\n", 0, -EINVAL, 0, 0, false},
	    {PROPNAMES_MAGIC " complete \na\n", 0, -EINVAL, 0, 0, false},
	    {PROPNAMES_MAGIC "\na\n", 0, -EINVAL, 0, 0, false},
	    {"meta-fuse-properties 2 complete\na\n", 0, -EINVAL, 0, 0, false},
	    {"a\nb\n", 0, -EINVAL, 0, 0, false},
	    {"{\"json\": true}\n", 0, -EINVAL, 0, 0, false},
	};

	for (size_t i = 0; i < N(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text), skipped = 0;
		struct propnames *s = NULL;
		int r = propnames_parse(cases[i].text, len, &s, &skipped);

		if (r != cases[i].expect)
			fail_msg("case %zu: expected %d, got %d", i, cases[i].expect, r);
		if (r < 0)
			continue;
		if (propnames_count(s) != cases[i].count || skipped != cases[i].skipped ||
		    propnames_is_complete(s) != cases[i].complete)
			fail_msg("case %zu: expected %zu names, %zu skipped, complete %d, got %zu, "
			         "%zu, %d",
			         i, cases[i].count, cases[i].skipped, cases[i].complete,
			         propnames_count(s), skipped, propnames_is_complete(s));
		propnames_free(s);
	}
}

/* Over-long names are skipped; more names than the cap, or too many bytes, refuse the file. */
static void test_parse_limits(void **state)
{
	size_t cap = PROPNAMES_FILE_MAX + 4096, off, skipped;
	char *buf = malloc(cap);
	struct propnames *s;

	assert_non_null(buf);
	off = (size_t)sprintf(buf, "%s complete\n", PROPNAMES_MAGIC);
	memset(buf + off, 'y', PROPNAMES_NAME_MAX + 1);
	off += PROPNAMES_NAME_MAX + 1;
	buf[off++] = '\n';
	memset(buf + off, 'z', PROPNAMES_NAME_MAX);
	off += PROPNAMES_NAME_MAX;
	buf[off++] = '\n';
	assert_int_equal(propnames_parse(buf, off, &s, &skipped), 0);
	assert_int_equal(skipped, 1);
	assert_int_equal(propnames_count(s), 1);
	propnames_free(s);

	off = (size_t)sprintf(buf, "%s complete\n", PROPNAMES_MAGIC);
	for (int i = 0; i <= PROPNAMES_MAX; i++)
		off += (size_t)sprintf(buf + off, "n%d\n", i);
	assert_int_equal(propnames_parse(buf, off, &s, &skipped), -EINVAL);

	off = (size_t)sprintf(buf, "%s complete\n", PROPNAMES_MAGIC);
	while (off < PROPNAMES_FILE_MAX + 1)
		buf[off++] = '\n';
	assert_int_equal(propnames_parse(buf, off, &s, &skipped), -EINVAL);
	free(buf);
}

/* The file: written atomically, 0444, only when it changed; read back the same. */
static void test_write_read(void **state)
{
	char dir[] = "/tmp/test_propnames.XXXXXX", path[256];
	struct propnames *s, *back;
	struct stat st1, st2;
	size_t skipped;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, PROPNAMES_FILE);
	assert_int_equal(propnames_read(path, &back, &skipped), -ENOENT);
	assert_int_equal(propnames_new(&s), 0);
	assert_int_equal(propnames_add(s, "filePath", 8), 1);
	assert_int_equal(propnames_write(s, dir), 1);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0444);
	assert_int_equal(propnames_write(s, dir), 0);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(propnames_add(s, "extra", 5), 1);
	assert_int_equal(propnames_write(s, dir), 1);
	assert_int_equal(stat(path, &st2), 0);
	assert_int_not_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(propnames_read(path, &back, &skipped), 0);
	assert_int_equal(propnames_count(back), 2);
	assert_true(propnames_is_complete(back));
	propnames_free(back);

	/* Larger than any writer makes: refused before parsing. */
	assert_int_equal(unlink(path), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s complete\n", PROPNAMES_MAGIC);
	for (size_t i = 0; i < PROPNAMES_FILE_MAX; i++)
		fputc('\n', f);
	fclose(f);
	assert_int_equal(propnames_read(path, &back, &skipped), -EFBIG);
	unlink(path);
	/* A directory in its place. */
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(propnames_read(path, &back, &skipped), -EINVAL);
	assert_true(propnames_write(s, dir) < 0);
	rmdir(path);
	rmdir(dir);
	propnames_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_write_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
