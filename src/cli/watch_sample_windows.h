/*
 * watch_sample_windows.h - the Windows sampler's state, included by watch_sample.h in the
 * Windows build (the functions are the same; watch_sample_windows.c implements them with
 * src/platform/windows/win_counters.h).
 *
 * One round shares a Toolhelp process snapshot (thread counts) and one read of the system
 * handle table (handles by type) among all watched processes.
 */
#ifndef LW_CLI_WATCH_SAMPLE_WINDOWS_H
#define LW_CLI_WATCH_SAMPLE_WINDOWS_H

#include <stdbool.h>
#include <stdint.h>

#include "platform/windows/win_counters.h"

typedef struct lw_watch_sampler {
  bool fd_types;        /* here: handles by type (the system handle table) */
  bool smaps;           /* no Windows meaning; kept so shared option code can set it */
  unsigned smaps_every; /* likewise */
  uint64_t tick;
  lw_win_process_list_t processes;
  uint64_t processes_tick; /* round of the snapshot above (0: none) */
  lw_win_handle_table_t handles;
  uint64_t handles_tick;
  int handles_error; /* why the handle table could not be read, for a one-time warning */
} lw_watch_sampler_t;

typedef struct lw_watch_target {
  int pid;
  void *process; /* HANDLE: keeps the pid from being reused while we watch it */
  bool can_dup;  /* opened with PROCESS_DUP_HANDLE (handle type names) */
  bool opened;
} lw_watch_target_t;

#endif
