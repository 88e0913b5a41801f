/*
 * Unit tests of lib/rules: priority order, disabled rules, hide rules, falling
 * through when a template cannot render, the shipped defaults (the spec's
 * Inception example, TV, anime, subtitles, samples, leftovers, the catch-all), the
 * Plex and Jellyfin presets, and every bad rules file or rule refused with a
 * message naming the file:line and the rule.  Also a coarse speed check of
 * rules_place().
 */
#include <errno.h>
#include <libconfig.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "names.h"
#include "record.h"
#include "rules.h"
#include "snapshot_format.h"

#define MAXV 96

struct fixture {
	struct schema schema;
	struct rules *rules;
	struct strview vals[MAXV];
	struct record rec;
};

static void fill(struct fixture *f, const char *const *kv)
{
	memset(f->vals, 0, sizeof(f->vals));
	assert_true(f->schema.count <= MAXV);
	for (; kv[0] != NULL; kv += 2) {
		int i = schema_find(&f->schema, kv[0], strlen(kv[0]));

		if (i >= 0)
			f->vals[i] = (struct strview){kv[1], (uint32_t)strlen(kv[1])};
	}
	f->rec.values = f->vals;
	record_derive(&f->rec);
}

static void check_safe_path(const char *path)
{
	const char *p = path, *end;

	if (path[0] != '/')
		fail_msg("\"%s\" is not absolute", path);
	while (*p == '/') {
		p++;
		end = strchr(p, '/');
		if (end == NULL)
			end = p + strlen(p);
		if (!names_is_safe(p, (size_t)(end - p)))
			fail_msg("component \"%.*s\" of \"%s\" is not safe", (int)(end - p), p,
			         path);
		p = end;
	}
}

/* Parse a libconfig document holding `rules = ( ... );` and compile its list. */
static int load_string(const char *doc, struct fixture *f, char *err, size_t errlen)
{
	config_t cfg;
	int r;

	assert_int_equal(schema_init(&f->schema), 0);
	f->rules = NULL;
	config_init(&cfg);
	if (config_read_string(&cfg, doc) != CONFIG_TRUE)
		fail_msg("libconfig refused the test document: line %d: %s",
		         config_error_line(&cfg), config_error_text(&cfg));
	r = rules_from_setting(config_lookup(&cfg, "rules"), &f->schema, &f->rules, err, errlen);
	config_destroy(&cfg);
	return r;
}

static void fixture_done(struct fixture *f)
{
	rules_free(f->rules);
	schema_free(&f->schema);
}

/* A temporary file holding text; the caller unlinks it. */
static void write_temp(char *path, size_t size, const char *text)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int fd;
	FILE *f;

	snprintf(path, size, "%s/test_rules.XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

struct place_case {
	int line;
	const char *kv[24];
	int want; /* enum rules_result */
	const char *want_path;
	const char *want_rule;
};

static void run_place_cases(struct fixture *f, const struct place_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char buf[SNAP_PATH_MAX];
		uint32_t rule = UINT32_MAX;
		int r;

		fill(f, cases[i].kv);
		buf[0] = '\0';
		r = rules_place(f->rules, &f->rec, buf, sizeof(buf), &rule);
		if (r != cases[i].want)
			fail_msg("line %d: expected result %d, got %d (\"%s\", rule %s)",
			         cases[i].line, cases[i].want, r, buf,
			         rule != UINT32_MAX ? rules_name(f->rules, rule) : "none");
		if (r == RULES_PLACED) {
			if (strcmp(buf, cases[i].want_path) != 0)
				fail_msg("line %d: expected \"%s\", got \"%s\"", cases[i].line,
				         cases[i].want_path, buf);
			check_safe_path(buf);
		}
		if (r != RULES_UNPLACED &&
		    strcmp(rules_name(f->rules, rule), cases[i].want_rule) != 0)
			fail_msg("line %d: expected rule \"%s\", got \"%s\"", cases[i].line,
			         cases[i].want_rule, rules_name(f->rules, rule));
	}
}

static void test_priority_order(void **state)
{
	struct fixture f;
	char err[512];
	static const char *const want[] = {"b", "d", "a", "c", "e", "f"};

	assert_int_equal(load_string("rules = ("
	                             "{ name = \"a\"; priority = 10; template = \"/a\"; },"
	                             "{ name = \"b\"; priority = 30; template = \"/b\"; },"
	                             "{ name = \"c\"; priority = 10; template = \"/c\"; },"
	                             "{ name = \"d\"; priority = 20; template = \"/d\"; },"
	                             "{ name = \"e\"; template = \"/e\"; },"
	                             "{ name = \"f\"; priority = -5; template = \"/f\"; } );",
	                             &f, err, sizeof(err)),
	                 0);
	assert_int_equal(rules_count(f.rules), 6);
	for (uint32_t i = 0; i < 6; i++)
		if (strcmp(rules_name(f.rules, i), want[i]) != 0)
			fail_msg("position %u: expected \"%s\", got \"%s\"", i, want[i],
			         rules_name(f.rules, i));
	assert_int_equal(rules_priority(f.rules, 0), 30);
	assert_int_equal(rules_priority(f.rules, 4), 0);
	assert_int_equal(rules_priority(f.rules, 5), -5);
	assert_null(rules_name(f.rules, 6));
	assert_string_equal(rules_template(f.rules, 0), "/b");
	fixture_done(&f);
}

static void test_place(void **state)
{
	static const struct place_case cases[] = {
	    {__LINE__, {"filePath", "m/x.nfo", NULL}, RULES_HIDDEN, NULL, "leftovers"},
	    {__LINE__,
	     {"filePath", "m/x.mkv", "title", "T", NULL},
	     RULES_PLACED,
	     "/T/T.mkv",
	     "titled"},
	    /* no title: "titled" does not render, the next rule places it */
	    {__LINE__, {"filePath", "m/x.mkv", NULL}, RULES_PLACED, "/O/x.mkv", "other"},
	    {__LINE__,
	     {"filePath", "m/x.mkv", "title", "", NULL},
	     RULES_PLACED,
	     "/O/x.mkv",
	     "other"},
	    /* the condition of "kids" holds but its template cannot render either */
	    {__LINE__,
	     {"filePath", "m/x.mkv", "kids", "yes", NULL},
	     RULES_PLACED,
	     "/O/x.mkv",
	     "other"},
	    {__LINE__,
	     {"filePath", "m/x.mkv", "kids", "yes", "age", "7", NULL},
	     RULES_PLACED,
	     "/Kids/7/x.mkv",
	     "kids"},
	};
	struct fixture f;
	char err[512], buf[SNAP_PATH_MAX];
	uint32_t rule;

	assert_int_equal(
	    load_string(
	        "rules = ("
	        "{ name = \"other\"; priority = 0; template = \"/O/{fileName}\"; },"
	        "{ name = \"disabled\"; priority = 90; enabled = false;"
	        "  template = \"/Disabled/{fileName}\"; },"
	        "{ name = \"leftovers\"; priority = 100; hide = true;"
	        "  when = { property = \"extension\"; op = \"equals\"; value = \"nfo\"; }; },"
	        "{ name = \"titled\"; priority = 50; template = \"/{title}/{title}.{extension}\"; "
	        "},"
	        "{ name = \"kids\"; priority = 60; enabled = true;"
	        "  when = { property = \"kids\"; op = \"equals\"; value = \"yes\"; };"
	        "  template = \"/Kids/{age}/{fileName}\"; } );",
	        &f, err, sizeof(err)),
	    0);
	assert_false(rules_is_enabled(f.rules, 1)); /* "disabled", priority 90 */
	assert_string_equal(rules_name(f.rules, 1), "disabled");
	assert_true(rules_is_hide(f.rules, 0));
	assert_null(rules_template(f.rules, 0));
	run_place_cases(&f, cases, sizeof(cases) / sizeof(cases[0]));

	/* A short buffer is an error, not a truncated path. */
	fill(&f, (const char *[]){"filePath", "m/abcdefgh.mkv", NULL});
	assert_int_equal(rules_place(f.rules, &f.rec, buf, 8, &rule), -ENAMETOOLONG);
	fixture_done(&f);

	/* Nothing matches: unplaced. */
	assert_int_equal(load_string("rules = ( { name = \"x\"; template = \"/x/{title}\"; } );",
	                             &f, err, sizeof(err)),
	                 0);
	fill(&f, (const char *[]){"filePath", "m/a.mkv", NULL});
	assert_int_equal(rules_place(f.rules, &f.rec, buf, sizeof(buf), &rule), RULES_UNPLACED);
	fixture_done(&f);

	/* Every rule disabled: unplaced. */
	assert_int_equal(
	    load_string("rules = ( { name = \"x\"; enabled = false; template = \"/x\"; } );", &f,
	                err, sizeof(err)),
	    0);
	assert_int_equal(rules_place(f.rules, &f.rec, buf, sizeof(buf), &rule), RULES_UNPLACED);
	fixture_done(&f);
}

#define INCEPTION "media1/Movies/Inception (2010)/Inception.mkv"
#define BB        "media1/TV/Breaking.Bad.S01E02.mkv"

static void test_defaults(void **state)
{
	static const struct place_case cases[] = {
	    /* the spec's example */
	    {__LINE__,
	     {"title", "Inception", "year", "2010", "filePath", INCEPTION, NULL},
	     RULES_PLACED,
	     "/Movies/Inception (2010)/Inception.mkv",
	     "movies"},
	    {__LINE__,
	     {"title", "Inception", "filePath", INCEPTION, NULL},
	     RULES_PLACED,
	     "/Movies/Inception/Inception.mkv",
	     "movies"},
	    {__LINE__,
	     {"originalTitle", "Inception", "movieYear", "2010", "filePath", INCEPTION, NULL},
	     RULES_PLACED,
	     "/Movies/Inception (2010)/Inception.mkv",
	     "movies"},
	    {__LINE__,
	     {"title", "Inception", "year", "2010", "filePath", "m/Inception.en.srt",
	      "subtitleLanguage", "en", NULL},
	     RULES_PLACED,
	     "/Movies/Inception (2010)/Inception.en.srt",
	     "movie-subtitles"},
	    {__LINE__,
	     {"title", "AC/DC: Live", "year", "1991", "filePath", "m/acdc.mkv", NULL},
	     RULES_PLACED,
	     "/Movies/AC-DC - Live (1991)/AC-DC - Live.mkv",
	     "movies"},
	    /* TV */
	    {__LINE__,
	     {"title", "Breaking Bad", "season", "1", "episode", "2", "filePath", BB, NULL},
	     RULES_PLACED,
	     "/TV/Breaking Bad/Season 01/Breaking Bad - S01E02.mkv",
	     "tv-episodes"},
	    {__LINE__,
	     {"title", "Breaking Bad", "season", "10", "episode", "123", "filePath", BB, NULL},
	     RULES_PLACED,
	     "/TV/Breaking Bad/Season 10/Breaking Bad - S10E123.mkv",
	     "tv-episodes"},
	    {__LINE__,
	     {"title", "Breaking Bad", "season", "1", "episode", "2", "filePath",
	      "media1/TV/bb.s01e02.srt", "subtitleLanguage", "en", NULL},
	     RULES_PLACED,
	     "/TV/Breaking Bad/Season 01/Breaking Bad - S01E02.en.srt",
	     "tv-subtitles"},
	    {__LINE__,
	     {"title", "Breaking Bad", "season", "1", "episode", "2", "filePath",
	      "media1/TV/bb.s01e02.ASS", "language", "de", NULL},
	     RULES_PLACED,
	     "/TV/Breaking Bad/Season 01/Breaking Bad - S01E02.de.ASS",
	     "tv-subtitles"},
	    /* a subtitle without a language keeps the episode's name */
	    {__LINE__,
	     {"title", "Breaking Bad", "season", "1", "episode", "2", "filePath",
	      "media1/TV/bb.s01e02.srt", NULL},
	     RULES_PLACED,
	     "/TV/Breaking Bad/Season 01/Breaking Bad - S01E02.srt",
	     "tv-episodes"},
	    /* an episode without a title falls through to the catch-all */
	    {__LINE__,
	     {"season", "1", "episode", "2", "filePath", BB, NULL},
	     RULES_PLACED,
	     "/Other/Breaking.Bad.S01E02.mkv",
	     "other"},
	    /* anime */
	    {__LINE__,
	     {"mediaType", "anime", "title", "Frieren", "season", "1", "episode", "3", "filePath",
	      "a/frieren-03.mkv", NULL},
	     RULES_PLACED,
	     "/Anime/Frieren/Season 01/Frieren - S01E03.mkv",
	     "anime-episodes"},
	    {__LINE__,
	     {"mediaType", "Anime", "title", "One Piece", "episode", "1071", "filePath",
	      "a/op-1071.mkv", NULL},
	     RULES_PLACED,
	     "/Anime/One Piece/Season 01/One Piece - S01E1071.mkv",
	     "anime-episodes"},
	    {__LINE__,
	     {"mediaType", "anime", "title", "Frieren", "season", "1", "episode", "3", "filePath",
	      "a/frieren-03.ass", "subtitleLanguage", "ja", NULL},
	     RULES_PLACED,
	     "/Anime/Frieren/Season 01/Frieren - S01E03.ja.ass",
	     "anime-subtitles"},
	    {__LINE__,
	     {"mediaType", "anime", "title", "Akira", "year", "1988", "filePath", "a/akira.mkv",
	      NULL},
	     RULES_PLACED,
	     "/Anime/Akira (1988)/Akira.mkv",
	     "anime-movies"},
	    /* hidden */
	    {__LINE__,
	     {"title", "Inception", "filePath", "m/Inception-sample.mkv", NULL},
	     RULES_HIDDEN,
	     NULL,
	     "hide-samples"},
	    {__LINE__,
	     {"title", "Inception", "filePath", "m/SAMPLE.mkv", NULL},
	     RULES_HIDDEN,
	     NULL,
	     "hide-samples"},
	    {__LINE__,
	     {"title", "Inception", "filePath", "m/Sample/x.mkv", NULL},
	     RULES_HIDDEN,
	     NULL,
	     "hide-samples"},
	    {__LINE__,
	     {"title", "Inception", "filePath", "sample/x.mkv", NULL},
	     RULES_HIDDEN,
	     NULL,
	     "hide-samples"},
	    {__LINE__,
	     {"title", "The Sampler", "filePath", "m/The.Sampler.mkv", NULL},
	     RULES_PLACED,
	     "/Movies/The Sampler/The Sampler.mkv",
	     "movies"},
	    {__LINE__,
	     {"title", "Inception", "filePath", "m/Inception.nfo", NULL},
	     RULES_HIDDEN,
	     NULL,
	     "hide-non-media"},
	    {__LINE__, {"filePath", "m/poster.JPG", NULL}, RULES_HIDDEN, NULL, "hide-non-media"},
	    {__LINE__,
	     {"filePath", "m/._Inception.mkv", NULL},
	     RULES_HIDDEN,
	     NULL,
	     "hide-dotfiles"},
	    /* everything else */
	    {__LINE__,
	     {"filePath", "m/random.iso", NULL},
	     RULES_PLACED,
	     "/Other/random.iso",
	     "other"},
	    {__LINE__, {"filePath", "m/CON.iso", NULL}, RULES_PLACED, "/Other/_CON.iso", "other"},
	    {__LINE__,
	     {"filePath", "m/noext", "title", "Movie", NULL},
	     RULES_PLACED,
	     "/Movies/Movie/Movie",
	     "movies"},
	};
	struct fixture f;
	char err[512];

	assert_int_equal(schema_init(&f.schema), 0);
	if (rules_default(&f.schema, &f.rules, err, sizeof(err)) != 0)
		fail_msg("the default rules do not load: %s", err);
	assert_true(rules_count(f.rules) >= 10);
	assert_string_equal(rules_name(f.rules, rules_count(f.rules) - 1), "other");
	run_place_cases(&f, cases, sizeof(cases) / sizeof(cases[0]));
	fixture_done(&f);
}

static void load_source_file(const char *rel, struct fixture *f)
{
	const char *src = getenv("MF_SOURCE_DIR");
	char path[4096], err[512];

	if (src != NULL) {
		snprintf(path, sizeof(path), "%s/%s", src, rel);
	} else {
		/* Run by hand: find the source tree from this file's own path. */
		const char *me = __FILE__, *end = strstr(me, "/tests/unit/");

		assert_non_null(end);
		snprintf(path, sizeof(path), "%.*s/%s", (int)(end - me), me, rel);
	}
	assert_int_equal(schema_init(&f->schema), 0);
	if (rules_from_file(path, &f->schema, &f->rules, err, sizeof(err)) != 0)
		fail_msg("%s does not load: %s", path, err);
}

static void test_presets(void **state)
{
	static const struct place_case plex[] = {
	    {__LINE__,
	     {"title", "Inception", "year", "2010", "filePath", INCEPTION, NULL},
	     RULES_PLACED,
	     "/Movies/Inception (2010)/Inception (2010).mkv",
	     "plex-movies"},
	    {__LINE__,
	     {"title", "Avatar", "year", "2009", "filePath", "m/avatar.srt", "subtitleLanguage",
	      "en", NULL},
	     RULES_PLACED,
	     "/Movies/Avatar (2009)/Avatar (2009).en.srt",
	     "plex-movie-subtitles"},
	    {__LINE__,
	     {"title", "Grey's Anatomy", "year", "2005", "season", "1", "episode", "1", "filePath",
	      "tv/ga.mp4", NULL},
	     RULES_PLACED,
	     "/TV Shows/Grey's Anatomy (2005)/Season 01/Grey's Anatomy (2005) - s01e01.mp4",
	     "plex-tv"},
	    {__LINE__,
	     {"title", "Show", "season", "0", "episode", "4", "filePath", "tv/x.mkv", NULL},
	     RULES_PLACED,
	     "/TV Shows/Show/Season 00/Show - s00e04.mkv",
	     "plex-tv"},
	    {__LINE__, {"filePath", "m/x.nfo", NULL}, RULES_HIDDEN, NULL, "hide-non-media"},
	    {__LINE__, {"filePath", "m/x.iso", NULL}, RULES_PLACED, "/Other/x.iso", "other"},
	};
	static const struct place_case jellyfin[] = {
	    {__LINE__,
	     {"title", "Inception", "year", "2010", "filePath", INCEPTION, NULL},
	     RULES_PLACED,
	     "/Movies/Inception (2010)/Inception (2010).mkv",
	     "jellyfin-movies"},
	    {__LINE__,
	     {"title", "Film", "year", "2010", "filePath", "m/film.srt", "language", "de", NULL},
	     RULES_PLACED,
	     "/Movies/Film (2010)/Film (2010).de.srt",
	     "jellyfin-movie-subtitles"},
	    {__LINE__,
	     {"title", "Series Name A", "year", "2010", "season", "1", "episode", "3", "filePath",
	      "tv/x.mkv", NULL},
	     RULES_PLACED,
	     "/Shows/Series Name A (2010)/Season 01/Series Name A S01E03.mkv",
	     "jellyfin-shows"},
	    {__LINE__,
	     {"mediaType", "anime", "title", "Frieren", "episode", "3", "filePath", "a/x.mkv",
	      NULL},
	     RULES_PLACED,
	     "/Anime/Frieren/Season 01/Frieren S01E03.mkv",
	     "jellyfin-anime"},
	};
	struct fixture f, d;
	char err[512];

	load_source_file("etc/rules/plex.conf", &f);
	run_place_cases(&f, plex, sizeof(plex) / sizeof(plex[0]));
	fixture_done(&f);
	load_source_file("etc/rules/jellyfin.conf", &f);
	run_place_cases(&f, jellyfin, sizeof(jellyfin) / sizeof(jellyfin[0]));
	fixture_done(&f);

	/* The installed default.conf is the built-in set. */
	load_source_file("etc/rules/default.conf", &f);
	assert_int_equal(schema_init(&d.schema), 0);
	assert_int_equal(rules_default(&d.schema, &d.rules, err, sizeof(err)), 0);
	assert_int_equal(rules_count(f.rules), rules_count(d.rules));
	for (uint32_t i = 0; i < rules_count(f.rules); i++)
		assert_string_equal(rules_name(f.rules, i), rules_name(d.rules, i));
	fixture_done(&f);
	fixture_done(&d);
}

struct file_error_case {
	int line;
	const char *text;
	const char *want; /* after "PATH" */
};

static void test_file_errors(void **state)
{
	static const struct file_error_case cases[] = {
	    {__LINE__, "rules = (\n  { name = \"a\"; template = ; }\n);\n", ":2: syntax error"},
	    {__LINE__, "rules = (\n  { name = \"a\"; template = \"/x\"; }\n", ":3: syntax error"},
	    {__LINE__,
	     "# movies\nrules = (\n  { name = \"movies\";\n    template = \"/Movies/{title\"; "
	     "}\n);\n",
	     ":4: rule \"movies\": template: column 9: unterminated '{'"},
	    {__LINE__,
	     "rules = (\n  { name = \"x\";\n    when = { property = \"a\";\n      op = \"equalz\"; "
	     "};\n"
	     "    template = \"/x\"; }\n);\n",
	     ":4: rule \"x\": when.op: unknown op \"equalz\" (expected equals, notEquals, "
	     "contains, "
	     "startsWith, endsWith, exists, notExists, greaterThan or lessThan)"},
	    {__LINE__,
	     "rules = (\n  { name = \"x\";\n    priority = \"high\"; template = \"/x\"; }\n);\n",
	     ":3: rule \"x\": priority: expected an integer, not a string"},
	    {__LINE__, "rules = (\n  { name = \"nothing\"; }\n);\n",
	     ":2: rule \"nothing\": missing template = \"...\"; (or hide = true;)"},
	    {__LINE__, "rule = ( { name = \"x\"; template = \"/x\"; } );\n",
	     ":1: unknown setting \"rule\" (a rules file holds rules = ( ... );)"},
	    {__LINE__, "# nothing here\n", ": no rules = ( ... ); list"},
	    {__LINE__, "rules = ();\n", ":1: rules: the list is empty"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct schema s;
		struct rules *rules = NULL;
		char path[256], err[512], want[1024];
		int r;

		write_temp(path, sizeof(path), cases[i].text);
		assert_int_equal(schema_init(&s), 0);
		r = rules_from_file(path, &s, &rules, err, sizeof(err));
		unlink(path);
		snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
		if (r != -EINVAL || strcmp(err, want) != 0)
			fail_msg("line %d: expected -EINVAL \"%s\", got %d \"%s\"", cases[i].line,
			         want, r, err);
		assert_null(rules);
		schema_free(&s);
	}

	/* A file that cannot be read: -errno and the reason. */
	{
		struct schema s;
		struct rules *rules = NULL;
		char err[512];

		assert_int_equal(schema_init(&s), 0);
		assert_int_equal(
		    rules_from_file("/nonexistent/rules.conf", &s, &rules, err, sizeof(err)),
		    -ENOENT);
		assert_string_equal(err, "/nonexistent/rules.conf: No such file or directory");
		schema_free(&s);
	}
}

struct setting_error_case {
	int line;
	const char *doc;
	const char *want;
};

static void test_setting_errors(void **state)
{
	static const struct setting_error_case cases[] = {
	    {__LINE__, "rules = ( { name = \"a\"; } );",
	     "line 1: rule \"a\": missing template = \"...\"; (or hide = true;)"},
	    {__LINE__, "rules = ( { template = \"/x\"; } );",
	     "line 1: rule #1: missing name = \"...\";"},
	    {__LINE__,
	     "rules = ( { name = \"ok\"; template = \"/x\"; }, { name = 5; template = \"/x\"; } );",
	     "line 1: rule #2: name: expected a string, not an integer"},
	    {__LINE__, "rules = ( { name = \"\"; template = \"/x\"; } );",
	     "line 1: rule #1: name: must be 1 to 128 bytes of UTF-8 without control characters"},
	    {__LINE__, "rules = ( { name = \"a\\nb\"; template = \"/x\"; } );",
	     "line 1: rule #1: name: must be 1 to 128 bytes of UTF-8 without control characters"},
	    {__LINE__, "rules = ( { name = \"a\"; priority = \"high\"; template = \"/x\"; } );",
	     "line 1: rule \"a\": priority: expected an integer, not a string"},
	    {__LINE__, "rules = ( { name = \"a\"; priority = 1.5; template = \"/x\"; } );",
	     "line 1: rule \"a\": priority: expected an integer, not a floating-point number"},
	    {__LINE__, "rules = ( { name = \"a\"; priority = 5000000000L; template = \"/x\"; } );",
	     "line 1: rule \"a\": priority: 5000000000 is out of range (-1000000000 to "
	     "1000000000)"},
	    {__LINE__, "rules = ( { name = \"a\"; enabled = 1; template = \"/x\"; } );",
	     "line 1: rule \"a\": enabled: expected true or false, not an integer"},
	    {__LINE__, "rules = ( { name = \"a\"; hide = \"yes\"; } );",
	     "line 1: rule \"a\": hide: expected true or false, not a string"},
	    {__LINE__, "rules = ( { name = \"a\"; template = 5; } );",
	     "line 1: rule \"a\": template: expected a string, not an integer"},
	    {__LINE__, "rules = ( { name = \"a\"; template = [ \"/x\" ]; } );",
	     "line 1: rule \"a\": template: expected a string, not an array"},
	    {__LINE__, "rules = ( { name = \"a\"; hide = true; template = \"/x\"; } );",
	     "line 1: rule \"a\": a rule with hide = true places nothing: remove its template"},
	    {__LINE__, "rules = ( { name = \"a\"; tempalte = \"/x\"; } );",
	     "line 1: rule \"a\": unknown setting \"tempalte\" (expected name, priority, enabled, "
	     "when, template, hide, description)"},
	    {__LINE__, "rules = ( { name = \"a\"; description = 5; template = \"/x\"; } );",
	     "line 1: rule \"a\": description: expected a string, not an integer"},
	    {__LINE__, "rules = ( \"a\" );",
	     "line 1: rule #1: expected a group { name = ...; template = ...; }, not a string"},
	    {__LINE__,
	     "rules = ( { name = \"a\"; template = \"/x\"; }, { name = \"a\"; template = \"/y\"; } "
	     ");",
	     "line 1: rule \"a\": the name is already used by rule #1"},
	    {__LINE__,
	     "rules = ( { name = \"a\"; template = \"/x\"; when = { property = \"p\"; op = "
	     "\"equalz\"; value = 1; }; } );",
	     "line 1: rule \"a\": when.op: unknown op \"equalz\" (expected equals, notEquals, "
	     "contains, startsWith, endsWith, exists, notExists, greaterThan or lessThan)"},
	    {__LINE__, "rules = ( { name = \"a\"; template = \"/x\"; when = \"always\"; } );",
	     "line 1: rule \"a\": when: expected a group { ... }, not a string"},
	    {__LINE__, "rules = ( { name = \"movies\"; template = \"/Movies/{title\"; } );",
	     "line 1: rule \"movies\": template: column 9: unterminated '{'"},
	    {__LINE__, "rules = ( { name = \"m\"; template = \"/{x:pad0}\"; } );",
	     "line 1: rule \"m\": template: column 5: bad modifier 'pad0': padN needs a width N "
	     "from 1 to 32, as in pad2"},
	    {__LINE__, "rules = ( { name = \"m\"; template = \"\"; } );",
	     "line 1: rule \"m\": template: the template is empty"},
	    {__LINE__, "rules = ();", "line 1: rules: the list is empty"},
	    {__LINE__, "rules = { a = 1; };",
	     "line 1: rules: expected a list of rule groups ( { ... }, { ... } ), not a group"},
	    {__LINE__, "other = 1;",
	     "rules: expected a list of rule groups ( { ... }, { ... } ), not nothing"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture f;
		char err[512] = "";
		int r = load_string(cases[i].doc, &f, err, sizeof(err));

		if (r != -EINVAL || strcmp(err, cases[i].want) != 0)
			fail_msg("line %d: expected -EINVAL \"%s\", got %d \"%s\"", cases[i].line,
			         cases[i].want, r, err);
		assert_null(f.rules);
		fixture_done(&f);
	}
}

/* The thread's CPU time: a loaded machine delays the test but does not slow it. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_speed(void **state)
{
	/* A mix like a real library: movies, episodes, anime, subtitles, leftovers. */
	static const char *const mixes[][14] = {
	    {"title", "Inception", "year", "2010", "filePath", INCEPTION, NULL},
	    {"title", "Breaking Bad", "season", "1", "episode", "2", "filePath", BB, NULL},
	    {"mediaType", "anime", "title", "Frieren", "season", "1", "episode", "3", "filePath",
	     "a/frieren-03.mkv", NULL},
	    {"title", "Breaking Bad", "season", "1", "episode", "2", "filePath", "tv/x.srt",
	     "subtitleLanguage", "en", NULL},
	    {"filePath", "m/Inception.nfo", NULL},
	    {"filePath", "m/random.iso", NULL},
	};
	enum { ROUNDS = 30000 };
	struct fixture f[6];
	struct schema schema;
	struct rules *rules;
	char err[512], buf[SNAP_PATH_MAX];
	uint32_t rule;
	double t0, per;
	unsigned long sum = 0;
#if defined(__SANITIZE_ADDRESS__)
	const double limit = 20e-6; /* ASan and UBSan make everything several times slower */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	const double limit = 20e-6;
#else
	const double limit = 2e-6;
#endif
#else
	const double limit = 2e-6;
#endif

	assert_int_equal(schema_init(&schema), 0);
	assert_int_equal(rules_default(&schema, &rules, err, sizeof(err)), 0);
	for (int m = 0; m < 6; m++) {
		f[m].schema = schema;
		fill(&f[m], mixes[m]);
	}
	/* The best of five runs, so that a busy machine does not fail the test. */
	per = 1;
	for (int run = 0; run < 5; run++) {
		t0 = now();
		for (int i = 0; i < ROUNDS; i++) {
			struct fixture *x = &f[i % 6];
			int r = rules_place(rules, &x->rec, buf, sizeof(buf), &rule);

			if (r < 0)
				fail_msg("rules_place: expected >= 0, got %d", r);
			sum += (unsigned long)r + rule;
		}
		if ((now() - t0) / ROUNDS < per)
			per = (now() - t0) / ROUNDS;
	}
	print_message("rules_place: %.0f ns per record (default rules, mixed library)\n",
	              per * 1e9);
	if (per > limit)
		fail_msg("rules_place: expected at most %.0f ns per record, got %.0f ns",
		         limit * 1e9, per * 1e9);
	assert_true(sum > 0);
	rules_free(rules);
	schema_free(&schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_priority_order), cmocka_unit_test(test_place),
	    cmocka_unit_test(test_defaults),       cmocka_unit_test(test_presets),
	    cmocka_unit_test(test_file_errors),    cmocka_unit_test(test_setting_errors),
	    cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
