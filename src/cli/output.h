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

/* Every file the CLI creates is private to its user (0600), like the agent's profiles. */
#define LW_OUTPUT_FILE_MODE 0600

/* Checks before any work that `path` ("-" and NULL: stdout, always fine) may take output:
 * a new name or a regular file. Anything else (a symlink, FIFO, device, directory) is
 * refused: "leakwatch: cannot write <what> '<path>': it is a FIFO, not a regular file
 * (refusing to replace it)". Returns 0, or -1 after printing that. */
int lw_output_check_path(const char *path, const char *what);

/* The text for a failed or refused output file, lw_output_problem, is common/file.h's. */

#endif
