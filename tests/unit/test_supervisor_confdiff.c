/*
 * test_supervisor_confdiff: which keys a reload sees as changed.  Each case loads
 * two configuration files and asks about one key or group: a value that only
 * moved from the defaults into the file is no change; a group prefix ("fuse.")
 * covers its keys and nothing else; a key that appears or goes is a change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "confdiff.h"

static char dir[] = "/tmp/mf-confdiff.XXXXXX";

static char *text_of(const char *body, const char *name)
{
	char path[128], err[512];
	struct config *cfg;
	char *t;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	if (config_load(path, &cfg, err, sizeof(err)) < 0)
		fail_msg("%s: expected a valid configuration, got \"%s\"", body, err);
	t = confdiff_text(cfg);
	assert_non_null(t);
	config_free(cfg);
	return t;
}

static void test_changes(void **state)
{
	static const struct {
		const char *old, *new, *prefix;
		bool want;
	} cases[] = {
	    {"", "", "uid", false},
	    {"", "uid = 1000;", "uid", false}, /* the default, now from the file */
	    {"uid = 1000;", "uid = 1001;", "uid", true},
	    {"uid = 1000;", "uid = 1001;", "gid", false},
	    {"uid = 1000;", "uid = 1001;", "fuse.", false},
	    {"", "fuse = { attr_ttl_ms = 5; };", "fuse.", true},
	    {"", "fuse = { attr_ttl_ms = 5; };", "fuse.attr_ttl_ms", true},
	    {"", "fuse = { attr_ttl_ms = 5; };", "fuse.dir_ttl_ms", false},
	    {"", "fuse = { attr_ttl_ms = 5; };", "webdav.", false},
	    {"", "fuse = { attr_ttl_ms = 5; };", "fuse", false}, /* no key is called "fuse" */
	    {"", "webdav = { listen = \"127.0.0.1:8080\"; };", "webdav.listen", true},
	    {"", "webdav = { listen = \"0.0.0.0:8080\"; };", "webdav.listen", false},
	    {"", "api = { listen = \"0.0.0.0:3001\"; };", "api.", true},
	    {"", "programs = ( { name = \"a\"; command = [\"x\"]; } );", "programs.a", true},
	    {"programs = ( { name = \"a\"; command = [\"x\"]; } );", "", "programs.a", true},
	    {"programs = ( { name = \"a\"; command = [\"x\"]; } );",
	     "programs = ( { name = \"a\"; command = [\"x\", \"-v\"]; } );", "programs.a", true},
	    {"programs = ( { name = \"a\"; command = [\"x\"]; } );",
	     "programs = ( { name = \"a\"; command = [\"x\"]; } );", "programs.a", false},
	    {"", "rules = ( { name = \"flat\"; template = \"All/{title}\"; } );", "rules", true},
	    {"", "rules = ( { name = \"flat\"; template = \"All/{title}\"; } );", "fuse.", false},
	    {"", "writer_user = \"61000\";", "writer_user", true},
	    {"", "writer_user = \"61000\";", "uid", false},
	    {"runtime_dir = \"/run/a\";", "runtime_dir = \"/run/b\";", "runtime_dir", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *a = text_of(cases[i].old, "old"), *b = text_of(cases[i].new, "new");
		bool got = confdiff_changed(a, b, cases[i].prefix);

		if (got != cases[i].want)
			fail_msg("case %zu (\"%s\" -> \"%s\", %s): expected %s, got %s", i,
			         cases[i].old, cases[i].new, cases[i].prefix,
			         cases[i].want ? "changed" : "unchanged",
			         got ? "changed" : "unchanged");
		free(a);
		free(b);
	}
}

static int setup(void **state)
{
	static const char *const vars[] = {
	    "PUID",     "PGID",     "FUSE_MOUNT_POINT",      "WEBDAV_PORT",
	    "API_PORT", "API_HOST", "META_FUSE_WRITER_USER", "META_FUSE_RUNTIME_DIR"};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/old.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/new.conf", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_changes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
