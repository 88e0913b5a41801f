/*
 * rules_source: the rules in force as JSON, conditions included, for GET
 * /api/fuse/rules and the dashboard (which starts a preview from them).
 *
 * lib/rules.c keeps rules only compiled, so the text they were compiled from
 * is read once more at start, from where the configuration took it: the
 * rules_file, the configuration file's `rules` list, or the built-in
 * defaults.  Each libconfig setting becomes the JSON value rule_json.c would
 * turn back into it (a group an object, a list or array an array), so the
 * rules shown can be sent to rules/validate and rules/preview as they are.
 */
#ifndef MF_APID_RULES_SOURCE_H
#define MF_APID_RULES_SOURCE_H

#include <jansson.h>
#include <stddef.h>

struct config;

/*
 * A JSON array of the rule objects, in file order, into *ret (owned by the
 * caller).  Returns 0, or -errno with the reason in err (the file went away,
 * a string that is not UTF-8, ...): the caller logs it and serves the rules
 * without their conditions.
 */
int rules_source_json(const struct config *cfg, json_t **ret, char *err, size_t errlen);

#endif
