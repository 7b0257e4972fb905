/*
 * unwind.c - the stack walker: lw__unwind_here and its bookkeeping (skip rules, stats).
 *
 * Role: capture the caller's registers (an assembly entry), then step frame by frame:
 * look the pc up in the rule cache (unwind_cache.c); on a miss compute the CFI row
 * (unwind_cfi.c), cache its compact form if it has one, and step with the row
 * (unwind_step.c). Every step must move the stack pointer strictly upward inside the
 * stack it is on (unwind_stack_bounds.c); only a signal trampoline may move it to another
 * stack (from a sigaltstack back to the thread's stack).
 *
 * Never: allocates, locks, faults, or changes errno (the modules it calls save errno
 * around their system calls). Runs in malloc hooks and signal handlers, concurrently.
 * Pairs with unwind.h; the method is described in docs/INTERNALS.md, "Unwinding".
 */
#include "agent/unwind.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

#include "agent/unwind_cache.h"
#include "agent/unwind_cfi.h"
#include "agent/unwind_stack_bounds.h"
#include "agent/unwind_step.h"

/* Frames stepped beyond max_depth + skip before the walk gives up: room for the agent's
 * own leading frames. The strictly increasing stack pointer already bounds a walk; this
 * only caps the cost of a pathological one. */
#define LW_UNWIND_EXTRA_STEPS 256

/* Stats are striped so that threads do not fight over one cache line; each walk adds its
 * counts once, with relaxed atomic adds (the unwinder only runs when sampling). */
#define LW_UNWIND_STAT_STRIPES 16

typedef struct {
  _Atomic uint64_t cache_hits;
  _Atomic uint64_t cache_misses;
  _Atomic uint64_t uncacheable;
  _Atomic uint64_t stopped_unsafe;
} __attribute__((aligned(64))) unwind_stat_stripe_t;

static struct {
  atomic_bool initialized;
  _Atomic uintptr_t skip_start; /* [skip_start, skip_end): the object whose leading */
  _Atomic uintptr_t skip_end;   /* frames are dropped; empty when equal */
  _Atomic uint32_t next_stripe;
  unwind_stat_stripe_t stripes[LW_UNWIND_STAT_STRIPES];
} unwind_state;

/* 1 + this thread's stripe index; 0 until the thread's first walk. */
static __thread __attribute__((tls_model("initial-exec"))) uint32_t unwind_thread_stripe;

/* Counts of one walk, added to the stripe at the end. */
typedef struct {
  uint64_t cache_hits, cache_misses, uncacheable, stopped_unsafe;
} walk_counts_t;

int lw__unwind_init(void) {
  if (atomic_load_explicit(&unwind_state.initialized, memory_order_acquire))
    return 0;
  lw__stack_bounds_init();
  atomic_store_explicit(&unwind_state.initialized, true, memory_order_release);
  return 0;
}

void lw__unwind_skip_module(const void *address_in_module) {
  lw__unwind_init();
  lw_cfi_object_t object = {0};
  if (address_in_module == NULL ||
      lw__cfi_find_object((uintptr_t)address_in_module, &object) != 0) {
    atomic_store_explicit(&unwind_state.skip_end, 0, memory_order_relaxed);
    atomic_store_explicit(&unwind_state.skip_start, 0, memory_order_relaxed);
    return;
  }
  /* Two words, not one: a walk racing with a change may use a mixed pair, which can only
   * drop or keep a few extra leading frames. The agent sets this once at start-up. */
  atomic_store_explicit(&unwind_state.skip_start, object.map_start, memory_order_relaxed);
  atomic_store_explicit(&unwind_state.skip_end, object.map_end, memory_order_relaxed);
}

void lw__unwind_flush_cache(void) { lw__unwind_cache_flush(); }

void lw__unwind_get_stats(lw_unwind_stats_t *out) {
  *out = (lw_unwind_stats_t){0};
  for (int i = 0; i < LW_UNWIND_STAT_STRIPES; i++) {
    unwind_stat_stripe_t *stripe = &unwind_state.stripes[i];
    out->cache_hits += atomic_load_explicit(&stripe->cache_hits, memory_order_relaxed);
    out->cache_misses += atomic_load_explicit(&stripe->cache_misses, memory_order_relaxed);
    out->uncacheable += atomic_load_explicit(&stripe->uncacheable, memory_order_relaxed);
    out->stopped_unsafe += atomic_load_explicit(&stripe->stopped_unsafe, memory_order_relaxed);
  }
}

static void add_counts(const walk_counts_t *counts) {
  if (unwind_thread_stripe == 0)
    unwind_thread_stripe =
        1 + atomic_fetch_add_explicit(&unwind_state.next_stripe, 1, memory_order_relaxed) %
                LW_UNWIND_STAT_STRIPES;
  unwind_stat_stripe_t *stripe = &unwind_state.stripes[unwind_thread_stripe - 1];
  if (counts->cache_hits)
    atomic_fetch_add_explicit(&stripe->cache_hits, counts->cache_hits, memory_order_relaxed);
  if (counts->cache_misses)
    atomic_fetch_add_explicit(&stripe->cache_misses, counts->cache_misses, memory_order_relaxed);
  if (counts->uncacheable)
    atomic_fetch_add_explicit(&stripe->uncacheable, counts->uncacheable, memory_order_relaxed);
  if (counts->stopped_unsafe)
    atomic_fetch_add_explicit(&stripe->stopped_unsafe, counts->stopped_unsafe,
                              memory_order_relaxed);
}

/* One step with a cached rule: only rsp, rbp and the pc are tracked. The caller's other
 * callee-saved registers may have been restored by this frame, which the compact rule does
 * not record, so they become unknown. */
static inline int step_with_rule(lw_unwind_rule_t rule, lw_unwind_registers_t *registers,
                                 const lw_stack_region_t *region) {
  uint64_t sp = registers->value[LW_REG_RSP];
  uint64_t rbp = registers->value[LW_REG_RBP];
  bool rbp_known = registers->known & LW_REGISTER_BIT(LW_REG_RBP);
  uint64_t cfa;
  switch (lw__rule_cfa(rule)) {
  case LW_RULE_CFA_RSP: cfa = sp + (uint64_t)lw__rule_cfa_offset(rule); break;
  case LW_RULE_CFA_RBP:
    if (!rbp_known)
      return LW_STEP_UNKNOWN_REGISTER;
    cfa = rbp + (uint64_t)lw__rule_cfa_offset(rule);
    break;
  case LW_RULE_CFA_DEREF_RBP:
    if (!rbp_known)
      return LW_STEP_UNKNOWN_REGISTER;
    if (!lw__stack_read(region, (uintptr_t)(rbp + (uint64_t)lw__rule_cfa_offset(rule)), &cfa))
      return LW_STEP_UNSAFE;
    break;
  default: return LW_STEP_OUTERMOST;
  }
  uint64_t return_address;
  if (!lw__stack_read(region, (uintptr_t)(cfa - 8), &return_address))
    return LW_STEP_UNSAFE;
  switch (lw__rule_rbp(rule)) {
  case LW_RULE_RBP_AT_CFA:
    if (!lw__stack_read(region, (uintptr_t)(cfa + (uint64_t)lw__rule_rbp_offset(rule)), &rbp))
      return LW_STEP_UNSAFE;
    rbp_known = true;
    break;
  case LW_RULE_RBP_AT_RBP:
    if (!rbp_known)
      return LW_STEP_UNKNOWN_REGISTER;
    if (!lw__stack_read(region, (uintptr_t)(rbp + (uint64_t)lw__rule_rbp_offset(rule)), &rbp))
      return LW_STEP_UNSAFE;
    break;
  default: break;
  }
  registers->value[LW_REG_RSP] = cfa;
  registers->value[LW_REG_RBP] = rbp;
  registers->value[LW_REG_RA] = return_address;
  registers->known = LW_REGISTER_BIT(LW_REG_RSP) | LW_REGISTER_BIT(LW_REG_RA) |
                     (rbp_known ? LW_REGISTER_BIT(LW_REG_RBP) : 0);
  return LW_STEP_DONE;
}

#define LW_WALK_RESTART_PRECISE (-1)

/* Walks from `start` (the registers of the frame that called lw__unwind_here; it is
 * stepped over, not recorded). In fast mode cached rules are used; if a frame later needs
 * a register a cached step discarded (rbx for glibc's lazy-binding trampoline, say), the
 * walk returns LW_WALK_RESTART_PRECISE and the caller walks again in precise mode, which
 * interprets every frame and so keeps every register it can. */
static int walk(const lw_unwind_registers_t *start, uint64_t *pcs, int max_depth, int skip,
                bool *truncated, bool precise, walk_counts_t *counts) {
  lw_unwind_registers_t registers = *start;
  lw_stack_region_t region;
  lw__stack_region_for((uintptr_t)registers.value[LW_REG_RSP], &region);
  uintptr_t skip_start = atomic_load_explicit(&unwind_state.skip_start, memory_order_relaxed);
  uintptr_t skip_end = atomic_load_explicit(&unwind_state.skip_end, memory_order_relaxed);
  bool in_skipped_module = skip_start < skip_end;
  bool pc_is_return_address = true; /* false right after a signal trampoline */
  bool registers_lost = false;      /* a cached step discarded callee-saved registers */
  int remaining_skip = skip > 0 ? skip : 0;
  int written = 0;
  int step_limit = (max_depth > 0 ? max_depth : 0) + remaining_skip + LW_UNWIND_EXTRA_STEPS;
  *truncated = false;

  for (int frame = 0;; frame++) {
    uint64_t pc = registers.value[LW_REG_RA];
    if (pc == 0)
      break; /* outermost by convention */
    if (frame > step_limit) {
      *truncated = true;
      break;
    }
    /* For a return address, the call instruction (pc - 1) is what is executing in this
     * frame; the next instruction may already belong to another function or CFI row. */
    uintptr_t lookup = pc_is_return_address ? (uintptr_t)pc - 1 : (uintptr_t)pc;

    lw_unwind_rule_t rule = 0;
    lw_cfi_row_t row;
    bool have_rule = false, have_row = false;
    int lookup_status = 0;
    if (!precise && lw__unwind_cache_lookup(lookup, &rule)) {
      counts->cache_hits++;
      have_rule = true;
    } else {
      if (!precise)
        counts->cache_misses++;
      uint64_t generation = lw__unwind_cache_generation();
      lookup_status = lw__cfi_find_row(lookup, &row);
      if (lookup_status == 0) {
        have_row = true;
        lw_unwind_rule_t compact;
        if (lw__unwind_rule_from_row(&row, &compact))
          lw__unwind_cache_insert(lookup, compact, generation);
        else
          counts->uncacheable++;
      } else if (lookup_status == -ENOENT) {
        /* Inside an object, in no FDE: an outermost frame for as long as the object is
         * loaded (a flush follows its dlclose), so remember it. */
        lw__unwind_cache_insert(lookup, lw__rule_make(LW_RULE_OUTERMOST, 0, LW_RULE_RBP_SAME, 0),
                                generation);
      }
    }
    bool signal_trampoline = have_row && row.signal_frame;

    if (frame > 0) {
      /* A trampoline's pc is its entry (the handler "returned" to it), not after a call. */
      uint64_t recorded = pc_is_return_address && !signal_trampoline ? pc - 1 : pc;
      bool drop = false;
      if (in_skipped_module) {
        if (recorded >= skip_start && recorded < skip_end)
          drop = true;
        else
          in_skipped_module = false;
      }
      if (!drop && remaining_skip > 0) {
        remaining_skip--;
        drop = true;
      }
      if (!drop) {
        if (written >= max_depth) {
          *truncated = true; /* this frame exists and there is no room for it */
          break;
        }
        pcs[written++] = recorded;
      }
    }

    if (lookup_status == -ESRCH || lookup_status == -ENOENT)
      break; /* no object or no FDE: outermost, not truncated */
    if (!have_rule && !have_row) {
      *truncated = true; /* no unwind table, unsupported or malformed CFI */
      break;
    }

    uint64_t old_sp = registers.value[LW_REG_RSP];
    int result;
    if (have_rule) {
      result = step_with_rule(rule, &registers, &region);
      registers_lost = true;
    } else {
      result = lw__unwind_step_row(&row, &registers, &region);
    }
    if (result == LW_STEP_OUTERMOST)
      break;
    if (result == LW_STEP_UNKNOWN_REGISTER && registers_lost && !precise)
      return LW_WALK_RESTART_PRECISE;
    if (result != LW_STEP_DONE) {
      if (result == LW_STEP_UNSAFE)
        counts->stopped_unsafe++;
      *truncated = true;
      break;
    }

    /* Stack discipline: the caller's frame lies strictly above the callee's on the same
     * stack. This guarantees the walk ends and that garbage CFI cannot walk us around. */
    uint64_t new_sp = registers.value[LW_REG_RSP];
    if (signal_trampoline) {
      /* The interrupted code may have been on another stack (a handler on a sigaltstack
       * interrupted code on the thread's stack). */
      lw_stack_region_t next;
      lw__stack_region_for((uintptr_t)new_sp, &next);
      if (next.high == region.high && next.checked == region.checked) {
        /* Same stack: still strictly upward, and everything from where the walk
         * entered it is still readable. */
        if (new_sp <= old_sp) {
          counts->stopped_unsafe++;
          *truncated = true;
          break;
        }
        next.low = region.low;
      }
      region = next;
    } else if (new_sp <= old_sp || new_sp > region.high) {
      counts->stopped_unsafe++;
      *truncated = true;
      break;
    }
    pc_is_return_address = !signal_trampoline;
  }
  return written;
}

/* The registers the assembly entry captures: exactly the caller's values at the call. */
typedef struct {
  uint64_t sp; /* the caller's sp once lw__unwind_here returns */
  uint64_t pc; /* the return address: a pc in the caller */
  uint64_t rbp, rbx, r12, r13, r14, r15;
} lw_unwind_entry_registers_t;

/* The C half of lw__unwind_here, called only from the assembly below. Hidden and not
 * static so the assembly can name it. */
__attribute__((visibility("hidden"), used, noinline)) int
lw__unwind_from_entry(uint64_t *pcs, int max_depth, int skip, bool *truncated,
                      const lw_unwind_entry_registers_t *entry);

int lw__unwind_from_entry(uint64_t *pcs, int max_depth, int skip, bool *truncated,
                          const lw_unwind_entry_registers_t *entry) {
  bool ignored_truncated;
  if (truncated == NULL)
    truncated = &ignored_truncated;
  if (!atomic_load_explicit(&unwind_state.initialized, memory_order_acquire))
    lw__unwind_init();

  lw_unwind_registers_t start = {.known = 0};
  start.value[LW_REG_RSP] = entry->sp;
  start.value[LW_REG_RA] = entry->pc;
  start.value[LW_REG_RBP] = entry->rbp;
  start.value[LW_REG_RBX] = entry->rbx;
  start.value[LW_REG_R12] = entry->r12;
  start.value[LW_REG_R13] = entry->r13;
  start.value[LW_REG_R14] = entry->r14;
  start.value[LW_REG_R15] = entry->r15;
  start.known =
      LW_REGISTER_BIT(LW_REG_RSP) | LW_REGISTER_BIT(LW_REG_RA) | LW_CALLEE_SAVED_REGISTERS;

  walk_counts_t counts = {0};
  int written = walk(&start, pcs, max_depth, skip, truncated, false, &counts);
  if (written == LW_WALK_RESTART_PRECISE)
    written = walk(&start, pcs, max_depth, skip, truncated, true, &counts);
  add_counts(&counts);
  return written;
}

/* lw__unwind_here(pcs, max_depth, skip, truncated): saves the caller's callee-saved
 * registers, its stack pointer after the return and the return address into a 64-byte
 * block on the stack, and passes that block as a fifth argument (r8) to
 * lw__unwind_from_entry. Written in assembly because C cannot name the caller's register
 * values; because it touches no callee-saved register, what it stores is exactly what the
 * caller had. 72 bytes keep the stack 16-byte aligned at the inner call. */
__asm__(".text\n"
        ".globl lw__unwind_here\n"
        ".hidden lw__unwind_here\n"
        ".type lw__unwind_here, @function\n"
        ".p2align 4\n"
        "lw__unwind_here:\n"
        "  .cfi_startproc\n"
        "  subq $72, %rsp\n"
        "  .cfi_adjust_cfa_offset 72\n"
        "  leaq 80(%rsp), %rax\n" /* the caller's sp after our return */
        "  movq %rax, 0(%rsp)\n"
        "  movq 72(%rsp), %rax\n" /* our return address */
        "  movq %rax, 8(%rsp)\n"
        "  movq %rbp, 16(%rsp)\n"
        "  movq %rbx, 24(%rsp)\n"
        "  movq %r12, 32(%rsp)\n"
        "  movq %r13, 40(%rsp)\n"
        "  movq %r14, 48(%rsp)\n"
        "  movq %r15, 56(%rsp)\n"
        "  movq %rsp, %r8\n"
        "  call lw__unwind_from_entry\n"
        "  addq $72, %rsp\n"
        "  .cfi_adjust_cfa_offset -72\n"
        "  ret\n"
        "  .cfi_endproc\n"
        ".size lw__unwind_here, .-lw__unwind_here\n");

_Static_assert(offsetof(lw_unwind_entry_registers_t, pc) == 8 &&
                   offsetof(lw_unwind_entry_registers_t, rbp) == 16 &&
                   offsetof(lw_unwind_entry_registers_t, r15) == 56,
               "the assembly in lw__unwind_here stores the registers at these offsets");
