/*
 * props: see props.h.  The media types are a small fixed table of what a media
 * library holds (video, audio, subtitles, images, metadata); the lookup is a
 * linear scan over a few dozen entries, cheaper than the formatting around it.
 */
#include "props.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "snapshot.h"

static char *hex(char *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = digits[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

void props_etag(const struct snap_node *n, uint64_t size, char buf[DAVD_ETAG_MAX])
{
	char *p = buf;

	*p++ = '"';
	p = hex(p, n->id);
	*p++ = '-';
	p = hex(p, size);
	*p++ = '-';
	p = hex(p, (uint64_t)n->mtime_ns);
	*p++ = '"';
	*p = '\0';
}

static int64_t seconds(int64_t ns)
{
	return ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000;
}

/*
 * The civil (proleptic Gregorian, UTC) date of a time: formatting every date of
 * a 50,000-entry PROPFIND through gmtime_r() and strftime() would cost more than
 * the rest of the reply, so it is computed here (days -> year/month/day by the
 * usual era arithmetic).
 */
struct civil {
	int64_t year;
	unsigned month, day, hour, min, sec, wday;
};

static void civil_of(int64_t t, struct civil *c)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t rem = t - days * 86400, z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	c->day = doy - (153 * mp + 2) / 5 + 1;
	c->month = mp < 10 ? mp + 3 : mp - 9;
	c->year = (int64_t)yoe + era * 400 + (c->month <= 2);
	c->hour = (unsigned)(rem / 3600);
	c->min = (unsigned)(rem / 60 % 60);
	c->sec = (unsigned)(rem % 60);
	c->wday = (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
}

static char *two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

void props_http_date(int64_t ns, char buf[DAVD_DATE_MAX])
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct civil c;
	char *p = buf;

	civil_of(seconds(ns), &c);
	if (c.year < 0 || c.year > 9999) {
		snprintf(buf, DAVD_DATE_MAX, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	memcpy(p, days + 3 * c.wday, 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = two(p, c.day);
	*p++ = ' ';
	memcpy(p, months + 3 * (c.month - 1), 3);
	p += 3;
	*p++ = ' ';
	p = two(p, (unsigned)(c.year / 100));
	p = two(p, (unsigned)(c.year % 100));
	*p++ = ' ';
	p = two(p, c.hour);
	*p++ = ':';
	p = two(p, c.min);
	*p++ = ':';
	p = two(p, c.sec);
	memcpy(p, " GMT", 5);
}

void props_iso_date(int64_t ns, char buf[DAVD_DATE_MAX])
{
	struct civil c;
	char *p = buf;

	civil_of(seconds(ns), &c);
	if (c.year < 0 || c.year > 9999) {
		snprintf(buf, DAVD_DATE_MAX, "1970-01-01T00:00:00Z");
		return;
	}
	p = two(p, (unsigned)(c.year / 100));
	p = two(p, (unsigned)(c.year % 100));
	*p++ = '-';
	p = two(p, c.month);
	*p++ = '-';
	p = two(p, c.day);
	*p++ = 'T';
	p = two(p, c.hour);
	*p++ = ':';
	p = two(p, c.min);
	*p++ = ':';
	p = two(p, c.sec);
	memcpy(p, "Z", 2);
}

int64_t props_parse_http_date(const char *s)
{
	static const char *const forms[] = {
	    "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
	    "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
	    "%a %b %e %H:%M:%S %Y",      /* asctime */
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct tm tm = {0};
		const char *end = strptime(s, forms[i], &tm);

		if (end && *end == '\0')
			return (int64_t)timegm(&tm);
	}
	return -1;
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
    {"mkv", "video/x-matroska"},
    {"mk3d", "video/x-matroska-3d"},
    {"mka", "audio/x-matroska"},
    {"mp4", "video/mp4"},
    {"m4v", "video/x-m4v"},
    {"mov", "video/quicktime"},
    {"avi", "video/x-msvideo"},
    {"webm", "video/webm"},
    {"ts", "video/mp2t"},
    {"m2ts", "video/mp2t"},
    {"mts", "video/mp2t"},
    {"mpg", "video/mpeg"},
    {"mpeg", "video/mpeg"},
    {"wmv", "video/x-ms-wmv"},
    {"flv", "video/x-flv"},
    {"ogv", "video/ogg"},
    {"3gp", "video/3gpp"},
    {"iso", "application/x-iso9660-image"},
    {"mp3", "audio/mpeg"},
    {"m4a", "audio/mp4"},
    {"flac", "audio/flac"},
    {"ogg", "audio/ogg"},
    {"opus", "audio/opus"},
    {"wav", "audio/wav"},
    {"aac", "audio/aac"},
    {"srt", "application/x-subrip"},
    {"ass", "text/x-ssa"},
    {"ssa", "text/x-ssa"},
    {"vtt", "text/vtt"},
    {"sub", "text/plain"},
    {"idx", "text/plain"},
    {"sup", "application/octet-stream"},
    {"nfo", "text/plain; charset=utf-8"},
    {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml"},
    {"json", "application/json"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"png", "image/png"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"tbn", "image/jpeg"},
    {"bmp", "image/bmp"},
    {"pdf", "application/pdf"},
};

const char *props_content_type(const char *name, size_t len)
{
	const char *dot = NULL;

	for (size_t i = len; i > 0; i--) {
		if (name[i - 1] == '.') {
			dot = name + i;
			break;
		}
	}
	if (dot) {
		size_t elen = len - (size_t)(dot - name);

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strlen(types[i].ext) == elen &&
			    strncasecmp(dot, types[i].ext, elen) == 0)
				return types[i].type;
	}
	return "application/octet-stream";
}
