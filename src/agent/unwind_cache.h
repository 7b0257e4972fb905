/*
 * unwind_cache.h - the lock-free table of compact unwind rules, keyed by pc.
 *
 * Most frames of ordinary x86-64 code unwind with one of a few rules: the CFA is rsp+k or
 * rbp+k (or, for gcc's stack realignment, the word at rbp-8), the return address is at
 * CFA-8, and rbp is unchanged, saved at CFA+k, or saved at rbp+k. Such a rule fits in 33
 * bits; with the 31 bits of the pc that the table index does not imply, an entry is one
 * 64-bit word, written and read with single atomic accesses, so it can never be read torn
 * and needs no lock. Everything else (signal frames, other CFA registers, expressions,
 * frames over 256 KiB) is "uncacheable": unwind.c interprets the CFI every time.
 *
 * Never: allocates (the table is 512 KiB of zero-initialised static storage, touched
 * page by page), locks, or stores a rule learned before a flush after that flush.
 * Pairs with unwind_cache.c; the encoding is described in docs/INTERNALS.md.
 */
#ifndef LW_AGENT_UNWIND_CACHE_H
#define LW_AGENT_UNWIND_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/unwind_cfi.h"

#define LW_UNWIND_CACHE_INDEX_BITS 16
#define LW_UNWIND_CACHE_ENTRIES ((uint32_t)1 << LW_UNWIND_CACHE_INDEX_BITS)
/* x86-64 user space with 4-level paging: pcs at or above 2^47 are never cached. */
#define LW_UNWIND_ADDRESS_BITS 47
#define LW_UNWIND_TAG_BITS (LW_UNWIND_ADDRESS_BITS - LW_UNWIND_CACHE_INDEX_BITS) /* 31 */
#define LW_UNWIND_RULE_BITS (64 - LW_UNWIND_TAG_BITS)                            /* 33 */

/* An entry is (rule << LW_UNWIND_TAG_BITS) | tag, so that one compare of the low 32 bits
 * checks both the tag and the rule's valid bit, and one shift extracts the rule.
 * A compact rule, the high LW_UNWIND_RULE_BITS of an entry:
 *   bit  0      valid (so that no valid entry is the all-zero "empty" word)
 *   bits 1-2    how to find the CFA (enum lw_rule_cfa)
 *   bits 3-18   CFA offset / 8, signed 16 bits: +-256 KiB
 *   bits 19-20  how to find the caller's rbp (enum lw_rule_rbp)
 *   bits 21-32  rbp slot offset / 8, signed 12 bits: +-16 KiB
 * The return address is always at CFA-8. */
typedef uint64_t lw_unwind_rule_t;

enum lw_rule_cfa {
  LW_RULE_CFA_RSP = 0,       /* CFA = rsp + offset */
  LW_RULE_CFA_RBP = 1,       /* CFA = rbp + offset */
  LW_RULE_CFA_DEREF_RBP = 2, /* CFA = *(rbp + offset): DW_OP_breg6 k; DW_OP_deref */
  LW_RULE_OUTERMOST = 3,     /* no caller: return address undefined, or no FDE */
};

enum lw_rule_rbp {
  LW_RULE_RBP_SAME = 0,   /* caller's rbp = rbp */
  LW_RULE_RBP_AT_CFA = 1, /* caller's rbp = *(CFA + offset) */
  LW_RULE_RBP_AT_RBP = 2, /* caller's rbp = *(rbp + offset): DW_CFA_expression r6 breg6 k */
};

static inline lw_unwind_rule_t lw__rule_make(enum lw_rule_cfa cfa, int64_t cfa_offset,
                                             enum lw_rule_rbp rbp, int64_t rbp_offset) {
  return 1u | (uint64_t)cfa << 1 | ((uint64_t)(cfa_offset / 8) & 0xffff) << 3 |
         (uint64_t)rbp << 19 | ((uint64_t)(rbp_offset / 8) & 0xfff) << 21;
}
static inline enum lw_rule_cfa lw__rule_cfa(lw_unwind_rule_t rule) {
  return (enum lw_rule_cfa)((rule >> 1) & 3);
}
static inline int64_t lw__rule_cfa_offset(lw_unwind_rule_t rule) {
  return (int64_t)(int16_t)(uint16_t)(rule >> 3) * 8;
}
static inline enum lw_rule_rbp lw__rule_rbp(lw_unwind_rule_t rule) {
  return (enum lw_rule_rbp)((rule >> 19) & 3);
}
static inline int64_t lw__rule_rbp_offset(lw_unwind_rule_t rule) {
  /* sign-extend 12 bits */
  return (((int64_t)((rule >> 21) & 0xfff) ^ 0x800) - 0x800) * 8;
}

/* Compacts a CFI row into a rule. Returns false when the row cannot be expressed (see the
 * file comment); the caller then steps with the row itself. */
bool lw__unwind_rule_from_row(const lw_cfi_row_t *row, lw_unwind_rule_t *rule /* out */);

/* The table; exposed only so that the lookup below can be inlined into the walker. */
extern _Atomic uint64_t lw__unwind_cache_table[LW_UNWIND_CACHE_ENTRIES];

/* Multiplying by an odd constant modulo 2^47 is a bijection on 47-bit addresses, so the
 * index (the product's top 16 bits, which mix all address bits) and the tag (its low 31)
 * together identify the address exactly. */
#define LW_UNWIND_HASH_MULTIPLIER UINT64_C(0x9e3779b97f4b)

static inline uint64_t lw__unwind_cache_hash(uintptr_t address) {
  return ((uint64_t)address * LW_UNWIND_HASH_MULTIPLIER) &
         (((uint64_t)1 << LW_UNWIND_ADDRESS_BITS) - 1);
}

/* Looks up the rule for address (a return address minus 1, or an exact pc). Costs one
 * load from the table. */
static inline bool lw__unwind_cache_lookup(uintptr_t address, lw_unwind_rule_t *rule /* out */) {
  if (address >> LW_UNWIND_ADDRESS_BITS)
    return false;
  uint64_t hash = lw__unwind_cache_hash(address);
  uint64_t entry = atomic_load_explicit(&lw__unwind_cache_table[hash >> LW_UNWIND_TAG_BITS],
                                        memory_order_relaxed);
  /* tag bits plus the rule's valid bit (bit 0 of the rule, bit 31 of the entry) */
  const uint64_t check_mask = ((uint64_t)1 << (LW_UNWIND_TAG_BITS + 1)) - 1;
  uint64_t expected =
      (hash & (((uint64_t)1 << LW_UNWIND_TAG_BITS) - 1)) | (uint64_t)1 << LW_UNWIND_TAG_BITS;
  if ((entry & check_mask) != expected)
    return false;
  *rule = entry >> LW_UNWIND_TAG_BITS;
  return true;
}

/* The flush generation. Read it before computing a rule and pass it to insert: a rule
 * computed across a flush is then never left in the table. */
uint64_t lw__unwind_cache_generation(void);

/* Stores a rule for address, replacing whatever shared its slot. */
void lw__unwind_cache_insert(uintptr_t address, lw_unwind_rule_t rule, uint64_t generation);

/* Empties the table. Concurrent lookups see either an old entry or an empty one. */
void lw__unwind_cache_flush(void);

#endif
