/*
 * real.c - the real allocation functions behind the interposed ones, and the bootstrap arena
 * that serves allocations made before they are known.
 *
 * The real functions come from dlsym(RTLD_NEXT, ...): the next object in lookup order, so
 * `LD_PRELOAD="libleakwatch.so libjemalloc.so.2"` profiles jemalloc. dlsym itself may call
 * calloc, which arrives back here before malloc is known: such requests are served from a
 * small static arena, and free() recognises its blocks (lw__bootstrap_owns) and never passes
 * them to the real allocator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/fmt.h"

/* ---- bootstrap arena --------------------------------------------------------------------- */

enum { BOOTSTRAP_SIZE = 64 * 1024, BOOTSTRAP_HEADER = 16 };
static char bootstrap_arena[BOOTSTRAP_SIZE] __attribute__((aligned(4096)));
static size_t bootstrap_used;

bool lw__bootstrap_owns(const void *p) {
  return (const char *)p >= bootstrap_arena && (const char *)p < bootstrap_arena + BOOTSTRAP_SIZE;
}

size_t lw__bootstrap_size(const void *p) {
  return *(const size_t *)((const char *)p - BOOTSTRAP_HEADER);
}

/* Blocks are never reused: the arena only serves the few allocations dlsym makes. */
static void *bootstrap_alloc(size_t size, size_t alignment) {
  if (alignment < BOOTSTRAP_HEADER)
    alignment = BOOTSTRAP_HEADER;
  if (size > BOOTSTRAP_SIZE || alignment > 4096)
    return NULL;
  size_t old_used, start, end;
  do {
    old_used = __atomic_load_n(&bootstrap_used, __ATOMIC_RELAXED);
    start = (old_used + BOOTSTRAP_HEADER + alignment - 1) & ~(alignment - 1);
    end = start + ((size + 15) & ~(size_t)15);
    if (end > BOOTSTRAP_SIZE)
      return NULL;
  } while (!__atomic_compare_exchange_n(&bootstrap_used, &old_used, end, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  *(size_t *)(bootstrap_arena + start - BOOTSTRAP_HEADER) = size;
  return bootstrap_arena + start; /* static storage: already zeroed */
}

/* ---- resolution ------------------------------------------------------------------------ */

enum { UNRESOLVED, RESOLVING, RESOLVED };
static int resolve_state;

static bool resolving_now(void) {
  return __atomic_load_n(&resolve_state, __ATOMIC_ACQUIRE) != RESOLVED;
}

/* Bootstrap versions: resolve, then forward; while resolving, serve from the arena. */
static void *boot_malloc(size_t size) {
  lw__real_resolve();
  if (resolving_now())
    return bootstrap_alloc(size, 16);
  return lw__real.malloc(size);
}
static void boot_free(void *p) {
  if (lw__bootstrap_owns(p))
    return;
  lw__real_resolve();
  if (!resolving_now())
    lw__real.free(p);
}
static void *boot_calloc(size_t n, size_t size) {
  lw__real_resolve();
  if (resolving_now())
    return (size && n > SIZE_MAX / size) ? NULL : bootstrap_alloc(n * size, 16);
  return lw__real.calloc(n, size);
}
static void *boot_realloc(void *p, size_t size) {
  lw__real_resolve();
  if (resolving_now()) {
    void *fresh = bootstrap_alloc(size, 16);
    if (fresh && p) {
      size_t old = lw__bootstrap_size(p);
      memcpy(fresh, p, old < size ? old : size);
    }
    return fresh;
  }
  return lw__real.realloc(p, size);
}
static void *boot_memalign(size_t alignment, size_t size) {
  lw__real_resolve();
  if (resolving_now())
    return bootstrap_alloc(size, alignment);
  return lw__real.memalign(alignment, size);
}
static size_t boot_usable_size(void *p) {
  lw__real_resolve();
  return resolving_now() ? 0 : lw__real.malloc_usable_size(p);
}

/* Fallbacks for optional functions an allocator may lack. */
static void *fallback_reallocarray(void *p, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return lw__real.realloc(p, n * size);
}
static int fallback_posix_memalign(void **out, size_t alignment, size_t size) {
  void *p = lw__real.memalign(alignment, size);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
static void *fallback_aligned_alloc(size_t alignment, size_t size) {
  return lw__real.memalign(alignment, size);
}
static void *fallback_valloc(size_t size) {
  return lw__real.memalign((size_t)sysconf(_SC_PAGESIZE), size);
}
static void *fallback_pvalloc(size_t size) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return lw__real.memalign(page, (size + page - 1) & ~(page - 1));
}

lw_real_functions_t lw__real = {
    .malloc = boot_malloc,
    .free = boot_free,
    .calloc = boot_calloc,
    .realloc = boot_realloc,
    .reallocarray = fallback_reallocarray,
    .posix_memalign = fallback_posix_memalign,
    .aligned_alloc = fallback_aligned_alloc,
    .memalign = boot_memalign,
    .valloc = fallback_valloc,
    .pvalloc = fallback_pvalloc,
    .malloc_usable_size = boot_usable_size,
    .pthread_create = NULL,
    .dlclose = NULL,
};

static void *lookup(const char *name, bool required) {
  void *f = dlsym(RTLD_NEXT, name);
  if (!f && required) {
    /* Nothing after us provides malloc: there is no allocator to forward to. This cannot
     * happen with a dynamically linked libc; say why before the host fails. */
    lw_fdprintf(STDERR_FILENO, "leakwatch[%d]: no next definition of %s: cannot run\n",
                (int)getpid(), name);
    _exit(127);
  }
  return f;
}

#define RESOLVE(field, required)                                              \
  do {                                                                         \
    void *f_ = lookup(#field, (required));                                     \
    if (f_)                                                                    \
      resolved.field = (__typeof__(resolved.field))f_;                         \
  } while (0)

void lw__real_resolve(void) {
  int expected = UNRESOLVED;
  if (!__atomic_compare_exchange_n(&resolve_state, &expected, RESOLVING, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE))
    return; /* resolved, or being resolved (by this thread, re-entered through dlsym) */
  lw_real_functions_t resolved = lw__real;
  RESOLVE(malloc, true);
  RESOLVE(free, true);
  RESOLVE(calloc, true);
  RESOLVE(realloc, true);
  RESOLVE(memalign, true);
  RESOLVE(reallocarray, false);
  RESOLVE(posix_memalign, false);
  RESOLVE(aligned_alloc, false);
  RESOLVE(valloc, false);
  RESOLVE(pvalloc, false);
  RESOLVE(malloc_usable_size, false);
  RESOLVE(pthread_create, true);
  RESOLVE(dlclose, true);
  if (resolved.malloc_usable_size == boot_usable_size)
    resolved.malloc_usable_size = NULL;
  /* Publish field by field: racing threads see either the bootstrap or the real function,
   * and the bootstrap ones forward once resolve_state says RESOLVED. */
  __atomic_store_n(&lw__real.malloc_usable_size, resolved.malloc_usable_size, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.reallocarray, resolved.reallocarray, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.posix_memalign, resolved.posix_memalign, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.aligned_alloc, resolved.aligned_alloc, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.valloc, resolved.valloc, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.pvalloc, resolved.pvalloc, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.pthread_create, resolved.pthread_create, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.dlclose, resolved.dlclose, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.memalign, resolved.memalign, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.calloc, resolved.calloc, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.realloc, resolved.realloc, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.free, resolved.free, __ATOMIC_RELAXED);
  __atomic_store_n(&lw__real.malloc, resolved.malloc, __ATOMIC_RELAXED);
  __atomic_store_n(&resolve_state, RESOLVED, __ATOMIC_RELEASE);
}
