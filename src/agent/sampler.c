/*
 * sampler.c - the per-thread sampling countdown (maths in src/common/sampling.c).
 *
 * The malloc hook subtracts each request from lw__thread.countdown and takes the slow path
 * when it goes negative. Bytes requested are not counted separately on the hot path: they
 * are recovered from the countdown (bytes_base + countdown_start - countdown), which saves
 * an instruction per malloc.
 */
#include "agent/agent.h"
#include "common/sampling.h"

/* The fields are stored with atomic stores because lw__thread_totals reads them from other
 * threads (plain stores racing with those loads would be a data race in C11; on x86-64 all
 * of them compile to plain moves). bytes_seq, odd meanwhile, tells such a reader that the
 * three are changing together: a mix of old and new values would count the bytes since the
 * last reset twice, or not at all. The data stores are release stores, so a reader that
 * sees a new value also sees the odd bytes_seq stored before it (a release fence would do
 * the same, but ThreadSanitizer, which the stress test runs under, rejects fences). */
void lw__sampler_reset(lw_thread_state_t *t) {
  uint32_t seq = t->bytes_seq;
  __atomic_store_n(&t->bytes_seq, seq + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&t->bytes_base, t->bytes_base + (uint64_t)(t->countdown_start - t->countdown),
                   __ATOMIC_RELEASE);
  int64_t next;
  if (lw__agent_state != LW_AGENT_READY)
    next = (int64_t)1 << 62; /* not sampling (disabled or failed): never come back */
  else if (lw__options.rate <= 1)
    next = -1;               /* exact mode: every allocation, including malloc(0) */
  else
    next = lw_sample_interval(&t->random_state, lw__options.rate);
  __atomic_store_n(&t->countdown, next, __ATOMIC_RELEASE);
  __atomic_store_n(&t->countdown_start, next, __ATOMIC_RELEASE);
  __atomic_store_n(&t->bytes_seq, seq + 2, __ATOMIC_RELEASE);
}

bool lw__sampler_should_record(lw_thread_state_t *t, size_t size) {
  bool sample = lw__agent_ensure_ready();
  if (sample && !t->registered) {
    /* A new thread starts with countdown 0, so its first allocation always lands here:
     * decide it with a fresh draw instead, or first allocations would be over-sampled. */
    lw__thread_register();
    lw__sampler_reset(t);
    sample = lw__options.rate <= 1 || (int64_t)size > t->countdown;
  }
  return sample;
}
