/*
 * webdav_source: reads a file's bytes from meta-sort's WebDAV server when it is
 * not readable under the files volume (source_webdav_url set).
 *
 * The file is <source_webdav_url>/<filePath> (each path byte outside the
 * unreserved set percent-encoded).  Reads are HTTP Range GETs through libcurl;
 * each open file keeps one easy handle, and all of them share a connection and
 * DNS cache, so connections are reused.  Sequential reads fetch ahead into a
 * per-file window that doubles up to WEBDAV_READAHEAD_MAX.  Every transfer has a
 * connect timeout and a stall timeout, and every failure is -EIO (-ENOENT for a
 * 404): a read never hangs.  Nothing here logs above debug; the caller logs.
 */
#ifndef MF_WEBDAV_SOURCE_H
#define MF_WEBDAV_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WEBDAV_READAHEAD_MIN (256u * 1024)
#define WEBDAV_READAHEAD_MAX (8u * 1024 * 1024)

struct webdav;
struct webdav_file;

/*
 * base_url: "http://host:port/path" (credentials may be in it).  The first
 * call loads libcurl (dlopen: it is not linked) and initialises it, so make it
 * while the process has one thread.  Returns 0, -ENOMEM, or -ELIBACC when
 * libcurl cannot be loaded.  Owner: the caller; webdav_free() after every file
 * is closed.
 */
int webdav_new(const char *base_url, struct webdav **ret);
void webdav_free(struct webdav *w);

/* Timeouts in milliseconds (defaults: connect 5000, stall 15000). */
void webdav_set_timeouts(struct webdav *w, long connect_ms, long stall_ms);

/*
 * Check that rel exists (HEAD) and open it.  Returns 0, -ENOENT (404), -EACCES
 * (401, 403), -EIO (anything else, timeouts included) or -ENOMEM; *ret_size gets
 * the size the server reports (0 when it reports none).  Owner: the caller.
 */
int webdav_file_open(struct webdav *w, const char *rel, struct webdav_file **ret,
                     uint64_t *ret_size);
void webdav_file_close(struct webdav_file *f);

/*
 * Copy up to size bytes at off into buf.  Returns the count (0 at the end of
 * the file) or -EIO / -ENOENT.  Safe to call from several threads on one file.
 */
ssize_t webdav_file_read(struct webdav_file *f, void *buf, size_t size, off_t off);

/*
 * Whether a 206 answer to a request for [off, off + want) is that range: its
 * Content-Range value ("bytes 100-199/1000") starts at off and ends at
 * off + want - 1, or earlier only where the file ends; and body_len bytes came.
 * A read through a source that answers anything else fails with -EIO, and a
 * 200 to a request that does not start at 0 fails too: never a wrong byte.
 */
bool webdav_range_matches(const char *content_range, uint64_t off, uint64_t want,
                          uint64_t body_len);

/* The URL of rel under the base, malloc'd; NULL on -ENOMEM.  (For tests and logs.) */
char *webdav_url(const struct webdav *w, const char *rel);

#endif
