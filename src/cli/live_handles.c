/*
 * live_handles.c - `leakwatch fds PID` and `leakwatch threads PID` (cmd_fds.c and
 * cmd_threads.c call in here): the descriptors still open, or the threads still running,
 * in a live process, by the stack that created them. The profile is fetched over the
 * control socket, symbolized, written atomically, and summarized like the exit report.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "cli/handle_report.h"
#include "cli/live_handles.h"
#include "cli/live_profile.h"
#include "cli/profile_io.h"

static const lw_cli_option_t options[] = {
    {"output", 'o', "FILE", "where to write the profile (default fds-<pid>.pb.gz, "
                            "threads-<pid>.pb.gz)"},
    {"top", 'n', "N", "creating stacks in the summary (default 10, 0 for none)"},
    {"frames", 0, "N", "frames shown per stack (default 8)"},
    {"no-symbolize", 0, NULL, "keep the agent's ELF symbol names (skip DWARF symbolization)"},
    {"debug-dir", 0, "DIR", "also look for split debug info here (repeatable)"},
    {"json", 0, NULL, "print the summary as JSON"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t fds_spec = {
    "fds", "leakwatch fds PID [-o FILE]",
    "Lists the file descriptors open in running process PID, by the stack that opened them\n"
    "and their type (socket, pipe, eventfd, file, ...), and writes them as a pprof profile.\n"
    "The process must run with the agent and LEAKWATCH_TRACK_FDS=1 (leakwatch run --fds).",
    options,
    "Examples:\n"
    "  leakwatch fds 4242\n"
    "  leakwatch fds 4242 -o fds.pb.gz && go tool pprof -top -tagfocus=type=socket fds.pb.gz"};

static const lw_cli_spec_t threads_spec = {
    "threads", "leakwatch threads PID [-o FILE]",
    "Lists the threads running in process PID by the stack that started them (pthread_create),\n"
    "and writes them as a pprof threadcreate profile. The process must run with the agent.",
    options,
    "Examples:\n"
    "  leakwatch threads 4242\n"
    "  leakwatch threads 4242 -o t.pb.gz && go tool pprof -traces t.pb.gz"};

static void warn(void *context, const char *message) {
  (void)context;
  lw_cli_warn("%s", message);
}

int lw_cli_live_handles(int argc, char **argv, lw_handle_report_kind_t kind) {
  bool fds = kind == LW_HANDLE_REPORT_FDS;
  const lw_cli_spec_t *spec = fds ? &fds_spec : &threads_spec;
  const char *output = NULL;
  uint64_t top = 10, frames = 8;
  bool no_symbolize = false, json = false;
  const char *debug_dirs[16];
  size_t n_debug_dirs = 0;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "output") == 0) {
      output = value;
    } else if (strcmp(name, "top") == 0) {
      if (!lw_cli_parse_uint(spec, name, value, 0, 100000, &top))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "frames") == 0) {
      if (!lw_cli_parse_uint(spec, name, value, 1, 256, &frames))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "no-symbolize") == 0) {
      no_symbolize = true;
    } else if (strcmp(name, "json") == 0) {
      json = true;
    } else if (strcmp(name, "debug-dir") == 0) {
      if (n_debug_dirs == 16)
        return lw_cli_usage_error(spec, "too many --debug-dir options (at most 16)");
      debug_dirs[n_debug_dirs++] = value;
    }
  }
  int pid = 0;
  int n_positionals = parser.n_positionals;
  bool pid_ok = n_positionals == 1 && lw_cli_parse_pid(spec, parser.positionals[0], &pid);
  lw_cli_parser_free(&parser);
  if (n_positionals != 1)
    return lw_cli_usage_error(spec, "expected one PID");
  if (!pid_ok)
    return LW_EXIT_USAGE;
  char default_output[64];
  snprintf(default_output, sizeof default_output, "%s-%d.pb.gz", fds ? "fds" : "threads", pid);
  if (!output)
    output = default_output;
  if (lw_output_check_path(output, "profile") != 0)
    return LW_EXIT_FAILURE;

  char error[512];
  lw_profile_t profile;
  lw_symbolize_options_t so = {debug_dirs, n_debug_dirs, false, warn, NULL};
  int result = LW_EXIT_OK;
  if (lw_cli_fetch_profile(pid, fds ? "fds" : "threads", 30000, no_symbolize ? NULL : &so,
                           &profile, error, sizeof error) < 0 ||
      lw_cli_save_profile(output, &profile, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    result = LW_EXIT_FAILURE;
  } else if (top || json) {
    char when[48];
    snprintf(when, sizeof when, "now in pid %d", pid);
    lw_handle_report_options_t ho = {kind, (int)(top ? top : 1), (int)frames, json, output, when};
    if (lw_handle_report_write(json ? stdout : stderr, &profile, &ho) < 0) {
      lw_cli_error("out of memory");
      result = LW_EXIT_FAILURE;
    } else if (json) {
      fputc('\n', stdout);
    }
  } else {
    fprintf(stderr, "leakwatch: profile written to %s\n", output);
  }
  lw_profile_free(&profile);
  return result;
}
