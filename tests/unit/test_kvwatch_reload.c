/*
 * Unit tests of kvwatch's reload decisions (reload.c): which parts of a new
 * configuration differ from the running one, and what cannot change while
 * running.  Each case loads two real configuration files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "reload.h"

#define KV(more) \
	"runtime_dir = \"/tmp\";\nkv = { redis_url = \"redis://127.0.0.1:6379\"; " more " };\n"
#define BASE       KV("")
#define RULES(tpl) "rules = ( { name = \"all\"; template = \"" tpl "\"; } );\n"

static char dir[] = "/tmp/test_kvwatch_reload.XXXXXX";

static struct config *load(const char *text)
{
	char path[256], err[512];
	struct config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		print_error("config \"%s\": %s\n", text, err);
		fail();
	}
	return cfg;
}

static void test_reload_changes(void **state)
{
	static const struct {
		const char *cur, *next;
		unsigned expect;
	} cases[] = {
	    {BASE, BASE, 0},
	    {BASE RULES("/{title}"), BASE RULES("/{title}"), 0},
	    {BASE RULES("/{title}"), BASE RULES("/A/{title}"), RELOAD_RULES},
	    /* the built-in rules need more properties than one title */
	    {BASE RULES("/{title}"), BASE, RELOAD_RULES | RELOAD_SCHEMA | RELOAD_FETCH},
	    {BASE, BASE RULES("/{title}"), RELOAD_RULES | RELOAD_SCHEMA},
	    {BASE RULES("/{title}"), BASE RULES("/{title}/{genre}"),
	     RELOAD_RULES | RELOAD_SCHEMA | RELOAD_FETCH},
	    {BASE RULES("/{title}/{genre}"), BASE RULES("/{title}"), RELOAD_RULES | RELOAD_SCHEMA},
	    {BASE, "runtime_dir = \"/tmp\";\nkv = { redis_url = \"redis://127.0.0.1:6380\"; };\n",
	     RELOAD_SOURCE},
	    {BASE, KV("prefix = \"x:\";"), RELOAD_SOURCE},
	    {BASE, KV("command_timeout_ms = 5;"), RELOAD_SOURCE},
	    {BASE, BASE "hooks = { on_change = \"true\"; };\n", RELOAD_HOOKS},
	    {BASE, KV("refresh_interval_ms = 5000;"), RELOAD_OTHER},
	    {BASE, KV("hold_threshold_percent = 5;"), RELOAD_OTHER},
	    {BASE, BASE "state_dir = \"/var/tmp\";\n", RELOAD_OTHER},
	    {BASE, BASE "files_volume = \"/srv/media\";\n", RELOAD_SIZES},
	    {BASE, KV("measure_sizes = false;"), RELOAD_SIZES},
	    {BASE, BASE "fuse = { attr_ttl_ms = 5; };\n", 0},
	};

	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *a = load(cases[i].cur), *b = load(cases[i].next);
		unsigned got = reload_changes(a, b);

		if (got != cases[i].expect) {
			print_error("case %zu: expected changes 0x%x, got 0x%x\n", i,
			            cases[i].expect, got);
			fail();
		}
		config_free(a);
		config_free(b);
	}
}

static void test_reload_check(void **state)
{
	static const struct {
		const char *next;
		const char *error; /* NULL: accepted */
	} cases[] = {
	    {BASE RULES("/{title}"), NULL},
	    {"runtime_dir = \"/var/tmp\";\n", "runtime_dir cannot change"},
	};
	struct config *cur = load(BASE);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *next = load(cases[i].next);
		char err[512] = "";
		int r = reload_check(cur, next, err, sizeof(err));

		if (cases[i].error == NULL ? r != 0
		                           : r != -EINVAL || !strstr(err, cases[i].error)) {
			print_error("case %zu: expected %s, got %d \"%s\"\n", i,
			            cases[i].error ? cases[i].error : "accepted", r, err);
			fail();
		}
		config_free(next);
	}
	config_free(cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reload_changes),
	    cmocka_unit_test(test_reload_check),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char path[256];

	snprintf(path, sizeof(path), "%s/c.conf", dir);
	unlink(path);
	rmdir(dir);
	return r;
}
