/*
 * json.h - a small streaming JSON writer for the commands' --json output (RFC 8259: strings
 * escaped, invalid UTF-8 bytes replaced by U+FFFD so the output always parses).
 */
#ifndef LW_CLI_JSON_H
#define LW_CLI_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LW_JSON_MAX_DEPTH 32

typedef struct lw_json {
  FILE *out;
  int depth;
  bool need_comma[LW_JSON_MAX_DEPTH];
  bool after_key;
} lw_json_t;

void lw_json_init(lw_json_t *j, FILE *out);
void lw_json_begin_object(lw_json_t *j);
void lw_json_end_object(lw_json_t *j);
void lw_json_begin_array(lw_json_t *j);
void lw_json_end_array(lw_json_t *j);
void lw_json_key(lw_json_t *j, const char *key);
void lw_json_string(lw_json_t *j, const char *text);
void lw_json_int(lw_json_t *j, int64_t value);
void lw_json_double(lw_json_t *j, double value);
void lw_json_bool(lw_json_t *j, bool value);
void lw_json_null(lw_json_t *j);
/* Shorthands for "key": value. */
void lw_json_kstring(lw_json_t *j, const char *key, const char *text);
void lw_json_kint(lw_json_t *j, const char *key, int64_t value);
void lw_json_kdouble(lw_json_t *j, const char *key, double value);
void lw_json_kbool(lw_json_t *j, const char *key, bool value);
/* Writes `text` escaped as a JSON string body (no quotes) to any FILE (used by HTML too). */
void lw_json_escape(FILE *out, const char *text);
/* The same with the quotes, for writers that lay out their JSON by hand. */
void lw_json_quoted(FILE *out, const char *text);

#endif
