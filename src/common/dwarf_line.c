/*
 * dwarf_line.c - the DWARF line-number program (DWARF 5 section 6.2; versions 2-4 differ in
 * the header's directory and file tables), decoded into sorted rows (see dwarf_line.h).
 */
#include "common/dwarf_line.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  DW_LNS_copy = 1, DW_LNS_advance_pc, DW_LNS_advance_line, DW_LNS_set_file, DW_LNS_set_column,
  DW_LNS_negate_stmt, DW_LNS_set_basic_block, DW_LNS_const_add_pc, DW_LNS_fixed_advance_pc,
  DW_LNE_end_sequence = 1, DW_LNE_set_address = 2, DW_LNE_define_file = 3,
  DW_LNCT_path = 1, DW_LNCT_directory_index = 2,
  DW_FORM_block = 0x09, DW_FORM_block1 = 0x0a, DW_FORM_data1 = 0x0b, DW_FORM_data2 = 0x05,
  DW_FORM_data4 = 0x06, DW_FORM_data8 = 0x07, DW_FORM_data16 = 0x1e, DW_FORM_string = 0x08,
  DW_FORM_strp = 0x0e, DW_FORM_udata = 0x0f, DW_FORM_line_strp = 0x1f, DW_FORM_strx = 0x1a,
  DW_FORM_strx1 = 0x25, DW_FORM_strx2 = 0x26, DW_FORM_strx4 = 0x28,
};

/* A bounded reader: any read past the end sets `bad` and yields zeros. */
typedef struct {
  const uint8_t *p, *end;
  bool bad;
} reader_t;

static uint64_t rd(reader_t *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) {
    r->bad = true;
    r->p = r->end;
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)r->p[i] << (8 * i);
  r->p += n;
  return v;
}

static uint64_t uleb(reader_t *r) {
  uint64_t v = 0;
  for (int shift = 0; r->p < r->end; shift += 7) {
    uint8_t b = *r->p++;
    if (shift < 64)
      v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80))
      return v;
  }
  r->bad = true;
  return v;
}

static int64_t sleb(reader_t *r) {
  int64_t v = 0;
  int shift = 0;
  uint8_t b = 0x80;
  while (r->p < r->end && (b & 0x80)) {
    b = *r->p++;
    if (shift < 64)
      v |= (int64_t)(b & 0x7f) << shift;
    shift += 7;
  }
  if (b & 0x80)
    r->bad = true;
  else if (shift < 64 && (b & 0x40))
    v |= -((int64_t)1 << shift);
  return v;
}

static const char *cstr(reader_t *r) {
  const char *s = (const char *)r->p;
  const uint8_t *nul = memchr(r->p, 0, (size_t)(r->end - r->p));
  if (!nul) {
    r->bad = true;
    r->p = r->end;
    return "";
  }
  r->p = nul + 1;
  return s;
}

static const char *section_str(const uint8_t *sec, size_t size, uint64_t offset) {
  if (!sec || offset >= size || !memchr(sec + offset, 0, size - offset))
    return "";
  return (const char *)sec + offset;
}

typedef struct {
  lw_dwarf_lines_t *lines;
  const uint8_t *line_str, *str;
  size_t line_str_size, str_size;
  bool oom;
} loader_t;

static bool grow(loader_t *l, void **array, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return true;
  size_t want = *cap ? *cap * 2 : 256;
  void *grown = lw_resize(l->lines->allocator, *array, *cap * elem, want * elem);
  if (!grown) {
    l->oom = true;
    return false;
  }
  *array = grown;
  *cap = want;
  return true;
}

/* Adds "dir/name" (name alone when absolute or dir empty); returns its index. */
static uint32_t add_file(loader_t *l, const char *dir, const char *name) {
  lw_dwarf_lines_t *d = l->lines;
  if (!grow(l, (void **)&d->files, &d->cap_files, d->n_files, sizeof *d->files))
    return 0;
  bool absolute = name[0] == '/' || name[0] == '\\' || (name[0] && name[1] == ':');
  size_t need = strlen(name) + (absolute || !dir[0] ? 0 : strlen(dir) + 1) + 1;
  char *path = lw_alloc(d->allocator, need);
  if (!path) {
    l->oom = true;
    return 0;
  }
  if (absolute || !dir[0])
    snprintf(path, need, "%s", name);
  else
    snprintf(path, need, "%s/%s", dir, name);
  d->files[d->n_files] = path;
  return (uint32_t)d->n_files++;
}

static void add_row(loader_t *l, uint64_t address, uint32_t file, uint32_t line, bool end) {
  lw_dwarf_lines_t *d = l->lines;
  if (!grow(l, (void **)&d->rows, &d->cap_rows, d->n_rows, sizeof *d->rows))
    return;
  d->rows[d->n_rows++] = (lw_dwarf_line_row_t){address, file, line, end};
}

/* One attribute value of a DWARF 5 entry format: a string for paths, a number otherwise. */
static void read_form(loader_t *l, reader_t *r, uint64_t form, bool offset64, const char **s,
                      uint64_t *n) {
  *s = "";
  *n = 0;
  switch (form) {
  case DW_FORM_string: *s = cstr(r); break;
  case DW_FORM_line_strp: *s = section_str(l->line_str, l->line_str_size, rd(r, offset64 ? 8 : 4)); break;
  case DW_FORM_strp: *s = section_str(l->str, l->str_size, rd(r, offset64 ? 8 : 4)); break;
  case DW_FORM_udata: *n = uleb(r); break;
  case DW_FORM_data1: *n = rd(r, 1); break;
  case DW_FORM_data2: *n = rd(r, 2); break;
  case DW_FORM_data4: *n = rd(r, 4); break;
  case DW_FORM_data8: *n = rd(r, 8); break;
  case DW_FORM_data16: rd(r, 8); rd(r, 8); break;
  case DW_FORM_block: { uint64_t len = uleb(r); rd(r, 0); if (len > (uint64_t)(r->end - r->p)) r->bad = true; else r->p += len; break; }
  case DW_FORM_strx1: rd(r, 1); break; /* needs .debug_str_offsets: name unknown */
  case DW_FORM_strx2: rd(r, 2); break;
  case DW_FORM_strx4: rd(r, 4); break;
  case DW_FORM_strx: uleb(r); break;
  default: r->bad = true;
  }
}

/* DWARF 5 directory or file table: a format list, then entries. Fills out[] with dir
 * indexes (files) and names; returns the count. */
static size_t read_table5(loader_t *l, reader_t *r, bool offset64, const char **names,
                          uint64_t *dirs, size_t max) {
  uint8_t n_formats = (uint8_t)rd(r, 1);
  uint64_t formats[16][2];
  if (n_formats > 16) {
    r->bad = true;
    return 0;
  }
  for (int i = 0; i < n_formats; i++) {
    formats[i][0] = uleb(r);
    formats[i][1] = uleb(r);
  }
  uint64_t count = uleb(r);
  size_t kept = 0;
  for (uint64_t e = 0; e < count && !r->bad; e++) {
    const char *name = "";
    uint64_t dir = 0;
    for (int i = 0; i < n_formats; i++) {
      const char *s;
      uint64_t n;
      read_form(l, r, formats[i][1], offset64, &s, &n);
      if (formats[i][0] == DW_LNCT_path)
        name = s;
      else if (formats[i][0] == DW_LNCT_directory_index)
        dir = n;
    }
    if (kept < max) {
      names[kept] = name;
      if (dirs)
        dirs[kept] = dir;
      kept++;
    }
  }
  return kept;
}

enum { MAX_DIRS = 256, MAX_FILES = 1024 };

static bool load_unit(loader_t *l, reader_t *unit) {
  uint64_t length = rd(unit, 4);
  bool offset64 = length == 0xffffffffu;
  if (offset64)
    length = rd(unit, 8);
  if (unit->bad || length > (uint64_t)(unit->end - unit->p))
    return false;
  reader_t r = {unit->p, unit->p + length, false};
  unit->p += length;
  uint16_t version = (uint16_t)rd(&r, 2);
  if (version < 2 || version > 5)
    return true; /* skip what we do not understand */
  if (version >= 5) {
    rd(&r, 1); /* address_size */
    rd(&r, 1); /* segment_selector_size */
  }
  uint64_t header_length = rd(&r, offset64 ? 8 : 4);
  if (header_length > (uint64_t)(r.end - r.p))
    return false;
  const uint8_t *program = r.p + header_length;
  uint8_t min_inst = (uint8_t)rd(&r, 1);
  if (version >= 4)
    rd(&r, 1); /* maximum_operations_per_instruction (VLIW only) */
  bool default_stmt = rd(&r, 1) != 0;
  (void)default_stmt;
  int8_t line_base = (int8_t)rd(&r, 1);
  uint8_t line_range = (uint8_t)rd(&r, 1);
  uint8_t opcode_base = (uint8_t)rd(&r, 1);
  uint8_t std_lengths[256] = {0};
  for (int i = 1; i < opcode_base; i++)
    std_lengths[i] = (uint8_t)rd(&r, 1);
  if (r.bad || line_range == 0)
    return false;

  const char *dir_names[MAX_DIRS], *file_names[MAX_FILES];
  uint64_t file_dirs[MAX_FILES];
  size_t n_dirs = 0, n_files = 0;
  if (version >= 5) {
    n_dirs = read_table5(l, &r, offset64, dir_names, NULL, MAX_DIRS);
    n_files = read_table5(l, &r, offset64, file_names, file_dirs, MAX_FILES);
  } else {
    dir_names[n_dirs++] = ""; /* index 0: the compilation directory, not in the table */
    for (const char *d; !r.bad && *(d = cstr(&r));)
      if (n_dirs < MAX_DIRS)
        dir_names[n_dirs++] = d;
    file_names[n_files] = "";
    file_dirs[n_files++] = 0; /* file numbers start at 1 before DWARF 5 */
    for (const char *f; !r.bad && *(f = cstr(&r));) {
      uint64_t dir = uleb(&r);
      uleb(&r); /* mtime */
      uleb(&r); /* length */
      if (n_files < MAX_FILES) {
        file_names[n_files] = f;
        file_dirs[n_files++] = dir;
      }
    }
  }
  if (r.bad)
    return false;
  /* This unit's files, appended to the global table. */
  uint32_t first_file = (uint32_t)l->lines->n_files;
  for (size_t i = 0; i < n_files; i++)
    add_file(l, file_dirs[i] < n_dirs ? dir_names[file_dirs[i]] : "", file_names[i]);
  if (l->oom)
    return false;

  reader_t p = {program, r.end, false};
  uint64_t address = 0;
  uint64_t file = 1, line = 1;
  while (p.p < p.end && !p.bad && !l->oom) {
    uint8_t op = (uint8_t)rd(&p, 1);
    if (op >= opcode_base) {
      uint8_t adjusted = (uint8_t)(op - opcode_base);
      address += (uint64_t)(adjusted / line_range) * min_inst;
      line += (int64_t)line_base + adjusted % line_range;
      add_row(l, address, first_file + (uint32_t)(file < n_files ? file : 0), (uint32_t)line, false);
      continue;
    }
    switch (op) {
    case 0: {
      uint64_t len = uleb(&p);
      if (len == 0 || len > (uint64_t)(p.end - p.p)) {
        p.bad = true;
        break;
      }
      const uint8_t *next = p.p + len;
      uint8_t sub = (uint8_t)rd(&p, 1);
      if (sub == DW_LNE_end_sequence) {
        add_row(l, address, 0, 0, true);
        address = 0;
        file = 1;
        line = 1;
      } else if (sub == DW_LNE_set_address) {
        address = rd(&p, len - 1 >= 8 ? 8 : (size_t)(len - 1));
      }
      p.p = next; /* define_file, set_discriminator and vendor ops are skipped */
      break;
    }
    case DW_LNS_copy:
      add_row(l, address, first_file + (uint32_t)(file < n_files ? file : 0), (uint32_t)line, false);
      break;
    case DW_LNS_advance_pc: address += uleb(&p) * min_inst; break;
    case DW_LNS_advance_line: line += sleb(&p); break;
    case DW_LNS_set_file: file = uleb(&p); break;
    case DW_LNS_const_add_pc: address += (uint64_t)((255 - opcode_base) / line_range) * min_inst; break;
    case DW_LNS_fixed_advance_pc: address += rd(&p, 2); break;
    case DW_LNS_set_column: uleb(&p); break;
    case DW_LNS_negate_stmt:
    case DW_LNS_set_basic_block: break;
    default:
      for (int i = 0; i < std_lengths[op]; i++)
        uleb(&p);
    }
  }
  l->lines->n_units++;
  return !p.bad && !l->oom;
}

/* Sort by address; at equal addresses an end row goes first, so the sequence starting
 * there wins the lookup. */
static int by_address(const void *a, const void *b) {
  const lw_dwarf_line_row_t *x = a, *y = b;
  if (x->address != y->address)
    return x->address < y->address ? -1 : 1;
  return (int)y->end - (int)x->end;
}

int lw_dwarf_lines_load(lw_dwarf_lines_t *lines, const lw_allocator_t *allocator,
                        const uint8_t *debug_line, size_t line_size, const uint8_t *line_str,
                        size_t line_str_size, const uint8_t *str, size_t str_size, char *error,
                        size_t error_size) {
  memset(lines, 0, sizeof *lines);
  lines->allocator = allocator;
  loader_t l = {lines, line_str, str, line_str_size, str_size, false};
  reader_t r = {debug_line, debug_line + line_size, false};
  int rc = 0;
  while (r.p < r.end) {
    size_t offset = (size_t)(r.p - debug_line);
    if (!load_unit(&l, &r)) {
      snprintf(error, error_size, l.oom ? "out of memory" : "malformed line program at offset 0x%zx",
               offset);
      rc = -1;
      break;
    }
  }
  if (lines->n_rows)
    qsort(lines->rows, lines->n_rows, sizeof *lines->rows, by_address);
  return rc;
}

const lw_dwarf_line_row_t *lw_dwarf_lines_find(const lw_dwarf_lines_t *lines, uint64_t address) {
  size_t lo = 0, hi = lines->n_rows;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (lines->rows[mid].address <= address)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || lines->rows[lo - 1].end)
    return NULL;
  return &lines->rows[lo - 1];
}

void lw_dwarf_lines_free(lw_dwarf_lines_t *lines) {
  if (!lines->allocator)
    return;
  for (size_t i = 0; i < lines->n_files; i++)
    lw_release(lines->allocator, lines->files[i], strlen(lines->files[i]) + 1);
  lw_release(lines->allocator, lines->files, lines->cap_files * sizeof *lines->files);
  lw_release(lines->allocator, lines->rows, lines->cap_rows * sizeof *lines->rows);
  memset(lines, 0, sizeof *lines);
}
