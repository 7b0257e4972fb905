/*
 * interpose_new.c - the C++ operator new and delete family (plain and [], nothrow, aligned,
 * sized), so that C++ allocations are seen whichever allocator serves them: jemalloc and
 * tcmalloc define their own operators, which a C++ program then calls without ever reaching
 * malloc (preloaded after the agent, or linked in with -ljemalloc / -ltcmalloc).
 *
 * Each operator goes to its next definition (dlsym(RTLD_NEXT)), looked up when the agent's
 * constructor runs (or on the operator's first call, if that comes earlier, from another
 * library's constructor, or later, from a C++ runtime a dlopen brought), never first in a
 * signal handler or a fork child of a program linked with its runtime (SECURITY.md);
 * and what that definition does decides what the agent does there (docs/INTERNALS.md,
 * "C++ operator new and delete"), found by calling it once or twice and watching:
 *  - one that reaches the agent's malloc or free (libstdc++'s, libc++'s, jemalloc's aligned
 *    new) is a layer over them, which already count the block: the operator is then one
 *    jump to it (entries[], below), or the block would be counted twice;
 *  - one that does not (jemalloc's, tcmalloc's) serves the block itself: the agent counts
 *    here, as malloc and free do: new takes the size off the countdown, delete reads the free
 *    filter, and both jump to it.
 * Every path but a sampled new ends in a jump to the next definition, so no agent frame sits
 * between the program and an operator that runs the new_handler or throws bad_alloc; a
 * sampled new calls it and records after it returns (a throw unwinds through that one frame,
 * which has unwind tables and nothing to undo). The malloc and free fast paths are untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"

#define LW_SLOW __attribute__((noinline, cold))

typedef enum {
  OP_NEW,
  OP_NEW_ARRAY,
  OP_NEW_NOTHROW,
  OP_NEW_ARRAY_NOTHROW,
  OP_NEW_ALIGNED,
  OP_NEW_ARRAY_ALIGNED,
  OP_NEW_ALIGNED_NOTHROW,
  OP_NEW_ARRAY_ALIGNED_NOTHROW,
  OP_DELETE, /* the first delete: ops below are frees */
  OP_DELETE_ARRAY,
  OP_DELETE_SIZED,
  OP_DELETE_ARRAY_SIZED,
  OP_DELETE_NOTHROW,
  OP_DELETE_ARRAY_NOTHROW,
  OP_DELETE_ALIGNED,
  OP_DELETE_ARRAY_ALIGNED,
  OP_DELETE_SIZED_ALIGNED,
  OP_DELETE_ARRAY_SIZED_ALIGNED,
  OP_DELETE_ALIGNED_NOTHROW,
  OP_DELETE_ARRAY_ALIGNED_NOTHROW,
  OP_COUNT
} op_t;

static const char *const op_symbols[OP_COUNT] = {
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv",
    "_ZdaPv",
    "_ZdlPvm",
    "_ZdaPvm",
    "_ZdlPvRKSt9nothrow_t",
    "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t",
    "_ZdaPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t",
    "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t",
    "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

/* The C signatures of the C++ ones: std::align_val_t is a size_t, std::nothrow_t const& a
 * pointer. */
typedef void *(*new_fn)(size_t);
typedef void *(*new_nothrow_fn)(size_t, const void *);
typedef void *(*new_aligned_fn)(size_t, size_t);
typedef void *(*new_aligned_nothrow_fn)(size_t, size_t, const void *);
typedef void (*delete_fn)(void *);
typedef void (*delete_size_fn)(void *, size_t); /* sized, or aligned */
typedef void (*delete_nothrow_fn)(void *, const void *);
typedef void (*delete_sized_aligned_fn)(void *, size_t, size_t);
typedef void (*delete_aligned_nothrow_fn)(void *, size_t, const void *);

/* Each exported operator is one indirect jump through entries[op], which holds:
 *  - before the operator's first call, its first_* function, which looks the next
 *    definition up (resolve) and decides;
 *  - the next definition itself, when that reaches the agent's malloc or free (a layer over
 *    them, libstdc++'s), so forwarding costs the program one jump;
 *  - the agent's counting version (count_*), when the next definition serves the block
 *    itself (jemalloc's, tcmalloc's); it counts and jumps to next_definition[op]. */
static void (*entries[OP_COUNT])(void);
static void (*next_definition[OP_COUNT])(void); /* set once the operator is resolved */

/* The entry of a resolved operator, and its next definition, cast to the operator's type by
 * call_new and call_delete. */
#define ENTRY(op) __atomic_load_n(&entries[op], __ATOMIC_ACQUIRE)
#define NEXT(op) __atomic_load_n(&next_definition[op], __ATOMIC_ACQUIRE)

/* ---- calling a definition ---------------------------------------------------------------- */

/* Each is a tail call in every case. */
static inline void *call_new(op_t op, void (*f)(void), size_t size, size_t alignment,
                             const void *nothrow) {
  switch (op) {
  case OP_NEW:
  case OP_NEW_ARRAY: return ((new_fn)f)(size);
  case OP_NEW_NOTHROW:
  case OP_NEW_ARRAY_NOTHROW: return ((new_nothrow_fn)f)(size, nothrow);
  case OP_NEW_ALIGNED:
  case OP_NEW_ARRAY_ALIGNED: return ((new_aligned_fn)f)(size, alignment);
  default: return ((new_aligned_nothrow_fn)f)(size, alignment, nothrow);
  }
}

static inline void call_delete(op_t op, void (*f)(void), void *p, size_t a, size_t b,
                               const void *nothrow) {
  switch (op) {
  case OP_DELETE:
  case OP_DELETE_ARRAY: ((delete_fn)f)(p); return;
  case OP_DELETE_SIZED:
  case OP_DELETE_ARRAY_SIZED:
  case OP_DELETE_ALIGNED:
  case OP_DELETE_ARRAY_ALIGNED: ((delete_size_fn)f)(p, a); return;
  case OP_DELETE_NOTHROW:
  case OP_DELETE_ARRAY_NOTHROW: ((delete_nothrow_fn)f)(p, nothrow); return;
  case OP_DELETE_SIZED_ALIGNED:
  case OP_DELETE_ARRAY_SIZED_ALIGNED: ((delete_sized_aligned_fn)f)(p, a, b); return;
  default: ((delete_aligned_nothrow_fn)f)(p, a, nothrow); return;
  }
}

/* ---- finding the next definitions (once per operator, never on the fast paths) ------------ */

#ifndef LW_SANITIZER_GATE /* where the operators only forward (resolve, below) */
/* The partner that frees what a new allocates, and the new whose blocks a delete takes. */
static const op_t delete_for_new[OP_DELETE] = {
    OP_DELETE,         OP_DELETE_ARRAY,         OP_DELETE,         OP_DELETE_ARRAY,
    OP_DELETE_ALIGNED, OP_DELETE_ARRAY_ALIGNED, OP_DELETE_ALIGNED, OP_DELETE_ARRAY_ALIGNED,
};
static op_t new_for_delete(op_t op) {
  bool array = (op - OP_DELETE) % 2 == 1;
  bool aligned = op >= OP_DELETE_ALIGNED;
  return aligned ? (array ? OP_NEW_ARRAY_ALIGNED : OP_NEW_ALIGNED)
                 : (array ? OP_NEW_ARRAY : OP_NEW);
}
#endif

/* A C++ runtime loaded privately (a C program such as python3 dlopens an extension with
 * RTLD_LOCAL, and the extension brings libstdc++): its operators bind to the agent's, which
 * is in the global scope, yet RTLD_NEXT cannot see them. Such a runtime is found by name. */
static void (*find_in_private_runtime(const char *symbol))(void) {
  static const char *const runtimes[] = {"libstdc++.so.6", "libc++.so.1", "libc++abi.so.1"};
  lw__real_resolve();
  for (size_t i = 0; i < sizeof runtimes / sizeof runtimes[0]; i++) {
    void *handle = dlopen(runtimes[i], RTLD_LAZY | RTLD_NOLOAD);
    if (!handle)
      continue;
    void *f = dlsym(handle, symbol);
    lw__real.dlclose(handle); /* drops the reference NOLOAD took; never unloads it */
    if (f)
      return (void (*)(void))f;
  }
  return NULL;
}

/* Whether a runtime loaded privately may exist: not while the agent starts, when every
 * loaded object is in the global scope (and dlopen(RTLD_NOLOAD) of a name not loaded would
 * search the disk for it). */
static bool private_runtimes_possible;

/* The next definition of op, or NULL. */
static void (*lookup_next(op_t op))(void) {
  void (*next)(void) = (void (*)(void))lw__real_lookup(op_symbols[op]);
  if (!next) {
    (void)dlerror(); /* leave no failed lookup of ours for the program's dlerror() */
    if (__atomic_load_n(&private_runtimes_possible, __ATOMIC_ACQUIRE))
      next = find_in_private_runtime(op_symbols[op]);
  }
  return next;
}

/* Whether the definition `f` of op reaches the agent's malloc family (new) or free (delete):
 * it is called, with the guard up, and the thread's malloc or free count watched, which every
 * interposed function increments first thing; a delete is given a block from its partner
 * new, a new's block goes to its partner delete. Twice, the second call deciding, in case the
 * allocator's first call allocates for its own set-up. The counters and the countdown are put
 * back after; every signal is blocked meanwhile (one system call each way, once per
 * operator), so no handler's own calls are counted as the probe's or erased with them. The
 * request is small: if even that throws bad_alloc, it does so in the
 * program's own call to operator new, which would have thrown as well; the guard then stays
 * up and this thread samples no more. */
#ifndef LW_SANITIZER_GATE
static bool reaches_malloc(op_t op, void (*f)(void)) {
  static const char nothrow_tag; /* std::nothrow_t is empty: only its address is passed */
  enum { SIZE = 64, ALIGNMENT = 64 };
  lw_thread_state_t *t = &lw__thread;
  bool is_new = op < OP_DELETE;
  op_t new_op = is_new ? op : new_for_delete(op);
  op_t delete_op = is_new ? delete_for_new[op] : op;
  void (*new_f)(void) = is_new ? f : lookup_next(new_op);
  void (*delete_f)(void) = is_new ? lookup_next(delete_op) : f;
  if (!new_f || !delete_f)
    return true; /* cannot tell: only forward, as before the agent had operators */
  uint64_t all = ~(uint64_t)0, previous_mask;
  bool masked = syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &previous_mask, sizeof all) == 0;
  uint64_t malloc_calls = t->malloc_calls, free_calls = t->free_calls;
  int64_t countdown = t->countdown;
  bool reached = true;
  for (int round = 0; round < 2; round++) {
    uint64_t mallocs = t->malloc_calls;
    void *p = call_new(new_op, new_f, SIZE, ALIGNMENT, &nothrow_tag);
    if (!p)
      break;
    uint64_t frees = t->free_calls;
    call_delete(delete_op, delete_f, p, SIZE, ALIGNMENT, &nothrow_tag);
    reached = is_new ? t->malloc_calls != mallocs : t->free_calls != frees;
  }
  t->malloc_calls = malloc_calls;
  t->free_calls = free_calls;
  t->countdown = countdown;
  if (masked)
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &previous_mask, NULL, sizeof previous_mask);
  return reached;
}
#endif

/* The object a code address belongs to: glibc's lock-free lookup where it has one (dladdr
 * also searches the object's symbols for the nearest one, which costs more). */
static const void *object_of(const void *address) {
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 35)
  struct dl_find_object found;
  return _dl_find_object((void *)address, &found) == 0 ? found.dlfo_link_map : NULL;
#else
  Dl_info info;
  return dladdr(address, &info) ? info.dli_fbase : NULL;
#endif
}

/* Per delete: whether the next free() is this delete's allocator's (deferred frees, below). */
static bool delete_frees_with_free[OP_COUNT];

static void resolve(op_t op);

/* Nothing provides the operator (the mangled name called with no C++ runtime loaded at all):
 * serve it from the malloc family, which counts it; no new_handler and no bad_alloc without
 * a runtime, so a failing throwing new ends the program as an uncaught bad_alloc would. */
static LW_SLOW void *fallback_new(op_t op, size_t size, size_t alignment) {
  bool aligned = op >= OP_NEW_ALIGNED;
  bool nothrow = op == OP_NEW_NOTHROW || op == OP_NEW_ARRAY_NOTHROW ||
                 op == OP_NEW_ALIGNED_NOTHROW || op == OP_NEW_ARRAY_ALIGNED_NOTHROW;
  void *p = NULL;
  if (aligned) {
    if (posix_memalign(&p, alignment, size ? size : 1) != 0)
      p = NULL;
  } else {
    p = malloc(size ? size : 1);
  }
  if (!p && !nothrow) {
    lw__log("out of memory in operator new (%zu bytes) and no C++ runtime to throw: aborting",
            size);
    abort();
  }
  return p;
}

/* ---- slow paths ----------------------------------------------------------------------------- */

/* The countdown ran out under a counting operator new: decide, allocate, record. The guard
 * is down while the next new runs: it may run the program's new_handler, whose allocations
 * are the program's, or throw, which leaves nothing to undo. */
static LW_SLOW void *new_sampled(op_t op, size_t size, size_t alignment, const void *nothrow) {
  lw_thread_state_t *t = &lw__thread;
  if (t->guard)
    return call_new(op, NEXT(op), size, alignment, nothrow); /* agent code, or a handler inside it */
  int saved_errno = errno;
  lw__guard_enter(t);
  bool sample = lw__sampler_should_record(t, size);
  lw__sampler_reset(t);
  lw__leave_agent(t);
  errno = saved_errno;
  void *p = call_new(op, NEXT(op), size, alignment, nothrow);
  int next_errno = errno;
  if (p && sample) {
    lw__guard_enter(t);
    lw__record_alloc(p, size);
    lw__leave_agent(t);
  }
  lw__agent_thread_maybe_start(); /* a fork child's own agent thread, once */
  errno = next_errno;
  return p;
}

/* First call of an operator: look it up, then go where its entry now says. */
static LW_SLOW void *new_first(op_t op, size_t size, size_t alignment, const void *nothrow) {
  resolve(op);
  if (!NEXT(op))
    return fallback_new(op, size, alignment);
  return call_new(op, ENTRY(op), size, alignment, nothrow);
}

static LW_SLOW void delete_first(op_t op, void *p, size_t a, size_t b, const void *nothrow) {
  resolve(op);
  if (!NEXT(op)) {
    free(p); /* no C++ runtime at all: fallback_new's block, or any malloc'd one */
    return;
  }
  call_delete(op, ENTRY(op), p, a, b, nothrow);
}

/* A counting delete whose filter byte is set. */
static LW_SLOW void delete_slow(op_t op, void *p, size_t a, size_t b, const void *nothrow) {
  if (!p)
    return; /* delete of NULL: nothing to do, nothing to count (free(NULL) likewise) */
  lw_thread_state_t *t = &lw__thread;
  lw__count_call(&t->free_calls);
  if (lw__bootstrap_owns(p))
    return; /* served before the real allocator was known; never handed to it */
  if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY) {
    if (LW_LIKELY(!t->guard)) {
      int saved_errno = errno;
      lw__guard_enter(t);
      lw__record_free(p);
      lw__leave_agent(t);
      errno = saved_errno;
    } else {
      /* A signal handler deleting inside agent code: never wait for a lock this thread may
       * hold. A deferred block is freed later with the next free(), so only where that is
       * this delete's allocator (jemalloc, tcmalloc); elsewhere its entry stays, and the
       * block reads as still live. */
      bool busy = false;
      lw__record_free_nonblocking(p, &busy);
      if (busy && delete_frees_with_free[op] &&
          t->n_deferred < sizeof t->deferred_frees / sizeof t->deferred_frees[0]) {
        t->deferred_frees[t->n_deferred++] = p;
        return;
      }
    }
  }
  call_delete(op, NEXT(op), p, a, b, nothrow);
}

/* ---- the operators ------------------------------------------------------------------------ */

/* For each operator: its first_* and count_* versions, and the exported name, one jump
 * through its entry. A counting new is malloc's fast path (count, take the size off the
 * countdown) before the jump to the next new; a counting delete is free's (filter byte,
 * count). */
#define DEFINE_NEW(name, op, type, params, args, size, alignment, nothrow)                      \
  static LW_SLOW void *first##name params { return new_first(op, size, alignment, nothrow); } \
  __attribute__((unused)) static void *count##name params {                                                           \
    lw_thread_state_t *t = &lw__thread;                                                       \
    lw__count_call(&t->malloc_calls);                                                         \
    if (LW_UNLIKELY((t->countdown -= (int64_t)(size)) < 0))                                   \
      return new_sampled(op, size, alignment, nothrow);                                       \
    return ((type)NEXT(op))args;                                                              \
  }                                                                                           \
  LW_EXPORT void *name params;                                                                \
  void *name params { return ((type)ENTRY(op))args; }

#define DEFINE_DELETE(name, op, type, params, args, a, b, nothrow)                              \
  static LW_SLOW void first##name params { delete_first(op, p, a, b, nothrow); }             \
  __attribute__((unused)) static void count##name params {                                                            \
    if (LW_UNLIKELY(*lw__filter_slot(p)))                                                     \
      return delete_slow(op, p, a, b, nothrow);                                               \
    lw__count_call(&lw__thread.free_calls);                                                   \
    ((type)NEXT(op))args;                                                                     \
  }                                                                                           \
  LW_EXPORT void name params;                                                                 \
  void name params { ((type)ENTRY(op))args; }

#define SIZE_ONLY (size_t size)
#define SIZE_NOTHROW (size_t size, const void *nothrow)
#define SIZE_ALIGN (size_t size, size_t alignment)
#define SIZE_ALIGN_NOTHROW (size_t size, size_t alignment, const void *nothrow)
DEFINE_NEW(_Znwm, OP_NEW, new_fn, SIZE_ONLY, (size), size, 0, NULL)
DEFINE_NEW(_Znam, OP_NEW_ARRAY, new_fn, SIZE_ONLY, (size), size, 0, NULL)
DEFINE_NEW(_ZnwmRKSt9nothrow_t, OP_NEW_NOTHROW, new_nothrow_fn, SIZE_NOTHROW, (size, nothrow),
           size, 0, nothrow)
DEFINE_NEW(_ZnamRKSt9nothrow_t, OP_NEW_ARRAY_NOTHROW, new_nothrow_fn, SIZE_NOTHROW,
           (size, nothrow), size, 0, nothrow)
DEFINE_NEW(_ZnwmSt11align_val_t, OP_NEW_ALIGNED, new_aligned_fn, SIZE_ALIGN,
           (size, alignment), size, alignment, NULL)
DEFINE_NEW(_ZnamSt11align_val_t, OP_NEW_ARRAY_ALIGNED, new_aligned_fn, SIZE_ALIGN,
           (size, alignment), size, alignment, NULL)
DEFINE_NEW(_ZnwmSt11align_val_tRKSt9nothrow_t, OP_NEW_ALIGNED_NOTHROW, new_aligned_nothrow_fn,
           SIZE_ALIGN_NOTHROW, (size, alignment, nothrow), size, alignment, nothrow)
DEFINE_NEW(_ZnamSt11align_val_tRKSt9nothrow_t, OP_NEW_ARRAY_ALIGNED_NOTHROW,
           new_aligned_nothrow_fn, SIZE_ALIGN_NOTHROW, (size, alignment, nothrow), size,
           alignment, nothrow)

#define PTR_ONLY (void *p)
#define PTR_SIZE (void *p, size_t size)
#define PTR_NOTHROW (void *p, const void *nothrow)
#define PTR_ALIGN (void *p, size_t alignment)
#define PTR_SIZE_ALIGN (void *p, size_t size, size_t alignment)
#define PTR_ALIGN_NOTHROW (void *p, size_t alignment, const void *nothrow)
DEFINE_DELETE(_ZdlPv, OP_DELETE, delete_fn, PTR_ONLY, (p), 0, 0, NULL)
DEFINE_DELETE(_ZdaPv, OP_DELETE_ARRAY, delete_fn, PTR_ONLY, (p), 0, 0, NULL)
DEFINE_DELETE(_ZdlPvm, OP_DELETE_SIZED, delete_size_fn, PTR_SIZE, (p, size), size, 0, NULL)
DEFINE_DELETE(_ZdaPvm, OP_DELETE_ARRAY_SIZED, delete_size_fn, PTR_SIZE, (p, size), size, 0,
              NULL)
DEFINE_DELETE(_ZdlPvRKSt9nothrow_t, OP_DELETE_NOTHROW, delete_nothrow_fn, PTR_NOTHROW,
              (p, nothrow), 0, 0, nothrow)
DEFINE_DELETE(_ZdaPvRKSt9nothrow_t, OP_DELETE_ARRAY_NOTHROW, delete_nothrow_fn, PTR_NOTHROW,
              (p, nothrow), 0, 0, nothrow)
DEFINE_DELETE(_ZdlPvSt11align_val_t, OP_DELETE_ALIGNED, delete_size_fn, PTR_ALIGN,
              (p, alignment), alignment, 0, NULL)
DEFINE_DELETE(_ZdaPvSt11align_val_t, OP_DELETE_ARRAY_ALIGNED, delete_size_fn, PTR_ALIGN,
              (p, alignment), alignment, 0, NULL)
DEFINE_DELETE(_ZdlPvmSt11align_val_t, OP_DELETE_SIZED_ALIGNED, delete_sized_aligned_fn,
              PTR_SIZE_ALIGN, (p, size, alignment), size, alignment, NULL)
DEFINE_DELETE(_ZdaPvmSt11align_val_t, OP_DELETE_ARRAY_SIZED_ALIGNED, delete_sized_aligned_fn,
              PTR_SIZE_ALIGN, (p, size, alignment), size, alignment, NULL)
DEFINE_DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, OP_DELETE_ALIGNED_NOTHROW,
              delete_aligned_nothrow_fn, PTR_ALIGN_NOTHROW, (p, alignment, nothrow), alignment,
              0, nothrow)
DEFINE_DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, OP_DELETE_ARRAY_ALIGNED_NOTHROW,
              delete_aligned_nothrow_fn, PTR_ALIGN_NOTHROW, (p, alignment, nothrow), alignment,
              0, nothrow)

/* Every operator's name and op, for the tables below. */
#define OPERATORS(X)                                                                            \
  X(_Znwm, OP_NEW)                                                                              \
  X(_Znam, OP_NEW_ARRAY)                                                                        \
  X(_ZnwmRKSt9nothrow_t, OP_NEW_NOTHROW)                                                        \
  X(_ZnamRKSt9nothrow_t, OP_NEW_ARRAY_NOTHROW)                                                  \
  X(_ZnwmSt11align_val_t, OP_NEW_ALIGNED)                                                        \
  X(_ZnamSt11align_val_t, OP_NEW_ARRAY_ALIGNED)                                                  \
  X(_ZnwmSt11align_val_tRKSt9nothrow_t, OP_NEW_ALIGNED_NOTHROW)                                  \
  X(_ZnamSt11align_val_tRKSt9nothrow_t, OP_NEW_ARRAY_ALIGNED_NOTHROW)                            \
  X(_ZdlPv, OP_DELETE)                                                                          \
  X(_ZdaPv, OP_DELETE_ARRAY)                                                                    \
  X(_ZdlPvm, OP_DELETE_SIZED)                                                                   \
  X(_ZdaPvm, OP_DELETE_ARRAY_SIZED)                                                             \
  X(_ZdlPvRKSt9nothrow_t, OP_DELETE_NOTHROW)                                                    \
  X(_ZdaPvRKSt9nothrow_t, OP_DELETE_ARRAY_NOTHROW)                                              \
  X(_ZdlPvSt11align_val_t, OP_DELETE_ALIGNED)                                                   \
  X(_ZdaPvSt11align_val_t, OP_DELETE_ARRAY_ALIGNED)                                             \
  X(_ZdlPvmSt11align_val_t, OP_DELETE_SIZED_ALIGNED)                                            \
  X(_ZdaPvmSt11align_val_t, OP_DELETE_ARRAY_SIZED_ALIGNED)                                      \
  X(_ZdlPvSt11align_val_tRKSt9nothrow_t, OP_DELETE_ALIGNED_NOTHROW)                             \
  X(_ZdaPvSt11align_val_tRKSt9nothrow_t, OP_DELETE_ARRAY_ALIGNED_NOTHROW)

#define FIRST_ENTRY(name, op) [op] = (void (*)(void))first##name,
#define COUNT_ENTRY(name, op) [op] = (void (*)(void))count##name,
static void (*entries[OP_COUNT])(void) = {OPERATORS(FIRST_ENTRY)};
#ifndef LW_SANITIZER_GATE
static void (*const counting[OP_COUNT])(void) = {OPERATORS(COUNT_ENTRY)};
#endif

/* ---- deciding, once per operator ---------------------------------------------------------- */

/* Looks up the next definition of op and points its entry at it (it reaches the agent's
 * malloc family) or at the agent's counting version (it does not). Leaves the entry alone
 * when nothing defines the operator: the next call tries again. */
static void resolve(op_t op) {
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t); /* what dlsym and the probe allocate is the agent's */
  void (*found)(void) = lookup_next(op);
  if (found) {
#ifdef LW_SANITIZER_GATE
    /* Sanitizer builds: the hooks may not run instrumented agent code on a thread the
     * runtime has not set up (interpose.c); these only forward. */
    void (*entry)(void) = found;
#else
    void (*entry)(void) = reaches_malloc(op, found) ? found : counting[op];
#endif
    if (op >= OP_DELETE) {
      void *libc_free = lw__real_lookup("free");
      delete_frees_with_free[op] =
          libc_free && object_of((const void *)found) == object_of(libc_free);
    }
    __atomic_store_n(&next_definition[op], found, __ATOMIC_RELEASE);
    __atomic_store_n(&entries[op], entry, __ATOMIC_RELEASE);
  }
  lw__guard_exit(t);
  errno = saved_errno;
}

#ifndef LW_ATTACH
/* Every operator the program's C++ runtime defines, looked up and probed when the agent's
 * constructor runs: the libraries are loaded, main is next, and no signal handler or fork
 * child will be the first to do it. A program without a C++ runtime in the global scope
 * gets no lookups at all here (one failed dlsym); a runtime that a dlopen brings later
 * is looked up on each operator's first call. libleakwatch-attach.so resolves on first call
 * (attach.c starts it, not a constructor). */
__attribute__((constructor)) static void resolve_operators_at_start(void) {
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t);
  lw__real_resolve();
  bool runtime = lw__real_lookup(op_symbols[OP_NEW]) != NULL;
  if (!runtime)
    (void)dlerror();
  lw__guard_exit(t);
  for (int op = 0; runtime && op < OP_COUNT; op++)
    if (!NEXT(op))
      resolve((op_t)op);
  __atomic_store_n(&private_runtimes_possible, true, __ATOMIC_RELEASE);
  errno = saved_errno;
}
#else
__attribute__((constructor)) static void resolve_operators_at_start(void) {
  __atomic_store_n(&private_runtimes_possible, true, __ATOMIC_RELEASE);
}
#endif
