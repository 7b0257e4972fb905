/*
 * iat_patch.c - import address table patching: for every module of the program (not the
 * system's DLLs, not the agent), each imported function that has a hook
 * (hooks_windows.c) gets its IAT slot pointed at the hook, under VirtualProtect.
 *
 * Why the IAT and not an inline (Detours-style) hook: it needs no instruction decoding and
 * behaves the same on wine and Windows. What it misses: allocations a runtime makes inside
 * itself (msvcrt's own _strdup calls its internal malloc, which is why _strdup has its own
 * hook), GetProcAddress'd allocators, and modules that link a C runtime statically (their
 * malloc is their own code; their HeapAlloc import is still seen). docs/WINDOWS.md lists it.
 */
#include <windows.h>
#include <psapi.h>
#include <string.h>

#include "agent/windows/agent_windows.h"

enum { MAX_DONE = 512 };
static HMODULE done[MAX_DONE];
static size_t n_done;
static CRITICAL_SECTION patch_lock;
static INIT_ONCE lock_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK init_lock(PINIT_ONCE once, PVOID param, PVOID *context) {
  (void)once;
  (void)param;
  (void)context;
  InitializeCriticalSection(&patch_lock);
  return TRUE;
}

static void patch_slot(void **slot, void *value) {
  DWORD old;
  if (VirtualProtect(slot, sizeof *slot, PAGE_READWRITE, &old)) {
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    VirtualProtect(slot, sizeof *slot, old, &old);
  }
}

int lw__iat_patch_module(void *module) {
  uint8_t *base = module;
  IMAGE_DOS_HEADER *dos = (IMAGE_DOS_HEADER *)base;
  if (dos->e_magic != IMAGE_DOS_SIGNATURE)
    return 0;
  IMAGE_NT_HEADERS64 *nt = (IMAGE_NT_HEADERS64 *)(base + dos->e_lfanew);
  if (nt->Signature != IMAGE_NT_SIGNATURE ||
      nt->OptionalHeader.Magic != IMAGE_NT_OPTIONAL_HDR64_MAGIC)
    return 0;
  IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
  if (!dir.VirtualAddress || !dir.Size)
    return 0;
  int patched = 0;
  for (IMAGE_IMPORT_DESCRIPTOR *d = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress);
       d->Name; d++) {
    lw_win_runtime_t runtime = lw__win_runtime_of((const char *)(base + d->Name));
    const lw_win_hook_t *hooks = lw__win_hooks_for(runtime);
    if (!hooks || !d->FirstThunk)
      continue;
    /* Names come from the unbound copy (OriginalFirstThunk); the slots are FirstThunk. */
    IMAGE_THUNK_DATA64 *names =
        (IMAGE_THUNK_DATA64 *)(base + (d->OriginalFirstThunk ? d->OriginalFirstThunk
                                                             : d->FirstThunk));
    IMAGE_THUNK_DATA64 *slots = (IMAGE_THUNK_DATA64 *)(base + d->FirstThunk);
    for (; names->u1.AddressOfData; names++, slots++) {
      if (IMAGE_SNAP_BY_ORDINAL64(names->u1.Ordinal))
        continue;
      const char *fn = ((IMAGE_IMPORT_BY_NAME *)(base + names->u1.AddressOfData))->Name;
      for (const lw_win_hook_t *h = hooks; h->function; h++) {
        if (strcmp(fn, h->function) != 0)
          continue;
        void **slot = (void **)&slots->u1.Function;
        void *current = *slot;
        if (current == h->hook)
          break; /* done before */
        if (!*h->real)
          *h->real = current; /* the runtime's own function, as the loader bound it */
        patch_slot(slot, h->hook);
        patched++;
        break;
      }
    }
  }
  return patched;
}

/* System DLLs (and wine's builtin ones) live under the Windows directory; they are the
 * runtime's own plumbing, not the program. */
static bool is_system_module(HMODULE module) {
  WCHAR path[MAX_PATH], windows[MAX_PATH];
  if (!GetModuleFileNameW(module, path, MAX_PATH) || !GetWindowsDirectoryW(windows, MAX_PATH))
    return true;
  size_t n = wcslen(windows);
  return _wcsnicmp(path, windows, n) == 0 && (path[n] == L'\\' || path[n] == L'/');
}

int lw__iat_patch_all(void) {
  InitOnceExecuteOnce(&lock_once, init_lock, NULL, NULL);
  EnterCriticalSection(&patch_lock);
  HMODULE modules[1024];
  DWORD needed = 0;
  int patched = 0;
  uint64_t self_base, self_limit;
  lw__win_agent_range(&self_base, &self_limit);
  if (K32EnumProcessModules(GetCurrentProcess(), modules, sizeof modules, &needed)) {
    size_t n = needed / sizeof modules[0];
    if (n > 1024)
      n = 1024;
    for (size_t i = 0; i < n; i++) {
      HMODULE m = modules[i];
      if ((uint64_t)(uintptr_t)m == self_base)
        continue;
      bool seen = false;
      for (size_t k = 0; k < n_done && !seen; k++)
        seen = done[k] == m;
      if (seen)
        continue;
      if (n_done < MAX_DONE)
        done[n_done++] = m;
      if (!is_system_module(m))
        patched += lw__iat_patch_module(m);
    }
  }
  LeaveCriticalSection(&patch_lock);
  return patched;
}
