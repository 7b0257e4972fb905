/*
 * watch_csv.c - parser for `leakwatch watch --csv` output (see watch_csv.h).
 */
#include "cli/watch_csv.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS 256
#define MAX_FIELD 1024

/* Splits one record into fields (RFC 4180 quoting). Returns the count, or -1. *pos moves
 * past the record's line end. */
static int split(const char *text, size_t len, size_t *pos, char fields[][MAX_FIELD], int max) {
  int n = 0;
  size_t i = *pos;
  for (;;) {
    char *f = fields[n];
    size_t flen = 0;
    if (i < len && text[i] == '"') {
      i++;
      for (;;) {
        if (i >= len)
          return -1; /* unterminated quote */
        if (text[i] == '"') {
          if (i + 1 < len && text[i + 1] == '"') {
            if (flen + 1 < MAX_FIELD)
              f[flen++] = '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (flen + 1 < MAX_FIELD)
          f[flen++] = text[i];
        i++;
      }
    }
    while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
      if (flen + 1 < MAX_FIELD)
        f[flen++] = text[i];
      i++;
    }
    f[flen] = '\0';
    n++;
    if (i < len && text[i] == ',' && n < max) {
      i++;
      continue;
    }
    break;
  }
  while (i < len && text[i] != '\n')
    i++;
  if (i < len)
    i++;
  *pos = i;
  return n;
}

static double number(const char *text) {
  while (*text == ' ')
    text++;
  if (!*text)
    return NAN;
  char *end = NULL;
  double v = strtod(text, &end);
  while (end && *end == ' ')
    end++;
  return end && *end == '\0' && isfinite(v) ? v : NAN;
}

int lw_watch_csv_sniff(const uint8_t *data, size_t len) {
  size_t n = len < 4096 ? len : 4096;
  for (size_t i = 0; i < n; i++)
    if (data[i] == 0)
      return 0;
  const char *text = (const char *)data;
  /* The header names time_unix; look for it in the first few kilobytes. */
  for (size_t i = 0; i + 9 <= n; i++)
    if (memcmp(text + i, "time_unix", 9) == 0)
      return 1;
  return 0;
}

int lw_watch_csv_parse(const char *text, size_t len, lw_watch_csv_t *out, char *error,
                       size_t error_size) {
  memset(out, 0, sizeof *out);
  out->time_column = out->pid_column = -1;
  static char fields[MAX_COLUMNS][MAX_FIELD];
  size_t pos = 0, line = 0, cap = 0;
  while (pos < len) {
    line++;
    if (text[pos] == '#' || text[pos] == '\n' || text[pos] == '\r') {
      while (pos < len && text[pos] != '\n')
        pos++;
      pos++;
      continue;
    }
    int n = split(text, len, &pos, fields, MAX_COLUMNS);
    if (n < 0) {
      snprintf(error, error_size, "line %zu: unterminated quoted field", line);
      goto fail;
    }
    if (!out->columns) {
      out->columns = calloc((size_t)n, sizeof *out->columns);
      if (!out->columns)
        goto oom;
      out->n_columns = (size_t)n;
      for (int i = 0; i < n; i++) {
        out->columns[i] = strdup(fields[i]);
        if (!out->columns[i])
          goto oom;
        if (strcmp(fields[i], "time_unix") == 0)
          out->time_column = i;
        else if (strcmp(fields[i], "pid") == 0)
          out->pid_column = i;
      }
      if (out->time_column < 0) {
        snprintf(error, error_size, "line %zu: the header has no time_unix column", line);
        goto fail;
      }
      continue;
    }
    if ((size_t)n != out->n_columns) {
      snprintf(error, error_size, "line %zu: %d fields, but the header has %zu", line, n,
               out->n_columns);
      goto fail;
    }
    if (out->n_rows == cap) {
      cap = cap ? cap * 2 : 256;
      double *grown = realloc(out->values, cap * out->n_columns * sizeof *grown);
      if (!grown)
        goto oom;
      out->values = grown;
    }
    double *row = out->values + out->n_rows * out->n_columns;
    for (int i = 0; i < n; i++)
      row[i] = number(fields[i]);
    if (isnan(row[out->time_column])) {
      snprintf(error, error_size, "line %zu: time_unix '%s' is not a number", line,
               fields[out->time_column]);
      goto fail;
    }
    out->n_rows++;
  }
  if (!out->columns) {
    snprintf(error, error_size, "no header line (expected column names with time_unix)");
    goto fail;
  }
  return 0;
oom:
  snprintf(error, error_size, "out of memory");
fail:
  lw_watch_csv_free(out);
  return -1;
}

void lw_watch_csv_free(lw_watch_csv_t *csv) {
  for (size_t i = 0; csv->columns && i < csv->n_columns; i++)
    free(csv->columns[i]);
  free(csv->columns);
  free(csv->values);
  memset(csv, 0, sizeof *csv);
  csv->time_column = csv->pid_column = -1;
}
