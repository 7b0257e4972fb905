/*
 * cmd_fds.c - `leakwatch fds PID`: descriptors open in a live process by creating stack
 * (the work is in live_handles.c, shared with `leakwatch threads`).
 */
#include "cli/cli.h"
#include "cli/live_handles.h"

int lw_cmd_fds(int argc, char **argv) {
  return lw_cli_live_handles(argc, argv, LW_HANDLE_REPORT_FDS);
}
