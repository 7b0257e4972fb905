/*
 * unwind_cache.c - compacting CFI rows into 33-bit rules and the lock-free table that
 * holds them (the encoding is in unwind_cache.h).
 *
 * Never: allocates (static table), locks, or leaves a rule learned before a flush in the
 * table after it (see lw__unwind_cache_insert). Pairs with unwind_cache.h.
 */
#include "agent/unwind_cache.h"

/* 2^16 entries * 8 bytes = 512 KiB of .bss: pages cost memory only once touched. */
_Atomic uint64_t lw__unwind_cache_table[LW_UNWIND_CACHE_ENTRIES];

/* Incremented by every flush; see lw__unwind_cache_insert. */
static _Atomic uint64_t unwind_cache_generation;

/* True when offset is a multiple of 8 whose quotient fits in `bits` signed bits. */
static bool fits_scaled(int64_t offset, int bits) {
  if (offset % 8 != 0)
    return false;
  int64_t scaled = offset / 8;
  int64_t limit = (int64_t)1 << (bits - 1);
  return scaled >= -limit && scaled < limit;
}

/* Recognises the expression bytes "DW_OP_breg6 <sleb128 k>" optionally followed by
 * "DW_OP_deref", which is all a block holds in gcc's realignment pattern. */
static bool match_breg6(const uint8_t *block, bool with_deref, int64_t *offset /* out */) {
  lw_cfi_reader_t reader = {.cursor = block, .end = block + 16};
  uint64_t length;
  if (!lw__cfi_read_uleb128(&reader, &length) || length < 2 || length > 12)
    return false;
  reader.end = reader.cursor + length;
  uint8_t op;
  if (!lw__cfi_read_u8(&reader, &op) || op != 0x76 /* DW_OP_breg6 */ ||
      !lw__cfi_read_sleb128(&reader, offset))
    return false;
  if (with_deref && (!lw__cfi_read_u8(&reader, &op) || op != 0x06 /* DW_OP_deref */))
    return false;
  return reader.cursor == reader.end;
}

bool lw__unwind_rule_from_row(const lw_cfi_row_t *row, lw_unwind_rule_t *rule /* out */) {
  if (row->signal_frame)
    return false;
  const lw_cfi_rule_t *return_address = &row->registers[LW_REG_RA];
  if (return_address->kind == LW_CFI_RULE_UNDEFINED) {
    *rule = lw__rule_make(LW_RULE_OUTERMOST, 0, LW_RULE_RBP_SAME, 0);
    return true;
  }
  if (return_address->kind != LW_CFI_RULE_OFFSET || return_address->value != -8)
    return false;
  /* The cached step sets rsp = CFA; an explicit rule for rsp would say otherwise. */
  if (row->registers[LW_REG_RSP].kind != LW_CFI_RULE_UNSPECIFIED)
    return false;

  enum lw_rule_cfa cfa;
  int64_t cfa_offset;
  if (row->cfa_kind == LW_CFI_CFA_REGISTER_OFFSET && row->cfa_register == LW_REG_RSP) {
    cfa = LW_RULE_CFA_RSP;
    cfa_offset = row->cfa_offset;
  } else if (row->cfa_kind == LW_CFI_CFA_REGISTER_OFFSET && row->cfa_register == LW_REG_RBP) {
    cfa = LW_RULE_CFA_RBP;
    cfa_offset = row->cfa_offset;
  } else if (row->cfa_kind == LW_CFI_CFA_EXPRESSION &&
             match_breg6(row->cfa_expression, true, &cfa_offset)) {
    cfa = LW_RULE_CFA_DEREF_RBP;
  } else {
    return false;
  }
  if (!fits_scaled(cfa_offset, 16))
    return false;

  const lw_cfi_rule_t *rbp_rule = &row->registers[LW_REG_RBP];
  enum lw_rule_rbp rbp;
  int64_t rbp_offset = 0;
  switch (rbp_rule->kind) {
  case LW_CFI_RULE_UNSPECIFIED:
  case LW_CFI_RULE_SAME_VALUE: rbp = LW_RULE_RBP_SAME; break;
  case LW_CFI_RULE_OFFSET:
    rbp = LW_RULE_RBP_AT_CFA;
    rbp_offset = rbp_rule->value;
    break;
  case LW_CFI_RULE_EXPRESSION:
    if (!match_breg6(rbp_rule->expression, false, &rbp_offset))
      return false;
    rbp = LW_RULE_RBP_AT_RBP;
    break;
  default: return false;
  }
  if (!fits_scaled(rbp_offset, 12))
    return false;
  *rule = lw__rule_make(cfa, cfa_offset, rbp, rbp_offset);
  return true;
}

uint64_t lw__unwind_cache_generation(void) {
  return atomic_load_explicit(&unwind_cache_generation, memory_order_seq_cst);
}

/* A rule is a pure function of the code at address, so racing inserts of the same entry
 * are harmless and a lost slot only costs a later miss. The one hazard is a flush (after
 * dlclose) running between computing a rule and storing it: the rule describes code that
 * may be gone. So: store, full fence, re-read the generation; if a flush began meanwhile,
 * take our entry back out (only if it is still ours). Either the flush's clearing pass
 * comes after our store in memory order and erases it, or we see the new generation. */
void lw__unwind_cache_insert(uintptr_t address, lw_unwind_rule_t rule, uint64_t generation) {
  if (address >> LW_UNWIND_ADDRESS_BITS)
    return;
  uint64_t hash = lw__unwind_cache_hash(address);
  uint64_t tag = hash & (((uint64_t)1 << LW_UNWIND_TAG_BITS) - 1);
  uint64_t entry = rule << LW_UNWIND_TAG_BITS | tag;
  _Atomic uint64_t *slot = &lw__unwind_cache_table[hash >> LW_UNWIND_TAG_BITS];
  atomic_store_explicit(slot, entry, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&unwind_cache_generation, memory_order_relaxed) != generation)
    atomic_compare_exchange_strong_explicit(slot, &entry, 0, memory_order_relaxed,
                                            memory_order_relaxed);
}

void lw__unwind_cache_flush(void) {
  atomic_fetch_add_explicit(&unwind_cache_generation, 1, memory_order_seq_cst);
  for (uint32_t i = 0; i < LW_UNWIND_CACHE_ENTRIES; i++)
    atomic_store_explicit(&lw__unwind_cache_table[i], 0, memory_order_relaxed);
}
