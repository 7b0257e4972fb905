/*
 * win_inject.c - DLL injection with CreateRemoteThread(LoadLibraryW) (see win_inject.h).
 *
 * LoadLibraryW's address is taken from our own kernel32: system DLLs are mapped at the same
 * address in every process of a boot session (and wine maps its builtins the same way).
 */
#include "platform/windows/win_inject.h"

#include <windows.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "platform/windows/win_errno.h"

int lw_win_inject_dll(void *process, const char *dll_path, unsigned timeout_ms, char *why,
                      size_t why_size) {
  WCHAR path[MAX_PATH * 2];
  int n = MultiByteToWideChar(CP_UTF8, 0, dll_path, -1, path, MAX_PATH * 2);
  if (n <= 0) {
    snprintf(why, why_size, "path too long");
    return -ENAMETOOLONG;
  }
  size_t bytes = (size_t)n * sizeof(WCHAR);
  void *remote = VirtualAllocEx(process, NULL, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (!remote) {
    DWORD err = GetLastError();
    snprintf(why, why_size, "VirtualAllocEx failed (error %lu)", err);
    return lw_win_errno(err);
  }
  int rc = 0;
  HANDLE thread = NULL;
  LPTHREAD_START_ROUTINE load = (LPTHREAD_START_ROUTINE)(void (*)(void))GetProcAddress(
      GetModuleHandleW(L"kernel32.dll"), "LoadLibraryW");
  if (!WriteProcessMemory(process, remote, path, bytes, NULL)) {
    DWORD err = GetLastError();
    snprintf(why, why_size, "WriteProcessMemory failed (error %lu)", err);
    rc = lw_win_errno(err);
  } else if (!(thread = CreateRemoteThread(process, NULL, 0, load, remote, 0, NULL))) {
    DWORD err = GetLastError();
    snprintf(why, why_size, "CreateRemoteThread failed (error %lu)", err);
    rc = lw_win_errno(err);
  } else if (WaitForSingleObject(thread, timeout_ms) != WAIT_OBJECT_0) {
    snprintf(why, why_size, "LoadLibraryW did not return within %u ms", timeout_ms);
    rc = -ETIMEDOUT;
  } else {
    DWORD code = 0;
    GetExitCodeThread(thread, &code); /* the low 32 bits of the HMODULE */
    if (code == 0) {
      snprintf(why, why_size, "LoadLibraryW returned NULL in the target: the DLL or one of its "
                              "dependencies was not found, or its DllMain failed");
      rc = -ENOENT;
    }
  }
  if (thread)
    CloseHandle(thread);
  if (rc != -ETIMEDOUT) /* a thread still running may yet read the path */
    VirtualFreeEx(process, remote, 0, MEM_RELEASE);
  return rc;
}
