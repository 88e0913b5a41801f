/*
 * Unit tests of lib/condition: every op, numeric versus bytewise comparison,
 * ignoreCase, lists of values, and/or/not nesting, missing and empty properties,
 * and every malformed condition refused with its path and line.  Conditions are
 * written in libconfig as in a rules file.  Table-driven.
 */
#include <errno.h>
#include <libconfig.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "condition.h"
#include "record.h"

#define MAXV 64

struct eval_case {
	int line;
	const char *when; /* the group after "when = " */
	const char *kv[12];
	int want;
};

static void fill(const struct schema *s, struct strview *vals, const char *const *kv)
{
	memset(vals, 0, MAXV * sizeof(*vals));
	assert_true(s->count <= MAXV);
	for (; kv[0] != NULL; kv += 2) {
		int i = schema_find(s, kv[0], strlen(kv[0]));

		if (i >= 0)
			vals[i] = (struct strview){kv[1], (uint32_t)strlen(kv[1])};
	}
}

/* Compile "when = <text>;" and return the result, err and line. */
static int compile(const char *text, struct schema *s, struct condition **ret, char *err,
                   size_t errlen, unsigned *line)
{
	char doc[4096];
	config_t cfg;
	int r;

	if ((size_t)snprintf(doc, sizeof(doc), "when = %s;\n", text) >= sizeof(doc))
		fail_msg("condition text too long for the test buffer");
	config_init(&cfg);
	if (config_read_string(&cfg, doc) != CONFIG_TRUE)
		fail_msg("libconfig refused \"%s\": line %d: %s", doc, config_error_line(&cfg),
		         config_error_text(&cfg));
	r = condition_compile(config_lookup(&cfg, "when"), "when", s, ret, err, errlen, line);
	config_destroy(&cfg);
	return r;
}

static void test_eval(void **state)
{
	static const struct eval_case cases[] = {
	    /* exists / notExists, empty counts as absent */
	    {__LINE__, "{ property = \"t\"; op = \"exists\"; }", {"t", "x", NULL}, 1},
	    {__LINE__, "{ property = \"t\"; op = \"exists\"; }", {NULL}, 0},
	    {__LINE__, "{ property = \"t\"; op = \"exists\"; }", {"t", "", NULL}, 0},
	    {__LINE__, "{ property = \"t\"; op = \"notExists\"; }", {NULL}, 1},
	    {__LINE__, "{ property = \"t\"; op = \"notExists\"; }", {"t", "", NULL}, 1},
	    {__LINE__, "{ property = \"t\"; op = \"notExists\"; }", {"t", "x", NULL}, 0},
	    /* equals / notEquals */
	    {__LINE__,
	     "{ property = \"t\"; op = \"equals\"; value = \"anime\"; }",
	     {"t", "anime", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"t\"; op = \"equals\"; value = \"anime\"; }",
	     {"t", "Anime", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"t\"; op = \"equals\"; value = \"anime\"; ignoreCase = true; }",
	     {"t", "ANIME", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"t\"; op = \"equals\"; value = \"anime\"; }",
	     {"t", "animes", NULL},
	     0},
	    {__LINE__, "{ property = \"t\"; op = \"equals\"; value = \"anime\"; }", {NULL}, 0},
	    {__LINE__,
	     "{ property = \"t\"; op = \"notEquals\"; value = \"anime\"; }",
	     {"t", "tv", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"t\"; op = \"notEquals\"; value = \"anime\"; }",
	     {"t", "anime", NULL},
	     0},
	    {__LINE__, "{ property = \"t\"; op = \"notEquals\"; value = \"anime\"; }", {NULL}, 1},
	    {__LINE__,
	     "{ property = \"t\"; op = \"notEquals\"; value = \"anime\"; ignoreCase = true; }",
	     {"t", "AniMe", NULL},
	     0},
	    /* numeric equality when both sides are numbers */
	    {__LINE__, "{ property = \"s\"; op = \"equals\"; value = 1; }", {"s", "01", NULL}, 1},
	    {__LINE__,
	     "{ property = \"s\"; op = \"equals\"; value = \"1\"; }",
	     {"s", "1.0", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"s\"; op = \"equals\"; value = 1.5; }",
	     {"s", "1.50", NULL},
	     1},
	    {__LINE__, "{ property = \"s\"; op = \"equals\"; value = 1; }", {"s", "1a", NULL}, 0},
	    {__LINE__, "{ property = \"s\"; op = \"equals\"; value = -3; }", {"s", "-3", NULL}, 1},
	    {__LINE__,
	     "{ property = \"s\"; op = \"equals\"; value = 9007199254740993L; }",
	     {"s", "9007199254740992", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"s\"; op = \"notEquals\"; value = 1; }",
	     {"s", "001", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"b\"; op = \"equals\"; value = true; }",
	     {"b", "true", NULL},
	     1},
	    /* lists: any of */
	    {__LINE__,
	     "{ property = \"e\"; op = \"equals\"; value = [\"srt\", \"ass\"]; }",
	     {"e", "ass", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"e\"; op = \"equals\"; value = [\"srt\", \"ass\"]; }",
	     {"e", "mkv", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"e\"; op = \"equals\"; value = (\"srt\", 5); }",
	     {"e", "5", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"e\"; op = \"equals\"; value = [\"srt\"]; ignoreCase = true; }",
	     {"e", "SRT", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"e\"; op = \"notEquals\"; value = [\"srt\", \"ass\"]; }",
	     {"e", "ass", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"e\"; op = \"notEquals\"; value = [\"srt\", \"ass\"]; }",
	     {"e", "mkv", NULL},
	     1},
	    /* contains / startsWith / endsWith */
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"sample\"; }",
	     {"f", "a-sample.mkv", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"sample\"; }",
	     {"f", "a-Sample.mkv", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"sample\"; ignoreCase = true; }",
	     {"f", "a-SAMPLE.mkv", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"sample\"; }",
	     {"f", "samp", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"/SAMPLE/\"; ignoreCase = true; }",
	     {"f", "a/Sample/b", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"/SAMPLE/\"; ignoreCase = true; }",
	     {"f", "x/sample/", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"/SAMPLE/\"; ignoreCase = true; }",
	     {"f", "a/Sample", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"/SAMPLE/\"; ignoreCase = true; }",
	     {"f", "/sampl//sample", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"/x\"; }",
	     {"f", "/", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"ÉTÉ\"; ignoreCase = true; }",
	     {"f", "l'ÉTÉ", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = \"été\"; ignoreCase = true; }",
	     {"f", "l'ÉTÉ", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = [\"x\", \"mk\"]; }",
	     {"f", "a.mkv", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"contains\"; value = 10; }",
	     {"f", "S10E01", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"startsWith\"; value = \".\"; }",
	     {"f", ".hidden", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"startsWith\"; value = \".\"; }",
	     {"f", "a.b", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"startsWith\"; value = \"media1/\"; }",
	     {"f", "media1", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"startsWith\"; value = \"MEDIA\"; ignoreCase = true; }",
	     {"f", "media1/x", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"endsWith\"; value = \"-sample\"; }",
	     {"f", "x-sample", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"endsWith\"; value = \"-sample\"; }",
	     {"f", "sample", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"f\"; op = \"endsWith\"; value = [\".a\", \".b\"]; }",
	     {"f", "x.b", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"f\"; op = \"endsWith\"; value = \"X\"; ignoreCase = true; }",
	     {"f", "ax", NULL},
	     1},
	    {__LINE__, "{ property = \"f\"; op = \"contains\"; value = \"x\"; }", {NULL}, 0},
	    {__LINE__, "{ property = \"f\"; op = \"startsWith\"; value = \"x\"; }", {NULL}, 0},
	    {__LINE__, "{ property = \"f\"; op = \"endsWith\"; value = \"x\"; }", {NULL}, 0},
	    /* greaterThan / lessThan: numeric where both are numbers */
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 1999; }",
	     {"y", "2010", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 9; }",
	     {"y", "10", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = \"9\"; }",
	     {"y", "10", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 10; }",
	     {"y", "10", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 1999.5; }",
	     {"y", "2000", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 2000.5; }",
	     {"y", "2000", NULL},
	     0},
	    {__LINE__, "{ property = \"y\"; op = \"lessThan\"; value = 0; }", {"y", "-5", NULL}, 1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"lessThan\"; value = -5; }",
	     {"y", "-5", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"y\"; op = \"lessThan\"; value = 100; }",
	     {"y", "+99.99", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 0; }",
	     {"y", "123456789012345678901234567890", NULL},
	     1},
	    /* bytewise when one side is not a number */
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = 9; }",
	     {"y", "10a", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"y\"; op = \"lessThan\"; value = 9; }",
	     {"y", "10a", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = \"abc\"; }",
	     {"y", "abd", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = \"abc\"; }",
	     {"y", "abc", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = \"abc\"; }",
	     {"y", "abcd", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"lessThan\"; value = \"abc\"; }",
	     {"y", "ab", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"lessThan\"; value = \"b\"; }",
	     {"y", "B", NULL},
	     1},
	    {__LINE__,
	     "{ property = \"y\"; op = \"lessThan\"; value = \"b\"; ignoreCase = true; }",
	     {"y", "B", NULL},
	     0},
	    {__LINE__,
	     "{ property = \"y\"; op = \"greaterThan\"; value = \"a\"; }",
	     {"y", "\xc3\xa9", NULL},
	     1},
	    {__LINE__, "{ property = \"y\"; op = \"greaterThan\"; value = 1; }", {NULL}, 0},
	    {__LINE__, "{ property = \"y\"; op = \"lessThan\"; value = 1; }", {NULL}, 0},
	    /* and / or / not, nesting, short circuits */
	    {__LINE__,
	     "{ and = ( { property = \"a\"; op = \"exists\"; }, { property = \"b\"; op = "
	     "\"exists\"; } ); }",
	     {"a", "1", "b", "1", NULL},
	     1},
	    {__LINE__,
	     "{ and = ( { property = \"a\"; op = \"exists\"; }, { property = \"b\"; op = "
	     "\"exists\"; } ); }",
	     {"a", "1", NULL},
	     0},
	    {__LINE__,
	     "{ or = ( { property = \"a\"; op = \"exists\"; }, { property = \"b\"; op = "
	     "\"exists\"; } ); }",
	     {"b", "1", NULL},
	     1},
	    {__LINE__,
	     "{ or = ( { property = \"a\"; op = \"exists\"; }, { property = \"b\"; op = "
	     "\"exists\"; } ); }",
	     {NULL},
	     0},
	    {__LINE__, "{ not = { property = \"a\"; op = \"exists\"; }; }", {NULL}, 1},
	    {__LINE__, "{ not = { property = \"a\"; op = \"exists\"; }; }", {"a", "1", NULL}, 0},
	    {__LINE__,
	     "{ not = { not = { property = \"a\"; op = \"exists\"; }; }; }",
	     {"a", "1", NULL},
	     1},
	    {__LINE__,
	     "{ and = ( { property = \"m\"; op = \"equals\"; value = \"anime\"; },"
	     "  { or = ( { property = \"s\"; op = \"exists\"; },"
	     "           { and = ( { property = \"e\"; op = \"exists\"; },"
	     "                     { not = { property = \"x\"; op = \"exists\"; }; } ); } ); },"
	     "  { property = \"t\"; op = \"exists\"; } ); }",
	     {"m", "anime", "e", "1", "t", "T", NULL},
	     1},
	    {__LINE__,
	     "{ and = ( { property = \"m\"; op = \"equals\"; value = \"anime\"; },"
	     "  { or = ( { property = \"s\"; op = \"exists\"; },"
	     "           { and = ( { property = \"e\"; op = \"exists\"; },"
	     "                     { not = { property = \"x\"; op = \"exists\"; }; } ); } ); },"
	     "  { property = \"t\"; op = \"exists\"; } ); }",
	     {"m", "anime", "e", "1", "x", "1", "t", "T", NULL},
	     0},
	    {__LINE__,
	     "{ and = ( { or = ( { property = \"a\"; op = \"exists\"; } ); },"
	     "  { property = \"b\"; op = \"exists\"; } ); }",
	     {"a", "1", NULL},
	     0},
	    {__LINE__,
	     "{ or = ( { and = ( { property = \"a\"; op = \"exists\"; },"
	     "  { property = \"b\"; op = \"exists\"; } ); }, { property = \"c\"; op = \"exists\"; "
	     "} ); }",
	     {"c", "1", NULL},
	     1},
	    /* property names with / . - */
	    {__LINE__,
	     "{ property = \"video/codec\"; op = \"equals\"; value = \"hevc\"; }",
	     {"video/codec", "hevc", NULL},
	     1},
	    {__LINE__, "{ property = \"a.b-c_d\"; op = \"exists\"; }", {"a.b-c_d", "1", NULL}, 1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct schema s;
		struct condition *c = NULL;
		struct strview vals[MAXV];
		struct record rec = {.values = vals};
		char err[512];
		int r, got;

		assert_int_equal(schema_init(&s), 0);
		r = compile(cases[i].when, &s, &c, err, sizeof(err), NULL);
		if (r < 0)
			fail_msg("line %d: expected to compile, got %d \"%s\"", cases[i].line, r,
			         err);
		fill(&s, vals, cases[i].kv);
		got = condition_eval(c, &rec);
		if (got != cases[i].want)
			fail_msg("line %d: expected %d, got %d", cases[i].line, cases[i].want, got);
		condition_free(c);
		schema_free(&s);
	}
	/* A NULL condition (a rule without `when`) always holds. */
	assert_true(condition_eval(NULL, NULL));
}

struct error_case {
	int line;
	const char *when;
	const char *want;
	unsigned want_line; /* of the offending setting in "when = ...;" */
};

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
	    {__LINE__, "\"x\"", "when: expected a group { ... }, not a string", 1},
	    {__LINE__, "{ }", "when: expected one of and, or, not or property", 1},
	    {__LINE__, "{ op = \"exists\"; }", "when: expected one of and, or, not or property", 1},
	    {__LINE__, "{ propery = \"a\"; op = \"exists\"; }",
	     "when: unknown setting \"propery\" (expected and, or, not, or property, op, value, "
	     "ignoreCase)",
	     1},
	    {__LINE__,
	     "{ property = \"a\"; op = \"exists\"; and = ( { property = \"b\"; op = \"exists\"; } "
	     "); }",
	     "when: use only one of and, or, not and property in one group", 1},
	    {__LINE__, "{ and = ( { property = \"b\"; op = \"exists\"; } ); op = \"exists\"; }",
	     "when: op, value and ignoreCase go with property", 1},
	    {__LINE__, "{ property = \"a\"; }",
	     "when: missing op (equals, notEquals, contains, startsWith, endsWith, exists, "
	     "notExists, greaterThan or lessThan)",
	     1},
	    {__LINE__, "{ property = \"a\"; op = \"equalz\"; value = \"x\"; }",
	     "when.op: unknown op \"equalz\" (expected equals, notEquals, contains, startsWith, "
	     "endsWith, exists, notExists, greaterThan or lessThan)",
	     1},
	    {__LINE__, "{ property = \"a\"; op = 5; }",
	     "when.op: expected a string, not an integer", 1},
	    {__LINE__, "{ property = 5; op = \"exists\"; }",
	     "when.property: expected a string, not an integer", 1},
	    {__LINE__, "{ property = \"\"; op = \"exists\"; }",
	     "when.property: \"\" is not a property name (letters, digits, _ / . -)", 1},
	    {__LINE__, "{ property = \"a b\"; op = \"exists\"; }",
	     "when.property: \"a b\" is not a property name (letters, digits, _ / . -)", 1},
	    {__LINE__, "{ property = \"a\"; op = \"exists\"; value = \"x\"; }",
	     "when.value: exists takes no value", 1},
	    {__LINE__, "{ property = \"a\"; op = \"equals\"; }", "when: equals needs a value", 1},
	    {__LINE__, "{ property = \"a\"; op = \"equals\"; value = \"\"; }",
	     "when.value: empty string (use exists or notExists)", 1},
	    {__LINE__, "{ property = \"a\"; op = \"equals\"; value = { x = 1; }; }",
	     "when.value: expected a string, a number or a boolean, not a group", 1},
	    {__LINE__, "{ property = \"a\"; op = \"equals\"; value = [ ]; }",
	     "when.value: empty list", 1},
	    {__LINE__, "{ property = \"a\"; op = \"equals\"; value = ( \"x\", { y = 1; } ); }",
	     "when.value[1]: expected a string, a number or a boolean, not a group", 1},
	    {__LINE__, "{ property = \"a\"; op = \"greaterThan\"; value = [ 1, 2 ]; }",
	     "when.value: greaterThan takes one value, not a list", 1},
	    {__LINE__, "{ property = \"a\"; op = \"equals\"; value = \"x\"; ignoreCase = 1; }",
	     "when.ignoreCase: expected true or false, not an integer", 1},
	    {__LINE__, "{ and = { property = \"a\"; op = \"exists\"; }; }",
	     "when.and: expected a list ( { ... }, ... ), not a group", 1},
	    {__LINE__, "{ and = ( ); }", "when.and: empty list", 1},
	    {__LINE__, "{ or = [ ]; }", "when.or: empty list", 1},
	    {__LINE__, "{ not = ( ); }", "when.not: expected a group { ... }, not a list", 1},
	    {__LINE__,
	     "{ and = ( { property = \"a\"; op = \"exists\"; },\n"
	     "  { or = ( { property = \"b\";\n op = \"equalz\"; value = 1; } ); } ); }",
	     "when.and[1].or[0].op: unknown op \"equalz\" (expected equals, notEquals, contains, "
	     "startsWith, endsWith, exists, notExists, greaterThan or lessThan)",
	     3},
	    {__LINE__, "{ and = ( { property = \"a\"; op = \"exists\"; },\n \"oops\" ); }",
	     "when.and[1]: expected a group { ... }, not a string", 2},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct schema s;
		struct condition *c = NULL;
		char err[512] = "";
		unsigned line = 99;
		int r;

		assert_int_equal(schema_init(&s), 0);
		r = compile(cases[i].when, &s, &c, err, sizeof(err), &line);
		if (r != -EINVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("line %d: expected -EINVAL \"%s\", got %d \"%s\"", cases[i].line,
			         cases[i].want, r, err);
		if (line != cases[i].want_line)
			fail_msg("line %d: expected source line %u, got %u", cases[i].line,
			         cases[i].want_line, line);
		assert_null(c);
		schema_free(&s);
	}
}

static void test_depth(void **state)
{
	char text[4096];
	size_t n = 0;
	struct schema s;
	struct condition *c = NULL;
	char err[256];

	/* 33 nested `not`s: refused, not a stack overflow. */
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "{ not = ");
	n += (size_t)snprintf(text + n, sizeof(text) - n, "{ property = \"a\"; op = \"exists\"; }");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "; }");
	assert_int_equal(schema_init(&s), 0);
	assert_int_equal(compile(text, &s, &c, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "nested deeper than 32"));
	schema_free(&s);
}

static void test_parse_number(void **state)
{
	struct {
		const char *in;
		int ok;
		double want;
	} cases[] = {
	    {"0", 1, 0},         {"42", 1, 42},
	    {"-7", 1, -7},       {"+7", 1, 7},
	    {"007", 1, 7},       {"1.5", 1, 1.5},
	    {"-0.25", 1, -0.25}, {"2010", 1, 2010},
	    {"", 0, 0},          {"-", 0, 0},
	    {"+", 0, 0},         {"1.", 0, 0},
	    {".5", 0, 0},        {"1.2.3", 0, 0},
	    {"1e3", 0, 0},       {" 1", 0, 0},
	    {"1 ", 0, 0},        {"0x10", 0, 0},
	    {"1,5", 0, 0},       {"--1", 0, 0},
	    {"S01", 0, 0},       {"nan", 0, 0},
	    {"inf", 0, 0},       {"123456789012345678901234567890", 1, 1.2345678901234568e29},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double got = -12345, diff, tol;
		int ok = condition_parse_number(cases[i].in, strlen(cases[i].in), &got);

		diff = got > cases[i].want ? got - cases[i].want : cases[i].want - got;
		tol = (cases[i].want < 0 ? -cases[i].want : cases[i].want) * 1e-12;
		if (ok != cases[i].ok || (ok && diff > tol))
			fail_msg("\"%s\": expected %d %g, got %d %g", cases[i].in, cases[i].ok,
			         cases[i].want, ok, got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eval),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_parse_number),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
