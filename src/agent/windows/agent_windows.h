/*
 * agent_windows.h - internal interfaces of the Windows agent DLL (leakwatch_agent.dll),
 * grouped by defining file. The shared agent modules (sampler.c, stack_table.c,
 * live_table.c, record.c, options.c, log.c; declared in ../agent.h) do the sampling and
 * keep the tables exactly as on Linux; the files here are the Windows platform layer under
 * them: memory, threads, stacks, hooking and the exit profile.
 *
 * The same rules as on Linux (docs/INTERNALS.md): nothing reachable from a hook allocates
 * through the C runtime or calls stdio; a failure stops sampling, never the host.
 */
#ifndef LW_AGENT_WINDOWS_AGENT_WINDOWS_H
#define LW_AGENT_WINDOWS_AGENT_WINDOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

/* ---- hooks_windows.c: the replacement allocation functions --------------------------- */

/* One import the agent replaces: a function of a C runtime or kernel32 and its hook. */
typedef struct lw_win_hook {
  const char *function;  /* "malloc" */
  void *hook;            /* our replacement */
  void **real;           /* where the original of this runtime is kept */
} lw_win_hook_t;

/* The runtime families whose imports are patched. */
typedef enum {
  LW_RUNTIME_MSVCRT,  /* msvcrt.dll (mingw's default, old MSVC) */
  LW_RUNTIME_UCRT,    /* ucrtbase.dll and the api-ms-win-crt-* forwarders (MSVC 2015+) */
  LW_RUNTIME_KERNEL,  /* kernel32.dll / kernelbase.dll: HeapAlloc, HeapReAlloc, HeapFree */
  LW_RUNTIME_COUNT
} lw_win_runtime_t;

/* Resolves the real functions of every runtime loaded in the process (GetProcAddress on
 * the runtime DLL, so a block is always freed by the runtime that allocated it). */
void lw__win_hooks_resolve(void);
/* The hooks for imports from runtime `r`, terminated by a NULL function. */
const lw_win_hook_t *lw__win_hooks_for(lw_win_runtime_t r);
/* The runtime family of an imported DLL name ("MSVCRT.dll", "api-ms-win-crt-heap-l1-1-0.dll"),
 * or LW_RUNTIME_COUNT for any other. */
lw_win_runtime_t lw__win_runtime_of(const char *dll_name);
/* Hooked calls seen, for the verbose line and tests. */
uint64_t lw__win_hooked_calls(void);

/* ---- iat_patch.c: import address tables ------------------------------------------------ */

/* Patches the IAT of one module: every named import that has a hook. Returns the number of
 * slots patched. Safe to call again (already patched slots are left alone). */
int lw__iat_patch_module(void *module);
/* Patches every loaded module except the system's own DLLs and the agent; remembers
 * which modules were done, so it can be called again after a DLL load. */
int lw__iat_patch_all(void);

/* ---- memory_windows.c: the agent's memory ---------------------------------------------- */

/* Commits reserved pages on first touch (a vectored exception handler), so tables reserved
 * for millions of entries cost commit charge (and job memory) only as they fill. */
bool lw__win_memory_init(void);
/* A private heap for the exit profile's short-lived work (never the host's CRT heap). */
extern const lw_allocator_t lw__win_scratch_allocator;
void lw__win_scratch_reset(void);

/* ---- modules_windows.c: loaded modules for the profile's mappings --------------------- */

typedef struct lw_win_module {
  uint64_t base, limit; /* image range in memory */
  char path[520];       /* UTF-8 */
  char build_id[40];    /* PE TimeDateStamp and SizeOfImage in hex, as symbol servers key
                           images ("5F3A1B2C" "1e000") */
} lw_win_module_t;
/* Fills up to max modules, the main executable first. Returns the count. */
size_t lw__win_modules(lw_win_module_t *out, size_t max);
/* The agent DLL's own range (its frames are cut from stacks). */
void lw__win_agent_range(uint64_t *base, uint64_t *limit);

/* ---- export_windows.c: the heap profile at exit --------------------------------------- */

/* Writes the profile (the shared pprof writer, gzip) to path atomically. 0 or -errno. */
int lw__win_export_profile(const char *path);

#endif
