/*
 * cmd_heap.c - `leakwatch heap PID`: a heap profile of a running process, taken now over
 * its control socket, symbolized here (like `leakwatch run` does) and written atomically.
 * With --seconds N, the profile covers a window: what was allocated during it and is still
 * live at its end (the agent timestamps every sampled allocation).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/attach_note.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/leak_report.h"
#include "cli/live_profile.h"
#include "cli/profile_io.h"
#include "cli/symbolize.h"
#include "common/file.h"

static const lw_cli_option_t options[] = {
    {"output", 'o', "FILE", "where to write the profile (default heap-<pid>.pb.gz)"},
    {"seconds", 's', "N", "profile a window of N seconds: allocations made in it and still live"},
    {"top", 'n', "N", "allocation sites in the summary (default 5, 0 for none)"},
    {"no-symbolize", 0, NULL, "keep the agent's ELF symbol names (skip DWARF symbolization)"},
    {"debug-dir", 0, "DIR", "also look for split debug info here (repeatable)"},
    {"json", 0, NULL, "print the summary as JSON"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "heap", "leakwatch heap PID [-o FILE] [--seconds N]",
    "Takes a heap profile of running process PID (which must run with the agent), symbolizes\n"
    "it and writes it as gzipped pprof, then summarizes where memory is held.",
    options,
    "Examples:\n"
    "  leakwatch heap 4242 -o now.pb.gz && go tool pprof -top now.pb.gz\n"
    "  leakwatch heap 4242 --seconds 60     # what the last minute allocated and kept"};

static void warn(void *context, const char *message) {
  (void)context;
  lw_cli_warn("%s", message);
}

int lw_cmd_heap(int argc, char **argv) {
  const char *output = NULL;
  uint64_t seconds = 0, top = 5;
  bool no_symbolize = false, json = false;
  const char *debug_dirs[16];
  size_t n_debug_dirs = 0;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "output") == 0)
      output = value;
    else if (strcmp(name, "seconds") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 3600, &seconds))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "top") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 0, 100000, &top))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "no-symbolize") == 0)
      no_symbolize = true;
    else if (strcmp(name, "json") == 0)
      json = true;
    else if (strcmp(name, "debug-dir") == 0) {
      if (n_debug_dirs == 16)
        return lw_cli_usage_error(&spec, "too many --debug-dir options (at most 16)");
      debug_dirs[n_debug_dirs++] = value;
    }
  }
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;
  char default_output[64];
  snprintf(default_output, sizeof default_output, "heap-%d.pb.gz", pid);
  if (!output)
    output = default_output;
  if (lw_output_check_path(output, "profile") != 0)
    return LW_EXIT_FAILURE;

  char request[64], error[512];
  if (seconds) {
    snprintf(request, sizeof request, "heap-window %llu", (unsigned long long)seconds);
    if (!json)
      fprintf(stderr, "leakwatch: profiling pid %d for %llu s...\n", pid,
              (unsigned long long)seconds);
  } else {
    snprintf(request, sizeof request, "heap");
  }
  lw_profile_t profile;
  int result = LW_EXIT_OK;
  lw_symbolize_options_t so = {debug_dirs, n_debug_dirs, false, warn, NULL};
  if (lw_cli_fetch_profile(pid, request, (int)(seconds + 30) * 1000, no_symbolize ? NULL : &so,
                           &profile, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    result = LW_EXIT_FAILURE;
    goto out;
  }
  if (lw_cli_save_profile(output, &profile, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    result = LW_EXIT_FAILURE;
    goto out;
  }
  if (top || json) {
    char when[160], attached[96];
    lw_cli_attach_note(&profile, attached, sizeof attached);
    if (seconds)
      snprintf(when, sizeof when, "in pid %d from the last %llu s", pid, (unsigned long long)seconds);
    else if (attached[0])
      snprintf(when, sizeof when, "in pid %d now, %s", pid, attached);
    else
      snprintf(when, sizeof when, "in pid %d now", pid);
    lw_leak_report_options_t ro = {(int)(top ? top : 1), 6, json, output, when};
    lw_leak_report_write(json ? stdout : stderr, &profile, &ro);
  } else {
    fprintf(stderr, "leakwatch: profile written to %s\n", output);
  }
out:
  lw_profile_free(&profile);
  return result;
}
