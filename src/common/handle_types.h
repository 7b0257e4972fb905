/*
 * handle_types.h - the kinds of Windows kernel object a process holds handles to, as
 * Process Explorer's handle view groups them (the object type names Windows reports through
 * NtQueryObject(ObjectTypeInformation)).
 *
 * Platform-neutral on purpose: the watcher's metric tables name one column and one
 * Prometheus label per kind on every build, and the mapping from a type name to a kind is a
 * pure function the Linux unit tests check too. Reading the handles themselves is Windows
 * code (src/platform/windows/win_counters.c).
 */
#ifndef LW_COMMON_HANDLE_TYPES_H
#define LW_COMMON_HANDLE_TYPES_H

#include <stddef.h>

typedef enum lw_handle_type {
  LW_HANDLE_EVENT,          /* "Event": CreateEvent */
  LW_HANDLE_FILE,           /* "File": files, pipes, sockets (AFD), consoles, devices */
  LW_HANDLE_KEY,            /* "Key": registry keys */
  LW_HANDLE_MUTANT,         /* "Mutant": CreateMutex */
  LW_HANDLE_SEMAPHORE,      /* "Semaphore" */
  LW_HANDLE_SECTION,        /* "Section": file mappings, shared memory */
  LW_HANDLE_THREAD,         /* "Thread" */
  LW_HANDLE_PROCESS,        /* "Process" */
  LW_HANDLE_TOKEN,          /* "Token" */
  LW_HANDLE_TIMER,          /* "Timer": waitable timers */
  LW_HANDLE_IO_COMPLETION,  /* "IoCompletion": completion ports */
  LW_HANDLE_DIRECTORY,      /* "Directory": object manager directories */
  LW_HANDLE_ALPC_PORT,      /* "ALPC Port" */
  LW_HANDLE_DESKTOP,        /* "Desktop" */
  LW_HANDLE_WINDOW_STATION, /* "WindowStation" */
  LW_HANDLE_OTHER,          /* every other type (TpWorkerFactory, EtwRegistration, Job ...) */
  LW_HANDLE_TYPE_COUNT
} lw_handle_type_t;

/* "event", "file", ... "alpc_port", "other": CSV column suffixes and rule metric names. */
const char *lw_handle_type_key(lw_handle_type_t type);
/* "Event", "File", ... "ALPC Port", "Other": as Windows and Process Explorer name them;
 * the value of the exporter's type label. */
const char *lw_handle_type_name(lw_handle_type_t type);
/* The kind of an object type name as Windows reports it (exact, case-sensitive, `len`
 * bytes, no NUL needed); LW_HANDLE_OTHER for anything not listed. */
lw_handle_type_t lw_handle_type_from_name(const char *name, size_t len);

#endif
