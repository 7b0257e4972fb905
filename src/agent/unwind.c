/*
 * unwind.c - TEMPORARY unwinder over libgcc's _Unwind_Backtrace, used only until the cached
 * DWARF unwinder (branch `unwind`) is merged. Slow (it interprets CFI on every call).
 */
#define _GNU_SOURCE
#include "agent/unwind.h"

#include <dlfcn.h>
#include <link.h>
#include <unwind.h>

static uintptr_t skip_start, skip_end;

typedef struct {
  uint64_t *pcs;
  int max;
  int n;
  int skip;
  bool first;
  bool truncated;
} walk_t;

static _Unwind_Reason_Code step(struct _Unwind_Context *context, void *arg) {
  walk_t *w = arg;
  uintptr_t ip = _Unwind_GetIP(context);
  if (!ip)
    return _URC_END_OF_STACK;
  if (w->first) { /* lw__unwind_here's own caller frame chain starts at the caller */
    w->first = false;
    return _URC_NO_REASON;
  }
  if (w->n == 0 && ip >= skip_start && ip < skip_end)
    return _URC_NO_REASON;
  if (w->skip > 0) {
    w->skip--;
    return _URC_NO_REASON;
  }
  if (w->n >= w->max) {
    w->truncated = true;
    return _URC_END_OF_STACK;
  }
  w->pcs[w->n++] = ip - 1;
  return _URC_NO_REASON;
}

int lw__unwind_init(void) { return 0; }

static int find_module(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t target = (uintptr_t)arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
      continue;
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (target >= start && target < start + ph->p_memsz) {
      skip_start = start;
      skip_end = start + ph->p_memsz;
      return 1;
    }
  }
  return 0;
}

void lw__unwind_skip_module(const void *address_in_module) {
  dl_iterate_phdr(find_module, (void *)address_in_module);
}

int lw__unwind_here(uint64_t *pcs, int max_depth, int skip, bool *truncated) {
  walk_t w = {pcs, max_depth, 0, skip, true, false};
  _Unwind_Backtrace(step, &w);
  *truncated = w.truncated;
  return w.n;
}

void lw__unwind_flush_cache(void) {}
void lw__unwind_get_stats(lw_unwind_stats_t *out) {
  out->cache_hits = out->cache_misses = out->uncacheable = out->stopped_unsafe = 0;
}
