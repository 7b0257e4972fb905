/*
 * thread_state.c - per-thread counters and the registry that sums them.
 *
 * The malloc and free hooks count every call in the calling thread's own state (initial-exec
 * TLS: no allocation on first touch, one instruction to reach), with no lock and no atomic
 * read-modify-write. Readers (lw_stats, /metrics) walk the registry under its lock and read
 * each thread's fields with relaxed loads; a thread that exits folds its counts into
 * `retired` first. Lock order: registry_lock is a leaf (nothing is locked while holding it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/unwind_stack_bounds.h"

#ifndef LW_ATTACH /* libleakwatch-attach.so: in attach_thread_tls.c */
__thread lw_thread_state_t lw__thread __attribute__((tls_model("initial-exec")));
#endif

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static lw_thread_state_t *registry_head;
static lw_call_totals_t retired;   /* counts of threads that have exited */
static pthread_key_t exit_key;
static bool exit_key_ready;

static uint64_t load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* Moves a thread's counts into `retired` and zeroes them, and its pending allocation
 * counts into their stack, since readers stop looking at it; registry_lock held. */
static void fold_into_retired(lw_thread_state_t *t) {
  lw__record_flush_pending(t);
  retired.malloc_calls += load(&t->malloc_calls);
  retired.free_calls += load(&t->free_calls);
  retired.bytes_requested += lw__thread_bytes(t);
  t->malloc_calls = 0;
  t->free_calls = 0;
  t->bytes_base = 0;
  t->countdown_start = t->countdown;
}

static void unlink_thread(lw_thread_state_t *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    registry_head = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->next = t->prev = NULL;
  t->registered = 0;
}

/* exit_rounds of a thread whose last exit round has run: it never registers again. */
enum { EXIT_ROUNDS = 3, EXITED = 255 };

/* pthread key destructor: runs as the thread exits. Other destructors may still allocate
 * after ours, so we ask to be called again (glibc runs up to 4 rounds) and fold what they
 * counted each time, unlinking only in the last round. What the thread does after that
 * (a later round's destructor, glibc's own clean-up) is not counted: registering it again
 * would leave the registry pointing into its TLS once the thread is gone. */
static void thread_exiting(void *value) {
  lw_thread_state_t *t = value;
  if (t != &lw__thread)
    return;
  int saved_errno = errno;
  lw__guard_enter(t); /* the registry lock is held: no exit-time export may wait for it */
  pthread_mutex_lock(&registry_lock);
  fold_into_retired(t);
  t->exit_rounds++;
  bool last = t->exit_rounds >= EXIT_ROUNDS;
  if (last) {
    unlink_thread(t);
    t->exit_rounds = EXITED;
  }
  pthread_mutex_unlock(&registry_lock);
  if (!last)
    pthread_setspecific(exit_key, t);
  lw__guard_exit(t);
  errno = saved_errno;
}

void lw__thread_registry_init(void) {
  if (!exit_key_ready && pthread_key_create(&exit_key, thread_exiting) == 0)
    exit_key_ready = true;
}

void lw__thread_register(void) {
  lw_thread_state_t *t = &lw__thread;
  if (t->registered || t->exit_rounds == EXITED)
    return;
  t->tid = (pid_t)syscall(SYS_gettid);
  lw_stack_region_t region;
  lw__stack_region_for((uintptr_t)__builtin_frame_address(0), &region);
  t->stack_high = region.checked ? 0 : region.high;
  /* Seed from the tid and an address; any nonzero value works for xorshift. */
  t->random_state = ((uint64_t)t->tid << 32) ^ (uint64_t)(uintptr_t)t ^ 0x9E3779B97F4A7C15ULL;
  pthread_mutex_lock(&registry_lock);
  t->next = registry_head;
  t->prev = NULL;
  if (registry_head)
    registry_head->prev = t;
  registry_head = t;
  t->registered = 1;
  retired.threads_seen++;
  pthread_mutex_unlock(&registry_lock);
  if (exit_key_ready)
    pthread_setspecific(exit_key, t);
}

/* Bytes another thread has requested: its countdown-based count, read consistently with
 * lw__sampler_reset (bytes_seq). Should the owner be in the middle of a reset every time we
 * look, bytes_base alone, which never exceeds the truth, will do. */
static uint64_t thread_bytes(const lw_thread_state_t *t) {
  for (int tries = 0; tries < 100; tries++) {
    uint32_t seq = __atomic_load_n(&t->bytes_seq, __ATOMIC_ACQUIRE);
    /* Acquire loads (plain moves on x86-64) keep the second bytes_seq load after them,
     * as an acquire fence would; ThreadSanitizer rejects fences. */
    uint64_t base = __atomic_load_n(&t->bytes_base, __ATOMIC_ACQUIRE);
    int64_t start = __atomic_load_n(&t->countdown_start, __ATOMIC_ACQUIRE);
    int64_t left = __atomic_load_n(&t->countdown, __ATOMIC_ACQUIRE);
    if (!(seq & 1) && __atomic_load_n(&t->bytes_seq, __ATOMIC_RELAXED) == seq)
      return base + (start > left ? (uint64_t)(start - left) : 0);
  }
  return load(&t->bytes_base);
}

/* The totals are counters (Prometheus *_total): a reader must never see one go down. Each
 * thread's count only grows and an exiting thread's moves into `retired` under the lock,
 * yet a count read while its owner changes it can be briefly off; so every total reported
 * is at least the last one reported (readers are serialized by registry_lock). */
void lw__thread_totals(lw_call_totals_t *out) {
  static lw_call_totals_t reported;
  pthread_mutex_lock(&registry_lock);
  *out = retired;
  for (lw_thread_state_t *t = registry_head; t; t = t->next) {
    out->threads_live++;
    out->malloc_calls += load(&t->malloc_calls);
    out->free_calls += load(&t->free_calls);
    out->bytes_requested += thread_bytes(t);
  }
  if (out->malloc_calls < reported.malloc_calls)
    out->malloc_calls = reported.malloc_calls;
  if (out->free_calls < reported.free_calls)
    out->free_calls = reported.free_calls;
  if (out->bytes_requested < reported.bytes_requested)
    out->bytes_requested = reported.bytes_requested;
  reported = *out;
  pthread_mutex_unlock(&registry_lock);
}

void lw__thread_for_each(void (*fn)(const lw_thread_state_t *thread, void *context),
                         void *context) {
  pthread_mutex_lock(&registry_lock);
  for (lw_thread_state_t *t = registry_head; t; t = t->next)
    fn(t, context);
  pthread_mutex_unlock(&registry_lock);
}

void lw__thread_prefork(void) { pthread_mutex_lock(&registry_lock); }
void lw__thread_postfork_parent(void) { pthread_mutex_unlock(&registry_lock); }

/* In the child only the forking thread exists: the others' counts become history. Their
 * TLS blocks are still mapped (fork copied them), so reading them is safe. */
void lw__thread_postfork_child(void) {
  lw_thread_state_t *self = &lw__thread;
  lw_thread_state_t *t = registry_head;
  while (t) {
    lw_thread_state_t *next = t->next;
    if (t != self) {
      fold_into_retired(t);
      unlink_thread(t);
    }
    t = next;
  }
  self->tid = (pid_t)syscall(SYS_gettid);
  pthread_mutex_init(&registry_lock, NULL);
}
