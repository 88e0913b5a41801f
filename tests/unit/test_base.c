/*
 * Unit tests of lib/ base helpers: hash (stable values, streaming = one-shot),
 * utf8 validation and boundaries, path normalisation, percent-decoding and the
 * source-path check.  Table-driven; each failing case prints its input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "checksum.h"
#include "hash.h"
#include "path.h"
#include "utf8.h"

static void test_hash_streaming_matches_oneshot(void **state)
{
	const char text[] = "/Movies/Inception (2010)/Inception.mkv and some more bytes";
	size_t len = sizeof(text) - 1;
	uint64_t whole = hash64(text, len, 0);

	/* Every split point, including ones inside a word, gives the same hash. */
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b += 3) {
			struct hash_state st;

			hash_init(&st, 0);
			hash_update(&st, text, a);
			hash_update(&st, text + a, b - a);
			hash_update(&st, text + b, len - b);
			if (hash_final(&st) != whole)
				fail_msg("split %zu/%zu: expected %016llx, got %016llx", a, b,
				         (unsigned long long)whole,
				         (unsigned long long)hash_final(&st));
		}
	}
	assert_int_not_equal(hash64(text, len, 0), hash64(text, len, 1));
	assert_int_not_equal(hash64("a", 1, 0), hash64("a\0", 2, 0));
	assert_int_not_equal(hash64("", 0, 0), hash64("\0", 1, 0));
}

static void test_hash_values_are_stable(void **state)
{
	/* The hash is part of the snapshot format: node ids (inode numbers) depend on it. */
	struct {
		const char *in;
		uint64_t want;
	} cases[] = {
	    {"", 0x2def22c2ec5dc889ULL},
	    {"/", 0xd822c3410ed6249dULL},
	    {"/Movies", 0x4e3f1dc8dae57825ULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = hash64(cases[i].in, strlen(cases[i].in), 0);

		if (got != cases[i].want)
			fail_msg("hash64(\"%s\"): expected 0x%016llx, got 0x%016llx", cases[i].in,
			         (unsigned long long)cases[i].want, (unsigned long long)got);
	}
}

static void test_checksum_streaming_matches_oneshot(void **state)
{
	unsigned char data[300];
	uint64_t whole;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + 7);
	whole = checksum64(data, sizeof(data));
	/* Splits inside a word, inside a 32-byte block and across several blocks. */
	for (size_t a = 0; a <= sizeof(data); a += 7) {
		for (size_t b = a; b <= sizeof(data); b += 5) {
			struct checksum c;

			checksum_init(&c);
			checksum_update(&c, data, a);
			checksum_update(&c, data + a, b - a);
			checksum_update(&c, data + b, sizeof(data) - b);
			if (checksum_final(&c) != whole)
				fail_msg("split %zu/%zu: expected %016llx, got %016llx", a, b,
				         (unsigned long long)whole,
				         (unsigned long long)checksum_final(&c));
		}
	}
}

static void test_checksum_sees_every_bit(void **state)
{
	unsigned char data[200] = {0};
	uint64_t base = checksum64(data, sizeof(data));

	for (size_t bit = 0; bit < sizeof(data) * 8; bit++) {
		data[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		if (checksum64(data, sizeof(data)) == base)
			fail_msg("flipping bit %zu left the checksum at %016llx", bit,
			         (unsigned long long)base);
		data[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	/* Trailing zeros count: a truncated file does not pass. */
	for (size_t len = 0; len < sizeof(data); len++)
		if (checksum64(data, len) == checksum64(data, len + 1))
			fail_msg("%zu and %zu zero bytes have the same checksum", len, len + 1);
}

static void test_checksum_values_are_stable(void **state)
{
	/*
	 * Part of the snapshot format: a reader checks what another build wrote.  XXH3
	 * 64-bit, seed 0; "" is the value xxHash itself publishes.
	 */
	struct {
		const char *in;
		uint64_t want;
	} cases[] = {
	    {"", 0x2d06800538d394c2ULL},
	    {"MFSNAP", 0x689c593a3dfa5607ULL},
	    {"/Movies/Inception (2010)/Inception.mkv, more than one 32-byte block",
	     0x7127e05839161185ULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = checksum64(cases[i].in, strlen(cases[i].in));

		if (got != cases[i].want)
			fail_msg("checksum64(\"%s\"): expected 0x%016llx, got 0x%016llx",
			         cases[i].in, (unsigned long long)cases[i].want,
			         (unsigned long long)got);
	}
}

static void test_utf8(void **state)
{
	struct {
		const char *in;
		size_t len;
		int valid;
	} cases[] = {
	    {"plain", 5, 1},
	    {"caf\xc3\xa9", 5, 1},
	    {"\xf0\x9f\x8e\xac film", 9, 1}, /* emoji */
	    {"\xc3", 1, 0},                  /* truncated */
	    {"\xc0\xaf", 2, 0},              /* overlong '/' */
	    {"\xe0\x80\xaf", 3, 0},          /* overlong '/' */
	    {"\xed\xa0\x80", 3, 0},          /* surrogate */
	    {"\xf4\x90\x80\x80", 4, 0},      /* above U+10FFFF */
	    {"\xff", 1, 0},
	    {"a\x80", 2, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = utf8_is_valid(cases[i].in, cases[i].len);

		if (got != cases[i].valid)
			fail_msg("case %zu: expected %d, got %d", i, cases[i].valid, got);
	}
	/* "é" is 2 bytes at 3..4: a cut at 4 must step back to 3. */
	assert_int_equal(utf8_boundary("caf\xc3\xa9", 5, 4), 3);
	assert_int_equal(utf8_boundary("caf\xc3\xa9", 5, 5), 5);
	assert_int_equal(utf8_boundary("abc", 3, 10), 3);
}

static void test_path_normalize(void **state)
{
	struct {
		const char *in;
		int want_err;
		const char *want;
	} cases[] = {
	    {"/", 0, "/"},
	    {"", 0, "/"},
	    {"//a//b/", 0, "/a/b"},
	    {"/a/./b/.", 0, "/a/b"},
	    {"/a/b/../c", 0, "/a/c"},
	    {"a/b", 0, "/a/b"},
	    {"/a/..", 0, "/"},
	    {"/..", -EINVAL, NULL},
	    {"/a/../..", -EINVAL, NULL},
	    {"/a/\xff", -EINVAL, NULL},
	    {"/...", 0, "/..."},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = path_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (cases[i].want_err) {
			if (r != cases[i].want_err)
				fail_msg("\"%s\": expected %d, got %d", cases[i].in,
				         cases[i].want_err, r);
			continue;
		}
		if (r < 0 || strcmp(out, cases[i].want) != 0 || (size_t)r != strlen(out))
			fail_msg("\"%s\": expected \"%s\", got %d \"%s\"", cases[i].in,
			         cases[i].want, r, r < 0 ? "" : out);
	}
	assert_int_equal(path_normalize("/a\0b", 4, out, sizeof(out)), -EINVAL);
	assert_int_equal(path_normalize("/abcdefgh", 9, out, 5), -ENAMETOOLONG);
}

static void test_path_percent_decode(void **state)
{
	char out[32];

	assert_int_equal(path_percent_decode("a%20b", 5, out, sizeof(out)), 3);
	assert_string_equal(out, "a b");
	assert_int_equal(path_percent_decode("%2F%2e", 6, out, sizeof(out)), 2);
	assert_string_equal(out, "/.");
	assert_int_equal(path_percent_decode("%00", 3, out, sizeof(out)), -EINVAL);
	assert_int_equal(path_percent_decode("%4", 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(path_percent_decode("%", 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(path_percent_decode("%zz", 3, out, sizeof(out)), -EINVAL);
	assert_int_equal(path_percent_decode("abcdef", 6, out, 4), -ENAMETOOLONG);
}

static void test_path_is_safe_source(void **state)
{
	struct {
		const char *in;
		int safe;
	} cases[] = {
	    {"media1/Movies/Inception (2010)/Inception.mkv", 1},
	    {"a", 1},
	    {"a/..b/c..", 1},
	    {"", 0},
	    {"/etc/passwd", 0},
	    {"../etc/passwd", 0},
	    {"media/../../etc/passwd", 0},
	    {"media/./x", 0},
	    {"media//x", 0},
	    {"media/", 0},
	    {"..", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = path_is_safe_source(cases[i].in, strlen(cases[i].in));

		if (got != cases[i].safe)
			fail_msg("\"%s\": expected %d, got %d", cases[i].in, cases[i].safe, got);
	}
	assert_false(path_is_safe_source("a\0b", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_streaming_matches_oneshot),
	    cmocka_unit_test(test_hash_values_are_stable),
	    cmocka_unit_test(test_checksum_streaming_matches_oneshot),
	    cmocka_unit_test(test_checksum_sees_every_bit),
	    cmocka_unit_test(test_checksum_values_are_stable),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_path_normalize),
	    cmocka_unit_test(test_path_percent_decode),
	    cmocka_unit_test(test_path_is_safe_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
