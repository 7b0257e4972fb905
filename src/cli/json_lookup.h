/*
 * json_lookup.h - reads single fields out of the small, flat JSON documents the agent sends
 * (info, stats, trim replies). Not a general JSON parser: it finds the first "key": at any
 * depth and reads the number or string after it, which is all those replies need.
 */
#ifndef LW_CLI_JSON_LOOKUP_H
#define LW_CLI_JSON_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool lw_json_lookup_uint(const char *json, const char *key, uint64_t *out);
/* Copies a string value (JSON escapes for '"' and '\\' undone) into out. */
bool lw_json_lookup_string(const char *json, const char *key, char *out, size_t size);

#endif
