/*
 * template: the path templates of the renaming rules, parsed once into a flat
 * program and rendered per file without allocating.
 *
 * Syntax (docs/rules.md has the full description):
 *   literal text, '/' separating directories; \{ \} \( \) \\ \| for those characters
 *   {var}                 the value of a property (required: missing -> no render)
 *   {a|b|"text"}          the first present alternative; 'text' works too
 *   {var:pad2:lower}      modifiers, applied in order: padN (1..32), lower, upper
 *   {a|b?(text {a})}      a conditional section: rendered iff a or b is present
 * Variable names are made of letters, digits and _ / . - ("video/codec").
 */
#ifndef MF_TEMPLATE_H
#define MF_TEMPLATE_H

#include <stddef.h>

#include "record.h"

#define TEMPLATE_SOURCE_MAX 4096 /* bytes of template text */
#define TEMPLATE_DEPTH_MAX  16   /* nested conditional sections */
#define TEMPLATE_PAD_MAX    32   /* largest N of padN */

struct template;

/*
 * Parse text (len bytes) once; variables are interned into schema.  On error
 * returns -EINVAL (or -ENOMEM) and writes "column N: what" to err, N counting
 * characters from 1.  The caller owns the result.
 */
int template_compile(const char *text, size_t len, struct schema *schema, struct template **ret,
                     char *err, size_t errlen);
void template_free(struct template *t);
/* The source text, NUL-terminated. */
const char *template_source(const struct template *t);

/*
 * Render for rec into buf: an absolute path "/A/B/c.ext" whose every component is
 * a safe name (names.h), NUL-terminated.  Returns its length, -ENOENT when a
 * required variable is missing or empty (the template does not render), or
 * -ENAMETOOLONG when buf is too short (SNAP_PATH_MAX bytes always suffice: a
 * template that could render longer is refused by template_compile).
 */
int template_render(const struct template *t, const struct record *rec, char *buf, size_t buflen);

#endif
