/*
 * dwarf_line.h - address -> file:line from a DWARF .debug_line section (versions 2 to 5,
 * 32- and 64-bit units), for images whose debug information libdw cannot open: the PE
 * images mingw-w64 builds (gcc 12 writes DWARF 5 by default, -gdwarf-4 on request). The
 * whole section is decoded once into rows sorted by address; a lookup is a binary search.
 *
 * Addresses are the ones the line program states (for a PE image, ImageBase-relative
 * virtual addresses: ImageBase + RVA). No inline frames: .debug_line does not say which
 * function a row was inlined from (symbolization shows the innermost source line).
 * Platform-neutral, bounds-checked on every read, allocating only through the allocator.
 */
#ifndef LW_COMMON_DWARF_LINE_H
#define LW_COMMON_DWARF_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

typedef struct lw_dwarf_line_row {
  uint64_t address;
  uint32_t file;     /* index into files */
  uint32_t line;     /* 0 for an end-of-sequence row */
  uint8_t end;       /* end of a sequence: addresses from here on are not covered */
} lw_dwarf_line_row_t;

typedef struct lw_dwarf_lines {
  const lw_allocator_t *allocator;
  lw_dwarf_line_row_t *rows;
  size_t n_rows, cap_rows;
  char **files; /* "dir/name" (or name), allocated */
  size_t n_files, cap_files;
  size_t n_units;
} lw_dwarf_lines_t;

/* Decodes .debug_line (line_str: .debug_line_str, str: .debug_str; either may be NULL).
 * Returns 0, or -1 with a reason in error when the section is malformed or memory ran out
 * (units decoded before the problem are kept). */
int lw_dwarf_lines_load(lw_dwarf_lines_t *lines, const lw_allocator_t *allocator,
                        const uint8_t *debug_line, size_t line_size, const uint8_t *line_str,
                        size_t line_str_size, const uint8_t *str, size_t str_size, char *error,
                        size_t error_size);
/* The row covering address, or NULL. */
const lw_dwarf_line_row_t *lw_dwarf_lines_find(const lw_dwarf_lines_t *lines, uint64_t address);
void lw_dwarf_lines_free(lw_dwarf_lines_t *lines);

#endif
