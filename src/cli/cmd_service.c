/*
 * cmd_service.c - `leakwatch service install|uninstall|start|stop|status` (Windows only):
 * registers `leakwatch exporter` with the Service Control Manager and drives it.
 *
 * install writes the service's command line as
 *   "C:\...\leakwatch.exe" exporter --service --service-name NAME --log LOG EXPORTER-OPTIONS
 * so the SCM starts the same exporter the console runs (exporter_loop_windows.c handles the
 * SCM side). Logs go to LOG (default %ProgramData%\leakwatch\NAME.log) and to the
 * Application event log under source NAME, which is where an administrator looks.
 * Exit status: 0, 1 the SCM refused (the message names the call and the reason: installing
 * needs an elevated prompt), 2 usage.
 */
#include <windows.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "platform/windows/win_counters.h"
#include "platform/windows/win_spawn.h"

#define DEFAULT_NAME "leakwatch-exporter"
#define WAIT_MS 15000

static const lw_cli_option_t options[] = {
    {"service-name", 0, "NAME", "the service's name (default " DEFAULT_NAME ")"},
    {"start", 0, "auto|demand", "install: start with Windows (auto, the default) or on demand"},
    {"log", 0, "FILE", "install: the exporter's log file (default %ProgramData%\\leakwatch\\NAME.log)"},
    {"json", 0, NULL, "status: print the state as JSON"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "service",
    "leakwatch service install [OPTIONS] -- EXPORTER-OPTIONS... | uninstall | start | stop | status",
    "Runs `leakwatch exporter` as a Windows service. install registers it with the Service\n"
    "Control Manager with the exporter options after '--' (e.g. --name '^server\\.exe$'\n"
    "--listen 127.0.0.1:9797); start/stop/status drive it (as 'sc start NAME' would);\n"
    "uninstall stops and removes it. Installing needs an elevated (administrator) prompt.",
    options,
    "Examples:\n"
    "  leakwatch service install -- --name \"^server\\.exe$\" --listen 127.0.0.1:9797\n"
    "  leakwatch service start\n"
    "  leakwatch service status --json\n"
    "  leakwatch service uninstall\n"
    "Guide: docs/WINDOWS.md.",
};

static int scm_error(const char *what, const char *name) {
  DWORD err = GetLastError();
  char text[256];
  lw_win_error_text(err, text, sizeof text);
  lw_cli_error("service %s: %s failed: %s (error %lu)%s", name, what, text, err,
               err == ERROR_ACCESS_DENIED ? "; run from an elevated (administrator) prompt" : "");
  return LW_EXIT_FAILURE;
}

static const char *state_name(DWORD state) {
  switch (state) {
  case SERVICE_STOPPED:
    return "stopped";
  case SERVICE_START_PENDING:
    return "start-pending";
  case SERVICE_STOP_PENDING:
    return "stop-pending";
  case SERVICE_RUNNING:
    return "running";
  case SERVICE_CONTINUE_PENDING:
    return "continue-pending";
  case SERVICE_PAUSE_PENDING:
    return "pause-pending";
  case SERVICE_PAUSED:
    return "paused";
  default:
    return "unknown";
  }
}

/* Waits until the service leaves `pending` (or WAIT_MS pass); returns the state. */
static DWORD wait_state(SC_HANDLE service, DWORD pending, SERVICE_STATUS_PROCESS *st) {
  DWORD needed, start = GetTickCount();
  for (;;) {
    if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)st, sizeof *st, &needed))
      return 0;
    if (st->dwCurrentState != pending || GetTickCount() - start > WAIT_MS)
      return st->dwCurrentState;
    Sleep(100);
  }
}

static bool widen(const char *text, WCHAR *out, int size) {
  return MultiByteToWideChar(CP_UTF8, 0, text, -1, out, size) > 0;
}

static int install(const char *name, bool auto_start, const char *log, char **args, int n_args) {
  bool has_target = false;
  for (int i = 0; i < n_args; i++) {
    const char *a = args[i];
    has_target |= strncmp(a, "--pid", 5) == 0 || strncmp(a, "--name", 6) == 0 ||
                  strncmp(a, "--cmdline", 9) == 0 || strncmp(a, "--config", 8) == 0 ||
                  strcmp(a, "-p") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "-c") == 0;
    if (strcmp(a, "--service") == 0 || strcmp(a, "--service-name") == 0 || strcmp(a, "--log") == 0)
      return lw_cli_usage_error(&spec, "'%s' is set by install itself; leave it out", a);
  }
  if (!has_target)
    return lw_cli_usage_error(&spec, "nothing to export: give exporter options after '--', "
                                     "e.g. -- --name \"^server\\.exe$\"");
  char exe[MAX_PATH * 2], log_default[MAX_PATH * 2];
  WCHAR wexe[MAX_PATH];
  if (!GetModuleFileNameW(NULL, wexe, MAX_PATH) ||
      !WideCharToMultiByte(CP_UTF8, 0, wexe, -1, exe, sizeof exe, NULL, NULL))
    return scm_error("GetModuleFileName", name);
  if (!log) {
    const char *data = getenv("ProgramData");
    snprintf(log_default, sizeof log_default, "%s\\leakwatch", data ? data : "C:\\ProgramData");
    CreateDirectoryA(log_default, NULL);
    size_t len = strlen(log_default);
    snprintf(log_default + len, sizeof log_default - len, "\\%s.log", name);
    log = log_default;
  }
  static char line[32768];
  line[0] = '\0';
  const char *fixed[] = {exe, "exporter", "--service", "--service-name", name, "--log", log};
  bool fits = true;
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    fits &= lw_win_quote_arg(line, sizeof line, fixed[i]);
  for (int i = 0; i < n_args; i++)
    fits &= lw_win_quote_arg(line, sizeof line, args[i]);
  static WCHAR wline[32768];
  WCHAR wname[256];
  if (!fits || !widen(line, wline, 32768) || !widen(name, wname, 256))
    return lw_cli_usage_error(&spec, "the service command line is too long");
  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
  if (!scm)
    return scm_error("OpenSCManager", name);
  SC_HANDLE service = CreateServiceW(scm, wname, L"leakwatch exporter", SERVICE_ALL_ACCESS,
                                     SERVICE_WIN32_OWN_PROCESS,
                                     auto_start ? SERVICE_AUTO_START : SERVICE_DEMAND_START,
                                     SERVICE_ERROR_NORMAL, wline, NULL, NULL, NULL, NULL, NULL);
  if (!service) {
    int rc = GetLastError() == ERROR_SERVICE_EXISTS
                 ? (lw_cli_error("service %s: already installed ('leakwatch service uninstall "
                                 "--service-name %s' first)", name, name),
                    LW_EXIT_FAILURE)
                 : scm_error("CreateService", name);
    CloseServiceHandle(scm);
    return rc;
  }
  SERVICE_DESCRIPTIONW description = {
      L"Serves Prometheus metrics (memory, handles, threads) of chosen processes: leakwatch "
      L"exporter."};
  ChangeServiceConfig2W(service, SERVICE_CONFIG_DESCRIPTION, &description);
  printf("installed service %s: %s\nlog: %s\n", name, line, log);
  CloseServiceHandle(service);
  CloseServiceHandle(scm);
  return LW_EXIT_OK;
}

static int control(const char *verb, const char *name, bool json) {
  WCHAR wname[256];
  if (!widen(name, wname, 256))
    return lw_cli_usage_error(&spec, "bad service name");
  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
  if (!scm)
    return scm_error("OpenSCManager", name);
  DWORD access = SERVICE_QUERY_STATUS | SERVICE_START | SERVICE_STOP | DELETE;
  if (strcmp(verb, "status") == 0)
    access = SERVICE_QUERY_STATUS;
  SC_HANDLE service = OpenServiceW(scm, wname, access);
  if (!service) {
    int rc = GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST
                 ? (lw_cli_error("service %s: not installed", name), LW_EXIT_FAILURE)
                 : scm_error("OpenService", name);
    CloseServiceHandle(scm);
    return rc;
  }
  int rc = LW_EXIT_OK;
  SERVICE_STATUS_PROCESS st;
  memset(&st, 0, sizeof st);
  SERVICE_STATUS plain;
  if (strcmp(verb, "start") == 0) {
    if (!StartServiceW(service, 0, NULL) && GetLastError() != ERROR_SERVICE_ALREADY_RUNNING)
      rc = scm_error("StartService", name);
    else if (wait_state(service, SERVICE_START_PENDING, &st) != SERVICE_RUNNING)
      lw_cli_error("service %s: %s after start (exit code %lu; see its log)", name,
                   state_name(st.dwCurrentState), st.dwServiceSpecificExitCode),
          rc = LW_EXIT_FAILURE;
    else
      printf("service %s: running (pid %lu)\n", name, st.dwProcessId);
  } else if (strcmp(verb, "stop") == 0 || strcmp(verb, "uninstall") == 0) {
    DWORD needed;
    QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&st, sizeof st, &needed);
    if (st.dwCurrentState != SERVICE_STOPPED) {
      if (!ControlService(service, SERVICE_CONTROL_STOP, &plain) &&
          GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
        rc = scm_error("ControlService(STOP)", name);
      else if (wait_state(service, SERVICE_STOP_PENDING, &st) != SERVICE_STOPPED)
        lw_cli_error("service %s: still %s", name, state_name(st.dwCurrentState)),
            rc = LW_EXIT_FAILURE;
    }
    if (rc == LW_EXIT_OK && strcmp(verb, "uninstall") == 0) {
      if (!DeleteService(service))
        rc = scm_error("DeleteService", name);
      else
        printf("service %s: removed\n", name);
    } else if (rc == LW_EXIT_OK) {
      printf("service %s: stopped (exit code %lu)\n", name,
             st.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR ? st.dwServiceSpecificExitCode
                                                                 : st.dwWin32ExitCode);
    }
  } else { /* status */
    DWORD needed;
    if (!QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&st, sizeof st, &needed))
      rc = scm_error("QueryServiceStatusEx", name);
    else if (json)
      printf("{\"service\":\"%s\",\"state\":\"%s\",\"pid\":%lu,\"exit_code\":%lu}\n", name,
             state_name(st.dwCurrentState), st.dwProcessId, st.dwWin32ExitCode);
    else
      printf("service %s: %s%s\n", name, state_name(st.dwCurrentState),
             st.dwProcessId ? "" : "");
  }
  CloseServiceHandle(service);
  CloseServiceHandle(scm);
  return rc;
}

int lw_cmd_service(int argc, char **argv) {
  /* "--" separates install's own options from the exporter's. */
  int own_argc = argc;
  char **exporter_args = NULL;
  int n_exporter_args = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) {
      own_argc = i;
      exporter_args = argv + i + 1;
      n_exporter_args = argc - i - 1;
      break;
    }
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, own_argc, argv, false);
  const char *value, *name = DEFAULT_NAME, *log = NULL;
  bool auto_start = true, json = false;
  int opt, rc = 0;
  while (rc == 0 && (opt = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *o = options[opt].long_name;
    if (strcmp(o, "service-name") == 0)
      name = value;
    else if (strcmp(o, "log") == 0)
      log = value;
    else if (strcmp(o, "json") == 0)
      json = true;
    else if (strcmp(o, "start") == 0) {
      if (strcmp(value, "auto") == 0)
        auto_start = true;
      else if (strcmp(value, "demand") == 0)
        auto_start = false;
      else
        rc = lw_cli_usage_error(&spec, "--start: expected auto or demand, got '%s'", value);
    }
  }
  const char *verb = parser.n_positionals ? parser.positionals[0] : NULL;
  int extra = parser.n_positionals;
  lw_cli_parser_free(&parser);
  if (rc != 0)
    return rc;
  if (!verb)
    return lw_cli_usage_error(&spec, "missing action: install, uninstall, start, stop or status");
  if (extra > 1)
    return lw_cli_usage_error(&spec, "one action at a time");
  if (strcmp(verb, "install") == 0)
    return install(name, auto_start, log, exporter_args, n_exporter_args);
  if (exporter_args)
    return lw_cli_usage_error(&spec, "only install takes exporter options after '--'");
  if (strcmp(verb, "uninstall") == 0 || strcmp(verb, "start") == 0 ||
      strcmp(verb, "stop") == 0 || strcmp(verb, "status") == 0)
    return control(verb, name, json);
  return lw_cli_usage_error(&spec, "unknown action '%s' (install, uninstall, start, stop, status)",
                            verb);
}
