/*
 * process_figures.h - the few /proc figures the live-process commands show next to the
 * agent's counters (RSS, anonymous memory, threads, fds), read with src/common/procfs.c.
 */
#ifndef LW_CLI_PROCESS_FIGURES_H
#define LW_CLI_PROCESS_FIGURES_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lw_process_figures {
  bool ok;
  uint64_t rss_bytes;
  uint64_t anon_bytes;
  uint64_t threads;
  uint64_t fds;
} lw_process_figures_t;

/* Returns false when the process cannot be read (gone, or not ours). */
bool lw_process_figures_read(int pid, lw_process_figures_t *out);

#endif
