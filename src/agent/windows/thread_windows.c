/*
 * thread_windows.c - per-thread agent state on Windows: the lw__thread TLS block the
 * shared sampler and hooks use (../agent.h), and thread registration.
 *
 * mingw-w64's gcc implements __thread with emulated TLS: the first touch in a thread
 * allocates the block through the agent DLL's own C runtime imports, which are never
 * hooked, so that allocation is not seen and cannot recurse.
 */
#include <windows.h>

#include "agent/windows/agent_windows.h"

__thread lw_thread_state_t lw__thread;

static volatile LONG64 threads_seen;

void lw__thread_register(void) {
  lw_thread_state_t *t = &lw__thread;
  if (t->registered)
    return;
  t->registered = 1;
  t->tid = (pid_t)GetCurrentThreadId();
  /* A distinct sampler seed per thread (as ../thread_state.c seeds it); never zero. */
  LARGE_INTEGER now;
  QueryPerformanceCounter(&now);
  t->random_state = ((uint64_t)t->tid << 32) ^ (uint64_t)(uintptr_t)t ^ (uint64_t)now.QuadPart ^
                    0x9E3779B97F4A7C15ULL;
  InterlockedIncrement64(&threads_seen);
}

void lw__thread_totals(lw_call_totals_t *out) {
  /* Only this thread's exact counts are at hand (no registry on Windows yet). */
  out->malloc_calls = lw__thread.malloc_calls;
  out->free_calls = lw__thread.free_calls;
  out->bytes_requested = lw__thread_bytes(&lw__thread);
  out->threads_seen = (uint64_t)threads_seen;
  out->threads_live = 0;
}
