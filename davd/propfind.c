/*
 * propfind: PROPFIND (RFC 4918 9.1) and PROPPATCH (9.2) on the read-only share.
 *
 * PROPFIND answers Depth 0 and 1 (Depth infinity, also implied by a missing
 * header: 403 with the propfind-finite-depth precondition) for allprop,
 * propname, a list of properties, or an empty body (allprop).  The reply is
 * compact (one short namespace prefix, no whitespace: Windows Explorer gives
 * up on replies past 1 MB) and written by a generator that emits whole
 * <response> elements: a small reply is generated whole and sent with its
 * Content-Length; one for a large collection is streamed in chunks while the
 * client reads, so a 50,000-entry directory never sits in memory whole.  The
 * request's generation stays referenced until the last chunk is written.
 *
 * Live properties: the DAV: ones of RFC 4918 and, by name only, the Win32 ones
 * of urn:schemas-microsoft-com: that the Windows mini-redirector asks for
 * (times, and attributes with the read-only bit set).  Anything else is
 * answered 404 inside the 207.  PROPPATCH changes nothing: every property it
 * names is answered 403 inside a 207 (Windows expects that, not a bare 405).
 */
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

/* Replies for at most this many entries are generated whole (with a Content-Length). */
#define WHOLE_MAX_ENTRIES 256
/* A streamed reply is generated this much at a time. */
#define CHUNK_BYTES (64 * 1024)

enum mode {
	MODE_ALLPROP,
	MODE_PROPNAME,
	MODE_PROP,
};

/* One PROPFIND reply being written, possibly across many chunks. */
struct reply {
	struct generation *gen; /* referenced until the reply is done */
	const struct snapshot *snap;
	struct source *src; /* davd's: stats of sources whose size is unknown */
	enum mode mode;
	int found[DAVD_PROPS_MAX]; /* MODE_PROP: enum prop per requested name, -1 unknown */
	struct xml_name *wanted;   /* MODE_PROP: the names, for the 404 propstat */
	unsigned wanted_count;

	struct buf href;              /* href of the target collection, ending in '/' */
	size_t href_len;              /* its length, to cut children's names off again */
	const struct snap_node *self; /* the target; NULL once written */
	const char *self_name;
	struct snap_node self_copy;  /* the target when it is the virtual ERROR.txt */
	const struct snap_node *dir; /* the target collection of a Depth 1 */
	bool error_pending;          /* the virtual ERROR.txt still to list */
	struct snap_node error_node;
	const struct snap_node *children;
	uint32_t child_count, next_child;
	bool closed; /* MULTISTATUS_CLOSE written */

	struct buf out; /* generated, not yet sent */
	size_t sent;
};

static void reply_free(void *p)
{
	struct reply *r = p;

	if (!r)
		return;
	generation_put(r->gen);
	buf_free(&r->href);
	buf_free(&r->out);
	free(r->wanted);
	free(r);
}

/*
 * getcontentlength of a file: the snapshot's size, unless kvwatch flagged it as
 * unknown (SNAP_NODE_F_SIZE_UNKNOWN): then a stat of the source beneath the
 * volume (0 when it cannot be opened; GET will say why).  An unflagged size that
 * is merely wrong stays as it is here (a stat per entry of a listing is not
 * cheap); GET and HEAD always send what the source has.
 */
static uint64_t content_length(const struct reply *r, const struct snap_node *n)
{
	uint64_t size;

	if (snapshot_node_is_dir(n))
		return 0;
	if (!(n->flags & SNAP_NODE_F_SIZE_UNKNOWN) || !r->src || !r->snap)
		return n->size;
	if (source_size(r->src, snapshot_str(r->snap, n->source), &size) < 0)
		return 0;
	return size;
}

static void value(struct buf *b, enum prop p, const struct snap_node *n, const char *name,
                  uint64_t size)
{
	char s[DAVD_DATE_MAX > DAVD_ETAG_MAX ? DAVD_DATE_MAX : DAVD_ETAG_MAX];
	bool dir = snapshot_node_is_dir(n);

	switch (p) {
	case P_RESOURCETYPE:
		buf_adds(b, dir ? "<D:resourcetype><D:collection/></D:resourcetype>"
		                : "<D:resourcetype/>");
		return;
	case P_GETCONTENTLENGTH:
		/* Collections carry 0: Infuse and Kodi want the property everywhere. */
		buf_adds(b, "<D:getcontentlength>");
		buf_add_u64(b, size);
		buf_adds(b, "</D:getcontentlength>");
		return;
	case P_GETLASTMODIFIED:
		props_http_date(n->mtime_ns, s);
		buf_adds(b, "<D:getlastmodified>");
		buf_adds(b, s);
		buf_adds(b, "</D:getlastmodified>");
		return;
	case P_CREATIONDATE:
		props_iso_date(n->ctime_ns ? n->ctime_ns : n->mtime_ns, s);
		buf_adds(b, "<D:creationdate>");
		buf_adds(b, s);
		buf_adds(b, "</D:creationdate>");
		return;
	case P_DISPLAYNAME:
		buf_adds(b, "<D:displayname>");
		buf_add_escaped(b, name, strlen(name));
		buf_adds(b, "</D:displayname>");
		return;
	case P_GETCONTENTTYPE:
		buf_adds(b, "<D:getcontenttype>");
		buf_adds(b, dir ? "httpd/unix-directory" : props_content_type(name, strlen(name)));
		buf_adds(b, "</D:getcontenttype>");
		return;
	case P_GETETAG:
		props_etag(n, size, s); /* hex digits, '-' and '"': nothing to escape in text */
		buf_adds(b, "<D:getetag>");
		buf_adds(b, s);
		buf_adds(b, "</D:getetag>");
		return;
	case P_SUPPORTEDLOCK:
		buf_adds(b, "<D:supportedlock/>");
		return;
	case P_LOCKDISCOVERY:
		buf_adds(b, "<D:lockdiscovery/>");
		return;
	case P_WIN32_CREATION:
	case P_WIN32_ACCESS:
	case P_WIN32_MODIFIED:
		props_http_date(p == P_WIN32_CREATION && n->ctime_ns ? n->ctime_ns : n->mtime_ns,
		                s);
		buf_printf(b, "<%s>%s</%s>", props[p].tag, s, props[p].tag);
		return;
	case P_WIN32_ATTRIBUTES:
		/* FILE_ATTRIBUTE_READONLY (1), plus FILE_ATTRIBUTE_DIRECTORY (0x10). */
		buf_printf(b, "<%s>%08x</%s>", props[p].tag, dir ? 0x11 : 0x01, props[p].tag);
		return;
	case P_MAX:
		return;
	}
}

static const char *status_line(unsigned status)
{
	switch (status) {
	case 200:
		return "<D:status>HTTP/1.1 200 OK</D:status>";
	case 403:
		return "<D:status>HTTP/1.1 403 Forbidden</D:status>";
	default:
		return "<D:status>HTTP/1.1 404 Not Found</D:status>";
	}
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

/* One <D:response> for node n whose href is r->href (already complete). */
static void response(struct reply *r, const struct snap_node *n, const char *name)
{
	struct buf *b = &r->out;
	bool any_unknown = false, any_known = r->mode != MODE_PROP || r->wanted_count == 0;
	uint64_t size = r->mode == MODE_PROPNAME ? 0 : content_length(r, n);

	for (unsigned i = 0; i < r->wanted_count; i++)
		any_known |= r->found[i] >= 0;
	buf_adds(b, "<D:response><D:href>");
	buf_add_escaped(b, r->href.p, r->href.len);
	buf_adds(b, "</D:href>");
	if (any_known)
		buf_adds(b, "<D:propstat><D:prop>");
	switch (r->mode) {
	case MODE_ALLPROP:
		for (int p = 0; p < P_MAX; p++)
			if (props[p].in_allprop)
				value(b, (enum prop)p, n, name, size);
		break;
	case MODE_PROPNAME:
		for (int p = 0; p < P_MAX; p++)
			buf_printf(b, "<%s/>", props[p].tag);
		break;
	case MODE_PROP:
		for (unsigned i = 0; i < r->wanted_count; i++) {
			if (r->found[i] >= 0)
				value(b, (enum prop)r->found[i], n, name, size);
			else
				any_unknown = true;
		}
		break;
	}
	if (any_known) {
		buf_adds(b, "</D:prop>");
		buf_adds(b, status_line(200));
		buf_adds(b, "</D:propstat>");
	}
	if (any_unknown) {
		buf_adds(b, "<D:propstat><D:prop>");
		for (unsigned i = 0; i < r->wanted_count; i++)
			if (r->found[i] < 0)
				foreign_name(b, &r->wanted[i]);
		buf_adds(b, "</D:prop>");
		buf_adds(b, status_line(404));
		buf_adds(b, "</D:propstat>");
	}
	buf_adds(b, "</D:response>");
}

/* Generate until out holds at least want bytes or the reply is complete. */
static void generate(struct reply *r, size_t want)
{
	while (r->out.len < want && !r->closed && !r->out.failed) {
		const struct snap_node *c;
		const char *name;

		if (r->self) {
			response(r, r->self, r->self_name);
			r->self = NULL;
			continue;
		}
		if (r->next_child >= r->child_count && r->error_pending) {
			r->error_pending = false;
			r->href.len = r->href_len;
			buf_adds(&r->href, ERROR_FILE_NAME);
			response(r, &r->error_node, ERROR_FILE_NAME);
			continue;
		}
		if (r->next_child >= r->child_count) {
			buf_adds(&r->out, MULTISTATUS_CLOSE);
			r->closed = true;
			break;
		}
		c = &r->children[r->next_child++];
		if (r->error_pending && davd_is_hidden(r->gen, r->snap, r->dir, c))
			continue;
		name = snapshot_str(r->snap, c->name);
		r->href.len = r->href_len;
		buf_add_encoded(&r->href, name, c->name.len);
		if (snapshot_node_is_dir(c))
			buf_adds(&r->href, "/");
		response(r, c, name);
	}
}

static ssize_t stream(void *cls, uint64_t pos, char *out, size_t max)
{
	struct reply *r = cls;
	size_t n;

	if (r->sent == r->out.len) {
		r->out.len = 0;
		r->sent = 0;
		generate(r, CHUNK_BYTES);
		if (r->out.failed)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (r->out.len == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	n = r->out.len - r->sent;
	if (n > max)
		n = max;
	memcpy(out, r->out.p + r->sent, n);
	r->sent += n;
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

static int prop_of(const struct xml_name *n)
{
	for (int p = 0; p < P_MAX; p++)
		if (strcmp(n->ns, props[p].ns) == 0 && strcmp(n->local, props[p].name) == 0)
			return p;
	return -1;
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
	char msg[160];
	int depth = depth_of(req), err;
	enum MHD_Result ret;

	req->route = DAVD_ROUTE_PROPFIND;
	if (depth == -2)
		return bad_request(req, "Depth must be 0, 1 or infinity");
	if (depth == -1)
		return finite_depth(req);
	r = calloc(1, sizeof(*r));
	x = calloc(1, sizeof(*x));
	if (!r || !x) {
		free(r);
		free(x);
		return http_respond_status(req, 503);
	}
	r->mode = MODE_ALLPROP;
	if (req->body_len > 0) {
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
		if (x->propname) {
			r->mode = MODE_PROPNAME;
		} else if (x->prop) {
			r->mode = MODE_PROP;
			r->wanted_count = x->prop_count;
			for (unsigned i = 0; i < x->prop_count; i++)
				r->found[i] = prop_of(&x->props[i]);
			r->wanted = calloc(x->prop_count ? x->prop_count : 1, sizeof(*r->wanted));
			if (!r->wanted) {
				free(x);
				reply_free(r);
				return http_respond_status(req, 503);
			}
			memcpy(r->wanted, x->props, x->prop_count * sizeof(*r->wanted));
		}
	}
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
	buf_adds(&r->href, d->base);
	buf_add_encoded(&r->href, t.path, strlen(t.path));
	if (snapshot_node_is_dir(t.node) && t.path[1] != '\0')
		buf_adds(&r->href, "/");
	r->href_len = r->href.len;
	if (depth == 1 && r->snap && snapshot_node_is_dir(t.node))
		r->children = snapshot_children(r->snap, t.node, &r->child_count);
	if (depth == 1 && strcmp(t.path, "/") == 0)
		r->error_pending = davd_error_node(r->gen, &r->error_node);
	r->dir = t.node;
	buf_adds(&r->out, MULTISTATUS_OPEN);

	if (r->child_count <= WHOLE_MAX_ENTRIES) {
		generate(r, SIZE_MAX);
		if (r->out.failed) {
			reply_free(r);
			return http_respond_status(req, 503);
		}
		ret = http_respond_buffer(req, 207, XML_TYPE, r->out.p, r->out.len);
		reply_free(r);
		return ret;
	}
	resp =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, CHUNK_BYTES, stream, r, reply_free);
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
	buf_adds(&b, "</D:prop>");
	buf_adds(&b, status_line(403));
	buf_adds(&b, "<D:responsedescription>read-only share</D:responsedescription>"
	             "</D:propstat></D:response>" MULTISTATUS_CLOSE);
	davd_target_done(&t);
	free(x);
	ret = b.failed ? http_respond_status(req, 503)
	               : http_respond_buffer(req, 207, XML_TYPE, b.p, b.len);
	buf_free(&b);
	return ret;
}
