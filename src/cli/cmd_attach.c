/*
 * cmd_attach.c - `leakwatch attach PID [OPTIONS]`: loads the agent (libleakwatch-attach.so)
 * into a running process that was not started with it and starts it, with the options the
 * LEAKWATCH_* variables would have given it; from then on `stats`, `heap`, `leaks`... work
 * on that process as on one started with the agent.
 *
 * Refusals (one line, the process untouched) come from inject_target.c, the injection from
 * inject_call.c; the agent's entry points (lw_attach_start/lw_attach_stop) are its own
 * (src/agent). cmd_detach.c undoes this.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/inject_call.h"
#include "cli/inject_target.h"

static const lw_cli_option_t options[] = {
    {"rate", 'r', "BYTES", "mean bytes between samples (LEAKWATCH_RATE; 1 records every allocation)"},
    {"http", 0, "ADDRESS", "serve the pprof paths on this address (LEAKWATCH_HTTP), e.g. 127.0.0.1:6060"},
    {"fds", 0, NULL, "also track file descriptors (LEAKWATCH_TRACK_FDS=1)"},
    {"history-interval", 0, "DURATION", "how often site histories are taken (LEAKWATCH_HISTORY_INTERVAL)"},
    {"output", 'o', "PATH", "write a heap profile here when the process exits (LEAKWATCH_OUTPUT)"},
    {"agent", 0, "PATH", "the libleakwatch-attach.so to load (default: installed beside leakwatch)"},
    {"json", 0, NULL, "print what happened as one JSON object"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "attach", "leakwatch attach PID [OPTIONS]",
    "Loads the agent into running process PID, which was not started with it, and starts\n"
    "sampling its allocations as a preloaded agent would (x86-64, glibc). One thread of the\n"
    "process is borrowed for well under a millisecond of ptrace work, then runs the agent's\n"
    "start-up and carries on; the others never stop. Allocations made before the attach are\n"
    "not in its profiles. Needs the right to trace the process (same user, or root).\n"
    "Refused, with the reason, and the process left as it was: another user's process,\n"
    "Yama ptrace_scope, a seccomp filter, a setuid, static, 32-bit or non-glibc program, one\n"
    "already running the agent or being traced. `leakwatch detach PID` stops the agent.",
    options,
    "Examples:\n"
    "  leakwatch attach 4242\n"
    "  leakwatch attach 4242 --rate 1 --http 127.0.0.1:6060 --fds\n"
    "  leakwatch heap 4242 && leakwatch detach 4242\n"};

/* libleakwatch-attach.so: --agent (the library itself, or libleakwatch.so beside it),
 * the directory of $LEAKWATCH_AGENT, then beside this binary, as `run` finds its agent. */
static bool find_attach_library(const char *given, char *out, size_t size) {
  const char *name = "libleakwatch-attach.so";
  char candidate[PATH_MAX + 64];
  const char *from = given ? given : getenv("LEAKWATCH_AGENT");
  if (from) {
    snprintf(candidate, sizeof candidate, "%s", from);
    const char *slash = strrchr(candidate, '/');
    const char *base = slash ? slash + 1 : candidate;
    if (!given || strcmp(base, "libleakwatch.so") == 0)
      snprintf(candidate + (base - candidate), sizeof candidate - (size_t)(base - candidate),
               "%s", name);
    if (!realpath(candidate, out) || access(out, R_OK) != 0) {
      lw_cli_error("cannot use agent '%s': %s", candidate, strerror(errno));
      return false;
    }
    return true;
  }
  if (lw_cli_library_beside_binary(name, out))
    return true;
  lw_cli_error("cannot find %s beside the leakwatch binary; pass --agent PATH", name);
  (void)size;
  return false;
}

/* Appends "NAME=VALUE\0" to the options block. */
static bool add_option(char *block, size_t size, size_t *used, const char *name,
                       const char *value) {
  int n = snprintf(block + *used, size - *used, "%s=%s", name, value);
  if (n < 0 || (size_t)n + 2 > size - *used) {
    lw_cli_error("the options are too long");
    return false;
  }
  *used += (size_t)n + 1;
  return true;
}

/* Waits until the agent answers on its control socket, so that the next `leakwatch heap`
 * finds it (its thread makes the socket just after the start returns). */
static bool wait_for_agent(int pid, int timeout_ms) {
  lw_buf_t body;
  char error[512];
  struct timespec pause_time = {0, 20 * 1000000L};
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    lw_buf_init(&body, &lw_libc_allocator);
    int rc = lw_control_call(pid, "info", &body, 2000, error, sizeof error);
    lw_buf_free(&body);
    if (rc == 0)
      return true;
    nanosleep(&pause_time, NULL);
  }
  return false;
}

static bool agent_answers(int pid) {
  lw_buf_t body;
  lw_buf_init(&body, &lw_libc_allocator);
  char error[512];
  bool answers = lw_control_call(pid, "info", &body, 2000, error, sizeof error) == 0;
  lw_buf_free(&body);
  return answers;
}

int lw_cmd_attach(int argc, char **argv) {
  static char block[8192];
  size_t used = 0;
  const char *agent = NULL;
  bool json = false;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  char output[PATH_MAX * 2 + 2];
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    bool ok = true;
    if (strcmp(name, "rate") == 0) {
      uint64_t rate;
      ok = lw_cli_parse_size(&spec, "--rate", value, &rate);
      if (ok && rate == 0) {
        lw_cli_usage_error(&spec, "--rate must be at least 1");
        ok = false;
      }
      ok = ok && add_option(block, sizeof block, &used, "LEAKWATCH_RATE", value);
    } else if (strcmp(name, "http") == 0) {
      ok = add_option(block, sizeof block, &used, "LEAKWATCH_HTTP",
                      lw_cli_nonempty(&spec, "--http", value));
    } else if (strcmp(name, "fds") == 0) {
      ok = add_option(block, sizeof block, &used, "LEAKWATCH_TRACK_FDS", "1");
    } else if (strcmp(name, "history-interval") == 0) {
      uint64_t ms;
      ok = lw_cli_parse_duration_ms(&spec, "--history-interval", value, &ms) &&
           add_option(block, sizeof block, &used, "LEAKWATCH_HISTORY_INTERVAL", value);
    } else if (strcmp(name, "output") == 0) {
      /* The process has its own working directory: give it an absolute path. */
      const char *path = lw_cli_nonempty(&spec, "--output", value);
      char cwd[PATH_MAX];
      if (path[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(output, sizeof output, "%s/%s", cwd, path);
      else
        snprintf(output, sizeof output, "%s", path);
      ok = add_option(block, sizeof block, &used, "LEAKWATCH_OUTPUT", output);
    } else if (strcmp(name, "agent") == 0) {
      agent = lw_cli_nonempty(&spec, "--agent", value);
    } else if (strcmp(name, "json") == 0) {
      json = true;
    }
    if (!ok) {
      lw_cli_parser_free(&parser);
      return LW_EXIT_USAGE;
    }
  }
  block[used++] = '\0'; /* the empty string that ends the list */
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;

  static lw_inject_target_t target;
  char error[1024];
  const char *library_name = "libleakwatch-attach.so";
  if (agent && strcmp(strrchr(agent, '/') ? strrchr(agent, '/') + 1 : agent,
                      "libleakwatch.so") != 0)
    library_name = strrchr(agent, '/') ? strrchr(agent, '/') + 1 : agent;
  if (lw_inject_target_inspect(pid, library_name, &target, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return LW_EXIT_FAILURE;
  }
  /* An agent this library started is refused by lw_attach_start itself (and a detach that
   * just returned may still be closing its socket): ask the socket only otherwise. */
  if (target.preloaded || (!target.attached_library[0] && agent_answers(pid))) {
    lw_cli_error("pid %d is already running the agent%s", pid,
                 target.preloaded ? " (started with it preloaded)" : "");
    return LW_EXIT_FAILURE;
  }
  char library[PATH_MAX];
  if (!find_attach_library(agent, library, sizeof library))
    return LW_EXIT_FAILURE;
  lw_inject_stage("inspected");
  lw_inject_request_t request = {library, RTLD_NOW, "lw_attach_start", block, used, 20000};
  lw_inject_result_t result;
  if (lw_inject_call(&target, &request, &result, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return LW_EXIT_FAILURE;
  }
  if (!result.loaded) {
    lw_cli_error("pid %d could not load '%s': %s", pid, library,
                 result.message[0] ? result.message : "dlopen failed");
    return LW_EXIT_FAILURE;
  }
  if (!result.found) {
    lw_cli_error("'%s' has no lw_attach_start: it is not leakwatch's attach library", library);
    return LW_EXIT_FAILURE;
  }
  if (result.status != 0) {
    lw_cli_error("pid %d: %s", pid, result.message[0] ? result.message : "the agent did not start");
    return LW_EXIT_FAILURE;
  }
  /* A test's stand-in for the agent (tests/fixtures/libattach_probe.c) makes no socket. */
  bool answering = strcmp(library_name, "libleakwatch-attach.so") != 0 || wait_for_agent(pid, 5000);
  if (json) {
    printf("{\"pid\":%d,\"thread\":%d,\"stopped_ms\":%.3f,\"call_ms\":%.3f,\"control\":%s}\n",
           pid, result.tid, result.stopped_ms, result.call_ms, answering ? "true" : "false");
  } else {
    printf("pid %d: agent attached (thread %d stopped %.2f ms, start-up %.1f ms); "
           "'leakwatch detach %d' stops it\n",
           pid, result.tid, result.stopped_ms, result.call_ms, pid);
    if (!answering)
      lw_cli_warn("pid %d: the agent started but its control socket does not answer yet", pid);
  }
  return LW_EXIT_OK;
}
