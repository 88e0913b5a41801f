/*
 * props: see props.h.  The media types are a small fixed table of what a media
 * library holds (video, audio, subtitles, images, metadata); the lookup is a
 * linear scan over a few dozen fixed-size keys, cheaper than the formatting
 * around it.
 */
#include "props.h"

#include <string.h>
#include <time.h>

#include "buf.h"
#include "snapshot.h"

static unsigned hex_digits(uint64_t v)
{
	return v ? (unsigned)(64 - __builtin_clzll(v) + 3) / 4 : 1;
}

static char *hex(char *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	unsigned n = hex_digits(v);

	/* Two digits at a time, from the last. */
	for (unsigned i = n; i > 1; i -= 2) {
		p[i - 1] = digits[v & 15];
		p[i - 2] = digits[(v >> 4) & 15];
		v >>= 8;
	}
	if (n & 1)
		p[0] = digits[v & 15];
	return p + n;
}

size_t props_etag_length(const struct snap_node *n, uint64_t size)
{
	return 4 + hex_digits(n->id) + hex_digits(size) + hex_digits((uint64_t)n->mtime_ns);
}

char *props_put_etag(const struct snap_node *n, uint64_t size, char *p)
{
	*p++ = '"';
	p = hex(p, n->id);
	*p++ = '-';
	p = hex(p, size);
	*p++ = '-';
	p = hex(p, (uint64_t)n->mtime_ns);
	*p++ = '"';
	return p;
}

void props_etag(const struct snap_node *n, uint64_t size, char buf[DAVD_ETAG_MAX])
{
	*props_put_etag(n, size, buf) = '\0';
}

/*
 * The civil (proleptic Gregorian, UTC) date of a day: formatting every date of
 * a 50,000-entry PROPFIND through gmtime_r() and strftime() would cost more than
 * the rest of the reply, so it is computed here (days -> year/month/day by the
 * usual era arithmetic), once per day of a listing (struct props_dates).
 */
static void split(int64_t ns, int64_t *ret_day, unsigned *ret_secs)
{
	int64_t t = ns / 1000000000 - (ns % 1000000000 < 0); /* rounded down */
	int64_t day = t / 86400 - (t % 86400 < 0);

	*ret_day = day;
	*ret_secs = (unsigned)(t - day * 86400);
}

static char *two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

static void set_day(struct props_dates *d, int64_t days)
{
	static const char wdays[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned mday = doy - (153 * mp + 2) / 5 + 1;
	unsigned month = mp < 10 ? mp + 3 : mp - 9;
	int64_t year = (int64_t)yoe + era * 400 + (month <= 2);
	unsigned wday = (unsigned)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
	char *p;

	d->day = days;
	p = d->http;
	memcpy(p, wdays + 3 * wday, 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = two(p, mday);
	*p++ = ' ';
	memcpy(p, months + 3 * (month - 1), 3);
	p += 3;
	*p++ = ' ';
	p = two(p, (unsigned)(year / 100));
	p = two(p, (unsigned)(year % 100));
	*p = ' ';
	p = d->iso;
	p = two(p, (unsigned)(year / 100));
	p = two(p, (unsigned)(year % 100));
	*p++ = '-';
	p = two(p, month);
	*p++ = '-';
	p = two(p, mday);
	*p = 'T';
}

void props_dates_init(struct props_dates *d)
{
	d->day = INT64_MIN;
}

static char *clock_of(char *p, unsigned secs)
{
	p = two(p, secs / 3600);
	*p++ = ':';
	p = two(p, secs / 60 % 60);
	*p++ = ':';
	return two(p, secs % 60);
}

/* The seconds into the day of ns, with the texts of its day in d. */
static unsigned day_of(struct props_dates *d, int64_t ns)
{
	int64_t day;
	unsigned secs;

	split(ns, &day, &secs);
	if (day != d->day)
		set_day(d, day);
	return secs;
}

char *props_put_http_date(struct props_dates *d, int64_t ns, char *p)
{
	unsigned secs = day_of(d, ns);

	memcpy(p, d->http, sizeof(d->http));
	p = clock_of(p + sizeof(d->http), secs);
	return BUF_PUT_LITERAL(p, " GMT");
}

char *props_put_iso_date(struct props_dates *d, int64_t ns, char *p)
{
	unsigned secs = day_of(d, ns);

	memcpy(p, d->iso, sizeof(d->iso));
	p = clock_of(p + sizeof(d->iso), secs);
	*p++ = 'Z';
	return p;
}

void props_http_date(int64_t ns, char buf[DAVD_DATE_MAX])
{
	struct props_dates d;

	props_dates_init(&d);
	*props_put_http_date(&d, ns, buf) = '\0';
}

void props_iso_date(int64_t ns, char buf[DAVD_DATE_MAX])
{
	struct props_dates d;

	props_dates_init(&d);
	*props_put_iso_date(&d, ns, buf) = '\0';
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

/* Extensions are at most EXT_MAX bytes, lower case, compared with their NUL padding. */
#define EXT_MAX 4

static const struct {
	const char ext[EXT_MAX + 1];
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
	char ext[EXT_MAX + 1] = {0};
	size_t elen = 0;

	while (elen < len && name[len - 1 - elen] != '.')
		elen++;
	if (elen == len || elen == 0 || elen > EXT_MAX)
		return "application/octet-stream";
	for (size_t i = 0; i < elen; i++) {
		char c = name[len - elen + i];

		if (c == '\0')
			return "application/octet-stream";
		ext[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (memcmp(types[i].ext, ext, sizeof(ext)) == 0)
			return types[i].type;
	return "application/octet-stream";
}
