/*
 * Unit tests of davd's pure modules: the strict XML reader of request bodies
 * (PROPFIND forms, namespaces, refused DTDs and entities, limits), NFD -> NFC
 * composition of the names macOS sends, HTTP dates, ETags and content types,
 * and the one escaping function of the XML and HTML output.  Table-driven;
 * each failing case prints its input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <expat.h>

#include "buf.h"
#include "http_path.h"
#include "nfc.h"
#include "path.h"
#include "props.h"
#include "snapshot.h"
#include "xml.h"

static void test_xml_requests(void **state)
{
	struct {
		const char *body;
		int want;
		const char *root; /* local name of the root */
		int allprop, propname, prop;
		unsigned props;
		const char *first_ns, *first_local;
	} cases[] = {
	    {"<D:propfind xmlns:D=\"DAV:\"><D:allprop/></D:propfind>", 0, "propfind", 1, 0, 0, 0,
	     NULL, NULL},
	    {"<propfind xmlns=\"DAV:\"><propname/></propfind>", 0, "propfind", 0, 1, 0, 0, NULL,
	     NULL},
	    {"<?xml version=\"1.0\" encoding=\"utf-8\"?><a:propfind xmlns:a=\"DAV:\" "
	     "xmlns:z=\"urn:z\"><a:prop><a:getetag/><z:color/></a:prop></a:propfind>",
	     0, "propfind", 0, 0, 1, 2, "DAV:", "getetag"},
	    {"<D:propfind xmlns:D=\"DAV:\"><D:prop><x xmlns=\"\"/></D:prop></D:propfind>", 0,
	     "propfind", 0, 0, 1, 1, "", "x"},
	    /* PROPPATCH: the names inside set/prop and remove/prop, not their values. */
	    {"<D:propertyupdate xmlns:D=\"DAV:\" xmlns:Z=\"urn:schemas-microsoft-com:\"><D:set>"
	     "<D:prop><Z:Win32FileAttributes><x>1</x></Z:Win32FileAttributes></D:prop></D:set>"
	     "<D:remove><D:prop><Z:a/></D:prop></D:remove></D:propertyupdate>",
	     0, "propertyupdate", 0, 0, 1, 2, "urn:schemas-microsoft-com:", "Win32FileAttributes"},
	    {"<foo>", -EBADMSG, NULL, 0, 0, 0, 0, NULL, NULL},
	    {"", -EBADMSG, NULL, 0, 0, 0, 0, NULL, NULL},
	    {"<D:propfind xmlns:D=\"DAV:\"><D:prop><b:x xmlns:b=\"\"/></D:prop></D:propfind>",
	     -EBADMSG, NULL, 0, 0, 0, 0, NULL, NULL},
	    {"<D:propfind xmlns:D=\"DAV:\"><n:x/></D:propfind>", -EBADMSG, NULL, 0, 0, 0, 0, NULL,
	     NULL},
	    {"<!DOCTYPE x><x/>", -EBADMSG, NULL, 0, 0, 0, 0, NULL, NULL},
	    {"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>", -EBADMSG, NULL, 0, 0, 0, 0, NULL,
	     NULL},
	    {"<!DOCTYPE x SYSTEM \"http://example.com/x.dtd\"><x/>", -EBADMSG, NULL, 0, 0, 0, 0,
	     NULL, NULL},
	    {"<x>&undefined;</x>", -EBADMSG, NULL, 0, 0, 0, 0, NULL, NULL},
	    {"<a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a></a></a></a></a></a></a></a></a>"
	     "</a></a></a></a></a></a></a></a></a>",
	     -EBADMSG, NULL, 0, 0, 0, 0, NULL, NULL},
	};
	char msg[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xml_request x;
		int got =
		    xml_parse_request(cases[i].body, strlen(cases[i].body), &x, msg, sizeof(msg));

		if (got != cases[i].want)
			fail_msg("case %zu \"%s\": expected %d, got %d (%s)", i, cases[i].body,
			         cases[i].want, got, got ? msg : "");
		if (got < 0)
			continue;
		if (strcmp(x.root.local, cases[i].root) != 0 || x.allprop != cases[i].allprop ||
		    x.propname != cases[i].propname || x.prop != cases[i].prop ||
		    x.prop_count != cases[i].props)
			fail_msg(
			    "case %zu: expected root %s allprop %d propname %d prop %d (%u), got "
			    "%s %d %d %d (%u)",
			    i, cases[i].root, cases[i].allprop, cases[i].propname, cases[i].prop,
			    cases[i].props, x.root.local, x.allprop, x.propname, x.prop,
			    x.prop_count);
		if (cases[i].first_local && (strcmp(x.props[0].ns, cases[i].first_ns) != 0 ||
		                             strcmp(x.props[0].local, cases[i].first_local) != 0))
			fail_msg("case %zu: expected {%s}%s, got {%s}%s", i, cases[i].first_ns,
			         cases[i].first_local, x.props[0].ns, x.props[0].local);
	}
}

static void test_xml_too_many_props(void **state)
{
	struct buf b = {0};
	struct xml_request x;
	char msg[160];

	buf_adds(&b, "<D:propfind xmlns:D=\"DAV:\"><D:prop>");
	for (int i = 0; i <= DAVD_PROPS_MAX; i++)
		buf_printf(&b, "<D:p%d/>", i);
	buf_adds(&b, "</D:prop></D:propfind>");
	assert_int_equal(xml_parse_request(b.p, b.len, &x, msg, sizeof(msg)), -E2BIG);
	buf_free(&b);
}

static void test_nfc(void **state)
{
	struct {
		const char *in, *want; /* want NULL: nothing to compose */
	} cases[] = {
	    {"/Ame\xcc\x81lie", "/Am\xc3\xa9lie"},                /* e + acute */
	    {"/Cafe\xcc\x81 U\xcc\x88", "/Caf\xc3\xa9 \xc3\x9c"}, /* two in one name */
	    {"/Dvor\xcc\x8c"
	     "a\xcc\x81k",
	     "/Dvo\xc5\x99\xc3\xa1k"}, /* r + caron, a + acute */
	    {"/plain", NULL},
	    {"/Am\xc3\xa9lie", NULL}, /* already composed */
	    {"/q\xcc\x81", NULL},     /* no precomposed q-acute */
	    {"/\xcc\x81start", NULL}, /* a mark with no base */
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = nfc_compose(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (!cases[i].want) {
			if (n != 0)
				fail_msg("\"%s\": expected nothing composed, got %d", cases[i].in,
				         n);
			continue;
		}
		if (n <= 0 || strcmp(out, cases[i].want) != 0)
			fail_msg("\"%s\": expected \"%s\", got \"%s\" (%d)", cases[i].in,
			         cases[i].want, n > 0 ? out : "", n);
	}
	assert_int_equal(nfc_compose("/Ame\xcc\x81lie", 9, out, 4), -ENAMETOOLONG);
}

static void test_dates(void **state)
{
	struct {
		const char *in;
		int64_t want;
	} cases[] = {
	    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
	    {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
	    {"Sun Nov  6 08:49:37 1994", 784111777},
	    {"Sun, 06 Nov 1994 08:49:37", -1},
	    {"yesterday", -1},
	    {"", -1},
	};
	char buf[DAVD_DATE_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = props_parse_http_date(cases[i].in);

		if (got != cases[i].want)
			fail_msg("\"%s\": expected %lld, got %lld", cases[i].in,
			         (long long)cases[i].want, (long long)got);
	}
	/* The own date arithmetic agrees with gmtime_r() and strftime() everywhere. */
	for (int64_t t = -86400 * 3; t < 9000000000LL; t += 86400LL * 97 + 3601 * 7 + 13) {
		time_t tt = (time_t)t;
		struct tm tm;
		char want[DAVD_DATE_MAX];

		gmtime_r(&tt, &tm);
		strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		props_http_date(t * 1000000000, buf);
		if (strcmp(buf, want) != 0)
			fail_msg("%lld: expected \"%s\", got \"%s\"", (long long)t, want, buf);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
		props_iso_date(t * 1000000000, buf);
		if (strcmp(buf, want) != 0)
			fail_msg("%lld: expected \"%s\", got \"%s\"", (long long)t, want, buf);
	}
	props_http_date(784111777LL * 1000000000 + 999, buf);
	assert_string_equal(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	props_iso_date(784111777LL * 1000000000, buf);
	assert_string_equal(buf, "1994-11-06T08:49:37Z");
}

/*
 * The dates of a listing through one struct props_dates, as a listing writes
 * them: runs of the same day, days coming back, times before the epoch and
 * outside the years 0 to 9999, each against gmtime_r() and strftime().
 */
/*
 * The dates of a listing through one struct props_dates, as a listing writes
 * them: runs of the same day, days coming back, times before the epoch, a leap
 * day and the ends of what nanoseconds in 64 bits hold (1677 to 2262), each
 * against gmtime_r() and strftime().
 */
static void test_listing_dates(void **state)
{
	static const int64_t s = 1000000000, day = 86400LL * 1000000000;
	const int64_t times[] = {
	    1600000000 * s,
	    1600000000 * s + 999999999,
	    1600000059 * s,
	    1600000000 * s + day - 1,
	    1600000000 * s + day,
	    1600000000 * s,
	    0,
	    -1,
	    -day,
	    -day - 1,
	    1600000000 * s,
	    951782400 * s, /* 2000-02-29 */
	    951868799 * s,
	    INT64_MAX,
	    INT64_MIN,
	    INT64_MIN + 1,
	    1600000001 * s,
	};
	struct props_dates d;

	props_dates_init(&d);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		int64_t ns = times[i];
		time_t tt = (time_t)(ns / s - (ns % s < 0));
		struct tm tm;
		char want_http[DAVD_DATE_MAX], want_iso[DAVD_DATE_MAX];
		char got[DAVD_DATE_MAX + 8];
		char *end;

		gmtime_r(&tt, &tm);
		strftime(want_http, sizeof(want_http), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		strftime(want_iso, sizeof(want_iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		memset(got, '#', sizeof(got));
		end = props_put_http_date(&d, ns, got);
		if (end - got != DAVD_HTTP_DATE_LEN ||
		    memcmp(got, want_http, DAVD_HTTP_DATE_LEN) != 0)
			fail_msg("%lld: expected \"%s\", got \"%.*s\"", (long long)ns, want_http,
			         (int)(end - got), got);
		end = props_put_iso_date(&d, ns, got);
		if (end - got != DAVD_ISO_DATE_LEN || memcmp(got, want_iso, DAVD_ISO_DATE_LEN) != 0)
			fail_msg("%lld: expected \"%s\", got \"%.*s\"", (long long)ns, want_iso,
			         (int)(end - got), got);
	}
}

static void test_etag_and_types(void **state)
{
	struct snap_node a = {.id = 0xabc, .size = 1000, .mtime_ns = 5, .type = SNAP_NODE_FILE};
	struct snap_node b = a;
	char ea[DAVD_ETAG_MAX], eb[DAVD_ETAG_MAX];
	struct {
		const char *name, *want;
	} types[] = {
	    {"a.mkv", "video/x-matroska"},
	    {"A.MP4", "video/mp4"},
	    {"x.m4v", "video/x-m4v"},
	    {"x.srt", "application/x-subrip"},
	    {"x.vtt", "text/vtt"},
	    {"x.ass", "text/x-ssa"},
	    {"movie.nfo", "text/plain; charset=utf-8"},
	    {"poster.jpg", "image/jpeg"},
	    {"x.ts", "video/mp2t"},
	    {"noext", "application/octet-stream"},
	    {"x.", "application/octet-stream"},
	    {".mkv.unknown", "application/octet-stream"},
	    {".mkv", "video/x-matroska"},
	    {"x.MpEg", "video/mpeg"},
	    {"x.mpegg", "application/octet-stream"},
	    {"x.mkv.", "application/octet-stream"},
	    {"x.\xc3\xa9", "application/octet-stream"},
	    {"a.b/c", "application/octet-stream"},
	};

	props_etag(&a, a.size, ea);
	assert_string_equal(ea, "\"abc-3e8-5\"");
	b.mtime_ns = 6;
	props_etag(&b, b.size, eb);
	assert_string_not_equal(ea, eb); /* a changed file gets a new tag */
	/* The size served (the source's), not the snapshot's number, is in the tag. */
	props_etag(&a, 0x11d7, eb);
	assert_string_equal(eb, "\"abc-11d7-5\"");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const char *got = props_content_type(types[i].name, strlen(types[i].name));

		if (strcmp(got, types[i].want) != 0)
			fail_msg("\"%s\": expected %s, got %s", types[i].name, types[i].want, got);
		if (strlen(got) >= DAVD_TYPE_MAX)
			fail_msg("\"%s\": expected a type shorter than %d, got %s", types[i].name,
			         DAVD_TYPE_MAX, got);
	}
	/* A NUL in the extension's place is no extension ("ts" padded). */
	assert_string_equal(props_content_type("x.ts\0\0", 6), "application/octet-stream");
	/* props_put_etag() writes what props_etag() does, without the NUL. */
	{
		char put[DAVD_ETAG_MAX];
		struct snap_node big = {.id = UINT64_MAX, .mtime_ns = INT64_MIN};

		props_etag(&big, UINT64_MAX, ea);
		assert_string_equal(ea, "\"ffffffffffffffff-ffffffffffffffff-8000000000000000\"");
		assert_int_equal(props_put_etag(&big, UINT64_MAX, put) - put, strlen(ea));
		assert_memory_equal(put, ea, strlen(ea));
	}
}

#define FFFD "\xef\xbf\xbd"

/* Whether text, as the content of an element, is well-formed XML to expat. */
static bool is_xml_text(const char *text, size_t len)
{
	XML_Parser p = XML_ParserCreate("UTF-8");
	bool ok = p && XML_Parse(p, "<a>", 3, XML_FALSE) == XML_STATUS_OK &&
	          XML_Parse(p, text, (int)len, XML_FALSE) == XML_STATUS_OK &&
	          XML_Parse(p, "</a>", 4, XML_TRUE) == XML_STATUS_OK;

	if (p)
		XML_ParserFree(p);
	return ok;
}

static void test_escaping(void **state)
{
	static char amps[255], quotes[255], accents[254], amps_want[255 * 5 + 1];
	struct {
		const char *in;
		size_t len; /* 0: strlen(in) */
		const char *want;
	} cases[] = {
	    {"plain name.mkv", 0, "plain name.mkv"},
	    {"a<b>&\"c'd", 0, "a&lt;b&gt;&amp;&quot;c&#39;d"},
	    {"x]]>y", 0, "x]]&gt;y"},
	    {"100%", 0, "100%"},
	    {"tab\tnl\ncr\r", 0, "tab\tnl\ncr&#13;"},
	    {"\x01"
	     "a\x1f"
	     "b\x0b",
	     0, FFFD "a" FFFD "b" FFFD},
	    {"nul\0in", 6, "nul" FFFD "in"},
	    {"del\x7f", 0, "del\x7f"},
	    {"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\xac", 0,
	     "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\xac"},
	    {"bad\xff", 0, "bad" FFFD},
	    {"cut\xc3", 0, "cut" FFFD},
	    {"overlong\xc0\xaf", 0, "overlong" FFFD FFFD},
	    {"surrogate\xed\xa0\x80", 0, "surrogate" FFFD FFFD FFFD},
	    {"nonchar\xef\xbf\xbe.\xef\xbf\xbf", 0, "nonchar" FFFD "." FFFD},
	    {"lone\x80", 0, "lone" FFFD},
	    {amps, sizeof(amps), amps_want},
	    {quotes, sizeof(quotes), NULL}, /* the largest growth: 6 bytes per byte */
	    {accents, sizeof(accents), NULL},
	    {"", 0, ""},
	};
	struct buf b = {0};

	memset(amps, '&', sizeof(amps));
	memset(quotes, '"', sizeof(quotes));
	for (size_t i = 0; i < sizeof(accents); i += 2)
		memcpy(accents + i, "\xc3\xa9", 2);
	for (size_t i = 0; i < sizeof(amps); i++)
		memcpy(amps_want + 5 * i, "&amp;", 5);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char out[BUF_ESCAPED_MAX(255) + 16];
		char *end;

		/* Into exactly the room it states, with a guard byte after it. */
		memset(out, '#', sizeof(out));
		end = buf_put_escaped(out, cases[i].in, len);
		if ((size_t)(end - out) > BUF_ESCAPED_MAX(len) || out[BUF_ESCAPED_MAX(len)] != '#')
			fail_msg("case %zu: expected at most %zu bytes, got %zu", i,
			         BUF_ESCAPED_MAX(len), (size_t)(end - out));
		if (cases[i].want && ((size_t)(end - out) != strlen(cases[i].want) ||
		                      memcmp(out, cases[i].want, strlen(cases[i].want)) != 0))
			fail_msg("case %zu: expected \"%s\", got \"%.*s\"", i, cases[i].want,
			         (int)(end - out), out);
		if (buf_escaped_length(cases[i].in, len) != (size_t)(end - out))
			fail_msg("case %zu: expected buf_escaped_length() %zu, got %zu", i,
			         (size_t)(end - out), buf_escaped_length(cases[i].in, len));
		if (!is_xml_text(out, (size_t)(end - out)))
			fail_msg("case %zu: expected well-formed XML text, got \"%.*s\"", i,
			         (int)(end - out), out);
		/* buf_add_escaped() writes the same. */
		b.len = 0;
		buf_add_escaped(&b, cases[i].in, len);
		if (b.failed || b.len != (size_t)(end - out) || memcmp(b.p, out, b.len) != 0)
			fail_msg("case %zu: expected buf_add_escaped() to agree, got \"%s\"", i,
			         b.p);
	}
	buf_free(&b);
}

static void test_encoding(void **state)
{
	static char long_name[256];
	struct {
		const char *in;
		size_t len; /* 0: strlen(in) */
		const char *want;
	} cases[] = {
	    {"/a b/%\xc3\xa9", 0, "/a%20b/%25%C3%A9"},
	    {"/x&y<z>]]>", 0, "/x%26y%3Cz%3E%5D%5D%3E"},
	    {"/\x01\x7f\xff\xc3", 0, "/%01%7F%FF%C3"},
	    {"/A-Z_a.z~09", 0, "/A-Z_a.z~09"},
	    {"/\"'?#;:@=+$,[]\\", 0, "/%22%27%3F%23%3B%3A%40%3D%2B%24%2C%5B%5D%5C"},
	    {long_name, sizeof(long_name) - 1, NULL},
	};
	struct buf b = {0};

	/* The table of buf.c and http_path_encode() agree on every byte. */
	for (unsigned c = 0; c < 256; c++) {
		char in = (char)c, want[4], got[4];
		int n = http_path_encode(&in, 1, want, sizeof(want));
		char *end = buf_put_encoded(got, &in, 1);

		if (n < 0 || end - got != n || memcmp(got, want, (size_t)n) != 0 ||
		    buf_encoded_length(&in, 1) != (size_t)n)
			fail_msg("byte 0x%02x: expected \"%.*s\", got \"%.*s\"", c, n, want,
			         (int)(end - got), got);
	}
	memset(long_name, '%', sizeof(long_name) - 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		char back[1024];
		int n;

		b.len = 0;
		buf_add_encoded(&b, cases[i].in, len);
		if (b.failed || b.len > BUF_ENCODED_MAX(len) ||
		    b.len != buf_encoded_length(cases[i].in, len))
			fail_msg("case %zu: expected at most %zu bytes, got %zu", i,
			         BUF_ENCODED_MAX(len), b.len);
		if (cases[i].want && strcmp(b.p, cases[i].want) != 0)
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].want, b.p);
		/* Nothing XML would escape, and every byte comes back. */
		if (strcspn(b.p, "&<>\"'") != b.len)
			fail_msg("case %zu: expected nothing to escape, got \"%s\"", i, b.p);
		n = path_percent_decode(b.p, b.len, back, sizeof(back));
		if (n < 0 || (size_t)n != len || memcmp(back, cases[i].in, len) != 0)
			fail_msg("case %zu: expected the name back, got %d bytes", i, n);
	}
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml_requests),  cmocka_unit_test(test_xml_too_many_props),
	    cmocka_unit_test(test_nfc),           cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_listing_dates), cmocka_unit_test(test_etag_and_types),
	    cmocka_unit_test(test_escaping),      cmocka_unit_test(test_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
