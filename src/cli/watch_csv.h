/*
 * watch_csv.h - reads the CSV that `leakwatch watch --csv` writes, for `leakwatch report`.
 *
 * The contract: lines starting with '#' are comments (units and notes); the first other
 * line is a header of column names; then one row per sample. Columns include time_unix
 * (seconds since the epoch, decimal), pid, comm, and numeric columns whose names end with
 * their unit (rss_bytes, pss_bytes, swap_bytes, fds, threads, ...). Unknown columns are
 * kept if numeric and ignored otherwise; fields may be quoted as in RFC 4180.
 */
#ifndef LW_CLI_WATCH_CSV_H
#define LW_CLI_WATCH_CSV_H

#include <stddef.h>
#include <stdint.h>

typedef struct lw_watch_csv {
  char **columns;   /* header names */
  size_t n_columns;
  double *values;   /* n_rows x n_columns, NAN where a field is not a number */
  size_t n_rows;
  int time_column;  /* index of time_unix */
  int pid_column;   /* index of pid, or -1 */
} lw_watch_csv_t;

/* Parses `text` (len bytes). Returns 0, or -1 with a one-line reason ("line 3: ...").  */
int lw_watch_csv_parse(const char *text, size_t len, lw_watch_csv_t *out, char *error,
                       size_t error_size);
void lw_watch_csv_free(lw_watch_csv_t *csv);

/* True when the bytes look like such a CSV rather than a profile (cheap sniffing). */
int lw_watch_csv_sniff(const uint8_t *data, size_t len);

#endif
