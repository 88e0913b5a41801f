/*
 * xml: the strict expat reader of request bodies (see xml.h).
 */
#include "xml.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse {
	XML_Parser p;
	struct xml_request *req;
	unsigned depth;
	unsigned prop_depth; /* depth of the <DAV:prop> we are in, 0 when none */
	int err;
	const char *why;
};

bool xml_is_dav(const struct xml_name *n, const char *local)
{
	return strcmp(n->ns, "DAV:") == 0 && strcmp(n->local, local) == 0;
}

/* expat gives "URI local" (separator ' ') or "local" without a namespace. */
static bool split_name(const char *name, struct xml_name *out)
{
	const char *sp = strrchr(name, ' ');
	size_t nslen = sp ? (size_t)(sp - name) : 0;
	const char *local = sp ? sp + 1 : name;

	if (nslen >= XML_NAME_MAX || strlen(local) >= XML_NAME_MAX)
		return false;
	memcpy(out->ns, name, nslen);
	out->ns[nslen] = '\0';
	strcpy(out->local, local);
	return true;
}

static void stop(struct parse *ps, int err, const char *why)
{
	if (!ps->err) {
		ps->err = err;
		ps->why = why;
	}
	XML_StopParser(ps->p, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = ud;
	struct xml_request *req = ps->req;
	struct xml_name n;

	if (++ps->depth > XML_DEPTH_MAX)
		return stop(ps, -EBADMSG, "elements nested too deep");
	if (!split_name(name, &n))
		return stop(ps, -EBADMSG, "an element name is too long");
	if (ps->depth == 1) {
		req->root = n;
		return;
	}
	if (ps->prop_depth && ps->depth == ps->prop_depth + 1) {
		if (req->prop_count >= DAVD_PROPS_MAX)
			return stop(ps, -E2BIG, "too many properties");
		req->props[req->prop_count++] = n;
		return;
	}
	if (ps->prop_depth)
		return; /* values inside a property (PROPPATCH set) */
	if (xml_is_dav(&n, "prop")) {
		req->prop = true;
		ps->prop_depth = ps->depth;
	} else if (ps->depth == 2 && xml_is_dav(&n, "allprop")) {
		req->allprop = true;
	} else if (ps->depth == 2 && xml_is_dav(&n, "propname")) {
		req->propname = true;
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	struct parse *ps = ud;

	if (ps->prop_depth == ps->depth)
		ps->prop_depth = 0;
	ps->depth--;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
	stop(ud, -EBADMSG, "a document type declaration is not accepted");
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
                      int value_len, const XML_Char *base, const XML_Char *sysid,
                      const XML_Char *pubid, const XML_Char *notation)
{
	stop(ud, -EBADMSG, "entity declarations are not accepted");
}

int xml_parse_request(const char *body, size_t len, struct xml_request *ret, char *msg,
                      size_t msglen)
{
	struct parse ps = {.req = ret};
	enum XML_Status st;

	memset(ret, 0, sizeof(*ret));
	ps.p = XML_ParserCreateNS("UTF-8", ' ');
	if (!ps.p)
		return -ENOMEM;
	XML_SetUserData(ps.p, &ps);
	XML_SetElementHandler(ps.p, on_start, on_end);
	XML_SetStartDoctypeDeclHandler(ps.p, on_doctype);
	XML_SetEntityDeclHandler(ps.p, on_entity);
	/* No external entity is ever fetched, whatever the document says. */
	XML_SetParamEntityParsing(ps.p, XML_PARAM_ENTITY_PARSING_NEVER);
	st = XML_Parse(ps.p, body, (int)len, XML_TRUE);
	if (ps.err) {
		snprintf(msg, msglen, "%s", ps.why);
	} else if (st != XML_STATUS_OK) {
		snprintf(msg, msglen, "line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(ps.p),
		         XML_ErrorString(XML_GetErrorCode(ps.p)));
		ps.err = -EBADMSG;
	}
	XML_ParserFree(ps.p);
	return ps.err;
}
