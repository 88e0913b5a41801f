/*
 * get: GET and HEAD of a file (RFC 9110 sections 13-15).
 *
 * The bytes come from the source beneath the files volume (lib/source.h),
 * handed to libmicrohttpd as a descriptor so that they go out by sendfile()
 * without passing through user space; when the local file is absent and a
 * source WebDAV URL is configured, they are streamed from there with the
 * Range passed on (lib/webdav_source.h checks that the source answers exactly
 * the range asked; on any failure the connection is cut, never a wrong byte
 * sent).  One byte range per request, with suffix ("-500") and open ("100-")
 * forms; a multi-range or malformed Range is ignored (the whole file, 200), an
 * unsatisfiable one is 416 with Content-Range "bytes * / size".  Conditionals:
 * If-Match / If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304),
 * If-Range (a Range applies only while the validator still matches).  The
 * Content-Length is always exact: never chunked, so players can seek.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "davd.h"
#include "generation.h"
#include "props.h"
#include "snapshot.h"
#include "source.h"
#include "webdav_source.h"

#define STREAM_BLOCK (256 * 1024)

/*
 * A body up to this size is read into the response rather than sent by
 * sendfile(): libmicrohttpd then sends headers and body in one sendmsg(), one
 * TCP segment and one wake-up of the client, where sendfile() needs a send of
 * the headers and a second segment.  A copy of a few KiB costs less than the
 * segment (docs/davd.md#get-and-head).
 */
#define SMALL_BODY_MAX (16 * 1024)

struct range {
	uint64_t first, last; /* inclusive */
};

enum range_result {
	RANGE_NONE,          /* no Range, or one to ignore: the whole file */
	RANGE_ONE,           /* one satisfiable range */
	RANGE_UNSATISFIABLE, /* 416 */
};

static bool parse_u64(const char **p, uint64_t *ret)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s++ - '0');
	}
	*p = s;
	*ret = v;
	return true;
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" against size. */
static enum range_result parse_range(const char *h, uint64_t size, struct range *ret)
{
	const char *p;
	uint64_t a = 0, b = 0;
	bool has_a, has_b;

	if (!h)
		return RANGE_NONE;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "bytes=", 6) != 0)
		return RANGE_NONE; /* another unit: ignored */
	p = h + 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ','))
		return RANGE_NONE; /* several ranges: the whole file instead */
	has_a = parse_u64(&p, &a);
	if (*p++ != '-')
		return RANGE_NONE;
	has_b = parse_u64(&p, &b);
	while (*p == ' ')
		p++;
	if (*p != '\0' || (!has_a && !has_b))
		return RANGE_NONE;
	if (!has_a) { /* suffix: the last b bytes */
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		ret->first = b >= size ? 0 : size - b;
		ret->last = size - 1;
		return RANGE_ONE;
	}
	if (has_b && b < a)
		return RANGE_NONE; /* invalid: ignored */
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	ret->first = a;
	ret->last = !has_b || b >= size ? size - 1 : b;
	return RANGE_ONE;
}

/* Whether an If-Match / If-None-Match list names etag ("*" names anything). */
static bool etag_listed(const char *list, const char *etag, bool weak)
{
	size_t elen = strlen(etag);
	const char *p = list;

	while (*p) {
		const char *start;
		bool is_weak = false;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0) {
			is_weak = true;
			p += 2;
		}
		start = p;
		if (*p != '"')
			break;
		p = strchr(p + 1, '"');
		if (!p)
			break;
		p++;
		if ((weak || !is_weak) && (size_t)(p - start) == elen &&
		    memcmp(start, etag, elen) == 0)
			return true;
	}
	return false;
}

enum cond {
	COND_GO,
	COND_NOT_MODIFIED,
	COND_FAILED,
};

static enum cond conditions(struct http_request *req, const char *etag, int64_t mtime_s,
                            bool *ret_range_ok)
{
	const char *im = http_header(req, MHD_HTTP_HEADER_IF_MATCH);
	const char *ius = http_header(req, MHD_HTTP_HEADER_IF_UNMODIFIED_SINCE);
	const char *inm = http_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *ims = http_header(req, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
	const char *ir = http_header(req, MHD_HTTP_HEADER_IF_RANGE);
	int64_t t;

	if (im && !etag_listed(im, etag, false))
		return COND_FAILED;
	if (!im && ius && (t = props_parse_http_date(ius)) >= 0 && mtime_s > t)
		return COND_FAILED;
	if (inm && etag_listed(inm, etag, true))
		return COND_NOT_MODIFIED;
	if (!inm && ims && (t = props_parse_http_date(ims)) >= 0 && mtime_s <= t)
		return COND_NOT_MODIFIED;
	*ret_range_ok = true;
	if (ir) {
		if (ir[0] == '"' || strncmp(ir, "W/", 2) == 0)
			*ret_range_ok = strcmp(ir, etag) == 0; /* strong comparison */
		else
			*ret_range_ok = (t = props_parse_http_date(ir)) >= 0 && t == mtime_s;
	}
	return COND_GO;
}

static void validators(struct MHD_Response *resp, const char *etag, const char *last_modified)
{
	http_add_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	http_add_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, last_modified);
	http_add_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
}

/*
 * A file streamed from the source WebDAV URL.  Its first block is read before
 * the answer is sent, so that a source that fails or answers another range
 * gives a 502 rather than a reply cut after its headers.
 */
struct remote {
	struct webdav_file *f;
	uint64_t off;  /* of the first byte sent */
	uint64_t left; /* bytes still to send */
	char *first;   /* the first block, read ahead */
	size_t first_len;
};

static ssize_t remote_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct remote *r = cls;
	ssize_t n;

	if (r->left == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > r->left)
		max = (size_t)r->left;
	if (pos < r->first_len) {
		n = (ssize_t)(r->first_len - pos < max ? r->first_len - pos : max);
		memcpy(buf, r->first + pos, (size_t)n);
	} else {
		n = webdav_file_read(r->f, buf, max, (off_t)(r->off + pos));
		if (n <= 0)
			return MHD_CONTENT_READER_END_WITH_ERROR; /* cut: never a wrong byte */
	}
	r->left -= (uint64_t)n;
	return n;
}

static void remote_free(void *cls)
{
	struct remote *r = cls;

	webdav_file_close(r->f);
	free(r->first);
	free(r);
}

/* The remote body at off, its first block (of len) read; -EIO when that fails. */
static int remote_new(struct webdav_file *wf, uint64_t off, uint64_t len, struct remote **ret)
{
	struct remote *r = calloc(1, sizeof(*r));
	size_t want = len < STREAM_BLOCK ? (size_t)len : STREAM_BLOCK;
	ssize_t n = 0;

	if (!r)
		return -ENOMEM;
	*r = (struct remote){.f = wf, .off = off, .left = len};
	if (want > 0) {
		r->first = malloc(want);
		if (!r->first) {
			free(r);
			return -ENOMEM;
		}
		while ((size_t)n < want) {
			ssize_t got = webdav_file_read(wf, r->first + n, want - (size_t)n,
			                               (off_t)(off + (uint64_t)n));

			if (got <= 0) {
				free(r->first);
				free(r);
				return got < 0 ? (int)got : -EIO;
			}
			n += got;
		}
		r->first_len = (size_t)n;
	}
	*ret = r;
	return 0;
}

/*
 * [off, off + len) of fd, read into memory as the response's body.  -EIO when
 * the file is shorter than its fstat said (it shrank in between): the answer
 * is not sent yet, so the client gets an error rather than fewer bytes.
 */
static int small_body(int fd, uint64_t off, size_t len, struct MHD_Response **ret)
{
	char *body = malloc(len ? len : 1);
	size_t got = 0;
	int r = 0;

	if (!body)
		return -ENOMEM;
	while (got < len) {
		ssize_t n = pread(fd, body + got, len - got, (off_t)(off + got));

		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	if (r < 0) {
		free(body);
		return r;
	}
	*ret = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!*ret)
		free(body);
	return 0;
}

/*
 * The node's source: a shared local descriptor (*ret_file, to put; the
 * descriptor is borrowed), or the WebDAV source (*ret_wf).
 */
static int open_body(struct davd *d, const struct snapshot *s, const struct snap_node *n,
                     struct source_file **ret_file, struct webdav_file **ret_wf, uint64_t *ret_size)
{
	const char *rel = snapshot_str(s, n->source);
	struct stat st;
	int fd = source_get(d->src, rel, &st, ret_file), r;

	if (fd >= 0) {
		*ret_size = (uint64_t)st.st_size;
		return 0;
	}
	if (fd != -ENOENT || !d->dav)
		return fd;
	r = webdav_file_open(d->dav, rel, ret_wf, ret_size);
	if (r < 0)
		return r;
	if (*ret_size == 0)
		*ret_size = n->size;
	return 0;
}

/* The body of [off, off + len) of a local source: read into memory when small, else sendfile. */
static int file_body(struct source_file *f, uint64_t off, uint64_t len, bool head,
                     struct MHD_Response **ret)
{
	int fd = source_file_fd(f);

	if (!head && len <= SMALL_BODY_MAX)
		return small_body(fd, off, (size_t)len, ret);
	/* A descriptor of its own, which libmicrohttpd closes with the response. */
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*ret = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (!*ret)
		close(fd);
	return 0;
}

/* The virtual ERROR.txt: the generation's text, with the same range rules. */
static enum MHD_Result error_text(struct http_request *req, struct davd_target *t, const char *etag,
                                  const char *lm, bool range_ok)
{
	const struct generation *g = t->gen;
	struct MHD_Response *resp;
	struct range rg = {0, g->error_len ? g->error_len - 1 : 0};
	enum range_result rr =
	    range_ok ? parse_range(http_header(req, MHD_HTTP_HEADER_RANGE), g->error_len, &rg)
	             : RANGE_NONE;
	char cr[96];
	uint64_t len;

	if (rr == RANGE_UNSATISFIABLE) {
		davd_target_done(t);
		snprintf(cr, sizeof(cr), "bytes */%zu", g->error_len);
		return http_respond_status_with(req, 416, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	if (rr == RANGE_NONE)
		rg = (struct range){0, g->error_len ? g->error_len - 1 : 0};
	len = g->error_len ? rg.last - rg.first + 1 : 0;
	resp = MHD_create_response_from_buffer((size_t)len, g->error_text + rg.first,
	                                       MHD_RESPMEM_MUST_COPY);
	if (resp) {
		validators(resp, etag, lm);
		http_add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
		if (rr == RANGE_ONE) {
			snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%zu", rg.first,
			         rg.last, g->error_len);
			http_add_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		}
	}
	davd_target_done(t);
	req->bytes = http_is_head(req) ? 0 : len;
	return http_respond(req, rr == RANGE_ONE ? 206 : 200, resp);
}

enum MHD_Result davd_get(struct davd *d, struct http_request *req)
{
	struct davd_target t;
	struct webdav_file *wf = NULL;
	struct MHD_Response *resp;
	struct range rg = {0};
	char etag[DAVD_ETAG_MAX], lm[DAVD_DATE_MAX], cr[96];
	const char *name;
	uint64_t size = 0, len;
	bool head = http_is_head(req), range_ok = false;
	enum range_result rr;
	unsigned status;
	struct source_file *file = NULL;
	enum cond c;
	int r;

	req->route = head ? DAVD_ROUTE_HEAD : DAVD_ROUTE_GET;
	r = davd_resolve(d, req, &t);
	if (r < 0)
		return http_respond_errno(req, r);
	if (snapshot_node_is_dir(t.node))
		return davd_listing(d, req, &t);

	/*
	 * The size served is the opened source's (its fstat, or what the WebDAV
	 * source reports), never the snapshot's number, which may be unknown
	 * (SNAP_NODE_F_SIZE_UNKNOWN) or wrong: the ETag and the ranges follow it.
	 */
	if (t.error_file) {
		size = t.node->size;
	} else {
		r = open_body(d, t.gen->snap, t.node, &file, &wf, &size);
		if (r < 0) {
			davd_target_done(&t);
			/* A record whose file is gone or refused: the share says so plainly. */
			return http_respond_errno(req, r == -EINVAL ? -EACCES : r);
		}
	}
	props_etag(t.node, size, etag);
	props_http_date(t.node->mtime_ns, lm);
	c = conditions(req, etag, t.node->mtime_ns / 1000000000, &range_ok);
	if (c != COND_GO) {
		source_put(file);
		webdav_file_close(wf);
		davd_target_done(&t);
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		validators(resp, etag, lm);
		return http_respond(req, c == COND_FAILED ? 412 : 304, resp);
	}
	if (t.error_file)
		return error_text(req, &t, etag, lm, range_ok);
	name = snapshot_str(t.gen->snap, t.node->name);
	rr =
	    range_ok ? parse_range(http_header(req, MHD_HTTP_HEADER_RANGE), size, &rg) : RANGE_NONE;
	if (rr == RANGE_UNSATISFIABLE) {
		source_put(file);
		webdav_file_close(wf);
		davd_target_done(&t);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		return http_respond_status_with(req, 416, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	if (rr == RANGE_NONE) {
		rg.first = 0;
		rg.last = size ? size - 1 : 0;
	}
	len = size ? rg.last - rg.first + 1 : 0;
	status = rr == RANGE_ONE ? 206 : 200;
	if (file) {
		resp = NULL;
		r = file_body(file, rg.first, len, head, &resp);
		source_put(file);
		if (r < 0) {
			davd_target_done(&t);
			return http_respond_errno(req, r);
		}
	} else {
		struct remote *rem = NULL;

		/* HEAD reads nothing; GET reads its first block before answering. */
		r = remote_new(wf, rg.first, head ? 0 : len, &rem);
		if (r < 0) {
			webdav_file_close(wf);
			davd_target_done(&t);
			return http_respond_errno(req, r == -ENOMEM ? r : -EIO);
		}
		rem->left = len;
		resp = MHD_create_response_from_callback(len, STREAM_BLOCK, remote_read, rem,
		                                         remote_free);
		if (!resp)
			remote_free(rem);
	}
	if (resp) {
		validators(resp, etag, lm);
		http_add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                props_content_type(name, t.node->name.len));
		if (status == 206) {
			snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, rg.first,
			         rg.last, size);
			http_add_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		}
	}
	davd_target_done(&t); /* the body holds its own descriptor or handle */
	req->bytes = head ? 0 : len;
	return http_respond(req, status, resp);
}
