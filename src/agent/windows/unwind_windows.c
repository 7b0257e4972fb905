/*
 * unwind_windows.c - stacks for the shared recorder (../unwind.h) on Windows:
 * RtlCaptureStackBackTrace, which walks with the PE exception tables (.pdata/.xdata) that
 * every x64 image has, so -O2 programs without frame pointers unwind. The agent's own
 * frames (the hook and the sampler) are cut, and each return address becomes the call
 * instruction (address - 1), as in Linux profiles.
 *
 * Modules are not unloaded behind the profile's back on Windows in this agent (FreeLibrary
 * is not hooked), so every stack belongs to mappings epoch 0.
 */
#include <windows.h>

#include "agent/unwind.h"
#include "agent/windows/agent_windows.h"

int lw__unwind_here(uint64_t *pcs, int max_depth, int skip, bool *truncated) {
  static uint64_t self_base, self_limit;
  if (!self_base)
    lw__win_agent_range(&self_base, &self_limit);
  void *frames[LW_MAX_DEPTH + 32];
  int want = max_depth + 32 > LW_MAX_DEPTH + 32 ? LW_MAX_DEPTH + 32 : max_depth + 32;
  USHORT n = RtlCaptureStackBackTrace(0, (DWORD)want, frames, NULL);
  int depth = 0, i = 0;
  while (i < n && (uint64_t)(uintptr_t)frames[i] >= self_base &&
         (uint64_t)(uintptr_t)frames[i] < self_limit)
    i++;
  i += skip;
  for (; i < n && depth < max_depth; i++) {
    uint64_t pc = (uint64_t)(uintptr_t)frames[i];
    if (!pc)
      break; /* past RtlUserThreadStart wine leaves junk after a null frame */
    pcs[depth++] = pc - 1;
  }
  *truncated = i < n && depth == max_depth;
  return depth;
}

uint32_t lw__mappings_epoch(void) { return 0; }

/* No memo of recent walks on Windows (RtlCaptureStackBackTrace walks every time): tag 0
 * tells the recorder to intern each walk. */
uint64_t lw__unwind_last_walk_tag(void) { return 0; }
