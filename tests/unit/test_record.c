/*
 * Unit tests of lib/record: the schema (core properties at fixed indices,
 * interning, lookup, growth) and record_derive (fileName, extension and stem from
 * filePath, values from the KV store kept, empty values counted as absent).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"

static void test_schema(void **state)
{
	static const char *const core[] = {"filePath", "size",      "mtime", "ctime",
	                                   "fileName", "extension", "stem"};
	struct schema s;
	char name[32];

	assert_int_equal(schema_init(&s), 0);
	assert_int_equal(s.count, PROP_CORE_MAX);
	for (int i = 0; i < PROP_CORE_MAX; i++) {
		if (strcmp(s.names[i], core[i]) != 0)
			fail_msg("index %d: expected \"%s\", got \"%s\"", i, core[i], s.names[i]);
		assert_int_equal(schema_find(&s, core[i], strlen(core[i])), i);
	}
	assert_int_equal(schema_find(&s, "title", 5), -ENOENT);
	/* A prefix of a name is not the name. */
	assert_int_equal(schema_find(&s, "file", 4), -ENOENT);
	assert_int_equal(schema_find(&s, "filePathX", 8), PROP_FILE_PATH); /* len counts */

	assert_int_equal(schema_intern(&s, "title", 5), PROP_CORE_MAX);
	assert_int_equal(schema_intern(&s, "title", 5), PROP_CORE_MAX);
	assert_int_equal(schema_intern(&s, "video/codec", 11), PROP_CORE_MAX + 1);
	assert_int_equal(schema_intern(&s, "stem", 4), PROP_STEM);
	assert_int_equal(schema_intern(&s, "", 0), -EINVAL);
	assert_int_equal(schema_intern(&s, "a\0b", 3), -EINVAL);

	/* Growth keeps earlier indices. */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(schema_intern(&s, name, strlen(name)), PROP_CORE_MAX + 2 + i);
	}
	assert_int_equal(schema_find(&s, "video/codec", 11), PROP_CORE_MAX + 1);
	assert_int_equal(schema_find(&s, "p99", 3), PROP_CORE_MAX + 101);
	schema_free(&s);
	assert_int_equal(s.count, 0);
	schema_free(&s); /* twice is fine */
}

#define ABSENT NULL

static void expect_view(int line, const char *what, const struct strview *v, const char *want)
{
	if (want == ABSENT) {
		if (v->ptr != NULL && v->len > 0)
			fail_msg("case line %d: %s: expected absent, got \"%.*s\"", line, what,
			         (int)v->len, v->ptr);
		return;
	}
	if (v->ptr == NULL || v->len != strlen(want) || memcmp(v->ptr, want, v->len) != 0)
		fail_msg("case line %d: %s: expected \"%s\", got \"%.*s\"", line, what, want,
		         v->ptr ? (int)v->len : 6, v->ptr ? v->ptr : "absent");
}

static void test_derive(void **state)
{
	struct {
		int line;
		const char *path, *file_name, *ext_in; /* as the KV store gave them */
		const char *want_name, *want_ext, *want_stem;
	} cases[] = {
	    {__LINE__, "media1/Movies/Inception (2010)/Inception.mkv", NULL, NULL, "Inception.mkv",
	     "mkv", "Inception"},
	    {__LINE__, "a/b.tar.gz", NULL, NULL, "b.tar.gz", "gz", "b.tar"},
	    {__LINE__, "plain.MKV", NULL, NULL, "plain.MKV", "MKV", "plain"},
	    {__LINE__, "a/.hidden", NULL, NULL, ".hidden", ABSENT, ".hidden"},
	    {__LINE__, "a/.hidden.txt", NULL, NULL, ".hidden.txt", "txt", ".hidden"},
	    {__LINE__, "a/..x", NULL, NULL, "..x", ABSENT, "..x"},
	    {__LINE__, "a/noext", NULL, NULL, "noext", ABSENT, "noext"},
	    {__LINE__, "a/name.", NULL, NULL, "name.", ABSENT, "name."},
	    {__LINE__, "a/dir.d/file", NULL, NULL, "file", ABSENT, "file"},
	    {__LINE__, "dir/", NULL, NULL, ABSENT, ABSENT, ABSENT},
	    {__LINE__, NULL, NULL, NULL, ABSENT, ABSENT, ABSENT},
	    /* What the KV store gives wins. */
	    {__LINE__, "a/x.mkv", "Other.avi", NULL, "Other.avi", "avi", "Other"},
	    {__LINE__, "a/x.mkv", NULL, "webm", "x.mkv", "webm", "x"},
	    /* An empty value is absent and gets derived. */
	    {__LINE__, "a/x.mkv", "", "", "x.mkv", "mkv", "x"},
	    {__LINE__, "", NULL, NULL, ABSENT, ABSENT, ABSENT},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct strview vals[PROP_CORE_MAX] = {{0}};
		struct record r = {.values = vals};

		if (cases[i].path != NULL)
			vals[PROP_FILE_PATH] =
			    (struct strview){cases[i].path, (uint32_t)strlen(cases[i].path)};
		if (cases[i].file_name != NULL)
			vals[PROP_FILE_NAME] = (struct strview){
			    cases[i].file_name, (uint32_t)strlen(cases[i].file_name)};
		if (cases[i].ext_in != NULL)
			vals[PROP_EXTENSION] =
			    (struct strview){cases[i].ext_in, (uint32_t)strlen(cases[i].ext_in)};
		record_derive(&r);
		expect_view(cases[i].line, "fileName", &vals[PROP_FILE_NAME], cases[i].want_name);
		expect_view(cases[i].line, "extension", &vals[PROP_EXTENSION], cases[i].want_ext);
		expect_view(cases[i].line, "stem", &vals[PROP_STEM], cases[i].want_stem);
		assert_int_equal(record_has(&r, PROP_FILE_NAME), cases[i].want_name != ABSENT);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schema),
	    cmocka_unit_test(test_derive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
