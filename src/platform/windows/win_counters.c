/*
 * win_counters.c - Windows process counters from outside (see win_counters.h).
 *
 * The native calls (NtQueryInformationProcess, NtQuerySystemInformation, NtQueryObject) are
 * looked up in ntdll at run time with their structures declared here: their layouts are
 * stable across Windows versions but mingw-w64's headers declare only parts of them.
 */
#include "platform/windows/win_counters.h"

#include <windows.h>
#include <errno.h>
#include <psapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tlhelp32.h>

typedef LONG(NTAPI *nt_query_information_process_fn)(HANDLE, ULONG, PVOID, ULONG, PULONG);
typedef LONG(NTAPI *nt_query_system_information_fn)(ULONG, PVOID, ULONG, PULONG);
typedef LONG(NTAPI *nt_query_object_fn)(HANDLE, ULONG, PVOID, ULONG, PULONG);

enum {
  PROCESS_VM_COUNTERS = 3,                  /* PROCESSINFOCLASS ProcessVmCounters */
  SYSTEM_EXTENDED_HANDLE_INFORMATION = 64,  /* SYSTEM_INFORMATION_CLASS */
  OBJECT_TYPE_INFORMATION_CLASS = 2,        /* OBJECT_INFORMATION_CLASS ObjectTypeInformation */
};
#define STATUS_INFO_LENGTH_MISMATCH ((LONG)0xC0000004)

/* VM_COUNTERS_EX: 96 bytes on x64. */
typedef struct {
  SIZE_T PeakVirtualSize, VirtualSize;
  ULONG PageFaultCount;
  SIZE_T PeakWorkingSetSize, WorkingSetSize, QuotaPeakPagedPoolUsage, QuotaPagedPoolUsage,
      QuotaPeakNonPagedPoolUsage, QuotaNonPagedPoolUsage, PagefileUsage, PeakPagefileUsage,
      PrivateUsage;
} vm_counters_ex_t;

typedef struct {
  PVOID Object;
  ULONG_PTR UniqueProcessId;
  ULONG_PTR HandleValue;
  ULONG GrantedAccess;
  USHORT CreatorBackTraceIndex;
  USHORT ObjectTypeIndex;
  ULONG HandleAttributes;
  ULONG Reserved;
} handle_entry_t;

typedef struct {
  ULONG_PTR NumberOfHandles;
  ULONG_PTR Reserved;
  handle_entry_t Handles[];
} handle_information_t;

typedef struct {
  USHORT Length, MaximumLength;
  PWSTR Buffer;
} unicode_string_t;

static struct {
  bool resolved;
  nt_query_information_process_fn query_process;
  nt_query_system_information_fn query_system;
  nt_query_object_fn query_object;
} nt;

static void resolve(void) {
  if (nt.resolved)
    return;
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  if (ntdll) {
    nt.query_process = (nt_query_information_process_fn)(void (*)(void))GetProcAddress(
        ntdll, "NtQueryInformationProcess");
    nt.query_system = (nt_query_system_information_fn)(void (*)(void))GetProcAddress(
        ntdll, "NtQuerySystemInformation");
    nt.query_object =
        (nt_query_object_fn)(void (*)(void))GetProcAddress(ntdll, "NtQueryObject");
  }
  nt.resolved = true;
}

bool lw_win_is_wine(const char **version) {
  typedef const char *(CDECL * wine_version_fn)(void);
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  wine_version_fn fn =
      ntdll ? (wine_version_fn)(void (*)(void))GetProcAddress(ntdll, "wine_get_version") : NULL;
  if (version)
    *version = fn ? fn() : NULL;
  return fn != NULL;
}

/* ---- Processes ------------------------------------------------------------------------ */

int lw_win_process_list_read(lw_win_process_list_t *list) {
  list->count = 0;
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap == INVALID_HANDLE_VALUE)
    return lw_win_errno(GetLastError());
  PROCESSENTRY32W entry;
  entry.dwSize = sizeof entry;
  int rc = 0;
  for (BOOL ok = Process32FirstW(snap, &entry); ok; ok = Process32NextW(snap, &entry)) {
    if (list->count == list->capacity) {
      size_t cap = list->capacity ? list->capacity * 2 : 256;
      lw_win_process_entry_t *grown = realloc(list->entries, cap * sizeof *grown);
      if (!grown) {
        rc = -ENOMEM;
        break;
      }
      list->entries = grown;
      list->capacity = cap;
    }
    lw_win_process_entry_t *e = &list->entries[list->count++];
    e->pid = entry.th32ProcessID;
    e->parent_pid = entry.th32ParentProcessID;
    e->threads = entry.cntThreads;
    if (!WideCharToMultiByte(CP_UTF8, 0, entry.szExeFile, -1, e->name, sizeof e->name, NULL,
                             NULL))
      snprintf(e->name, sizeof e->name, "?");
  }
  CloseHandle(snap);
  return rc;
}

const lw_win_process_entry_t *lw_win_process_list_find(const lw_win_process_list_t *list,
                                                       uint32_t pid) {
  for (size_t i = 0; i < list->count; i++)
    if (list->entries[i].pid == pid)
      return &list->entries[i];
  return NULL;
}

void lw_win_process_list_free(lw_win_process_list_t *list) {
  free(list->entries);
  memset(list, 0, sizeof *list);
}

void *lw_win_process_open(uint32_t pid, bool *can_dup, int *error) {
  const DWORD base = PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE;
  HANDLE h = OpenProcess(base | PROCESS_DUP_HANDLE, FALSE, pid);
  *can_dup = h != NULL;
  if (!h)
    h = OpenProcess(base, FALSE, pid);
  if (!h) {
    *error = lw_win_errno(GetLastError());
    return NULL;
  }
  /* A pid that has exited but is still referenced opens fine: it is gone for us. */
  if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0) {
    CloseHandle(h);
    *error = -ENOENT;
    return NULL;
  }
  *error = 0;
  return h;
}

void lw_win_process_close(void *process) {
  if (process)
    CloseHandle(process);
}

/* ---- Handles -------------------------------------------------------------------------- */

int lw_win_handle_table_read(lw_win_handle_table_t *table) {
  resolve();
  table->valid = false;
  if (!nt.query_system)
    return -ENOSYS;
  if (!table->buffer) {
    table->size = 1 << 20;
    table->buffer = malloc(table->size);
    if (!table->buffer)
      return -ENOMEM;
  }
  for (int tries = 0; tries < 8; tries++) {
    ULONG needed = 0;
    LONG status = nt.query_system(SYSTEM_EXTENDED_HANDLE_INFORMATION, table->buffer,
                                  (ULONG)table->size, &needed);
    if (status >= 0) {
      table->valid = true;
      return 0;
    }
    if (status != STATUS_INFO_LENGTH_MISMATCH)
      return (ULONG)status == 0xC0000022u /* STATUS_ACCESS_DENIED */ ? -EACCES : -EIO;
    /* The table grows between calls: ask for more than it said. */
    size_t want = (size_t)needed > table->size * 2 ? (size_t)needed + (1 << 16) : table->size * 2;
    void *grown = realloc(table->buffer, want);
    if (!grown)
      return -ENOMEM;
    table->buffer = grown;
    table->size = want;
  }
  return -EAGAIN;
}

/* Names the kind of type index `index` from one handle of that type held by `process`. */
static lw_handle_type_t learn_kind(lw_win_handle_table_t *table, HANDLE process,
                                   ULONG_PTR value, USHORT index) {
  if (!process || !nt.query_object)
    return LW_HANDLE_OTHER;
  HANDLE dup = NULL;
  if (!DuplicateHandle(process, (HANDLE)value, GetCurrentProcess(), &dup, 0, FALSE,
                       DUPLICATE_SAME_ACCESS))
    return LW_HANDLE_OTHER; /* some types refuse duplication; try another handle later */
  union {
    unicode_string_t name;
    char bytes[1024];
  } info;
  ULONG len = 0;
  lw_handle_type_t kind = LW_HANDLE_OTHER;
  if (nt.query_object(dup, OBJECT_TYPE_INFORMATION_CLASS, &info, sizeof info, &len) >= 0 &&
      info.name.Buffer) {
    char ascii[64];
    size_t n = info.name.Length / sizeof(WCHAR);
    if (n >= sizeof ascii)
      n = sizeof ascii - 1;
    for (size_t i = 0; i < n; i++)
      ascii[i] = info.name.Buffer[i] < 128 ? (char)info.name.Buffer[i] : '?';
    kind = lw_handle_type_from_name(ascii, n);
    table->kind_of_index[index & 0xff] = (uint8_t)(kind + 1);
  }
  CloseHandle(dup);
  return kind;
}

uint64_t lw_win_handle_table_count(lw_win_handle_table_t *table, uint32_t pid, void *process,
                                   uint64_t by_type[LW_HANDLE_TYPE_COUNT]) {
  memset(by_type, 0, LW_HANDLE_TYPE_COUNT * sizeof by_type[0]);
  if (!table->valid)
    return 0;
  const handle_information_t *info = table->buffer;
  size_t max = (table->size - sizeof *info) / sizeof info->Handles[0];
  size_t n = info->NumberOfHandles < max ? info->NumberOfHandles : max;
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const handle_entry_t *h = &info->Handles[i];
    if (h->UniqueProcessId != pid)
      continue;
    total++;
    uint8_t known = table->kind_of_index[h->ObjectTypeIndex & 0xff];
    lw_handle_type_t kind = known ? (lw_handle_type_t)(known - 1)
                                  : learn_kind(table, process, h->HandleValue, h->ObjectTypeIndex);
    by_type[kind]++;
  }
  return total;
}

void lw_win_handle_table_free(lw_win_handle_table_t *table) {
  free(table->buffer);
  memset(table, 0, sizeof *table);
}

/* ---- Counters ------------------------------------------------------------------------- */

/* GetGuiResources lives in user32.dll, which is loaded only when a GUI counter is first
 * read: a service that never needs it never initializes the windowing side (under wine
 * that initialization blocks a service process that has no desktop; see docs/WINDOWS.md).
 * Under wine the function is a stub anyway, so a service there skips it. */
static DWORD(WINAPI *gui_resources_function(void))(HANDLE, DWORD) {
  static bool looked;
  static DWORD(WINAPI * fn)(HANDLE, DWORD);
  if (!looked) {
    looked = true;
    HMODULE user32 = NULL;
    if (!(lw_win_is_wine(NULL) && lw_win_is_service_process()))
      user32 = LoadLibraryW(L"user32.dll");
    if (user32)
      fn = (DWORD(WINAPI *)(HANDLE, DWORD))(void (*)(void))GetProcAddress(user32,
                                                                          "GetGuiResources");
  }
  return fn;
}

bool lw_win_is_service_process(void) {
  /* Services run in session 0 with no console (Windows Vista and later). */
  DWORD session = 1;
  return ProcessIdToSessionId(GetCurrentProcessId(), &session) && session == 0 &&
         GetConsoleWindow() == NULL;
}

static double filetime_seconds(const FILETIME *ft) {
  ULARGE_INTEGER v;
  v.LowPart = ft->dwLowDateTime;
  v.HighPart = ft->dwHighDateTime;
  return (double)v.QuadPart / 1e7;
}

int lw_win_counters_read(void *process, lw_win_counters_t *out) {
  resolve();
  memset(out, 0, sizeof *out);
  HANDLE h = process;
  if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0)
    return -ESRCH;
  /* The native call fills PrivateUsage under wine too; psapi is the fallback. */
  vm_counters_ex_t vm;
  memset(&vm, 0, sizeof vm);
  ULONG len = 0;
  bool have = nt.query_process && nt.query_process(h, PROCESS_VM_COUNTERS, &vm, sizeof vm, &len) >= 0;
  PROCESS_MEMORY_COUNTERS_EX pmc;
  if (!have && GetProcessMemoryInfo(h, (PROCESS_MEMORY_COUNTERS *)&pmc, sizeof pmc)) {
    have = true;
    vm.WorkingSetSize = pmc.WorkingSetSize;
    vm.PeakWorkingSetSize = pmc.PeakWorkingSetSize;
    vm.PrivateUsage = pmc.PrivateUsage;
    vm.PagefileUsage = pmc.PagefileUsage;
    vm.PeakPagefileUsage = pmc.PeakPagefileUsage;
    vm.PageFaultCount = pmc.PageFaultCount; /* psapi has no virtual size: stays 0 */
  }
  if (have) {
    out->has_memory = true;
    out->working_set = vm.WorkingSetSize;
    out->peak_working_set = vm.PeakWorkingSetSize;
    out->private_bytes = vm.PrivateUsage;
    out->pagefile = vm.PagefileUsage;
    out->peak_pagefile = vm.PeakPagefileUsage;
    out->virtual_size = vm.VirtualSize;
    out->page_faults = vm.PageFaultCount;
  }
  DWORD handles = 0;
  if (GetProcessHandleCount(h, &handles)) {
    out->has_handle_count = true;
    out->handle_count = handles;
  }
  DWORD(WINAPI * gui_resources)(HANDLE, DWORD) = gui_resources_function();
  if (gui_resources) {
    out->has_gui = true;
    out->gdi_objects = gui_resources(h, GR_GDIOBJECTS);
    out->user_objects = gui_resources(h, GR_USEROBJECTS);
  }
  IO_COUNTERS io;
  if (GetProcessIoCounters(h, &io)) {
    out->has_io = true;
    out->read_bytes = io.ReadTransferCount;
    out->write_bytes = io.WriteTransferCount;
    out->other_bytes = io.OtherTransferCount;
  }
  FILETIME created, exited, kernel, user;
  if (GetProcessTimes(h, &created, &exited, &kernel, &user)) {
    out->has_times = true;
    out->cpu_seconds = filetime_seconds(&kernel) + filetime_seconds(&user);
    /* FILETIME counts from 1601-01-01; the Unix epoch is 11644473600 s later. */
    out->start_unix = filetime_seconds(&created) - 11644473600.0;
  }
  if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0)
    return -ESRCH;
  return 0;
}
