/*
 * unwind_stack_bounds.c - the stacks of the calling thread, so the unwinder never faults.
 *
 * Role: tell the walker, for a stack pointer, up to which address it may read with plain
 * loads. Three stacks are known:
 *   - the main thread's: from __libc_stack_end (rounded up to its page) down by
 *     min(RLIMIT_STACK, 128 MiB). The kernel keeps other mappings at least 128 MiB below the
 *     stack top (mmap_base gap), so nothing else lies in that range.
 *   - a pthread's: the mapping (from /proc/self/maps) that holds its thread control block,
 *     which glibc places at the top of the thread's stack block. Read once per thread.
 *     pthread_getattr_np would be simpler but it allocates for every thread in glibc 2.36
 *     (a realloc'ed cpu_set_t, nptl/pthread_getattr_np.c) and takes the thread's lock, so
 *     the malloc hook cannot use it.
 *   - the sigaltstack the thread runs on (sigaltstack(2)), asked only when the sp is on
 *     neither of the above.
 * Anything else (makecontext fibers, foreign stacks) gives a "checked" region: each read
 * goes through process_vm_readv(2) on the own pid, which fails with EFAULT rather than
 * faulting.
 *
 * Never: calls malloc, stdio or anything that might (the maps file is read with raw
 * syscalls into a stack buffer), takes a lock, or leaves errno changed.
 * Pairs with unwind_stack_bounds.h.
 */
#define _GNU_SOURCE
#include "agent/unwind_stack_bounds.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Set by the dynamic linker (or by _start in a static binary) to the initial stack pointer,
 * the address of argc. Exported by ld.so under GLIBC_2.2.5. */
extern void *__libc_stack_end;

/* The kernel's minimum gap between the stack top and mmap_base (mm/util.c, MIN_GAP). */
#define LW_MAIN_STACK_MAX_BYTES ((uintptr_t)128 << 20)

/* The x86-64 System V red zone: 128 bytes below sp that the interrupted function may use
 * and that the kernel skips when it builds a signal frame. CFI of an epilogue interrupted
 * by a signal can point there ("rbp saved at CFA-16" right after `pop %rbp`), so a region
 * starts this far below the sp it was entered with. */
#define LW_RED_ZONE_BYTES 128

enum lw_thread_stack_state {
  LW_THREAD_STACK_UNKNOWN = 0, /* not looked up yet (TLS starts zeroed) */
  LW_THREAD_STACK_READY,       /* low/high describe this thread's stack */
  LW_THREAD_STACK_UNAVAILABLE, /* /proc unreadable or no suitable mapping: do not retry */
};

static struct {
  _Atomic uintptr_t main_low;  /* lowest address the main stack may grow to */
  _Atomic uintptr_t main_high; /* one past the page that holds __libc_stack_end */
} stack_bounds_state;

/* initial-exec in libleakwatch.so (the CMake flags): the agent is preloaded, so its TLS is
 * static and the first touch of this variable in a thread cannot allocate. In
 * libleakwatch-attach.so it is a TLS descriptor whose block the loader allocates on the
 * thread's first touch, with the real malloc (docs/INTERNALS.md, "Attach"). */
static __thread struct {
  uintptr_t low;
  uintptr_t high;
  int state;
} thread_stack;

bool lw__stack_bounds_init(void) {
  if (atomic_load_explicit(&stack_bounds_state.main_high, memory_order_acquire) != 0)
    return true;
  uintptr_t stack_end = (uintptr_t)__libc_stack_end;
  if (stack_end == 0)
    return false; /* static binary before _start ran: nothing is known yet, try again later */
  int saved_errno = errno;
  uintptr_t page = (uintptr_t)getpagesize();
  uintptr_t high = (stack_end & ~(page - 1)) + page;
  uintptr_t size = LW_MAIN_STACK_MAX_BYTES;
  struct rlimit limit;
  if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur < size)
    size = (uintptr_t)limit.rlim_cur;
  if (size > high)
    size = high;
  errno = saved_errno;
  /* Concurrent first calls compute the same values, so plain stores in any order are
   * fine; low is published before high, which readers test first. */
  atomic_store_explicit(&stack_bounds_state.main_low, high - size, memory_order_relaxed);
  atomic_store_explicit(&stack_bounds_state.main_high, high, memory_order_release);
  return true;
}

/* Streams /proc/self/maps through a small stack buffer and finds the readable mapping that
 * contains address. Lines are "start-end perms offset dev inode path"; only the first three
 * fields matter, and a line may span two reads, so this is a character state machine.
 * Returns 0, or -ENOENT when no readable mapping contains address, or a negative errno
 * from open/read. */
static int find_readable_mapping(uintptr_t address, uintptr_t *low /* out */,
                                 uintptr_t *high /* out */) {
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  enum { FIELD_START, FIELD_END, FIELD_PERMISSIONS, FIELD_REST } field = FIELD_START;
  uintptr_t start = 0, end = 0;
  bool readable = false;
  int result = -ENOENT;
  char buffer[512];
  for (;;) {
    long n = syscall(SYS_read, fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      result = -errno;
      break;
    }
    if (n == 0)
      break;
    for (long i = 0; i < n && result == -ENOENT; i++) {
      char c = buffer[i];
      int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      switch (field) {
      case FIELD_START:
        if (digit >= 0)
          start = start << 4 | (uintptr_t)digit;
        else
          field = c == '-' ? FIELD_END : FIELD_REST;
        break;
      case FIELD_END:
        if (digit >= 0)
          end = end << 4 | (uintptr_t)digit;
        else
          field = c == ' ' ? FIELD_PERMISSIONS : FIELD_REST;
        break;
      case FIELD_PERMISSIONS:
        readable = c == 'r';
        field = FIELD_REST;
        if (readable && address >= start && address < end) {
          *low = start;
          *high = end;
          result = 0;
        }
        break;
      case FIELD_REST: break;
      }
      if (c == '\n') {
        field = FIELD_START;
        start = end = 0;
        readable = false;
      }
    }
    if (result != -ENOENT)
      break;
  }
  syscall(SYS_close, fd);
  return result;
}

/* Looks up this thread's stack once. The anchor is the thread control block (what
 * pthread_self returns): for threads glibc creates, it sits at the top of the stack block,
 * with or without a user-supplied stack, so its mapping is the thread's stack and lives as
 * long as the thread. The main thread's control block lives elsewhere (allocated by ld.so),
 * so for the thread whose tid is the pid the mapping is accepted only if the current sp is
 * in it: that is the child of a fork() made from a secondary thread, still running on the
 * parent thread's stack. */
static void thread_stack_discover(uintptr_t sp) {
  int saved_errno = errno;
  uintptr_t anchor = (uintptr_t)pthread_self();
  bool pid_thread = syscall(SYS_gettid) == getpid();
  uintptr_t low = 0, high = 0;
  int found = find_readable_mapping(anchor, &low, &high);
  errno = saved_errno;
  if (found == 0 && (!pid_thread || (sp >= low && sp < high))) {
    thread_stack.low = low;
    thread_stack.high = high;
    thread_stack.state = LW_THREAD_STACK_READY;
  } else {
    thread_stack.state = LW_THREAD_STACK_UNAVAILABLE;
  }
}

/* The region's low end: the red zone below sp, but never below the stack's known bottom. */
static uintptr_t region_low(uintptr_t sp, uintptr_t stack_bottom) {
  uintptr_t low = sp >= LW_RED_ZONE_BYTES ? sp - LW_RED_ZONE_BYTES : 0;
  return low > stack_bottom ? low : stack_bottom;
}

void lw__stack_region_for(uintptr_t sp, lw_stack_region_t *region /* out */) {
  region->checked = false;

  uintptr_t main_high = atomic_load_explicit(&stack_bounds_state.main_high, memory_order_acquire);
  uintptr_t main_low = atomic_load_explicit(&stack_bounds_state.main_low, memory_order_relaxed);
  if (sp >= main_low && sp < main_high) {
    /* The main stack grows on demand; its red zone is mapped if the CFI refers to it,
     * since the function stored the saved register there. */
    region->high = main_high;
    lw__stack_region_set_low(region, region_low(sp, main_low));
    return;
  }

  if (thread_stack.state == LW_THREAD_STACK_UNKNOWN)
    thread_stack_discover(sp);
  if (thread_stack.state == LW_THREAD_STACK_READY && sp >= thread_stack.low &&
      sp < thread_stack.high) {
    region->high = thread_stack.high;
    lw__stack_region_set_low(region, region_low(sp, thread_stack.low));
    return;
  }

  /* A signal handler running on an alternate stack. The kernel refuses to change the
   * alternate stack while the thread runs on it, so the answer stays valid for this walk. */
  int saved_errno = errno;
  stack_t alternate;
  int status = sigaltstack(NULL, &alternate);
  errno = saved_errno;
  if (status == 0 && !(alternate.ss_flags & SS_DISABLE)) {
    uintptr_t alternate_low = (uintptr_t)alternate.ss_sp;
    uintptr_t alternate_high = alternate_low + alternate.ss_size;
    if (sp >= alternate_low && sp < alternate_high) {
      region->high = alternate_high;
      lw__stack_region_set_low(region, region_low(sp, alternate_low));
      return;
    }
  }

  region->high = UINTPTR_MAX;
  region->checked = true;
  lw__stack_region_set_low(region, region_low(sp, 0));
}

bool lw__stack_read_checked(uintptr_t address, uint64_t *value /* out */) {
  int saved_errno = errno;
  uint64_t word = 0;
  struct iovec local = {.iov_base = &word, .iov_len = sizeof word};
  struct iovec remote = {.iov_base = (void *)address, .iov_len = sizeof word};
  /* getpid() each time, not cached: after fork a cached pid would read the parent. */
  ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  errno = saved_errno;
  if (n != (ssize_t)sizeof word)
    return false;
  *value = word;
  return true;
}
