/*
 * agent_stack.c - lw__on_agent_stack(): agent work on a stack the agent owns (see
 * agent_stack.h).
 *
 * One stack is kept mapped for reuse; a caller claims it with an atomic exchange, and a
 * second caller at the same moment (another thread, or a signal handler on this one) maps
 * its own for the call. The switch is a small assembly function with call frame information,
 * so debuggers and unwinders walk from the agent stack back to the program's frames.
 * Sanitizer runtimes track the stack they expect a thread to run on, so those builds call
 * directly.
 */
#define _GNU_SOURCE
#include "agent/agent_stack.h"

#include <stddef.h>
#include <sys/mman.h>

#include "agent/agent.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define LW_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LW_SANITIZED 1
#endif

#if defined(__x86_64__) && !defined(LW_SANITIZED)
#define LW_CAN_SWITCH 1
#else
#define LW_CAN_SWITCH 0
#endif

enum { STACK_SIZE = 256 * 1024, GUARD_SIZE = 4096 };

#if LW_CAN_SWITCH
/* lw__switch_call(fn, arg, top): calls fn(arg) with the stack pointer at top (16-byte
 * aligned), then returns on the caller's stack. %rbp keeps the caller's stack pointer; the
 * CFI says the frame is found through it. */
void lw__switch_call(void (*fn)(void *), void *arg, void *top) LW_HIDDEN;
__asm__(".text\n"
        ".globl lw__switch_call\n"
        ".hidden lw__switch_call\n"
        ".type lw__switch_call, @function\n"
        "lw__switch_call:\n"
        ".cfi_startproc\n"
        "  pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "  movq %rdx, %rsp\n"
        "  movq %rdi, %rax\n"
        "  movq %rsi, %rdi\n"
        "  callq *%rax\n"
        "  movq %rbp, %rsp\n"
        "  popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "  retq\n"
        ".cfi_endproc\n"
        ".size lw__switch_call, .-lw__switch_call\n");

static void *cached_stack; /* a mapped stack nobody is using, or NULL */

/* Plain mmap, not arena.c: the stack is not table memory, and a test's injected mapping
 * failures (LEAKWATCH_FAULT_MMAP) count the tables' mappings. */
static void *map_stack(void) {
  void *base = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED)
    return NULL;
  /* Overflowing it faults on the guard page instead of writing over other memory. */
  if (mprotect(base, GUARD_SIZE, PROT_NONE) != 0) {
    munmap(base, STACK_SIZE);
    return NULL;
  }
  return base;
}
#endif

void lw__on_agent_stack(void (*fn)(void *), void *arg) {
#if LW_CAN_SWITCH
  void *base = __atomic_exchange_n(&cached_stack, NULL, __ATOMIC_ACQ_REL);
  if (!base)
    base = map_stack();
  if (!base) {
    fn(arg); /* better a deep call on the program's stack than no work */
    return;
  }
  lw__switch_call(fn, arg, (char *)base + STACK_SIZE);
  void *expected = NULL;
  if (!__atomic_compare_exchange_n(&cached_stack, &expected, base, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_RELAXED))
    munmap(base, STACK_SIZE);
#else
  fn(arg);
#endif
}
