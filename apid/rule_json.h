/*
 * rule_json: renaming rules sent as JSON (the rules endpoints of the API),
 * turned into the libconfig settings lib/rules.c compiles, so a rule from the
 * dashboard is checked by exactly the code that checks the configuration.
 *
 * An object becomes a group, an array a list, a string, integer, real or
 * boolean the scalar of that type; null, and member names libconfig cannot
 * hold, are refused with the JSON path of the offending value
 * ("rules[1].when.and[0]: null is not allowed").
 */
#ifndef MF_APID_RULE_JSON_H
#define MF_APID_RULE_JSON_H

#include <jansson.h>
#include <libconfig.h>
#include <stddef.h>

#define RULE_JSON_DEPTH_MAX 40

#include "record.h"

/*
 * Fill cfg (config_init()ed by the caller, who destroys it) with a list `rules`
 * holding the rule objects of array (where names it in messages: "rules"), and
 * set *ret to that list.  Returns 0, or -EINVAL with the reason in err.
 */
int rule_json_to_config(json_t *array, const char *where, config_t *cfg, config_setting_t **ret,
                        char *err, size_t errlen);

/*
 * Record rec for the properties of schema out of a JSON object of sample
 * metadata (strings, numbers and booleans; others count as absent).  values
 * holds schema->count views; numbers are written into scratch (scratch_len
 * bytes), which, like obj, must outlive the record.  Runs record_derive().
 */
void rule_json_record(json_t *obj, const struct schema *schema, struct record *rec,
                      struct strview *values, char *scratch, size_t scratch_len);

#endif
