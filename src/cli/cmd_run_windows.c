/*
 * cmd_run_windows.c - `leakwatch run` on Windows (the Linux command is cmd_run.c):
 *
 *   leakwatch run [--rate N] [-o FILE] [--memory-max SIZE] -- PROGRAM.exe ARGS
 *
 * starts the program suspended, loads leakwatch_agent.dll into it with a remote thread
 * (src/platform/windows/win_inject.c), optionally puts it in a Job Object with a memory
 * limit first, resumes it and waits. The agent writes the heap profile as the process
 * exits; this command names its frames from the modules' DWARF (symbolize_windows.c),
 * rewrites it, and prints the same ranked report as on Linux (leak_report.c). The exit
 * status of the program is passed through.
 */
#include <windows.h>
#include <errno.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/leak_report.h"
#include "cli/memory_cap_windows.h"
#include "cli/os_process.h"
#include "cli/profile_io.h"
#include "cli/symbolize.h"
#include "platform/windows/win_inject.h"
#include "platform/windows/win_job.h"
#include "platform/windows/win_spawn.h"

static const lw_cli_option_t options[] = {
    {"rate", 'r', "BYTES", "mean bytes between samples (default 512k; 1 = every allocation, exact)"},
    {"output", 'o', "FILE", "heap profile to write (default .\\leakwatch-<pid>.pb.gz)"},
    {"depth", 0, "N", "frames kept per stack (default 64, at most 128)"},
    {"top", 'n', "N", "allocation sites in the report (default 10)"},
    {"frames", 0, "N", "frames shown per site (default 8)"},
    {"json", 0, NULL, "print the report (and the memory cap) as JSON"},
    {"report", 0, "FILE", "write the report to FILE instead of stderr"},
    {"no-report", 0, NULL, "write the profile but print no report"},
    {"no-symbolize", 0, NULL, "leave the frames as module+offset (skip DWARF)"},
    {"agent", 0, "PATH", "the agent DLL to load (default: leakwatch_agent.dll beside leakwatch.exe)"},
    {"memory-max", 0, "SIZE", "run in a Job Object limiting each process's committed memory to "
                              "SIZE; report peak, limit hits and how it ended"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "run",
    "leakwatch run [OPTIONS] -- PROGRAM.exe [ARGS...]",
    "Starts PROGRAM suspended, loads the leakwatch agent DLL into it (it hooks the C runtime's\n"
    "and the Win32 heap's allocation functions), and when it exits prints what was still\n"
    "allocated (ranked by bytes, with stacks) and leaves a pprof heap profile. The exit\n"
    "status of PROGRAM is passed through.",
    options,
    "Examples:\n"
    "  leakwatch run -- server.exe --port 8080\n"
    "  leakwatch run --rate 1 -o heap.pb.gz -- a.exe      # every allocation, exact\n"
    "  leakwatch run --memory-max 256MiB -- server.exe --load-test\n"
    "  go tool pprof -top -sample_index=inuse_space heap.pb.gz",
};

typedef struct {
  uint64_t rate, depth, top, frames, memory_max;
  const char *output, *report_path, *agent;
  bool json, no_report, no_symbolize;
} run_options_t;

static bool agent_beside_us(char *out, size_t size) {
  WCHAR self[MAX_PATH];
  char path[MAX_PATH * 3];
  if (!GetModuleFileNameW(NULL, self, MAX_PATH) ||
      !WideCharToMultiByte(CP_UTF8, 0, self, -1, path, sizeof path, NULL, NULL))
    return false;
  char *slash = strrchr(path, '\\');
  if (slash)
    slash[1] = '\0';
  snprintf(out, size, "%sleakwatch_agent.dll", slash ? path : "");
  return GetFileAttributesA(out) != INVALID_FILE_ATTRIBUTES;
}

static void symbolize_warning(void *context, const char *message) {
  (void)context;
  lw_cli_warn("%s", message);
}

/* Symbolizes and rewrites the profile, then prints the report. */
static bool report_profile(const run_options_t *o, const char *path) {
  lw_profile_t profile;
  char error[512];
  if (lw_cli_load_profile(path, &profile, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    lw_profile_free(&profile);
    return false;
  }
  if (!o->no_symbolize && lw_symbolize_needed(&profile)) {
    lw_symbolize_options_t so = {NULL, 0, false, symbolize_warning, NULL};
    if (lw_symbolize_profile(&profile, &so, NULL) < 0)
      lw_cli_warn("out of memory while symbolizing '%s'", path);
    else if (lw_cli_save_profile(path, &profile, error, sizeof error) < 0)
      lw_cli_warn("cannot rewrite the symbolized profile: %s", error);
  }
  bool ok = true;
  if (!o->no_report) {
    FILE *out = o->report_path ? fopen(o->report_path, "wb") : stderr;
    if (!out) {
      lw_cli_error("cannot write report '%s': %s", o->report_path, strerror(errno));
      ok = false;
    } else {
      lw_leak_report_options_t ro = {(int)o->top, (int)o->frames, o->json, path, "at exit"};
      lw_leak_report_write(out, &profile, &ro);
      if (out != stderr)
        fclose(out);
    }
  }
  lw_profile_free(&profile);
  return ok;
}

static int parse(int argc, char **argv, run_options_t *o, char ***command) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, true);
  const char *value;
  int option, rc = 0;
  while (rc == 0 && (option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "rate") == 0) {
      if (!lw_cli_parse_size(&spec, name, value, &o->rate))
        rc = LW_EXIT_USAGE;
      else if (o->rate < 1)
        rc = lw_cli_usage_error(&spec, "--rate must be at least 1 byte");
    } else if (strcmp(name, "output") == 0) {
      o->output = value;
    } else if (strcmp(name, "depth") == 0) {
      rc = lw_cli_parse_uint(&spec, name, value, 1, 128, &o->depth) ? 0 : LW_EXIT_USAGE;
    } else if (strcmp(name, "top") == 0) {
      rc = lw_cli_parse_uint(&spec, name, value, 1, 100000, &o->top) ? 0 : LW_EXIT_USAGE;
    } else if (strcmp(name, "frames") == 0) {
      rc = lw_cli_parse_uint(&spec, name, value, 1, 256, &o->frames) ? 0 : LW_EXIT_USAGE;
    } else if (strcmp(name, "json") == 0) {
      o->json = true;
    } else if (strcmp(name, "report") == 0) {
      o->report_path = value;
    } else if (strcmp(name, "no-report") == 0) {
      o->no_report = true;
    } else if (strcmp(name, "no-symbolize") == 0) {
      o->no_symbolize = true;
    } else if (strcmp(name, "agent") == 0) {
      o->agent = value;
    } else if (strcmp(name, "memory-max") == 0) {
      if (!lw_cli_parse_size(&spec, name, value, &o->memory_max))
        rc = LW_EXIT_USAGE;
      else if (o->memory_max < (1u << 20))
        rc = lw_cli_usage_error(&spec, "--memory-max must be at least 1MiB");
    }
  }
  *command = argv + parser.index;
  if (rc == 0 && parser.index >= argc)
    rc = lw_cli_usage_error(&spec, "missing command (put it after '--')");
  lw_cli_parser_free(&parser);
  return rc;
}

/* The command's peaks: read while it runs too, because after it exits wine reports zeros
 * (Windows keeps them readable through the process handle). */
static void note_peaks(HANDLE process, PROCESS_MEMORY_COUNTERS *peaks) {
  PROCESS_MEMORY_COUNTERS now = {0};
  if (!GetProcessMemoryInfo(process, &now, sizeof now))
    return;
  if (now.PeakWorkingSetSize > peaks->PeakWorkingSetSize)
    peaks->PeakWorkingSetSize = now.PeakWorkingSetSize;
  if (now.PeakPagefileUsage > peaks->PeakPagefileUsage)
    peaks->PeakPagefileUsage = now.PeakPagefileUsage;
}

/* Waits for the child, reading the job's messages and the peaks meanwhile. */
static DWORD wait_child(HANDLE process, lw_win_job_t *job, PROCESS_MEMORY_COUNTERS *peaks) {
  while (WaitForSingleObject(process, job ? 20 : INFINITE) == WAIT_TIMEOUT) {
    lw_win_job_poll(job, 0);
    note_peaks(process, peaks);
  }
  if (job)
    lw_win_job_poll(job, 0);
  note_peaks(process, peaks);
  DWORD code = 0;
  GetExitCodeProcess(process, &code);
  return code;
}

int lw_cmd_run(int argc, char **argv) {
  run_options_t o = {0};
  o.rate = 512 * 1024;
  o.depth = 64;
  o.top = 10;
  o.frames = 8;
  char **command;
  int rc = parse(argc, argv, &o, &command);
  if (rc != 0)
    return rc;
  char agent[MAX_PATH * 3];
  if (o.agent)
    snprintf(agent, sizeof agent, "%s", o.agent);
  else if (!agent_beside_us(agent, sizeof agent)) {
    lw_cli_error("leakwatch_agent.dll not found beside leakwatch.exe (give --agent PATH)");
    return LW_EXIT_FAILURE;
  }
  if (GetFileAttributesA(agent) == INVALID_FILE_ATTRIBUTES) {
    lw_cli_error("%s: no such file", agent);
    return LW_EXIT_FAILURE;
  }
  /* The agent names its file with the pid ("%p"), which is known only once it runs. */
  char vars[3][4200];
  snprintf(vars[0], sizeof vars[0], "LEAKWATCH_RATE=%llu", (unsigned long long)o.rate);
  snprintf(vars[1], sizeof vars[1], "LEAKWATCH_OUTPUT=%s", o.output ? o.output : "leakwatch-%p.pb.gz");
  snprintf(vars[2], sizeof vars[2], "LEAKWATCH_DEPTH=%llu", (unsigned long long)o.depth);
  const char *env[] = {vars[0], vars[1], vars[2], NULL};

  lw_win_job_t job;
  bool capped = o.memory_max != 0;
  if (capped && (rc = lw_win_job_create(&job, o.memory_max)) != 0) {
    lw_cli_error("cannot create a Job Object with a memory limit: %s", strerror(-rc));
    return LW_EXIT_FAILURE;
  }
  lw_win_child_t child;
  rc = lw_win_spawn(command, env, true, &child);
  if (rc != 0) {
    lw_cli_error("%s: %s", command[0], rc == -ENOENT ? "command not found" : strerror(-rc));
    if (capped)
      lw_win_job_close(&job);
    return rc == -ENOENT ? LW_EXIT_NOT_FOUND : LW_EXIT_FAILURE;
  }
  char why[256];
  if (capped && (rc = lw_win_job_assign(&job, child.process)) != 0)
    snprintf(why, sizeof why, "cannot put it in the job: %s", strerror(-rc));
  else
    rc = lw_win_inject_dll(child.process, agent, 30000, why, sizeof why);
  if (rc != 0) {
    lw_cli_error("%s: cannot load the agent (%s): %s", command[0], agent, why);
    TerminateProcess(child.process, 1);
    CloseHandle(child.thread);
    CloseHandle(child.process);
    if (capped)
      lw_win_job_close(&job);
    return LW_EXIT_FAILURE;
  }
  double start = lw_os_mono_now();
  ResumeThread(child.thread);
  CloseHandle(child.thread);
  PROCESS_MEMORY_COUNTERS pmc = {0};
  DWORD code = wait_child(child.process, capped ? &job : NULL, &pmc);
  double seconds = lw_os_mono_now() - start;

  if (capped) {
    lw_job_cap_result_t r = {o.memory_max, lw_win_job_limit_in_force(&job), code, seconds,
                             job.limit_hits, job.first_hit_seconds, lw_win_job_peak(&job),
                             pmc.PeakWorkingSetSize, pmc.PeakPagefileUsage};
    lw_buf_t text;
    lw_buf_init(&text, &lw_libc_allocator);
    if (o.json) {
      lw_buf_append_str(&text, "{\"memory_cap\":");
      lw_job_cap_report_json(&r, &text);
      lw_buf_append_str(&text, "}\n");
    } else {
      lw_job_cap_report(&r, &text);
    }
    fwrite(text.data, 1, text.len, lw_cli_diagnostics());
    lw_buf_free(&text);
    lw_win_job_close(&job);
  }
  char path[4200];
  const char *pattern = o.output ? o.output : "leakwatch-%p.pb.gz";
  const char *p = strstr(pattern, "%p");
  if (p)
    snprintf(path, sizeof path, "%.*s%lu%s", (int)(p - pattern), pattern,
             (unsigned long)child.pid, p + 2);
  else
    snprintf(path, sizeof path, "%s", pattern);
  CloseHandle(child.process);
  if (GetFileAttributesA(path) == INVALID_FILE_ATTRIBUTES)
    lw_cli_warn("%s: no profile was written (the program ended without exiting normally, "
                "e.g. it was terminated)", path);
  else if (!report_profile(&o, path))
    return LW_EXIT_FAILURE;
  /* Windows exit codes are 32 bits; a shell sees the low byte of anything above 255. */
  return (int)code;
}
