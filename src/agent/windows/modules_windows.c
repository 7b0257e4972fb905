/*
 * modules_windows.c - the process's loaded modules for the profile's mappings: image range,
 * path and a build ID made of the PE header's TimeDateStamp and SizeOfImage (the key
 * Microsoft's symbol servers use for an image), so the CLI can tell a rebuilt binary from
 * the one that ran.
 */
#include <windows.h>
#include <psapi.h>
#include <stdio.h>

#include "agent/windows/agent_windows.h"
#include "common/fmt.h"

static HMODULE self;

void lw__win_agent_range(uint64_t *base, uint64_t *limit) {
  if (!self)
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                           GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                       (LPCWSTR)(void *)lw__win_agent_range, &self);
  MODULEINFO info = {0};
  K32GetModuleInformation(GetCurrentProcess(), self, &info, sizeof info);
  *base = (uint64_t)(uintptr_t)info.lpBaseOfDll;
  *limit = *base + info.SizeOfImage;
}

static void fill(HMODULE m, lw_win_module_t *out) {
  MODULEINFO info = {0};
  K32GetModuleInformation(GetCurrentProcess(), m, &info, sizeof info);
  out->base = (uint64_t)(uintptr_t)info.lpBaseOfDll;
  out->limit = out->base + info.SizeOfImage;
  WCHAR wide[MAX_PATH];
  DWORD n = GetModuleFileNameW(m, wide, MAX_PATH);
  if (!n || !WideCharToMultiByte(CP_UTF8, 0, wide, -1, out->path, sizeof out->path, NULL, NULL))
    out->path[0] = '\0';
  const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)info.lpBaseOfDll;
  const IMAGE_NT_HEADERS64 *nt = (const IMAGE_NT_HEADERS64 *)((const char *)dos + dos->e_lfanew);
  lw_fmt(out->build_id, sizeof out->build_id, "%08X%x", (unsigned)nt->FileHeader.TimeDateStamp,
         (unsigned)nt->OptionalHeader.SizeOfImage);
}

size_t lw__win_modules(lw_win_module_t *out, size_t max) {
  HMODULE modules[1024];
  DWORD needed = 0;
  if (!max || !K32EnumProcessModules(GetCurrentProcess(), modules, sizeof modules, &needed))
    return 0;
  size_t n = needed / sizeof modules[0];
  if (n > 1024)
    n = 1024;
  /* EnumProcessModules lists the executable first. */
  size_t count = 0;
  for (size_t i = 0; i < n && count < max; i++)
    fill(modules[i], &out[count++]);
  return count;
}
