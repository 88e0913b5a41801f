/*
 * rules: load the renaming rules from libconfig (a config's `rules` list, a
 * rules_file or the built-in defaults), compile each rule's condition and
 * template once, and place records with them.  See rules.h; docs/rules.md is the
 * user's description of the language.
 *
 * Loading refuses the whole list on the first bad rule with one message naming
 * the file and line (when known), the rule and what is wrong.  Placing a record
 * walks the rules in priority order: no allocation, no libconfig, no parsing.
 */
#include "rules.h"
#include "settings.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "condition.h"
#include "template.h"
#include "utf8.h"

#define RULES_MAX     1000
#define RULE_NAME_MAX 128

extern const char rules_default_text[];
extern const size_t rules_default_text_len;

struct rule {
	char *name;
	int priority;
	bool enabled;
	bool hide;
	uint32_t order;         /* position in the file, to keep ties stable */
	struct condition *when; /* NULL: always */
	struct template *tpl;   /* NULL for a hide rule */
};

/* Owner: the caller of rules_from_*(); rules_free() releases it. */
struct rules {
	struct rule *v;
	uint32_t n;
};

struct loader {
	const char *source; /* file name for messages, or NULL */
	struct schema *schema;
	char *err;
	size_t errlen;
};

/* "file:line: rule "x": message" -- each prefix only when known. */
static int lfail(struct loader *l, unsigned line, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int lfail(struct loader *l, unsigned line, const char *label, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;
	int w = 0;

	if (l->errlen == 0)
		return -EINVAL;
	if (l->source != NULL && line > 0)
		w = snprintf(l->err, l->errlen, "%s:%u: ", l->source, line);
	else if (l->source != NULL)
		w = snprintf(l->err, l->errlen, "%s: ", l->source);
	else if (line > 0)
		w = snprintf(l->err, l->errlen, "line %u: ", line);
	if (w > 0)
		n = (size_t)w < l->errlen ? (size_t)w : l->errlen - 1;
	if (label != NULL && n < l->errlen) {
		w = snprintf(l->err + n, l->errlen - n, "%s: ", label);
		if (w > 0)
			n += (size_t)w < l->errlen - n ? (size_t)w : l->errlen - n - 1;
	}
	va_start(ap, fmt);
	vsnprintf(l->err + n, l->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static unsigned line_of(const config_setting_t *s)
{
	return s != NULL ? config_setting_source_line(s) : 0;
}

static void rule_clear(struct rule *r)
{
	free(r->name);
	condition_free(r->when);
	template_free(r->tpl);
}

void rules_free(struct rules *rules)
{
	if (rules == NULL)
		return;
	for (uint32_t i = 0; i < rules->n; i++)
		rule_clear(&rules->v[i]);
	free(rules->v);
	free(rules);
}

static bool is_good_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > RULE_NAME_MAX || !utf8_is_valid(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int get_bool(struct loader *l, const config_setting_t *s, const char *label, bool *ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return lfail(l, line_of(s), label, "%s: expected true or false, not %s",
		             config_setting_name(s), settings_type_name(s));
	*ret = config_setting_get_bool(s);
	return 0;
}

static int compile_rule(struct loader *l, const config_setting_t *g, uint32_t index,
                        struct rule *rule)
{
	const config_setting_t *name = NULL, *priority = NULL, *enabled = NULL, *hide = NULL,
	                       *when = NULL, *tpl = NULL, *description = NULL;
	char label[RULE_NAME_MAX + 16], msg[512];
	unsigned line;
	int n, r;

	*rule = (struct rule){.enabled = true, .order = index};
	snprintf(label, sizeof(label), "rule #%u", index + 1);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return lfail(l, line_of(g), label,
		             "expected a group { name = ...; template = ...; }, not %s",
		             settings_type_name(g));
	n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(m);

		if (strcmp(key, "name") == 0)
			name = m;
		else if (strcmp(key, "priority") == 0)
			priority = m;
		else if (strcmp(key, "enabled") == 0)
			enabled = m;
		else if (strcmp(key, "hide") == 0)
			hide = m;
		else if (strcmp(key, "when") == 0)
			when = m;
		else if (strcmp(key, "template") == 0)
			tpl = m;
		else if (strcmp(key, "description") == 0)
			description = m;
		/* anything else is reported once the name is known, below */
	}

	if (name == NULL)
		return lfail(l, line_of(g), label, "missing name = \"...\";");
	if (config_setting_type(name) != CONFIG_TYPE_STRING)
		return lfail(l, line_of(name), label, "name: expected a string, not %s",
		             settings_type_name(name));
	if (!is_good_name(config_setting_get_string(name)))
		return lfail(l, line_of(name), label,
		             "name: must be 1 to %d bytes of UTF-8 without control characters",
		             RULE_NAME_MAX);
	snprintf(label, sizeof(label), "rule \"%s\"", config_setting_get_string(name));

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(m);

		if (m != name && m != priority && m != enabled && m != hide && m != when &&
		    m != tpl && m != description)
			return lfail(l, line_of(m), label,
			             "unknown setting \"%s\" (expected name, priority, enabled, "
			             "when, template, hide, description)",
			             key);
	}
	if (description != NULL && config_setting_type(description) != CONFIG_TYPE_STRING)
		return lfail(l, line_of(description), label,
		             "description: expected a string, not %s",
		             settings_type_name(description));
	if (priority != NULL) {
		long long p;

		if (config_setting_type(priority) != CONFIG_TYPE_INT &&
		    config_setting_type(priority) != CONFIG_TYPE_INT64)
			return lfail(l, line_of(priority), label,
			             "priority: expected an integer, not %s",
			             settings_type_name(priority));
		p = config_setting_get_int64(priority);
		if (p < -1000000000LL || p > 1000000000LL)
			return lfail(l, line_of(priority), label,
			             "priority: %lld is out of range (-1000000000 to 1000000000)",
			             p);
		rule->priority = (int)p;
	}
	if (enabled != NULL && (r = get_bool(l, enabled, label, &rule->enabled)) < 0)
		return r;
	if (hide != NULL && (r = get_bool(l, hide, label, &rule->hide)) < 0)
		return r;
	if (rule->hide && tpl != NULL)
		return lfail(l, line_of(tpl), label,
		             "a rule with hide = true places nothing: remove its template");
	if (!rule->hide && tpl == NULL)
		return lfail(l, line_of(g), label, "missing template = \"...\"; (or hide = true;)");

	rule->name = strdup(config_setting_get_string(name));
	if (rule->name == NULL)
		return lfail(l, 0, label, "out of memory");
	if (when != NULL) {
		r = condition_compile(when, "when", l->schema, &rule->when, msg, sizeof(msg),
		                      &line);
		if (r < 0)
			return lfail(l, line ? line : line_of(when), label, "%s", msg), r;
	}
	if (tpl != NULL) {
		const char *text;

		if (config_setting_type(tpl) != CONFIG_TYPE_STRING)
			return lfail(l, line_of(tpl), label, "template: expected a string, not %s",
			             settings_type_name(tpl));
		text = config_setting_get_string(tpl);
		r = template_compile(text, strlen(text), l->schema, &rule->tpl, msg, sizeof(msg));
		if (r < 0)
			return lfail(l, line_of(tpl), label, "template: %s", msg), r;
	}
	return 0;
}

static int by_priority(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order ? 1 : 0;
}

static int compile_list(struct loader *l, const config_setting_t *list, struct rules **ret)
{
	struct rules *rules;
	int n, r;

	if (l->errlen > 0)
		l->err[0] = '\0';
	if (list == NULL || config_setting_type(list) != CONFIG_TYPE_LIST)
		return lfail(l, line_of(list), NULL,
		             "rules: expected a list of rule groups ( { ... }, { ... } ), not %s",
		             list != NULL ? settings_type_name(list) : "nothing");
	n = config_setting_length(list);
	if (n == 0)
		return lfail(l, line_of(list), NULL, "rules: the list is empty");
	if (n > RULES_MAX)
		return lfail(l, line_of(list), NULL, "rules: more than %d rules", RULES_MAX);
	rules = calloc(1, sizeof(*rules));
	if (rules == NULL || (rules->v = calloc((size_t)n, sizeof(*rules->v))) == NULL) {
		free(rules);
		return lfail(l, 0, NULL, "out of memory"), -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

		r = compile_rule(l, g, (uint32_t)i, &rules->v[i]);
		rules->n = (uint32_t)i + 1;
		if (r < 0)
			goto out_fail;
		for (int j = 0; j < i; j++) {
			if (strcmp(rules->v[j].name, rules->v[i].name) == 0) {
				char label[RULE_NAME_MAX + 16];

				snprintf(label, sizeof(label), "rule \"%s\"", rules->v[i].name);
				r = lfail(l, line_of(g), label,
				          "the name is already used by rule #%d", j + 1);
				goto out_fail;
			}
		}
	}
	qsort(rules->v, rules->n, sizeof(*rules->v), by_priority);
	*ret = rules;
	return 0;

out_fail:
	rules_free(rules);
	return r;
}

int rules_from_setting(const config_setting_t *list, struct schema *schema, struct rules **ret,
                       char *err, size_t errlen)
{
	struct loader l = {.schema = schema, .err = err, .errlen = errlen};

	if (list != NULL)
		l.source = config_setting_source_file(list);
	return compile_list(&l, list, ret);
}

/* A parsed `rules = ( ... );` document: refuse anything else at the top. */
static int compile_document(struct loader *l, config_t *cfg, struct rules **ret)
{
	const config_setting_t *root = config_root_setting(cfg), *list = NULL;
	int n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);

		if (strcmp(config_setting_name(m), "rules") == 0)
			list = m;
		else
			return lfail(l, line_of(m), NULL,
			             "unknown setting \"%s\" (a rules file holds rules = ( ... );)",
			             config_setting_name(m));
	}
	if (list == NULL)
		return lfail(l, 0, NULL, "no rules = ( ... ); list");
	return compile_list(l, list, ret);
}

int rules_from_file(const char *path, struct schema *schema, struct rules **ret, char *err,
                    size_t errlen)
{
	struct loader l = {.source = path, .schema = schema, .err = err, .errlen = errlen};
	config_t cfg;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (f == NULL) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	config_init(&cfg);
	if (config_read(&cfg, f) != CONFIG_TRUE) {
		r = lfail(&l, (unsigned)config_error_line(&cfg), NULL, "%s",
		          config_error_text(&cfg));
		goto out;
	}
	r = compile_document(&l, &cfg, ret);
out:
	fclose(f);
	config_destroy(&cfg);
	return r;
}

int rules_default(struct schema *schema, struct rules **ret, char *err, size_t errlen)
{
	struct loader l = {
	    .source = "built-in default rules", .schema = schema, .err = err, .errlen = errlen};
	config_t cfg;
	int r;

	config_init(&cfg);
	if (config_read_string(&cfg, rules_default_text) != CONFIG_TRUE)
		r = lfail(&l, (unsigned)config_error_line(&cfg), NULL, "%s",
		          config_error_text(&cfg));
	else
		r = compile_document(&l, &cfg, ret);
	config_destroy(&cfg);
	return r;
}

uint32_t rules_count(const struct rules *rules)
{
	return rules->n;
}

const char *rules_name(const struct rules *rules, uint32_t index)
{
	return index < rules->n ? rules->v[index].name : NULL;
}

int rules_priority(const struct rules *rules, uint32_t index)
{
	return index < rules->n ? rules->v[index].priority : 0;
}

bool rules_is_enabled(const struct rules *rules, uint32_t index)
{
	return index < rules->n && rules->v[index].enabled;
}

bool rules_is_hide(const struct rules *rules, uint32_t index)
{
	return index < rules->n && rules->v[index].hide;
}

const char *rules_template(const struct rules *rules, uint32_t index)
{
	if (index >= rules->n || rules->v[index].tpl == NULL)
		return NULL;
	return template_source(rules->v[index].tpl);
}

int rules_place(const struct rules *rules, const struct record *rec, char *buf, size_t buflen,
                uint32_t *ret_rule)
{
	for (uint32_t i = 0; i < rules->n; i++) {
		const struct rule *rule = &rules->v[i];
		int r;

		if (!rule->enabled)
			continue;
		if (rule->when != NULL && !condition_eval(rule->when, rec))
			continue;
		if (rule->hide) {
			*ret_rule = i;
			return RULES_HIDDEN;
		}
		r = template_render(rule->tpl, rec, buf, buflen);
		if (r == -ENOENT)
			continue; /* a required variable is missing: try the next rule */
		if (r < 0)
			return r;
		*ret_rule = i;
		return RULES_PLACED;
	}
	return RULES_UNPLACED;
}
