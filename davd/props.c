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

void props_etag(const struct snap_node *n, char buf[DAVD_ETAG_MAX])
{
	snprintf(buf, DAVD_ETAG_MAX, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", n->id, n->size,
	         (uint64_t)n->mtime_ns);
}

static time_t seconds(int64_t ns)
{
	return (time_t)(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
}

void props_http_date(int64_t ns, char buf[DAVD_DATE_MAX])
{
	time_t t = seconds(ns);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, DAVD_DATE_MAX, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

void props_iso_date(int64_t ns, char buf[DAVD_DATE_MAX])
{
	time_t t = seconds(ns);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, DAVD_DATE_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
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
