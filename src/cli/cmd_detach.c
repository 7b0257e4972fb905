/*
 * cmd_detach.c - `leakwatch detach PID`: stops an agent that `leakwatch attach` loaded:
 * the calls it redirected go back to the C library's, sampling stops, its thread, control
 * socket and HTTP endpoint close. The library itself stays mapped (unloading code that
 * other threads may be returning through is not safe), and `attach` works again.
 *
 * The stop runs on a borrowed thread of the process, as the start did (inject_call.c).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/inject_call.h"
#include "cli/inject_target.h"

static const lw_cli_option_t options[] = {
    {"json", 0, NULL, "print what happened as one JSON object"},
    {"agent", 0, "PATH", "the attach library that was loaded, if not libleakwatch-attach.so"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "detach", "leakwatch detach PID [--json] [--agent PATH]",
    "Stops the agent that 'leakwatch attach' loaded into process PID: its redirected calls\n"
    "are restored, sampling stops, its thread, control socket and HTTP endpoint close. The\n"
    "library stays mapped in the process (a few hundred KiB, no thread, no descriptor);\n"
    "'leakwatch attach PID' starts it again. A process started with the agent (leakwatch\n"
    "run, LD_PRELOAD) cannot be detached.",
    options, "Example:\n  leakwatch detach 4242\n"};

int lw_cmd_detach(int argc, char **argv) {
  bool json = false;
  const char *attach_name = "libleakwatch-attach.so";
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    if (strcmp(options[option].long_name, "json") == 0) {
      json = true;
    } else if (strcmp(options[option].long_name, "agent") == 0) {
      value = lw_cli_nonempty(&spec, "--agent", value);
      attach_name = strrchr(value, '/') ? strrchr(value, '/') + 1 : value;
    }
  }
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;

  static lw_inject_target_t target;
  char error[1024];
  if (lw_inject_target_inspect(pid, attach_name, &target, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return LW_EXIT_FAILURE;
  }
  if (target.preloaded) {
    lw_cli_error("pid %d was started with the agent (preloaded), not attached: it cannot be "
                 "detached", pid);
    return LW_EXIT_FAILURE;
  }
  if (!target.attached_library[0]) {
    lw_cli_error("pid %d has no attached agent (see 'leakwatch attach --help')", pid);
    return LW_EXIT_FAILURE;
  }
  lw_inject_stage("inspected");
  /* RTLD_NOLOAD: the handle of the library already there, never a second load. */
  lw_inject_request_t request = {target.attached_library, RTLD_NOW | RTLD_NOLOAD,
                                 "lw_attach_stop", NULL, 0, 20000};
  lw_inject_result_t result;
  if (lw_inject_call(&target, &request, &result, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return LW_EXIT_FAILURE;
  }
  if (!result.loaded || !result.found) {
    lw_cli_error("pid %d: cannot reach lw_attach_stop in '%s': %s", pid,
                 target.attached_library, result.message[0] ? result.message : "not found");
    return LW_EXIT_FAILURE;
  }
  if (result.status != 0) {
    lw_cli_error("pid %d: %s", pid, result.message[0] ? result.message : "the agent did not stop");
    return LW_EXIT_FAILURE;
  }
  /* The agent's thread closes its socket and endpoint just after the stop returns: wait
   * for that, so that what runs next (an attach, ps) sees the agent gone. */
  bool closed = false;
  for (int waited = 0; waited < 5000 && !closed; waited += 20) {
    lw_buf_t body;
    lw_buf_init(&body, &lw_libc_allocator);
    char ignored[512];
    closed = lw_control_call(pid, "info", &body, 2000, ignored, sizeof ignored) != 0;
    lw_buf_free(&body);
    if (!closed)
      nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
  }
  if (!closed)
    lw_cli_warn("pid %d: the agent stopped but its control socket still answers", pid);
  if (json)
    printf("{\"pid\":%d,\"thread\":%d,\"stopped_ms\":%.3f,\"call_ms\":%.3f}\n", pid,
           result.tid, result.stopped_ms, result.call_ms);
  else
    printf("pid %d: agent detached (sampling stopped, its thread and sockets closed; the "
           "library stays mapped)\n", pid);
  return LW_EXIT_OK;
}
