/*
 * Unit tests of lib/names: value sanitising (the replacement table of
 * docs/rules.md), component fixing (dots, spaces, reserved names, 255-byte cut on
 * a UTF-8 boundary keeping the extension), the safety predicate and collision
 * suffixes.  Table-driven; each failing case prints its input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "snapshot_format.h"
#include "utf8.h"

#define N(s) s, sizeof(s) - 1

/* Printable form of a byte string for failure messages. */
static const char *show(const char *s, size_t len)
{
	static char buf[4][1200];
	static int k;
	char *o = buf[k++ & 3];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 5 < sizeof(buf[0]); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			o[n++] = (char)c;
		else
			n += (size_t)snprintf(o + n, 5, "\\x%02x", c);
	}
	o[n] = '\0';
	return o;
}

static void test_append_value(void **state)
{
	struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
	    {N("Inception"), "Inception"},
	    {N("AC/DC"), "AC-DC"},
	    {N("a\\b"), "a-b"},
	    {N("Title: Subtitle"), "Title - Subtitle"},
	    {N("12:30"), "12-30"},
	    {N("a : b"), "a - b"},
	    {N("end:"), "end-"},
	    {N("say \"hi\""), "say 'hi'"},
	    {N("<>|?*"), "_____"},
	    {N("What If...?"), "What If..._"},
	    {N("a\tb\nc\r"), "a_b_c_"},
	    {N("del\x7f"), "del_"},
	    {N("nel\xc2\x85"), "nel_"},                            /* C1 control */
	    {N("caf\xc3\xa9"), "caf\xc3\xa9"},                     /* kept */
	    {N("\xf0\x9f\x8e\xac film"), "\xf0\x9f\x8e\xac film"}, /* emoji kept */
	    {N("\xff"), "\xef\xbf\xbd"},
	    {N("a\xc3"), "a\xef\xbf\xbd"},                               /* truncated sequence */
	    {N("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
	    {N("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
	    {N(".."), ".."}, /* component fixing is names_fix_component's job */
	    {N("a\0b"), "a_b"},
	    /* Invisible characters that disguise a name; joiners stay. */
	    {N("evil\xe2\x80\xaevkm.exe"), "evil_vkm.exe"}, /* U+202E */
	    {N("\xe2\x81\xa6x\xe2\x81\xa9"), "_x_"},        /* U+2066/9 */
	    {N("a\xe2\x80\x8b"
	       "b"),
	     "a_b"},                            /* U+200B */
	    {N("\xef\xbb\xbfTitle"), "_Title"}, /* U+FEFF */
	    {N("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"),
	     "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"}, /* RTL kept */
	    {N("a\xe2\x80\x8d"
	       "b"),
	     "a\xe2\x80\x8d"
	     "b"}, /* U+200D kept */
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = 0;
		int r = names_append_value(out, &len, sizeof(out), cases[i].in, cases[i].len);

		if (r != 0 || len != strlen(cases[i].want) || memcmp(out, cases[i].want, len) != 0)
			fail_msg("\"%s\": expected \"%s\", got %d \"%s\"",
			         show(cases[i].in, cases[i].len),
			         show(cases[i].want, strlen(cases[i].want)), r, show(out, len));
	}
}

static void test_append_value_limits(void **state)
{
	char out[16];
	size_t len = 3;

	memcpy(out, "abc", 3);
	/* Refused whole, *len untouched. */
	assert_int_equal(names_append_value(out, &len, 8, N("123456")), -ENAMETOOLONG);
	assert_int_equal(len, 3);
	assert_int_equal(names_append_value(out, &len, 8, N("12345")), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(out, "abc12345", 8);
	/* A replacement that grows (U+FFFD) must fit whole. */
	len = 0;
	assert_int_equal(names_append_value(out, &len, 2, N("\xff")), -ENAMETOOLONG);
	assert_int_equal(len, 0);

	/* The cutting variant stops before a character that does not fit. */
	assert_int_equal(names_append_value_cut(out, 0, 4, N("caf\xc3\xa9")), 3);
	assert_int_equal(names_append_value_cut(out, 0, 5, N("caf\xc3\xa9")), 5);
	assert_int_equal(names_append_value_cut(out, 0, 2, N("\xf0\x9f\x8e\xac")), 0);
	assert_int_equal(names_append_value_cut(out, 0, 3, N("a:b")), 3);
	assert_int_equal(names_append_value_cut(out, 0, 2, N("a: b")), 1); /* " -" whole */
}

static void test_fix_component(void **state)
{
	struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"Inception (2010)", "Inception (2010)"},
	    {"", "_"},
	    {".", "_"},
	    {"..", "_"},
	    {"...", "_"},
	    {"  ", "_"},
	    {"name. . ", "name"},
	    {"Dr.", "Dr"},
	    {".hidden", "_.hidden"},
	    {"...and more", "_...and more"},
	    {".....mkv", "_.....mkv"},
	    {". .mkv", "_. .mkv"},
	    {"CON", "_CON"},
	    {"con", "_con"},
	    {"con.txt", "_con.txt"},
	    {"Aux.tar.gz", "_Aux.tar.gz"},
	    {"NUL.", "_NUL"},
	    {"CON .txt", "_CON .txt"},
	    {"PRN", "_PRN"},
	    {"Com1", "_Com1"},
	    {"LPT9.mkv", "_LPT9.mkv"},
	    {"COM0", "COM0"},
	    {"COM10", "COM10"},
	    {"CONSOLE", "CONSOLE"},
	    {"ACON", "ACON"},
	};
	char buf[600];
	const bool cases_dot_ok = false;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in), got;

		memcpy(buf, cases[i].in, len);
		got = names_fix_component(buf, len, cases_dot_ok);
		if (got != strlen(cases[i].want) || memcmp(buf, cases[i].want, got) != 0)
			fail_msg("\"%s\": expected \"%s\", got \"%s\"", cases[i].in, cases[i].want,
			         show(buf, got));
		if (!names_is_safe(buf, got))
			fail_msg("\"%s\": result \"%s\" is not safe", cases[i].in, show(buf, got));
	}
}

/* A source file whose own name is hidden may keep a leading dot; no other may. */
static void test_fix_component_leading_dot(void **state)
{
	struct {
		const char *in;
		bool dot_ok;
		const char *want;
	} cases[] = {
	    {".hidden.mkv", true, ".hidden.mkv"},
	    {".hidden.mkv", false, "_.hidden.mkv"},
	    {"..", true, "_"},
	    {"...", false, "_"},
	    {". . .", false, "_"},
	    {"a.b", false, "a.b"},
	    {".CON", false, "_.CON"},
	};
	char buf[600];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in), got;

		memcpy(buf, cases[i].in, len);
		got = names_fix_component(buf, len, cases[i].dot_ok);
		if (got != strlen(cases[i].want) || memcmp(buf, cases[i].want, got) != 0)
			fail_msg("\"%s\" (dot_ok %d): expected \"%s\", got \"%s\"", cases[i].in,
			         cases[i].dot_ok, cases[i].want, show(buf, got));
	}
	/* 255 bytes starting with a dot: cut to make room for the '_', extension kept. */
	buf[0] = '.';
	memset(buf + 1, 'x', 250);
	memcpy(buf + 251, ".mkv", 4);
	{
		size_t got = names_fix_component(buf, 255, false);

		assert_int_equal(got, 255);
		assert_memory_equal(buf, "_.", 2);
		assert_memory_equal(buf + 251, ".mkv", 4);
		assert_true(names_is_safe(buf, got));
	}
}

/* names_strip_suffix() undoes names_add_suffix() exactly, and only that. */
static void test_strip_suffix(void **state)
{
	static const char *const names[] = {
	    "a.mkv", "a", ".mkv", "a.b c", "x.(2)", "00000.m2ts", "Movie (2010).mkv", "v.1"};
	static const char *const not_suffixed[] = {"a.mkv", "a (02).mkv", "a(2).mkv",  "a ().mkv",
	                                           "(2)",   " (2)",       "a (2)x.mkv"};
	char out[300], back[300];
	unsigned n;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (unsigned k = 2; k < 200000; k = k * 7 + 1) {
			int len = names_add_suffix(names[i], strlen(names[i]), k, out, sizeof(out));
			int got;

			assert_true(len > 0);
			got = names_strip_suffix(out, (size_t)len, back, sizeof(back), &n);
			if (got != (int)strlen(names[i]) || strcmp(back, names[i]) != 0 || n != k)
				fail_msg("\"%s\": expected \"%s\" and %u, got %d \"%s\" and %u",
				         out, names[i], k, got, got > 0 ? back : "", n);
		}
	}
	for (size_t i = 0; i < sizeof(not_suffixed) / sizeof(not_suffixed[0]); i++) {
		int got = names_strip_suffix(not_suffixed[i], strlen(not_suffixed[i]), back,
		                             sizeof(back), &n);

		if (got != -EINVAL)
			fail_msg("\"%s\": expected %d, got %d", not_suffixed[i], -EINVAL, got);
	}
}

static void test_fix_component_long(void **state)
{
	char buf[1200], want[300];
	size_t len, got;

	/* A 300-byte title with an extension: cut to 255, ".mkv" kept. */
	memset(buf, 'a', 296);
	memcpy(buf + 296, ".mkv", 4);
	got = names_fix_component(buf, 300, false);
	assert_int_equal(got, SNAP_NAME_MAX);
	assert_memory_equal(buf + got - 4, ".mkv", 4);
	assert_true(names_is_safe(buf, got));

	/* 150 x "é" (300 bytes), no extension: the cut lands on a boundary (254). */
	for (int i = 0; i < 150; i++)
		memcpy(buf + 2 * i, "\xc3\xa9", 2);
	got = names_fix_component(buf, 300, false);
	assert_int_equal(got, 254);
	assert_true(utf8_is_valid(buf, got));

	/* Emoji (4 bytes) straddling the cut before the extension. */
	len = 0;
	memset(buf, 'x', 249);
	len = 249;
	for (int i = 0; i < 10; i++, len += 4)
		memcpy(buf + len, "\xf0\x9f\x8e\xac", 4);
	memcpy(buf + len, ".mkv", 4);
	len += 4;
	got = names_fix_component(buf, len, false);
	/* room for the stem: 255 - 4 = 251; 249 'x' + no whole emoji (would be 253) */
	assert_int_equal(got, 249 + 4);
	assert_memory_equal(buf + 249, ".mkv", 4);
	assert_true(names_is_safe(buf, got));

	/* An "extension" with a space or longer than 16 bytes is not kept. */
	memset(buf, 'b', 290);
	memcpy(buf + 290, ". Smith", 7);
	got = names_fix_component(buf, 297, false);
	assert_int_equal(got, 255);
	memset(want, 'b', 255);
	assert_memory_equal(buf, want, 255);

	/* The cut exposes trailing dots/spaces: they go too. */
	memset(buf, 'c', 250);
	memset(buf + 250, ' ', 10);
	memset(buf + 260, 'd', 40);
	got = names_fix_component(buf, 300, false);
	assert_int_equal(got, 250);

	/* Reserved and 255 bytes long: shortened by one, then prefixed. */
	memcpy(buf, "CON.", 4);
	memset(buf + 4, 'e', 296);
	got = names_fix_component(buf, 300, false);
	assert_int_equal(got, 255);
	assert_memory_equal(buf, "_CON.eee", 8);
	assert_true(names_is_safe(buf, got));
}

static void test_is_safe(void **state)
{
	struct {
		const char *in;
		size_t len;
		int safe;
	} cases[] = {
	    {N("Inception (2010)"), 1},
	    {N("\xf0\x9f\x8e\xac"), 1},
	    {N(".hidden"), 1},
	    {N(""), 0},
	    {N("."), 0},
	    {N(".."), 0},
	    {N("a/b"), 0},
	    {N("a\\b"), 0},
	    {N("a:b"), 0},
	    {N("a*"), 0},
	    {N("a?"), 0},
	    {N("a\"b"), 0},
	    {N("a<b"), 0},
	    {N("a|b"), 0},
	    {N("a\nb"), 0},
	    {N("a\xc2\x85"), 0},
	    {N("a\xff"), 0},
	    {N("trailing."), 0},
	    {N("trailing "), 0},
	    {N("CON"), 0},
	    {N("lpt3.txt"), 0},
	    {N("a\0b"), 0},
	};
	char big[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = names_is_safe(cases[i].in, cases[i].len);

		if (got != cases[i].safe)
			fail_msg("\"%s\": expected %d, got %d", show(cases[i].in, cases[i].len),
			         cases[i].safe, got);
	}
	memset(big, 'a', sizeof(big));
	assert_true(names_is_safe(big, 255));
	assert_false(names_is_safe(big, 256));
}

static void test_add_suffix(void **state)
{
	struct {
		const char *in;
		unsigned n;
		const char *want;
	} cases[] = {
	    {"a.mkv", 2, "a (2).mkv"},
	    {"noext", 3, "noext (3)"},
	    {".hidden", 2, ".hidden (2)"},
	    {"Mr. Smith", 2, "Mr. Smith (2)"},
	    {"Show - S01E02.en.srt", 2, "Show - S01E02.en (2).srt"},
	    {"Inception (2010)", 10, "Inception (2010) (10)"},
	    {"x.mkv", 4294967295u, "x (4294967295).mkv"},
	};
	char out[300], name[300];
	int r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = names_add_suffix(cases[i].in, strlen(cases[i].in), cases[i].n, out,
		                     sizeof(out));
		if (r != (int)strlen(cases[i].want) || strcmp(out, cases[i].want) != 0)
			fail_msg("\"%s\" %u: expected \"%s\", got %d \"%s\"", cases[i].in,
			         cases[i].n, cases[i].want, r, r < 0 ? "" : out);
	}

	/* 255 bytes already: the stem gives way, the extension stays. */
	memset(name, 's', 251);
	memcpy(name + 251, ".mkv", 4);
	r = names_add_suffix(name, 255, 2, out, sizeof(out));
	assert_int_equal(r, 255);
	assert_memory_equal(out + 255 - 8, " (2).mkv", 8);
	assert_true(names_is_safe(out, (size_t)r));

	/* ...on a UTF-8 boundary. */
	for (int i = 0; i < 125; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	memcpy(name + 250, ".mkv", 4);
	r = names_add_suffix(name, 254, 12, out, sizeof(out));
	assert_true(r > 0 && r <= 255);
	assert_true(utf8_is_valid(out, (size_t)r));
	assert_memory_equal(out + r - 9, " (12).mkv", 9);

	/* Near the limit without an extension. */
	memset(name, 'n', 255);
	r = names_add_suffix(name, 255, 3, out, sizeof(out));
	assert_int_equal(r, 255);
	assert_memory_equal(out + 251, " (3)", 4);

	/* out too small (cap counts the NUL). */
	assert_int_equal(names_add_suffix("a.mkv", 5, 2, out, 9), -ENAMETOOLONG);
	assert_int_equal(names_add_suffix("a.mkv", 5, 2, out, 10), 9);

	/* In place. */
	strcpy(name, "b.mkv");
	assert_int_equal(names_add_suffix(name, 5, 2, name, sizeof(name)), 9);
	assert_string_equal(name, "b (2).mkv");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_value),
	    cmocka_unit_test(test_append_value_limits),
	    cmocka_unit_test(test_fix_component),
	    cmocka_unit_test(test_fix_component_long),
	    cmocka_unit_test(test_fix_component_leading_dot),
	    cmocka_unit_test(test_strip_suffix),
	    cmocka_unit_test(test_is_safe),
	    cmocka_unit_test(test_add_suffix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
