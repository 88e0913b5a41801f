/*
 * template: parse a path template once into a flat program of four operations
 * (literal text, directory separator, substitution, conditional section) and run
 * that program per file.  See template.h for the syntax and docs/rules.md for the
 * whole language.
 *
 * Rendering writes one path component at a time into a scratch buffer on the
 * stack, makes it a safe name (names.h) and appends it to the caller's buffer:
 * no allocation, no parsing, no lookup by name per file.  Literal text is
 * sanitised once at compile time; values are sanitised as they are substituted,
 * so no value can add a directory.
 */
#include "template.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "snapshot_format.h"
#include "utf8.h"

/* Bytes of one component while it is rendered, before it is shortened to a name. */
#define COMPONENT_SCRATCH 2048

enum tpl_kind {
	TPL_TEXT,    /* pool[first .. first+count): sanitised literal text */
	TPL_SEP,     /* end of a path component */
	TPL_SUBST,   /* the first present of alts[first .. first+count) */
	TPL_SECTION, /* ops up to skip run iff one of alts[first .. first+count) is present */
	TPL_KIND_MAX,
};

enum tpl_case {
	TPL_CASE_NONE,
	TPL_CASE_LOWER,
	TPL_CASE_UPPER,
	TPL_CASE_MAX,
};

struct tpl_op {
	uint8_t kind;
	uint8_t pad;    /* TPL_SUBST: zero-pad numbers to this many digits, 0 = none */
	uint8_t casing; /* TPL_SUBST: enum tpl_case */
	uint32_t first;
	uint32_t count;
	uint32_t skip; /* TPL_SECTION: index of the op after the section */
};

#define ALT_LITERAL UINT32_MAX

struct tpl_alt {
	uint32_t prop; /* schema index, or ALT_LITERAL */
	uint32_t off;  /* literal: raw text in the pool */
	uint32_t len;
};

/* Owner: the caller of template_compile(); template_free() releases it. */
struct template
{
	struct tpl_op *ops;
	uint32_t nops, ops_cap;
	struct tpl_alt *alts;
	uint32_t nalts, alts_cap;
	char *pool;
	uint32_t pool_len, pool_cap;
	char *source;
};

struct parser {
	const char *s;
	size_t len;
	size_t pos;
	struct schema *schema;
	struct template *t;
	char *err;
	size_t errlen;
	unsigned depth;
	uint32_t last_text; /* the TPL_TEXT op more text may join, or UINT32_MAX */
	size_t raw_len;     /* pending literal text, not yet sanitised */
	char raw[TEMPLATE_SOURCE_MAX];
};

static int grow(void **ptr, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*ptr, (size_t)n * elem);
	if (p == NULL)
		return -ENOMEM;
	*ptr = p;
	*cap = n;
	return 0;
}

static unsigned column_of(const struct parser *p, size_t pos)
{
	unsigned col = 1;

	for (size_t i = 0; i < pos && i < p->len; i++)
		if (((unsigned char)p->s[i] & 0xc0) != 0x80)
			col++;
	return col;
}

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errlen == 0)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "column %u: ", column_of(p, pos));
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int fail_nomem(struct parser *p)
{
	if (p->errlen > 0)
		snprintf(p->err, p->errlen, "out of memory");
	return -ENOMEM;
}

/* A character for a message: 'x' when printable ASCII, else its byte value. */
static const char *describe(char *buf, size_t size, char c)
{
	unsigned char u = (unsigned char)c;

	if (u > 0x20 && u < 0x7f)
		snprintf(buf, size, "'%c'", c);
	else if (u == ' ')
		snprintf(buf, size, "' '");
	else
		snprintf(buf, size, "byte 0x%02x", u);
	return buf;
}

/* An escape for a message: '\q' when printable ASCII, else '\' and the byte value. */
static const char *describe_escape(char *buf, size_t size, char c)
{
	unsigned char u = (unsigned char)c;

	if (u > 0x20 && u < 0x7f)
		snprintf(buf, size, "'\\%c'", c);
	else
		snprintf(buf, size, "'\\' before byte 0x%02x", u);
	return buf;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '/' || c == '.' || c == '-';
}

static int push_op(struct parser *p, enum tpl_kind kind, uint32_t first, uint32_t count)
{
	struct template *t = p->t;

	if (grow((void **)&t->ops, &t->ops_cap, t->nops + 1, sizeof(*t->ops)) < 0)
		return fail_nomem(p);
	t->ops[t->nops] = (struct tpl_op){.kind = kind, .first = first, .count = count};
	p->last_text = kind == TPL_TEXT ? t->nops : UINT32_MAX;
	return (int)t->nops++;
}

static int pool_add(struct parser *p, const char *bytes, size_t len, uint32_t *ret_off)
{
	struct template *t = p->t;

	if (grow((void **)&t->pool, &t->pool_cap, t->pool_len + (uint32_t)len, 1) < 0)
		return fail_nomem(p);
	if (len > 0)
		memcpy(t->pool + t->pool_len, bytes, len);
	*ret_off = t->pool_len;
	t->pool_len += (uint32_t)len;
	return 0;
}

/* Turn the pending literal text into a TPL_TEXT op, sanitised as a value would be. */
static int flush_text(struct parser *p)
{
	/* ':' may become 2 bytes and an invalid byte 3: 3x always fits. */
	char clean[3 * TEMPLATE_SOURCE_MAX];
	size_t n;
	uint32_t off;
	struct tpl_op *last;
	int r;

	if (p->raw_len == 0)
		return 0;
	n = names_append_value_cut(clean, 0, sizeof(clean), p->raw, p->raw_len);
	p->raw_len = 0;
	r = pool_add(p, clean, n, &off);
	if (r < 0)
		return r;
	last = p->last_text != UINT32_MAX ? &p->t->ops[p->last_text] : NULL;
	if (last != NULL && last->first + last->count == off) {
		last->count += (uint32_t)n;
		return 0;
	}
	r = push_op(p, TPL_TEXT, off, (uint32_t)n);
	return r < 0 ? r : 0;
}

static int push_alt(struct parser *p, uint32_t prop, uint32_t off, uint32_t len)
{
	struct template *t = p->t;

	if (grow((void **)&t->alts, &t->alts_cap, t->nalts + 1, sizeof(*t->alts)) < 0)
		return fail_nomem(p);
	t->alts[t->nalts++] = (struct tpl_alt){.prop = prop, .off = off, .len = len};
	return 0;
}

/* A quoted literal alternative: "text" or 'text', with \" \' \\ as escapes. */
static int parse_literal(struct parser *p)
{
	char quote = p->s[p->pos];
	size_t start = p->pos++;
	char text[TEMPLATE_SOURCE_MAX];
	size_t n = 0;
	uint32_t off;
	int r;

	for (;;) {
		char c;

		if (p->pos >= p->len)
			return fail(p, start, "unterminated literal: missing %c", quote);
		c = p->s[p->pos++];
		if (c == quote)
			break;
		if (c == '\\') {
			char buf[32];

			if (p->pos >= p->len)
				return fail(p, start, "unterminated literal: missing %c", quote);
			c = p->s[p->pos];
			if (c != '"' && c != '\'' && c != '\\')
				return fail(p, p->pos - 1, "unknown escape %s in a literal",
				            describe_escape(buf, sizeof(buf), c));
			p->pos++;
		}
		text[n++] = c;
	}
	r = pool_add(p, text, n, &off);
	if (r < 0)
		return r;
	return push_alt(p, ALT_LITERAL, off, (uint32_t)n);
}

static int parse_seq(struct parser *p, size_t section_pos);

static int parse_modifiers(struct parser *p, uint8_t *ret_pad, uint8_t *ret_case)
{
	while (p->pos < p->len && p->s[p->pos] == ':') {
		size_t start = ++p->pos, n;
		const char *m = p->s + start;

		while (p->pos < p->len && ((p->s[p->pos] >= 'a' && p->s[p->pos] <= 'z') ||
		                           (p->s[p->pos] >= 'A' && p->s[p->pos] <= 'Z') ||
		                           (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')))
			p->pos++;
		n = p->pos - start;
		if (n == 0) {
			if (p->pos >= p->len)
				return 1; /* the caller reports the unterminated '{' */
			return fail(p, start, "missing modifier after ':'");
		}
		if (n == 5 && memcmp(m, "lower", 5) == 0) {
			*ret_case = TPL_CASE_LOWER;
		} else if (n == 5 && memcmp(m, "upper", 5) == 0) {
			*ret_case = TPL_CASE_UPPER;
		} else if (n >= 3 && memcmp(m, "pad", 3) == 0) {
			unsigned width = 0;
			bool ok = n > 3 && n <= 5;

			for (size_t i = 3; ok && i < n; i++) {
				if (m[i] < '0' || m[i] > '9')
					ok = false;
				else
					width = width * 10 + (unsigned)(m[i] - '0');
			}
			if (!ok || width < 1 || width > TEMPLATE_PAD_MAX)
				return fail(
				    p, start,
				    "bad modifier '%.*s': padN needs a width N from 1 to %d, "
				    "as in pad2",
				    (int)(n > 32 ? 32 : n), m, TEMPLATE_PAD_MAX);
			/* pad2:pad3 pads to 3, pad3:pad2 too: the widest wins. */
			if (width > *ret_pad)
				*ret_pad = (uint8_t)width;
		} else {
			return fail(p, start,
			            "unknown modifier '%.*s' (expected lower, upper or padN)",
			            (int)(n > 32 ? 32 : n), m);
		}
	}
	return 0;
}

static int parse_section(struct parser *p, size_t open, uint32_t first_alt, uint32_t nalt)
{
	size_t sec;
	int idx, r;

	p->pos++; /* '?' */
	if (p->pos >= p->len || p->s[p->pos] != '(')
		return fail(p, p->pos, "expected '(' after '?'");
	sec = p->pos++;
	if (p->depth >= TEMPLATE_DEPTH_MAX)
		return fail(p, sec, "conditional sections nested deeper than %d",
		            TEMPLATE_DEPTH_MAX);
	idx = push_op(p, TPL_SECTION, first_alt, nalt);
	if (idx < 0)
		return idx;
	p->depth++;
	r = parse_seq(p, sec);
	if (r < 0)
		return r;
	p->depth--;
	p->pos++; /* ')' */
	if (p->pos >= p->len)
		return fail(p, open, "unterminated '{'");
	if (p->s[p->pos] != '}') {
		char buf[16];

		return fail(p, p->pos, "expected '}' after the ')' that ends the section, got %s",
		            describe(buf, sizeof(buf), p->s[p->pos]));
	}
	p->pos++;
	p->t->ops[idx].skip = p->t->nops;
	p->last_text = UINT32_MAX; /* text after the section must not join text inside it */
	return 0;
}

/* At '{': alternatives, then a conditional section or modifiers, then '}'. */
static int parse_brace(struct parser *p)
{
	size_t open = p->pos++;
	uint32_t first_alt = p->t->nalts, nalt = 0;
	bool literal = false;
	uint8_t pad = 0, casing = TPL_CASE_NONE;
	char buf[16];
	int r;

	for (;;) {
		size_t start = p->pos;
		char c;

		if (p->pos >= p->len)
			return fail(p, open, "unterminated '{'");
		if (literal)
			return fail(p, p->pos, "an alternative after a literal is never used");
		c = p->s[p->pos];
		if (c == '"' || c == '\'') {
			r = parse_literal(p);
			if (r < 0)
				return r;
			literal = true;
		} else {
			while (p->pos < p->len && is_name_char(p->s[p->pos]))
				p->pos++;
			if (p->pos == start) {
				if (strchr("|}:?", c) != NULL)
					return fail(p, start, "empty variable name");
				return fail(p, start, "unexpected %s in a variable name",
				            describe(buf, sizeof(buf), c));
			}
			r = schema_intern(p->schema, p->s + start, p->pos - start);
			if (r < 0)
				return fail_nomem(p);
			r = push_alt(p, (uint32_t)r, 0, 0);
			if (r < 0)
				return r;
		}
		nalt++;
		if (p->pos < p->len && p->s[p->pos] == '|') {
			p->pos++;
			continue;
		}
		break;
	}
	if (p->pos >= p->len)
		return fail(p, open, "unterminated '{'");
	if (p->s[p->pos] == '?') {
		if (literal)
			return fail(p, p->pos,
			            "a conditional section tests variables, not a literal");
		return parse_section(p, open, first_alt, nalt);
	}
	r = parse_modifiers(p, &pad, &casing);
	if (r < 0)
		return r;
	if (p->pos >= p->len)
		return fail(p, open, "unterminated '{'");
	if (p->s[p->pos] == '|')
		return fail(p, p->pos, "modifiers go after the last alternative");
	if (p->s[p->pos] == '?')
		return fail(p, p->pos, "a conditional section takes no modifiers");
	if (p->s[p->pos] != '}')
		return fail(p, p->pos, "unexpected %s, expected '}'",
		            describe(buf, sizeof(buf), p->s[p->pos]));
	p->pos++;
	r = push_op(p, TPL_SUBST, first_alt, nalt);
	if (r < 0)
		return r;
	p->t->ops[r].pad = pad;
	p->t->ops[r].casing = casing;
	return 0;
}

/*
 * A sequence of text, separators and braces: the whole template (section_pos ==
 * SIZE_MAX) or the body of a section, which ends at its unmatched ')' (left for
 * the caller).  Inside a section parentheses must balance.
 */
static int parse_seq(struct parser *p, size_t section_pos)
{
	bool in_section = section_pos != SIZE_MAX;
	unsigned paren = 0;
	size_t paren_pos = 0;
	char buf[32];
	int r;

	while (p->pos < p->len) {
		char c = p->s[p->pos];
		size_t start;

		switch (c) {
		case '{':
			r = flush_text(p);
			if (r < 0)
				return r;
			r = parse_brace(p);
			if (r < 0)
				return r;
			continue;
		case '}':
			if (in_section && paren > 0)
				return fail(p, paren_pos,
				            "unbalanced '(' in a conditional section "
				            "(write \\( for a literal one)");
			if (in_section)
				return fail(p, p->pos, "missing ')' before '}' to end the section");
			return fail(p, p->pos, "unexpected '}' (write \\} for a literal one)");
		case '\\':
			if (p->pos + 1 >= p->len)
				return fail(p, p->pos, "'\\' at the end of the template");
			c = p->s[p->pos + 1];
			if (c == '\0' || strchr("{}()\\|\"'", c) == NULL)
				return fail(p, p->pos, "unknown escape %s",
				            describe_escape(buf, sizeof(buf), c));
			p->raw[p->raw_len++] = c;
			p->pos += 2;
			continue;
		case '/':
			start = p->pos;
			while (p->pos < p->len && p->s[p->pos] == '/')
				p->pos++; /* "a//b" is "a/b" */
			if (!in_section && start == 0)
				continue; /* the template is absolute anyway */
			if (!in_section && p->pos == p->len)
				return fail(p, start, "the template ends with '/'");
			r = flush_text(p);
			if (r < 0)
				return r;
			r = push_op(p, TPL_SEP, 0, 0);
			if (r < 0)
				return r;
			continue;
		case '(':
			if (in_section && paren++ == 0)
				paren_pos = p->pos;
			break;
		case ')':
			if (in_section && paren == 0)
				return flush_text(p);
			if (in_section)
				paren--;
			break;
		default:
			break;
		}
		p->raw[p->raw_len++] = c;
		p->pos++;
	}
	if (in_section)
		return fail(p, section_pos, "unterminated conditional section: missing ')'");
	return flush_text(p);
}

/*
 * The longest path the program can render, to refuse templates that cannot fit:
 * per component '/' plus the name, which names_fix_component() may grow by one
 * ("" -> "_", "AUX" -> "_AUX") and cuts at SNAP_NAME_MAX.
 */
static size_t component_bound(size_t rendered)
{
	return 1 + (rendered + 1 > SNAP_NAME_MAX ? SNAP_NAME_MAX : rendered + 1);
}

static size_t worst_case_length(const struct template *t)
{
	size_t total = 0, comp = 0;

	for (uint32_t i = 0; i < t->nops; i++) {
		const struct tpl_op *op = &t->ops[i];

		if (op->kind == TPL_TEXT)
			comp += op->count;
		else if (op->kind == TPL_SUBST)
			comp += SNAP_NAME_MAX; /* a value is cut at SNAP_NAME_MAX bytes */
		if (op->kind == TPL_SEP) {
			total += component_bound(comp);
			comp = 0;
		}
	}
	return total + component_bound(comp);
}

void template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->ops);
	free(t->alts);
	free(t->pool);
	free(t->source);
	free(t);
}

const char *template_source(const struct template *t)
{
	return t->source;
}

int template_compile(const char *text, size_t len, struct schema *schema, struct template **ret,
                     char *err, size_t errlen)
{
	struct parser *p;
	struct template *t;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	if (len > TEMPLATE_SOURCE_MAX) {
		snprintf(err, errlen, "longer than %d bytes", TEMPLATE_SOURCE_MAX);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	t = calloc(1, sizeof(*t));
	if (p == NULL || t == NULL) {
		free(p);
		free(t);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* The pool is never NULL, so that an empty literal still points somewhere. */
	t->pool = malloc(16);
	t->pool_cap = 16;
	if (t->pool == NULL) {
		free(p);
		free(t);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*p = (struct parser){.s = text,
	                     .len = len,
	                     .schema = schema,
	                     .t = t,
	                     .err = err,
	                     .errlen = errlen,
	                     .last_text = UINT32_MAX};
	r = parse_seq(p, SIZE_MAX);
	if (r < 0)
		goto out_fail;
	if (t->nops == 0) {
		r = -EINVAL;
		snprintf(err, errlen, "the template is empty");
		goto out_fail;
	}
	if (worst_case_length(t) > SNAP_PATH_MAX - 1) {
		r = -EINVAL;
		snprintf(err, errlen, "the template can render a path longer than %d bytes",
		         SNAP_PATH_MAX - 1);
		goto out_fail;
	}
	t->source = strndup(text, len);
	if (t->source == NULL) {
		r = fail_nomem(p);
		goto out_fail;
	}
	free(p);
	*ret = t;
	return 0;

out_fail:
	free(p);
	template_free(t);
	return r;
}

/* The first alternative of op that is present in rec, or NULL. */
static const struct tpl_alt *pick(const struct template *t, const struct tpl_op *op,
                                  const struct record *rec)
{
	for (uint32_t i = op->first; i < op->first + op->count; i++) {
		const struct tpl_alt *alt = &t->alts[i];

		if (alt->prop == ALT_LITERAL || record_has(rec, alt->prop))
			return alt;
	}
	return NULL;
}

static bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return len > 0;
}

static size_t append_subst(char *comp, size_t clen, const struct tpl_op *op, const char *v,
                           size_t vlen)
{
	size_t start = clen;
	size_t limit =
	    clen + SNAP_NAME_MAX < COMPONENT_SCRATCH ? clen + SNAP_NAME_MAX : COMPONENT_SCRATCH;

	if (op->pad > vlen && all_digits(v, vlen)) {
		size_t zeros = op->pad - vlen;

		if (zeros > limit - clen)
			zeros = limit - clen;
		memset(comp + clen, '0', zeros);
		clen += zeros;
	}
	clen = names_append_value_cut(comp, clen, limit, v, vlen);
	if (op->casing == TPL_CASE_LOWER) {
		for (size_t i = start; i < clen; i++)
			if (comp[i] >= 'A' && comp[i] <= 'Z')
				comp[i] = (char)(comp[i] - 'A' + 'a');
	} else if (op->casing == TPL_CASE_UPPER) {
		for (size_t i = start; i < clen; i++)
			if (comp[i] >= 'a' && comp[i] <= 'z')
				comp[i] = (char)(comp[i] - 'a' + 'A');
	}
	return clen;
}

/* Make the component a safe name and append "/name" to buf. */
static int flush_component(char *buf, size_t buflen, size_t *out, char *comp, size_t clen,
                           bool dot_ok)
{
	clen = names_fix_component(comp, clen, dot_ok);
	if (*out + 1 + clen + 1 > buflen)
		return -ENAMETOOLONG;
	buf[(*out)++] = '/';
	memcpy(buf + *out, comp, clen);
	*out += clen;
	return 0;
}

int template_render(const struct template *t, const struct record *rec, char *buf, size_t buflen)
{
	char comp[COMPONENT_SCRATCH + 1]; /* + 1: names_fix_component may add a byte */
	size_t clen = 0, out = 0, n;
	const struct tpl_alt *alt;
	/* Only a source file whose own name is hidden may give a hidden name. */
	bool dot_ok = record_has(rec, PROP_FILE_NAME) && rec->values[PROP_FILE_NAME].ptr[0] == '.';
	uint32_t i = 0;
	int r;

	while (i < t->nops) {
		const struct tpl_op *op = &t->ops[i];

		switch (op->kind) {
		case TPL_TEXT:
			n = op->count;
			if (n > COMPONENT_SCRATCH - clen)
				n = utf8_boundary(t->pool + op->first, n, COMPONENT_SCRATCH - clen);
			memcpy(comp + clen, t->pool + op->first, n);
			clen += n;
			break;
		case TPL_SEP:
			r = flush_component(buf, buflen, &out, comp, clen, dot_ok);
			if (r < 0)
				return r;
			clen = 0;
			break;
		case TPL_SUBST:
			alt = pick(t, op, rec);
			if (alt == NULL)
				return -ENOENT;
			if (alt->prop == ALT_LITERAL)
				clen = append_subst(comp, clen, op, t->pool + alt->off, alt->len);
			else
				clen = append_subst(comp, clen, op, rec->values[alt->prop].ptr,
				                    rec->values[alt->prop].len);
			break;
		case TPL_SECTION:
			if (pick(t, op, rec) == NULL) {
				i = op->skip;
				continue;
			}
			break;
		default:
			return -EINVAL; /* a broken program: cannot happen */
		}
		i++;
	}
	r = flush_component(buf, buflen, &out, comp, clen, dot_ok);
	if (r < 0)
		return r;
	buf[out] = '\0';
	return (int)out;
}
