/*
 * live_profile.c - see live_profile.h.
 */
#include "cli/live_profile.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/profile_io.h"

int lw_cli_fetch_profile(int pid, const char *request, int timeout_ms,
                         const lw_symbolize_options_t *symbolize, lw_profile_t *out,
                         char *error, size_t error_size) {
  lw_profile_init(out, &lw_libc_allocator);
  lw_buf_t bytes;
  lw_buf_init(&bytes, &lw_libc_allocator);
  int result = lw_control_call(pid, request, &bytes, timeout_ms, error, error_size);
  if (result == 0) {
    char problem[512];
    lw_profile_free(out);
    if (lw_cli_load_profile_data(request, bytes.data, bytes.len, out, problem, sizeof problem) <
        0) {
      snprintf(error, error_size, "the agent of pid %d sent a bad profile: %s", pid, problem);
      result = -1;
    } else if (symbolize && lw_symbolize_profile(out, symbolize, NULL) < 0) {
      lw_cli_warn("out of memory while symbolizing; the profile keeps the agent's names");
    }
  }
  lw_buf_free(&bytes);
  return result;
}
