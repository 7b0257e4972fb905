/*
 * cmd_threads.c - `leakwatch threads PID`: threads running in a live process by creating
 * stack (the work is in live_handles.c, shared with `leakwatch fds`).
 */
#include "cli/cli.h"
#include "cli/live_handles.h"

int lw_cmd_threads(int argc, char **argv) {
  return lw_cli_live_handles(argc, argv, LW_HANDLE_REPORT_THREADS);
}
