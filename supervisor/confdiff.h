/*
 * confdiff: which keys of the configuration changed between two loads, for the
 * supervisor's reloads (reload.c).  A configuration is compared as check-config
 * prints it, one "key = value" line per key, the origin comments cut off: a value
 * that moved from the defaults into the file is no change.
 */
#ifndef MF_SUPERVISOR_CONFDIFF_H
#define MF_SUPERVISOR_CONFDIFF_H

#include <stdbool.h>

#include "config.h"

/* The text to compare (malloc'd; NULL when out of memory). */
char *confdiff_text(const struct config *cfg);

/*
 * Did a key change between the texts old and new (appeared, went, or another
 * value)?  prefix "fuse." means every key of the group, a prefix without a
 * final '.' the one key of that name ("uid", "rules", "programs.nginx").
 */
bool confdiff_changed(const char *old, const char *new, const char *prefix);

#endif
