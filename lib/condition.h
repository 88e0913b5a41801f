/*
 * condition: the `when` tree of a renaming rule, compiled once from libconfig into
 * a flat array and evaluated per file without allocating.
 *
 * A condition is a libconfig group holding exactly one of
 *   and = ( cond, ... );     all hold
 *   or = ( cond, ... );      at least one holds
 *   not = cond;              cond does not hold
 *   property = "name"; op = "equals"; value = "x" | 5 | ["a", "b"]; ignoreCase = true;
 * with op one of equals, notEquals, contains, startsWith, endsWith, exists,
 * notExists, greaterThan, lessThan.  docs/rules.md describes the semantics.
 */
#ifndef MF_CONDITION_H
#define MF_CONDITION_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "record.h"

#define CONDITION_DEPTH_MAX 32

struct condition;

/*
 * Compile the group setting; property names are interned into schema.  where
 * names the setting in messages ("when").  On error returns -EINVAL (or -ENOMEM),
 * writes "when.and[1]: unknown op \"equalz\" ..." to err and, when libconfig
 * knows it, the line of the offending setting to *ret_line (else 0).  The caller
 * owns the result.
 */
int condition_compile(const config_setting_t *setting, const char *where, struct schema *schema,
                      struct condition **ret, char *err, size_t errlen, unsigned *ret_line);
void condition_free(struct condition *c);

bool condition_eval(const struct condition *c, const struct record *rec);

/*
 * Parse a number as conditions do: [+-]digits[.digits], nothing else.  Exposed
 * for tests.  Returns true and the value, or false.
 */
bool condition_parse_number(const char *s, size_t len, double *ret);

#endif
