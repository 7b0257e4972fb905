/*
 * unwind_memo.h - remembers this thread's last stack walks so that a walk from the same
 * place, over the same stack contents, costs a few loads per frame instead of a full step.
 *
 * Programs allocate (and open descriptors, and start threads) from the same call paths over
 * and over; in exact mode every one of those calls is unwound. A walk in which every frame
 * was stepped from the rule cache (unwind.c's fast loop) is a pure function of the entry pc,
 * sp and rbp, the cached rules, and the stack words it read. The memo keeps, per walk, those
 * inputs and words (as offsets from sp) and its result; a new walk with the same inputs
 * re-reads the words through the same bounds checks and, if every one is unchanged, returns
 * the same frames. Rules change only by a cache flush, which bumps the generation that is
 * part of the key.
 *
 * Per thread, in TLS (about 2.3 KiB): no allocation, no lock. A walk interrupted by a
 * signal whose handler walks again does not use the memo in the handler (a busy flag).
 */
#ifndef LW_AGENT_UNWIND_MEMO_H
#define LW_AGENT_UNWIND_MEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/unwind_stack_bounds.h"

enum { LW_MEMO_FRAMES = 40, LW_MEMO_READS = 64 };

/* The stack words a walk read, filled by the fast loop straight into the memo entry the
 * walk will replace (lw__unwind_memo_prepare). */
typedef struct {
  uint64_t sp;   /* offsets are from here */
  int n_reads;
  bool usable;   /* false once the walk left the fast loop, read too much, or stopped */
  /* rbp is often an ordinary register holding data that changes from call to call; its
   * value matters only when a frame's rule uses it. Until then the entry value, or the
   * last word rbp was restored from, is only pending. */
  bool entry_rbp_used;
  bool rbp_restored;
  bool rbp_read_pending;
  uintptr_t pending_address;
  uint64_t pending_value;
  int32_t min_offset, max_offset;
  int32_t *offset; /* LW_MEMO_READS of each */
  uint64_t *value;
} lw_unwind_read_log_t;

static inline void lw__unwind_log_read(lw_unwind_read_log_t *log, uintptr_t address,
                                       uint64_t value) {
  int64_t offset = (int64_t)(address - log->sp);
  if (log->n_reads >= LW_MEMO_READS || offset != (int32_t)offset) {
    log->usable = false;
    return;
  }
  if (offset < log->min_offset)
    log->min_offset = (int32_t)offset;
  if (offset > log->max_offset)
    log->max_offset = (int32_t)offset;
  log->offset[log->n_reads] = (int32_t)offset;
  log->value[log->n_reads++] = value;
}

/* rbp was just restored from the word at address. */
static inline void lw__unwind_log_rbp_read(lw_unwind_read_log_t *log, uintptr_t address,
                                           uint64_t value) {
  log->rbp_restored = true;
  log->rbp_read_pending = true;
  log->pending_address = address;
  log->pending_value = value;
}

/* A frame's rule uses rbp: where its value came from becomes part of what the walk read. */
static inline void lw__unwind_log_rbp_used(lw_unwind_read_log_t *log) {
  if (log->rbp_read_pending) {
    lw__unwind_log_read(log, log->pending_address, log->pending_value);
    log->rbp_read_pending = false;
  } else if (!log->rbp_restored) {
    log->entry_rbp_used = true; /* the value the walk started with */
  }
}

/* What identifies a walk besides the stack words. */
typedef struct {
  uint64_t pc, sp, rbp; /* rbp compared only when the walk used the entry value */
  uint64_t generation;  /* of the rule cache */
  uintptr_t skip_start;
  int max_depth, skip;
} lw_unwind_memo_key_t;

/* Starts using the memo for one walk: false when it is busy (a nested walk from a signal
 * handler), in which case the walk must not call the other functions. */
bool lw__unwind_memo_begin(void);
void lw__unwind_memo_end(void);

/* If a remembered walk has this key and every word it read is unchanged (re-read within
 * region), copies its frames to pcs and returns their number; otherwise -1. *tag is that
 * walk's tag (see lw__unwind_last_walk_tag). */
int lw__unwind_memo_find(const lw_unwind_memo_key_t *key, const lw_stack_region_t *region,
                         uint64_t *pcs, bool *truncated, uint64_t *tag);

/* Before a full walk: whether to log it for the memo, and where (the entry it replaces,
 * invalidated now). A thread whose walks keep missing (random paths) logs only one walk in
 * 16, so the memo costs it almost nothing. */
bool lw__unwind_memo_prepare(lw_unwind_read_log_t *log, uint64_t sp);

/* Remembers a walk made entirely in the fast loop (log->usable) in the prepared entry.
 * Returns its new tag, or 0 when it was not remembered. */
uint64_t lw__unwind_memo_store(const lw_unwind_memo_key_t *key, const lw_unwind_read_log_t *log,
                               const uint64_t *pcs, int count, bool truncated);

#endif
