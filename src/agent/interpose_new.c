/*
 * interpose_new.c - the C++ operator new and delete family (plain and [], nothrow, aligned,
 * sized), so that C++ allocations are seen whichever allocator serves them: jemalloc and
 * tcmalloc define their own operators, which a C++ program then calls without ever reaching
 * malloc (preloaded after the agent, or linked in with -ljemalloc / -ltcmalloc).
 *
 * Each operator goes to its next definition (dlsym(RTLD_NEXT)), looked up on its first call,
 * and what that definition does decides what the agent does there (docs/INTERNALS.md,
 * "C++ operator new and delete"), found by calling it once or twice and watching:
 *  - one that reaches the agent's malloc or free (libstdc++'s, libc++'s, jemalloc's aligned
 *    new) is a layer over them, which already count the block: the operator only jumps to
 *    it, or the block would be counted twice;
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
#include <stdlib.h>
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

/* UNRESOLVED: not looked up yet (or nothing provides it yet). FORWARD: the next definition
 * is a layer over malloc/free; only jump. COUNT: it is the allocator itself; count here. */
enum { UNRESOLVED = 0, FORWARD = 1, COUNT = 2 };

typedef struct {
  void (*next)(void); /* cast to the operator's own type before the call */
  uint8_t mode;
} next_op_t;

static next_op_t next_ops[OP_COUNT];

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

/* The next definition of a resolved operator (mode not UNRESOLVED, so next is set). */
#define call_next_new(op, size, alignment, nothrow)                                            \
  call_new((op), next_ops[op].next, (size), (alignment), (nothrow))
#define call_next_delete(op, p, a, b, nothrow)                                                 \
  call_delete((op), next_ops[op].next, (p), (a), (b), (nothrow))

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

/* The next definition of op, or NULL. */
static void (*lookup_next(op_t op))(void) {
  void (*next)(void) = (void (*)(void))dlsym(RTLD_NEXT, op_symbols[op]);
  if (!next) {
    (void)dlerror(); /* leave no failed lookup of ours for the program's dlerror() */
    next = find_in_private_runtime(op_symbols[op]);
  }
  return next;
}

/* Whether the definition `f` of op reaches the agent's malloc family (new) or free (delete):
 * it is called, with the guard up, and the thread's malloc or free count watched, which every
 * interposed function increments first thing; a delete is given a block from its partner
 * new, a new's block goes to its partner delete. Twice, the second call deciding, in case the
 * allocator's first call allocates for its own set-up. The counters and the countdown are put
 * back after. The request is small: if even that throws bad_alloc, it does so in the
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

/* Looks up the next definition of op and decides what the agent does there: FORWARD if it
 * reaches the agent's malloc family, COUNT otherwise. Left UNRESOLVED when nothing defines
 * it (the next call tries again). */
static void resolve(op_t op) {
  int saved_errno = errno;
  lw_thread_state_t *t = &lw__thread;
  lw__guard_enter(t); /* what dlsym and the probe allocate is the agent's */
  void (*next)(void) = lookup_next(op);
  if (next) {
#ifdef LW_SANITIZER_GATE
    /* Sanitizer builds: the hooks may not run instrumented agent code on a thread the
     * runtime has not set up (interpose.c); these only forward. */
    uint8_t mode = FORWARD;
#else
    uint8_t mode = reaches_malloc(op, next) ? FORWARD : COUNT;
#endif
    if (op >= OP_DELETE) {
      void *libc_free = dlsym(RTLD_NEXT, "free");
      delete_frees_with_free[op] =
          libc_free && object_of((const void *)next) == object_of(libc_free);
    }
    __atomic_store_n(&next_ops[op].next, next, __ATOMIC_RELAXED);
    __atomic_store_n(&next_ops[op].mode, mode, __ATOMIC_RELEASE);
  }
  lw__guard_exit(t);
  errno = saved_errno;
}

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

/* Frees that arrived while this thread held a table lock were deferred (interpose.c); the
 * next exit from agent code on this thread does them, as interpose.c's leave_agent does. */
static LW_SLOW void flush_deferred_frees(lw_thread_state_t *t) {
  while (t->n_deferred) {
    void *p = t->deferred_frees[--t->n_deferred];
    lw__guard_enter(t);
    lw__record_free(p);
    lw__guard_exit(t);
    lw__real.free(p);
  }
}

static inline void leave_agent(lw_thread_state_t *t) {
  lw__guard_exit(t);
  if (LW_UNLIKELY(t->n_deferred) && t->guard == 0)
    flush_deferred_frees(t);
}

/* The countdown ran out under a counting operator new: decide, allocate, record. The guard
 * is down while the next new runs: it may run the program's new_handler, whose allocations
 * are the program's, or throw, which leaves nothing to undo. */
static LW_SLOW void *new_sampled(op_t op, size_t size, size_t alignment, const void *nothrow) {
  lw_thread_state_t *t = &lw__thread;
  if (t->guard)
    return call_next_new(op, size, alignment, nothrow); /* agent code, or a handler inside it */
  int saved_errno = errno;
  lw__guard_enter(t);
  bool sample = lw__sampler_should_record(t, size);
  lw__sampler_reset(t);
  leave_agent(t);
  errno = saved_errno;
  void *p = call_next_new(op, size, alignment, nothrow);
  int next_errno = errno;
  if (p && sample) {
    lw__guard_enter(t);
    lw__record_alloc(p, size);
    leave_agent(t);
  }
  lw__agent_thread_maybe_start(); /* a fork child's own agent thread, once */
  errno = next_errno;
  return p;
}

/* First call of an operator: look it up, then do what the fast path would have. */
static LW_SLOW void *new_unresolved(op_t op, size_t size, size_t alignment, const void *nothrow) {
  resolve(op);
  uint8_t mode = __atomic_load_n(&next_ops[op].mode, __ATOMIC_ACQUIRE);
  if (mode == UNRESOLVED)
    return fallback_new(op, size, alignment);
  if (mode == COUNT) {
    lw_thread_state_t *t = &lw__thread;
    t->malloc_calls++;
    if ((t->countdown -= (int64_t)size) < 0)
      return new_sampled(op, size, alignment, nothrow);
  }
  return call_next_new(op, size, alignment, nothrow);
}

/* A counting delete whose filter byte is set, or the first call of a delete. */
static LW_SLOW void delete_slow(op_t op, void *p, size_t a, size_t b, const void *nothrow) {
  if (__atomic_load_n(&next_ops[op].mode, __ATOMIC_ACQUIRE) == UNRESOLVED)
    resolve(op);
  uint8_t mode = __atomic_load_n(&next_ops[op].mode, __ATOMIC_ACQUIRE);
  if (mode == UNRESOLVED) {
    free(p); /* no C++ runtime at all: fallback_new's block, or any malloc'd one */
    return;
  }
  if (mode == FORWARD)
    return call_next_delete(op, p, a, b, nothrow);
  if (!p)
    return; /* delete of NULL: nothing to do, nothing to count (free(NULL) likewise) */
  lw_thread_state_t *t = &lw__thread;
  t->free_calls++;
  if (lw__bootstrap_owns(p))
    return; /* served before the real allocator was known; never handed to it */
  if (__atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY) {
    if (LW_LIKELY(!t->guard)) {
      int saved_errno = errno;
      lw__guard_enter(t);
      lw__record_free(p);
      leave_agent(t);
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
  call_next_delete(op, p, a, b, nothrow);
}

/* ---- the operators ------------------------------------------------------------------------ */

/* A forwarding operator is a load, a compare and the jump (libstdc++ behind: the common
 * case, tested first). A counting new is malloc's fast path (count, take the size off the
 * countdown) before the jump; a counting delete is free's (filter byte, count). */
#define NEW_BODY(op, size, alignment, nothrow)                                                 \
  uint8_t mode = __atomic_load_n(&next_ops[op].mode, __ATOMIC_ACQUIRE);                       \
  if (LW_LIKELY(mode == FORWARD))                                                              \
    return call_next_new((op), (size), (alignment), (nothrow));                                \
  if (LW_UNLIKELY(mode != COUNT))                                                              \
    return new_unresolved((op), (size), (alignment), (nothrow));                               \
  lw_thread_state_t *t = &lw__thread;                                                          \
  t->malloc_calls++;                                                                           \
  if (LW_UNLIKELY((t->countdown -= (int64_t)(size)) < 0))                                      \
    return new_sampled((op), (size), (alignment), (nothrow));                                  \
  return call_next_new((op), (size), (alignment), (nothrow));

#define DELETE_BODY(op, p, a, b, nothrow)                                                      \
  uint8_t mode = __atomic_load_n(&next_ops[op].mode, __ATOMIC_ACQUIRE);                       \
  if (LW_LIKELY(mode == FORWARD))                                                              \
    return call_next_delete((op), (p), (a), (b), (nothrow));                                   \
  if (LW_UNLIKELY(mode != COUNT || *lw__filter_slot(p)))                                       \
    return delete_slow((op), (p), (a), (b), (nothrow));                                        \
  lw__thread.free_calls++;                                                                     \
  call_next_delete((op), (p), (a), (b), (nothrow));

/* Prototypes for the mangled names (C has no header for them). */
LW_EXPORT void *_Znwm(size_t size);
LW_EXPORT void *_Znam(size_t size);
LW_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nothrow);
LW_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nothrow);
LW_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t alignment);
LW_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t alignment);
LW_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment,
                                                   const void *nothrow);
LW_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment,
                                                   const void *nothrow);
LW_EXPORT void _ZdlPv(void *p);
LW_EXPORT void _ZdaPv(void *p);
LW_EXPORT void _ZdlPvm(void *p, size_t size);
LW_EXPORT void _ZdaPvm(void *p, size_t size);
LW_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nothrow);
LW_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nothrow);
LW_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t alignment);
LW_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t alignment);
LW_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment);
LW_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment);
LW_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment,
                                                   const void *nothrow);
LW_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment,
                                                   const void *nothrow);

void *_Znwm(size_t size) { NEW_BODY(OP_NEW, size, 0, NULL) }
void *_Znam(size_t size) { NEW_BODY(OP_NEW_ARRAY, size, 0, NULL) }
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nothrow) {
  NEW_BODY(OP_NEW_NOTHROW, size, 0, nothrow)
}
void *_ZnamRKSt9nothrow_t(size_t size, const void *nothrow) {
  NEW_BODY(OP_NEW_ARRAY_NOTHROW, size, 0, nothrow)
}
void *_ZnwmSt11align_val_t(size_t size, size_t alignment) {
  NEW_BODY(OP_NEW_ALIGNED, size, alignment, NULL)
}
void *_ZnamSt11align_val_t(size_t size, size_t alignment) {
  NEW_BODY(OP_NEW_ARRAY_ALIGNED, size, alignment, NULL)
}
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *nothrow) {
  NEW_BODY(OP_NEW_ALIGNED_NOTHROW, size, alignment, nothrow)
}
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *nothrow) {
  NEW_BODY(OP_NEW_ARRAY_ALIGNED_NOTHROW, size, alignment, nothrow)
}

void _ZdlPv(void *p) { DELETE_BODY(OP_DELETE, p, 0, 0, NULL) }
void _ZdaPv(void *p) { DELETE_BODY(OP_DELETE_ARRAY, p, 0, 0, NULL) }
void _ZdlPvm(void *p, size_t size) { DELETE_BODY(OP_DELETE_SIZED, p, size, 0, NULL) }
void _ZdaPvm(void *p, size_t size) { DELETE_BODY(OP_DELETE_ARRAY_SIZED, p, size, 0, NULL) }
void _ZdlPvRKSt9nothrow_t(void *p, const void *nothrow) {
  DELETE_BODY(OP_DELETE_NOTHROW, p, 0, 0, nothrow)
}
void _ZdaPvRKSt9nothrow_t(void *p, const void *nothrow) {
  DELETE_BODY(OP_DELETE_ARRAY_NOTHROW, p, 0, 0, nothrow)
}
void _ZdlPvSt11align_val_t(void *p, size_t alignment) {
  DELETE_BODY(OP_DELETE_ALIGNED, p, alignment, 0, NULL)
}
void _ZdaPvSt11align_val_t(void *p, size_t alignment) {
  DELETE_BODY(OP_DELETE_ARRAY_ALIGNED, p, alignment, 0, NULL)
}
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment) {
  DELETE_BODY(OP_DELETE_SIZED_ALIGNED, p, size, alignment, NULL)
}
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment) {
  DELETE_BODY(OP_DELETE_ARRAY_SIZED_ALIGNED, p, size, alignment, NULL)
}
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const void *nothrow) {
  DELETE_BODY(OP_DELETE_ALIGNED_NOTHROW, p, alignment, 0, nothrow)
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const void *nothrow) {
  DELETE_BODY(OP_DELETE_ARRAY_ALIGNED_NOTHROW, p, alignment, 0, nothrow)
}
