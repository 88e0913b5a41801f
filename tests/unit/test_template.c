/*
 * Unit tests of lib/template: every syntax element rendered (variables,
 * fallbacks, literals, modifiers and their chains, nested conditional sections,
 * escapes, separators), missing variables, sanitised values, and every kind of
 * malformed template refused with its column.  Table-driven; each failing case
 * prints its template and "expected X, got Y".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "record.h"
#include "snapshot_format.h"
#include "template.h"

#define MAXV    64
#define MISSING NULL /* want: the template does not render (-ENOENT) */
#define N_TPL   "/Movies/{title}/{title}.{extension}"

/* kv: name, value pairs ending with NULL; values may hold any byte but NUL. */
static void fill(const struct schema *s, struct strview *vals, const char *const *kv)
{
	memset(vals, 0, MAXV * sizeof(*vals));
	assert_true(s->count <= MAXV);
	for (; kv != NULL && kv[0] != NULL; kv += 2) {
		int i = schema_find(s, kv[0], strlen(kv[0]));

		if (i >= 0)
			vals[i] = (struct strview){kv[1], (uint32_t)strlen(kv[1])};
	}
}

static void check_safe_path(const char *tpl, const char *path)
{
	const char *p = path, *end;

	if (path[0] != '/')
		fail_msg("'%s': \"%s\" is not absolute", tpl, path);
	while (*p == '/') {
		p++;
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		if (!names_is_safe(p, (size_t)(end - p)))
			fail_msg("'%s': component \"%.*s\" of \"%s\" is not safe", tpl,
			         (int)(end - p), p, path);
		p = end;
	}
}

struct render_case {
	int line;
	const char *tpl;
	const char *kv[16];
	const char *want; /* MISSING: -ENOENT */
};

static void run_render_cases(const struct render_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct schema s;
		struct template *t = NULL;
		struct strview vals[MAXV];
		struct record rec = {.values = vals};
		char err[256], buf[SNAP_PATH_MAX];
		int r;

		assert_int_equal(schema_init(&s), 0);
		r = template_compile(cases[i].tpl, strlen(cases[i].tpl), &s, &t, err, sizeof(err));
		if (r < 0)
			fail_msg("line %d: '%s': expected to compile, got %d \"%s\"", cases[i].line,
			         cases[i].tpl, r, err);
		fill(&s, vals, cases[i].kv);
		record_derive(&rec);
		r = template_render(t, &rec, buf, sizeof(buf));
		if (cases[i].want == MISSING) {
			if (r != -ENOENT)
				fail_msg("line %d: '%s': expected -ENOENT, got %d \"%s\"",
				         cases[i].line, cases[i].tpl, r, r >= 0 ? buf : "");
		} else {
			if (r < 0 || strcmp(buf, cases[i].want) != 0 || (size_t)r != strlen(buf))
				fail_msg("line %d: '%s': expected \"%s\", got %d \"%s\"",
				         cases[i].line, cases[i].tpl, cases[i].want, r,
				         r >= 0 ? buf : "");
			check_safe_path(cases[i].tpl, buf);
		}
		template_free(t);
		schema_free(&s);
	}
}

static void test_render(void **state)
{
	static const struct render_case cases[] = {
	    /* variables, absolute or not */
	    {__LINE__, "/Movies/{title}", {"title", "Inception"}, "/Movies/Inception"},
	    {__LINE__, "Movies/{title}", {"title", "Inception"}, "/Movies/Inception"},
	    {__LINE__, "///Movies//{title}", {"title", "X"}, "/Movies/X"},
	    {__LINE__, "{title}", {"title", "X"}, "/X"},
	    {__LINE__,
	     "/Movies/{title} ({year})/{title}.{extension}",
	     {"title", "Inception", "year", "2010", "filePath",
	      "media1/Movies/Inception (2010)/Inception.mkv"},
	     "/Movies/Inception (2010)/Inception.mkv"},
	    {__LINE__,
	     "/x/{fileName}|{stem}|{extension}",
	     {"filePath", "a/b/c.tar.gz"},
	     "/x/c.tar.gz_c.tar_gz"},
	    {__LINE__,
	     "/{video/codec}-{a.b-c_d}",
	     {"video/codec", "h264", "a.b-c_d", "v"},
	     "/h264-v"},
	    /* missing and empty variables */
	    {__LINE__, "/Movies/{title}", {"year", "2010"}, MISSING},
	    {__LINE__, "/Movies/{title}", {"title", ""}, MISSING},
	    {__LINE__, "/A/{a}/{b}", {"a", "x"}, MISSING},
	    /* fallbacks and literals */
	    {__LINE__, "/{title|originalTitle}", {"originalTitle", "Orig"}, "/Orig"},
	    {__LINE__, "/{title|originalTitle}", {"title", "T", "originalTitle", "O"}, "/T"},
	    {__LINE__, "/{title|originalTitle}", {"title", "", "originalTitle", "O"}, "/O"},
	    {__LINE__, "/{title|originalTitle}", {NULL}, MISSING},
	    {__LINE__, "/{genre|\"Unknown\"}", {NULL}, "/Unknown"},
	    {__LINE__, "/{genre|'Unknown'}", {"genre", "Drama"}, "/Drama"},
	    {__LINE__, "/{a|b|'c d'}", {"b", "B"}, "/B"},
	    {__LINE__, "/{'lit'}", {NULL}, "/lit"},
	    {__LINE__, "/{'it\\'s \"x\" \\\\'}", {NULL}, "/it's 'x' -"},
	    {__LINE__, "/A/{x|''}/B", {NULL}, "/A/_/B"},
	    {__LINE__, "/{x|'a/b:c'}", {NULL}, "/a-b-c"},
	    /* modifiers */
	    {__LINE__, "/{season:pad2}", {"season", "1"}, "/01"},
	    {__LINE__, "/{season:pad2}", {"season", "12"}, "/12"},
	    {__LINE__, "/{season:pad2}", {"season", "123"}, "/123"},
	    {__LINE__, "/{season:pad2}", {"season", "0"}, "/00"},
	    {__LINE__, "/{season:pad3}", {"season", "7"}, "/007"},
	    {__LINE__, "/{season:pad10}", {"season", "7"}, "/0000000007"},
	    {__LINE__, "/{season:pad2}", {"season", "S1"}, "/S1"},
	    {__LINE__, "/{season:pad2}", {"season", "-1"}, "/-1"},
	    {__LINE__, "/{season:pad2}", {"season", "1.5"}, "/1.5"},
	    {__LINE__, "/{t:lower}", {"t", "Hello World"}, "/hello world"},
	    {__LINE__, "/{t:upper}", {"t", "Hello World"}, "/HELLO WORLD"},
	    {__LINE__, "/{t:upper}", {"t", "caf\xc3\xa9"}, "/CAF\xc3\xa9"}, /* ASCII only */
	    {__LINE__, "/{t:lower}", {"t", "\xc3\x89T\xc3\x89"}, "/\xc3\x89t\xc3\x89"},
	    {__LINE__, "/{x:pad2:upper}", {"x", "a"}, "/A"},
	    {__LINE__, "/{x:pad2:upper}", {"x", "5"}, "/05"},
	    {__LINE__, "/{x:pad3:pad2}", {"x", "5"}, "/005"},
	    {__LINE__, "/{x:pad2:pad3}", {"x", "5"}, "/005"},
	    {__LINE__, "/{x:lower:upper}", {"x", "aB"}, "/AB"},
	    {__LINE__, "/{x:upper:lower}", {"x", "aB"}, "/ab"},
	    {__LINE__, "/S{season|'1':pad2}", {NULL}, "/S01"},
	    {__LINE__, "/S{season|'1':pad2}", {"season", "3"}, "/S03"},
	    {__LINE__, "/{a|b:upper}", {"a", "x"}, "/X"}, /* modifiers apply to any choice */
	    /* conditional sections */
	    {__LINE__, "/{title}{year?( ({year}))}", {"title", "T", "year", "2010"}, "/T (2010)"},
	    {__LINE__, "/{title}{year?( ({year}))}", {"title", "T"}, "/T"},
	    {__LINE__, "/{title}{year?( ({year}))}", {"title", "T", "year", ""}, "/T"},
	    {__LINE__,
	     "/{t}{year|movieYear?( ({year|movieYear}))}",
	     {"t", "T", "movieYear", "9"},
	     "/T (9)"},
	    {__LINE__, "/{a?(A{b?(B{b})}a)}", {"a", "1", "b", "2"}, "/AB2a"},
	    {__LINE__, "/{a?(A{b?(B{b})}a)}", {"a", "1"}, "/Aa"},
	    {__LINE__, "/{a?(A{b?(B{b})}a)}x", {"b", "2"}, "/x"},
	    {__LINE__, "/{a?({b?({c?(deep)})})}", {"a", "1", "b", "1", "c", "1"}, "/deep"},
	    {__LINE__, "/{a?({b?({c?(deep)})})}z", {"a", "1", "c", "1"}, "/z"},
	    /* a missing required variable inside a rendered section fails the template */
	    {__LINE__, "/x{a?({b})}", {"a", "1"}, MISSING},
	    {__LINE__, "/x{a?({b})}", {NULL}, "/x"},
	    /* separators inside sections */
	    {__LINE__, "/TV/{s?(Season {s:pad2}/)}{t}", {"s", "1", "t", "T"}, "/TV/Season 01/T"},
	    {__LINE__, "/TV/{s?(Season {s:pad2}/)}{t}", {"t", "T"}, "/TV/T"},
	    /* parentheses: literal at the top, balanced inside sections */
	    {__LINE__, "/a (b) c)(", {NULL}, "/a (b) c)("},
	    {__LINE__, "/{x?((x) \\( \\))}", {"x", "1"}, "/(x) ( )"},
	    /* escapes */
	    {__LINE__, "/\\{x\\}\\|\\\\", {NULL}, "/{x}_-"},
	    /* sanitised values never add directories */
	    {__LINE__, "/M/{title}/f", {"title", "AC/DC"}, "/M/AC-DC/f"},
	    {__LINE__, "/M/{title}/f", {"title", ".."}, "/M/_/f"},
	    {__LINE__, "/M/{title}/f", {"title", "."}, "/M/_/f"},
	    {__LINE__, "/M/{title}/f", {"title", "../../etc"}, "/M/_..-..-etc/f"},
	    /* no hidden names unless the source file's own name is hidden */
	    {__LINE__,
	     "/M/{title}.{extension}",
	     {"title", ".....", "extension", "mkv"},
	     "/M/_......mkv"},
	    {__LINE__,
	     "/M/{title}.{extension}",
	     {"title", "   ", "extension", "mkv"},
	     "/M/   .mkv"},
	    {__LINE__, "/M/{title}", {"title", "/"}, "/M/-"},
	    {__LINE__, "/M/{fileName}", {"fileName", ".hidden.mkv"}, "/M/.hidden.mkv"},
	    {__LINE__, "/M/{title}", {"title", ".x", "fileName", ".hidden.mkv"}, "/M/.x"},
	    {__LINE__, "/M/{title}", {"title", "NUL.txt"}, "/M/_NUL.txt"},
	    {__LINE__, "/M/{title}", {"title", "Title: Sub"}, "/M/Title - Sub"},
	    {__LINE__, "/M/{title}", {"title", "a<b>c|d?e*f\"g\\h"}, "/M/a_b_c_d_e_f'g-h"},
	    {__LINE__, "/M/{title}", {"title", "Dr. "}, "/M/Dr"},
	    {__LINE__, "/M/{title}", {"title", "tab\there"}, "/M/tab_here"},
	    {__LINE__, "/M/{title}", {"title", "bad\xff"}, "/M/bad\xef\xbf\xbd"},
	    {__LINE__, "/M/{title}", {"title", "\xf0\x9f\x8e\xac"}, "/M/\xf0\x9f\x8e\xac"},
	    {__LINE__,
	     "/M/{title}.{extension}",
	     {"title", "CON", "filePath", "x.mkv"},
	     "/M/_CON.mkv"},
	    {__LINE__, "/M/{title}", {"title", "nul"}, "/M/_nul"},
	    /* literal text is sanitised as well */
	    {__LINE__, "/Movies: {t}", {"t", "x"}, "/Movies - x"},
	    {__LINE__, "/a?b/{t}.", {"t", "x"}, "/a_b/x"},
	    {__LINE__, "/./{t}", {"t", "x"}, "/_/x"},
	};

	run_render_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_render_long_values(void **state)
{
	struct schema s;
	struct template *t;
	struct strview vals[MAXV];
	struct record rec = {.values = vals};
	char err[256], buf[SNAP_PATH_MAX], *title;
	const char *comp;
	int r;

	assert_int_equal(schema_init(&s), 0);
	assert_int_equal(template_compile(N_TPL, strlen(N_TPL), &s, &t, err, sizeof(err)), 0);
	title = malloc(10000);
	assert_non_null(title);

	/* A 300-byte title: cut to 255 bytes, the extension kept. */
	memset(title, 'T', 300);
	title[300] = '\0';
	fill(&s, vals, (const char *[]){"title", title, "filePath", "m/x.mkv", NULL});
	record_derive(&rec);
	r = template_render(t, &rec, buf, sizeof(buf));
	assert_true(r > 0);
	comp = strrchr(buf, '/') + 1;
	assert_int_equal(strlen(comp), 255);
	assert_string_equal(comp + 251, ".mkv");
	check_safe_path(N_TPL, buf);
	/* the directory holding the title alone is 255 bytes too */
	assert_int_equal((int)(comp - buf - 1 - (int)strlen("/Movies/")), 255);

	/* A 9999-byte value of multi-byte characters: no overflow, valid UTF-8 cut. */
	for (int i = 0; i < 3333; i++)
		memcpy(title + 3 * i, "\xe2\x82\xac", 3); /* EUR sign */
	title[9999] = '\0';
	fill(&s, vals, (const char *[]){"title", title, "filePath", "m/x.mkv", NULL});
	record_derive(&rec);
	r = template_render(t, &rec, buf, sizeof(buf));
	assert_true(r > 0);
	check_safe_path(N_TPL, buf);

	/* A short buffer is -ENAMETOOLONG, never an overflow. */
	r = template_render(t, &rec, buf, 100);
	assert_int_equal(r, -ENAMETOOLONG);
	memset(title, 'a', 10);
	title[10] = '\0';
	fill(&s, vals, (const char *[]){"title", title, "filePath", "m/x.mkv", NULL});
	record_derive(&rec);
	r = template_render(t, &rec, buf, sizeof("/Movies/aaaaaaaaaa/aaaaaaaaaa.mkv"));
	assert_int_equal(r, (int)strlen("/Movies/aaaaaaaaaa/aaaaaaaaaa.mkv"));
	r = template_render(t, &rec, buf, sizeof("/Movies/aaaaaaaaaa/aaaaaaaaaa.mkv") - 1);
	assert_int_equal(r, -ENAMETOOLONG);

	free(title);
	template_free(t);
	schema_free(&s);
}

struct error_case {
	int line;
	const char *tpl;
	const char *want;
};

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
	    {__LINE__, "/Movies/{title", "column 9: unterminated '{'"},
	    {__LINE__, "/Movies/{title|", "column 9: unterminated '{'"},
	    {__LINE__, "/Movies/{title:", "column 9: unterminated '{'"},
	    {__LINE__, "/Movies/{title:pad2", "column 9: unterminated '{'"},
	    {__LINE__, "\xc3\xa9\xc3\xa9{", "column 3: unterminated '{'"}, /* counts characters */
	    {__LINE__, "/{}", "column 3: empty variable name"},
	    {__LINE__, "/{a|}", "column 5: empty variable name"},
	    {__LINE__, "/{|a}", "column 3: empty variable name"},
	    {__LINE__, "/{:pad2}", "column 3: empty variable name"},
	    {__LINE__, "/{?(x)}", "column 3: empty variable name"},
	    {__LINE__, "/{a b}", "column 4: unexpected ' ', expected '}'"},
	    {__LINE__, "/{a$}", "column 4: unexpected '$', expected '}'"},
	    {__LINE__, "/{$a}", "column 3: unexpected '$' in a variable name"},
	    {__LINE__, "/{a:foo}",
	     "column 5: unknown modifier 'foo' (expected lower, upper or padN)"},
	    {__LINE__, "/{a:Lower}",
	     "column 5: unknown modifier 'Lower' (expected lower, upper or padN)"},
	    {__LINE__, "/{a:}", "column 5: missing modifier after ':'"},
	    {__LINE__, "/{a:pad}",
	     "column 5: bad modifier 'pad': padN needs a width N from 1 to 32, as in pad2"},
	    {__LINE__, "/{a:pad0}",
	     "column 5: bad modifier 'pad0': padN needs a width N from 1 to 32, as in pad2"},
	    {__LINE__, "/{a:pad33}",
	     "column 5: bad modifier 'pad33': padN needs a width N from 1 to 32, as in pad2"},
	    {__LINE__, "/{a:padx}",
	     "column 5: bad modifier 'padx': padN needs a width N from 1 to 32, as in pad2"},
	    {__LINE__, "/{a:pad999999}",
	     "column 5: bad modifier 'pad999999': padN needs a width N from 1 to 32, as in pad2"},
	    {__LINE__, "/{a|\"x}", "column 5: unterminated literal: missing \""},
	    {__LINE__, "/{a|'x}", "column 5: unterminated literal: missing '"},
	    {__LINE__, "/{a|'x\\q'}", "column 7: unknown escape '\\q' in a literal"},
	    {__LINE__, "/{a|'x\\\n'}",
	     "column 7: unknown escape '\\' before byte 0x0a in a literal"},
	    {__LINE__, "/{'x'|a}", "column 7: an alternative after a literal is never used"},
	    {__LINE__, "/{a:lower|b}", "column 10: modifiers go after the last alternative"},
	    {__LINE__, "/{a:lower?(x)}", "column 10: a conditional section takes no modifiers"},
	    {__LINE__, "/{'x'?(y)}",
	     "column 6: a conditional section tests variables, not a literal"},
	    {__LINE__, "/{a?x}", "column 5: expected '(' after '?'"},
	    {__LINE__, "/{a?", "column 5: expected '(' after '?'"},
	    {__LINE__, "/{a?(x", "column 5: unterminated conditional section: missing ')'"},
	    {__LINE__, "/{a?(x(y)", "column 5: unterminated conditional section: missing ')'"},
	    {__LINE__, "/{a?(x}", "column 7: missing ')' before '}' to end the section"},
	    {__LINE__, "/{a?(x(y}",
	     "column 7: unbalanced '(' in a conditional section (write \\( for a literal one)"},
	    {__LINE__, "/{a?(x)", "column 2: unterminated '{'"},
	    {__LINE__, "/{a?(x)y}",
	     "column 8: expected '}' after the ')' that ends the section, got 'y'"},
	    {__LINE__, "/a}", "column 3: unexpected '}' (write \\} for a literal one)"},
	    {__LINE__, "/a\\q", "column 3: unknown escape '\\q'"},
	    {__LINE__, "/a\\ ", "column 3: unknown escape '\\' before byte 0x20"},
	    {__LINE__, "/a\\", "column 3: '\\' at the end of the template"},
	    {__LINE__, "/Movies/", "column 8: the template ends with '/'"},
	    {__LINE__, "/Movies//", "column 8: the template ends with '/'"},
	    {__LINE__, "", "the template is empty"},
	    {__LINE__, "///", "the template is empty"},
	    {__LINE__, "/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}/{a}",
	     "the template can render a path longer than 4095 bytes"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct schema s;
		struct template *t = NULL;
		char err[256] = "";
		int r;

		assert_int_equal(schema_init(&s), 0);
		r = template_compile(cases[i].tpl, strlen(cases[i].tpl), &s, &t, err, sizeof(err));
		if (r != -EINVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("line %d: '%s': expected -EINVAL \"%s\", got %d \"%s\"",
			         cases[i].line, cases[i].tpl, cases[i].want, r, err);
		assert_null(t);
		schema_free(&s);
	}
}

static void test_compile_misc(void **state)
{
	struct schema s;
	struct template *t;
	char err[64], *big;
	const char *tpl = "/{a|b}/{video/codec:upper}";
	int r;

	assert_int_equal(schema_init(&s), 0);
	assert_int_equal(template_compile(tpl, strlen(tpl), &s, &t, err, sizeof(err)), 0);
	assert_string_equal(template_source(t), tpl);
	/* Variables were interned: the loader fetches exactly these. */
	assert_true(schema_find(&s, "a", 1) >= PROP_CORE_MAX);
	assert_true(schema_find(&s, "video/codec", 11) >= PROP_CORE_MAX);
	template_free(t);
	template_free(NULL);

	/* 16 nested sections are fine; the 17th '(' (column 4 * 17 + 1) is refused. */
	for (int depth = 16; depth <= 17; depth++) {
		char nested[200];
		size_t n = 0;

		nested[n++] = '/';
		for (int i = 0; i < depth; i++, n += 4)
			memcpy(nested + n, "{a?(", 4);
		nested[n++] = 'x';
		for (int i = 0; i < depth; i++, n += 2)
			memcpy(nested + n, ")}", 2);
		r = template_compile(nested, n, &s, &t, err, sizeof(err));
		if (depth == 16) {
			assert_int_equal(r, 0);
			template_free(t);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_string_equal(
			    err, "column 69: conditional sections nested deeper than 16");
		}
	}

	/* Longer than TEMPLATE_SOURCE_MAX. */
	big = malloc(TEMPLATE_SOURCE_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', TEMPLATE_SOURCE_MAX + 1);
	r = template_compile(big, TEMPLATE_SOURCE_MAX + 1, &s, &t, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_string_equal(err, "longer than 4096 bytes");
	/* ...while a long literal at the limit is fine (one 255-byte name). */
	big[0] = '/';
	r = template_compile(big, TEMPLATE_SOURCE_MAX, &s, &t, err, sizeof(err));
	assert_int_equal(r, 0);
	template_free(t);
	free(big);

	/*
	 * The length bound counts names that grow when fixed ("AUX" -> "_AUX"): 819
	 * components render exactly 4095 bytes, 820 could not fit and are refused.
	 */
	big = malloc(TEMPLATE_SOURCE_MAX);
	assert_non_null(big);
	for (int i = 0; i < 820; i++)
		memcpy(big + 4 * i, "/AUX", 4);
	r = template_compile(big, 4 * 820, &s, &t, err, sizeof(err));
	assert_int_equal(r, -EINVAL);
	assert_string_equal(err, "the template can render a path longer than 4095 bytes");
	r = template_compile(big, 4 * 819, &s, &t, err, sizeof(err));
	assert_int_equal(r, 0);
	{
		struct strview vals[MAXV] = {{0}};
		struct record rec = {.values = vals};
		char out[SNAP_PATH_MAX];

		assert_int_equal(template_render(t, &rec, out, sizeof(out)), 4095);
		assert_memory_equal(out, "/_AUX/_AUX/", 11);
	}
	template_free(t);
	free(big);

	/* A tiny error buffer is truncated, never overrun. */
	r = template_compile("{", 1, &s, &t, err, 8);
	assert_int_equal(r, -EINVAL);
	assert_string_equal(err, "column ");
	r = template_compile("{", 1, &s, &t, NULL, 0);
	assert_int_equal(r, -EINVAL);
	schema_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_render_long_values),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_compile_misc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
