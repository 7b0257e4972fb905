/*
 * record.c - what happens to a sampled allocation, and to the free of one.
 *
 * A sample costs an unwind, a stack-table lookup (lock-free when the stack is known), one
 * striped lock in the live table and a few plain stores to the thread's pending allocation
 * counts (atomic adds to the stack only when the stack changes); a free of a sample costs
 * the live table's lock and nothing else. In-use counters are summed from the live table
 * when read (lw__stack_counters_read): exports and history snapshots are rare, allocations
 * and frees are not. Counters are weighted: one sample of size S stands for
 * w(S) = 1 / (1 - exp(-S/rate)) allocations (src/common/sampling.c), kept in 1/256 units so
 * that sums need no floating point later.
 * Weights are applied per sample before summing, which keeps the estimate unbiased for sites
 * that allocate mixed sizes (docs/INTERNALS.md).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#ifndef _WIN32
#include "agent/export_reply.h"
#endif
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

/* ---- allocation counters, batched per thread ------------------------------------------
 * Each atomic add costs several ns on the exact-mode path, and a program allocates from
 * the same stack many times in a row, so a thread sums its samples of one stack in its own
 * state (lw_thread_state_t.pending_*) and adds them to the stack when the stack changes.
 * Readers add every registered thread's pending counts. The owner changes them inside a
 * seqlock so a reader sees a consistent (stack, counts) triple; a reading taken while a
 * thread moves its counts to the stack may count them twice or not at all for that
 * moment, which live readings tolerate (profiles written at exit, after the other threads
 * are gone, are exact). Windows has no thread registry: there the adds go straight to the
 * stack. */

/* The seqlock without fences (ThreadSanitizer cannot check fences): every field store is
 * a release and every field load an acquire, so a reader that sees a changed field also
 * sees the odd sequence number stored before it. Both are plain moves on x86. */
static void store_release(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static void pending_write_begin(lw_thread_state_t *t) {
  __atomic_store_n(&t->pending_seq, t->pending_seq + 1, __ATOMIC_RELAXED);
}
static void pending_write_end(lw_thread_state_t *t) {
  __atomic_store_n(&t->pending_seq, t->pending_seq + 1, __ATOMIC_RELEASE);
}

static void add_to_stack(lw_stack_t *stack, uint64_t samples, uint64_t objects_fp,
                         uint64_t bytes_fp) {
  if (objects_fp)
    add(&stack->allocated.objects_fp, objects_fp);
  add(&stack->allocated.bytes_fp, bytes_fp);
  add(&stack->allocated.samples, samples);
}

void lw__record_flush_pending(lw_thread_state_t *t) {
  uint32_t pending = __atomic_load_n(&t->pending_stack, __ATOMIC_RELAXED);
  if (!pending)
    return;
  pending_write_begin(t);
  lw_stack_t *stack = lw__stacks_get(pending - 1);
  if (stack)
    add_to_stack(stack, t->pending_samples, t->pending_objects_fp, t->pending_bytes_fp);
  store_release(&t->pending_samples, 0);
  store_release(&t->pending_objects_fp, 0);
  store_release(&t->pending_bytes_fp, 0);
  __atomic_store_n(&t->pending_stack, 0, __ATOMIC_RELEASE);
  pending_write_end(t);
}

static void count_allocation(uint32_t id, uint64_t objects_fp, uint64_t bytes_fp) {
  lw_thread_state_t *t = &lw__thread;
#ifdef _WIN32
  bool batched = false;
#else
  bool batched = t->registered; /* unregistered threads are not seen by readers */
#endif
  if (!batched) {
    lw_stack_t *stack = lw__stacks_get(id);
    if (stack)
      add_to_stack(stack, 1, objects_fp, bytes_fp);
    return;
  }
  if (t->pending_stack != id + 1)
    lw__record_flush_pending(t);
  pending_write_begin(t);
  __atomic_store_n(&t->pending_stack, id + 1, __ATOMIC_RELEASE);
  store_release(&t->pending_samples, t->pending_samples + 1);
  store_release(&t->pending_objects_fp, t->pending_objects_fp + objects_fp);
  store_release(&t->pending_bytes_fp, t->pending_bytes_fp + bytes_fp);
  pending_write_end(t);
}

#ifndef _WIN32
static uint64_t load_acquire(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

/* A consistent copy of a thread's pending counts; false if none (or the owner kept
 * changing them: a running thread's counts are a moving target anyway). */
static bool read_pending(const lw_thread_state_t *t, uint32_t *stack_id,
                         lw_stack_allocated_t *counts) {
  for (int attempt = 0; attempt < 64; attempt++) {
    uint32_t before = __atomic_load_n(&t->pending_seq, __ATOMIC_ACQUIRE);
    if (before & 1)
      continue;
    uint32_t stack = __atomic_load_n(&t->pending_stack, __ATOMIC_ACQUIRE);
    counts->samples = load_acquire(&t->pending_samples);
    counts->objects_fp = load_acquire(&t->pending_objects_fp);
    counts->bytes_fp = load_acquire(&t->pending_bytes_fp);
    if (__atomic_load_n(&t->pending_seq, __ATOMIC_RELAXED) != before)
      continue;
    *stack_id = stack - 1;
    return stack != 0;
  }
  return false;
}
#endif

void lw__record_alloc(void *address, size_t size) {
  uint64_t frames[LW_MAX_DEPTH];
  bool truncated = false;
  int depth = lw__unwind_here(frames, lw__options.depth, 0, &truncated);
  uint32_t id = lw__record_intern_walk(frames, depth, truncated);
  /* Exact mode: every weight is 1, so objects = samples and that counter is skipped
   * (lw__stack_objects derives it). */
  if (lw__options.rate > 1) {
    uint64_t objects_fp, bytes_fp;
    lw__record_weights(size, &objects_fp, &bytes_fp);
    count_allocation(id, objects_fp, bytes_fp);
  } else {
    count_allocation(id, 0, (uint64_t)size * 256);
  }
  /* In use is what the live table holds; a full table drops the sample from it (counted),
   * so the allocation shows as allocated but not in use. */
  lw__live_insert((uint64_t)(uintptr_t)address, size, id, lw__now_ms());
}

bool lw__record_free(void *address) {
  lw_live_entry_t entry;
  bool busy;
  return lw__live_remove((uint64_t)(uintptr_t)address, &entry, true, &busy);
}

bool lw__record_free_nonblocking(void *address, bool *busy) {
  lw_live_entry_t entry;
  return lw__live_remove((uint64_t)(uintptr_t)address, &entry, false, busy);
}

/* Adds one live entry's weight to its stack's in-use counters. */
typedef struct {
  lw_stack_counters_t *counters;
  uint32_t count;
} inuse_sum_t;

static void add_inuse(const lw_live_entry_t *entry, void *context) {
  inuse_sum_t *sum = context;
  if (entry->stack_id >= sum->count)
    return; /* a stack interned after the reader took its count */
  lw_stack_counters_t *c = &sum->counters[entry->stack_id];
  uint64_t objects_fp, bytes_fp;
  lw__record_weights(entry->size, &objects_fp, &bytes_fp);
  c->inuse_samples++;
  c->inuse_objects_fp += objects_fp;
  c->inuse_bytes_fp += bytes_fp;
}

#ifndef _WIN32
static void add_thread_pending(const lw_thread_state_t *t, void *context) {
  inuse_sum_t *sum = context;
  uint32_t id;
  lw_stack_allocated_t counts;
  if (!read_pending(t, &id, &counts) || id >= sum->count)
    return;
  sum->counters[id].alloc_samples += counts.samples;
  sum->counters[id].alloc_objects_fp += counts.objects_fp;
  sum->counters[id].alloc_bytes_fp += counts.bytes_fp;
}
#endif

void lw__stack_counters_fill(lw_stack_counters_t *out, uint32_t count) {
  memset(out, 0, (count ? count : 1) * sizeof *out);
  for (uint32_t id = 0; id < count; id++) {
    const lw_stack_t *s = lw__stacks_get(id);
    if (!s)
      continue;
    out[id].alloc_samples = __atomic_load_n(&s->allocated.samples, __ATOMIC_RELAXED);
    out[id].alloc_objects_fp = __atomic_load_n(&s->allocated.objects_fp, __ATOMIC_RELAXED);
    out[id].alloc_bytes_fp = __atomic_load_n(&s->allocated.bytes_fp, __ATOMIC_RELAXED);
  }
  inuse_sum_t sum = {out, count};
#ifndef _WIN32
  lw__thread_for_each(add_thread_pending, &sum);
#endif
  lw__live_for_each(add_inuse, &sum);
}

lw_stack_counters_t *lw__stack_counters_read(uint32_t *count) {
  uint32_t n = lw__stacks_count();
  lw_stack_counters_t *counters = lw__arena_map((n ? n : 1) * sizeof *counters);
  if (!counters)
    return NULL;
  lw__stack_counters_fill(counters, n);
  *count = n;
  return counters;
}

void lw__stack_counters_free(lw_stack_counters_t *counters, uint32_t count) {
  lw__arena_unmap(counters, (count ? count : 1) * sizeof *counters);
}

#ifndef _WIN32
/* ---- window snapshots ------------------------------------------------------------------
 * A window (/debug/pprof/heap?seconds=N, heap-window) keeps every stack's counters from its
 * start until its end, for as long as an hour, at the request of any client that can reach
 * the HTTP port. So a snapshot is a reply in all but name: it comes from the reply memory
 * (lw__output_allocator: the budget's transient share, never the tables', and counted in
 * lw__reply_held) and is refused, like a reply, when it would take the replies past their
 * budget while others are held. A fork child drops it with the other replies. */

int lw__window_snapshot_take(lw_stack_counters_t **out, uint32_t *count) {
  uint32_t n = lw__stacks_count();
  size_t bytes = (size_t)(n ? n : 1) * sizeof(lw_stack_counters_t);
  uint64_t held = lw__reply_held(), budget = lw__reply_budget();
  if (held && held + bytes > budget)
    return -EBUSY; /* the caller's refusal counts it */
  lw_stack_counters_t *counters = lw_alloc(&lw__output_allocator, bytes);
  if (!counters)
    return -ENOMEM;
  lw__stack_counters_fill(counters, n);
  *out = counters;
  *count = n;
  return 0;
}

void lw__window_snapshot_release(lw_stack_counters_t *counters, uint32_t count) {
  lw_release(&lw__output_allocator, counters, (size_t)(count ? count : 1) * sizeof *counters);
}
#endif

/* Totals of in-use weights over the live table, without a per-stack array. */
static void add_inuse_total(const lw_live_entry_t *entry, void *context) {
  lw_estimate_totals_t *totals = context;
  uint64_t objects_fp, bytes_fp;
  lw__record_weights(entry->size, &objects_fp, &bytes_fp);
  totals->inuse_objects += objects_fp; /* fixed point until the end */
  totals->inuse_bytes += bytes_fp;
}

#ifndef _WIN32
static void add_pending_total(const lw_thread_state_t *t, void *context) {
  lw_estimate_totals_t *totals = context;
  uint32_t id;
  lw_stack_allocated_t counts;
  if (!read_pending(t, &id, &counts))
    return;
  totals->samples_total += counts.samples;
  totals->alloc_bytes += counts.bytes_fp / 256;
  const lw_stack_t *s = lw__stacks_get(id);
  if (s && s->truncated)
    totals->stacks_truncated += counts.samples;
}
#endif

void lw__record_totals(lw_estimate_totals_t *out) {
  lw_estimate_totals_t totals = {0, 0, 0, 0, 0};
  uint32_t count = lw__stacks_count();
  for (uint32_t id = 0; id < count; id++) {
    const lw_stack_t *s = lw__stacks_get(id);
    if (!s)
      continue;
    uint64_t samples = __atomic_load_n(&s->allocated.samples, __ATOMIC_RELAXED);
    totals.samples_total += samples;
    totals.alloc_bytes += __atomic_load_n(&s->allocated.bytes_fp, __ATOMIC_RELAXED) / 256;
    if (s->truncated)
      totals.stacks_truncated += samples;
  }
#ifndef _WIN32
  lw__thread_for_each(add_pending_total, &totals);
#endif
  lw__live_for_each(add_inuse_total, &totals);
  totals.inuse_objects /= 256;
  totals.inuse_bytes /= 256;
  *out = totals;
}

uint64_t lw__stack_objects(const lw_stack_counters_t *c, bool inuse) {
  if (lw__options.rate <= 1)
    return __atomic_load_n(inuse ? &c->inuse_samples : &c->alloc_samples, __ATOMIC_RELAXED);
  return __atomic_load_n(inuse ? &c->inuse_objects_fp : &c->alloc_objects_fp, __ATOMIC_RELAXED) /
         256;
}
