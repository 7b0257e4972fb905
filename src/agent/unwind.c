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
#include "agent/unwind_memo.h"
#include "agent/unwind_stack_bounds.h"
#include "agent/unwind_step.h"

/* Frames that may be dropped (not recorded) beyond `skip` before the walk gives up: room
 * for the agent's own leading frames. Recorded frames are bounded by max_depth, so this
 * caps the cost of a walk; the strictly increasing stack pointer bounds it anyway. */
#define LW_UNWIND_EXTRA_STEPS 256

/* Stats are striped so that threads do not fight over one cache line; each walk adds its
 * counts once, with relaxed atomic adds (the unwinder only runs when sampling). */
#define LW_UNWIND_STAT_STRIPES 16

typedef struct {
  _Atomic uint64_t cache_hits;
  _Atomic uint64_t cache_misses;
  _Atomic uint64_t uncacheable;
  _Atomic uint64_t stopped_unsafe;
  _Atomic uint64_t memo_hits;
} __attribute__((aligned(64))) unwind_stat_stripe_t;

static struct {
  atomic_bool initialized;
  atomic_bool memo_off;
  _Atomic uintptr_t skip_start; /* [skip_start, skip_end): the object whose leading */
  _Atomic uintptr_t skip_end;   /* frames are dropped; empty when equal */
  _Atomic uint32_t next_stripe;
  unwind_stat_stripe_t stripes[LW_UNWIND_STAT_STRIPES];
} unwind_state;

/* The tag of this thread's last walk (lw__unwind_last_walk_tag), and memo hits not yet
 * added to the stripe (batched: an atomic add would cost as much as the hit). */
static __thread uint64_t last_walk_tag;
static __thread uint32_t pending_memo_hits;

uint64_t lw__unwind_last_walk_tag(void) { return last_walk_tag; }

/* 1 + this thread's stripe index; 0 until the thread's first walk. */
static __thread uint32_t unwind_thread_stripe;

/* Counts of one walk, added to the stripe at the end. */
typedef struct {
  uint64_t cache_hits, cache_misses, uncacheable, stopped_unsafe, memo_hits;
} walk_counts_t;

int lw__unwind_init(void) {
  if (atomic_load_explicit(&unwind_state.initialized, memory_order_acquire))
    return 0;
  /* Stays uninitialised (and is retried by the next walk) only in the one case the stack
   * top is not known yet; see lw__stack_bounds_init. */
  if (lw__stack_bounds_init())
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

void lw__unwind_set_memo(bool on) {
  atomic_store_explicit(&unwind_state.memo_off, !on, memory_order_relaxed);
}

void lw__unwind_get_stats(lw_unwind_stats_t *out) {
  *out = (lw_unwind_stats_t){0};
  for (int i = 0; i < LW_UNWIND_STAT_STRIPES; i++) {
    unwind_stat_stripe_t *stripe = &unwind_state.stripes[i];
    out->cache_hits += atomic_load_explicit(&stripe->cache_hits, memory_order_relaxed);
    out->cache_misses += atomic_load_explicit(&stripe->cache_misses, memory_order_relaxed);
    out->uncacheable += atomic_load_explicit(&stripe->uncacheable, memory_order_relaxed);
    out->stopped_unsafe += atomic_load_explicit(&stripe->stopped_unsafe, memory_order_relaxed);
    out->memo_hits += atomic_load_explicit(&stripe->memo_hits, memory_order_relaxed);
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
  if (counts->memo_hits)
    atomic_fetch_add_explicit(&stripe->memo_hits, counts->memo_hits, memory_order_relaxed);
}

/* The registers the assembly entry captures: exactly the caller's values at the call. */
typedef struct {
  uint64_t sp; /* the caller's sp once lw__unwind_here returns */
  uint64_t pc; /* the return address: a pc in the caller */
  uint64_t rbp, rbx, r12, r13, r14, r15;
} lw_unwind_entry_registers_t;

/* Where the walk writes pcs, and the frames it drops before writing. */
typedef struct {
  uint64_t *pcs;
  int max_depth;
  int written;
  bool dropping;          /* any of the three below: the only test on the fast path */
  bool drop_first;        /* the frame that called lw__unwind_here is never recorded */
  bool in_skipped_module; /* still in the leading frames of the skipped object */
  int remaining_skip;     /* `skip` frames still to drop */
  int drop_budget;        /* frames that may still be dropped before giving up */
  uintptr_t skip_start, skip_end;
} recorder_t;

/* Records one frame's pc. Returns false when it does not fit: the walk is truncated.
 * Recorded frames are bounded by max_depth and dropped ones by drop_budget, which is what
 * bounds the cost of a walk. */
static inline __attribute__((always_inline)) bool record_frame(recorder_t *recorder, uint64_t pc) {
  if (__builtin_expect(recorder->dropping, 0)) {
    if (recorder->drop_budget-- == 0)
      return false;
    if (recorder->drop_first) {
      recorder->drop_first = false;
      return true;
    }
    if (recorder->in_skipped_module) {
      if (pc >= recorder->skip_start && pc < recorder->skip_end)
        return true;
      recorder->in_skipped_module = false;
    }
    if (recorder->remaining_skip > 0) {
      recorder->remaining_skip--;
      return true;
    }
    recorder->dropping = false;
  }
  if (recorder->written >= recorder->max_depth)
    return false; /* this frame exists and there is no room for it */
  recorder->pcs[recorder->written++] = pc;
  return true;
}

/* State of one walk that the slow path needs; the fast loop keeps sp, rbp and the pc in
 * locals and writes them back here before calling it. */
typedef struct {
  lw_unwind_registers_t registers;
  bool registers_valid; /* registers holds more than the fast loop's locals */
  lw_stack_region_t region;
  walk_counts_t *counts;
  bool precise;              /* interpret every frame, ignore the cache */
  bool registers_lost;       /* a cached step discarded callee-saved registers */
  bool pc_is_return_address; /* false right after a signal trampoline */
} walk_t;

enum frame_outcome {
  FRAME_CONTINUE,        /* the registers now describe the caller */
  FRAME_OUTERMOST,       /* the walk reached the end: not truncated */
  FRAME_TRUNCATED,       /* stopped early */
  FRAME_RESTART_PRECISE, /* needs a register a cached step dropped: walk again */
};

/* The slow path for one frame: interpret its CFI (caching the compact rule if it has
 * one) and step with the full row. Sets *record_pc to the pc to record for this frame
 * (the caller records it whatever the outcome, except a restart). Kept out of line so
 * that the row (300 bytes) and the general step do not burden the fast loop. */
static __attribute__((noinline)) enum frame_outcome slow_frame(walk_t *walk,
                                                               uint64_t *record_pc /* out */) {
  uint64_t pc = walk->registers.value[LW_REG_RA];
  /* For a return address, the call instruction (pc - 1) is what is executing in this
   * frame; the next instruction may already belong to another function or CFI row. */
  uintptr_t lookup = walk->pc_is_return_address ? (uintptr_t)pc - 1 : (uintptr_t)pc;
  if (!walk->precise)
    walk->counts->cache_misses++;

  lw_cfi_row_t row;
  uint64_t generation = lw__unwind_cache_generation();
  int status = lw__cfi_find_row(lookup, &row);
  if (status == 0) {
    lw_unwind_rule_t compact;
    if (lw__unwind_rule_from_row(&row, &compact))
      lw__unwind_cache_insert(lookup, compact, generation);
    else
      walk->counts->uncacheable++;
  } else if (status == -ENOENT) {
    /* Inside an object, in no FDE: an outermost frame for as long as the object is
     * loaded (a flush follows its dlclose), so remember it. */
    lw__unwind_cache_insert(lookup, lw__rule_make(LW_RULE_OUTERMOST, 0, LW_RULE_RBP_SAME, 0),
                            generation);
  }
  bool signal_trampoline = status == 0 && row.signal_frame;
  /* A trampoline's pc is its entry (the handler "returned" to it), not after a call. */
  *record_pc = signal_trampoline ? pc : lookup;
  if (status == -ESRCH || status == -ENOENT)
    return FRAME_OUTERMOST; /* no object, or no FDE covers the pc */
  if (status != 0)
    return FRAME_TRUNCATED; /* no unwind table, unsupported or malformed CFI */

  uint64_t old_sp = walk->registers.value[LW_REG_RSP];
  int result = lw__unwind_step_row(&row, &walk->registers, &walk->region);
  if (result == LW_STEP_OUTERMOST)
    return FRAME_OUTERMOST;
  if (result == LW_STEP_UNKNOWN_REGISTER && walk->registers_lost && !walk->precise)
    return FRAME_RESTART_PRECISE;
  if (result != LW_STEP_DONE) {
    if (result == LW_STEP_UNSAFE)
      walk->counts->stopped_unsafe++;
    return FRAME_TRUNCATED;
  }

  uint64_t new_sp = walk->registers.value[LW_REG_RSP];
  if (signal_trampoline) {
    /* The interrupted code may have been on another stack (a handler on a sigaltstack
     * interrupted code on the thread's stack). */
    lw_stack_region_t next;
    lw__stack_region_for((uintptr_t)new_sp, &next);
    if (next.high == walk->region.high && next.checked == walk->region.checked) {
      /* Same stack: still strictly upward, and everything from where the walk entered
       * it is still readable. */
      if (new_sp <= old_sp) {
        walk->counts->stopped_unsafe++;
        return FRAME_TRUNCATED;
      }
      lw__stack_region_set_low(&next, walk->region.low);
    }
    walk->region = next;
  } else if (new_sp <= old_sp || new_sp > walk->region.high) {
    /* Stack discipline: the caller's frame lies strictly above the callee's, on the same
     * stack. This is what guarantees the walk ends. */
    walk->counts->stopped_unsafe++;
    return FRAME_TRUNCATED;
  }
  walk->pc_is_return_address = !signal_trampoline;
  return FRAME_CONTINUE;
}

#define LW_WALK_RESTART_PRECISE (-1)

/* Walks from `entry` (the registers of the frame that called lw__unwind_here; it is
 * stepped over, not recorded). Frames whose pc is in the cache are stepped in the loop
 * below with sp, rbp and the pc in locals, tracking nothing else; others go through
 * slow_frame. If a frame later needs a register a cached step discarded (rbx for glibc's
 * lazy-binding trampoline, say), the walk returns LW_WALK_RESTART_PRECISE and is redone
 * in precise mode, which interprets every frame and so keeps every register it can. */
static int walk_stack(const lw_unwind_entry_registers_t *entry, const lw_stack_region_t *start,
                      uint64_t *pcs, int max_depth, int skip, bool *truncated, bool precise,
                      walk_counts_t *counts, lw_unwind_read_log_t *log) {
  walk_t walk;
  walk.registers_valid = false; /* filled from *entry on the first slow frame */
  walk.counts = counts;
  walk.precise = precise;
  walk.registers_lost = false;
  walk.pc_is_return_address = true;
  walk.region = *start;

  /* Local, and only ever passed to an inlined function, so it lives in registers. */
  recorder_t recorder;
  recorder.pcs = pcs;
  recorder.max_depth = max_depth;
  recorder.written = 0;
  recorder.remaining_skip = skip > 0 ? skip : 0;
  recorder.drop_budget = recorder.remaining_skip + LW_UNWIND_EXTRA_STEPS;
  recorder.skip_start = atomic_load_explicit(&unwind_state.skip_start, memory_order_relaxed);
  recorder.skip_end = atomic_load_explicit(&unwind_state.skip_end, memory_order_relaxed);
  recorder.in_skipped_module = recorder.skip_start < recorder.skip_end;
  recorder.drop_first = true;
  recorder.dropping = true;
  *truncated = false;

  /* The fast loop's state. */
  uint64_t pc = entry->pc;
  uint64_t sp = entry->sp;
  uint64_t rbp = entry->rbp;
  bool rbp_known = true;
  bool pc_is_return_address = true;
  bool cached_since_slow = false; /* cached steps since the slow path last synchronised */
  lw_stack_region_t region = walk.region;
  uint64_t hits = 0;

  for (;;) {
    lw_unwind_rule_t rule;
    /* pc 0 is never found (pc - 1 is not a user address): the slow path ends the walk. */
    if (__builtin_expect(!precise && pc_is_return_address &&
                             lw__unwind_cache_lookup((uintptr_t)pc - 1, &rule),
                         1)) {
      /* The fast path: a cached rule, rsp/rbp/pc only. */
      enum lw_rule_cfa cfa_kind = lw__rule_cfa(rule);
      enum lw_rule_rbp rbp_kind = lw__rule_rbp(rule);
      bool needs_rbp = cfa_kind == LW_RULE_CFA_RBP || cfa_kind == LW_RULE_CFA_DEREF_RBP ||
                       rbp_kind == LW_RULE_RBP_AT_RBP;
      if (__builtin_expect(needs_rbp && !rbp_known, 0))
        goto slow; /* rbp was lost by an interpreted frame: interpret this one too */
      if (log && needs_rbp)
        lw__unwind_log_rbp_used(log); /* the walk now depends on rbp's value */
      hits++;
      if (!record_frame(&recorder, pc - 1)) {
        *truncated = true;
        break;
      }
      uint64_t cfa;
      if (cfa_kind == LW_RULE_CFA_RSP) {
        cfa = sp + (uint64_t)lw__rule_cfa_offset(rule);
      } else if (cfa_kind == LW_RULE_CFA_RBP) {
        cfa = rbp + (uint64_t)lw__rule_cfa_offset(rule);
      } else if (cfa_kind == LW_RULE_OUTERMOST) {
        break;
      } else {
        uintptr_t at = (uintptr_t)(rbp + (uint64_t)lw__rule_cfa_offset(rule));
        if (!lw__stack_read(&region, at, &cfa)) {
          counts->stopped_unsafe++;
          *truncated = true;
          break;
        }
        if (log)
          lw__unwind_log_read(log, at, cfa);
      }
      /* Strictly upward; the read's bounds check also keeps the CFA below the top. */
      uint64_t return_address;
      if (cfa <= sp || !lw__stack_read(&region, (uintptr_t)(cfa - 8), &return_address)) {
        counts->stopped_unsafe++;
        *truncated = true;
        break;
      }
      if (log)
        lw__unwind_log_read(log, (uintptr_t)(cfa - 8), return_address);
      if (rbp_kind != LW_RULE_RBP_SAME) {
        uint64_t base = rbp_kind == LW_RULE_RBP_AT_CFA ? cfa : rbp;
        uintptr_t at = (uintptr_t)(base + (uint64_t)lw__rule_rbp_offset(rule));
        if (!lw__stack_read(&region, at, &rbp)) {
          counts->stopped_unsafe++;
          *truncated = true;
          break;
        }
        if (log) /* logged only if a later frame uses it: rbp often holds plain data */
          lw__unwind_log_rbp_read(log, at, rbp);
        rbp_known = true;
      }
      sp = cfa;
      pc = return_address;
      /* The caller's other callee-saved registers may have been restored by this frame,
       * which the compact rule does not record: from now on they are unknown. */
      cached_since_slow = true;
      continue;
    }

  slow:
    if (pc == 0)
      break; /* outermost by convention */
    if (!walk.registers_valid) {
      /* First slow frame: the full register set, from what the entry captured. Registers
       * the entry does not capture are left unset; `known` marks them unknown. */
      walk.registers.value[LW_REG_RBX] = entry->rbx;
      walk.registers.value[LW_REG_R12] = entry->r12;
      walk.registers.value[LW_REG_R13] = entry->r13;
      walk.registers.value[LW_REG_R14] = entry->r14;
      walk.registers.value[LW_REG_R15] = entry->r15;
      walk.registers.known =
          LW_REGISTER_BIT(LW_REG_RSP) | LW_REGISTER_BIT(LW_REG_RA) | LW_CALLEE_SAVED_REGISTERS;
      walk.registers_valid = true;
    }
    walk.registers.value[LW_REG_RA] = pc;
    walk.registers.value[LW_REG_RSP] = sp;
    walk.registers.value[LW_REG_RBP] = rbp;
    if (cached_since_slow) {
      walk.registers.known = LW_REGISTER_BIT(LW_REG_RSP) | LW_REGISTER_BIT(LW_REG_RA);
      walk.registers_lost = true; /* sticky: decides whether a precise walk could do better */
    }
    if (rbp_known)
      walk.registers.known |= LW_REGISTER_BIT(LW_REG_RBP);
    else
      walk.registers.known &= ~LW_REGISTER_BIT(LW_REG_RBP);
    walk.region = region;
    walk.pc_is_return_address = pc_is_return_address;

    uint64_t record_pc;
    if (log)
      log->usable = false; /* the slow path's reads are not logged */
    enum frame_outcome outcome = slow_frame(&walk, &record_pc);
    if (outcome == FRAME_RESTART_PRECISE) {
      counts->cache_hits += hits;
      return LW_WALK_RESTART_PRECISE;
    }
    /* The frame exists whatever the step's outcome: record it first. */
    if (!record_frame(&recorder, record_pc)) {
      *truncated = true;
      break;
    }
    if (outcome != FRAME_CONTINUE) {
      *truncated = outcome == FRAME_TRUNCATED;
      break;
    }
    pc = walk.registers.value[LW_REG_RA];
    sp = walk.registers.value[LW_REG_RSP];
    rbp = walk.registers.value[LW_REG_RBP];
    rbp_known = walk.registers.known & LW_REGISTER_BIT(LW_REG_RBP);
    pc_is_return_address = walk.pc_is_return_address;
    cached_since_slow = false;
    region = walk.region; /* a signal trampoline may have moved to another stack */
  }
  counts->cache_hits += hits;
  return recorder.written;
}

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

  walk_counts_t counts = {0};
  lw_stack_region_t region;
  lw__stack_region_for((uintptr_t)entry->sp, &region);
  /* A walk that repeats a recent one is answered from the memo (unwind_memo.h). */
  bool memo = !atomic_load_explicit(&unwind_state.memo_off, memory_order_relaxed) &&
              lw__unwind_memo_begin();
  lw_unwind_memo_key_t key;
  lw_unwind_read_log_t log;
  if (memo) {
    key = (lw_unwind_memo_key_t){
        entry->pc,
        entry->sp,
        entry->rbp,
        lw__unwind_cache_generation(),
        atomic_load_explicit(&unwind_state.skip_start, memory_order_relaxed),
        max_depth,
        skip};
    int found = lw__unwind_memo_find(&key, &region, pcs, truncated, &last_walk_tag);
    if (found >= 0) {
      lw__unwind_memo_end();
      if (++pending_memo_hits == 256) {
        counts.memo_hits = pending_memo_hits;
        pending_memo_hits = 0;
        add_counts(&counts);
      }
      return found;
    }
  }
  bool logging = memo && lw__unwind_memo_prepare(&log, entry->sp);
  int written = walk_stack(entry, &region, pcs, max_depth, skip, truncated, false, &counts,
                           logging ? &log : NULL);
  if (written == LW_WALK_RESTART_PRECISE) {
    log.usable = false; /* the precise walk is not logged */
    written = walk_stack(entry, &region, pcs, max_depth, skip, truncated, true, &counts, NULL);
  }
  last_walk_tag = 0;
  if (logging) {
    if (counts.stopped_unsafe)
      log.usable = false; /* it ended on a refused read: depends on more than the words */
    last_walk_tag = lw__unwind_memo_store(&key, &log, pcs, written, *truncated);
  }
  if (memo)
    lw__unwind_memo_end();
  counts.memo_hits = pending_memo_hits; /* a full walk costs far more than this add */
  pending_memo_hits = 0;
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
