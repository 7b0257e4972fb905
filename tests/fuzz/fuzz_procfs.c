/*
 * fuzz_procfs.c - libFuzzer target for the /proc file parsers (src/common/procfs.c): every
 * parser gets the same bytes, which must never make one read outside them or crash. Seeds:
 * captured files (corpus/procfs/). The cgroup parsers have their own target (fuzz_cgroup.c).
 * Built and replayed like fuzz_http_request.c (see tests/fuzz/CMakeLists.txt).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1); /* exactly size bytes: overreads are caught */
  if (!text)
    return 0;
  memcpy(text, data, size);
  lw_proc_stat_t st;
  if (lw_procfs_parse_stat(text, size, &st) == 0 && st.comm[sizeof st.comm - 1] != '\0')
    __builtin_trap();
  lw_proc_statm_t sm;
  (void)lw_procfs_parse_statm(text, size, &sm);
  lw_proc_status_t status;
  if (lw_procfs_parse_status(text, size, &status) == 0 &&
      status.name[sizeof status.name - 1] != '\0')
    __builtin_trap();
  lw_proc_smaps_rollup_t rollup;
  (void)lw_procfs_parse_smaps_rollup(text, size, &rollup);
  lw_proc_io_t io;
  (void)lw_procfs_parse_io(text, size, &io);
  lw_proc_limits_t limits;
  (void)lw_procfs_parse_limits(text, size, &limits);
  char v2[64], v1[64];
  (void)lw_procfs_parse_cgroup(text, size, v2, sizeof v2, v1, sizeof v1);
  (void)lw_procfs_classify_fd_link(text, size);
  free(text);
  return 0;
}
