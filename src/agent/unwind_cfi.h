/*
 * unwind_cfi.h - DWARF call frame information (.eh_frame) for an address: which rules
 * recover the caller's registers at that instruction.
 *
 * Pairs with unwind_cfi.c. Reads only the loaded objects' unwind tables, never the stack;
 * never allocates or locks (except through the dl_iterate_phdr fallback, see the .c file).
 * Register numbers are the x86-64 DWARF ones (System V psABI, figure 3.36).
 */
#ifndef LW_AGENT_UNWIND_CFI_H
#define LW_AGENT_UNWIND_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
  LW_REG_RAX = 0,
  LW_REG_RDX = 1,
  LW_REG_RCX = 2,
  LW_REG_RBX = 3,
  LW_REG_RSI = 4,
  LW_REG_RDI = 5,
  LW_REG_RBP = 6,
  LW_REG_RSP = 7,
  LW_REG_R8 = 8,
  LW_REG_R12 = 12,
  LW_REG_R13 = 13,
  LW_REG_R14 = 14,
  LW_REG_R15 = 15,
  LW_REG_RA = 16, /* the return address column: the caller's rip */
  LW_CFI_REGISTER_COUNT = 17,
};

/* How a register of the caller is recovered (DWARF 5, section 6.4.1). */
enum lw_cfi_rule_kind {
  LW_CFI_RULE_UNSPECIFIED = 0, /* no rule: callee-saved keep their value, others are lost */
  LW_CFI_RULE_UNDEFINED,       /* no value; for the return address: outermost frame */
  LW_CFI_RULE_SAME_VALUE,      /* unchanged */
  LW_CFI_RULE_OFFSET,          /* saved in memory at CFA + value */
  LW_CFI_RULE_VAL_OFFSET,      /* the value is CFA + value */
  LW_CFI_RULE_REGISTER,        /* held in register number `value` */
  LW_CFI_RULE_EXPRESSION,      /* saved at the address the expression computes */
  LW_CFI_RULE_VAL_EXPRESSION,  /* the value is what the expression computes */
};

typedef struct {
  const uint8_t *expression; /* EXPRESSION kinds: a ULEB128 length, then that many bytes */
  int32_t value;             /* offset in bytes, or a register number */
  uint8_t kind;              /* enum lw_cfi_rule_kind */
} lw_cfi_rule_t;

enum lw_cfi_cfa_kind {
  LW_CFI_CFA_UNDEFINED = 0,
  LW_CFI_CFA_REGISTER_OFFSET, /* CFA = register + offset */
  LW_CFI_CFA_EXPRESSION,      /* CFA = what the expression computes */
};

/* One row of the CFI table: the rules in effect at one instruction. */
typedef struct {
  const uint8_t *cfa_expression; /* CFA_EXPRESSION: a ULEB128 length, then the bytes */
  int64_t cfa_offset;
  uint8_t cfa_kind; /* enum lw_cfi_cfa_kind */
  uint8_t cfa_register;
  bool signal_frame; /* CIE augmentation 'S': this frame is a signal trampoline */
  lw_cfi_rule_t registers[LW_CFI_REGISTER_COUNT];
} lw_cfi_row_t;

/* A cursor over bytes that must stay inside [cursor, end): every read checks, so a length
 * or offset from a table can never carry a read past the end. Shared by the CFI parser and
 * the DWARF expression evaluator (unwind_step.c). */
typedef struct {
  const uint8_t *cursor;
  const uint8_t *end;
} lw_cfi_reader_t;

static inline bool lw__cfi_read_bytes(lw_cfi_reader_t *reader, void *out, size_t size) {
  if ((size_t)(reader->end - reader->cursor) < size)
    return false;
  memcpy(out, reader->cursor, size);
  reader->cursor += size;
  return true;
}

static inline bool lw__cfi_read_u8(lw_cfi_reader_t *reader, uint8_t *out) {
  return lw__cfi_read_bytes(reader, out, 1);
}

/* LEB128 (DWARF 5, section 7.6); more than 64 significant bits is malformed. */
static inline bool lw__cfi_read_uleb128(lw_cfi_reader_t *reader, uint64_t *out) {
  uint64_t value = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    uint8_t byte;
    if (!lw__cfi_read_u8(reader, &byte))
      return false;
    value |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *out = value;
      return true;
    }
  }
  return false;
}

static inline bool lw__cfi_read_sleb128(lw_cfi_reader_t *reader, int64_t *out) {
  uint64_t value = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    uint8_t byte;
    if (!lw__cfi_read_u8(reader, &byte))
      return false;
    value |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      if (shift + 7 < 64 && (byte & 0x40))
        value |= ~(uint64_t)0 << (shift + 7); /* sign-extend */
      *out = (int64_t)value;
      return true;
    }
  }
  return false;
}

/* The loaded object containing an address. */
typedef struct {
  uintptr_t map_start;         /* lowest mapped address of the object */
  uintptr_t map_end;           /* one past its highest */
  const uint8_t *eh_frame_hdr; /* its PT_GNU_EH_FRAME segment, or NULL */
} lw_cfi_object_t;

/* Finds the loaded object that contains address: _dl_find_object when the C library has it
 * (glibc >= 2.35, lock-free and async-signal-safe), otherwise dl_iterate_phdr.
 * Returns 0 or -ESRCH (no loaded object contains address). */
int lw__cfi_find_object(uintptr_t address, lw_cfi_object_t *object /* out */);

/* Computes the CFI row in effect at address (for a return address, pass it minus 1).
 * Returns 0 and fills *row, or:
 *   -ESRCH    no loaded object contains address (outermost: nothing more is known)
 *   -ENOENT   the object has a search table but no FDE covers address (outermost)
 *   -ENODATA  the object has no .eh_frame_hdr search table (no unwind information)
 *   -ENOTSUP  CFI this interpreter does not handle (augmentations, opcodes, nesting)
 *   -EINVAL   malformed CFI
 * Cost: one object lookup, a binary search, then the CIE and FDE programs: about 200 ns
 * with warm CPU caches. Uses about 2 KiB of stack. */
int lw__cfi_find_row(uintptr_t address, lw_cfi_row_t *row /* out */);

/* Test seam: when true, objects are found with dl_iterate_phdr even if _dl_find_object
 * exists, so tests can exercise the fallback. */
void lw__cfi_use_dl_iterate_phdr(bool use);

#endif
