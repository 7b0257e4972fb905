/*
 * output.h - command output that is never left half-written: text is produced into memory
 * and then either printed to stdout or written to the -o file atomically (a temporary file
 * renamed over the target), so a failed run leaves no partial SVG, HTML or JSON behind.
 */
#ifndef LW_CLI_OUTPUT_H
#define LW_CLI_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

typedef struct lw_output {
  FILE *stream; /* write here */
  char *data;
  size_t len;
} lw_output_t;

/* Opens the in-memory stream. Returns 0, or -1 (message printed) when out of memory. */
int lw_output_begin(lw_output_t *out);
/* Writes what was produced to `path` ("-" or NULL: stdout) and frees it. Returns 0, or -1
 * after printing "leakwatch: '<path>': <problem>". */
int lw_output_commit(lw_output_t *out, const char *path);
/* Drops what was produced (on an error before commit). */
void lw_output_discard(lw_output_t *out);

#endif
