/*
 * proc_discovery_windows.c - proc_discovery.h on Windows: a Toolhelp32 process snapshot;
 * the name is the executable's file name ("server.exe"), the whole command line comes from
 * NtQueryInformationProcess(ProcessCommandLineInformation) (Windows 8.1+), else the image
 * path.
 */
#include "cli/proc_discovery.h"

#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "platform/windows/win_counters.h"

enum { PROCESS_COMMAND_LINE_INFORMATION = 60 };
typedef LONG(NTAPI *query_fn)(HANDLE, ULONG, PVOID, ULONG, PULONG);

static bool command_line(uint32_t pid, char *text, size_t size) {
  HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!h)
    return false;
  bool ok = false;
  query_fn query = (query_fn)(void (*)(void))GetProcAddress(GetModuleHandleA("ntdll.dll"),
                                                           "NtQueryInformationProcess");
  union {
    struct {
      USHORT length, maximum;
      PWSTR buffer;
    } s;
    char bytes[65536];
  } info;
  ULONG len = 0;
  if (query && query(h, PROCESS_COMMAND_LINE_INFORMATION, &info, sizeof info, &len) >= 0 &&
      info.s.buffer) {
    int n = WideCharToMultiByte(CP_UTF8, 0, info.s.buffer, info.s.length / 2, text,
                                (int)size - 1, NULL, NULL);
    text[n > 0 ? n : 0] = '\0';
    ok = n > 0;
  }
  if (!ok) {
    WCHAR path[MAX_PATH];
    DWORD n = MAX_PATH;
    if (QueryFullProcessImageNameW(h, 0, path, &n))
      ok = WideCharToMultiByte(CP_UTF8, 0, path, -1, text, (int)size, NULL, NULL) > 0;
  }
  CloseHandle(h);
  return ok;
}

bool lw_proc_match_text(int pid, bool full, char *text, size_t size) {
  if (full)
    return command_line((uint32_t)pid, text, size);
  lw_win_process_list_t list = {0};
  bool ok = false;
  if (lw_win_process_list_read(&list) == 0) {
    const lw_win_process_entry_t *e = lw_win_process_list_find(&list, (uint32_t)pid);
    if (e) {
      snprintf(text, size, "%s", e->name);
      ok = true;
    }
  }
  lw_win_process_list_free(&list);
  return ok;
}

int lw_proc_find(const regex_t *regex, bool full, int *pids, size_t max) {
  lw_win_process_list_t list = {0};
  if (lw_win_process_list_read(&list) != 0) {
    lw_win_process_list_free(&list);
    return -1;
  }
  size_t n = 0;
  uint32_t self = GetCurrentProcessId();
  for (size_t i = 0; i < list.count && n < max; i++) {
    const lw_win_process_entry_t *e = &list.entries[i];
    if (e->pid == self || e->pid == 0)
      continue;
    char line[4096];
    const char *text = e->name;
    if (full) {
      if (!command_line(e->pid, line, sizeof line))
        continue;
      text = line;
    }
    if (regexec(regex, text, 0, NULL, 0) == 0)
      pids[n++] = (int)e->pid;
  }
  lw_win_process_list_free(&list);
  return (int)n;
}
