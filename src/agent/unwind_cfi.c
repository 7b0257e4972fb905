/*
 * unwind_cfi.c - finds the FDE for an address and runs its CFA program up to that address.
 *
 * Role: address -> loaded object (_dl_find_object; dl_iterate_phdr only when the C library
 * lacks it) -> its .eh_frame_hdr binary-search table -> the FDE whose range covers the
 * address -> its CIE (augmentations z, R, P, L, S) -> execute the CIE's initial program and
 * the FDE's program until the address -> the row of rules in effect there.
 * Format references: the LSB Core specification's ".eh_frame" and ".eh_frame_hdr"
 * sections (pointer encodings DW_EH_PE_*) and DWARF 5, section 6.4 (call frame
 * instructions).
 *
 * Never: reads the stack (unwind_step.c applies rows to registers), allocates, or locks
 * (_dl_find_object is lock-free; the dl_iterate_phdr fallback takes the loader's lock,
 * acceptable only because it is used on glibc < 2.35 alone). It reads nothing outside the
 * object's mapped range [map_start, map_end): lengths and offsets from the tables are
 * checked against it before use. The tables themselves are trusted to be what the linker
 * produced; a corrupt table cannot make this code read outside the object, but could
 * point into a PROT_NONE gap between its segments (see docs/INTERNALS.md).
 * Pairs with unwind_cfi.h.
 */
#define _GNU_SOURCE
#include "agent/unwind_cfi.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

/* Pointer encodings (LSB Core, "DWARF Exception Header Encoding"): the low nibble is the
 * format, bits 4-6 how it is applied, bit 7 an extra indirection. */
enum {
  DW_EH_PE_absptr = 0x00,
  DW_EH_PE_uleb128 = 0x01,
  DW_EH_PE_udata2 = 0x02,
  DW_EH_PE_udata4 = 0x03,
  DW_EH_PE_udata8 = 0x04,
  DW_EH_PE_sleb128 = 0x09,
  DW_EH_PE_sdata2 = 0x0a,
  DW_EH_PE_sdata4 = 0x0b,
  DW_EH_PE_sdata8 = 0x0c,
  DW_EH_PE_pcrel = 0x10,
  DW_EH_PE_datarel = 0x30,
  DW_EH_PE_indirect = 0x80,
  DW_EH_PE_omit = 0xff,
  DW_EH_PE_format_mask = 0x0f,
  DW_EH_PE_application_mask = 0x70,
};

/* Call frame instructions (DWARF 5, table 7.29, plus the GNU extensions). */
enum {
  DW_CFA_advance_loc = 0x40, /* high two bits; low six are the operand */
  DW_CFA_offset = 0x80,
  DW_CFA_restore = 0xc0,
  DW_CFA_nop = 0x00,
  DW_CFA_set_loc = 0x01,
  DW_CFA_advance_loc1 = 0x02,
  DW_CFA_advance_loc2 = 0x03,
  DW_CFA_advance_loc4 = 0x04,
  DW_CFA_offset_extended = 0x05,
  DW_CFA_restore_extended = 0x06,
  DW_CFA_undefined = 0x07,
  DW_CFA_same_value = 0x08,
  DW_CFA_register = 0x09,
  DW_CFA_remember_state = 0x0a,
  DW_CFA_restore_state = 0x0b,
  DW_CFA_def_cfa = 0x0c,
  DW_CFA_def_cfa_register = 0x0d,
  DW_CFA_def_cfa_offset = 0x0e,
  DW_CFA_def_cfa_expression = 0x0f,
  DW_CFA_expression = 0x10,
  DW_CFA_offset_extended_sf = 0x11,
  DW_CFA_def_cfa_sf = 0x12,
  DW_CFA_def_cfa_offset_sf = 0x13,
  DW_CFA_val_offset = 0x14,
  DW_CFA_val_offset_sf = 0x15,
  DW_CFA_val_expression = 0x16,
  DW_CFA_GNU_args_size = 0x2e,
  DW_CFA_GNU_negative_offset_extended = 0x2f,
};

/* DW_CFA_remember_state nesting this interpreter keeps. GCC nests at most one or two (an
 * epilogue in the middle of a function); deeper nesting makes the row unsupported. Each
 * level costs a row (about 300 bytes) of stack. */
#define LW_CFI_REMEMBER_DEPTH 4
/* Augmentation strings longer than this are not produced by any toolchain we know. */
#define LW_CFI_MAX_AUGMENTATION 8

typedef struct {
  const uint8_t *instructions; /* the initial program */
  const uint8_t *instructions_end;
  uint64_t code_alignment;
  int64_t data_alignment;
  uint8_t fde_encoding;       /* 'R', DW_EH_PE_absptr when absent */
  bool has_augmentation_data; /* 'z': FDEs carry an augmentation length */
  bool signal_frame;          /* 'S' */
} cfi_cie_t;

/* Reads the value of a pointer in the given encoding's format (low nibble), without
 * applying it. */
static bool read_format(lw_cfi_reader_t *reader, uint8_t encoding, uint64_t *out) {
  switch (encoding & DW_EH_PE_format_mask) {
  case DW_EH_PE_absptr:
  case DW_EH_PE_udata8:
  case DW_EH_PE_sdata8: return lw__cfi_read_bytes(reader, out, sizeof *out);
  case DW_EH_PE_udata2: {
    uint16_t v;
    if (!lw__cfi_read_bytes(reader, &v, sizeof v))
      return false;
    *out = v;
    return true;
  }
  case DW_EH_PE_sdata2: {
    int16_t v;
    if (!lw__cfi_read_bytes(reader, &v, sizeof v))
      return false;
    *out = (uint64_t)(int64_t)v;
    return true;
  }
  case DW_EH_PE_udata4: {
    uint32_t v;
    if (!lw__cfi_read_bytes(reader, &v, sizeof v))
      return false;
    *out = v;
    return true;
  }
  case DW_EH_PE_sdata4: {
    int32_t v;
    if (!lw__cfi_read_bytes(reader, &v, sizeof v))
      return false;
    *out = (uint64_t)(int64_t)v;
    return true;
  }
  case DW_EH_PE_uleb128: return lw__cfi_read_uleb128(reader, out);
  case DW_EH_PE_sleb128: {
    int64_t v;
    if (!lw__cfi_read_sleb128(reader, &v))
      return false;
    *out = (uint64_t)v;
    return true;
  }
  default: return false;
  }
}

/* Reads a pointer in the given encoding. pcrel is relative to the field's own address;
 * datarel to datarel_base (the .eh_frame_hdr start; 0 where datarel has no meaning, as in
 * .eh_frame on x86-64). textrel, funcrel and aligned are not used on x86-64 Linux.
 * `indirect` pointers are dereferenced only if the target lies inside the object. */
static bool read_encoded(lw_cfi_reader_t *reader, uint8_t encoding, uintptr_t datarel_base,
                         const lw_cfi_object_t *object, uint64_t *out) {
  if (encoding == DW_EH_PE_omit)
    return false;
  uintptr_t field = (uintptr_t)reader->cursor;
  uint64_t value;
  if (!read_format(reader, encoding, &value))
    return false;
  switch (encoding & DW_EH_PE_application_mask) {
  case 0: break;
  case DW_EH_PE_pcrel: value += field; break;
  case DW_EH_PE_datarel:
    if (datarel_base == 0)
      return false;
    value += datarel_base;
    break;
  default: return false;
  }
  if (encoding & DW_EH_PE_indirect) {
    if (value < object->map_start || object->map_end < sizeof(uint64_t) ||
        value > object->map_end - sizeof(uint64_t))
      return false;
    uint64_t target;
    memcpy(&target, (const void *)(uintptr_t)value, sizeof target);
    value = target;
  }
  *out = value;
  return true;
}

/* Size in bytes of a fixed-size encoding, 0 for variable-size or unknown formats. */
static size_t encoded_size(uint8_t encoding) {
  switch (encoding & DW_EH_PE_format_mask) {
  case DW_EH_PE_udata2:
  case DW_EH_PE_sdata2: return 2;
  case DW_EH_PE_udata4:
  case DW_EH_PE_sdata4: return 4;
  case DW_EH_PE_absptr:
  case DW_EH_PE_udata8:
  case DW_EH_PE_sdata8: return 8;
  default: return 0;
  }
}

/* ---- finding the object ---------------------------------------------------------------- */

/* _dl_find_object appeared in glibc 2.35. The weak reference lets an agent built here load
 * on a C library without it; then the pointer is NULL and dl_iterate_phdr is used. */
#ifdef DLFO_EH_SEGMENT_TYPE
#pragma weak _dl_find_object
#define LW_HAVE_DL_FIND_OBJECT 1
#else
#define LW_HAVE_DL_FIND_OBJECT 0
#endif

static atomic_bool cfi_force_dl_iterate_phdr;

void lw__cfi_use_dl_iterate_phdr(bool use) {
  atomic_store_explicit(&cfi_force_dl_iterate_phdr, use, memory_order_relaxed);
}

typedef struct {
  uintptr_t address;
  lw_cfi_object_t *object;
  bool found;
} phdr_search_t;

/* dl_iterate_phdr callback: the object is the one with a PT_LOAD segment containing the
 * address (not merely between its lowest and highest segment: another object may be
 * mapped in a gap). */
static int phdr_search_callback(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  phdr_search_t *search = data;
  uintptr_t low = UINTPTR_MAX, high = 0;
  const uint8_t *eh_frame_hdr = NULL;
  bool contains = false;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + segment->p_vaddr;
    if (segment->p_type == PT_LOAD) {
      uintptr_t end = start + segment->p_memsz;
      if (start < low)
        low = start;
      if (end > high)
        high = end;
      if (search->address >= start && search->address < end)
        contains = true;
    } else if (segment->p_type == PT_GNU_EH_FRAME) {
      eh_frame_hdr = (const uint8_t *)start;
    }
  }
  if (!contains)
    return 0;
  search->object->map_start = low;
  search->object->map_end = high;
  search->object->eh_frame_hdr = eh_frame_hdr;
  search->found = true;
  return 1; /* stop iterating */
}

int lw__cfi_find_object(uintptr_t address, lw_cfi_object_t *object /* out */) {
#if LW_HAVE_DL_FIND_OBJECT
  if (_dl_find_object != NULL &&
      !atomic_load_explicit(&cfi_force_dl_iterate_phdr, memory_order_relaxed)) {
    struct dl_find_object found;
    if (_dl_find_object((void *)address, &found) != 0)
      return -ESRCH;
    object->map_start = (uintptr_t)found.dlfo_map_start;
    object->map_end = (uintptr_t)found.dlfo_map_end;
    object->eh_frame_hdr = found.dlfo_eh_frame;
    return 0;
  }
#endif
  phdr_search_t search = {.address = address, .object = object, .found = false};
  dl_iterate_phdr(phdr_search_callback, &search);
  return search.found ? 0 : -ESRCH;
}

/* ---- .eh_frame_hdr ---------------------------------------------------------------------- */

/* Decodes field `column` (0: initial location, 1: FDE address) of table entry `index`. */
static bool table_entry(const uint8_t *table, size_t entry_size, uint8_t encoding, uintptr_t hdr,
                        size_t index, int column, uint64_t *out) {
  const uint8_t *field = table + index * entry_size * 2 + (size_t)column * entry_size;
  lw_cfi_reader_t reader = {.cursor = field, .end = field + entry_size};
  /* The table lies inside the object (checked by the caller), so `indirect` never applies
   * here; pass an object that refuses it. */
  lw_cfi_object_t no_indirection = {.map_start = UINTPTR_MAX, .map_end = 0};
  return read_encoded(&reader, encoding, hdr, &no_indirection, out);
}

/* Finds the FDE that may cover address via the binary-search table of .eh_frame_hdr.
 * Returns 0 with *fde set, -ENOENT when the address precedes every entry, -ENODATA when
 * there is no usable table. */
static int find_fde(const lw_cfi_object_t *object, uintptr_t address,
                    const uint8_t **fde /* out */) {
  const uint8_t *hdr = object->eh_frame_hdr;
  if (hdr == NULL)
    return -ENODATA;
  lw_cfi_reader_t reader = {.cursor = hdr, .end = (const uint8_t *)object->map_end};
  if ((uintptr_t)hdr < object->map_start || (uintptr_t)hdr >= object->map_end)
    return -EINVAL;
  uint8_t version, eh_frame_pointer_encoding, count_encoding, table_encoding;
  if (!lw__cfi_read_u8(&reader, &version) ||
      !lw__cfi_read_u8(&reader, &eh_frame_pointer_encoding) ||
      !lw__cfi_read_u8(&reader, &count_encoding) || !lw__cfi_read_u8(&reader, &table_encoding))
    return -EINVAL;
  if (version != 1)
    return -ENODATA;
  uint64_t eh_frame_pointer, count;
  if (!read_encoded(&reader, eh_frame_pointer_encoding, (uintptr_t)hdr, object, &eh_frame_pointer))
    return -EINVAL;
  /* Without a count or a fixed-size table there is nothing to binary-search. Scanning
   * .eh_frame linearly would need its size, which PT_GNU_EH_FRAME does not give. */
  if (count_encoding == DW_EH_PE_omit || table_encoding == DW_EH_PE_omit)
    return -ENODATA;
  if (!read_encoded(&reader, count_encoding, (uintptr_t)hdr, object, &count))
    return -EINVAL;
  size_t entry_size = encoded_size(table_encoding);
  if (entry_size == 0 || (table_encoding & DW_EH_PE_indirect))
    return -ENODATA;
  const uint8_t *table = reader.cursor;
  if (count == 0)
    return -ENOENT;
  if (count > (size_t)(reader.end - table) / (entry_size * 2))
    return -EINVAL;

  /* Last entry whose initial location is <= address. */
  size_t low = 0, high = (size_t)count;
  if (table_encoding == (DW_EH_PE_datarel | DW_EH_PE_sdata4)) {
    /* What GNU ld and lld always write: pairs of 32-bit offsets from the header. Decoded
     * inline, this is most of the cost of a lookup in a large library. */
    const int32_t *pairs = (const int32_t *)(const void *)table;
    intptr_t target = (intptr_t)(address - (uintptr_t)hdr);
    if (target < pairs[0])
      return -ENOENT;
    while (high - low > 1) {
      size_t middle = low + (high - low) / 2;
      if (pairs[2 * middle] <= target)
        low = middle;
      else
        high = middle;
    }
    *fde = hdr + pairs[2 * low + 1];
    return 0;
  }
  while (high - low > 1) {
    size_t middle = low + (high - low) / 2;
    uint64_t location;
    if (!table_entry(table, entry_size, table_encoding, (uintptr_t)hdr, middle, 0, &location))
      return -EINVAL;
    if (location <= address)
      low = middle;
    else
      high = middle;
  }
  uint64_t location, fde_address;
  if (!table_entry(table, entry_size, table_encoding, (uintptr_t)hdr, low, 0, &location) ||
      !table_entry(table, entry_size, table_encoding, (uintptr_t)hdr, low, 1, &fde_address))
    return -EINVAL;
  if (location > address)
    return -ENOENT;
  *fde = (const uint8_t *)(uintptr_t)fde_address;
  return 0;
}

/* ---- CIE and FDE ------------------------------------------------------------------------ */

/* Reads a CIE or FDE length (32-bit, or 0xffffffff then 64-bit) and returns a reader over
 * the rest of the entry, plus whether it uses the 64-bit format. */
static int read_entry(const lw_cfi_object_t *object, const uint8_t *entry,
                      lw_cfi_reader_t *body /* out */, bool *is_64_bit /* out */) {
  if ((uintptr_t)entry < object->map_start || (uintptr_t)entry >= object->map_end)
    return -EINVAL;
  lw_cfi_reader_t reader = {.cursor = entry, .end = (const uint8_t *)object->map_end};
  uint32_t length32;
  if (!lw__cfi_read_bytes(&reader, &length32, sizeof length32))
    return -EINVAL;
  uint64_t length = length32;
  *is_64_bit = length32 == 0xffffffffu;
  if (*is_64_bit && !lw__cfi_read_bytes(&reader, &length, sizeof length))
    return -EINVAL;
  if (length == 0 || length > (uint64_t)(reader.end - reader.cursor))
    return -EINVAL; /* 0 is the .eh_frame terminator, never a valid target */
  body->cursor = reader.cursor;
  body->end = reader.cursor + length;
  return 0;
}

static int parse_cie(const lw_cfi_object_t *object, const uint8_t *entry,
                     cfi_cie_t *cie /* out */) {
  lw_cfi_reader_t reader;
  bool is_64_bit;
  int status = read_entry(object, entry, &reader, &is_64_bit);
  if (status != 0)
    return status;
  uint64_t id = 1;
  if (is_64_bit) {
    if (!lw__cfi_read_bytes(&reader, &id, sizeof id))
      return -EINVAL;
  } else {
    uint32_t id32;
    if (!lw__cfi_read_bytes(&reader, &id32, sizeof id32))
      return -EINVAL;
    id = id32;
  }
  if (id != 0) /* in .eh_frame a CIE has id 0; anything else is an FDE */
    return -EINVAL;
  uint8_t version;
  if (!lw__cfi_read_u8(&reader, &version))
    return -EINVAL;
  if (version != 1 && version != 3)
    return -ENOTSUP;

  char augmentation[LW_CFI_MAX_AUGMENTATION + 1];
  size_t augmentation_length = 0;
  for (;;) {
    uint8_t c;
    if (!lw__cfi_read_u8(&reader, &c))
      return -EINVAL;
    if (c == 0)
      break;
    if (augmentation_length == LW_CFI_MAX_AUGMENTATION)
      return -ENOTSUP;
    augmentation[augmentation_length++] = (char)c;
  }
  augmentation[augmentation_length] = 0;

  int64_t data_alignment;
  uint64_t return_address_register;
  if (!lw__cfi_read_uleb128(&reader, &cie->code_alignment) ||
      !lw__cfi_read_sleb128(&reader, &data_alignment))
    return -EINVAL;
  cie->data_alignment = data_alignment;
  if (version == 1) {
    uint8_t r;
    if (!lw__cfi_read_u8(&reader, &r))
      return -EINVAL;
    return_address_register = r;
  } else if (!lw__cfi_read_uleb128(&reader, &return_address_register)) {
    return -EINVAL;
  }
  if (return_address_register != LW_REG_RA)
    return -ENOTSUP;

  cie->fde_encoding = DW_EH_PE_absptr;
  cie->has_augmentation_data = false;
  cie->signal_frame = false;
  if (augmentation_length > 0) {
    if (augmentation[0] != 'z')
      return -ENOTSUP; /* e.g. the pre-1999 "eh" augmentation */
    uint64_t data_length;
    if (!lw__cfi_read_uleb128(&reader, &data_length) ||
        data_length > (uint64_t)(reader.end - reader.cursor))
      return -EINVAL;
    lw_cfi_reader_t data = {.cursor = reader.cursor, .end = reader.cursor + data_length};
    cie->has_augmentation_data = true;
    for (size_t i = 1; i < augmentation_length; i++) {
      uint8_t encoding;
      uint64_t ignored;
      switch (augmentation[i]) {
      case 'R':
        if (!lw__cfi_read_u8(&data, &cie->fde_encoding))
          return -EINVAL;
        break;
      case 'L': /* LSDA encoding: the FDE's LSDA pointer is skipped via its length */
        if (!lw__cfi_read_u8(&data, &encoding))
          return -EINVAL;
        break;
      case 'P': /* personality routine: its pointer is parsed only to be skipped */
        if (!lw__cfi_read_u8(&data, &encoding) || !read_format(&data, encoding, &ignored))
          return -EINVAL;
        break;
      case 'S': cie->signal_frame = true; break;
      case 'B': /* AArch64 branch-target marker: no data */
      case 'G': /* memory-tagged stack frames: no data */ break;
      default:
        /* Unknown letter: its data size is unknown, so later letters (maybe 'R') cannot
         * be found. */
        return -ENOTSUP;
      }
    }
    reader.cursor += data_length;
  }
  cie->instructions = reader.cursor;
  cie->instructions_end = reader.end;
  return 0;
}

/* ---- the CFA program -------------------------------------------------------------------- */

typedef struct {
  const cfi_cie_t *cie;
  const lw_cfi_object_t *object;
  const lw_cfi_row_t *initial; /* the row after the CIE program, for DW_CFA_restore */
  uintptr_t location;          /* address the current row starts at */
  uintptr_t target;            /* stop once a row starts beyond this address */
  lw_cfi_row_t remembered[LW_CFI_REMEMBER_DEPTH];
  int remembered_count;
} cfi_program_t;

/* Rules for DWARF registers above 16 (vector registers, flags) are parsed and ignored:
 * they never take part in finding the caller. */
static void set_rule(lw_cfi_row_t *row, uint64_t reg, uint8_t kind, int32_t value,
                     const uint8_t *expression) {
  if (reg >= LW_CFI_REGISTER_COUNT)
    return;
  row->registers[reg].kind = kind;
  row->registers[reg].value = value;
  row->registers[reg].expression = expression;
}

/* factored * data_alignment as an int32 byte offset, or false on overflow. */
static bool factored_offset(int64_t factored, int64_t data_alignment, int32_t *out) {
  int64_t offset;
  if (__builtin_mul_overflow(factored, data_alignment, &offset) || offset < INT32_MIN ||
      offset > INT32_MAX)
    return false;
  *out = (int32_t)offset;
  return true;
}

/* Skips a DW_FORM_block (ULEB128 length, bytes) and returns where it starts. */
static bool skip_block(lw_cfi_reader_t *reader, const uint8_t **block /* out */) {
  *block = reader->cursor;
  uint64_t length;
  if (!lw__cfi_read_uleb128(reader, &length) || length > (uint64_t)(reader->end - reader->cursor))
    return false;
  reader->cursor += length;
  return true;
}

/* Moves the location forward; returns true when the new row starts beyond the target,
 * i.e. the current row is the answer. */
static bool advance(cfi_program_t *program, uint64_t delta, bool *overflow) {
  uint64_t scaled;
  if (__builtin_mul_overflow(delta, program->cie->code_alignment, &scaled) ||
      __builtin_add_overflow(program->location, scaled, &program->location)) {
    *overflow = true;
    return true;
  }
  return program->location > program->target;
}

/* Executes instructions in [cursor, end) on *row. Returns 0 (ran to the end or to the
 * target) or a negative errno. */
static int run_program(cfi_program_t *program, const uint8_t *cursor, const uint8_t *end,
                       lw_cfi_row_t *row) {
  lw_cfi_reader_t reader = {.cursor = cursor, .end = end};
  const cfi_cie_t *cie = program->cie;
  while (reader.cursor < reader.end) {
    uint8_t opcode;
    if (!lw__cfi_read_u8(&reader, &opcode))
      return -EINVAL;
    uint8_t operand = opcode & 0x3f;
    uint64_t reg = 0, unsigned_value = 0;
    int64_t signed_value = 0;
    int32_t offset;
    bool overflow = false;
    const uint8_t *block;

    switch (opcode & 0xc0) {
    case DW_CFA_advance_loc:
      if (advance(program, operand, &overflow))
        return overflow ? -EINVAL : 0;
      continue;
    case DW_CFA_offset:
      if (!lw__cfi_read_uleb128(&reader, &unsigned_value) || unsigned_value > INT64_MAX ||
          !factored_offset((int64_t)unsigned_value, cie->data_alignment, &offset))
        return -EINVAL;
      set_rule(row, operand, LW_CFI_RULE_OFFSET, offset, NULL);
      continue;
    case DW_CFA_restore:
      if (program->initial == NULL)
        set_rule(row, operand, LW_CFI_RULE_UNSPECIFIED, 0, NULL);
      else if (operand < LW_CFI_REGISTER_COUNT)
        row->registers[operand] = program->initial->registers[operand];
      continue;
    default: break;
    }

    switch (opcode) {
    case DW_CFA_nop: break;
    case DW_CFA_GNU_args_size: /* stack adjustment for the landing pad: irrelevant here */
      if (!lw__cfi_read_uleb128(&reader, &unsigned_value))
        return -EINVAL;
      break;
    case DW_CFA_set_loc: {
      uint64_t location;
      if (!read_encoded(&reader, cie->fde_encoding, 0, program->object, &location))
        return -EINVAL;
      program->location = (uintptr_t)location;
      if (program->location > program->target)
        return 0;
      break;
    }
    case DW_CFA_advance_loc1:
    case DW_CFA_advance_loc2:
    case DW_CFA_advance_loc4: {
      uint8_t delta8;
      uint16_t delta16;
      uint32_t delta32;
      bool ok = opcode == DW_CFA_advance_loc1   ? lw__cfi_read_u8(&reader, &delta8)
                : opcode == DW_CFA_advance_loc2 ? lw__cfi_read_bytes(&reader, &delta16, 2)
                                                : lw__cfi_read_bytes(&reader, &delta32, 4);
      if (!ok)
        return -EINVAL;
      uint64_t delta = opcode == DW_CFA_advance_loc1   ? delta8
                       : opcode == DW_CFA_advance_loc2 ? delta16
                                                       : delta32;
      if (advance(program, delta, &overflow))
        return overflow ? -EINVAL : 0;
      break;
    }
    case DW_CFA_offset_extended:
    case DW_CFA_val_offset:
    case DW_CFA_GNU_negative_offset_extended:
      if (!lw__cfi_read_uleb128(&reader, &reg) || !lw__cfi_read_uleb128(&reader, &unsigned_value) ||
          unsigned_value > INT64_MAX)
        return -EINVAL;
      signed_value = (int64_t)unsigned_value;
      if (opcode == DW_CFA_GNU_negative_offset_extended)
        signed_value = -signed_value;
      if (!factored_offset(signed_value, cie->data_alignment, &offset))
        return -EINVAL;
      set_rule(row, reg, opcode == DW_CFA_val_offset ? LW_CFI_RULE_VAL_OFFSET : LW_CFI_RULE_OFFSET,
               offset, NULL);
      break;
    case DW_CFA_offset_extended_sf:
    case DW_CFA_val_offset_sf:
      if (!lw__cfi_read_uleb128(&reader, &reg) || !lw__cfi_read_sleb128(&reader, &signed_value) ||
          !factored_offset(signed_value, cie->data_alignment, &offset))
        return -EINVAL;
      set_rule(row, reg,
               opcode == DW_CFA_val_offset_sf ? LW_CFI_RULE_VAL_OFFSET : LW_CFI_RULE_OFFSET, offset,
               NULL);
      break;
    case DW_CFA_restore_extended:
      if (!lw__cfi_read_uleb128(&reader, &reg))
        return -EINVAL;
      if (program->initial == NULL)
        set_rule(row, reg, LW_CFI_RULE_UNSPECIFIED, 0, NULL);
      else if (reg < LW_CFI_REGISTER_COUNT)
        row->registers[reg] = program->initial->registers[reg];
      break;
    case DW_CFA_undefined:
    case DW_CFA_same_value:
      if (!lw__cfi_read_uleb128(&reader, &reg))
        return -EINVAL;
      set_rule(row, reg,
               opcode == DW_CFA_undefined ? LW_CFI_RULE_UNDEFINED : LW_CFI_RULE_SAME_VALUE, 0,
               NULL);
      break;
    case DW_CFA_register:
      if (!lw__cfi_read_uleb128(&reader, &reg) || !lw__cfi_read_uleb128(&reader, &unsigned_value))
        return -EINVAL;
      /* A source register we do not track has no known value: the rule says "lost". */
      if (unsigned_value >= LW_CFI_REGISTER_COUNT)
        set_rule(row, reg, LW_CFI_RULE_UNDEFINED, 0, NULL);
      else
        set_rule(row, reg, LW_CFI_RULE_REGISTER, (int32_t)unsigned_value, NULL);
      break;
    case DW_CFA_remember_state:
      if (program->remembered_count == LW_CFI_REMEMBER_DEPTH)
        return -ENOTSUP;
      program->remembered[program->remembered_count++] = *row;
      break;
    case DW_CFA_restore_state:
      if (program->remembered_count == 0)
        return -EINVAL;
      /* The CFA rule is part of the remembered state: GCC relies on it for epilogues in
       * the middle of a function (remember; def_cfa_offset 8; ret; restore). */
      *row = program->remembered[--program->remembered_count];
      break;
    case DW_CFA_def_cfa:
    case DW_CFA_def_cfa_sf:
      if (!lw__cfi_read_uleb128(&reader, &reg))
        return -EINVAL;
      if (opcode == DW_CFA_def_cfa) {
        if (!lw__cfi_read_uleb128(&reader, &unsigned_value) || unsigned_value > INT64_MAX)
          return -EINVAL;
        row->cfa_offset = (int64_t)unsigned_value;
      } else {
        if (!lw__cfi_read_sleb128(&reader, &signed_value) ||
            !factored_offset(signed_value, cie->data_alignment, &offset))
          return -EINVAL;
        row->cfa_offset = offset;
      }
      if (reg >= LW_CFI_REGISTER_COUNT)
        return -ENOTSUP;
      row->cfa_kind = LW_CFI_CFA_REGISTER_OFFSET;
      row->cfa_register = (uint8_t)reg;
      break;
    case DW_CFA_def_cfa_register:
      if (!lw__cfi_read_uleb128(&reader, &reg))
        return -EINVAL;
      if (row->cfa_kind != LW_CFI_CFA_REGISTER_OFFSET)
        return -EINVAL; /* only valid when the CFA is register + offset */
      if (reg >= LW_CFI_REGISTER_COUNT)
        return -ENOTSUP;
      row->cfa_register = (uint8_t)reg;
      break;
    case DW_CFA_def_cfa_offset:
    case DW_CFA_def_cfa_offset_sf:
      if (row->cfa_kind != LW_CFI_CFA_REGISTER_OFFSET)
        return -EINVAL;
      if (opcode == DW_CFA_def_cfa_offset) {
        if (!lw__cfi_read_uleb128(&reader, &unsigned_value) || unsigned_value > INT64_MAX)
          return -EINVAL;
        row->cfa_offset = (int64_t)unsigned_value;
      } else {
        if (!lw__cfi_read_sleb128(&reader, &signed_value) ||
            !factored_offset(signed_value, cie->data_alignment, &offset))
          return -EINVAL;
        row->cfa_offset = offset;
      }
      break;
    case DW_CFA_def_cfa_expression:
      if (!skip_block(&reader, &block))
        return -EINVAL;
      row->cfa_kind = LW_CFI_CFA_EXPRESSION;
      row->cfa_expression = block;
      break;
    case DW_CFA_expression:
    case DW_CFA_val_expression:
      if (!lw__cfi_read_uleb128(&reader, &reg) || !skip_block(&reader, &block))
        return -EINVAL;
      set_rule(row, reg,
               opcode == DW_CFA_expression ? LW_CFI_RULE_EXPRESSION : LW_CFI_RULE_VAL_EXPRESSION, 0,
               block);
      break;
    default:
      /* DW_CFA_GNU_window_save (SPARC), vendor opcodes: their operands are unknown, so the
       * rest of the program cannot be decoded. */
      return -ENOTSUP;
    }
  }
  return 0;
}

int lw__cfi_find_row(uintptr_t address, lw_cfi_row_t *row /* out */) {
  lw_cfi_object_t object;
  int status = lw__cfi_find_object(address, &object);
  if (status != 0)
    return status;
  const uint8_t *fde;
  status = find_fde(&object, address, &fde);
  if (status != 0)
    return status;

  lw_cfi_reader_t reader;
  bool is_64_bit;
  status = read_entry(&object, fde, &reader, &is_64_bit);
  if (status != 0)
    return status;
  const uint8_t *cie_pointer_field = reader.cursor;
  uint64_t cie_pointer;
  if (is_64_bit) {
    if (!lw__cfi_read_bytes(&reader, &cie_pointer, sizeof cie_pointer))
      return -EINVAL;
  } else {
    uint32_t pointer32;
    if (!lw__cfi_read_bytes(&reader, &pointer32, sizeof pointer32))
      return -EINVAL;
    cie_pointer = pointer32;
  }
  /* In .eh_frame the CIE pointer is the distance back from this field to the CIE. */
  if (cie_pointer == 0 || cie_pointer > (uintptr_t)cie_pointer_field - object.map_start)
    return -EINVAL;
  cfi_cie_t cie;
  status = parse_cie(&object, cie_pointer_field - cie_pointer, &cie);
  if (status != 0)
    return status;

  uint64_t pc_begin, pc_range;
  if (!read_encoded(&reader, cie.fde_encoding, 0, &object, &pc_begin) ||
      !read_encoded(&reader, cie.fde_encoding & DW_EH_PE_format_mask, 0, &object, &pc_range))
    return -EINVAL;
  if (address < pc_begin || address - pc_begin >= pc_range)
    return -ENOENT; /* in a gap between FDEs: code without unwind information */
  if (cie.has_augmentation_data) {
    uint64_t length;
    if (!lw__cfi_read_uleb128(&reader, &length) || length > (uint64_t)(reader.end - reader.cursor))
      return -EINVAL;
    reader.cursor += length;
  }

  memset(row, 0, sizeof *row);
  cfi_program_t program = {
      .cie = &cie,
      .object = &object,
      .initial = NULL,
      .location = 0,
      .target = UINTPTR_MAX,
      .remembered_count = 0,
  };
  status = run_program(&program, cie.instructions, cie.instructions_end, row);
  if (status != 0)
    return status;
  lw_cfi_row_t initial = *row;
  program.initial = &initial;
  program.location = (uintptr_t)pc_begin;
  program.target = address;
  program.remembered_count = 0;
  status = run_program(&program, reader.cursor, reader.end, row);
  if (status != 0)
    return status;
  if (row->cfa_kind == LW_CFI_CFA_UNDEFINED)
    return -EINVAL;
  row->signal_frame = cie.signal_frame;
  return 0;
}
