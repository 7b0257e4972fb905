/*
 * watch_output.c - CSV, JSONL, table and plain-line rendering of watch samples
 * (see watch_output.h).
 */
#include "cli/watch_output.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/symbolize.h"
#include "common/number_format.h"
#include "common/units.h"

/* Values are printed exactly (integers) or, for rates and times, rounded to 3 decimals
 * first so that "0.30000000000000004" style noise never reaches a file. */
static void number(lw_buf_t *out, double v, bool rounded) {
  if (rounded)
    v = round(v * 1000.0) / 1000.0;
  char text[LW_NUMBER_MAX];
  size_t n = lw_format_double(text, sizeof text, v);
  lw_buf_append(out, text, n);
}

void lw_watch_csv_cell(lw_buf_t *out, const char *text) {
  if (!strpbrk(text, ",\"\r\n")) {
    lw_buf_append_str(out, text);
    return;
  }
  lw_buf_append_byte(out, '"');
  for (const char *p = text; *p; p++) {
    if (*p == '"')
      lw_buf_append_byte(out, '"');
    lw_buf_append_byte(out, (uint8_t)*p);
  }
  lw_buf_append_byte(out, '"');
}

void lw_watch_csv_header(lw_buf_t *out) {
  lw_buf_append_str(out,
                    "# leakwatch watch samples, CSV v1: one row per process and sample.\n"
                    "# Lines starting with '#' are comments. Empty cell: not available (process "
                    "exited, permission denied, no memory cgroup, or no previous sample for a "
                    "rate).\n"
                    "# time_unix: sample time, seconds since 1970-01-01 UTC (decimal)\n"
                    "# pid: process id\n"
                    "# comm: process name (/proc/PID/stat)\n");
  for (size_t i = 0; i < lw_watch_n_columns; i++)
    lw_buf_printf(out, "# %s: %s\n", lw_watch_columns[i].key, lw_watch_columns[i].doc);
  lw_buf_append_str(out, "time_unix,pid,comm");
  for (size_t i = 0; i < lw_watch_n_columns; i++) {
    lw_buf_append_byte(out, ',');
    lw_buf_append_str(out, lw_watch_columns[i].key);
  }
  lw_buf_append_byte(out, '\n');
}

void lw_watch_csv_row(lw_buf_t *out, const lw_watch_sample_t *s) {
  number(out, s->time_unix, true);
  lw_buf_printf(out, ",%d,", s->pid);
  lw_watch_csv_cell(out, s->comm);
  for (size_t i = 0; i < lw_watch_n_columns; i++) {
    lw_buf_append_byte(out, ',');
    const lw_watch_column_t *c = &lw_watch_columns[i];
    if (s->has[c->field])
      number(out, s->v[c->field], c->rate);
  }
  lw_buf_append_byte(out, '\n');
}

/* Length of a valid UTF-8 sequence at p, or 0 (overlong, surrogate, > U+10FFFF, cut). */
static size_t utf8_length(const unsigned char *p) {
  if (p[0] < 0x80)
    return 1;
  size_t n = (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0)
    return 0;
  uint32_t cp = p[0] & (0x7F >> n);
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void lw_watch_json_string(lw_buf_t *out, const char *text) {
  lw_buf_append_byte(out, '"');
  const unsigned char *p = (const unsigned char *)text;
  while (*p) {
    if (*p == '"' || *p == '\\') {
      lw_buf_append_byte(out, '\\');
      lw_buf_append_byte(out, *p++);
    } else if (*p < 0x20) {
      lw_buf_printf(out, "\\u%04x", *p++);
    } else {
      size_t n = utf8_length(p);
      if (n == 0) {
        lw_buf_append_str(out, "\\ufffd");
        p++;
      } else {
        lw_buf_append(out, p, n);
        p += n;
      }
    }
  }
  lw_buf_append_byte(out, '"');
}

void lw_watch_json_row(lw_buf_t *out, const lw_watch_sample_t *s) {
  lw_buf_append_str(out, "{\"time_unix\":");
  number(out, s->time_unix, true);
  lw_buf_printf(out, ",\"pid\":%d,\"comm\":", s->pid);
  lw_watch_json_string(out, s->comm);
  for (size_t i = 0; i < lw_watch_n_columns; i++) {
    const lw_watch_column_t *c = &lw_watch_columns[i];
    lw_buf_printf(out, ",\"%s\":", c->key);
    if (s->has[c->field])
      number(out, s->v[c->field], c->rate);
    else
      lw_buf_append_str(out, "null");
  }
  lw_buf_append_str(out, "}\n");
}

size_t lw_watch_short_size(char *out, size_t size, double bytes) {
  static const char units[] = "BKMGTP";
  int u = 0;
  while (fabs(bytes) >= 1024 && u < 5) {
    bytes /= 1024;
    u++;
  }
  if (u == 0)
    return (size_t)snprintf(out, size, "%.0f%c", bytes, units[u]);
  return (size_t)snprintf(out, size, "%.*f%c", fabs(bytes) >= 100 ? 0 : fabs(bytes) >= 10 ? 1 : 2,
                          bytes, units[u]);
}

size_t lw_watch_describe_value(char *out, size_t size, double value, lw_metric_unit_t unit,
                               bool per_second) {
  char text[48];
  if (unit == LW_UNIT_BYTES)
    lw_format_bytes(text, sizeof text, value);
  else if (unit == LW_UNIT_PERCENT)
    snprintf(text, sizeof text, "%.1f%%", value);
  else if (value == floor(value) && fabs(value) < 1e15)
    snprintf(text, sizeof text, "%.0f", value);
  else
    snprintf(text, sizeof text, "%.3g", value);
  return (size_t)snprintf(out, size, "%s%s", text, per_second ? "/s" : "");
}

/* Is a trended counter on this field growing? */
static bool marked(lw_watch_field_t field, const bool *growing) {
  if (!growing)
    return false;
  for (size_t i = 0; i < lw_watch_n_trended; i++)
    if (lw_watch_trended[i].field == field && growing[i])
      return true;
  return false;
}


static void cell_text(const lw_watch_sample_t *s, const lw_watch_view_item_t *c, char *text, size_t size) {
  if (!s->has[c->field]) {
    snprintf(text, size, "-");
    return;
  }
  double v = s->v[c->field];
  switch (c->kind) {
  case 'b':
  case 'B':
    lw_watch_short_size(text, size, v);
    break;
  case 'p':
    snprintf(text, size, "%.1f", v);
    break;
  case 'r':
    snprintf(text, size, v >= 100 ? "%.0f" : "%.1f", v);
    break;
  default:
    snprintf(text, size, "%.0f", v);
  }
}

void lw_watch_table_header(lw_buf_t *out) {
  lw_buf_printf(out, "%7s %-15s", "PID", "COMM");
  for (size_t i = 0; i < lw_watch_n_table_columns; i++)
    lw_buf_printf(out, " %*s", lw_watch_table_columns[i].width, lw_watch_table_columns[i].title);
  lw_buf_append_byte(out, '\n');
}

void lw_watch_table_row(lw_buf_t *out, const lw_watch_sample_t *s, const bool *growing) {
  /* A process names itself (prctl, exec): escaped before it reaches the terminal. */
  char comm[256];
  lw_escape_text(comm, sizeof comm, s->comm);
  lw_buf_printf(out, "%7d %-15.15s", s->pid, comm);
  for (size_t i = 0; i < lw_watch_n_table_columns; i++) {
    const lw_watch_view_item_t *c = &lw_watch_table_columns[i];
    char text[32];
    cell_text(s, c, text, sizeof text);
    if (marked(c->field, growing)) /* "↑" is one column wide but three bytes */
      lw_buf_printf(out, " %*s\xE2\x86\x91", c->width - 1, text);
    else
      lw_buf_printf(out, " %*s", c->width, text);
  }
  lw_buf_append_byte(out, '\n');
}

void lw_watch_plain_line(lw_buf_t *out, const lw_watch_sample_t *s, const bool *growing) {
  char when[32];
  time_t t = (time_t)s->time_unix;
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(when, sizeof when, "%H:%M:%S", &tm);
  char comm[256];
  lw_escape_text(comm, sizeof comm, s->comm); /* see lw_watch_table_row */
  lw_buf_printf(out, "%s pid %d (%s)", when, s->pid, comm);
  for (size_t i = 0; i < lw_watch_n_line_items; i++) {
    const lw_watch_view_item_t *item = &lw_watch_line_items[i];
    lw_watch_field_t f = item->field;
    if (!s->has[f])
      continue;
    double v = s->v[f];
    char text[64];
    switch (item->kind) {
    case 'b':
    case 'c':
      lw_watch_short_size(text, sizeof text, v);
      break;
    case 'p':
      snprintf(text, sizeof text, "%.1f%%", v);
      break;
    case 'r':
      snprintf(text, sizeof text, "%.1f", v);
      break;
    default:
      snprintf(text, sizeof text, "%.0f", v);
    }
    lw_buf_printf(out, " %s=%s%s", item->title, text, marked(f, growing) ? "\xE2\x86\x91" : "");
    if (item->kind == 'c' && s->has[LW_W_CG_MAX]) {
      lw_watch_short_size(text, sizeof text, s->v[LW_W_CG_MAX]);
      lw_buf_printf(out, "/%s", text);
    }
    if (item->by_type && s->has[item->by_type->first]) {
      /* The non-zero types, e.g. "(file 5, socket 3)". */
      bool first = true;
      for (int type = 0; type < item->by_type->n; type++) {
        double k = s->v[item->by_type->first + type];
        if (k <= 0)
          continue;
        lw_buf_printf(out, "%s%s %.0f", first ? " (" : ", ", item->by_type->name(type), k);
        first = false;
      }
      if (!first)
        lw_buf_append_byte(out, ')');
    }
  }
  lw_buf_append_byte(out, '\n');
}
