/*
 * pe_image.c - PE32+ headers, sections and COFF function symbols (see pe_image.h).
 * Layouts from the PE/COFF specification: DOS header e_lfanew at 0x3c, "PE\0\0", the
 * 20-byte file header, the PE32+ optional header (magic 0x20b), 40-byte section headers,
 * 18-byte symbol records followed by the string table (its first 4 bytes are its size).
 */
#include "common/pe_image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file.h"

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t u64(const uint8_t *p) { return u32(p) | (uint64_t)u32(p + 4) << 32; }

static int fail(char *error, size_t size, const char *why) {
  snprintf(error, size, "%s", why);
  return -1;
}

static int by_rva(const void *a, const void *b) {
  const lw_pe_function_t *x = a, *y = b;
  return x->rva < y->rva ? -1 : x->rva > y->rva;
}

int lw_pe_parse(lw_pe_image_t *img, uint8_t *data, size_t len, const lw_allocator_t *allocator,
                char *error, size_t error_size) {
  memset(img, 0, sizeof *img);
  img->allocator = allocator;
  img->data = data;
  img->len = len;
  if (len < 0x40 || data[0] != 'M' || data[1] != 'Z')
    return fail(error, error_size, "not a PE image (no MZ header)");
  uint32_t pe = u32(data + 0x3c);
  if ((uint64_t)pe + 24 > len || memcmp(data + pe, "PE\0\0", 4) != 0)
    return fail(error, error_size, "not a PE image (no PE signature)");
  const uint8_t *fh = data + pe + 4;
  uint16_t n_sections = u16(fh + 2);
  img->timestamp = u32(fh + 4);
  uint32_t symtab = u32(fh + 8), n_symbols = u32(fh + 12);
  uint16_t opt_size = u16(fh + 16);
  const uint8_t *opt = fh + 20;
  if ((uint64_t)(opt - data) + opt_size > len || opt_size < 112 || u16(opt) != 0x20b)
    return fail(error, error_size, "not a 64-bit (PE32+) image");
  img->image_base = u64(opt + 24);
  img->size_of_image = u32(opt + 56);
  const uint8_t *sh = opt + opt_size;
  if ((uint64_t)(sh - data) + (uint64_t)n_sections * 40 > len)
    return fail(error, error_size, "section table runs past the end of the file");
  /* The COFF string table (long section names, long symbol names). */
  const uint8_t *strtab = NULL;
  uint32_t strtab_len = 0;
  if (symtab && (uint64_t)symtab + (uint64_t)n_symbols * 18 + 4 <= len) {
    strtab = data + symtab + (size_t)n_symbols * 18;
    strtab_len = u32(strtab);
    if ((uint64_t)(strtab - data) + strtab_len > len)
      strtab_len = 0;
  }
  img->sections = lw_alloc(allocator, (n_sections ? n_sections : 1) * sizeof *img->sections);
  if (!img->sections)
    return fail(error, error_size, "out of memory");
  img->n_sections = n_sections;
  for (size_t i = 0; i < n_sections; i++) {
    const uint8_t *s = sh + i * 40;
    lw_pe_section_t *out = &img->sections[i];
    if (s[0] == '/' && strtab_len) {
      unsigned long offset = strtoul((const char *)s + 1, NULL, 10);
      if (offset < strtab_len)
        snprintf(out->name, sizeof out->name, "%.*s", (int)(strtab_len - offset),
                 (const char *)strtab + offset);
    } else {
      snprintf(out->name, sizeof out->name, "%.8s", (const char *)s);
    }
    out->virtual_size = u32(s + 8);
    out->rva = u32(s + 12);
    out->file_size = u32(s + 16);
    out->file_offset = u32(s + 20);
    if ((uint64_t)out->file_offset + out->file_size > len)
      out->file_size = 0; /* unreadable: treated as absent */
  }
  /* Functions from the symbol table: Type 0x20 (function), in a real section. */
  if (strtab && n_symbols) {
    img->n_symbols = n_symbols;
    img->functions = lw_alloc(allocator, (size_t)n_symbols * sizeof *img->functions);
    img->short_names = lw_alloc(allocator, (size_t)n_symbols * sizeof *img->short_names);
    if (!img->functions || !img->short_names)
      return fail(error, error_size, "out of memory");
    for (uint32_t i = 0; i < n_symbols; i++) {
      const uint8_t *sym = data + symtab + (size_t)i * 18;
      int16_t section = (int16_t)u16(sym + 12);
      uint16_t type = u16(sym + 14);
      uint8_t storage = sym[16], aux = sym[17];
      if (section > 0 && section <= n_sections && (type & 0xf0) == 0x20 &&
          (storage == 2 || storage == 3)) {
        const char *name;
        if (u32(sym) == 0) {
          uint32_t offset = u32(sym + 4);
          name = offset < strtab_len ? (const char *)strtab + offset : NULL;
        } else {
          memcpy(img->short_names[i], sym, 8);
          img->short_names[i][8] = '\0';
          name = img->short_names[i];
        }
        if (name && name[0]) {
          lw_pe_function_t *f = &img->functions[img->n_functions++];
          f->rva = img->sections[section - 1].rva + u32(sym + 8);
          f->name = name;
        }
      }
      i += aux;
    }
    if (img->n_functions)
      qsort(img->functions, img->n_functions, sizeof *img->functions, by_rva);
  }
  return 0;
}

int lw_pe_open(lw_pe_image_t *img, const char *path, const lw_allocator_t *allocator,
               char *error, size_t error_size) {
  memset(img, 0, sizeof *img);
  lw_buf_t buf;
  lw_buf_init(&buf, allocator);
  int rc = lw_read_file(path, &buf, (size_t)1 << 31);
  if (rc != 0) {
    lw_buf_free(&buf);
    snprintf(error, error_size, "%s: %s", path, rc == -ENOENT ? "no such file" : "cannot read");
    return -1;
  }
  if (lw_pe_parse(img, buf.data, buf.len, allocator, error, error_size) != 0) {
    img->data = buf.data;
    img->len = buf.cap; /* lw_pe_close releases what the buffer allocated */
    lw_pe_close(img);
    return -1;
  }
  img->len = buf.len;
  img->data_cap = buf.cap;
  return 0;
}

void lw_pe_close(lw_pe_image_t *img) {
  if (!img->allocator)
    return;
  lw_release(img->allocator, img->data, img->data_cap ? img->data_cap : img->len);
  lw_release(img->allocator, img->sections, (img->n_sections ? img->n_sections : 1) *
                                                sizeof *img->sections);
  lw_release(img->allocator, img->functions, img->n_symbols * sizeof *img->functions);
  lw_release(img->allocator, img->short_names, img->n_symbols * sizeof *img->short_names);
  memset(img, 0, sizeof *img);
}

const uint8_t *lw_pe_section_data(const lw_pe_image_t *img, const char *name, size_t *size) {
  for (size_t i = 0; i < img->n_sections; i++)
    if (strcmp(img->sections[i].name, name) == 0 && img->sections[i].file_size) {
      const lw_pe_section_t *s = &img->sections[i];
      /* The raw size is rounded up to the file alignment; the virtual size is exact. */
      *size = s->virtual_size && s->virtual_size < s->file_size ? s->virtual_size : s->file_size;
      return img->data + s->file_offset;
    }
  *size = 0;
  return NULL;
}

const char *lw_pe_function_at(const lw_pe_image_t *img, uint32_t rva, uint32_t *start) {
  size_t lo = 0, hi = img->n_functions;
  while (lo < hi) { /* first function with rva > target */
    size_t mid = lo + (hi - lo) / 2;
    if (img->functions[mid].rva <= rva)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0)
    return NULL;
  const lw_pe_function_t *f = &img->functions[lo - 1];
  /* Must be in the same section as the function start. */
  for (size_t i = 0; i < img->n_sections; i++) {
    const lw_pe_section_t *s = &img->sections[i];
    if (f->rva >= s->rva && f->rva < s->rva + s->virtual_size) {
      if (rva >= s->rva + s->virtual_size)
        return NULL;
      break;
    }
  }
  *start = f->rva;
  return f->name;
}

void lw_pe_build_id(const lw_pe_image_t *img, char *out, size_t size) {
  snprintf(out, size, "%08X%x", (unsigned)img->timestamp, (unsigned)img->size_of_image);
}
