/*
 * output_problem.c - the words for a refused or failed output file (file.h), shared by the
 * CLI and the agent so both explain a planted symlink or FIFO the same way. Portable: it
 * only asks lw_output_path_check, which file.c and the Windows file_windows.c both have;
 * no stdio or malloc, as the agent calls it from its exit path.
 */
#include <errno.h>
#include <string.h>

#include "common/file.h"
#include "common/fmt.h"

void lw_output_problem(const char *path, int rc, char *out, size_t size) {
  const char *kind = NULL;
  /* -EEXIST from the writers is their refusal; asked again to name what is there (gone
   * since: the plain errno text). */
  if (rc == -EEXIST && lw_output_path_check(path, &kind) == -EEXIST)
    lw_fmt(out, size, "it is %s, not a regular file (refusing to replace it)", kind);
  else
    lw_fmt(out, size, "%s", strerror(-rc));
}
