/*
 * pe_image.h - reading a Windows PE32+ image (.exe/.dll) from disk for symbolization: its
 * preferred ImageBase, sections (long names such as .debug_line resolved through the COFF
 * string table, as mingw-w64 writes them), the COFF symbol table's functions, and the
 * (TimeDateStamp, SizeOfImage) pair that identifies a build.
 *
 * Platform-neutral: the Windows CLI symbolizes with it, and it is unit-tested on Linux with
 * images the mingw-w64 cross compiler builds. Every offset is checked against the file; a
 * malformed image is an error, never a fault. Memory comes from the caller's allocator.
 */
#ifndef LW_COMMON_PE_IMAGE_H
#define LW_COMMON_PE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

typedef struct lw_pe_section {
  char name[64];
  uint32_t rva, virtual_size;
  uint32_t file_offset, file_size;
} lw_pe_section_t;

typedef struct lw_pe_function {
  uint32_t rva;
  const char *name; /* NUL-terminated, inside the image's data or its string table */
} lw_pe_function_t;

typedef struct lw_pe_image {
  const lw_allocator_t *allocator;
  uint8_t *data;
  size_t len;
  size_t data_cap; /* bytes allocated for data (lw_pe_open) */
  uint64_t image_base;
  uint32_t size_of_image, timestamp;
  lw_pe_section_t *sections;
  size_t n_sections;
  lw_pe_function_t *functions; /* sorted by rva */
  size_t n_functions;
  char (*short_names)[9];      /* storage for 8-byte COFF names, which lack a NUL */
  size_t n_symbols;            /* entries allocated in functions and short_names */
} lw_pe_image_t;

/* Parses an image already read into memory (takes ownership of data, allocated with
 * `allocator`). Returns 0, or -1 with a one-line reason in error. */
int lw_pe_parse(lw_pe_image_t *image, uint8_t *data, size_t len, const lw_allocator_t *allocator,
                char *error, size_t error_size);
/* Reads path and parses it. */
int lw_pe_open(lw_pe_image_t *image, const char *path, const lw_allocator_t *allocator,
               char *error, size_t error_size);
void lw_pe_close(lw_pe_image_t *image);

/* A section's bytes in the file, or NULL (and *size 0) when absent. */
const uint8_t *lw_pe_section_data(const lw_pe_image_t *image, const char *name, size_t *size);
/* The function whose range holds rva (from the COFF symbols: up to the next function or the
 * end of its section), or NULL. *start gets its rva. */
const char *lw_pe_function_at(const lw_pe_image_t *image, uint32_t rva, uint32_t *start);
/* "5F3A1B2C1e000": TimeDateStamp (8 hex digits) and SizeOfImage, as the agent records it. */
void lw_pe_build_id(const lw_pe_image_t *image, char *out, size_t size);

#endif
