/*
 * win_counters.h - what Task Manager, PerfMon and Process Explorer show about a Windows
 * process, read from outside with no agent in it: memory (working set, private bytes,
 * pagefile), page faults, handles in total and by object type, threads, GDI and USER
 * objects, I/O bytes, CPU time and start time.
 *
 * Sources, and what wine 8 leaves at zero (../../../docs/WINDOWS.md has the full table):
 *  - NtQueryInformationProcess(ProcessVmCounters) with VM_COUNTERS_EX: working set and peak,
 *    private bytes, pagefile and peak, virtual size, page faults (0 under wine). psapi's
 *    PrivateUsage is 0 under wine, the native call is not, so the native call is used.
 *  - NtQuerySystemInformation(SystemExtendedHandleInformation): every handle of the system
 *    with its owner pid and object type index, grouped here by pid and by type. Type names
 *    come from duplicating one handle of each type and NtQueryObject(ObjectTypeInformation),
 *    as Process Explorer does; they are cached per type index. GetProcessHandleCount is a
 *    stub returning 0 under wine, so the total comes from the same table when it can.
 *  - Toolhelp32 process snapshot: names, parents and thread counts of all processes.
 *  - GetGuiResources (GDI/USER; 0 under wine), GetProcessIoCounters (0 under wine),
 *    GetProcessTimes.
 *
 * CLI-side code (it allocates); used by the watcher, the exporter and the tests.
 */
#ifndef LW_PLATFORM_WINDOWS_WIN_COUNTERS_H
#define LW_PLATFORM_WINDOWS_WIN_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/handle_types.h"
#include "platform/windows/win_errno.h"

/* One process of a Toolhelp snapshot. */
typedef struct lw_win_process_entry {
  uint32_t pid;
  uint32_t parent_pid;
  uint32_t threads;
  char name[64]; /* executable file name, "server.exe" (UTF-8) */
} lw_win_process_entry_t;

typedef struct lw_win_process_list {
  lw_win_process_entry_t *entries;
  size_t count, capacity;
} lw_win_process_list_t;

/* Takes a snapshot of every process. Returns 0 or a negative errno. */
int lw_win_process_list_read(lw_win_process_list_t *list);
const lw_win_process_entry_t *lw_win_process_list_find(const lw_win_process_list_t *list,
                                                       uint32_t pid);
void lw_win_process_list_free(lw_win_process_list_t *list);

/* The system handle table of one moment, and the type index -> kind cache. */
typedef struct lw_win_handle_table {
  void *buffer;  /* SYSTEM_HANDLE_INFORMATION_EX */
  size_t size;
  bool valid;
  /* ObjectTypeIndex -> lw_handle_type_t + 1 (0: not known yet). */
  uint8_t kind_of_index[256];
} lw_win_handle_table_t;

/* Re-reads the table. Returns 0, or a negative errno (-EACCES where the system refuses the
 * query to unprivileged callers). */
int lw_win_handle_table_read(lw_win_handle_table_t *table);
/* Counts the handles of pid by kind; `process` (a HANDLE opened with PROCESS_DUP_HANDLE,
 * or NULL) lets unknown type indexes be named. Returns the total. */
uint64_t lw_win_handle_table_count(lw_win_handle_table_t *table, uint32_t pid, void *process,
                                   uint64_t by_type[LW_HANDLE_TYPE_COUNT]);
void lw_win_handle_table_free(lw_win_handle_table_t *table);

typedef struct lw_win_counters {
  bool has_memory;
  uint64_t working_set, peak_working_set, private_bytes, pagefile, peak_pagefile,
      virtual_size, page_faults;
  bool has_handle_count; /* GetProcessHandleCount (a stub giving 0 under wine) */
  uint64_t handle_count;
  bool has_gui;
  uint64_t gdi_objects, user_objects;
  bool has_io;
  uint64_t read_bytes, write_bytes, other_bytes;
  bool has_times;
  double cpu_seconds; /* user + kernel */
  double start_unix;  /* creation time, seconds since the Unix epoch */
} lw_win_counters_t;

/* Reads what the process handle allows (PROCESS_QUERY_LIMITED_INFORMATION is enough for
 * everything here). Returns 0, or -ESRCH when the process has exited. */
int lw_win_counters_read(void *process, lw_win_counters_t *out);

/* Opens a process for watching: query, synchronize and, when allowed, duplicate handles
 * (for handle type names). *can_dup tells which. Returns NULL with *error set (-ENOENT no
 * such process, -EACCES denied). */
void *lw_win_process_open(uint32_t pid, bool *can_dup, int *error);
void lw_win_process_close(void *process);

/* True in a service process (session 0, no console). */
bool lw_win_is_service_process(void);

/* True when running under wine; *version gets its version string ("8.0"). */
bool lw_win_is_wine(const char **version);


#endif
