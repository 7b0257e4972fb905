/*
 * unwind_stack_bounds.h - where the unwinder may read stack memory without faulting.
 *
 * A "region" is a range the walker may read: from the stack pointer where the walk
 * entered that stack up to the top of the stack. Inside a region reads are plain loads;
 * when the stack a pointer lies on is not known (makecontext fibers, threads created
 * without glibc), the region is "checked" and every read goes through process_vm_readv,
 * which returns EFAULT instead of faulting.
 *
 * Never: calls malloc (pthread_getattr_np does, so it is not used), takes a lock, changes
 * errno. Pairs with unwind_stack_bounds.c; used by unwind.c and unwind_step.c.
 */
#ifndef LW_AGENT_UNWIND_STACK_BOUNDS_H
#define LW_AGENT_UNWIND_STACK_BOUNDS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  uintptr_t low;      /* reads below are refused: entry sp minus the red zone */
  uintptr_t high;     /* one past the last byte that may be read: the top of that stack */
  uintptr_t readable; /* number of addresses from low where an 8-byte read fits below
                       * high; kept by lw__stack_region_set_low so a check is one compare */
  bool checked;       /* true: top unknown (high is UINTPTR_MAX), read through the kernel */
} lw_stack_region_t;

/* Sets the region's low end and the derived `readable` count. */
static inline void lw__stack_region_set_low(lw_stack_region_t *region, uintptr_t low) {
  region->low = low;
  region->readable = region->high >= low && region->high - low >= 8 ? region->high - low - 7 : 0;
}

/* Records the main thread's stack (from __libc_stack_end and RLIMIT_STACK). Idempotent;
 * safe before constructors run. Returns false if __libc_stack_end is not set yet (only
 * possible in a static binary before _start): call again later; until then the main
 * stack is read like an unknown one. */
bool lw__stack_bounds_init(void);

/* Classifies a stack pointer of the calling thread: the main thread's stack, this thread's
 * own stack (found once per thread in /proc/self/maps), the sigaltstack it is running on,
 * or unknown (a checked region). The first call in a thread reads /proc/self/maps (tens
 * of microseconds); later calls cost a few compares, plus a sigaltstack(2) call when sp is
 * on neither of the first two. */
void lw__stack_region_for(uintptr_t sp, lw_stack_region_t *region /* out */);

/* Reads 8 bytes at address through process_vm_readv on the own process. Returns false
 * (never faults) when the memory is not readable or the call is not permitted. */
bool lw__stack_read_checked(uintptr_t address, uint64_t *value /* out */);

/* Reads the 8-byte word at address if it lies inside the region. Returns false, without
 * touching memory, when it does not. The load is done in assembly so that AddressSanitizer
 * builds do not report reads of other functions' frames. */
static inline bool lw__stack_read(const lw_stack_region_t *region, uintptr_t address,
                                  uint64_t *value /* out */) {
  if (address - region->low >= region->readable) /* below low wraps around: also refused */
    return false;
  uint64_t word;
  if (__builtin_expect(region->checked, 0)) {
    /* Through a temporary: the caller's variable keeps its address private and can live
     * in a register. */
    bool ok = lw__stack_read_checked(address, &word);
    *value = word;
    return ok;
  }
  __asm__("movq %1, %0" : "=r"(word) : "m"(*(const uint64_t *)address));
  *value = word;
  return true;
}

#endif
