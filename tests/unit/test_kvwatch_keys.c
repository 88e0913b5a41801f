/*
 * Unit tests of kvwatch's key layouts (seed "meta-sort:file:{id}:{prop}" and
 * upstream "file:{id}/{prop}") and of the strict parsing of pub/sub change
 * messages: every malformed shape is refused with a reason, never half-applied.
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

#include "batch.h"
#include "keys.h"

static void test_keys_parse(void **state)
{
	struct key_layout seed, upstream, multi;
	struct {
		const struct key_layout *kl;
		const char *key;
		const char *id; /* NULL: refused */
		const char *prop;
	} cases[] = {
	    {&seed, "meta-sort:file:abc123:filePath", "abc123", "filePath"},
	    {&seed, "meta-sort:file:abc:video/codec", "abc", "video/codec"},
	    {&seed, "meta-sort:file:abc:a:b", "abc", "a:b"},
	    {&seed, "meta-sort:file:abc:", NULL, NULL},
	    {&seed, "meta-sort:file::title", NULL, NULL},
	    {&seed, "meta-sort:file:abc", NULL, NULL},
	    {&seed, "meta-sort:file:", NULL, NULL},
	    {&seed, "meta-sort:files:abc:title", NULL, NULL},
	    {&seed, "other:file:abc:title", NULL, NULL},
	    {&seed, "meta-sort:file:a b:title", NULL, NULL},
	    {&seed, "meta-sort:file:a\x01:title", NULL, NULL},
	    {&seed, "meta-sort:file:\xc3\xa9:title", NULL, NULL},
	    {&upstream, "file:abc/filePath", "abc", "filePath"},
	    {&upstream, "file:abc/video/codec", "abc", "video/codec"},
	    {&upstream, "file:a:b/title", "a:b", "title"},
	    {&upstream, "file:abc", NULL, NULL},
	    {&upstream, "meta-sort:file:abc/title", NULL, NULL},
	    {&multi, "p:file:id::title", "id", "title"},
	    {&multi, "p:file:id:title", NULL, NULL},
	};
	char longid[KEYS_ID_MAX + 40];

	assert_int_equal(keys_init(&seed, "meta-sort:", ":"), 0);
	assert_int_equal(keys_init(&upstream, "", "/"), 0);
	assert_int_equal(keys_init(&multi, "p:", "::"), 0);
	assert_int_equal(keys_init(&multi, "p:", ""), -EINVAL);
	assert_int_equal(keys_init(&multi, "p:", "::"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *id = NULL, *prop = NULL;
		size_t idl = 0, pl = 0;
		int r = keys_parse(cases[i].kl, cases[i].key, strlen(cases[i].key), &id, &idl,
		                   &prop, &pl);

		if (cases[i].id == NULL) {
			if (r != -EINVAL)
				fail_msg("\"%s\": expected refusal, got %d", cases[i].key, r);
			continue;
		}
		if (r != 0 || idl != strlen(cases[i].id) || memcmp(id, cases[i].id, idl) ||
		    pl != strlen(cases[i].prop) || memcmp(prop, cases[i].prop, pl))
			fail_msg("\"%s\": expected id \"%s\" prop \"%s\", got %d \"%.*s\" \"%.*s\"",
			         cases[i].key, cases[i].id, cases[i].prop, r, (int)idl,
			         id ? id : "", (int)pl, prop ? prop : "");
	}
	/* An id longer than the limit is refused. */
	snprintf(longid, sizeof(longid), "meta-sort:file:%0*d:title", KEYS_ID_MAX + 1, 7);
	{
		const char *id, *prop;
		size_t idl, pl;

		assert_int_equal(keys_parse(&seed, longid, strlen(longid), &id, &idl, &prop, &pl),
		                 -EINVAL);
	}
}

static void test_keys_format(void **state)
{
	struct key_layout seed, upstream, glob;
	char buf[128];

	keys_init(&seed, "meta-sort:", ":");
	keys_init(&upstream, "", "/");
	keys_init(&glob, "a*b?[c]\\:", ":");
	assert_int_equal(keys_format(&seed, "abc", 3, "filePath", buf, sizeof(buf)), 27);
	assert_string_equal(buf, "meta-sort:file:abc:filePath");
	assert_int_equal(keys_format(&upstream, "abc", 3, "video/codec", buf, sizeof(buf)), 20);
	assert_string_equal(buf, "file:abc/video/codec");
	assert_int_equal(keys_format(&seed, "abc", 3, "filePath", buf, 10), -ENAMETOOLONG);
	assert_int_equal(keys_scan_pattern(&seed, buf, sizeof(buf)), 16);
	assert_string_equal(buf, "meta-sort:file:*");
	keys_scan_pattern(&upstream, buf, sizeof(buf));
	assert_string_equal(buf, "file:*");
	keys_scan_pattern(&glob, buf, sizeof(buf));
	assert_string_equal(buf, "a\\*b\\?\\[c\\]\\\\:file:*");
	assert_int_equal(keys_scan_pattern(&glob, buf, 8), -ENAMETOOLONG);
	keys_channel(&seed, buf, sizeof(buf));
	assert_string_equal(buf, "meta-sort:file:batch");
	keys_channel(&upstream, buf, sizeof(buf));
	assert_string_equal(buf, "file:batch");
	assert_int_equal(keys_channel(&seed, buf, 20), -ENAMETOOLONG);
}

static void test_batch_good(void **state)
{
	struct key_layout kl;
	struct batch_change *c = NULL;
	size_t n = 99;
	char err[256] = "";
	const char *msg = "{\"timestamp\": 1703808000000, \"changes\": ["
	                  "{\"action\": \"add\", \"hashId\": \"aa\"},"
	                  "{\"action\": \"update\", \"hashId\": \"bb\", \"extra\": [1]},"
	                  "{\"action\": \"remove\", \"hashId\": \"cc\"}], \"future\": true}";

	keys_init(&kl, "meta-sort:", ":");
	assert_int_equal(batch_parse(&kl, msg, strlen(msg), &c, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(c[0].action, BATCH_ADD);
	assert_string_equal(c[0].id, "aa");
	assert_int_equal(c[1].action, BATCH_UPDATE);
	assert_string_equal(c[1].id, "bb");
	assert_int_equal(c[2].action, BATCH_REMOVE);
	assert_int_equal(c[2].id_len, 2);
	free(c);
	/* No changes is valid and allocates nothing. */
	c = (void *)1;
	assert_int_equal(batch_parse(&kl, "{\"changes\":[]}", 14, &c, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(c);
	assert_string_equal(batch_action_name(BATCH_REMOVE), "remove");
}

static void test_batch_malformed(void **state)
{
	struct {
		const char *msg;
		const char *reason;
	} cases[] = {
	    {"", "not JSON"},
	    {"{", "not JSON"},
	    {"not json at all", "not JSON"},
	    {"[1,2]", "expected a JSON object"},
	    {"\"changes\"", "not JSON"},
	    {"{}", "no \"changes\""},
	    {"{\"changes\": {}}", "expected an array"},
	    {"{\"changes\": null}", "expected an array"},
	    {"{\"timestamp\": \"now\", \"changes\": []}", "timestamp"},
	    {"{\"changes\": [1]}", "expected an object"},
	    {"{\"changes\": [{\"hashId\": \"a\"}]}", "no \"action\""},
	    {"{\"changes\": [{\"action\": 1, \"hashId\": \"a\"}]}", "expected a string"},
	    {"{\"changes\": [{\"action\": \"delete\", \"hashId\": \"a\"}]}", "unknown action"},
	    {"{\"changes\": [{\"action\": \"add\"}]}", "no \"hashId\""},
	    {"{\"changes\": [{\"action\": \"add\", \"hashId\": 5}]}", "expected a string"},
	    {"{\"changes\": [{\"action\": \"add\", \"hashId\": \"\"}]}", "not a valid"},
	    {"{\"changes\": [{\"action\": \"add\", \"hashId\": \"a:b\"}]}", "not a valid"},
	    {"{\"changes\": [{\"action\": \"add\", \"hashId\": \"a b\"}]}", "not a valid"},
	    {"{\"changes\": [{\"action\": \"add\", \"hashId\": \"a\\u0000\"}]}", "not JSON"},
	    {"{\"changes\": [{\"action\": \"add\", \"hashId\": \"ok\"},"
	     "{\"action\": \"nope\", \"hashId\": \"ok\"}]}",
	     "changes[1]"},
	    {"{\"changes\": [], \"changes\": []}", "not JSON"},
	};
	struct key_layout kl;

	keys_init(&kl, "meta-sort:", ":");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct batch_change *c = NULL;
		size_t n = 0;
		char err[256] = "";
		int r =
		    batch_parse(&kl, cases[i].msg, strlen(cases[i].msg), &c, &n, err, sizeof(err));

		if (r != -EINVAL || strstr(err, cases[i].reason) == NULL)
			fail_msg("%s: expected -EINVAL with \"%s\", got %d \"%s\"", cases[i].msg,
			         cases[i].reason, r, err);
		assert_null(c);
	}
}

static void test_batch_limits(void **state)
{
	struct key_layout kl;
	struct batch_change *c = NULL;
	size_t n = 0, len = BATCH_MESSAGE_MAX + 1, off;
	char err[256] = "";
	char *big = malloc(len + 64);

	keys_init(&kl, "meta-sort:", ":");
	/* Too large: refused before parsing. */
	memset(big, ' ', len);
	assert_int_equal(batch_parse(&kl, big, len, &c, &n, err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "exceeds"));
	/* Too many changes, within the byte limit. */
	off = (size_t)sprintf(big, "{\"changes\":[");
	for (int i = 0; i <= BATCH_CHANGES_MAX; i++)
		off += (size_t)sprintf(big + off, "%s1", i ? "," : "");
	off += (size_t)sprintf(big + off, "]}");
	assert_true(off <= BATCH_MESSAGE_MAX);
	assert_int_equal(batch_parse(&kl, big, off, &c, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "exceed the limit"));
	/* Deep nesting is bounded by jansson and refused, not a crash. */
	off = 0;
	for (int i = 0; i < 100000; i++)
		big[off++] = '[';
	assert_int_equal(batch_parse(&kl, big, off, &c, &n, err, sizeof(err)), -EINVAL);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys_parse),   cmocka_unit_test(test_keys_format),
	    cmocka_unit_test(test_batch_good),   cmocka_unit_test(test_batch_malformed),
	    cmocka_unit_test(test_batch_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
