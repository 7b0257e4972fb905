/*
 * unwind_step.c - applies a CFI row to a frame's registers to get its caller's, and
 * evaluates the DWARF expressions rows may contain.
 *
 * Role: the general step behind the cached fast path in unwind.c. It handles every rule
 * kind (offset, val_offset, register, expression, val_expression, same_value, undefined)
 * for all 17 x86-64 DWARF registers, which is what signal trampolines (__restore_rt
 * restores every register from the ucontext with DW_CFA_expression), PLT entries and
 * interrupted prologues need.
 *
 * Never: reads memory except through lw__stack_read on the walk's stack region, so an
 * expression that dereferences anything else (a global, the heap) stops the walk instead
 * of risking a fault; allocates; loops without bound (expressions are limited to
 * LW_EXPRESSION_MAX_OPERATIONS operations, which stops DW_OP_bra/skip loops).
 * Pairs with unwind_step.h.
 */
#include "agent/unwind_step.h"

#include <string.h>

/* DWARF expression operations (DWARF 5, section 2.5 and table 7.9) that can appear in CFI.
 * DW_OP_regN, piece, fbreg and the like describe variable locations, not addresses, and
 * are rejected. */
enum {
  DW_OP_addr = 0x03,
  DW_OP_deref = 0x06,
  DW_OP_const1u = 0x08,
  DW_OP_const1s = 0x09,
  DW_OP_const2u = 0x0a,
  DW_OP_const2s = 0x0b,
  DW_OP_const4u = 0x0c,
  DW_OP_const4s = 0x0d,
  DW_OP_const8u = 0x0e,
  DW_OP_const8s = 0x0f,
  DW_OP_constu = 0x10,
  DW_OP_consts = 0x11,
  DW_OP_dup = 0x12,
  DW_OP_drop = 0x13,
  DW_OP_over = 0x14,
  DW_OP_pick = 0x15,
  DW_OP_swap = 0x16,
  DW_OP_rot = 0x17,
  DW_OP_abs = 0x19,
  DW_OP_and = 0x1a,
  DW_OP_div = 0x1b,
  DW_OP_minus = 0x1c,
  DW_OP_mod = 0x1d,
  DW_OP_mul = 0x1e,
  DW_OP_neg = 0x1f,
  DW_OP_not = 0x20,
  DW_OP_or = 0x21,
  DW_OP_plus = 0x22,
  DW_OP_plus_uconst = 0x23,
  DW_OP_shl = 0x24,
  DW_OP_shr = 0x25,
  DW_OP_shra = 0x26,
  DW_OP_xor = 0x27,
  DW_OP_bra = 0x28,
  DW_OP_eq = 0x29,
  DW_OP_ge = 0x2a,
  DW_OP_gt = 0x2b,
  DW_OP_le = 0x2c,
  DW_OP_lt = 0x2d,
  DW_OP_ne = 0x2e,
  DW_OP_skip = 0x2f,
  DW_OP_lit0 = 0x30,
  DW_OP_lit31 = 0x4f,
  DW_OP_breg0 = 0x70,
  DW_OP_breg31 = 0x8f,
  DW_OP_bregx = 0x92,
  DW_OP_deref_size = 0x94,
  DW_OP_nop = 0x96,
};

#define LW_EXPRESSION_STACK_DEPTH 16
#define LW_EXPRESSION_MAX_OPERATIONS 128

/* Evaluates a DWARF expression block (ULEB128 length, then operations). With push_cfa the
 * CFA is pushed first, as DWARF requires for DW_CFA_expression/val_expression rules.
 * Returns LW_STEP_DONE with *result set, or the reason it cannot. */
static int evaluate_expression(const uint8_t *block, const lw_unwind_registers_t *registers,
                               const lw_stack_region_t *region, bool push_cfa, uint64_t cfa,
                               uint64_t *result /* out */) {
  lw_cfi_reader_t reader = {.cursor = block, .end = block + 16};
  uint64_t length;
  /* The parser checked that the block lies inside its FDE, so its length is trusted. */
  if (!lw__cfi_read_uleb128(&reader, &length))
    return LW_STEP_UNSUPPORTED;
  const uint8_t *start = reader.cursor;
  reader.end = start + length;

  uint64_t stack[LW_EXPRESSION_STACK_DEPTH];
  int depth = 0;
  if (push_cfa)
    stack[depth++] = cfa;

#define NEED(n)                                                                                    \
  do {                                                                                             \
    if (depth < (n))                                                                               \
      return LW_STEP_UNSUPPORTED;                                                                  \
  } while (0)
#define PUSH(v)                                                                                    \
  do {                                                                                             \
    uint64_t pushed_ = (v);                                                                        \
    if (depth == LW_EXPRESSION_STACK_DEPTH)                                                        \
      return LW_STEP_UNSUPPORTED;                                                                  \
    stack[depth++] = pushed_;                                                                      \
  } while (0)

  for (int operations = 0; reader.cursor < reader.end; operations++) {
    if (operations == LW_EXPRESSION_MAX_OPERATIONS)
      return LW_STEP_UNSUPPORTED;
    uint8_t op;
    if (!lw__cfi_read_u8(&reader, &op))
      return LW_STEP_UNSUPPORTED;
    uint64_t u = 0, a, b;
    int64_t s = 0;

    if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
      PUSH((uint64_t)(op - DW_OP_lit0));
      continue;
    }
    if ((op >= DW_OP_breg0 && op <= DW_OP_breg31) || op == DW_OP_bregx) {
      if (op == DW_OP_bregx) {
        if (!lw__cfi_read_uleb128(&reader, &u))
          return LW_STEP_UNSUPPORTED;
      } else {
        u = (uint64_t)(op - DW_OP_breg0);
      }
      if (!lw__cfi_read_sleb128(&reader, &s))
        return LW_STEP_UNSUPPORTED;
      if (u >= LW_CFI_REGISTER_COUNT || !(registers->known & LW_REGISTER_BIT(u)))
        return LW_STEP_UNKNOWN_REGISTER;
      PUSH(registers->value[u] + (uint64_t)s);
      continue;
    }

    switch (op) {
    case DW_OP_addr:
    case DW_OP_const8u:
    case DW_OP_const8s:
      if (!lw__cfi_read_bytes(&reader, &u, 8))
        return LW_STEP_UNSUPPORTED;
      PUSH(u);
      break;
    case DW_OP_const1u:
    case DW_OP_const1s: {
      uint8_t v;
      if (!lw__cfi_read_u8(&reader, &v))
        return LW_STEP_UNSUPPORTED;
      PUSH(op == DW_OP_const1s ? (uint64_t)(int64_t)(int8_t)v : v);
      break;
    }
    case DW_OP_const2u:
    case DW_OP_const2s: {
      uint16_t v;
      if (!lw__cfi_read_bytes(&reader, &v, 2))
        return LW_STEP_UNSUPPORTED;
      PUSH(op == DW_OP_const2s ? (uint64_t)(int64_t)(int16_t)v : v);
      break;
    }
    case DW_OP_const4u:
    case DW_OP_const4s: {
      uint32_t v;
      if (!lw__cfi_read_bytes(&reader, &v, 4))
        return LW_STEP_UNSUPPORTED;
      PUSH(op == DW_OP_const4s ? (uint64_t)(int64_t)(int32_t)v : v);
      break;
    }
    case DW_OP_constu:
      if (!lw__cfi_read_uleb128(&reader, &u))
        return LW_STEP_UNSUPPORTED;
      PUSH(u);
      break;
    case DW_OP_consts:
      if (!lw__cfi_read_sleb128(&reader, &s))
        return LW_STEP_UNSUPPORTED;
      PUSH((uint64_t)s);
      break;
    case DW_OP_dup:
      NEED(1);
      PUSH(stack[depth - 1]);
      break;
    case DW_OP_drop:
      NEED(1);
      depth--;
      break;
    case DW_OP_over:
      NEED(2);
      PUSH(stack[depth - 2]);
      break;
    case DW_OP_pick: {
      uint8_t index;
      if (!lw__cfi_read_u8(&reader, &index))
        return LW_STEP_UNSUPPORTED;
      NEED(index + 1);
      PUSH(stack[depth - 1 - index]);
      break;
    }
    case DW_OP_swap:
      NEED(2);
      a = stack[depth - 1];
      stack[depth - 1] = stack[depth - 2];
      stack[depth - 2] = a;
      break;
    case DW_OP_rot: /* top three: (c b a) -> (a c b), a being the top */
      NEED(3);
      a = stack[depth - 1];
      stack[depth - 1] = stack[depth - 2];
      stack[depth - 2] = stack[depth - 3];
      stack[depth - 3] = a;
      break;
    case DW_OP_deref:
    case DW_OP_deref_size: {
      uint8_t size = 8;
      if (op == DW_OP_deref_size && (!lw__cfi_read_u8(&reader, &size) || size == 0 || size > 8))
        return LW_STEP_UNSUPPORTED;
      NEED(1);
      uint64_t word;
      /* Only stack memory: CFI dereferences saved slots and the ucontext, nothing else.
       * deref_size still reads a whole word, so it is refused within 7 bytes of the top. */
      if (!lw__stack_read(region, (uintptr_t)stack[depth - 1], &word))
        return LW_STEP_UNSAFE;
      if (size < 8)
        word &= ((uint64_t)1 << (size * 8)) - 1;
      stack[depth - 1] = word;
      break;
    }
    case DW_OP_abs:
      NEED(1);
      if ((int64_t)stack[depth - 1] < 0)
        stack[depth - 1] = -stack[depth - 1];
      break;
    case DW_OP_neg:
      NEED(1);
      stack[depth - 1] = -stack[depth - 1];
      break;
    case DW_OP_not:
      NEED(1);
      stack[depth - 1] = ~stack[depth - 1];
      break;
    case DW_OP_plus_uconst:
      NEED(1);
      if (!lw__cfi_read_uleb128(&reader, &u))
        return LW_STEP_UNSUPPORTED;
      stack[depth - 1] += u;
      break;
    case DW_OP_and:
    case DW_OP_div:
    case DW_OP_minus:
    case DW_OP_mod:
    case DW_OP_mul:
    case DW_OP_or:
    case DW_OP_plus:
    case DW_OP_shl:
    case DW_OP_shr:
    case DW_OP_shra:
    case DW_OP_xor:
    case DW_OP_eq:
    case DW_OP_ge:
    case DW_OP_gt:
    case DW_OP_le:
    case DW_OP_lt:
    case DW_OP_ne:
      NEED(2);
      b = stack[--depth]; /* the top */
      a = stack[depth - 1];
      switch (op) {
      case DW_OP_and: a &= b; break;
      case DW_OP_div:
        if (b == 0 || ((int64_t)a == INT64_MIN && (int64_t)b == -1))
          return LW_STEP_UNSUPPORTED;
        a = (uint64_t)((int64_t)a / (int64_t)b);
        break;
      case DW_OP_minus: a -= b; break;
      case DW_OP_mod:
        if (b == 0)
          return LW_STEP_UNSUPPORTED;
        a %= b;
        break;
      case DW_OP_mul: a *= b; break;
      case DW_OP_or: a |= b; break;
      case DW_OP_plus: a += b; break;
      case DW_OP_shl: a = b >= 64 ? 0 : a << b; break;
      case DW_OP_shr: a = b >= 64 ? 0 : a >> b; break;
      case DW_OP_shra: a = (uint64_t)((int64_t)a >> (b >= 64 ? 63 : b)); break;
      case DW_OP_xor: a ^= b; break;
      /* Relational operations compare as signed values (DWARF 5, 2.5.1.5). */
      case DW_OP_eq: a = a == b; break;
      case DW_OP_ge: a = (int64_t)a >= (int64_t)b; break;
      case DW_OP_gt: a = (int64_t)a > (int64_t)b; break;
      case DW_OP_le: a = (int64_t)a <= (int64_t)b; break;
      case DW_OP_lt: a = (int64_t)a < (int64_t)b; break;
      default: a = a != b; break; /* DW_OP_ne */
      }
      stack[depth - 1] = a;
      break;
    case DW_OP_skip:
    case DW_OP_bra: {
      int16_t jump;
      if (!lw__cfi_read_bytes(&reader, &jump, 2))
        return LW_STEP_UNSUPPORTED;
      bool taken = true;
      if (op == DW_OP_bra) {
        NEED(1);
        taken = stack[--depth] != 0;
      }
      if (taken) {
        ptrdiff_t target = (reader.cursor - start) + jump;
        if (target < 0 || target > (ptrdiff_t)length)
          return LW_STEP_UNSUPPORTED;
        reader.cursor = start + target;
      }
      break;
    }
    case DW_OP_nop: break;
    default: return LW_STEP_UNSUPPORTED;
    }
  }
#undef NEED
#undef PUSH
  if (depth == 0)
    return LW_STEP_UNSUPPORTED;
  *result = stack[depth - 1];
  return LW_STEP_DONE;
}

/* The caller's value of register `reg` under `rule`. Returns LW_STEP_DONE and sets *known
 * (false: the value is lost), or a reason the whole step must stop (unsafe read). */
static int recover_register(const lw_cfi_rule_t *rule, int reg,
                            const lw_unwind_registers_t *registers, const lw_stack_region_t *region,
                            uint64_t cfa, uint64_t *value /* out */, bool *known /* out */) {
  int status;
  uint64_t address;
  *known = false;
  switch (rule->kind) {
  case LW_CFI_RULE_UNSPECIFIED:
    if (reg == LW_REG_RSP) {
      *value = cfa; /* by definition the caller's sp is the CFA */
      *known = true;
    } else if ((LW_CALLEE_SAVED_REGISTERS & LW_REGISTER_BIT(reg)) &&
               (registers->known & LW_REGISTER_BIT(reg))) {
      *value = registers->value[reg];
      *known = true;
    }
    return LW_STEP_DONE;
  case LW_CFI_RULE_SAME_VALUE:
    if (registers->known & LW_REGISTER_BIT(reg)) {
      *value = registers->value[reg];
      *known = true;
    }
    return LW_STEP_DONE;
  case LW_CFI_RULE_UNDEFINED: return LW_STEP_DONE;
  case LW_CFI_RULE_OFFSET:
    if (!lw__stack_read(region, (uintptr_t)(cfa + (uint64_t)(int64_t)rule->value), value))
      return LW_STEP_UNSAFE;
    *known = true;
    return LW_STEP_DONE;
  case LW_CFI_RULE_VAL_OFFSET:
    *value = cfa + (uint64_t)(int64_t)rule->value;
    *known = true;
    return LW_STEP_DONE;
  case LW_CFI_RULE_REGISTER:
    if (rule->value >= 0 && rule->value < LW_CFI_REGISTER_COUNT &&
        (registers->known & LW_REGISTER_BIT(rule->value))) {
      *value = registers->value[rule->value];
      *known = true;
    }
    return LW_STEP_DONE;
  case LW_CFI_RULE_EXPRESSION:
    status = evaluate_expression(rule->expression, registers, region, true, cfa, &address);
    if (status == LW_STEP_UNKNOWN_REGISTER)
      return LW_STEP_DONE; /* lost, which matters only if it is the return address */
    if (status != LW_STEP_DONE)
      return status;
    if (!lw__stack_read(region, (uintptr_t)address, value))
      return LW_STEP_UNSAFE;
    *known = true;
    return LW_STEP_DONE;
  case LW_CFI_RULE_VAL_EXPRESSION:
    status = evaluate_expression(rule->expression, registers, region, true, cfa, value);
    if (status == LW_STEP_UNKNOWN_REGISTER)
      return LW_STEP_DONE;
    if (status != LW_STEP_DONE)
      return status;
    *known = true;
    return LW_STEP_DONE;
  default: return LW_STEP_UNSUPPORTED;
  }
}

int lw__unwind_step_row(const lw_cfi_row_t *row, lw_unwind_registers_t *registers /* in/out */,
                        const lw_stack_region_t *region) {
  uint64_t cfa;
  if (row->cfa_kind == LW_CFI_CFA_REGISTER_OFFSET) {
    if (!(registers->known & LW_REGISTER_BIT(row->cfa_register)))
      return LW_STEP_UNKNOWN_REGISTER;
    cfa = registers->value[row->cfa_register] + (uint64_t)row->cfa_offset;
  } else if (row->cfa_kind == LW_CFI_CFA_EXPRESSION) {
    int status = evaluate_expression(row->cfa_expression, registers, region, false, 0, &cfa);
    if (status != LW_STEP_DONE)
      return status;
  } else {
    return LW_STEP_UNSUPPORTED;
  }

  const lw_cfi_rule_t *return_address = &row->registers[LW_REG_RA];
  if (return_address->kind == LW_CFI_RULE_UNDEFINED)
    return LW_STEP_OUTERMOST;
  if (return_address->kind == LW_CFI_RULE_UNSPECIFIED ||
      return_address->kind == LW_CFI_RULE_SAME_VALUE)
    return LW_STEP_UNSUPPORTED; /* would loop on the same pc */

  /* Every rule reads the callee's registers, so compute into a copy. */
  lw_unwind_registers_t caller = {.known = 0};
  for (int reg = 0; reg < LW_CFI_REGISTER_COUNT; reg++) {
    bool known;
    int status = recover_register(&row->registers[reg], reg, registers, region, cfa,
                                  &caller.value[reg], &known);
    if (status != LW_STEP_DONE)
      return status;
    if (known)
      caller.known |= LW_REGISTER_BIT(reg);
  }
  if (!(caller.known & LW_REGISTER_BIT(LW_REG_RA)))
    return LW_STEP_UNKNOWN_REGISTER;
  if (!(caller.known & LW_REGISTER_BIT(LW_REG_RSP)))
    return LW_STEP_UNKNOWN_REGISTER;
  *registers = caller;
  return LW_STEP_DONE;
}
