/*
 * record.c - what happens to a sampled allocation, and to the free of one.
 *
 * A sample costs an unwind, a stack-table lookup (lock-free when the stack is known), one
 * striped lock in the live table and a few atomic adds on the stack's counters. Counters are
 * weighted: one sample of size S stands for w(S) = 1 / (1 - exp(-S/rate)) allocations
 * (src/common/sampling.c), kept in 1/256 units so that sums need no floating point later.
 * Weights are applied per sample before summing, which keeps the estimate unbiased for sites
 * that allocate mixed sizes (docs/INTERNALS.md).
 */
#include <time.h>

#include "agent/agent.h"
#include "agent/unwind.h"
#include "common/sampling.h"

static uint64_t start_ns;

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t lw__now_ms(void) {
  if (!start_ns)
    start_ns = monotonic_ns();
  return (monotonic_ns() - start_ns) / 1000000u;
}

/* Fixed-point weights of one sample: objects and bytes it stands for, times 256. */
void lw__record_weights(uint64_t size, uint64_t *objects_fp, uint64_t *bytes_fp) {
  if (lw__options.rate <= 1) {
    *objects_fp = 256;
    *bytes_fp = size * 256;
    return;
  }
  double w = lw_sample_weight(size, lw__options.rate);
  double bytes = w * (double)size * 256.0;
  *objects_fp = (uint64_t)(w * 256.0 + 0.5);
  *bytes_fp = bytes >= 1.8e19 ? UINT64_MAX / 4 : (uint64_t)(bytes + 0.5);
}

static void add(uint64_t *counter, uint64_t value) {
  __atomic_add_fetch(counter, value, __ATOMIC_RELAXED);
}
static void subtract(uint64_t *counter, uint64_t value) {
  __atomic_sub_fetch(counter, value, __ATOMIC_RELAXED);
}

uint32_t lw__record_intern_walk(const uint64_t *frames, int depth, bool truncated) {
  uint64_t tag = lw__unwind_last_walk_tag();
  uint32_t epoch = lw__mappings_epoch();
  lw_thread_state_t *t = &lw__thread;
  int slot = (int)(tag & 1);
  /* Equal tags mean the unwinder returned the very same frames; the epoch decides which
   * mappings the id's addresses belong to, so it must match too. */
  if (tag && t->walk_tag[slot] == tag && t->walk_epoch[slot] == epoch)
    return t->walk_stack[slot];
  uint32_t id = lw__stacks_intern(frames, depth > 0 ? depth : 0, truncated, epoch);
  if (tag) {
    t->walk_tag[slot] = tag;
    t->walk_stack[slot] = id;
    t->walk_epoch[slot] = epoch;
  }
  return id;
}

uint32_t lw__record_current_stack(void) {
  uint64_t frames[LW_MAX_DEPTH];
  bool truncated = false;
  int depth = lw__unwind_here(frames, lw__options.depth, 0, &truncated);
  return lw__record_intern_walk(frames, depth, truncated);
}

void lw__record_alloc(void *address, size_t size) {
  uint64_t frames[LW_MAX_DEPTH];
  bool truncated = false;
  int depth = lw__unwind_here(frames, lw__options.depth, 0, &truncated);
  uint32_t id = lw__record_intern_walk(frames, depth, truncated);
  lw_stack_t *stack = lw__stacks_get(id);
  uint64_t objects_fp, bytes_fp;
  lw__record_weights(size, &objects_fp, &bytes_fp);
  /* Exact mode: every weight is 1, so objects = samples and those counters are skipped
   * (lw__stack_objects derives them); each atomic add costs ~6 ns here. */
  bool weighted = lw__options.rate > 1;
  add(&stack->counters.alloc_samples, 1);
  if (weighted)
    add(&stack->counters.alloc_objects_fp, objects_fp);
  add(&stack->counters.alloc_bytes_fp, bytes_fp);
  /* In-use counts only what the live table holds, so a later free can take it back. */
  if (lw__live_insert((uint64_t)(uintptr_t)address, size, id, lw__now_ms())) {
    add(&stack->counters.inuse_samples, 1);
    if (weighted)
      add(&stack->counters.inuse_objects_fp, objects_fp);
    add(&stack->counters.inuse_bytes_fp, bytes_fp);
  }
}

static void forget(const lw_live_entry_t *entry) {
  lw_stack_t *stack = lw__stacks_get(entry->stack_id);
  if (!stack)
    return;
  uint64_t objects_fp, bytes_fp;
  lw__record_weights(entry->size, &objects_fp, &bytes_fp);
  subtract(&stack->counters.inuse_samples, 1);
  if (lw__options.rate > 1)
    subtract(&stack->counters.inuse_objects_fp, objects_fp);
  subtract(&stack->counters.inuse_bytes_fp, bytes_fp);
}

bool lw__record_free(void *address) {
  lw_live_entry_t entry;
  bool busy;
  if (!lw__live_remove((uint64_t)(uintptr_t)address, &entry, true, &busy))
    return false;
  forget(&entry);
  return true;
}

bool lw__record_free_nonblocking(void *address, bool *busy) {
  lw_live_entry_t entry;
  if (!lw__live_remove((uint64_t)(uintptr_t)address, &entry, false, busy))
    return false;
  forget(&entry);
  return true;
}

void lw__record_forget_entry(const lw_live_entry_t *entry) { forget(entry); }

void lw__record_totals(lw_estimate_totals_t *out) {
  lw_estimate_totals_t totals = {0, 0, 0, 0, 0};
  uint32_t count = lw__stacks_count();
  for (uint32_t id = 0; id < count; id++) {
    const lw_stack_t *s = lw__stacks_get(id);
    if (!s)
      continue;
    uint64_t samples = __atomic_load_n(&s->counters.alloc_samples, __ATOMIC_RELAXED);
    totals.samples_total += samples;
    totals.alloc_bytes += __atomic_load_n(&s->counters.alloc_bytes_fp, __ATOMIC_RELAXED) / 256;
    totals.inuse_bytes += __atomic_load_n(&s->counters.inuse_bytes_fp, __ATOMIC_RELAXED) / 256;
    totals.inuse_objects += lw__stack_objects(&s->counters, true);
    if (s->truncated)
      totals.stacks_truncated += samples;
  }
  *out = totals;
}

uint64_t lw__stack_objects(const lw_stack_counters_t *c, bool inuse) {
  if (lw__options.rate <= 1)
    return __atomic_load_n(inuse ? &c->inuse_samples : &c->alloc_samples, __ATOMIC_RELAXED);
  return __atomic_load_n(inuse ? &c->inuse_objects_fp : &c->alloc_objects_fp, __ATOMIC_RELAXED) /
         256;
}
