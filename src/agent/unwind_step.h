/*
 * unwind_step.h - one unwind step from a full CFI row: the caller's registers from the
 * callee's, including DWARF expressions (signal frames, PLT entries, stack realignment).
 *
 * This is the general, slower path; unwind.c steps most frames with a cached compact rule
 * instead. Never allocates, locks, or reads memory other than through a stack region.
 * Pairs with unwind_step.c.
 */
#ifndef LW_AGENT_UNWIND_STEP_H
#define LW_AGENT_UNWIND_STEP_H

#include <stdint.h>

#include "agent/unwind_cfi.h"
#include "agent/unwind_stack_bounds.h"

/* The registers of one frame. value[LW_REG_RA] holds the frame's pc; value[LW_REG_RSP] its
 * stack pointer. A register whose bit is clear in `known` has no trustworthy value (a
 * caller-saved register after a call, or a callee-saved one a cached step did not
 * restore). */
typedef struct {
  uint64_t value[LW_CFI_REGISTER_COUNT];
  uint32_t known;
} lw_unwind_registers_t;

#define LW_REGISTER_BIT(reg) ((uint32_t)1 << (reg))

/* Registers the x86-64 System V ABI preserves across calls: without a CFI rule they keep
 * their value in the caller. */
#define LW_CALLEE_SAVED_REGISTERS                                                                  \
  (LW_REGISTER_BIT(LW_REG_RBX) | LW_REGISTER_BIT(LW_REG_RBP) | LW_REGISTER_BIT(LW_REG_R12) |       \
   LW_REGISTER_BIT(LW_REG_R13) | LW_REGISTER_BIT(LW_REG_R14) | LW_REGISTER_BIT(LW_REG_R15))

enum lw_step_result {
  LW_STEP_DONE = 0,              /* *registers now describe the caller */
  LW_STEP_OUTERMOST = 1,         /* the return address is undefined: no caller */
  LW_STEP_UNSAFE = -1,           /* a read fell outside the stack region */
  LW_STEP_UNKNOWN_REGISTER = -2, /* the CFA or return address needs an unknown register */
  LW_STEP_UNSUPPORTED = -3,      /* an expression operation or rule not handled */
};

/* Applies row (the rules at this frame's pc) to *registers. On LW_STEP_DONE the result has
 * value[LW_REG_RSP] = the CFA and value[LW_REG_RA] = the caller's pc; on any other result
 * *registers is unchanged. Cost: about 400 instructions for the 17 registers, more with
 * expressions. */
int lw__unwind_step_row(const lw_cfi_row_t *row, lw_unwind_registers_t *registers /* in/out */,
                        const lw_stack_region_t *region);

#endif
