/*
 * settings: small helpers over libconfig settings shared by the configuration
 * and the rules, so every message names types the same way.
 */
#ifndef MF_SETTINGS_H
#define MF_SETTINGS_H

#include <libconfig.h>

/* "a string", "an integer", "a floating-point number", ... for messages. */
const char *settings_type_name(const config_setting_t *s);

#endif
