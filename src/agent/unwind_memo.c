/*
 * unwind_memo.c - the per-thread memo of recent stack walks (see unwind_memo.h for why it
 * is exact, not a guess).
 */
#include "agent/unwind_memo.h"

#include <string.h>

enum { MEMO_ENTRIES = 2 };

typedef struct {
  lw_unwind_memo_key_t key;
  bool valid;
  bool truncated;
  bool entry_rbp_used; /* the key's rbp must match too */
  uint8_t count;
  uint8_t n_reads;
  int32_t min_offset, max_offset; /* of the reads: one bounds check covers them all */
  uint64_t tag;
  uint64_t pcs[LW_MEMO_FRAMES];
  int32_t offset[LW_MEMO_READS];
  uint64_t value[LW_MEMO_READS];
} memo_entry_t;

enum { MISSES_BEFORE_SPARING = 32, SPARING_PERIOD = 16 };

typedef struct {
  bool busy;
  uint8_t next;         /* the entry the next store replaces */
  uint32_t miss_streak; /* walks in a row the memo did not answer */
  uint64_t last_tag;    /* this thread's walks remembered so far: tags are unique per thread */
  memo_entry_t entries[MEMO_ENTRIES];
} memo_t;

static __thread memo_t memo;

bool lw__unwind_memo_begin(void) {
  if (memo.busy)
    return false;
  memo.busy = true;
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* a handler must see busy before we touch it */
  return true;
}

void lw__unwind_memo_end(void) {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  memo.busy = false;
}

static bool same_key(const memo_entry_t *m, const lw_unwind_memo_key_t *b) {
  const lw_unwind_memo_key_t *a = &m->key;
  return a->pc == b->pc && a->sp == b->sp && (!m->entry_rbp_used || a->rbp == b->rbp) &&
         a->generation == b->generation && a->skip_start == b->skip_start &&
         a->max_depth == b->max_depth && a->skip == b->skip;
}

/* Loads a stack word already known to be inside the region. In assembly, like
 * lw__stack_read, so sanitizer builds do not report reads of other functions' frames. */
static inline uint64_t load_word(uintptr_t address) {
  uint64_t word;
  __asm__("movq %1, %0" : "=r"(word) : "m"(*(const uint64_t *)address));
  return word;
}

/* True when every word the entry read is unchanged. */
static bool words_unchanged(const memo_entry_t *m, uint64_t sp, const lw_stack_region_t *region) {
  uintptr_t lowest = (uintptr_t)(sp + (uint64_t)(int64_t)m->min_offset);
  uintptr_t highest = (uintptr_t)(sp + (uint64_t)(int64_t)m->max_offset);
  if (!region->checked && lowest - region->low < region->readable &&
      highest - region->low < region->readable) {
    /* The common case: one bounds check for all of them, then plain loads. */
    for (int r = 0; r < m->n_reads; r++)
      if (load_word((uintptr_t)(sp + (uint64_t)(int64_t)m->offset[r])) != m->value[r])
        return false;
    return true;
  }
  for (int r = 0; r < m->n_reads; r++) {
    uint64_t word;
    /* The same bounds check the walk made: a word it could read is readable now, since
     * the thread runs on the same stack at the same sp. */
    if (!lw__stack_read(region, (uintptr_t)(sp + (uint64_t)(int64_t)m->offset[r]), &word) ||
        word != m->value[r])
      return false;
  }
  return true;
}

/* A variable-length memcpy of a dozen words compiles to `rep movsq`, whose start-up cost
 * on the machines we measure is most of the copy: fixed 16-byte moves instead. */
static inline void copy_pcs(uint64_t *to, const uint64_t *from, int count) {
  int i = 0;
  for (; i + 2 <= count; i += 2)
    __builtin_memcpy(to + i, from + i, 16);
  if (i < count)
    to[i] = from[i];
}

int lw__unwind_memo_find(const lw_unwind_memo_key_t *key, const lw_stack_region_t *region,
                         uint64_t *pcs, bool *truncated, uint64_t *tag) {
  for (int e = 0; e < MEMO_ENTRIES; e++) {
    const memo_entry_t *m = &memo.entries[e];
    if (!m->valid || !same_key(m, key))
      continue;
    if (!words_unchanged(m, key->sp, region))
      continue; /* the same start, another stack: the other entry may be the one */
    copy_pcs(pcs, m->pcs, m->count);
    *truncated = m->truncated;
    *tag = m->tag;
    memo.miss_streak = 0;
    return m->count;
  }
  memo.miss_streak++;
  return -1;
}

bool lw__unwind_memo_prepare(lw_unwind_read_log_t *log, uint64_t sp) {
  if (memo.miss_streak >= MISSES_BEFORE_SPARING && memo.miss_streak % SPARING_PERIOD != 0)
    return false;
  memo_entry_t *m = &memo.entries[memo.next];
  m->valid = false;
  log->sp = sp;
  log->n_reads = 0;
  log->usable = true;
  log->min_offset = log->max_offset = 0;
  log->entry_rbp_used = log->rbp_restored = log->rbp_read_pending = false;
  log->offset = m->offset;
  log->value = m->value;
  return true;
}

uint64_t lw__unwind_memo_store(const lw_unwind_memo_key_t *key, const lw_unwind_read_log_t *log,
                               const uint64_t *pcs, int count, bool truncated) {
  if (!log->usable || count < 0 || count > LW_MEMO_FRAMES)
    return 0;
  memo_entry_t *m = &memo.entries[memo.next];
  memo.next = (uint8_t)((memo.next + 1) % MEMO_ENTRIES);
  m->key = *key;
  m->truncated = truncated;
  m->count = (uint8_t)count;
  m->n_reads = (uint8_t)log->n_reads;
  m->min_offset = log->min_offset;
  m->max_offset = log->max_offset;
  m->entry_rbp_used = log->entry_rbp_used;
  memcpy(m->pcs, pcs, (size_t)count * sizeof *pcs);
  m->tag = ++memo.last_tag;
  m->valid = true;
  return m->tag;
}
