/*
 * propfind: PROPFIND (RFC 4918 9.1) and PROPPATCH (9.2) on the read-only share.
 *
 * PROPFIND answers Depth 0 and 1 (Depth infinity, also implied by a missing
 * header: 403 with the propfind-finite-depth precondition) for allprop,
 * propname, a list of properties, or an empty body (allprop).  The reply is
 * compact (one short namespace prefix, no whitespace: Windows Explorer gives
 * up on replies past 1 MB) and written by a generator that emits whole
 * <response> elements, each in one piece into room reserved for it, while
 * the client reads: a 50,000-entry directory never sits in memory whole.  The
 * reply's exact size is worked out first, from what the writer gives for the
 * least varying file and collection plus what each entry adds (its name,
 * size and ETag), so it is sent with a Content-Length in large blocks.  What
 * every response repeats (the properties asked, the 404 propstat of unknown
 * ones) is prepared once per request.  The request's generation stays
 * referenced until the last block is written.
 *
 * Live properties: the DAV: ones of RFC 4918 and, by name only, the Win32 ones
 * of urn:schemas-microsoft-com: that the Windows mini-redirector asks for
 * (times, and attributes with the read-only bit set).  Anything else is
 * answered 404 inside the 207.  PROPPATCH changes nothing: every property it
 * names is answered 403 inside a 207 (Windows expects that, not a bare 405).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "davd.h"
#include "error_file.h"
#include "generation.h"
#include "http_status.h"
#include "log.h"
#include "props.h"
#include "snapshot.h"
#include "source.h"
#include "xml.h"

#define WIN32_NS "urn:schemas-microsoft-com:"

enum prop {
	P_RESOURCETYPE,
	P_GETCONTENTLENGTH,
	P_GETLASTMODIFIED,
	P_CREATIONDATE,
	P_DISPLAYNAME,
	P_GETCONTENTTYPE,
	P_GETETAG,
	P_SUPPORTEDLOCK,
	P_LOCKDISCOVERY,
	P_WIN32_CREATION,
	P_WIN32_ACCESS,
	P_WIN32_MODIFIED,
	P_WIN32_ATTRIBUTES,
	P_MAX,
};

static const struct {
	const char *ns;
	const char *name;
	const char *tag; /* prefixed: D is DAV:, Z is Win32 (declared on the root) */
	bool in_allprop;
} props[P_MAX] = {
    [P_RESOURCETYPE] = {"DAV:", "resourcetype", "D:resourcetype", true},
    [P_GETCONTENTLENGTH] = {"DAV:", "getcontentlength", "D:getcontentlength", true},
    [P_GETLASTMODIFIED] = {"DAV:", "getlastmodified", "D:getlastmodified", true},
    [P_CREATIONDATE] = {"DAV:", "creationdate", "D:creationdate", true},
    [P_DISPLAYNAME] = {"DAV:", "displayname", "D:displayname", true},
    [P_GETCONTENTTYPE] = {"DAV:", "getcontenttype", "D:getcontenttype", true},
    [P_GETETAG] = {"DAV:", "getetag", "D:getetag", true},
    [P_SUPPORTEDLOCK] = {"DAV:", "supportedlock", "D:supportedlock", true},
    [P_LOCKDISCOVERY] = {"DAV:", "lockdiscovery", "D:lockdiscovery", true},
    [P_WIN32_CREATION] = {WIN32_NS, "Win32CreationTime", "Z:Win32CreationTime", false},
    [P_WIN32_ACCESS] = {WIN32_NS, "Win32LastAccessTime", "Z:Win32LastAccessTime", false},
    [P_WIN32_MODIFIED] = {WIN32_NS, "Win32LastModifiedTime", "Z:Win32LastModifiedTime", false},
    [P_WIN32_ATTRIBUTES] = {WIN32_NS, "Win32FileAttributes", "Z:Win32FileAttributes", false},
};

#define MULTISTATUS_OPEN                               \
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" \
	"<D:multistatus xmlns:D=\"DAV:\" xmlns:Z=\"" WIN32_NS "\">"
#define MULTISTATUS_CLOSE "</D:multistatus>\n"
#define XML_TYPE          "application/xml; charset=utf-8"
#define STATUS_200        "<D:status>HTTP/1.1 200 OK</D:status>"
#define STATUS_403        "<D:status>HTTP/1.1 403 Forbidden</D:status>"
#define STATUS_404        "<D:status>HTTP/1.1 404 Not Found</D:status>"

/*
 * A reply's size is worked out before its first byte (size_reply()), so that
 * it goes out with a Content-Length, generated while the client reads into a
 * block MHD sends whole: STREAM_BLOCK bytes, or the reply's size when smaller.
 * Large blocks mean few sends and wake-ups of the client; kept below davd's
 * mmap threshold (main.c), so the block is reused heap, not memory mapped and
 * faulted in for every reply.
 *
 * Where an entry's size is measured at its source (it may change while the
 * reply is sent), a reply for at most WHOLE_MAX_ENTRIES entries is generated
 * whole, and a larger one streamed chunked: its chunks go straight into the
 * connection's own buffer, and the block (CHUNKED_BLOCK) serves only HTTP/1.0.
 */
#define STREAM_BLOCK      (60 * 1024)
#define WHOLE_MAX_ENTRIES 256
#define CHUNKED_BLOCK     (4 * 1024)
/*
 * The most bytes value() writes for any property (the tags, and a value of
 * at most DAVD_ETAG_MAX, DAVD_DATE_MAX, BUF_U64_MAX or DAVD_TYPE_MAX bytes),
 * displayname's name apart.
 */
#define VALUE_MAX 160
/* The most bytes of a response's own elements, around its href and properties. */
#define FRAME_MAX                                                                       \
	(sizeof("<D:response><D:href></D:href><D:propstat><D:prop></D:prop>" STATUS_200 \
	        "</D:propstat></D:response>"))

enum mode {
	MODE_ALLPROP,
	MODE_PROPNAME,
	MODE_PROP,
};

/* What a reply writes, in order. */
enum phase {
	PHASE_OPEN,     /* MULTISTATUS_OPEN */
	PHASE_SELF,     /* the target */
	PHASE_CHILDREN, /* Depth 1: the target collection's entries */
	PHASE_ERROR,    /* Depth 1 on the root: the virtual ERROR.txt */
	PHASE_CLOSE,    /* MULTISTATUS_CLOSE */
	PHASE_DONE,
};

/* The next piece of a reply: a node's response, or the text around them. */
struct item {
	const struct snap_node *node; /* NULL for the text of PHASE_OPEN and PHASE_CLOSE */
	const char *name;
	size_t name_len;
	bool href_is_self; /* the target's own href, else the collection's + name */
	size_t max;        /* the most bytes it takes */
};

/*
 * One PROPFIND reply being written, possibly across many chunks: the request's
 * shape turned once into what every response repeats, then the target and
 * its entries one response at a time.  Owned by the response (reply_free).
 */
struct reply {
	struct generation *gen; /* referenced until the reply is done */
	const struct snapshot *snap;
	struct source *src; /* davd's: stats of sources whose size is unknown */
	enum mode mode;
	enum prop list[DAVD_PROPS_MAX]; /* the known properties written, in order */
	unsigned list_count;
	unsigned name_copies; /* how many of them are displayname */
	bool any_known;       /* a 200 propstat (possibly empty) in every response */
	struct buf same;  /* what every response has the same: PROPNAME's names, the 404 propstat */
	size_t props_max; /* the most bytes of the listed properties, displayname's name apart */

	struct buf self_href;         /* the target's href, escaped; a collection's ends in '/' */
	const struct snap_node *self; /* the target */
	const char *self_name;
	struct snap_node self_copy;  /* the target when it is the virtual ERROR.txt */
	const struct snap_node *dir; /* the target collection of a Depth 1 */
	bool error_pending;          /* the virtual ERROR.txt to list */
	struct snap_node error_node;
	const struct snap_node *children;
	uint32_t child_count, next_child;
	enum phase phase;
	struct props_dates dates;

	/*
	 * The exact size of a response (measure()): what put() writes for a file
	 * and a collection named "" of size, id and time 0 (href the target's),
	 * plus what varies, times how often the properties that vary are listed.
	 */
	size_t base_file, base_dir, type_base;
	uint64_t type_key; /* type_of(): the extension of the last name, and its type */
	const char *type;
	size_t type_len;
	unsigned n_length, n_etag, n_type;
	uint64_t total;   /* the reply's size when known in advance, else MHD_SIZE_UNKNOWN */
	uint64_t written; /* given to MHD so far */

	struct buf spill; /* a response larger than the room it was given, being sent */
	size_t spill_sent;
};

static void reply_free(void *p)
{
	struct reply *r = p;

	if (!r)
		return;
	generation_put(r->gen);
	buf_free(&r->same);
	buf_free(&r->self_href);
	buf_free(&r->spill);
	free(r);
}

/*
 * getcontentlength of a file: the snapshot's size, unless kvwatch flagged it as
 * unknown (SNAP_NODE_F_SIZE_UNKNOWN): then a stat of the source beneath the
 * volume (0 when it cannot be opened; GET will say why).  An unflagged size that
 * is merely wrong stays as it is here (a stat per entry of a listing is not
 * cheap); GET and HEAD always send what the source has.
 */
static bool is_measured(const struct reply *r, const struct snap_node *n)
{
	return !snapshot_node_is_dir(n) && (n->flags & SNAP_NODE_F_SIZE_UNKNOWN) && r->src &&
	       r->snap;
}

static uint64_t content_length(const struct reply *r, const struct snap_node *n)
{
	uint64_t size;

	if (snapshot_node_is_dir(n))
		return 0;
	if (!is_measured(r, n))
		return n->size;
	if (source_size(r->src, snapshot_str(r->snap, n->source), &size) < 0)
		return 0;
	return size;
}

/*
 * The media type of a file named name[0..len), and its length (at most
 * DAVD_TYPE_MAX).  It depends on the extension only (a dot and at most four
 * bytes), so the type of the extension before is kept: the files of a
 * collection mostly share theirs.
 */
static const char *type_of(struct reply *r, const char *name, size_t len, size_t *ret_len)
{
	size_t dot = len;
	uint64_t key;

	while (dot > 0 && len - dot < 5 && name[dot - 1] != '.')
		dot--;
	if (dot == 0 || name[dot - 1] != '.') {
		const char *type = props_content_type(name, len); /* no extension it knows */

		*ret_len = strlen(type);
		return type;
	}
	key = (uint64_t)(len - dot) << 40;
	for (size_t i = dot; i < len; i++)
		key |= (uint64_t)(unsigned char)name[i] << (8 * (i - dot));
	if (key != r->type_key) {
		r->type_key = key;
		r->type = props_content_type(name, len);
		r->type_len = strlen(r->type);
		if (r->type_len > DAVD_TYPE_MAX)
			r->type_len = DAVD_TYPE_MAX;
	}
	*ret_len = r->type_len;
	return r->type;
}

/* Property p of node n at o: at most VALUE_MAX bytes, plus BUF_ESCAPED_MAX of the name. */
static char *value(struct reply *r, char *o, enum prop p, const struct snap_node *n,
                   const char *name, size_t name_len, uint64_t size)
{
	bool dir = snapshot_node_is_dir(n);
	const char *type;
	size_t len;

	switch (p) {
	case P_RESOURCETYPE:
		if (dir)
			return BUF_PUT_LITERAL(o,
			                       "<D:resourcetype><D:collection/></D:resourcetype>");
		return BUF_PUT_LITERAL(o, "<D:resourcetype/>");
	case P_GETCONTENTLENGTH:
		/* Collections carry 0: Infuse and Kodi want the property everywhere. */
		o = BUF_PUT_LITERAL(o, "<D:getcontentlength>");
		o = buf_put_u64(o, size);
		return BUF_PUT_LITERAL(o, "</D:getcontentlength>");
	case P_GETLASTMODIFIED:
		o = BUF_PUT_LITERAL(o, "<D:getlastmodified>");
		o = props_put_http_date(&r->dates, n->mtime_ns, o);
		return BUF_PUT_LITERAL(o, "</D:getlastmodified>");
	case P_CREATIONDATE:
		o = BUF_PUT_LITERAL(o, "<D:creationdate>");
		o = props_put_iso_date(&r->dates, n->ctime_ns ? n->ctime_ns : n->mtime_ns, o);
		return BUF_PUT_LITERAL(o, "</D:creationdate>");
	case P_DISPLAYNAME:
		o = BUF_PUT_LITERAL(o, "<D:displayname>");
		o = buf_put_escaped(o, name, name_len);
		return BUF_PUT_LITERAL(o, "</D:displayname>");
	case P_GETCONTENTTYPE:
		type = dir ? "httpd/unix-directory" : type_of(r, name, name_len, &len);
		if (dir)
			len = strlen(type);
		o = BUF_PUT_LITERAL(o, "<D:getcontenttype>");
		memcpy(o, type, len);
		return BUF_PUT_LITERAL(o + len, "</D:getcontenttype>");
	case P_GETETAG:
		/* hex digits, '-' and '"': nothing to escape in text */
		o = BUF_PUT_LITERAL(o, "<D:getetag>");
		o = props_put_etag(n, size, o);
		return BUF_PUT_LITERAL(o, "</D:getetag>");
	case P_SUPPORTEDLOCK:
		return BUF_PUT_LITERAL(o, "<D:supportedlock/>");
	case P_LOCKDISCOVERY:
		return BUF_PUT_LITERAL(o, "<D:lockdiscovery/>");
	case P_WIN32_CREATION:
		o = BUF_PUT_LITERAL(o, "<Z:Win32CreationTime>");
		o = props_put_http_date(&r->dates, n->ctime_ns ? n->ctime_ns : n->mtime_ns, o);
		return BUF_PUT_LITERAL(o, "</Z:Win32CreationTime>");
	case P_WIN32_ACCESS:
		o = BUF_PUT_LITERAL(o, "<Z:Win32LastAccessTime>");
		o = props_put_http_date(&r->dates, n->mtime_ns, o);
		return BUF_PUT_LITERAL(o, "</Z:Win32LastAccessTime>");
	case P_WIN32_MODIFIED:
		o = BUF_PUT_LITERAL(o, "<Z:Win32LastModifiedTime>");
		o = props_put_http_date(&r->dates, n->mtime_ns, o);
		return BUF_PUT_LITERAL(o, "</Z:Win32LastModifiedTime>");
	case P_WIN32_ATTRIBUTES:
		/* FILE_ATTRIBUTE_READONLY (1), plus FILE_ATTRIBUTE_DIRECTORY (0x10). */
		if (dir)
			return BUF_PUT_LITERAL(
			    o, "<Z:Win32FileAttributes>00000011</Z:Win32FileAttributes>");
		return BUF_PUT_LITERAL(o,
		                       "<Z:Win32FileAttributes>00000001</Z:Win32FileAttributes>");
	case P_MAX:
		break;
	}
	return o;
}

/*
 * An element named by a client: in the namespaces the root declares by their
 * prefix (short replies for Windows), else with its own namespace declared on it.
 */
static void foreign_name(struct buf *b, const struct xml_name *n)
{
	const char *prefix = strcmp(n->ns, "DAV:") == 0     ? "D:"
	                     : strcmp(n->ns, WIN32_NS) == 0 ? "Z:"
	                                                    : NULL;

	if (prefix) {
		buf_adds(b, "<");
		buf_adds(b, prefix);
		buf_add_escaped(b, n->local, strlen(n->local));
		buf_adds(b, "/>");
	} else if (n->ns[0]) {
		buf_adds(b, "<X:");
		buf_add_escaped(b, n->local, strlen(n->local));
		buf_adds(b, " xmlns:X=\"");
		buf_add_escaped(b, n->ns, strlen(n->ns));
		buf_adds(b, "\"/>");
	} else {
		buf_adds(b, "<");
		buf_add_escaped(b, n->local, strlen(n->local));
		buf_adds(b, " xmlns=\"\"/>");
	}
}

static int prop_of(const struct xml_name *n)
{
	for (int p = 0; p < P_MAX; p++)
		if (strcmp(n->ns, props[p].ns) == 0 && strcmp(n->local, props[p].name) == 0)
			return p;
	return -1;
}

/*
 * Turn the request's shape into what every response repeats: the properties
 * to write, and the text that is the same for every node (PROPNAME's names,
 * the 404 propstat of unknown properties).
 */
static void plan(struct reply *r, const struct xml_request *x)
{
	bool any_unknown = false;

	r->any_known = true;
	switch (r->mode) {
	case MODE_ALLPROP:
		for (int p = 0; p < P_MAX; p++)
			if (props[p].in_allprop)
				r->list[r->list_count++] = (enum prop)p;
		break;
	case MODE_PROPNAME:
		for (int p = 0; p < P_MAX; p++) {
			buf_adds(&r->same, "<");
			buf_adds(&r->same, props[p].tag);
			buf_adds(&r->same, "/>");
		}
		break;
	case MODE_PROP:
		for (unsigned i = 0; i < x->prop_count; i++) {
			int p = prop_of(&x->props[i]);

			if (p >= 0)
				r->list[r->list_count++] = (enum prop)p;
			else
				any_unknown = true;
		}
		r->any_known = r->list_count > 0 || x->prop_count == 0;
		break;
	}
	if (r->any_known)
		buf_adds(&r->same, "</D:prop>" STATUS_200 "</D:propstat>");
	if (any_unknown) {
		buf_adds(&r->same, "<D:propstat><D:prop>");
		for (unsigned i = 0; i < x->prop_count; i++)
			if (prop_of(&x->props[i]) < 0)
				foreign_name(&r->same, &x->props[i]);
		buf_adds(&r->same, "</D:prop>" STATUS_404 "</D:propstat>");
	}
	for (unsigned i = 0; i < r->list_count; i++) {
		r->name_copies += r->list[i] == P_DISPLAYNAME;
		r->n_length += r->list[i] == P_GETCONTENTLENGTH;
		r->n_etag += r->list[i] == P_GETETAG;
		r->n_type += r->list[i] == P_GETCONTENTTYPE;
	}
	r->props_max = (size_t)r->list_count * VALUE_MAX;
}

/* The most bytes put() writes for the response of it. */
static size_t response_max(const struct reply *r, const struct item *it)
{
	return FRAME_MAX + r->same.len + r->props_max +
	       r->name_copies * BUF_ESCAPED_MAX(it->name_len) + r->self_href.len +
	       (it->href_is_self ? 0 : BUF_ENCODED_MAX(it->name_len) + 1);
}

/* The next piece of the reply, skipping what is not written; false at the end. */
static bool peek(struct reply *r, struct item *it)
{
	const struct snap_node *c;

	*it = (struct item){0};
	for (;;) {
		switch (r->phase) {
		case PHASE_OPEN:
			it->max = sizeof(MULTISTATUS_OPEN);
			return true;
		case PHASE_SELF:
			it->node = r->self;
			it->name = r->self_name;
			it->name_len = strlen(r->self_name);
			it->href_is_self = true;
			break;
		case PHASE_CHILDREN:
			if (r->next_child >= r->child_count) {
				r->phase = PHASE_ERROR;
				continue;
			}
			c = &r->children[r->next_child];
			if (r->error_pending && davd_is_hidden(r->gen, r->snap, r->dir, c)) {
				r->next_child++;
				continue;
			}
			it->node = c;
			it->name = snapshot_str(r->snap, c->name);
			it->name_len = c->name.len;
			break;
		case PHASE_ERROR:
			if (!r->error_pending) {
				r->phase = PHASE_CLOSE;
				continue;
			}
			it->node = &r->error_node;
			it->name = ERROR_FILE_NAME;
			it->name_len = sizeof(ERROR_FILE_NAME) - 1;
			break;
		case PHASE_CLOSE:
			it->max = sizeof(MULTISTATUS_CLOSE);
			return true;
		case PHASE_DONE:
			return false;
		}
		it->max = response_max(r, it);
		return true;
	}
}

static void advance(struct reply *r)
{
	switch (r->phase) {
	case PHASE_OPEN:
		r->phase = PHASE_SELF;
		break;
	case PHASE_SELF:
		r->phase = PHASE_CHILDREN;
		break;
	case PHASE_CHILDREN:
		r->next_child++;
		break;
	case PHASE_ERROR:
		r->error_pending = false;
		break;
	case PHASE_CLOSE:
		r->phase = PHASE_DONE;
		break;
	case PHASE_DONE:
		break;
	}
}

/* Write item it at o (room for it->max bytes); returns the end. */
static char *put(struct reply *r, const struct item *it, char *o)
{
	const struct snap_node *n = it->node;
	uint64_t size;

	if (!n)
		return r->phase == PHASE_OPEN ? BUF_PUT_LITERAL(o, MULTISTATUS_OPEN)
		                              : BUF_PUT_LITERAL(o, MULTISTATUS_CLOSE);
	size = r->mode == MODE_PROPNAME ? 0 : content_length(r, n);
	o = BUF_PUT_LITERAL(o, "<D:response><D:href>");
	memcpy(o, r->self_href.p, r->self_href.len);
	o += r->self_href.len;
	if (!it->href_is_self) {
		/* Percent-encoded: only unreserved bytes, '/' and '%', nothing to escape. */
		o = buf_put_encoded(o, it->name, it->name_len);
		if (snapshot_node_is_dir(n))
			*o++ = '/';
	}
	o = BUF_PUT_LITERAL(o, "</D:href>");
	if (r->any_known)
		o = BUF_PUT_LITERAL(o, "<D:propstat><D:prop>");
	for (unsigned i = 0; i < r->list_count; i++)
		o = value(r, o, r->list[i], n, it->name, it->name_len, size);
	memcpy(o, r->same.p, r->same.len);
	o += r->same.len;
	return BUF_PUT_LITERAL(o, "</D:response>");
}

/* The exact bytes put() writes for it (calibrate() first). */
static size_t measure(struct reply *r, const struct item *it)
{
	const struct snap_node *n = it->node;
	bool dir;
	uint64_t size;
	size_t len, type;

	if (!n)
		return r->phase == PHASE_OPEN ? sizeof(MULTISTATUS_OPEN) - 1
		                              : sizeof(MULTISTATUS_CLOSE) - 1;
	dir = snapshot_node_is_dir(n);
	size = r->mode == MODE_PROPNAME ? 0 : content_length(r, n);
	len = dir ? r->base_dir : r->base_file;
	if (!it->href_is_self)
		len += buf_encoded_length(it->name, it->name_len) + dir;
	len += r->n_length * (buf_u64_length(size) - 1);
	len += r->n_etag * (props_etag_length(n, size) - sizeof("\"0-0-0\"") + 1);
	len += r->name_copies * buf_escaped_length(it->name, it->name_len);
	if (!dir && r->n_type) {
		type_of(r, it->name, it->name_len, &type);
		/* Less than type_base for a shorter type: size_t wraps back. */
		len += r->n_type * (type - r->type_base);
	}
	return len;
}

/* What measure() starts from: the responses of a file and a collection that vary least. */
static int calibrate(struct reply *r)
{
	struct snap_node probe = {.type = SNAP_NODE_FILE};
	struct item it = {.node = &probe, .name = "", .href_is_self = true};
	struct buf b = {0};
	char *o;

	it.max = response_max(r, &it);
	o = buf_reserve(&b, it.max);
	if (!o)
		return -ENOMEM;
	r->base_file = (size_t)(put(r, &it, o) - o);
	probe.type = SNAP_NODE_DIR;
	r->base_dir = (size_t)(put(r, &it, o) - o);
	type_of(r, "", 0, &r->type_base);
	buf_free(&b);
	return 0;
}

/*
 * The size of the whole reply, known before its first byte is written (so it
 * goes out with a Content-Length, in blocks MHD sends whole): false when an
 * entry's size is measured at its source, which may change while it is sent.
 */
static bool size_reply(struct reply *r, uint64_t *ret_total)
{
	enum phase phase = r->phase;
	uint32_t next_child = r->next_child;
	bool error_pending = r->error_pending, known = true;
	uint64_t total = 0;
	struct item it;

	while (known && peek(r, &it)) {
		if (it.node && r->mode != MODE_PROPNAME && is_measured(r, it.node))
			known = false;
		total += measure(r, &it);
		advance(r);
	}
	r->phase = phase;
	r->next_child = next_child;
	r->error_pending = error_pending;
	if (known)
		*ret_total = total;
	return known;
}

/* Write the next item into b; false at the end or when b failed. */
static bool put_next(struct reply *r, struct buf *b)
{
	struct item it;
	char *o, *end;

	if (!peek(r, &it))
		return false;
	o = buf_reserve(b, it.max);
	if (!o)
		return false;
	end = put(r, &it, o);
	assert((size_t)(end - o) <= it.max && (size_t)(end - o) == measure(r, &it));
	buf_commit(b, end);
	advance(r);
	return true;
}

/*
 * The stream's callback: whole responses straight into MHD's buffer while they
 * fit; one that does not fit alone is written aside and sent in pieces.
 */
static ssize_t stream(void *cls, uint64_t pos, char *out, size_t max)
{
	struct reply *r = cls;
	struct item it;
	char *o = out, *end;
	size_t n;

	if (r->spill_sent == r->spill.len) {
		while (peek(r, &it)) {
			if (it.max > (size_t)(out + max - o)) {
				if (o > out)
					break;
				r->spill.len = 0;
				r->spill_sent = 0;
				if (!put_next(r, &r->spill))
					return MHD_CONTENT_READER_END_WITH_ERROR;
				break;
			}
			end = put(r, &it, o);
			assert((size_t)(end - o) <= it.max && (size_t)(end - o) == measure(r, &it));
			o = end;
			advance(r);
		}
		if (o > out) {
			r->written += (size_t)(o - out);
			return o - out;
		}
		if (r->spill.len == r->spill_sent) {
			if (r->total != MHD_SIZE_UNKNOWN && r->written != r->total) {
				log_warnx("propfind: a reply of %" PRIu64
				          " bytes ended after %" PRIu64 ", closing the connection",
				          r->total, r->written);
				return MHD_CONTENT_READER_END_WITH_ERROR;
			}
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
	}
	n = r->spill.len - r->spill_sent;
	if (n > max)
		n = max;
	memcpy(out, r->spill.p + r->spill_sent, n);
	r->spill_sent += n;
	r->written += n;
	return (ssize_t)n;
}

static enum MHD_Result bad_request(struct http_request *req, const char *why)
{
	struct buf b = {0};
	enum MHD_Result ret;

	buf_printf(&b, "400 Bad Request: %s\n", why);
	ret = b.failed ? http_respond_status(req, 400)
	               : http_respond_buffer(req, 400, "text/plain; charset=utf-8", b.p, b.len);
	buf_free(&b);
	return ret;
}

/* Depth: 0, 1, or -1 for infinity (also when absent), -2 for a bad value. */
static int depth_of(struct http_request *req)
{
	const char *h = http_header(req, "Depth");

	if (!h || strcasecmp(h, "infinity") == 0)
		return -1;
	if (strcmp(h, "0") == 0)
		return 0;
	if (strcmp(h, "1") == 0)
		return 1;
	return -2;
}

static enum MHD_Result finite_depth(struct http_request *req)
{
	static const char body[] =
	    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	    "<D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";

	return http_respond_buffer(req, 403, XML_TYPE, body, sizeof(body) - 1);
}

enum MHD_Result davd_propfind(struct davd *d, struct http_request *req)
{
	struct davd_target t;
	struct xml_request *x = NULL;
	struct reply *r = NULL;
	struct MHD_Response *resp;
	struct buf href = {0}, out = {0};
	char msg[160];
	int depth = depth_of(req), err;
	bool known;

	req->route = DAVD_ROUTE_PROPFIND;
	if (depth == -2)
		return bad_request(req, "Depth must be 0, 1 or infinity");
	if (depth == -1)
		return finite_depth(req);
	r = calloc(1, sizeof(*r));
	/* xml_parse_request() clears it; without a body (allprop) it stays unused. */
	x = malloc(sizeof(*x));
	if (!r || !x) {
		free(r);
		free(x);
		return http_respond_status(req, 503);
	}
	r->mode = MODE_ALLPROP;
	r->type_key = UINT64_MAX;
	if (req->body_len == 0) {
		x->prop_count = 0;
	} else {
		err = xml_parse_request(req->body, req->body_len, x, msg, sizeof(msg));
		if (err == 0 && !xml_is_dav(&x->root, "propfind")) {
			err = -EBADMSG;
			snprintf(msg, sizeof(msg), "the root element is not DAV:propfind");
		} else if (err == 0 && (int)x->allprop + (int)x->propname + (int)x->prop != 1) {
			err = -EBADMSG;
			snprintf(msg, sizeof(msg), "expected one of allprop, propname or prop");
		}
		if (err < 0) {
			free(x);
			reply_free(r);
			return bad_request(req, msg);
		}
		if (x->propname)
			r->mode = MODE_PROPNAME;
		else if (x->prop)
			r->mode = MODE_PROP;
	}
	plan(r, x);
	free(x);

	err = davd_resolve(d, req, &t);
	if (err < 0) {
		reply_free(r);
		return http_respond_errno(req, err);
	}
	r->gen = t.gen;
	r->snap = t.gen->snap;
	r->src = d->src;
	r->self = t.node;
	if (t.error_file) {
		r->self_copy = t.virt; /* t goes out of scope; the reply may outlive it */
		r->self = &r->self_copy;
		r->self_name = ERROR_FILE_NAME;
	} else {
		r->self_name = r->snap ? snapshot_str(r->snap, t.node->name) : "";
	}
	buf_adds(&href, d->base);
	buf_add_encoded(&href, t.path, strlen(t.path));
	if (snapshot_node_is_dir(t.node) && t.path[1] != '\0')
		buf_adds(&href, "/");
	buf_add_escaped(&r->self_href, href.p ? href.p : "", href.len);
	buf_free(&href);
	if (depth == 1 && r->snap && snapshot_node_is_dir(t.node))
		r->children = snapshot_children(r->snap, t.node, &r->child_count);
	if (depth == 1 && strcmp(t.path, "/") == 0)
		r->error_pending = davd_error_node(r->gen, &r->error_node);
	r->dir = t.node;
	props_dates_init(&r->dates);
	if (r->same.failed || r->self_href.failed || href.failed || calibrate(r) < 0) {
		reply_free(r);
		return http_respond_status(req, 503);
	}

	known = size_reply(r, &r->total);
	if (known && r->total <= STREAM_BLOCK) {
		/*
		 * Whole, into a buffer of exactly its size (heap, below the mmap
		 * threshold), written as the stream would; MHD sends it with the
		 * header in one go.
		 */
		size_t size = (size_t)r->total, off = 0;
		char *body = malloc(size);
		ssize_t n = 0;

		while (body && off < size && (n = stream(r, off, body + off, size - off)) > 0)
			off += (size_t)n;
		reply_free(r);
		r = NULL;
		resp = body && off == size
		           ? MHD_create_response_from_buffer_with_free_callback(size, body, free)
		           : NULL;
		if (!resp)
			free(body);
		req->bytes = size;
	} else if (!known && r->child_count <= WHOLE_MAX_ENTRIES) {
		/* Whole: MHD sends it with the header in one go. */
		while (put_next(r, &out))
			;
		reply_free(r);
		r = NULL;
		if (out.failed) {
			buf_free(&out);
			return http_respond_status(req, 503);
		}
		resp = MHD_create_response_from_buffer_with_free_callback(out.len, out.p, free);
		if (!resp)
			buf_free(&out);
		req->bytes = out.len;
	} else if (known) {
		resp = MHD_create_response_from_callback(r->total, STREAM_BLOCK, stream, r,
		                                         reply_free);
		req->bytes = r->total;
	} else {
		r->total = MHD_SIZE_UNKNOWN;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNKED_BLOCK, stream, r,
		                                         reply_free);
	}
	if (!resp) {
		reply_free(r);
		return http_respond_status(req, 503);
	}
	http_add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, XML_TYPE);
	return http_respond(req, 207, resp);
}

enum MHD_Result davd_proppatch(struct davd *d, struct http_request *req)
{
	struct xml_request *x;
	struct davd_target t;
	struct buf b = {0};
	char msg[160];
	enum MHD_Result ret;
	int err;

	req->route = DAVD_ROUTE_PROPPATCH;
	x = calloc(1, sizeof(*x));
	if (!x)
		return http_respond_status(req, 503);
	err = xml_parse_request(req->body ? req->body : "", req->body_len, x, msg, sizeof(msg));
	if (err == 0 && !xml_is_dav(&x->root, "propertyupdate")) {
		err = -EBADMSG;
		snprintf(msg, sizeof(msg), "the root element is not DAV:propertyupdate");
	}
	if (err < 0) {
		free(x);
		return bad_request(req, msg);
	}
	err = davd_resolve(d, req, &t);
	if (err < 0) {
		free(x);
		return http_respond_errno(req, err);
	}
	buf_adds(&b, MULTISTATUS_OPEN);
	buf_adds(&b, "<D:response><D:href>");
	{
		struct buf href = {0};

		buf_adds(&href, d->base);
		buf_add_encoded(&href, t.path, strlen(t.path));
		if (snapshot_node_is_dir(t.node) && t.path[1] != '\0')
			buf_adds(&href, "/");
		buf_add_escaped(&b, href.p ? href.p : "", href.len);
		buf_free(&href);
	}
	buf_adds(&b, "</D:href><D:propstat><D:prop>");
	for (unsigned i = 0; i < x->prop_count; i++)
		foreign_name(&b, &x->props[i]);
	buf_adds(&b, "</D:prop>" STATUS_403);
	buf_adds(&b, "<D:responsedescription>read-only share</D:responsedescription>"
	             "</D:propstat></D:response>" MULTISTATUS_CLOSE);
	davd_target_done(&t);
	free(x);
	ret = b.failed ? http_respond_status(req, 503)
	               : http_respond_buffer(req, 207, XML_TYPE, b.p, b.len);
	buf_free(&b);
	return ret;
}
