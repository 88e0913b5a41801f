/*
 * condition: compile a rule's `when` group into a flat array in prefix order
 * (each node knows where its subtree ends) and evaluate it per file with short
 * circuits, no allocation and no lookup by name.  See condition.h for the syntax
 * and docs/rules.md for the semantics.
 *
 * Comparison: equals, notEquals, greaterThan and lessThan compare as numbers when
 * both sides are numbers ([+-]digits[.digits]), else bytewise (ASCII case folded
 * with ignoreCase).  A missing or empty property makes every op false except
 * notExists and notEquals (which is exactly "not equals").
 */
#include "condition.h"
#include "settings.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cond_kind {
	COND_AND,
	COND_OR,
	COND_NOT,
	COND_LEAF,
	COND_KIND_MAX,
};

enum cond_op {
	OP_EQUALS,
	OP_NOT_EQUALS,
	OP_CONTAINS,
	OP_STARTS_WITH,
	OP_ENDS_WITH,
	OP_EXISTS,
	OP_NOT_EXISTS,
	OP_GREATER_THAN,
	OP_LESS_THAN,
	OP_MAX,
};

static const char *const op_names[OP_MAX] = {
    [OP_EQUALS] = "equals",          [OP_NOT_EQUALS] = "notEquals",     [OP_CONTAINS] = "contains",
    [OP_STARTS_WITH] = "startsWith", [OP_ENDS_WITH] = "endsWith",       [OP_EXISTS] = "exists",
    [OP_NOT_EXISTS] = "notExists",   [OP_GREATER_THAN] = "greaterThan", [OP_LESS_THAN] = "lessThan",
};

struct number {
	bool ok;
	bool is_int; /* no fraction and fits in int64: compared exactly */
	int64_t i;
	double d;
};

struct cond_value {
	char *s;
	uint32_t len;
	struct number num;
};

struct cond_node {
	uint8_t kind;
	uint8_t op;
	bool icase;
	uint32_t prop;
	uint32_t end;   /* index of the first node after this subtree */
	uint32_t first; /* COND_LEAF: values[first .. first+count) */
	uint32_t count;
};

/* Owner: the caller of condition_compile(); condition_free() releases it. */
struct condition {
	struct cond_node *nodes;
	uint32_t n, cap;
	struct cond_value *values;
	uint32_t nv, vcap;
};

static struct number parse_number(const char *s, size_t len)
{
	static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
	                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	struct number n = {0};
	uint64_t mant = 0;
	long double approx = 0;
	bool neg = false, overflow = false, dot = false;
	size_t i = 0, digits = 0, frac = 0;

	if (len > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i++;
	}
	for (; i < len; i++) {
		unsigned d;

		if (s[i] == '.' && !dot && digits > 0) {
			dot = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return n;
		d = (unsigned)(s[i] - '0');
		if (!overflow && mant <= (UINT64_MAX - d) / 10)
			mant = mant * 10 + d;
		else
			overflow = true;
		approx = approx * 10 + d;
		digits++;
		if (dot)
			frac++;
	}
	if (digits == 0 || (dot && frac == 0))
		return n; /* "", "-", "5." */
	n.ok = true;
	if (!overflow && frac < sizeof(pow10) / sizeof(pow10[0])) {
		n.d = (double)mant / pow10[frac];
	} else {
		for (size_t k = 0; k < frac; k++)
			approx /= 10;
		n.d = (double)approx;
	}
	if (neg)
		n.d = -n.d;
	if (!dot && !overflow && mant <= (uint64_t)INT64_MAX) {
		n.is_int = true;
		n.i = neg ? -(int64_t)mant : (int64_t)mant;
	}
	return n;
}

bool condition_parse_number(const char *s, size_t len, double *ret)
{
	struct number n = parse_number(s, len);

	if (n.ok)
		*ret = n.d;
	return n.ok;
}

static inline unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ---- compiling ---- */

struct compiler {
	struct condition *c;
	struct schema *schema;
	char *err;
	size_t errlen;
	unsigned *line;
};

static int cfail(struct compiler *k, const config_setting_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfail(struct compiler *k, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	if (k->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(k->err, k->errlen, fmt, ap);
		va_end(ap);
	}
	if (k->line != NULL)
		*k->line = at != NULL ? config_setting_source_line(at) : 0;
	return -EINVAL;
}

static int cnomem(struct compiler *k)
{
	if (k->errlen > 0)
		snprintf(k->err, k->errlen, "out of memory");
	return -ENOMEM;
}

static bool is_property_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '/' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static int push_node(struct compiler *k, struct cond_node node)
{
	struct condition *c = k->c;

	if (c->n == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 8;
		struct cond_node *p = realloc(c->nodes, cap * sizeof(*p));

		if (p == NULL)
			return cnomem(k);
		c->nodes = p;
		c->cap = cap;
	}
	c->nodes[c->n] = node;
	return (int)c->n++;
}

/* One scalar value setting -> values[]. */
static int add_value(struct compiler *k, const config_setting_t *v, const char *path, bool icase)
{
	struct condition *c = k->c;
	char buf[64];
	const char *text = buf;
	struct cond_value cv = {0};

	switch (config_setting_type(v)) {
	case CONFIG_TYPE_STRING:
		text = config_setting_get_string(v);
		if (text[0] == '\0')
			return cfail(k, v, "%s: empty string (use exists or notExists)", path);
		break;
	case CONFIG_TYPE_INT:
		snprintf(buf, sizeof(buf), "%d", config_setting_get_int(v));
		break;
	case CONFIG_TYPE_INT64:
		snprintf(buf, sizeof(buf), "%lld", config_setting_get_int64(v));
		break;
	case CONFIG_TYPE_FLOAT:
		/* The shortest of %.15g and %.17g that reads back as the same double. */
		snprintf(buf, sizeof(buf), "%.15g", config_setting_get_float(v));
		if (strtod(buf, NULL) != config_setting_get_float(v))
			snprintf(buf, sizeof(buf), "%.17g", config_setting_get_float(v));
		break;
	case CONFIG_TYPE_BOOL:
		text = config_setting_get_bool(v) ? "true" : "false";
		break;
	default:
		return cfail(k, v, "%s: expected a string, a number or a boolean, not %s", path,
		             settings_type_name(v));
	}
	if (c->nv == c->vcap) {
		uint32_t cap = c->vcap ? c->vcap * 2 : 8;
		struct cond_value *p = realloc(c->values, cap * sizeof(*p));

		if (p == NULL)
			return cnomem(k);
		c->values = p;
		c->vcap = cap;
	}
	cv.len = (uint32_t)strlen(text);
	cv.s = strdup(text);
	if (cv.s == NULL)
		return cnomem(k);
	if (icase) /* fold once here; evaluation folds only the property's side */
		for (char *p = cv.s; *p != '\0'; p++)
			*p = (char)fold((unsigned char)*p);
	cv.num = parse_number(cv.s, cv.len);
	c->values[c->nv++] = cv;
	return 0;
}

static int compile_node(struct compiler *k, const config_setting_t *s, char *path, size_t pathcap,
                        unsigned depth);

static int compile_group_list(struct compiler *k, const config_setting_t *list, enum cond_kind kind,
                              char *path, size_t pathcap, unsigned depth)
{
	size_t plen = strlen(path);
	const char *name = kind == COND_AND ? "and" : "or";
	int idx, n, r;

	if (config_setting_type(list) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(list) == CONFIG_TYPE_ARRAY && config_setting_length(list) == 0))
		return cfail(k, list, "%s.%s: expected a list ( { ... }, ... ), not %s", path, name,
		             settings_type_name(list));
	n = config_setting_length(list);
	if (n == 0)
		return cfail(k, list, "%s.%s: empty list", path, name);
	idx = push_node(k, (struct cond_node){.kind = (uint8_t)kind});
	if (idx < 0)
		return idx;
	for (int i = 0; i < n; i++) {
		snprintf(path + plen, pathcap - plen, ".%s[%d]", name, i);
		r = compile_node(k, config_setting_get_elem(list, (unsigned)i), path, pathcap,
		                 depth + 1);
		if (r < 0)
			return r;
		path[plen] = '\0';
	}
	k->c->nodes[idx].end = k->c->n;
	return 0;
}

static int compile_leaf(struct compiler *k, const config_setting_t *s, const config_setting_t *prop,
                        const config_setting_t *op, const config_setting_t *value,
                        const config_setting_t *icase, const char *path)
{
	struct cond_node node = {.kind = COND_LEAF};
	const char *name, *opname;
	char vpath[300];
	int r, idx;

	if (config_setting_type(prop) != CONFIG_TYPE_STRING)
		return cfail(k, prop, "%s.property: expected a string, not %s", path,
		             settings_type_name(prop));
	name = config_setting_get_string(prop);
	if (!is_property_name(name))
		return cfail(
		    k, prop,
		    "%s.property: \"%s\" is not a property name (letters, digits, _ / . -)", path,
		    name);
	if (op == NULL)
		return cfail(k, s,
		             "%s: missing op (equals, notEquals, contains, startsWith, "
		             "endsWith, exists, notExists, greaterThan or lessThan)",
		             path);
	if (config_setting_type(op) != CONFIG_TYPE_STRING)
		return cfail(k, op, "%s.op: expected a string, not %s", path,
		             settings_type_name(op));
	opname = config_setting_get_string(op);
	for (node.op = 0; node.op < OP_MAX; node.op++)
		if (strcmp(opname, op_names[node.op]) == 0)
			break;
	if (node.op == OP_MAX)
		return cfail(k, op,
		             "%s.op: unknown op \"%s\" (expected equals, notEquals, contains, "
		             "startsWith, endsWith, exists, notExists, greaterThan or lessThan)",
		             path, opname);
	if (icase != NULL) {
		if (config_setting_type(icase) != CONFIG_TYPE_BOOL)
			return cfail(k, icase, "%s.ignoreCase: expected true or false, not %s",
			             path, settings_type_name(icase));
		node.icase = config_setting_get_bool(icase);
	}
	r = schema_intern(k->schema, name, strlen(name));
	if (r < 0)
		return cnomem(k);
	node.prop = (uint32_t)r;
	node.first = k->c->nv;

	if (node.op == OP_EXISTS || node.op == OP_NOT_EXISTS) {
		if (value != NULL)
			return cfail(k, value, "%s.value: %s takes no value", path, opname);
	} else if (value == NULL) {
		return cfail(k, s, "%s: %s needs a value", path, opname);
	} else if (config_setting_type(value) == CONFIG_TYPE_ARRAY ||
	           config_setting_type(value) == CONFIG_TYPE_LIST) {
		int n = config_setting_length(value);

		if (node.op == OP_GREATER_THAN || node.op == OP_LESS_THAN)
			return cfail(k, value, "%s.value: %s takes one value, not a list", path,
			             opname);
		if (n == 0)
			return cfail(k, value, "%s.value: empty list", path);
		for (int i = 0; i < n; i++) {
			snprintf(vpath, sizeof(vpath), "%s.value[%d]", path, i);
			r = add_value(k, config_setting_get_elem(value, (unsigned)i), vpath,
			              node.icase);
			if (r < 0)
				return r;
		}
	} else {
		snprintf(vpath, sizeof(vpath), "%s.value", path);
		r = add_value(k, value, vpath, node.icase);
		if (r < 0)
			return r;
	}
	node.count = k->c->nv - node.first;
	idx = push_node(k, node);
	if (idx < 0)
		return idx;
	k->c->nodes[idx].end = k->c->n;
	return 0;
}

static int compile_node(struct compiler *k, const config_setting_t *s, char *path, size_t pathcap,
                        unsigned depth)
{
	const config_setting_t *and_ = NULL, *or_ = NULL, *not_ = NULL, *prop = NULL, *op = NULL,
	                       *value = NULL, *icase = NULL;
	size_t plen = strlen(path);
	int n, forms, idx, r;

	if (depth > CONDITION_DEPTH_MAX)
		return cfail(k, s, "%s: conditions nested deeper than %d", path,
		             CONDITION_DEPTH_MAX);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return cfail(k, s, "%s: expected a group { ... }, not %s", path,
		             settings_type_name(s));
	n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);

		if (strcmp(name, "and") == 0)
			and_ = m;
		else if (strcmp(name, "or") == 0)
			or_ = m;
		else if (strcmp(name, "not") == 0)
			not_ = m;
		else if (strcmp(name, "property") == 0)
			prop = m;
		else if (strcmp(name, "op") == 0)
			op = m;
		else if (strcmp(name, "value") == 0)
			value = m;
		else if (strcmp(name, "ignoreCase") == 0)
			icase = m;
		else
			return cfail(k, m,
			             "%s: unknown setting \"%s\" (expected and, or, not, or "
			             "property, op, value, ignoreCase)",
			             path, name);
	}
	forms = (and_ != NULL) + (or_ != NULL) + (not_ != NULL) + (prop != NULL);
	if (forms == 0)
		return cfail(k, s, "%s: expected one of and, or, not or property", path);
	if (forms > 1)
		return cfail(k, s, "%s: use only one of and, or, not and property in one group",
		             path);
	if (prop == NULL && (op != NULL || value != NULL || icase != NULL))
		return cfail(k,
		             op      ? op
		             : value ? value
		                     : icase,
		             "%s: op, value and ignoreCase go with property", path);
	if (and_ != NULL)
		return compile_group_list(k, and_, COND_AND, path, pathcap, depth);
	if (or_ != NULL)
		return compile_group_list(k, or_, COND_OR, path, pathcap, depth);
	if (not_ != NULL) {
		idx = push_node(k, (struct cond_node){.kind = COND_NOT});
		if (idx < 0)
			return idx;
		snprintf(path + plen, pathcap - plen, ".not");
		r = compile_node(k, not_, path, pathcap, depth + 1);
		if (r < 0)
			return r;
		path[plen] = '\0';
		k->c->nodes[idx].end = k->c->n;
		return 0;
	}
	return compile_leaf(k, s, prop, op, value, icase, path);
}

void condition_free(struct condition *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->nv; i++)
		free(c->values[i].s);
	free(c->values);
	free(c->nodes);
	free(c);
}

int condition_compile(const config_setting_t *setting, const char *where, struct schema *schema,
                      struct condition **ret, char *err, size_t errlen, unsigned *ret_line)
{
	struct compiler k = {.schema = schema, .err = err, .errlen = errlen, .line = ret_line};
	char path[256];
	int r;

	if (ret_line != NULL)
		*ret_line = 0;
	k.c = calloc(1, sizeof(*k.c));
	if (k.c == NULL)
		return cnomem(&k);
	snprintf(path, sizeof(path), "%s", where);
	r = compile_node(&k, setting, path, sizeof(path), 0);
	if (r < 0) {
		condition_free(k.c);
		return r;
	}
	*ret = k.c;
	return 0;
}

/* ---- evaluating ---- */

/* b is a condition value: with ignoreCase it was folded when compiled. */
static bool bytes_equal(const char *a, const char *b, size_t n, bool icase)
{
	if (!icase)
		return memcmp(a, b, n) == 0;
	for (size_t i = 0; i < n; i++)
		if (fold((unsigned char)a[i]) != (unsigned char)b[i])
			return false;
	return true;
}

static bool contains(const char *h, size_t hlen, const char *n, size_t nlen, bool icase)
{
	if (!icase)
		return memmem(h, hlen, n, nlen) != NULL;
	if (nlen == 0 || nlen > hlen)
		return nlen == 0;
	if ((unsigned char)n[0] < 'a' || (unsigned char)n[0] > 'z') {
		/* Only that very byte folds to a non-letter: let memchr find candidates. */
		const char *p = h, *last = h + hlen - nlen;

		while (p <= last && (p = memchr(p, n[0], (size_t)(last - p) + 1)) != NULL) {
			if (bytes_equal(p + 1, n + 1, nlen - 1, true))
				return true;
			p++;
		}
		return false;
	}
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (fold((unsigned char)h[i]) == (unsigned char)n[0] &&
		    bytes_equal(h + i + 1, n + 1, nlen - 1, true))
			return true;
	return false;
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen, bool icase)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (icase) {
			x = fold(x);
			y = fold(y);
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int compare_numbers(const struct number *a, const struct number *b)
{
	if (a->is_int && b->is_int)
		return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
	return a->d < b->d ? -1 : a->d > b->d ? 1 : 0;
}

/* <0, 0, >0: numerically when both are numbers, else bytewise. */
static int compare(const struct strview *v, struct number *vnum, bool *parsed,
                   const struct cond_value *cv, bool icase)
{
	if (cv->num.ok) {
		if (!*parsed) {
			*vnum = parse_number(v->ptr, v->len);
			*parsed = true;
		}
		if (vnum->ok)
			return compare_numbers(vnum, &cv->num);
	}
	return compare_bytes(v->ptr, v->len, cv->s, cv->len, icase);
}

static bool eval_leaf(const struct condition *c, const struct cond_node *node,
                      const struct record *rec)
{
	const struct strview *v;
	struct number vnum;
	bool parsed = false;

	if (node->op == OP_EXISTS)
		return record_has(rec, node->prop);
	if (node->op == OP_NOT_EXISTS)
		return !record_has(rec, node->prop);
	if (!record_has(rec, node->prop))
		return node->op == OP_NOT_EQUALS;
	v = &rec->values[node->prop];
	for (uint32_t i = node->first; i < node->first + node->count; i++) {
		const struct cond_value *cv = &c->values[i];

		switch (node->op) {
		case OP_EQUALS:
		case OP_NOT_EQUALS:
			if (cv->num.ok) {
				if (compare(v, &vnum, &parsed, cv, node->icase) == 0)
					return node->op == OP_EQUALS;
			} else if (v->len == cv->len &&
			           bytes_equal(v->ptr, cv->s, cv->len, node->icase)) {
				return node->op == OP_EQUALS;
			}
			break;
		case OP_CONTAINS:
			if (contains(v->ptr, v->len, cv->s, cv->len, node->icase))
				return true;
			break;
		case OP_STARTS_WITH:
			if (v->len >= cv->len && bytes_equal(v->ptr, cv->s, cv->len, node->icase))
				return true;
			break;
		case OP_ENDS_WITH:
			if (v->len >= cv->len &&
			    bytes_equal(v->ptr + v->len - cv->len, cv->s, cv->len, node->icase))
				return true;
			break;
		case OP_GREATER_THAN:
			return compare(v, &vnum, &parsed, cv, node->icase) > 0;
		case OP_LESS_THAN:
			return compare(v, &vnum, &parsed, cv, node->icase) < 0;
		default:
			return false;
		}
	}
	return node->op == OP_NOT_EQUALS;
}

static bool eval_node(const struct condition *c, uint32_t i, const struct record *rec)
{
	const struct cond_node *node = &c->nodes[i];
	uint32_t j;

	switch (node->kind) {
	case COND_AND:
		for (j = i + 1; j < node->end; j = c->nodes[j].end)
			if (!eval_node(c, j, rec))
				return false;
		return true;
	case COND_OR:
		for (j = i + 1; j < node->end; j = c->nodes[j].end)
			if (eval_node(c, j, rec))
				return true;
		return false;
	case COND_NOT:
		return !eval_node(c, i + 1, rec);
	case COND_LEAF:
		return eval_leaf(c, node, rec);
	default:
		return false;
	}
}

bool condition_eval(const struct condition *c, const struct record *rec)
{
	return c == NULL || c->n == 0 || eval_node(c, 0, rec);
}
