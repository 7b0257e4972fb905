/*
 * live_handles.h - the shared body of `leakwatch fds` and `leakwatch threads`.
 */
#ifndef LW_CLI_LIVE_HANDLES_H
#define LW_CLI_LIVE_HANDLES_H

#include "cli/handle_report.h"

int lw_cli_live_handles(int argc, char **argv, lw_handle_report_kind_t kind);

#endif
