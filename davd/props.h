/*
 * props: the values davd derives from a snapshot node, shared by PROPFIND, GET
 * and the HTML listing: the ETag, HTTP and ISO dates, the content type by
 * extension.  Pure functions of the node; no I/O.
 */
#ifndef MF_DAVD_PROPS_H
#define MF_DAVD_PROPS_H

#include <stddef.h>
#include <stdint.h>

struct snap_node;

#define DAVD_ETAG_MAX 64
#define DAVD_DATE_MAX 40

/*
 * The strong ETag of a node, quoted: "<id>-<size>-<mtime ns>" in hex.  The id is
 * a hash of the virtual path, so the tag stays the same across generations and
 * restarts while the file is unchanged.  size is the size served (GET: the
 * source's fstat; PROPFIND: propfind.c content_length()), not always n->size.
 */
void props_etag(const struct snap_node *n, uint64_t size, char buf[DAVD_ETAG_MAX]);
/* The same at p (at most DAVD_ETAG_MAX - 1 bytes, no NUL); returns the end. */
char *props_put_etag(const struct snap_node *n, uint64_t size, char *p);
/* The bytes props_put_etag() writes. */
size_t props_etag_length(const struct snap_node *n, uint64_t size);

/*
 * "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate) of ns since the epoch
 * (nanoseconds in 64 bits: the years 1677 to 2262, always four digits).
 */
void props_http_date(int64_t ns, char buf[DAVD_DATE_MAX]);
/* "1994-11-06T08:49:37Z" (RFC 3339, creationdate). */
void props_iso_date(int64_t ns, char buf[DAVD_DATE_MAX]);

#define DAVD_HTTP_DATE_LEN 29
#define DAVD_ISO_DATE_LEN  20

/*
 * The dates of one listing, written without a NUL at p (exactly
 * DAVD_HTTP_DATE_LEN or DAVD_ISO_DATE_LEN bytes, returning the end).  The
 * entries of a collection mostly share a day, so the calendar arithmetic is
 * done once per day and kept here; the time of day is six digits.  Owned by
 * its writer, one per thread; props_dates_init() before the first use.
 */
struct props_dates {
	int64_t day;   /* days since the epoch of the texts below; INT64_MIN for none */
	char http[17]; /* "Sun, 06 Nov 1994 " */
	char iso[11];  /* "1994-11-06T" */
};

void props_dates_init(struct props_dates *d);
char *props_put_http_date(struct props_dates *d, int64_t ns, char *p);
char *props_put_iso_date(struct props_dates *d, int64_t ns, char *p);
/* Seconds since the epoch of an HTTP date (all three RFC 9110 forms), -1 if not one. */
int64_t props_parse_http_date(const char *s);

/*
 * The media type of a file name by its extension; application/octet-stream by
 * default.  Every type is shorter than DAVD_TYPE_MAX bytes.
 */
#define DAVD_TYPE_MAX 48
const char *props_content_type(const char *name, size_t len);

#endif
