/*
 * unwind.h - the agent's stack unwinder: call stacks of the calling thread from DWARF CFI.
 *
 * Called from the malloc hook for every sampled allocation (every allocation in exact
 * mode), inside someone else's process, possibly from a signal handler that interrupted
 * malloc, and concurrently from many threads. Hence everything behind this header:
 *   - never calls malloc (or anything that may: stdio, dlsym, pthread_getattr_np),
 *   - takes no lock (the only shared state is a lock-free table of 64-bit words),
 *   - never faults: every read of stack memory is checked against the stack it lies on,
 *   - preserves errno (malloc's callers may look at it).
 *
 * Files: unwind.c (entry point, walker, stats), unwind_memo.c (recent walks, per thread),
 * unwind_cache.c (the rule table),
 * unwind_cfi.c (finding and interpreting DWARF CFI), unwind_step.c (applying CFI to
 * registers, DWARF expressions), unwind_stack_bounds.c (where reads are safe).
 * The method is described in docs/INTERNALS.md, section "Unwinding".
 */
#ifndef LW_AGENT_UNWIND_H
#define LW_AGENT_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

/* Prepares the unwinder: finds the main thread's stack. Idempotent and cheap; safe to call
 * inside the process's very first malloc, before constructors have run. lw__unwind_here
 * calls it itself when needed. Returns 0 (it cannot fail: what it cannot learn, the walker
 * treats as "unknown memory" and reads through the checked path). */
int lw__unwind_init(void);

/* Leading frames whose pc lies in the loaded object containing address_in_module are
 * dropped from every stack (the agent passes one of its own functions so its hook frames
 * do not appear). NULL clears the setting. These frames are dropped before `skip` counts. */
void lw__unwind_skip_module(const void *address_in_module);

/* Walks the calling thread's stack starting at the caller of the function that calls
 * lw__unwind_here. Example: main -> a -> b -> lw__unwind_here(pcs, 64, 0, &t) gives
 * pcs = {ra_in_a-1, ra_in_main-1, ra_in_libc_start-1, ...}. Call it with a normal call,
 * not a tail call (a sibling call would make b's caller the "function that calls").
 *
 * `skip` drops that many further frames. Each pc is a return address minus 1 (the call
 * site), as pprof expects; the two kinds of frame that are not call sites are written as
 * exact addresses: a signal trampoline (__restore_rt) and the instruction a signal
 * interrupted.
 *
 * Returns the number of pcs written (0 <= n <= max_depth). *truncated (may be NULL) is set
 * to true when the walk stopped before the outermost frame: more frames than max_depth,
 * an object without unwind tables, CFI this unwinder does not support, or memory it could
 * not prove safe to read. Reaching pc 0, a frame whose return address is undefined in CFI
 * (_start, thread start, makecontext) or a pc that no FDE covers ends the walk normally.
 * Cost (docs/PERFORMANCE.md): about 90 ns for 10 frames once their pcs are cached (some 70
 * instructions per frame); 250-300 ns per frame the first time a pc is seen; a repeat of
 * one of the thread's last two walks over unchanged stack words, a few instructions per
 * frame (unwind_memo.h). */
int lw__unwind_here(uint64_t *pcs, int max_depth, int skip, bool *truncated);

/* A number that identifies the frames the calling thread's last lw__unwind_here returned:
 * equal tags (not 0) mean identical frames, so a caller may reuse what it derived from them
 * (the agent keeps the interned stack id). 0 when the walk was not remembered. Only
 * meaningful right after the walk, on the same thread, with no walk in between. */
uint64_t lw__unwind_last_walk_tag(void);

/* Turns the memo of recent walks on (the default) or off, for every thread: benchmarks
 * use it to time full walks. */
void lw__unwind_set_memo(bool on);

/* Forgets every cached rule. The agent calls it after dlclose: code unloaded from an
 * address range must not be unwound with the rules learned for it if new code is later
 * mapped there. Costs one pass over the table (512 KiB of stores). */
void lw__unwind_flush_cache(void);

typedef struct {
  uint64_t cache_hits;     /* frames stepped with a cached rule */
  uint64_t cache_misses;   /* frames whose pc was not in the cache (CFI was interpreted) */
  uint64_t uncacheable;    /* frames whose rule cannot be cached (interpreted every time) */
  uint64_t stopped_unsafe; /* walks stopped because a read was outside any known stack */
  uint64_t memo_hits;      /* walks answered from the thread's memo of recent walks */
} lw_unwind_stats_t;

/* Sums the counters of all threads. Counters are relaxed: a walk running concurrently may
 * or may not be included. */
void lw__unwind_get_stats(lw_unwind_stats_t *out);

#endif
