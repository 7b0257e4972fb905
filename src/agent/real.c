/*
 * real.c - the real allocation functions behind the interposed ones, and the bootstrap arena
 * that serves allocations made before they are known.
 *
 * The real functions come from dlsym(RTLD_NEXT, ...): the next object in lookup order, so
 * `LD_PRELOAD="libleakwatch.so libjemalloc.so.2"` profiles jemalloc. dlsym itself may call
 * calloc, which arrives back here before malloc is known: such requests are served from a
 * small static arena, and free() recognises its blocks (lw__bootstrap_owns) and never passes
 * them to the real allocator.
 *
 * The descriptor functions interpose_fd.c wraps are resolved here too, right after the
 * allocation functions (real_fd.h says why), with fallbacks that make the system call.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/real_fd.h"
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
  /* free() and realloc() take their slow path, which knows the block, only when its free
   * filter byte is set: 255 stays set for good. */
  __atomic_store_n(lw__filter_slot(bootstrap_arena + start), (uint8_t)255, __ATOMIC_RELEASE);
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
/* A bootstrap block is copied into a new one (from the arena, or once resolved from the
 * real allocator), never handed to the real realloc. */
static void *boot_realloc(void *p, size_t size) {
  lw__real_resolve();
  if (resolving_now() || lw__bootstrap_owns(p)) {
    void *fresh = resolving_now() ? bootstrap_alloc(size, 16) : lw__real.malloc(size);
    if (fresh && p) {
      size_t old = lw__bootstrap_owns(p) ? lw__bootstrap_size(p) : 0;
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
  if (lw__bootstrap_owns(p))
    return lw__bootstrap_size(p);
  lw__real_resolve();
  return resolving_now() ? 0 : lw__real.malloc_usable_size(p);
}

/* pthread_create and dlclose can only be called before resolution from inside it (a dlsym
 * that another preloaded library interposes, which closes a handle): forward if resolution
 * is done, else leave the object loaded, or fail the thread's creation as glibc does when
 * it runs short. Never a call through NULL. */
static int boot_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                               void *(*start)(void *), void *argument) {
  lw__real_resolve();
  if (!resolving_now())
    return lw__real.pthread_create(thread, attr, start, argument);
  return EAGAIN;
}
static int boot_dlclose(void *handle) {
  lw__real_resolve();
  if (!resolving_now())
    return lw__real.dlclose(handle);
  return 0;
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
    .pthread_create = boot_pthread_create,
    .dlclose = boot_dlclose,
};

#ifdef LW_ATTACH
/* libleakwatch-attach.so is dlopened after start-up: RTLD_NEXT would search only its own
 * dependencies (libc's malloc, not a jemalloc the program links), and RTLD_DEFAULT ends with
 * the agent itself when the program does not define the name (operator new in a C program):
 * that answer is no definition. */
void *lw__real_lookup(const char *name) {
  void *f = dlsym(RTLD_DEFAULT, name);
  Dl_info found, self;
  if (f && dladdr(f, &found) && dladdr((const void *)lw__real_lookup, &self) &&
      found.dli_fbase == self.dli_fbase)
    return NULL;
  return f;
}
#else
void *lw__real_lookup(const char *name) { return dlsym(RTLD_NEXT, name); }
#endif

static void *lookup(const char *name, bool required) {
  void *f = lw__real_lookup(name);
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
  lw__real_fd_resolve();
}

/* ---- descriptor functions ---------------------------------------------------------------
 * Fallbacks: what the wrappers call before resolution, or when this libc lacks a function.
 * Each makes the system call the libc function would (errno set by syscall()). */

static mode_t mode_of(int flags, va_list args) {
  return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(args, int) : 0;
}
static int fallback_open(const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_of(flags, args);
  va_end(args);
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}
static int fallback_openat(int dir, const char *path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_of(flags, args);
  va_end(args);
  return (int)syscall(SYS_openat, dir, path, flags, mode);
}
static int fallback_open_2(const char *path, int flags) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0);
}
static int fallback_openat_2(int dir, const char *path, int flags) {
  return (int)syscall(SYS_openat, dir, path, flags, 0);
}
static int fallback_creat(const char *path, mode_t mode) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
static int fallback_socket(int domain, int type, int protocol) {
  return (int)syscall(SYS_socket, domain, type, protocol);
}
static int fallback_accept(int fd, struct sockaddr *address, socklen_t *len) {
  return (int)syscall(SYS_accept4, fd, address, len, 0);
}
static int fallback_accept4(int fd, struct sockaddr *address, socklen_t *len, int flags) {
  return (int)syscall(SYS_accept4, fd, address, len, flags);
}
static int fallback_socketpair(int domain, int type, int protocol, int fds[2]) {
  return (int)syscall(SYS_socketpair, domain, type, protocol, fds);
}
static int fallback_pipe(int fds[2]) { return (int)syscall(SYS_pipe2, fds, 0); }
static int fallback_pipe2(int fds[2], int flags) { return (int)syscall(SYS_pipe2, fds, flags); }
static int fallback_eventfd(unsigned int value, int flags) {
  return (int)syscall(SYS_eventfd2, value, flags);
}
static int fallback_timerfd_create(int clock, int flags) {
  return (int)syscall(SYS_timerfd_create, clock, flags);
}
static int fallback_epoll_create(int size) {
  if (size <= 0) {
    errno = EINVAL;
    return -1;
  }
  return (int)syscall(SYS_epoll_create1, 0);
}
static int fallback_epoll_create1(int flags) { return (int)syscall(SYS_epoll_create1, flags); }
static int fallback_signalfd(int fd, const sigset_t *mask, int flags) {
  return (int)syscall(SYS_signalfd4, fd, mask, (size_t)8 /* the kernel's sigset */, flags);
}
static int fallback_inotify_init(void) { return (int)syscall(SYS_inotify_init1, 0); }
static int fallback_inotify_init1(int flags) { return (int)syscall(SYS_inotify_init1, flags); }
static int fallback_memfd_create(const char *name, unsigned int flags) {
  return (int)syscall(SYS_memfd_create, name, flags);
}
static int fallback_dup(int fd) { return (int)syscall(SYS_dup, fd); }
static int fallback_dup2(int from, int to) {
  if (from == to) /* dup3 refuses this; dup2 checks `from` and returns it */
    return syscall(SYS_fcntl, from, F_GETFD) < 0 ? -1 : to;
  return (int)syscall(SYS_dup3, from, to, 0);
}
static int fallback_dup3(int from, int to, int flags) {
  return (int)syscall(SYS_dup3, from, to, flags);
}
static int fallback_fcntl(int fd, int cmd, ...) {
  va_list args;
  va_start(args, cmd);
  void *argument = va_arg(args, void *);
  va_end(args);
  return (int)syscall(SYS_fcntl, fd, cmd, argument);
}
static int fallback_close(int fd) { return (int)syscall(SYS_close, fd); }
/* A libc without close_range (glibc < 2.34): the system call, ENOSYS where the kernel lacks
 * it too, as glibc's own close_range answers there. */
static int fallback_close_range(unsigned int first, unsigned int last, int flags) {
#ifdef SYS_close_range
  return (int)syscall(SYS_close_range, first, last, flags);
#else
  (void)first, (void)last, (void)flags;
  errno = ENOSYS;
  return -1;
#endif
}
/* closefrom cannot fail: close_range if the kernel has it, else every descriptor up to the
 * limit, one by one. */
static void fallback_closefrom(int low) {
  if (low < 0)
    low = 0;
  int saved = errno;
#ifdef SYS_close_range
  if (syscall(SYS_close_range, (unsigned)low, ~0u, 0) == 0) {
    errno = saved;
    return;
  }
#endif
  struct rlimit limit;
  long max = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
                 ? (long)limit.rlim_cur
                 : 65536;
  for (long fd = low; fd < max; fd++)
    syscall(SYS_close, (int)fd);
  errno = saved;
}

/* The descriptor functions' own resolution state (lw__real_fd_resolve): it runs after
 * resolve_state says RESOLVED, so another thread may find the allocation functions known
 * and these not yet. The thread resolving them is remembered by id, as it may come back
 * here through dlsym and must not wait for itself. */
static int fd_resolve_state;
static int fd_resolving_thread;

/* stdio has no system call to fall back on: resolve now if nothing has yet, wait for a
 * resolution another thread is making, else fail as a libc without the function would.
 * Only reachable before start-up or inside it. */
static bool stdio_resolved(void) {
  lw__real_resolve();
  lw__real_fd_resolve();
  return __atomic_load_n(&fd_resolve_state, __ATOMIC_ACQUIRE) == RESOLVED;
}
static FILE *fallback_fopen(const char *path, const char *mode);
static FILE *fallback_fopen64(const char *path, const char *mode);
static FILE *fallback_freopen(const char *path, const char *mode, FILE *stream);
static FILE *fallback_freopen64(const char *path, const char *mode, FILE *stream);
static int fallback_fclose(FILE *stream);
#define STDIO_FALLBACK(name, params, args, failure)                                         \
  static __typeof__(failure) fallback_##name params {                                       \
    if (stdio_resolved()) {                                                                 \
      __typeof__(name) *f = __atomic_load_n(&lw__real_fd.name, __ATOMIC_RELAXED);           \
      if (f != fallback_##name)                                                             \
        return f args;                                                                      \
    }                                                                                       \
    errno = ENOSYS;                                                                         \
    return failure;                                                                         \
  }
STDIO_FALLBACK(fopen, (const char *path, const char *mode), (path, mode), (FILE *)NULL)
STDIO_FALLBACK(fopen64, (const char *path, const char *mode), (path, mode), (FILE *)NULL)
STDIO_FALLBACK(freopen, (const char *path, const char *mode, FILE *stream),
               (path, mode, stream), (FILE *)NULL)
STDIO_FALLBACK(freopen64, (const char *path, const char *mode, FILE *stream),
               (path, mode, stream), (FILE *)NULL)
STDIO_FALLBACK(fclose, (FILE * stream), (stream), EOF)

lw_real_fd_functions_t lw__real_fd = {
    .open = fallback_open,
    .open64 = fallback_open,
    .openat = fallback_openat,
    .openat64 = fallback_openat,
    .__open_2 = fallback_open_2,
    .__open64_2 = fallback_open_2,
    .__openat_2 = fallback_openat_2,
    .__openat64_2 = fallback_openat_2,
    .creat = fallback_creat,
    .creat64 = fallback_creat,
    .socket = fallback_socket,
    .accept = fallback_accept,
    .accept4 = fallback_accept4,
    .socketpair = fallback_socketpair,
    .pipe = fallback_pipe,
    .pipe2 = fallback_pipe2,
    .eventfd = fallback_eventfd,
    .timerfd_create = fallback_timerfd_create,
    .epoll_create = fallback_epoll_create,
    .epoll_create1 = fallback_epoll_create1,
    .signalfd = fallback_signalfd,
    .inotify_init = fallback_inotify_init,
    .inotify_init1 = fallback_inotify_init1,
    .memfd_create = fallback_memfd_create,
    .dup = fallback_dup,
    .dup2 = fallback_dup2,
    .dup3 = fallback_dup3,
    .fcntl = fallback_fcntl,
    .fcntl64 = fallback_fcntl,
    .close = fallback_close,
    .close_range = fallback_close_range,
    .closefrom = fallback_closefrom,
    .fopen = fallback_fopen,
    .fopen64 = fallback_fopen64,
    .freopen = fallback_freopen,
    .freopen64 = fallback_freopen64,
    .fclose = fallback_fclose,
};

/* A thread that finds another one resolving waits for it: some 40 lookups, microseconds,
 * unless a library's dlsym is slow; 2 s at most (a fork child inherits "resolving" from a
 * thread it does not have), after which stdio_resolved fails as before. */
static void wait_for_fd_resolution(void) {
  if (__atomic_load_n(&fd_resolving_thread, __ATOMIC_ACQUIRE) == (int)syscall(SYS_gettid))
    return; /* this thread, re-entered through a lookup */
  for (int round = 0; round < 2100; round++) {
    if (__atomic_load_n(&fd_resolve_state, __ATOMIC_ACQUIRE) == RESOLVED)
      return;
    if (round < 100) {
      syscall(SYS_sched_yield);
    } else {
      struct timespec nap = {0, 1000000};
      syscall(SYS_nanosleep, &nap, NULL);
    }
  }
}

void lw__real_fd_resolve(void) {
  int expected = UNRESOLVED;
  if (!__atomic_compare_exchange_n(&fd_resolve_state, &expected, RESOLVING, false,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    if (expected == RESOLVING)
      wait_for_fd_resolution();
    return;
  }
  __atomic_store_n(&fd_resolving_thread, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
#define LW_FD_RESOLVE(name)                                                                 \
  {                                                                                         \
    void *f_ = lw__real_lookup(#name);                                                      \
    if (f_)                                                                                 \
      __atomic_store_n(&lw__real_fd.name, (__typeof__(lw__real_fd.name))f_, __ATOMIC_RELAXED); \
  }
  LW_FD_FUNCTIONS(LW_FD_RESOLVE)
#undef LW_FD_RESOLVE
  __atomic_store_n(&fd_resolve_state, RESOLVED, __ATOMIC_RELEASE);
}
