/*
 * exporter_loop_windows.c - the exporter's wait loop on Windows (see exporter_loop.h).
 *
 * In a console: Ctrl-C, Ctrl-Break and closing the console set a stop event; the loop
 * waits for a client with a short timeout and looks at the event between connections.
 *
 * As a service (--service): the main thread hands itself to the Service Control Manager
 * (StartServiceCtrlDispatcherW); the SCM runs service_main in another thread, which
 * reports START_PENDING, then RUNNING, and serves. The control handler runs on the main
 * thread: STOP and SHUTDOWN report STOP_PENDING and set the stop event, so the scrape in
 * flight finishes before service_main reports STOPPED; PARAMCHANGE asks for a reload.
 * Started by hand instead of by the SCM, the dispatcher fails with
 * ERROR_FAILED_SERVICE_CONTROLLER_CONNECT and we say how to run it in a console.
 */
#include "cli/exporter_loop.h"

#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/net_socket.h"

#define WAIT_SLICE_MS 200 /* how long a stop request may wait for an idle loop */

static struct {
  const lw_exporter_loop_t *loop;
  HANDLE stop;
  volatile LONG reload;
  SERVICE_STATUS_HANDLE status_handle;
  SERVICE_STATUS status;
  int exit_status;
  HANDLE event_source;
  WCHAR name[256];
} w;

void lw_exporter_loop_syslog(const char *line, bool error) {
  if (!w.event_source)
    return;
  WCHAR text[1100];
  if (!MultiByteToWideChar(CP_UTF8, 0, line, -1, text, 1100))
    return;
  const WCHAR *strings[] = {text};
  ReportEventW(w.event_source, error ? EVENTLOG_ERROR_TYPE : EVENTLOG_INFORMATION_TYPE, 0, 1,
               NULL, 1, 0, strings, NULL);
}

static void log_fmt(const char *format, const char *arg) {
  char line[512];
  snprintf(line, sizeof line, format, arg);
  w.loop->log(line);
}

static BOOL WINAPI console_event(DWORD type) {
  (void)type;
  SetEvent(w.stop);
  return TRUE;
}

/* Serves until the stop event is set. */
static void serve_until_stopped(void) {
  const lw_exporter_loop_t *loop = w.loop;
  while (WaitForSingleObject(w.stop, 0) != WAIT_OBJECT_0) {
    if (InterlockedExchange(&w.reload, 0))
      loop->reload(loop->context);
    int ready = lw_net_wait(loop->listen_fd, LW_NET_READ, WAIT_SLICE_MS);
    if (ready > 0)
      loop->serve(loop->context);
    else if (ready < 0)
      Sleep(WAIT_SLICE_MS); /* a transient socket error: do not spin */
  }
}

static void report(DWORD state, DWORD wait_hint) {
  static DWORD checkpoint = 1;
  w.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  w.status.dwCurrentState = state;
  w.status.dwControlsAccepted =
      state == SERVICE_RUNNING
          ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
          : 0;
  w.status.dwWin32ExitCode = w.exit_status ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
  w.status.dwServiceSpecificExitCode = (DWORD)w.exit_status;
  w.status.dwWaitHint = wait_hint;
  w.status.dwCheckPoint =
      state == SERVICE_RUNNING || state == SERVICE_STOPPED ? 0 : checkpoint++;
  SetServiceStatus(w.status_handle, &w.status);
}

static DWORD WINAPI control_handler(DWORD control, DWORD type, LPVOID data, LPVOID context) {
  (void)type;
  (void)data;
  (void)context;
  switch (control) {
  case SERVICE_CONTROL_STOP:
  case SERVICE_CONTROL_SHUTDOWN:
    log_fmt("stopping on %s", control == SERVICE_CONTROL_STOP ? "SERVICE_CONTROL_STOP"
                                                              : "SERVICE_CONTROL_SHUTDOWN");
    report(SERVICE_STOP_PENDING, 5000 + WAIT_SLICE_MS);
    SetEvent(w.stop);
    return NO_ERROR;
  case SERVICE_CONTROL_PARAMCHANGE:
    InterlockedExchange(&w.reload, 1);
    return NO_ERROR;
  case SERVICE_CONTROL_INTERROGATE:
    SetServiceStatus(w.status_handle, &w.status);
    return NO_ERROR;
  default:
    return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv) {
  (void)argc;
  (void)argv;
  w.status_handle = RegisterServiceCtrlHandlerExW(w.name, control_handler, NULL);
  if (!w.status_handle) {
    w.exit_status = LW_EXIT_FAILURE;
    return;
  }
  report(SERVICE_START_PENDING, 3000);
  report(SERVICE_RUNNING, 0);
  w.loop->ready(w.loop->context);
  serve_until_stopped();
  w.loop->log("stopped");
  report(SERVICE_STOPPED, 0);
}

int lw_exporter_loop_run(const lw_exporter_loop_t *loop) {
  memset(&w, 0, sizeof w);
  w.loop = loop;
  w.stop = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!w.stop) {
    lw_cli_error("CreateEvent failed (error %lu)", GetLastError());
    return LW_EXIT_FAILURE;
  }
  if (!loop->service) {
    SetConsoleCtrlHandler(console_event, TRUE);
    loop->ready(loop->context);
    serve_until_stopped();
    loop->log("stopping on Ctrl-C / close");
    CloseHandle(w.stop);
    return LW_EXIT_OK;
  }
  MultiByteToWideChar(CP_UTF8, 0, loop->service_name, -1, w.name, 256);
  w.event_source = RegisterEventSourceW(NULL, w.name);
  SERVICE_TABLE_ENTRYW table[] = {{w.name, service_main}, {NULL, NULL}};
  int status = LW_EXIT_OK;
  if (!StartServiceCtrlDispatcherW(table)) {
    DWORD err = GetLastError();
    if (err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      lw_cli_error("--service: not started by the Service Control Manager (start it with "
                   "'leakwatch service start' or 'sc start %s'; without --service it runs in "
                   "this console)",
                   loop->service_name);
    else
      lw_cli_error("--service: StartServiceCtrlDispatcher failed (error %lu)", err);
    status = LW_EXIT_FAILURE;
  } else {
    status = w.exit_status;
  }
  if (w.event_source)
    DeregisterEventSource(w.event_source);
  w.event_source = NULL;
  CloseHandle(w.stop);
  return status;
}
