/*
 * json: the one escaping function for JSON text written by hand (dump, status
 * files).  Output is always valid JSON: control characters are escaped and bytes
 * that are not valid UTF-8 become U+FFFD, since names and paths from the KV store
 * may hold anything.
 */
#ifndef MF_JSON_H
#define MF_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Write s[0..len) as a quoted JSON string. */
void json_put_string(FILE *out, const char *s, size_t len);

#endif
