/*
 * stats.c - lw_stats() and lw_write_profile(), the public in-process API (leakwatch.h).
 */
#include <errno.h>
#include <string.h>

#include "agent/agent.h"
#include "leakwatch.h"

/* Counters (the *_total series of /metrics) must never go down, yet their sums are read
 * while threads change the parts: a thread's pending samples move onto their stack between
 * the reads of the two, an exiting thread's counts move into the retired totals. So each
 * counter reported is at least the largest reported before, from any reader. */
static uint64_t at_least_reported(uint64_t *reported, uint64_t value) {
  uint64_t old = __atomic_load_n(reported, __ATOMIC_RELAXED);
  while (old < value && !__atomic_compare_exchange_n(reported, &old, value, true,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old > value ? old : value;
}

static void make_monotonic(lw_stats_t *s) {
  static lw_stats_t reported;
#define LW_MONOTONIC(field) s->field = at_least_reported(&reported.field, s->field);
  LW_MONOTONIC(malloc_calls)
  LW_MONOTONIC(free_calls)
  LW_MONOTONIC(bytes_requested)
  LW_MONOTONIC(alloc_bytes_estimate)
  LW_MONOTONIC(samples_total)
  LW_MONOTONIC(dropped_samples)
  LW_MONOTONIC(dropped_stacks)
  LW_MONOTONIC(threads_seen)
  LW_MONOTONIC(profiles_written)
#undef LW_MONOTONIC
}

LW_EXPORT int lw_stats(lw_stats_t *out, size_t out_size) {
  if (!out || out_size < offsetof(lw_stats_t, malloc_calls))
    return -1;
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  lw_stats_t s;
  memset(&s, 0, sizeof s);
  s.size = (uint32_t)(out_size < sizeof s ? out_size : sizeof s);
  s.version = LW_STATS_VERSION;
  int state = __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE);
  if (state == LW_AGENT_READY || state == LW_AGENT_FAILED) {
    lw_call_totals_t calls;
    lw__thread_totals(&calls);
    lw_estimate_totals_t estimates;
    lw__record_totals(&estimates);
    s.malloc_calls = calls.malloc_calls;
    s.free_calls = calls.free_calls;
    s.bytes_requested = calls.bytes_requested;
    s.live_objects = calls.malloc_calls >= calls.free_calls ? calls.malloc_calls - calls.free_calls : 0;
    s.inuse_bytes_estimate = estimates.inuse_bytes;
    s.inuse_objects_estimate = estimates.inuse_objects;
    s.alloc_bytes_estimate = estimates.alloc_bytes;
    s.samples_total = estimates.samples_total;
    s.samples_live = lw__live_count();
    s.stacks = lw__stacks_count() ? lw__stacks_count() - 1 : 0; /* id 0 is the overflow bucket */
    s.stacks_truncated = estimates.stacks_truncated;
    s.dropped_samples = lw__live_dropped();
    s.dropped_stacks = lw__stacks_dropped();
    s.agent_memory_bytes = lw__arena_bytes();
    s.sampling_rate = lw__options.rate;
    s.sampling_enabled = state == LW_AGENT_READY;
    s.threads_seen = calls.threads_seen;
    s.profiles_written = __atomic_load_n(&lw__profiles_written, __ATOMIC_RELAXED);
    s.threads_live = calls.threads_live;
    s.fds_live = lw__fd_live_count();
    make_monotonic(&s);
    s.live_objects = s.malloc_calls >= s.free_calls ? s.malloc_calls - s.free_calls : 0;
    s.attached_at_unix = lw__attached_at_ns / 1000000000u;
    /* Attached, frees of blocks from before the attach are counted too: calls say nothing
     * of what is live since. In exact mode the live samples are exactly that. */
    if (lw__attached_at_ns)
      s.live_objects = lw__options.rate <= 1 ? s.samples_live : s.inuse_objects_estimate;
  }
  memcpy(out, &s, s.size);
  lw__guard_exit(t);
  errno = saved_errno;
  return state == LW_AGENT_READY || state == LW_AGENT_FAILED ? 0 : -1;
}

LW_EXPORT int lw_write_profile(const char *path) {
  if (!path || !path[0])
    return -EINVAL;
  if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) != LW_AGENT_READY)
    return -ENOTSUP;
  int saved_errno = errno; /* the result says what failed; errno stays the program's */
  int result = lw__export_profile(path);
  errno = saved_errno;
  return result;
}
