/*
 * xml: reads the XML bodies of PROPFIND and PROPPATCH with expat, strictly.
 *
 * Namespaces are processed (a bad or unbound namespace prefix is an error).
 * A document type declaration, and so any entity declaration, is refused
 * outright: no request of RFC 4918 needs one, and refusing it stops entity
 * expansion bombs before they start.  Nesting deeper than XML_DEPTH_MAX and
 * more than DAVD_PROPS_MAX properties are refused too.  The result is the
 * root element and the property names found inside <DAV:prop> elements.
 * Writing XML is not here: propfind.c writes it through buf_add_escaped().
 */
#ifndef MF_DAVD_XML_H
#define MF_DAVD_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "davd.h"

#define XML_DEPTH_MAX 16
#define XML_NAME_MAX  256 /* bytes of a namespace URI or a local name */

struct xml_name {
	char ns[XML_NAME_MAX]; /* "" for no namespace */
	char local[XML_NAME_MAX];
};

struct xml_request {
	struct xml_name root;
	bool allprop;                          /* <DAV:allprop/> as a child of the root */
	bool propname;                         /* <DAV:propname/> as a child of the root */
	bool prop;                             /* a <DAV:prop> somewhere below the root */
	struct xml_name props[DAVD_PROPS_MAX]; /* the children of every <DAV:prop> */
	unsigned prop_count;
};

/*
 * Parse body[0..len).  Returns 0, -EBADMSG (not well-formed, a namespace error,
 * a DTD or entity, too deep), -E2BIG (too many properties), -ENOMEM.  The
 * message says what was wrong, for the 400 body.
 */
int xml_parse_request(const char *body, size_t len, struct xml_request *ret, char *msg,
                      size_t msglen);

/* Whether n is {DAV:}local. */
bool xml_is_dav(const struct xml_name *n, const char *local);

#endif
