/*
 * rules: the renaming rules that place each record in the virtual tree.
 *
 * A rule has a name, a priority, an enabled flag, a condition tree and a path
 * template, or hide = true to keep what it matches out of the tree on purpose.
 * Rules are compiled once (templates parsed, property names resolved to schema
 * indices); rules_place() then costs one condition walk and one render per rule
 * tried.  The syntax is described in docs/rules.md.
 */
#ifndef MF_RULES_H
#define MF_RULES_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct rules;

/*
 * Compile a libconfig list of rule groups (the `rules` setting of the config, or
 * of a rules_file).  Properties the rules mention are interned into schema.  On
 * error returns -EINVAL with a message naming the rule and the position, e.g.
 *   rule "movies": template: column 14: unterminated '{'
 * The caller owns the result.
 */
int rules_from_setting(const config_setting_t *list, struct schema *schema, struct rules **ret,
                       char *err, size_t errlen);
/* A file holding `rules = ( ... );`.  Errors carry file:line for syntax errors. */
int rules_from_file(const char *path, struct schema *schema, struct rules **ret, char *err,
                    size_t errlen);
/* The shipped default rules (etc/rules/default.conf, built into the binary). */
int rules_default(struct schema *schema, struct rules **ret, char *err, size_t errlen);
void rules_free(struct rules *rules);

uint32_t rules_count(const struct rules *rules);
/* In evaluation order: highest priority first, ties in file order. */
const char *rules_name(const struct rules *rules, uint32_t index);
/* More about the rule at index (evaluation order), for the API and check-config. */
int rules_priority(const struct rules *rules, uint32_t index);
bool rules_is_enabled(const struct rules *rules, uint32_t index);
bool rules_is_hide(const struct rules *rules, uint32_t index);
/* The template's source text, NULL for a hide rule. */
const char *rules_template(const struct rules *rules, uint32_t index);

enum rules_result {
	RULES_PLACED,   /* buf holds the virtual path, *ret_rule the rule */
	RULES_HIDDEN,   /* a hide rule matched, *ret_rule the rule */
	RULES_UNPLACED, /* no rule matched and rendered */
};

/*
 * Place one record.  On RULES_PLACED buf holds an absolute path ("/Movies/X (2010)/
 * X.mkv") whose every component is a safe name (names.h): values were sanitised as
 * they were substituted, so a value never adds a directory.  Returns an enum
 * rules_result, or -ENAMETOOLONG when buflen (>= SNAP_PATH_MAX is enough) is short.
 * The caller runs record_derive() on rec first (fileName, extension, stem).
 */
int rules_place(const struct rules *rules, const struct record *rec, char *buf, size_t buflen,
                uint32_t *ret_rule);

#endif
