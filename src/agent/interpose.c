/*
 * interpose.c - the libc functions libleakwatch.so replaces: the malloc family,
 * pthread_create (to register threads) and dlclose (to remember unloaded libraries).
 *
 * This file is the hot path of every program the agent runs in. An unsampled malloc is:
 * count the call, subtract the size from the thread's countdown, and jump to the real
 * malloc. An unsampled free is: one byte of the free filter, count the call, jump. No lock,
 * no atomic read-modify-write, no call out of line. Everything else happens in the *_slow
 * functions, kept out of line so the fast paths stay small (docs/INTERNALS.md, "Hot path";
 * bench/ measures the instructions they add).
 *
 * Only this file defines exported libc names; it goes into libleakwatch.so and nowhere else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/agent_stack.h"

#define LW_SLOW __attribute__((noinline, cold))

/* Sanitizer builds of the agent (scripts/sanitize.sh builds one with ThreadSanitizer) run
 * instrumented agent code, which crashes on a thread the sanitizer's runtime has not set
 * up; yet the runtime itself allocates while it starts, and while it starts each new
 * thread (dlsym, pthread_getattr_np), and those calls land here. So there this file and
 * real.c are built uninstrumented, and the hooks only forward calls on a thread until the
 * runtime is done with it: the main thread from the agent's first constructor on (the
 * runtime, a dependency of libleakwatch.so, has started by then), other threads from the
 * moment their start routine runs. Normal builds have no gate. */
#ifdef LW_SANITIZER_GATE
static __thread bool hooks_open __attribute__((tls_model("initial-exec")));
__attribute__((constructor(101))) static void open_hooks(void) { hooks_open = true; }
#define HOOKS_OPEN() hooks_open
#define OPEN_HOOKS_ON_THIS_THREAD() (hooks_open = true)
#define CLOSE_HOOKS_ON_THIS_THREAD() (hooks_open = false)
#else
#define HOOKS_OPEN() true
#define OPEN_HOOKS_ON_THIS_THREAD() ((void)0)
#define CLOSE_HOOKS_ON_THIS_THREAD() ((void)0)
#endif

/* Frees that arrived while this thread was inside agent code holding a table lock (a signal
 * handler that frees): done now that the guard is down (lw__leave_agent, agent.h). */
LW_SLOW void lw__flush_deferred_frees(lw_thread_state_t *t) {
  while (t->n_deferred) {
    void *p = t->deferred_frees[--t->n_deferred];
    lw__guard_enter(t);
    lw__record_free(p);
    lw__guard_exit(t);
    lw__real.free(p);
  }
}

/* ---- allocation slow path, shared by every allocation function -------------------------- */

typedef enum {
  KIND_MALLOC,
  KIND_CALLOC,
  KIND_MEMALIGN,
  KIND_ALIGNED_ALLOC,
  KIND_POSIX_MEMALIGN,
  KIND_VALLOC,
  KIND_PVALLOC,
} alloc_kind_t;

/* Calls the real function; for posix_memalign *result carries its return code. */
static void *call_real(alloc_kind_t kind, size_t a, size_t b, int *result) {
  void *p = NULL;
  switch (kind) {
  case KIND_MALLOC: return lw__real.malloc(a);
  case KIND_CALLOC: return lw__real.calloc(a, b);
  case KIND_MEMALIGN: return lw__real.memalign(a, b);
  case KIND_ALIGNED_ALLOC: return lw__real.aligned_alloc(a, b);
  case KIND_POSIX_MEMALIGN:
    *result = lw__real.posix_memalign(&p, a, b);
    return *result == 0 ? p : NULL;
  case KIND_VALLOC: return lw__real.valloc(a);
  case KIND_PVALLOC: return lw__real.pvalloc(a);
  }
  return NULL;
}

/* The countdown went negative (or the thread is new): allocate, and sample if the agent is
 * ready. `size` is the requested size recorded in the profile. errno is what the real call
 * leaves: the agent's work before it (starting up) and after it (recording, a fork child's
 * first agent thread) may change errno, so it is put back around both. */
static LW_SLOW void *allocate_slow(alloc_kind_t kind, size_t a, size_t b, size_t size,
                                   int *result) {
  lw_thread_state_t *t = &lw__thread;
  if (t->guard || !HOOKS_OPEN())
    return call_real(kind, a, b, result); /* agent code (or a handler inside it) */
  int saved_errno = errno;
  lw__guard_enter(t);
  bool sample = lw__sampler_should_record(t, size);
  errno = saved_errno;
  void *p = call_real(kind, a, b, result);
  int real_errno = errno;
  if (p && sample)
    lw__record_alloc(p, size);
  lw__sampler_reset(t);
  lw__leave_agent(t);
  lw__agent_thread_maybe_start(); /* a fork child's own agent thread, once */
  errno = real_errno;
  return p;
}

/* The fast path of every allocation function: count, take the size off the countdown. */
#define ALLOCATION_FAST_PATH(kind, a, b, size, result)                         \
  lw_thread_state_t *t = &lw__thread;                                          \
  lw__count_call(&t->malloc_calls);                                            \
  if (LW_UNLIKELY((t->countdown -= (int64_t)(size)) < 0))                      \
    return allocate_slow((kind), (a), (b), (size), (result));

LW_EXPORT void *malloc(size_t size) {
  ALLOCATION_FAST_PATH(KIND_MALLOC, size, 0, size, NULL)
  return lw__real.malloc(size);
}

LW_EXPORT void *calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total))
    return lw__real.calloc(n, size); /* fails with ENOMEM; not an allocation */
  ALLOCATION_FAST_PATH(KIND_CALLOC, n, size, total, NULL)
  return lw__real.calloc(n, size);
}

LW_EXPORT void *memalign(size_t alignment, size_t size) {
  ALLOCATION_FAST_PATH(KIND_MEMALIGN, alignment, size, size, NULL)
  return lw__real.memalign(alignment, size);
}

LW_EXPORT void *aligned_alloc(size_t alignment, size_t size) {
  ALLOCATION_FAST_PATH(KIND_ALIGNED_ALLOC, alignment, size, size, NULL)
  return lw__real.aligned_alloc(alignment, size);
}

LW_EXPORT void *valloc(size_t size) {
  ALLOCATION_FAST_PATH(KIND_VALLOC, size, 0, size, NULL)
  return lw__real.valloc(size);
}

LW_EXPORT void *pvalloc(size_t size) {
  ALLOCATION_FAST_PATH(KIND_PVALLOC, size, 0, size, NULL)
  return lw__real.pvalloc(size);
}

LW_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) {
  lw_thread_state_t *t = &lw__thread;
  lw__count_call(&t->malloc_calls);
  if (LW_UNLIKELY((t->countdown -= (int64_t)size) < 0)) {
    int result = ENOMEM;
    void *p = allocate_slow(KIND_POSIX_MEMALIGN, alignment, size, size, &result);
    if (p)
      *out = p;
    return result;
  }
  return lw__real.posix_memalign(out, alignment, size);
}

/* ---- free --------------------------------------------------------------------------- */

static LW_SLOW void free_slow(void *p) {
  if (!p)
    return; /* free(NULL): nothing to do, nothing to count */
  lw_thread_state_t *t = &lw__thread;
  lw__count_call(&t->free_calls);
  if (lw__bootstrap_owns(p))
    return; /* served before the real allocator was known; never handed to it */
  if (HOOKS_OPEN() && __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY) {
    int saved_errno = errno; /* free never changes errno (POSIX.1-2024, glibc 2.33) */
    if (LW_LIKELY(!t->guard)) {
      lw__guard_enter(t);
      lw__record_free(p);
      lw__leave_agent(t);
    } else {
      /* Inside agent code on this thread: a signal handler freeing, or the agent itself.
       * Never wait for a lock this thread may hold; if it is taken, finish later. */
      bool busy = false;
      lw__record_free_nonblocking(p, &busy);
      if (busy && t->n_deferred < sizeof t->deferred_frees / sizeof t->deferred_frees[0]) {
        t->deferred_frees[t->n_deferred++] = p;
        errno = saved_errno;
        return; /* really freed when the guard drops, after the entry is gone */
      }
    }
    errno = saved_errno;
  }
  lw__real.free(p);
}

LW_EXPORT void free(void *p) {
  if (LW_UNLIKELY(*lw__filter_slot(p)))
    return free_slow(p);
  lw__count_call(&lw__thread.free_calls);
  lw__real.free(p);
}

/* ---- realloc ------------------------------------------------------------------------- */

/* An attached agent (libleakwatch-attach.so) in exact mode has seen every block allocated
 * since the attach: one it did not sample is older, and what realloc makes of it is not
 * counted either. At a sampling rate an old block cannot be told from an unsampled new
 * one, and realloc's result is sampled like any allocation (docs/INTERNALS.md, "Attach"). */
static inline bool from_before_attach(bool was_sampled) {
#ifdef LW_ATTACH
  return !was_sampled && lw__options.rate <= 1 && !lw__live_dropped();
#else
  (void)was_sampled;
  return false;
#endif
}

/* realloc counts as one allocation and one free when it succeeds; realloc(p, 0) that frees
 * (glibc) counts as a free only. A sampled old block is forgotten before the real call
 * (record before free) and restored if the call fails. */
static LW_SLOW void *realloc_slow(void *p, size_t size) {
  lw_thread_state_t *t = &lw__thread;
  if (lw__bootstrap_owns(p)) {
    void *fresh = malloc(size);
    if (fresh) {
      size_t old = lw__bootstrap_size(p);
      memcpy(fresh, p, old < size ? old : size);
      lw__count_call(&t->free_calls);
    }
    return fresh;
  }
  int saved_errno = errno;
  bool ready = !t->guard && HOOKS_OPEN() && lw__agent_ensure_ready(); /* may start it */
  if (!ready) {
    errno = saved_errno;
    void *q = lw__real.realloc(p, size);
    if (q) {
      lw__count_call(&t->malloc_calls);
      lw__count_call(&t->free_calls);
    } else if (size == 0) {
      lw__count_call(&t->free_calls);
    }
    return q;
  }
  lw__guard_enter(t);
  if (!t->registered)
    lw__thread_register();
  lw_live_entry_t old;
  bool busy;
  bool was_sampled = *lw__filter_slot(p) && lw__live_remove((uint64_t)(uintptr_t)p, &old, true, &busy);
  t->countdown -= (int64_t)size;
  errno = saved_errno;
  void *q = lw__real.realloc(p, size);
  int real_errno = errno;
  if (q) {
    lw__count_call(&t->malloc_calls);
    lw__count_call(&t->free_calls);
    if (t->countdown < 0) {
      if (!from_before_attach(was_sampled))
        lw__record_alloc(q, size);
      lw__sampler_reset(t);
    }
  } else if (size == 0) {
    lw__count_call(&t->free_calls); /* glibc freed p */
  } else if (was_sampled) {
    lw__live_insert(old.address, old.size, old.stack_id, old.time_ms); /* p is still live */
  }
  lw__leave_agent(t);
  errno = real_errno;
  return q;
}

LW_EXPORT void *realloc(void *p, size_t size) {
  if (!p)
    return malloc(size);
  lw_thread_state_t *t = &lw__thread;
  if (LW_LIKELY(size != 0 && !*lw__filter_slot(p) && (int64_t)size <= t->countdown)) {
    void *q = lw__real.realloc(p, size);
    if (LW_LIKELY(q != NULL)) {
      t->countdown -= (int64_t)size;
      lw__count_call(&t->malloc_calls);
      lw__count_call(&t->free_calls);
    }
    return q;
  }
  return realloc_slow(p, size);
}

LW_EXPORT void *reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, total);
}

LW_EXPORT size_t malloc_usable_size(void *p) {
  if (!p)
    return 0;
  if (lw__bootstrap_owns(p))
    return lw__bootstrap_size(p);
  return lw__real.malloc_usable_size ? lw__real.malloc_usable_size(p) : 0;
}

/* ---- threads ------------------------------------------------------------------------- */

typedef struct {
  void *(*start)(void *);
  void *argument;
  uint32_t created_stack; /* stack id + 1 of the pthread_create call */
} thread_start_t;

/* Registers the new thread before user code runs, so its counts are summed even if it
 * never allocates (a thread that only frees). */
static void *thread_trampoline(void *raw) {
  OPEN_HOOKS_ON_THIS_THREAD();
  thread_start_t start = *(thread_start_t *)raw;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  lw__real.free(raw);
  t->created_stack = start.created_stack;
  lw__thread_register();
  lw__sampler_reset(t);
  lw__leave_agent(t);
  errno = 0; /* as a new thread starts without the agent */
#ifdef LW_SANITIZER_GATE
  void *result = start.start(start.argument);
  CLOSE_HOOKS_ON_THIS_THREAD(); /* the runtime tears the thread down next */
  return result;
#else
  return start.start(start.argument);
#endif
}

LW_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                             void *(*start)(void *), void *argument) {
  lw_thread_state_t *t = &lw__thread;
  thread_start_t *record = NULL;
  uint32_t created_stack = 0;
  if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY && !t->guard) {
    int saved_errno = errno;
    lw__guard_enter(t);
    record = lw__real.malloc(sizeof *record); /* agent bookkeeping: untracked */
    if (record)
      created_stack = lw__record_current_stack() + 1; /* for the threadcreate profile */
    lw__leave_agent(t);
    errno = saved_errno;
  }
  if (!record)
    return lw__real.pthread_create(thread, attr, start, argument);
  record->start = start;
  record->argument = argument;
  record->created_stack = created_stack;
  int result = lw__real.pthread_create(thread, attr, thread_trampoline, record);
  if (result != 0)
    lw__real.free(record);
  return result;
}

/* ---- dlclose ------------------------------------------------------------------------- */

static void after_dlclose(void *unused) {
  (void)unused;
  lw__mappings_after_dlclose();
}

LW_EXPORT int dlclose(void *handle) {
  lw_thread_state_t *t = &lw__thread;
  bool track = __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY;
  if (!track)
    return lw__real.dlclose(handle);
  /* The bookkeeping reads /proc/self/maps and the loader's program headers: on the agent's
   * stack, as the caller may be a thread with a small one. */
  int saved_errno = errno;
  lw__guard_enter(t);
  lw__on_agent_stack(lw__mappings_before_dlclose, handle);
  lw__leave_agent(t);
  errno = saved_errno;
  int result = lw__real.dlclose(handle);
  int real_errno = errno;
  lw__guard_enter(t);
  lw__on_agent_stack(after_dlclose, NULL);
  lw__leave_agent(t);
  errno = real_errno;
  return result;
}
