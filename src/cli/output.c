/*
 * output.c - in-memory output committed atomically (see output.h).
 */
#include "cli/output.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/file.h"

int lw_output_begin(lw_output_t *out) {
  out->data = NULL;
  out->len = 0;
  out->stream = open_memstream(&out->data, &out->len);
  if (!out->stream) {
    lw_cli_error("out of memory");
    return -1;
  }
  return 0;
}

void lw_output_discard(lw_output_t *out) {
  if (out->stream)
    fclose(out->stream);
  free(out->data);
  out->stream = NULL;
  out->data = NULL;
}

int lw_output_commit(lw_output_t *out, const char *path) {
  bool failed = ferror(out->stream) != 0;
  if (fclose(out->stream) != 0)
    failed = true;
  out->stream = NULL;
  int result = 0;
  if (failed) {
    lw_cli_error("'%s': out of memory while writing the output", path ? path : "-");
    result = -1;
  } else if (!path || strcmp(path, "-") == 0) {
    if (fwrite(out->data, 1, out->len, stdout) != out->len || fflush(stdout) != 0) {
      lw_cli_error("'-': cannot write to standard output");
      result = -1;
    }
  } else {
    int rc = lw_write_file_atomic(path, out->data, out->len, LW_OUTPUT_FILE_MODE);
    if (rc < 0) {
      char problem[256];
      lw_output_problem(path, rc, problem, sizeof problem);
      lw_cli_error("'%s': %s", path, problem);
      result = -1;
    }
  }
  free(out->data);
  out->data = NULL;
  return result;
}
