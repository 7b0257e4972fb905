/*
 * win_inject.h - loading a DLL into another process: the path is written into the target
 * (VirtualAllocEx + WriteProcessMemory) and a remote thread runs LoadLibraryW on it. Used
 * by `leakwatch run` on a child created suspended, so the agent is in place before the
 * program's first instruction (the remote thread also runs the process's loader
 * initialization, as the first thread of a suspended process would).
 */
#ifndef LW_PLATFORM_WINDOWS_WIN_INJECT_H
#define LW_PLATFORM_WINDOWS_WIN_INJECT_H

#include <stddef.h>

/* Loads dll_path into `process` (a HANDLE with PROCESS_CREATE_THREAD, VM_OPERATION,
 * VM_WRITE, QUERY_INFORMATION). Waits up to timeout_ms. Returns 0, or a negative errno
 * with a one-line reason in why (e.g. "LoadLibraryW returned NULL in the target: the DLL
 * or one of its dependencies was not found, or its DllMain failed"). */
int lw_win_inject_dll(void *process, const char *dll_path, unsigned timeout_ms, char *why,
                      size_t why_size);

#endif
