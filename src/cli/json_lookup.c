/*
 * json_lookup.c - first-match field reads from the agent's JSON replies (json_lookup.h).
 */
#include "cli/json_lookup.h"

#include <stdio.h>
#include <string.h>

static const char *value_of(const char *json, const char *key) {
  char needle[128];
  snprintf(needle, sizeof needle, "\"%s\":", key);
  const char *p = strstr(json, needle);
  if (!p)
    return NULL;
  p += strlen(needle);
  while (*p == ' ')
    p++;
  return p;
}

bool lw_json_lookup_uint(const char *json, const char *key, uint64_t *out) {
  const char *p = value_of(json, key);
  if (!p || *p < '0' || *p > '9')
    return false;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++)
    v = v * 10 + (uint64_t)(*p - '0');
  *out = v;
  return true;
}

bool lw_json_lookup_string(const char *json, const char *key, char *out, size_t size) {
  const char *p = value_of(json, key);
  if (!p || *p != '"' || size == 0)
    return false;
  size_t n = 0;
  for (p++; *p && *p != '"'; p++) {
    if (*p == '\\' && p[1])
      p++;
    if (n + 1 < size)
      out[n++] = *p;
  }
  out[n] = '\0';
  return *p == '"';
}
