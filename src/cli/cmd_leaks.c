/*
 * cmd_leaks.c - `leakwatch leaks PID`: which allocation sites of a running process leak,
 * judged from the history of their live bytes that the agent keeps (docs/LEAKS.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/attach_note.h"
#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/leak_suspects.h"
#include "cli/live_profile.h"
#include "cli/profile_io.h"
#include "cli/symbolize.h"

static const lw_cli_option_t options[] = {
    {"json", 0, NULL, "print the verdicts as JSON"},
    {"top", 'n', "N", "suspects listed (default 10)"},
    {"all", 'a', NULL, "also list the sites that are not suspects, with the reason"},
    {"min-window", 0, "DURATION", "history needed before judging a site (default 3m)"},
    {"old-after", 0, "DURATION", "live allocations older than this count as old (default 1m)"},
    {"no-symbolize", 0, NULL, "name frames with the agent's ELF symbols only"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "leaks", "leakwatch leaks PID [--json] [-n N] [--all] [--min-window DURATION]",
    "Ranks the allocation sites of process PID (running with the agent) by how likely they\n"
    "are to leak: live memory that grew beyond sampling noise, steadily, and is still\n"
    "growing, over the history the agent keeps (a point every LEAKWATCH_HISTORY_INTERVAL,\n"
    "default 10 s, for the last 15 minutes and coarser for 2.4 hours). Each verdict says how\n"
    "sure it is and why; the method is in docs/LEAKS.md.",
    options, NULL};

static void warn(void *context, const char *message) {
  (void)context;
  lw_cli_warn("%s", message);
}

int lw_cmd_leaks(int argc, char **argv) {
  lw_leak_suspects_options_t o;
  memset(&o, 0, sizeof o);
  lw_leak_verdict_defaults(&o.verdict);
  uint64_t top = 10, min_window_ms = 180000, old_after_ms = 60000;
  bool no_symbolize = false;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "json") == 0)
      o.json = true;
    else if (strcmp(name, "all") == 0)
      o.all = true;
    else if (strcmp(name, "no-symbolize") == 0)
      no_symbolize = true;
    else if (strcmp(name, "top") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 100000, &top))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "min-window") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &min_window_ms))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "old-after") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &old_after_ms))
        return LW_EXIT_USAGE;
      if (old_after_ms < 1000 || old_after_ms > 86400000)
        return lw_cli_usage_error(&spec, "--old-after must be from 1s to 1d");
    }
  }
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;
  o.max_sites = (int)top;
  o.verdict.min_window_seconds = (double)min_window_ms / 1000.0;

  char request[64], error[512], subject[192];
  snprintf(request, sizeof request, "history %llu", (unsigned long long)(old_after_ms / 1000));
  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  if (lw_control_call(pid, request, &text, 30000, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    lw_buf_free(&text);
    return LW_EXIT_FAILURE;
  }
  lw_history_t history;
  if (lw_history_parse((const char *)text.data, text.len, &history, error, sizeof error) < 0) {
    lw_cli_error("the agent of pid %d sent a history leakwatch cannot read: %s", pid, error);
    lw_buf_free(&text);
    return LW_EXIT_FAILURE;
  }
  lw_buf_free(&text);
  /* Profiles of the same process name the frames (same addresses): the heap profile, and
   * the fd and threadcreate profiles when descriptor or thread sites are tracked. */
  bool wanted[3] = {true, false, false};
  for (size_t i = 0; i < history.n_sites; i++)
    wanted[history.sites[i].kind] = true;
  static const char *const requests[3] = {"heap", "fds", "threads"};
  lw_profile_t profiles[3];
  const lw_profile_t *loaded[3];
  size_t n_loaded = 0;
  lw_symbolize_options_t so = {NULL, 0, false, warn, NULL};
  for (int k = 0; k < 3; k++) {
    if (!wanted[k])
      continue;
    lw_profile_t *profile = &profiles[n_loaded];
    if (lw_cli_fetch_profile(pid, requests[k], 30000, no_symbolize ? NULL : &so, profile, error,
                             sizeof error) == 0) {
      loaded[n_loaded++] = profile;
    } else {
      lw_profile_free(profile);
      lw_cli_warn("cannot name frames: %s", error);
    }
  }
  char attached[96] = "";
  if (n_loaded)
    lw_cli_attach_note(loaded[0], attached, sizeof attached);
  if (attached[0])
    snprintf(subject, sizeof subject, "in pid %d (%s)", pid, attached);
  else
    snprintf(subject, sizeof subject, "in pid %d", pid);
  o.subject = subject;
  int suspects = lw_leak_suspects_write(stdout, &history, loaded, n_loaded, &o);
  for (size_t i = 0; i < n_loaded; i++)
    lw_profile_free(&profiles[i]);
  lw_history_free(&history);
  if (suspects < 0) {
    lw_cli_error("out of memory");
    return LW_EXIT_FAILURE;
  }
  return LW_EXIT_OK;
}
