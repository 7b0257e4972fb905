/*
 * watch_output.h - how `leakwatch watch` writes samples: CSV and JSONL (same keys, every
 * sample one row; the CSV starts with '#' comment lines documenting each column's unit,
 * the contract `leakwatch report` reads), the live table on a terminal, and plain lines
 * otherwise. Everything is appended to an lw_buf_t; the caller writes whole lines.
 *
 * Pairs with watch_metrics.h (the column list) and cmd_watch.c.
 */
#ifndef LW_CLI_WATCH_OUTPUT_H
#define LW_CLI_WATCH_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/watch_metrics.h"
#include "common/buf.h"

/* "# ..." lines (format, generator, each column's unit) and the header row. */
void lw_watch_csv_header(lw_buf_t *out);
/* One row; missing values are empty cells. */
void lw_watch_csv_row(lw_buf_t *out, const lw_watch_sample_t *sample);
/* One JSON object on one line (with '\n'); missing values are null. */
void lw_watch_json_row(lw_buf_t *out, const lw_watch_sample_t *sample);

/* JSON string with quotes; control characters escaped, invalid UTF-8 replaced by U+FFFD. */
void lw_watch_json_string(lw_buf_t *out, const char *text);
/* A CSV cell: quoted (quotes doubled) when it holds a comma, quote, CR or LF. */
void lw_watch_csv_cell(lw_buf_t *out, const char *text);

/* Compact size for the table: "512B", "12.3K", "1.50G" (binary units). */
size_t lw_watch_short_size(char *out, size_t size, double bytes);

/* `growing` has lw_watch_n_trended entries (NULL: none): such values are marked "↑". */
void lw_watch_table_header(lw_buf_t *out);
void lw_watch_table_row(lw_buf_t *out, const lw_watch_sample_t *sample, const bool *growing);
void lw_watch_plain_line(lw_buf_t *out, const lw_watch_sample_t *sample, const bool *growing);

/* The value of a sample's field in words for messages: "612 MiB", "12", "35.5%". */
size_t lw_watch_describe_value(char *out, size_t size, double value, lw_metric_unit_t unit,
                               bool per_second);

#endif
