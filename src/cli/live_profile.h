/*
 * live_profile.h - a profile of a running process, fetched over its control socket
 * ("heap", "heap-window N", "fds", "threads"), decoded and symbolized here. Shared by
 * `leakwatch heap`, `fds`, `threads` and `leaks`.
 */
#ifndef LW_CLI_LIVE_PROFILE_H
#define LW_CLI_LIVE_PROFILE_H

#include <stddef.h>

#include "cli/symbolize.h"
#include "common/profile.h"

/* symbolize NULL keeps the agent's ELF names. Returns 0, or -1 with a one-line message in
 * error; *out is initialised either way, so lw_profile_free is always safe. */
int lw_cli_fetch_profile(int pid, const char *request, int timeout_ms,
                         const lw_symbolize_options_t *symbolize, lw_profile_t *out,
                         char *error, size_t error_size);

#endif
