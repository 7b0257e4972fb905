/*
 * json.c - streaming JSON writer (see json.h). One element per line inside arrays keeps
 * large outputs diffable and greppable.
 */
#include "cli/json.h"

#include <inttypes.h>
#include <math.h>

void lw_json_init(lw_json_t *j, FILE *out) {
  j->out = out;
  j->depth = 0;
  j->need_comma[0] = false;
  j->after_key = false;
}

/* Separator and indentation before a value or key at the current depth. */
static void before_value(lw_json_t *j) {
  if (j->after_key) {
    j->after_key = false;
    return;
  }
  if (j->depth > 0) {
    if (j->need_comma[j->depth])
      fputc(',', j->out);
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
      fputs("  ", j->out);
  }
  j->need_comma[j->depth] = true;
}

static void open_(lw_json_t *j, char c) {
  before_value(j);
  fputc(c, j->out);
  if (j->depth + 1 < LW_JSON_MAX_DEPTH)
    j->depth++;
  j->need_comma[j->depth] = false;
}

static void close_(lw_json_t *j, char c) {
  bool had = j->need_comma[j->depth];
  if (j->depth > 0)
    j->depth--;
  if (had) {
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
      fputs("  ", j->out);
  }
  fputc(c, j->out);
  if (j->depth == 0)
    fputc('\n', j->out);
}

void lw_json_begin_object(lw_json_t *j) { open_(j, '{'); }
void lw_json_end_object(lw_json_t *j) { close_(j, '}'); }
void lw_json_begin_array(lw_json_t *j) { open_(j, '['); }
void lw_json_end_array(lw_json_t *j) { close_(j, ']'); }

/* Length of a valid UTF-8 sequence starting at s, or 0 when it is not valid. */
static int utf8_length(const unsigned char *s) {
  if (s[0] < 0x80)
    return 1;
  int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || (n == 2 && s[0] < 0xc2))
    return 0;
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

void lw_json_escape(FILE *out, const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  while (*s) {
    unsigned char c = *s;
    if (c == '"' || c == '\\') {
      fputc('\\', out);
      fputc(c, out);
      s++;
    } else if (c < 0x20) {
      switch (c) {
      case '\n': fputs("\\n", out); break;
      case '\t': fputs("\\t", out); break;
      case '\r': fputs("\\r", out); break;
      default: fprintf(out, "\\u%04x", c); break;
      }
      s++;
    } else {
      int n = utf8_length(s);
      if (n == 0) {
        fputs("\xef\xbf\xbd", out);
        s++;
      } else {
        fwrite(s, 1, (size_t)n, out);
        s += n;
      }
    }
  }
}

void lw_json_quoted(FILE *out, const char *text) {
  fputc('"', out);
  lw_json_escape(out, text);
  fputc('"', out);
}

void lw_json_key(lw_json_t *j, const char *key) {
  before_value(j);
  fputc('"', j->out);
  lw_json_escape(j->out, key);
  fputs("\": ", j->out);
  j->after_key = true;
}

void lw_json_string(lw_json_t *j, const char *text) {
  before_value(j);
  fputc('"', j->out);
  lw_json_escape(j->out, text ? text : "");
  fputc('"', j->out);
}

void lw_json_int(lw_json_t *j, int64_t value) {
  before_value(j);
  fprintf(j->out, "%" PRId64, value);
}

void lw_json_double(lw_json_t *j, double value) {
  before_value(j);
  if (isfinite(value))
    fprintf(j->out, "%.6g", value);
  else
    fputs("null", j->out);
}

void lw_json_bool(lw_json_t *j, bool value) {
  before_value(j);
  fputs(value ? "true" : "false", j->out);
}

void lw_json_null(lw_json_t *j) {
  before_value(j);
  fputs("null", j->out);
}

void lw_json_kstring(lw_json_t *j, const char *key, const char *text) {
  lw_json_key(j, key);
  lw_json_string(j, text);
}
void lw_json_kint(lw_json_t *j, const char *key, int64_t value) {
  lw_json_key(j, key);
  lw_json_int(j, value);
}
void lw_json_kdouble(lw_json_t *j, const char *key, double value) {
  lw_json_key(j, key);
  lw_json_double(j, value);
}
void lw_json_kbool(lw_json_t *j, const char *key, bool value) {
  lw_json_key(j, key);
  lw_json_bool(j, value);
}
