/*
 * Unit tests of davd's pure modules: the strict XML reader of request bodies
 * (PROPFIND forms, namespaces, refused DTDs and entities, limits), NFD -> NFC
 * composition of the names macOS sends, HTTP dates, ETags and content types,
 * and the one escaping function of the XML and HTML output.  Table-driven;
 * each failing case prints its input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "buf.h"
#include "nfc.h"
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
	}
}

static void test_escaping(void **state)
{
	struct buf b = {0};

	buf_add_escaped(&b, "a<b>&\"c'd", 9);
	assert_string_equal(b.p, "a&lt;b&gt;&amp;&quot;c&#39;d");
	b.len = 0;
	buf_add_encoded(&b, "/a b/%é", strlen("/a b/%é"));
	assert_string_equal(b.p, "/a%20b/%25%C3%A9");
	assert_false(b.failed);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xml_requests),
	    cmocka_unit_test(test_xml_too_many_props),
	    cmocka_unit_test(test_nfc),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_etag_and_types),
	    cmocka_unit_test(test_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
