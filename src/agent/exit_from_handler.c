/*
 * exit_from_handler.c - whether exit() was called from a signal handler, and whether that
 * handler interrupted the real allocator on this thread.
 *
 * A handler that calls exit() while its thread is inside malloc leaves the allocator's lock
 * held below it, and any allocation during the exit work (a failed dlsym, __cxa_demangle)
 * would wait for it forever. init.c asks lw__exit_context() before writing the exit
 * profile: it writes nothing when the allocator was interrupted, and never demangles after
 * exit from a handler. Locks are held across system calls too (mmap in sysmalloc, brk, the
 * futex wait for a second lock), so what counts is every interrupted frame, not the interrupted
 * instruction: the agent's own CFI unwinder walks from here through the signal frame into
 * the interrupted code, and any frame inside the allocator's code refuses.
 *
 * Runs inside the host at exit: no malloc, no stdio; the entry points are looked up at
 * start-up, their extents at exit (dladdr1: the loader's recursive lock, no allocation),
 * and the walk reads only checked stack memory. x86-64 only (the kernel's
 * signal frame layout); elsewhere exit is never taken for one from a handler.
 * Pairs with init.c (lw__exit_outputs_write) and unwind.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/agent_stack.h"
#include "agent/unwind.h"
#include "agent/unwind_cfi.h"
#include "agent/unwind_stack_bounds.h"

/* ---- the allocator's entry points (start-up) -------------------------------------------- */

/* The allocator's entry points, looked up at start-up: dlsym may allocate when a lookup
 * fails, which exit must never do. Their extents (dladdr1, which searches every symbol of
 * the object: some 8 us each) are only worked out at exit, and only after a handler. */
enum { MAX_ENTRIES = 24 };
static const void *allocator_entries[MAX_ENTRIES];
static int n_allocator_entries;
static const void *fork_entry;

void lw__allocator_code_init(void) {
  static const char *const names[] = {"malloc_trim", "mallopt",      "mallinfo",
                                      "mallinfo2",   "malloc_stats", "malloc_info"};
  const void *entries[MAX_ENTRIES] = {
      (const void *)lw__real.malloc,        (const void *)lw__real.free,
      (const void *)lw__real.calloc,        (const void *)lw__real.realloc,
      (const void *)lw__real.memalign,      (const void *)lw__real.posix_memalign,
      (const void *)lw__real.aligned_alloc, (const void *)lw__real.valloc,
      (const void *)lw__real.pvalloc,       (const void *)lw__real.reallocarray,
      (const void *)lw__real.malloc_usable_size,
  };
  int n = 11;
  for (size_t i = 0; i < sizeof names / sizeof names[0] && n < MAX_ENTRIES; i++)
    entries[n++] = lw__real_lookup(names[i]);
  fork_entry = lw__real_lookup("fork");
  (void)dlerror(); /* a name this allocator lacks leaves nothing for the program's dlerror */
  for (int i = 0; i < n; i++)
    allocator_entries[i] = entries[i];
  __atomic_store_n(&n_allocator_entries, n, __ATOMIC_RELEASE);
}

#if defined(__x86_64__)
/* ---- where the allocator's code lies (exit, after a handler) ------------------------------- */

enum { MAX_RANGES = 32 };
static struct {
  uintptr_t start[MAX_RANGES];
  uintptr_t end[MAX_RANGES];
  int n;
} allocator_code;

static void add_range(uintptr_t start, uintptr_t end) {
  if (allocator_code.n < MAX_RANGES && start < end) {
    allocator_code.start[allocator_code.n] = start;
    allocator_code.end[allocator_code.n] = end;
    allocator_code.n++;
  }
}

static bool in_allocator_code(uintptr_t pc) {
  for (int i = 0; i < allocator_code.n; i++)
    if (pc >= allocator_code.start[i] && pc < allocator_code.end[i])
      return true;
  return false;
}

/* The function containing `address`: its symbol's start and size. */
static bool function_at(const void *address, Dl_info *info, uintptr_t *start, uintptr_t *end) {
  const ElfW(Sym) *symbol = NULL;
  if (!address || !dladdr1(address, info, (void **)&symbol, RTLD_DL_SYMENT) || !symbol ||
      !info->dli_saddr)
    return false;
  *start = (uintptr_t)info->dli_saddr;
  *end = *start + (symbol->st_size ? symbol->st_size : 1);
  return *end > (uintptr_t)address;
}

/* A library that is nothing but an allocator (jemalloc, tcmalloc): all its code counts.
 * In the C library (or a program with the allocator linked in) only the allocator's own
 * functions do, and what lies between them: glibc's malloc.c is one object file whose
 * exported entries (malloc ... malloc_info, 7 KiB) enclose the static functions an entry
 * jumps to without a frame of its own (memalign, valloc and aligned_alloc end in a jump to
 * _mid_memalign, which takes the arena lock); the helpers that run below an entry's frame
 * (_int_malloc, sysmalloc) need no range, the entry's frame is found above them. fork
 * holds every arena lock between its prepare and parent handlers: its own range. */
static void find_allocator_code(void) {
  int n = __atomic_load_n(&n_allocator_entries, __ATOMIC_ACQUIRE);
  allocator_code.n = 0;
  Dl_info self, in_malloc, in_libc, in_program;
  uintptr_t malloc_start, malloc_end;
  if (!n || !dladdr((const void *)find_allocator_code, &self) ||
      !function_at(allocator_entries[0], &in_malloc, &malloc_start, &malloc_end) ||
      in_malloc.dli_fbase == self.dli_fbase)
    return;
  bool libc = dladdr((const void *)getpid, &in_libc) && in_libc.dli_fbase == in_malloc.dli_fbase;
  const void *program_header = (const void *)getauxval(AT_PHDR);
  bool program = program_header && dladdr(program_header, &in_program) &&
                 in_program.dli_fbase == in_malloc.dli_fbase;
  lw_cfi_object_t object;
  bool whole = !libc && !program && lw__cfi_find_object(malloc_start, &object) == 0;
  if (whole)
    add_range(object.map_start, object.map_end);
  uintptr_t low = malloc_start, high = malloc_end;
  for (int i = 1; i < n; i++) {
    Dl_info info;
    uintptr_t start, end;
    if (!function_at(allocator_entries[i], &info, &start, &end) || info.dli_fbase == self.dli_fbase)
      continue; /* the agent's own fallbacks */
    if (whole && info.dli_fbase == in_malloc.dli_fbase)
      continue;
    if (info.dli_fbase == in_malloc.dli_fbase && start + (1u << 20) > malloc_start &&
        start < malloc_start + (1u << 20)) {
      low = start < low ? start : low;
      high = end > high ? end : high;
    } else {
      add_range(start, end); /* far from malloc (reallocarray elsewhere): itself only */
    }
  }
  if (!whole)
    add_range(low, high);
  Dl_info info;
  uintptr_t start, end;
  if (function_at(fork_entry, &info, &start, &end))
    add_range(start, end);
}

/* ---- what the handler interrupted (exit) --------------------------------------------------- */

/* The distinct restorers of the installed handlers, from the kernel (no libc lock): the
 * return address of every handler's frame. */
static int signal_restorers(uintptr_t *out, int max) {
  struct {
    uintptr_t handler;
    unsigned long flags;
    uintptr_t restorer;
    uint64_t mask;
  } action;
  int n = 0;
  for (int sig = 1; sig <= 64 && n < max; sig++) {
    if (syscall(SYS_rt_sigaction, sig, NULL, &action, sizeof action.mask) != 0)
      continue;
    if (action.handler <= 1 || !(action.flags & 0x04000000 /* SA_RESTORER */) ||
        !action.restorer)
      continue; /* SIG_DFL, SIG_IGN */
    bool known = false;
    for (int i = 0; i < n; i++)
      known |= out[i] == action.restorer;
    if (!known)
      out[n++] = action.restorer;
  }
  return n;
}

static bool is_restorer(uint64_t pc, const uintptr_t *restorers, int n) {
  for (int i = 0; i < n; i++)
    if (pc == restorers[i] || pc + 1 == restorers[i]) /* exact, or as a call site */
      return true;
  return false;
}

static bool read_word(const lw_stack_region_t *region, uintptr_t address, uint64_t *value) {
  return region->checked ? lw__stack_read_checked(address, value)
                         : lw__stack_read(region, address, value);
}

/* When the walk met no signal frame (a handler without unwind tables ends it early, as if
 * outermost): the kernel's frame found on the stack by its return address, the restorer,
 * then the ucontext of the interrupted code. Only the interrupted instruction is known
 * then; the exit's work allocates nothing after a handler, so a lock below it is no
 * danger, only the promise to write nothing is kept less often. */
static lw_exit_context_t scan_for_signal_frame(const uintptr_t *restorers, int n) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  lw_stack_region_t region;
  lw__stack_region_for(sp, &region);
  lw__stack_region_set_low(&region, sp);
  uintptr_t limit = region.checked ? sp + 16384 : sp + (1u << 20);
  if (!region.checked && region.high < limit)
    limit = region.high;
  for (uintptr_t at = sp; at + 8 <= limit; at += 8) {
    uint64_t word;
    if (!read_word(&region, at, &word))
      break;
    bool restorer = false;
    for (int i = 0; i < n; i++)
      restorer |= word == restorers[i];
    if (!restorer)
      continue;
    /* A program's own copy of a struct sigaction (which holds the restorer too) is not
     * followed by a signal frame: check the FPU state pointer, and that the interrupted
     * stack pointer lies just above the frame (unless on a sigaltstack). */
    uintptr_t uc = at + 8;
    uint64_t rip, rsp, fpregs, ss_flags;
    if (!read_word(&region, uc + offsetof(ucontext_t, uc_mcontext.gregs) + REG_RIP * 8, &rip) ||
        !read_word(&region, uc + offsetof(ucontext_t, uc_mcontext.gregs) + REG_RSP * 8, &rsp) ||
        !read_word(&region, uc + offsetof(ucontext_t, uc_mcontext.fpregs), &fpregs) ||
        !read_word(&region, uc + offsetof(ucontext_t, uc_stack.ss_flags), &ss_flags))
      return LW_EXIT_PLAIN;
    bool frame_like = fpregs > uc && fpregs - uc < 65536 && (uint32_t)ss_flags < 8 &&
                      ((ss_flags & SS_ONSTACK) || (rsp > uc && rsp - uc < 65536 + 4096));
    if (!frame_like)
      continue;
    find_allocator_code();
    return in_allocator_code(rip) ? LW_EXIT_INTERRUPTED_ALLOCATOR : LW_EXIT_FROM_HANDLER;
  }
  return LW_EXIT_PLAIN;
}

enum { MAX_FRAMES = 64 }; /* 512 bytes of a thread's stack, which may be 16 KiB in all */

lw_exit_context_t lw__exit_context(void) {
  uintptr_t restorers[4];
  int n_restorers = signal_restorers(restorers, 4);
  if (!n_restorers)
    return LW_EXIT_PLAIN; /* no handler installed: none is running */
  uint64_t pcs[MAX_FRAMES];
  bool truncated = false;
  int n = lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated);
  for (int i = 0; i < n; i++) {
    if (!is_restorer(pcs[i], restorers, n_restorers))
      continue;
    /* Every frame below the innermost handler: a handler that interrupted another handler
     * that interrupted malloc leaves the lock held all the same. */
    find_allocator_code();
    for (int j = i + 1; j < n; j++)
      if (in_allocator_code((uintptr_t)pcs[j]))
        return LW_EXIT_INTERRUPTED_ALLOCATOR;
    return LW_EXIT_FROM_HANDLER;
  }
  return scan_for_signal_frame(restorers, n_restorers);
}
#else
lw_exit_context_t lw__exit_context(void) { return LW_EXIT_PLAIN; }
#endif
