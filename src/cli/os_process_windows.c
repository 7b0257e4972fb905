/*
 * os_process_windows.c - os_process.h on Windows: CreateProcess (argv quoted the way the
 * C runtime parses it back), cmd.exe /c for hooks, a console control handler for Ctrl-C,
 * Ctrl-Break and close/logoff/shutdown events, QueryPerformanceCounter for the monotonic
 * clock. Children are remembered by pid with their process handle, so a pid cannot be
 * reused under us before we have waited for it.
 */
#include "cli/os_process.h"

#include <windows.h>
#include <errno.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/windows/win_counters.h"
#include "platform/windows/win_spawn.h"

enum { MAX_CHILDREN = 64 };
static struct {
  int pid;
  HANDLE process;
} children[MAX_CHILDREN];

static void remember(int pid, HANDLE process) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (!children[i].process) {
      children[i].pid = pid;
      children[i].process = process;
      return;
    }
  CloseHandle(process); /* more than 64 at once: not waited for, not leaked either */
}

static HANDLE child_handle(int pid, int *slot) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].process && children[i].pid == pid) {
      *slot = i;
      return children[i].process;
    }
  return NULL;
}

int lw_os_spawn(char **argv) {
  lw_win_child_t child;
  int rc = lw_win_spawn(argv, NULL, false, &child);
  if (rc != 0)
    return rc;
  CloseHandle(child.thread);
  remember((int)child.pid, child.process);
  return (int)child.pid;
}

int lw_os_spawn_shell(const char *command, const char *const *env) {
  char *argv[] = {"cmd.exe", "/d", "/c", (char *)command, NULL};
  lw_win_child_t child;
  int rc = lw_win_spawn(argv, env, false, &child);
  if (rc != 0)
    return rc;
  CloseHandle(child.thread);
  remember((int)child.pid, child.process);
  return (int)child.pid;
}

int lw_os_wait(int pid, bool block, lw_os_exit_t *out) {
  int slot;
  HANDLE h = child_handle(pid, &slot);
  if (!h)
    return -ECHILD;
  DWORD w = WaitForSingleObject(h, block ? INFINITE : 0);
  if (w == WAIT_TIMEOUT)
    return 0;
  if (w != WAIT_OBJECT_0)
    return lw_win_errno(GetLastError());
  DWORD code = 0;
  GetExitCodeProcess(h, &code);
  memset(out, 0, sizeof *out);
  out->exit_status = (int)code;
  CloseHandle(h);
  children[slot].process = NULL;
  return 1;
}

void lw_os_terminate(int pid, bool interrupt) {
  (void)interrupt; /* a console program gets no Ctrl-C from outside its console group */
  int slot;
  HANDLE h = child_handle(pid, &slot);
  if (h)
    TerminateProcess(h, 1);
}

static volatile sig_atomic_t *stop_flag;
static HANDLE stop_event;

static BOOL WINAPI on_console_event(DWORD type) {
  if (!stop_flag)
    return FALSE;
  *stop_flag = type == CTRL_C_EVENT ? SIGINT : SIGTERM;
  SetEvent(stop_event);
  return TRUE;
}

void lw_os_catch_stop(volatile sig_atomic_t *flag) {
  stop_flag = flag;
  if (!stop_event)
    stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  SetConsoleCtrlHandler(on_console_event, TRUE);
}

void lw_os_sleep_until(double until, volatile sig_atomic_t *stop) {
  while (!*stop) {
    double left = until - lw_os_mono_now();
    if (left <= 0)
      return;
    DWORD ms = (DWORD)(left * 1000) + 1;
    if (stop_event)
      WaitForSingleObject(stop_event, ms);
    else
      Sleep(ms);
  }
}

double lw_os_mono_now(void) {
  static LARGE_INTEGER frequency;
  if (!frequency.QuadPart)
    QueryPerformanceFrequency(&frequency);
  LARGE_INTEGER now;
  QueryPerformanceCounter(&now);
  return (double)now.QuadPart / (double)frequency.QuadPart;
}

double lw_os_wall_now(void) {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  ULARGE_INTEGER v;
  v.LowPart = ft.dwLowDateTime;
  v.HighPart = ft.dwHighDateTime;
  return (double)v.QuadPart / 1e7 - 11644473600.0;
}

void lw_os_raise_fd_limit(void) { _setmaxstdio(8192); }

const char *lw_os_signal_text(int signal) {
  return signal == SIGINT ? "Interrupt" : signal == SIGTERM ? "Terminated" : "signal";
}

bool lw_os_stdout_is_terminal(void) { return _isatty(1) != 0; }
