/*
 * output_path.c - which names may take the CLI's output, and how a refusal is worded (see
 * output.h). Apart from output.c, which needs open_memstream, so the Windows build (watch,
 * the profile writer) shares the same checks.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/file.h"

int lw_output_check_path(const char *path, const char *what) {
  if (!path || strcmp(path, "-") == 0)
    return 0;
  if (!path[0]) {
    lw_cli_error("cannot write %s '': an empty file name", what);
    return -1;
  }
  const char *kind = NULL;
  int rc = lw_output_path_check(path, &kind);
  if (rc == 0)
    return 0;
  if (rc == -EEXIST)
    lw_cli_error("cannot write %s '%s': it is %s, not a regular file (refusing to replace it)",
                 what, path, kind);
  else
    lw_cli_error("cannot write %s '%s': %s", what, path, strerror(-rc));
  return -1;
}
