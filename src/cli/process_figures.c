/*
 * process_figures.c - RSS, anonymous memory, threads and fds of a process (see
 * process_figures.h).
 */
#include "cli/process_figures.h"

#include <string.h>
#include <unistd.h>

#include "common/procfs.h"

bool lw_process_figures_read(int pid, lw_process_figures_t *out) {
  memset(out, 0, sizeof *out);
  lw_proc_handle_t handle;
  if (lw_proc_open(&handle, "/proc", pid, false) < 0)
    return false;
  char text[8192];
  ssize_t n = lw_proc_read(&handle, LW_PROC_STATUS, text, sizeof text);
  lw_proc_status_t status;
  if (n > 0 && lw_procfs_parse_status(text, (size_t)n, &status) == 0) {
    out->ok = true;
    out->rss_bytes = status.vm_rss_bytes;
    out->anon_bytes = status.rss_anon_bytes;
    out->threads = status.threads;
  }
  lw_proc_fds_t fds;
  if (lw_proc_read_fds(&handle, false, text, sizeof text, &fds) == 0)
    out->fds = fds.total;
  lw_proc_close(&handle);
  return out->ok;
}
