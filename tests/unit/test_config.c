/*
 * Unit tests of lib/config: defaults without a file, values from a file, the
 * environment over the file (precedence default < file < env, with the recorded
 * origins), every kind of bad input (each refused with one line naming file:line
 * or the variable), unknown keys as warnings, programs and rules wiring.
 *
 * Files are written with mkstemps() into a private temporary directory; every
 * variable the loader reads is unset before each test.
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

#include "config.h"
#include "rules.h"

/* Every variable config_load() looks at. */
static const char *const env_vars[] = {
    "META_FUSE_CONFIG",
    "META_FUSE_RUNTIME_DIR",
    "PUID",
    "PGID",
    "META_FUSE_WRITER_USER",
    "FILES_VOLUME",
    "META_SORT_WEBDAV_URL",
    "META_CORE_PATH",
    "REDIS_URL",
    "REDIS_PREFIX",
    "VFS_REFRESH_INTERVAL",
    "FUSE_MOUNT_POINT",
    "FUSE_FILE_MODE",
    "FUSE_DIR_MODE",
    "FUSE_ALLOW_OTHER",
    "WEBDAV_PORT",
    "WEBDAV_USERNAME",
    "WEBDAV_PASSWORD",
    "WEBDAV_READONLY",
    "API_HOST",
    "API_PORT",
    "FUSE_API_URL",
};

static char tmpdir[256];
static char *written[256];
static size_t written_count;

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		unsetenv(env_vars[i]);
}

static int setup(void **state)
{
	clear_env();
	return 0;
}

static int teardown(void **state)
{
	clear_env();
	for (size_t i = 0; i < written_count; i++) {
		unlink(written[i]);
		free(written[i]);
	}
	written_count = 0;
	return 0;
}

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return rmdir(tmpdir);
}

/* Write text to a new file in tmpdir; removed by teardown().  Returns its path. */
static const char *write_file(const char *suffix, const char *text)
{
	char *path;
	FILE *f;
	int fd;

	assert_true(written_count < sizeof(written) / sizeof(written[0]));
	assert_true(asprintf(&path, "%s/cfg.XXXXXX%s", tmpdir, suffix) > 0);
	fd = mkstemps(path, (int)strlen(suffix));
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	written[written_count++] = path;
	return path;
}

static const char *write_conf(const char *text)
{
	return write_file(".conf", text);
}

/* Load path, which must succeed. */
static struct config *load_ok(const char *path)
{
	struct config *cfg = NULL;
	char err[1024];
	int r;

	r = config_load(path, &cfg, err, sizeof(err));
	if (r < 0)
		fail_msg("loading %s: expected success, got %d \"%s\"", path ? path : "(default)",
		         r, err);
	assert_non_null(cfg);
	return cfg;
}

/* The line config_print() writes for key, without the newline, in buf. */
static const char *printed(const struct config *cfg, const char *key, char *buf, size_t buflen)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0, klen = strlen(key);
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	config_print(cfg, f);
	assert_int_equal(fclose(f), 0);
	buf[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0) {
			snprintf(buf, buflen, "%s", line + klen + 3);
			break;
		}
	}
	free(text);
	return buf;
}

/* Assert that config_print() shows key as "value  # origin". */
static void expect_printed(const struct config *cfg, const char *key, const char *value,
                           const char *origin)
{
	char want[512], got[512];

	snprintf(want, sizeof(want), "%s  # %s", value, origin);
	printed(cfg, key, got, sizeof(got));
	if (strcmp(want, got) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", key, want, got);
}

static void test_free_null(void **state)
{
	config_free(NULL);
}

static void test_defaults_without_file(void **state)
{
	struct config *cfg;

	if (access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		skip(); /* a real /etc/meta-fuse/meta-fuse.conf would be read */
	cfg = load_ok(NULL);
	assert_null(cfg->path);
	assert_string_equal(cfg->runtime_dir, "/run/meta-fuse");
	assert_int_equal(cfg->uid, 1000);
	assert_int_equal(cfg->gid, 1000);
	assert_string_equal(cfg->files_volume, "/files");
	assert_string_equal(cfg->source_webdav_url, "");
	assert_string_equal(cfg->kv.meta_core_path, "/meta-core");
	assert_string_equal(cfg->kv.redis_url, "");
	assert_string_equal(cfg->kv.prefix, "meta-sort:");
	assert_string_equal(cfg->kv.separator, ":");
	assert_int_equal(cfg->kv.refresh_interval_ms, 30000);
	assert_int_equal(cfg->kv.debounce_ms, 200);
	assert_int_equal(cfg->kv.hold_threshold_percent, 20);
	assert_int_equal(cfg->kv.hold_time_ms, 600000);
	assert_int_equal(cfg->kv.connect_timeout_ms, 2000);
	assert_int_equal(cfg->kv.command_timeout_ms, 10000);
	assert_true(cfg->fuse.enabled);
	assert_string_equal(cfg->fuse.mount_point, "/mnt/virtual");
	assert_int_equal(cfg->fuse.file_mode, 0644);
	assert_int_equal(cfg->fuse.dir_mode, 0755);
	assert_true(cfg->fuse.allow_other);
	assert_int_equal(cfg->fuse.attr_ttl_ms, 600000);
	assert_int_equal(cfg->fuse.dir_ttl_ms, 30000);
	assert_int_equal(cfg->fuse.read_ahead_kb, 1024);
	assert_true(cfg->webdav.enabled);
	assert_string_equal(cfg->webdav.listen.host, "0.0.0.0");
	assert_int_equal(cfg->webdav.listen.port, 8080);
	assert_string_equal(cfg->webdav.base_path, "/webdav");
	assert_string_equal(cfg->webdav.username, "metamesh");
	assert_string_equal(cfg->webdav.password, "metamesh");
	assert_true(cfg->webdav.readonly);
	assert_true(cfg->api.enabled);
	assert_string_equal(cfg->api.listen.host, "0.0.0.0");
	assert_int_equal(cfg->api.listen.port, 3000);
	assert_string_equal(cfg->hooks.on_change, "");
	assert_int_equal(cfg->hooks.debounce_ms, 5000);
	assert_null(cfg->rules_file);
	assert_non_null(cfg->rules);
	assert_true(rules_count(cfg->rules) > 0);
	assert_int_equal(cfg->program_count, 0);
	assert_int_equal(cfg->warning_count, 0);
	assert_int_equal(config_origin_of(cfg, "fuse.mount_point"), CONFIG_ORIGIN_DEFAULT);
	assert_int_equal(config_origin_of(cfg, "rules"), CONFIG_ORIGIN_DEFAULT);
	assert_int_equal(config_origin_of(cfg, "programs"), CONFIG_ORIGIN_DEFAULT);
	assert_int_equal(config_origin_of(cfg, "no.such_key"), CONFIG_ORIGIN_MAX);
	expect_printed(cfg, "webdav.password", "\"********\"", "default");
	expect_printed(cfg, "fuse.file_mode", "\"0644\"", "default");
	config_free(cfg);
}

/* config_print() output as one string; the caller frees it. */
static char *print_all(const struct config *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	config_print(cfg, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void test_shipped_file_is_the_defaults(void **state)
{
	const char *src = getenv("MF_SOURCE_DIR");
	struct config *shipped, *defaults;
	char path[512], *a, *b, *la, *lb, *sa = NULL, *sb = NULL;
	size_t keys = 0;

	snprintf(path, sizeof(path), "%s/etc/meta-fuse.conf", src ? src : "../..");
	if (access(path, R_OK) != 0)
		fail_msg("expected the shipped %s, got %s", path, strerror(errno));
	shipped = load_ok(path);
	defaults = load_ok(write_conf("# nothing\n"));
	assert_int_equal(shipped->warning_count, 0);
	assert_string_equal(shipped->path, path);

	/* Line by line: every key is in the file ("# file") with the default value. */
	a = print_all(shipped);
	b = print_all(defaults);
	la = strtok_r(a, "\n", &sa);
	lb = strtok_r(b, "\n", &sb);
	for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb)) {
		char *ca = strstr(la, "  # "), *cb = strstr(lb, "  # ");

		if (la[0] == '#' || strncmp(la, "rules", 5) == 0 || strncmp(la, "programs", 8) == 0)
			continue;
		assert_non_null(ca);
		assert_non_null(cb);
		if (strcmp(ca, "  # file") != 0 || strcmp(cb, "  # default") != 0 ||
		    ca - la != cb - lb || strncmp(la, lb, (size_t)(ca - la)) != 0)
			fail_msg("expected \"%.*s  # file\", got \"%s\"", (int)(cb - lb), lb, la);
		keys++;
	}
	assert_null(la);
	assert_null(lb);
	if (keys < 30)
		fail_msg("expected every key (30 or more), got %zu", keys);
	free(a);
	free(b);
	config_free(shipped);
	config_free(defaults);
}

static const char full_file[] =
    "runtime_dir = \"/tmp/mf-run\";\n"
    "uid = 0;\n"
    "gid = 4294967294L;\n"
    "files_volume = \"/srv/files\";\n"
    "source_webdav_url = \"https://meta-sort.local:8443/webdav\";\n"
    "kv = {\n"
    "  meta_core_path = \"/srv/meta-core\";\n"
    "  redis_url = \"redis://10.0.1.50:6379\";\n"
    "  prefix = \"\";\n"
    "  separator = \"/\";\n"
    "  refresh_interval_ms = 100;\n"
    "  debounce_ms = 0;\n"
    "  hold_threshold_percent = 100;\n"
    "  hold_time_ms = 0;\n"
    "  connect_timeout_ms = 1;\n"
    "  command_timeout_ms = 3600000;\n"
    "};\n"
    "fuse = {\n"
    "  enabled = false;\n"
    "  mount_point = \"/mnt/x\";\n"
    "  file_mode = \"0444\";\n"
    "  dir_mode = \"7777\";\n"
    "  allow_other = false;\n"
    "  attr_ttl_ms = 0;\n"
    "  dir_ttl_ms = 86400000;\n"
    "  read_ahead_kb = 65536;\n"
    "};\n"
    "webdav = {\n"
    "  enabled = false;\n"
    "  listen = \"[::1]:1\";\n"
    "  base_path = \"/dav/\";\n"
    "  username = \"\";\n"
    "  password = \"$6$salt$hash\";\n"
    "  readonly = true;\n"
    "};\n"
    "api = { enabled = false; listen = \"localhost:65535\"; };\n"
    "hooks = { on_change = \"/usr/local/bin/notify-plex\"; debounce_ms = 0; };\n";

static void test_file_values(void **state)
{
	struct config *cfg = load_ok(write_conf(full_file));

	assert_non_null(cfg->path);
	assert_string_equal(cfg->runtime_dir, "/tmp/mf-run");
	assert_int_equal(cfg->uid, 0);
	assert_int_equal(cfg->gid, 4294967294u);
	assert_string_equal(cfg->files_volume, "/srv/files");
	assert_string_equal(cfg->source_webdav_url, "https://meta-sort.local:8443/webdav");
	assert_string_equal(cfg->kv.meta_core_path, "/srv/meta-core");
	assert_string_equal(cfg->kv.redis_url, "redis://10.0.1.50:6379");
	assert_string_equal(cfg->kv.prefix, "");
	assert_string_equal(cfg->kv.separator, "/");
	assert_int_equal(cfg->kv.refresh_interval_ms, 100);
	assert_int_equal(cfg->kv.debounce_ms, 0);
	assert_int_equal(cfg->kv.hold_threshold_percent, 100);
	assert_int_equal(cfg->kv.hold_time_ms, 0);
	assert_int_equal(cfg->kv.connect_timeout_ms, 1);
	assert_int_equal(cfg->kv.command_timeout_ms, 3600000);
	assert_false(cfg->fuse.enabled);
	assert_string_equal(cfg->fuse.mount_point, "/mnt/x");
	assert_int_equal(cfg->fuse.file_mode, 0444);
	assert_int_equal(cfg->fuse.dir_mode, 07777);
	assert_false(cfg->fuse.allow_other);
	assert_int_equal(cfg->fuse.attr_ttl_ms, 0);
	assert_int_equal(cfg->fuse.dir_ttl_ms, 86400000);
	assert_int_equal(cfg->fuse.read_ahead_kb, 65536);
	assert_false(cfg->webdav.enabled);
	assert_string_equal(cfg->webdav.listen.host, "::1");
	assert_int_equal(cfg->webdav.listen.port, 1);
	assert_string_equal(cfg->webdav.base_path, "/dav"); /* trailing '/' dropped */
	assert_string_equal(cfg->webdav.username, "");
	assert_string_equal(cfg->webdav.password, "$6$salt$hash");
	assert_false(cfg->api.enabled);
	assert_string_equal(cfg->api.listen.host, "localhost");
	assert_int_equal(cfg->api.listen.port, 65535);
	assert_string_equal(cfg->hooks.on_change, "/usr/local/bin/notify-plex");
	assert_int_equal(cfg->hooks.debounce_ms, 0);
	assert_int_equal(cfg->warning_count, 0);

	expect_printed(cfg, "webdav.listen", "\"[::1]:1\"", "file");
	expect_printed(cfg, "webdav.password", "\"********\"", "file");
	expect_printed(cfg, "webdav.username", "\"\"", "file");
	expect_printed(cfg, "fuse.dir_mode", "\"7777\"", "file");
	expect_printed(cfg, "kv.redis_url", "\"redis://10.0.1.50:6379\"", "file");
	expect_printed(cfg, "uid", "0", "file");
	assert_int_equal(config_origin_of(cfg, "kv.hold_time_ms"), CONFIG_ORIGIN_FILE);
	config_free(cfg);
}

/* Precedence: default < file < environment, and each origin recorded. */
static void test_env_over_file(void **state)
{
	const char *path = write_conf("files_volume = \"/from/file\";\n"
	                              "kv = { prefix = \"file:\"; debounce_ms = 50; };\n"
	                              "fuse = { file_mode = \"600\"; allow_other = false; };\n"
	                              "webdav = { listen = \"127.0.0.1:81\"; };\n"
	                              "api = { listen = \"127.0.0.1:82\"; };\n");
	struct {
		const char *var, *value;
	} env[] = {
	    {"FILES_VOLUME", "/from/env"},
	    {"FUSE_FILE_MODE", "0640"},
	    {"FUSE_ALLOW_OTHER", "YES"},
	    {"WEBDAV_PORT", "9090"},
	    {"API_HOST", "::"},
	    {"PUID", "4242"},
	    {"REDIS_URL", "unix:///run/redis.sock"},
	    {"WEBDAV_PASSWORD", "hunter2"},
	    {"VFS_REFRESH_INTERVAL", "5000"},
	    {"REDIS_PREFIX", ""}, /* empty: as if unset, the file's value stays */
	};
	struct {
		const char *key, *value, *origin;
	} want[] = {
	    {"files_volume", "\"/from/env\"", "env (FILES_VOLUME)"},
	    {"fuse.file_mode", "\"0640\"", "env (FUSE_FILE_MODE)"},
	    {"fuse.allow_other", "true", "env (FUSE_ALLOW_OTHER)"},
	    {"webdav.listen", "\"127.0.0.1:9090\"", "env (WEBDAV_PORT)"},
	    {"api.listen", "\"[::]:82\"", "env (API_HOST)"},
	    {"uid", "4242", "env (PUID)"},
	    {"gid", "1000", "default"},
	    {"kv.redis_url", "\"unix:///run/redis.sock\"", "env (REDIS_URL)"},
	    {"webdav.password", "\"********\"", "env (WEBDAV_PASSWORD)"},
	    {"kv.refresh_interval_ms", "5000", "env (VFS_REFRESH_INTERVAL)"},
	    {"kv.prefix", "\"file:\"", "file"},
	    {"kv.debounce_ms", "50", "file"},
	    {"fuse.dir_mode", "\"0755\"", "default"},
	    {"runtime_dir", "\"/run/meta-fuse\"", "default"},
	};
	struct config *cfg;
	char text[256];

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		setenv(env[i].var, env[i].value, 1);
	cfg = load_ok(path);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		expect_printed(cfg, want[i].key, want[i].value, want[i].origin);
	assert_string_equal(cfg->webdav.password, "hunter2");
	assert_int_equal(config_origin_of(cfg, "files_volume"), CONFIG_ORIGIN_ENV);
	assert_int_equal(config_origin_of(cfg, "kv.prefix"), CONFIG_ORIGIN_FILE);
	assert_int_equal(config_origin_of(cfg, "gid"), CONFIG_ORIGIN_DEFAULT);
	assert_int_equal(cfg->webdav.listen.port, 9090);
	assert_string_equal(cfg->webdav.listen.host, "127.0.0.1");
	assert_string_equal(cfg->api.listen.host, "::");
	assert_int_equal(cfg->api.listen.port, 82);

	/* The password never reaches the printed configuration. */
	{
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		config_print(cfg, f);
		fclose(f);
		if (strstr(out, "hunter2"))
			fail_msg("expected the password masked, got it in the output");
		free(out);
	}
	config_free(cfg);

	/* Both parts of api.listen from the environment. */
	setenv("API_HOST", "[::1]", 1);
	setenv("API_PORT", "3001", 1);
	cfg = load_ok(path);
	expect_printed(cfg, "api.listen", "\"[::1]:3001\"", "env (API_HOST, API_PORT)");
	assert_int_equal(config_listen_format(&cfg->api.listen, text, sizeof(text)), 10);
	assert_string_equal(text, "[::1]:3001");
	assert_int_equal(config_listen_format(&cfg->api.listen, text, 4), -ENOSPC);
	config_free(cfg);
}

/* Credentials inside URLs are masked in the output and in error messages. */
static void test_url_credentials_masked(void **state)
{
	struct {
		const char *url, *printed;
	} ok[] = {
	    {"redis://:s3cret@10.0.0.1:6379/2", "\"redis://:********@10.0.0.1:6379/2\""},
	    {"redis://s3cret@host", "\"redis://********@host\""},
	    {"redis://user:s3cret@[::1]:6379", "\"redis://user:********@[::1]:6379\""},
	    {"unix://:s3cret@/run/redis.sock?db=1", "\"unix://:********@/run/redis.sock?db=1\""},
	    {"redis://host:6379", "\"redis://host:6379\""},
	};
	const char *path = write_conf("");
	char err[1024];
	struct config *cfg;
	int r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		setenv("REDIS_URL", ok[i].url, 1);
		cfg = load_ok(path);
		assert_string_equal(cfg->kv.redis_url, ok[i].url);
		expect_printed(cfg, "kv.redis_url", ok[i].printed, "env (REDIS_URL)");
		config_free(cfg);
	}
	setenv("REDIS_URL", "http://:s3cret@host", 1);
	cfg = NULL;
	r = config_load(path, &cfg, err, sizeof(err));
	if (r != -EINVAL || strstr(err, "s3cret") || !strstr(err, "\"http://:********@host\""))
		fail_msg("expected -EINVAL without the password, got %d \"%s\"", r, err);
	unsetenv("REDIS_URL");

	setenv("META_SORT_WEBDAV_URL", "https://dav:s3cret@meta-sort:8443/webdav", 1);
	cfg = load_ok(path);
	expect_printed(cfg, "source_webdav_url", "\"https://dav:********@meta-sort:8443/webdav\"",
	               "env (META_SORT_WEBDAV_URL)");
	config_free(cfg);
}

static void test_env_booleans(void **state)
{
	struct {
		const char *text;
		bool want;
	} cases[] = {
	    {"true", true},   {"TRUE", true},   {"1", true},  {"yes", true}, {"Yes", true},
	    {"false", false}, {"False", false}, {"0", false}, {"no", false}, {"NO", false},
	};
	const char *path = write_conf("");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg;

		setenv("FUSE_ALLOW_OTHER", cases[i].text, 1);
		cfg = load_ok(path);
		if (cfg->fuse.allow_other != cases[i].want)
			fail_msg("FUSE_ALLOW_OTHER=%s: expected %d, got %d", cases[i].text,
			         cases[i].want, cfg->fuse.allow_other);
		config_free(cfg);
	}
	setenv("WEBDAV_READONLY", "Yes", 1);
	config_free(load_ok(path));
}

/* uid and gid take names as well as numbers; writer_user stays text. */
static void test_user_names(void **state)
{
	static const struct {
		const char *file, *var, *value;
		uid_t uid;
		gid_t gid;
		const char *writer;
	} cases[] = {
	    {"uid = \"root\";\ngid = \"root\";\n", NULL, NULL, 0, 0, "meta-fuse"},
	    {"uid = 61001;\ngid = 61002;\n", NULL, NULL, 61001, 61002, "meta-fuse"},
	    {"", "PUID", "root", 0, 1000, "meta-fuse"},
	    {"", "PGID", "root", 1000, 0, "meta-fuse"},
	    {"uid = \"0\";\n", NULL, NULL, 0, 1000, "meta-fuse"},
	    {"writer_user = \"61000\";\n", NULL, NULL, 1000, 1000, "61000"},
	    {"", "META_FUSE_WRITER_USER", "no-such-user-is-fine-here", 1000, 1000,
	     "no-such-user-is-fine-here"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg;

		clear_env();
		if (cases[i].var)
			setenv(cases[i].var, cases[i].value, 1);
		cfg = load_ok(write_conf(cases[i].file));
		if (cfg->uid != cases[i].uid || cfg->gid != cases[i].gid ||
		    strcmp(cfg->writer_user, cases[i].writer) != 0)
			fail_msg("case %zu: expected uid %u gid %u writer \"%s\", got %u %u \"%s\"",
			         i, (unsigned)cases[i].uid, (unsigned)cases[i].gid, cases[i].writer,
			         (unsigned)cfg->uid, (unsigned)cfg->gid, cfg->writer_user);
		config_free(cfg);
	}
	if (!config_is_env_var("PUID") || !config_is_env_var("WEBDAV_PORT") ||
	    !config_is_env_var("META_FUSE_CONFIG") || config_is_env_var("PATH"))
		fail_msg(
		    "config_is_env_var: expected PUID, WEBDAV_PORT, META_FUSE_CONFIG yes, PATH no");
}

static void test_modes_and_listen(void **state)
{
	struct {
		const char *file;
		mode_t file_mode;
		const char *host;
		uint16_t port;
	} cases[] = {
	    {"fuse = { file_mode = \"0\"; }; webdav = { listen = \"[::]:8080\"; };", 0, "::", 8080},
	    {"fuse = { file_mode = \"00644\"; }; webdav = { listen = \"10.1.2.3:443\"; };", 0644,
	     "10.1.2.3", 443},
	    {"fuse = { file_mode = \"4755\"; }; webdav = { listen = \"my-host.lan:80\"; };", 04755,
	     "my-host.lan", 80},
	    {"fuse = { file_mode = \"7\"; }; webdav = { listen = \"[fe80::1]:65535\"; };", 07,
	     "fe80::1", 65535},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = load_ok(write_conf(cases[i].file));

		if (cfg->fuse.file_mode != cases[i].file_mode ||
		    strcmp(cfg->webdav.listen.host, cases[i].host) != 0 ||
		    cfg->webdav.listen.port != cases[i].port)
			fail_msg("case %zu: expected %o %s %u, got %o %s %u", i,
			         (unsigned)cases[i].file_mode, cases[i].host, cases[i].port,
			         (unsigned)cfg->fuse.file_mode, cfg->webdav.listen.host,
			         cfg->webdav.listen.port);
		config_free(cfg);
	}
}

/* A bad input: the file text (NULL: no file) and/or one variable. */
struct bad_case {
	const char *file;
	const char *var, *value;
	const char *want; /* in the message; "@N" at the start means "<file>:N: " */
};

static const struct bad_case bad_cases[] = {
    /* Syntax errors carry the line. */
    {"fuse = {\n  allow_other = true\n};\nx = ;\n", NULL, NULL, "@4syntax error"},
    {"kv = {\n  prefix = ;\n};\n", NULL, NULL, "@2"},
    {"a = 1;\na = 2;\n", NULL, NULL, "@2"},
    /* Wrong type, one case per type class. */
    {"\nfuse = {\n  allow_other = \"yes\";\n};\n", NULL, NULL,
     "@3fuse.allow_other: expected a boolean (true or false), got a string"},
    {"kv = { debounce_ms = \"200\"; };", NULL, NULL,
     "@1kv.debounce_ms: expected an integer, got a string"},
    {"kv = { debounce_ms = 2.5; };", NULL, NULL,
     "@1kv.debounce_ms: expected an integer, got a floating-point number"},
    {"kv = { prefix = 5; };", NULL, NULL, "@1kv.prefix: expected a string, got an integer"},
    {"runtime_dir = true;", NULL, NULL,
     "@1runtime_dir: expected an absolute path string, got a boolean"},
    {"fuse = { file_mode = 644; };", NULL, NULL,
     "@1fuse.file_mode: expected an octal mode string such as \"644\", got an integer"},
    {"webdav = { listen = 8080; };", NULL, NULL,
     "@1webdav.listen: expected a \"host:port\" string, got an integer"},
    {"kv = { redis_url = ( \"redis://x\" ); };", NULL, NULL,
     "@1kv.redis_url: expected a string, got a list"},
    {"webdav = { password = 1234; };", NULL, NULL,
     "@1webdav.password: expected a string, got an integer"},
    {"kv = 5;", NULL, NULL, "@1kv: expected a group"},
    {"fuse = ( 1 );", NULL, NULL, "@1fuse: expected a group"},
    /* Ports. */
    {"webdav = { listen = \"0.0.0.0:0\"; };", NULL, NULL, "@1webdav.listen: port \"0\""},
    {"api = { listen = \"0.0.0.0:70000\"; };", NULL, NULL, "@1api.listen: port \"70000\""},
    {NULL, "WEBDAV_PORT", "0", "WEBDAV_PORT (port of webdav.listen): port \"0\""},
    {NULL, "WEBDAV_PORT", "70000", "WEBDAV_PORT (port of webdav.listen): port \"70000\""},
    {NULL, "API_PORT", "http", "API_PORT (port of api.listen): port \"http\""},
    {"webdav = { listen = \"0.0.0.0\"; };", NULL, NULL, "@1webdav.listen: \"0.0.0.0\" has no port"},
    {"webdav = { listen = \":::8080\"; };", NULL, NULL, "in brackets"},
    {"webdav = { listen = \"[::1]8080\"; };", NULL, NULL, "@1webdav.listen"},
    {"webdav = { listen = \"[zz]:80\"; };", NULL, NULL, "\"zz\" is not an IPv6 address"},
    {"webdav = { listen = \"999.1.1.1:80\"; };", NULL, NULL, "not an IPv4 address"},
    {"webdav = { listen = \":80\"; };", NULL, NULL, "the host is empty"},
    {NULL, "API_HOST", "bad host!", "API_HOST (host of api.listen): \"bad host!\""},
    /* Modes. */
    {"fuse = { file_mode = \"8x4\"; };", NULL, NULL,
     "@1fuse.file_mode: \"8x4\" is not an octal mode"},
    {"fuse = { dir_mode = \"99999\"; };", NULL, NULL,
     "@1fuse.dir_mode: \"99999\" is not an octal mode"},
    {"fuse = { dir_mode = \"17777\"; };", NULL, NULL, "@1fuse.dir_mode: \"17777\" is out of range"},
    {"fuse = { dir_mode = \"\"; };", NULL, NULL, "@1fuse.dir_mode: empty value"},
    {NULL, "FUSE_DIR_MODE", "rwxr-xr-x", "FUSE_DIR_MODE (fuse.dir_mode): \"rwxr-xr-x\""},
    {NULL, "FUSE_FILE_MODE", "-644", "FUSE_FILE_MODE (fuse.file_mode)"},
    /* Paths that must be absolute. */
    {"runtime_dir = \"run/meta-fuse\";", NULL, NULL,
     "@1runtime_dir: \"run/meta-fuse\" is not an absolute path"},
    {"kv = { meta_core_path = \"meta-core\"; };", NULL, NULL,
     "@1kv.meta_core_path: \"meta-core\" is not an absolute path"},
    {"fuse = { mount_point = \"\"; };", NULL, NULL, "@1fuse.mount_point: \"\" is not an absolute"},
    {NULL, "FILES_VOLUME", "files", "FILES_VOLUME (files_volume): \"files\" is not an absolute"},
    {NULL, "FUSE_MOUNT_POINT", "./mnt", "FUSE_MOUNT_POINT (fuse.mount_point)"},
    {NULL, "META_FUSE_RUNTIME_DIR", "run", "META_FUSE_RUNTIME_DIR (runtime_dir)"},
    /* URLs. */
    {"kv = { redis_url = \"http://10.0.0.1:6379\"; };", NULL, NULL,
     "@1kv.redis_url: \"http://10.0.0.1:6379\" is not a Redis URL"},
    {"kv = { redis_url = \"redis://\"; };", NULL, NULL, "@1kv.redis_url: \"redis://\" has no host"},
    {"kv = { redis_url = \"unix://run/redis.sock\"; };", NULL, NULL, "needs an absolute path"},
    /* refused as kvwatch refuses them: one parser (lib/redis_url.c) */
    {"kv = { redis_url = \"redis://h:99999\"; };", NULL, NULL,
     "@1kv.redis_url: \"redis://h:99999\": "},
    {"kv = { redis_url = \"redis://h/abc\"; };", NULL, NULL,
     "@1kv.redis_url: \"redis://h/abc\": invalid database number"},
    {NULL, "REDIS_URL", "10.0.0.1:6379", "REDIS_URL (kv.redis_url): \"10.0.0.1:6379\""},
    {"source_webdav_url = \"ftp://x/\";", NULL, NULL,
     "@1source_webdav_url: \"ftp://x/\" is not an http:// or https:// URL"},
    {"source_webdav_url = \"https://\";", NULL, NULL, "has no host"},
    {NULL, "META_SORT_WEBDAV_URL", "meta-sort:8080", "META_SORT_WEBDAV_URL (source_webdav_url)"},
    /* Read-only, from the file and from the environment. */
    {"webdav = {\n  readonly = false;\n};\n", NULL, NULL,
     "@2webdav.readonly: meta-fuse is a read-only service"},
    {NULL, "WEBDAV_READONLY", "false",
     "WEBDAV_READONLY (webdav.readonly): meta-fuse is a "
     "read-only service"},
    {NULL, "WEBDAV_READONLY", "0", "set it to true"},
    /* Bad environment values name the variable. */
    {NULL, "FUSE_ALLOW_OTHER", "maybe",
     "FUSE_ALLOW_OTHER (fuse.allow_other): \"maybe\" is not a boolean"},
    {NULL, "WEBDAV_READONLY", "on", "WEBDAV_READONLY (webdav.readonly): \"on\" is not a boolean"},
    {NULL, "PUID", "abc", "PUID (uid): user \"abc\" does not exist"},
    {NULL, "PUID", "-1", "PUID (uid): user \"-1\" does not exist"},
    {NULL, "PGID", "no-such-group-mf", "PGID (gid): group \"no-such-group-mf\" does not exist"},
    {"uid = \"no-such-user-mf\";", NULL, NULL, "@1uid: user \"no-such-user-mf\" does not exist"},
    {"uid = \"\";", NULL, NULL, "@1uid: empty value; expected a number or a user name"},
    {"writer_user = \"\";", NULL, NULL, "@1writer_user: must not be empty"},
    {NULL, "PGID", "4294967296", "PGID (gid): 4294967296 is out of range"},
    {NULL, "PGID", "99999999999999999999999", "PGID (gid)"},
    {NULL, "VFS_REFRESH_INTERVAL", "10",
     "VFS_REFRESH_INTERVAL (kv.refresh_interval_ms): 10 is "
     "out of range (100-86400000)"},
    /* Ranges and other per-key checks. */
    {"kv = { hold_threshold_percent = 101; };", NULL, NULL,
     "@1kv.hold_threshold_percent: 101 is out of range (0-100)"},
    {"uid = -1;", NULL, NULL, "@1uid: -1 is out of range"},
    {"gid = 4294967295L;", NULL, NULL, "@1gid: 4294967295 is out of range"},
    {"gid = 4294967294;", NULL, NULL, "@1gid: -2 is out of range (0-4294967294); write"},
    {"fuse = { read_ahead_kb = 65537; };", NULL, NULL, "@1fuse.read_ahead_kb"},
    {"kv = { connect_timeout_ms = 0; };", NULL, NULL, "@1kv.connect_timeout_ms"},
    {"kv = { separator = \"\"; };", NULL, NULL, "@1kv.separator: must not be empty"},
    {"webdav = { base_path = \"webdav\"; };", NULL, NULL,
     "@1webdav.base_path: \"webdav\" must start with '/'"},
    {"webdav = { base_path = \"/a//b\"; };", NULL, NULL, "empty segment"},
    {"webdav = { base_path = \"/a/../b\"; };", NULL, NULL, "\"..\" segment"},
    {"webdav = { base_path = \"/a b\"; };", NULL, NULL, "not allowed"},
    /* rules and rules_file. */
    {"rules = ();\n\nrules_file = \"x.conf\";\n", NULL, NULL,
     "@3rules_file: \"rules\" is set as well (line 1)"},
    {"rules = 5;", NULL, NULL, "@1rules: expected a list of rule groups"},
    {"rules_file = 5;", NULL, NULL, "@1rules_file: expected a path string, got an integer"},
    {"rules_file = \"\";", NULL, NULL, "@1rules_file: is empty"},
    /* programs. */
    {"programs = 5;", NULL, NULL, "@1programs: expected a list of groups"},
    {"programs = ( 5 );", NULL, NULL, "@1programs[0]: expected a group"},
    {"programs = ( { command = [\"x\"]; } );", NULL, NULL, "@1programs[0]: has no name"},
    {"programs = ( { name = 5; command = [\"x\"]; } );", NULL, NULL,
     "@1programs[0]: name: expected a string"},
    {"programs = ( { name = \"Nginx\"; command = [\"x\"]; } );", NULL, NULL,
     "@1programs[0]: name \"Nginx\" is not"},
    {"programs = ( { name = \"\"; command = [\"x\"]; } );", NULL, NULL, "name \"\" is not"},
    {"programs = ( { name = \"fused\"; command = [\"x\"]; } );", NULL, NULL,
     "@1program \"fused\": the name is taken"},
    {"programs = ( { name = \"a\"; } );", NULL, NULL, "@1program \"a\": has no command"},
    {"programs = ( { name = \"a\"; command = \"nginx\"; } );", NULL, NULL,
     "@1program \"a\": command: expected a list of strings, got a string"},
    {"programs = ( { name = \"a\"; command = []; } );", NULL, NULL, "command is empty"},
    {"programs = ( { name = \"a\"; command = ( \"x\", 1 ); } );", NULL, NULL,
     "command[1]: expected a string, got an integer"},
    {"programs = ( { name = \"a\"; command = [ \"\" ]; } );", NULL, NULL,
     "the program to run is empty"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; user = 5; } );", NULL, NULL,
     "@1program \"a\": user: expected a user name or a number as a string, got an integer"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; user = \"\"; } );", NULL, NULL,
     "@1program \"a\": user: must not be empty"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; environment = \"A=1\"; } );", NULL, NULL,
     "@1program \"a\": environment: expected a list"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; environment = [ \"A\" ]; } );", NULL, NULL,
     "@1program \"a\": environment[0]: expected a \"NAME=value\" string"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; environment = [ \"=1\" ]; } );", NULL, NULL,
     "environment[0]: expected a \"NAME=value\" string"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; autorestart = 1; } );", NULL, NULL,
     "@1program \"a\": autorestart: expected true or false, got an integer"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; stop_timeout_ms = -1; } );", NULL, NULL,
     "@1program \"a\": stop_timeout_ms: expected an integer from 0 to 3600000"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; stop_timeout_ms = \"5\"; } );", NULL, NULL,
     "stop_timeout_ms: expected an integer"},
    {"programs = (\n { name = \"a\"; command = [\"x\"]; },\n { name = \"a\"; command = [\"y\"]; "
     "}\n);",
     NULL, NULL, "@3programs: program \"a\" is defined twice"},
    /* The start order of programs. */
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = \"apid\"; } );", NULL, NULL,
     "@1program \"a\": start_after: expected a list of worker or program names, got a "
     "string"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = [ 5 ]; } );", NULL, NULL,
     "@1program \"a\": start_after[0]: expected the name of a worker or a program"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = [ \"\" ]; } );", NULL, NULL,
     "start_after[0]: expected the name of a worker or a program"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = [ \"../b\" ]; } );", NULL, NULL,
     "start_after[0]: expected the name of a worker or a program"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = [ \"a\" ]; } );", NULL, NULL,
     "@1program \"a\": start_after: the program names itself"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = [ \"nosuch\" ]; } );", NULL,
     NULL, "program \"a\": start_after: \"nosuch\" is neither a worker nor a program"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_after = [ \"b\" ]; },\n"
     "  { name = \"b\"; command = [\"x\"]; start_after = [ \"c\" ]; },\n"
     "  { name = \"c\"; command = [\"x\"]; start_after = [ \"apid\", \"a\" ]; } );",
     NULL, NULL, "start_after: a cycle, it waits for itself"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_delay_ms = -1; } );", NULL, NULL,
     "@1program \"a\": start_delay_ms: expected an integer from 0 to 3600000"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_delay_ms = 3600001; } );", NULL, NULL,
     "start_delay_ms: expected an integer from 0 to 3600000"},
    {"programs = ( { name = \"a\"; command = [\"x\"]; start_delay_ms = 1.5; } );", NULL, NULL,
     "start_delay_ms: expected an integer from 0 to 3600000"},
};

static void test_bad_inputs(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *path = write_conf(c->file ? c->file : "");
		struct config *cfg = (struct config *)0x1; /* must stay untouched */
		char want[512], err[1024];
		const char *w = c->want;
		int r;

		if (w[0] == '@') {
			char *end;
			long line = strtol(w + 1, &end, 10);

			snprintf(want, sizeof(want), "%s:%ld: %s", path, line, end);
		} else {
			snprintf(want, sizeof(want), "%s", w);
		}
		clear_env();
		if (c->var)
			setenv(c->var, c->value, 1);
		memset(err, 0, sizeof(err));
		r = config_load(path, &cfg, err, sizeof(err));
		if (r == 0)
			config_free(cfg);
		if (r != -EINVAL || !strstr(err, want) || strchr(err, '\n') ||
		    cfg != (struct config *)0x1)
			fail_msg("case %zu (%s%s%s): expected -EINVAL \"...%s...\", got %d \"%s\"",
			         i, c->var ? c->var : "file", c->var ? "=" : "",
			         c->var ? c->value : "", want, r, err);
	}
}

static void test_missing_files(void **state)
{
	struct config *cfg = NULL;
	char path[512], err[512];
	int r;

	snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmpdir);
	r = config_load(path, &cfg, err, sizeof(err));
	if (r != -ENOENT || !strstr(err, path) || !strstr(err, "No such file"))
		fail_msg("expected -ENOENT naming %s, got %d \"%s\"", path, r, err);
	assert_null(cfg);

	/* META_FUSE_CONFIG names a file too: missing is an error, not "defaults". */
	setenv("META_FUSE_CONFIG", path, 1);
	assert_string_equal(config_default_path(), path);
	r = config_load(NULL, &cfg, err, sizeof(err));
	if (r != -ENOENT || !strstr(err, path))
		fail_msg("META_FUSE_CONFIG: expected -ENOENT naming %s, got %d \"%s\"", path, r,
		         err);
	assert_null(cfg);

	/* ... and an existing one is read when no path is given. */
	setenv("META_FUSE_CONFIG", write_conf("uid = 7;\n"), 1);
	cfg = load_ok(NULL);
	assert_int_equal(cfg->uid, 7);
	assert_string_equal(cfg->path, getenv("META_FUSE_CONFIG"));
	config_free(cfg);

	unsetenv("META_FUSE_CONFIG");
	assert_string_equal(config_default_path(), CONFIG_DEFAULT_PATH);

	/* A directory is not a configuration file. */
	cfg = NULL;
	r = config_load(tmpdir, &cfg, err, sizeof(err));
	if (r >= 0 || !strstr(err, "not a regular file"))
		fail_msg("directory: expected an error, got %d \"%s\"", r, err);
	assert_null(cfg);
}

static void test_unknown_keys_warn(void **state)
{
	const char *path =
	    write_conf("fuse = {\n"
	               "  foo = 1;\n"
	               "  mount_point = \"/mnt/ok\";\n"
	               "  deeper = { x = 1; };\n"
	               "};\n"
	               "nonsense = \"x\";\n"
	               "programs = ( { name = \"p\"; command = [\"true\"]; nice = 1; } );\n");
	const char *want[] = {
	    ":2: unknown key \"fuse.foo\", ignoring",
	    ":4: unknown key \"fuse.deeper\", ignoring",
	    ":6: unknown key \"nonsense\", ignoring",
	    ":7: unknown key \"programs[0].nice\", ignoring",
	    "FUSE_API_URL is set but ignored",
	};
	struct config *cfg;

	setenv("FUSE_API_URL", "http://localhost:3000", 1);
	cfg = load_ok(path);
	assert_string_equal(cfg->fuse.mount_point, "/mnt/ok");
	if (cfg->warning_count != sizeof(want) / sizeof(want[0]))
		fail_msg("expected %zu warnings, got %zu", sizeof(want) / sizeof(want[0]),
		         cfg->warning_count);
	for (size_t i = 0; i < cfg->warning_count; i++) {
		if (!strstr(cfg->warnings[i], want[i]))
			fail_msg("warning %zu: expected \"...%s\", got \"%s\"", i, want[i],
			         cfg->warnings[i]);
		if (i < 4 && strncmp(cfg->warnings[i], path, strlen(path)) != 0)
			fail_msg("warning %zu: expected it to start with %s, got \"%s\"", i, path,
			         cfg->warnings[i]);
	}
	config_free(cfg);
}

static void test_programs(void **state)
{
	struct config *cfg = load_ok(write_conf(
	    "programs = (\n"
	    "  { name = \"nginx\"; command = [ \"nginx\", \"-g\", \"daemon off;\" ]; },\n"
	    "  { name = \"tail_log-2\"; command = ( \"/usr/bin/tail\", \"-F\", \"/x\" ); }\n"
	    ");\n"));

	assert_int_equal(cfg->program_count, 2);
	assert_string_equal(cfg->programs[0].name, "nginx");
	assert_string_equal(cfg->programs[0].argv[0], "nginx");
	assert_string_equal(cfg->programs[0].argv[2], "daemon off;");
	assert_null(cfg->programs[0].argv[3]);
	assert_string_equal(cfg->programs[1].name, "tail_log-2");
	assert_string_equal(cfg->programs[1].argv[1], "-F");
	assert_null(cfg->programs[1].argv[3]);
	assert_int_equal(config_origin_of(cfg, "programs"), CONFIG_ORIGIN_FILE);
	expect_printed(cfg, "programs.nginx", "[ \"nginx\", \"-g\", \"daemon off;\" ]", "file");
	/* The optional settings keep their defaults. */
	assert_null(cfg->programs[0].user);
	assert_null(cfg->programs[0].env);
	assert_true(cfg->programs[0].autorestart);
	assert_int_equal(cfg->programs[0].stop_timeout_ms, 10000);
	config_free(cfg);

	cfg = load_ok(write_conf("programs = ( { name = \"web\"; command = [ \"nginx\" ];\n"
	                         "  user = \"www-data\"; environment = [ \"A=1\", \"B=x=y\" ];\n"
	                         "  autorestart = false; stop_timeout_ms = 2500; } );\n"));
	assert_string_equal(cfg->programs[0].user, "www-data");
	assert_string_equal(cfg->programs[0].env[0], "A=1");
	assert_string_equal(cfg->programs[0].env[1], "B=x=y");
	assert_null(cfg->programs[0].env[2]);
	assert_false(cfg->programs[0].autorestart);
	assert_int_equal(cfg->programs[0].stop_timeout_ms, 2500);
	expect_printed(cfg, "programs.web.user", "\"www-data\"", "file");
	expect_printed(cfg, "programs.web.environment", "[ \"A=1\", \"B=x=y\" ]", "file");
	expect_printed(cfg, "programs.web.autorestart", "false", "file");
	expect_printed(cfg, "programs.web.stop_timeout_ms", "2500", "file");
	config_free(cfg);

	/* The start order: workers and programs, in any order of the list; no cycle. */
	cfg = load_ok(write_conf("programs = (\n"
	                         "  { name = \"b\"; command = [ \"x\" ]; start_after = [ \"a\", "
	                         "\"apid\" ]; start_delay_ms = 250; },\n"
	                         "  { name = \"a\"; command = [ \"x\" ]; start_after = [ \"davd\" "
	                         "]; },\n"
	                         "  { name = \"c\"; command = [ \"x\" ]; start_after = [ \"a\", "
	                         "\"b\" ]; } );\n"));
	assert_string_equal(cfg->programs[0].start_after[0], "a");
	assert_string_equal(cfg->programs[0].start_after[1], "apid");
	assert_null(cfg->programs[0].start_after[2]);
	assert_int_equal(cfg->programs[0].start_delay_ms, 250);
	assert_null(cfg->programs[2].start_after[2]);
	assert_int_equal(cfg->programs[1].start_delay_ms, 0);
	expect_printed(cfg, "programs.b.start_after", "[ \"a\", \"apid\" ]", "file");
	expect_printed(cfg, "programs.b.start_delay_ms", "250", "file");
	config_free(cfg);

	/* At most 256 programs (the start order's walk has a bound). */
	for (int count = 256; count <= 257; count++) {
		static char text[256 * 64 + 64];
		char err[1024] = "";
		size_t len = (size_t)snprintf(text, sizeof(text), "programs = (");
		int r;

		for (int i = 0; i < count; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
			                        "%s{ name = \"p%d\"; command = [ \"x\" ]; }",
			                        i ? "," : "", i);
		snprintf(text + len, sizeof(text) - len, ");\n");
		cfg = NULL;
		r = config_load(write_conf(text), &cfg, err, sizeof(err));
		if (count == 256 && r != 0)
			fail_msg("256 programs: expected 0, got %d \"%s\"", r, err);
		if (count == 257 && (r != -EINVAL || !strstr(err, "257 programs: at most 256")))
			fail_msg(
			    "257 programs: expected -EINVAL \"257 programs: at most 256\", got %d "
			    "\"%s\"",
			    r, err);
		if (r == 0)
			config_free(cfg);
	}
}

static void test_include_beside_file(void **state)
{
	const char *inc = write_conf("kv = { prefix = \"included:\"; };\n");
	const char *base = strrchr(inc, '/') + 1;
	char text[512], err[1024];
	struct config *cfg = NULL;
	int r;

	snprintf(text, sizeof(text), "uid = 5;\n@include \"%s\"\n", base);
	cfg = load_ok(write_conf(text));
	assert_string_equal(cfg->kv.prefix, "included:");
	assert_int_equal(cfg->uid, 5);
	config_free(cfg);

	/* An error inside the included file names that file. */
	inc = write_conf("\nkv = { prefix = 1; };\n");
	snprintf(text, sizeof(text), "@include \"%s\"\n", strrchr(inc, '/') + 1);
	cfg = NULL;
	r = config_load(write_conf(text), &cfg, err, sizeof(err));
	snprintf(text, sizeof(text), "%s:2: kv.prefix: expected a string", inc);
	if (r != -EINVAL || !strstr(err, text))
		fail_msg("expected \"%s\", got %d \"%s\"", text, r, err);
}

static void test_rules(void **state)
{
	const char *rules_text = "rules = (\n"
	                         "  { name = \"all\"; template = \"/All/{title}/{fileName}\"; }\n"
	                         ");\n";
	const char *rules_path = write_file(".rules", rules_text);
	char text[1024], want[1024], err[1024], got[512];
	struct config *cfg;
	int r;

	/* Inline rules: compiled, their properties interned into the schema. */
	cfg = load_ok(write_conf(rules_text));
	assert_null(cfg->rules_file);
	assert_int_equal(rules_count(cfg->rules), 1);
	assert_string_equal(rules_name(cfg->rules, 0), "all");
	assert_true(schema_find(&cfg->schema, "title", 5) >= 0);
	assert_int_equal(config_origin_of(cfg, "rules"), CONFIG_ORIGIN_FILE);
	expect_printed(cfg, "rules", "[ \"all\" ]", "file");
	config_free(cfg);

	/* rules_file, relative: taken beside the configuration file. */
	snprintf(text, sizeof(text), "rules_file = \"%s\";\n", strrchr(rules_path, '/') + 1);
	cfg = load_ok(write_conf(text));
	assert_string_equal(cfg->rules_file, rules_path);
	assert_int_equal(rules_count(cfg->rules), 1);
	assert_int_equal(config_origin_of(cfg, "rules_file"), CONFIG_ORIGIN_FILE);
	snprintf(want, sizeof(want), "\"%s\"  # file", rules_path);
	if (strcmp(printed(cfg, "rules_file", got, sizeof(got)), want) != 0)
		fail_msg("rules_file: expected %s, got %s", want, got);
	config_free(cfg);

	/* ... and absolute. */
	snprintf(text, sizeof(text), "rules_file = \"%s\";\n", rules_path);
	cfg = load_ok(write_conf(text));
	assert_string_equal(cfg->rules_file, rules_path);
	config_free(cfg);

	/* A missing rules file: our file and line, the path, the reason. */
	{
		const char *conf = write_conf("\nrules_file = \"no-such.rules\";\n");

		cfg = NULL;
		r = config_load(conf, &cfg, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:2: rules_file: %s/no-such.rules: No such file",
		         conf, tmpdir);
		if (r >= 0 || !strstr(err, want))
			fail_msg("expected \"%s\", got %d \"%s\"", want, r, err);
		assert_null(cfg);
	}

	/* A rule that does not compile refuses the configuration with the rules' message. */
	{
		const char *conf = write_conf("rules = (\n"
		                              "  { name = \"x\"; template = \"/{unterminated\"; }\n"
		                              ");\n");

		r = config_load(conf, &cfg, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:2: rule \"x\": template:", conf);
		if (r != -EINVAL || !strstr(err, want))
			fail_msg("expected \"%s...\", got %d \"%s\"", want, r, err);
	}
	{
		const char *bad =
		    write_file(".rules", "rules = (\n  { name = \"y\"; template = 5; }\n);\n");

		snprintf(text, sizeof(text), "rules_file = \"%s\";\n", bad);
		r = config_load(write_conf(text), &cfg, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:2: rule \"y\"", bad);
		if (r != -EINVAL || !strstr(err, want))
			fail_msg("expected \"%s...\", got %d \"%s\"", want, r, err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_free_null, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults_without_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shipped_file_is_the_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_over_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_url_credentials_masked, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_booleans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_user_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modes_and_listen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_keys_warn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_programs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_include_beside_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
