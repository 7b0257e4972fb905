/*
 * symbolize_windows.c - symbolize.h for Windows profiles: each mapping names a PE image
 * (.exe/.dll); its COFF symbol table gives function names and its DWARF .debug_line gives
 * file:line (src/common/pe_image.c, dwarf_line.c). This is what mingw-w64 builds carry
 * (DWARF 4 or 5); the image is checked against the build ID the agent recorded (PE
 * TimeDateStamp + SizeOfImage), so a rebuilt binary never lends its names to old addresses.
 *
 * MSVC-built programs keep their debug information in PDB files, which this does not read:
 * their frames keep module+offset names (docs/WINDOWS.md: DbgHelp/PDB is the way there, on
 * real Windows). System DLLs have neither and stay module+offset too.
 */
#include <windows.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/symbolize.h"
#include "common/dwarf_line.h"
#include "common/pe_image.h"

typedef struct {
  int state; /* 0 not tried, 1 usable, -1 unusable */
  lw_pe_image_t image;
  lw_dwarf_lines_t lines;
  bool have_lines;
} module_t;

typedef struct {
  int64_t name, file;
  uint64_t id;
} function_key_t;

typedef struct {
  lw_profile_t *p;
  const lw_symbolize_options_t *options;
  lw_symbolize_result_t *result;
  module_t *modules; /* per mapping index */
  function_key_t *functions;
  size_t function_cap, n_functions;
} symbolizer_t;

static void warn(symbolizer_t *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void warn(symbolizer_t *s, const char *format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  if (s->result)
    s->result->n_warnings++;
  if (s->options && s->options->warn)
    s->options->warn(s->options->warn_context, line);
  else
    lw_cli_warn("%s", line);
}

static bool has_source(const lw_profile_t *p, const lw_profile_location_t *l) {
  const lw_profile_line_t *lines = lw_location_lines(p, l);
  for (uint32_t i = 0; i < l->n_lines; i++) {
    const lw_profile_function_t *f = lw_profile_function(p, lines[i].function_id);
    if (lines[i].line != 0 || (f && f->filename != 0))
      return true;
  }
  return false;
}

bool lw_symbolize_needed(const lw_profile_t *p) {
  for (size_t i = 0; i < p->n_locations; i++) {
    const lw_profile_location_t *l = &p->locations[i];
    if (l->mapping_id && !has_source(p, l))
      return true;
  }
  return false;
}

/* Whether a path a profile names is a file on disk, as the Linux symbolizer opens only
 * regular files: \\.\ and \\?\ names reach devices and named pipes (a pipe's read would
 * block), and CON or NUL are character devices. An open that fails is left to lw_pe_open
 * to word. */
static bool disk_file(const char *path) {
  if ((path[0] == '\\' || path[0] == '/') && (path[1] == '\\' || path[1] == '/') &&
      (path[2] == '.' || path[2] == '?'))
    return false;
  WCHAR wide[MAX_PATH * 2];
  if (!MultiByteToWideChar(CP_UTF8, 0, path, -1, wide, MAX_PATH * 2))
    return true;
  HANDLE h = CreateFileW(wide, GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE)
    return true;
  DWORD type = GetFileType(h);
  CloseHandle(h);
  return type == FILE_TYPE_DISK;
}

int lw_read_build_id(const char *path, char *hex, size_t size) {
  lw_pe_image_t image;
  char error[256];
  if (!disk_file(path))
    return -1;
  if (lw_pe_open(&image, path, &lw_libc_allocator, error, sizeof error) != 0)
    return -1;
  lw_pe_build_id(&image, hex, size);
  lw_pe_close(&image);
  return 0;
}

static module_t *module_for(symbolizer_t *s, size_t index) {
  module_t *m = &s->modules[index];
  if (m->state)
    return m->state > 0 ? m : NULL;
  m->state = -1;
  const lw_profile_mapping_t *mapping = &s->p->mappings[index];
  const char *path = lw_profile_str(s->p, mapping->filename);
  char error[512];
  if (path[0] && !disk_file(path)) {
    if (s->result)
      s->result->n_mappings_missing++;
    warn(s, "cannot read %s: not a regular file; frames in it stay module+offset", path);
    return NULL;
  }
  if (!path[0] || lw_pe_open(&m->image, path, &lw_libc_allocator, error, sizeof error) != 0) {
    if (s->result)
      s->result->n_mappings_missing++;
    warn(s, "cannot read %s: frames in it stay module+offset", path[0] ? error : "(unnamed)");
    return NULL;
  }
  char id[64];
  lw_pe_build_id(&m->image, id, sizeof id);
  const char *want = lw_profile_str(s->p, mapping->build_id);
  if (want[0] && strcmp(id, want) != 0) {
    if (s->result)
      s->result->n_mappings_mismatched++;
    warn(s, "%s has build ID %s, the profile was taken with %s: not used", path, id, want);
    lw_pe_close(&m->image);
    return NULL;
  }
  size_t line_size, line_str_size, str_size;
  const uint8_t *line = lw_pe_section_data(&m->image, ".debug_line", &line_size);
  const uint8_t *line_str = lw_pe_section_data(&m->image, ".debug_line_str", &line_str_size);
  const uint8_t *str = lw_pe_section_data(&m->image, ".debug_str", &str_size);
  if (line) {
    if (lw_dwarf_lines_load(&m->lines, &lw_libc_allocator, line, line_size, line_str,
                            line_str_size, str, str_size, error, sizeof error) != 0)
      warn(s, "%s: .debug_line: %s (lines after it are not used)", path, error);
    m->have_lines = true;
  }
  m->state = 1;
  return m;
}

static uint64_t function_id(symbolizer_t *s, const char *name, const char *file) {
  int64_t name_index = lw_profile_string(s->p, name);
  int64_t file_index = file[0] ? lw_profile_string(s->p, file) : 0;
  if ((s->n_functions + 1) * 2 > s->function_cap) {
    size_t cap = s->function_cap ? s->function_cap * 2 : 1024;
    function_key_t *grown = calloc(cap, sizeof *grown);
    if (!grown)
      return 0;
    for (size_t i = 0; i < s->function_cap; i++)
      if (s->functions[i].id) {
        size_t h = (size_t)((uint64_t)s->functions[i].name * 31 + (uint64_t)s->functions[i].file) & (cap - 1);
        while (grown[h].id)
          h = (h + 1) & (cap - 1);
        grown[h] = s->functions[i];
      }
    free(s->functions);
    s->functions = grown;
    s->function_cap = cap;
  }
  size_t h = (size_t)((uint64_t)name_index * 31 + (uint64_t)file_index) & (s->function_cap - 1);
  while (s->functions[h].id) {
    if (s->functions[h].name == name_index && s->functions[h].file == file_index)
      return s->functions[h].id;
    h = (h + 1) & (s->function_cap - 1);
  }
  uint64_t id = lw_profile_add_function(s->p, name_index, name_index, file_index, 0);
  s->functions[h] = (function_key_t){name_index, file_index, id};
  s->n_functions++;
  return id;
}

int lw_symbolize_profile(lw_profile_t *p, const lw_symbolize_options_t *options,
                         lw_symbolize_result_t *result) {
  if (result)
    memset(result, 0, sizeof *result);
  symbolizer_t s = {p, options, result, NULL, NULL, 0, 0};
  if (lw_profile_build_index(p) != 0)
    return -1;
  s.modules = calloc(p->n_mappings ? p->n_mappings : 1, sizeof *s.modules);
  bool *all_named = calloc(p->n_mappings ? p->n_mappings : 1, sizeof *all_named);
  bool *all_lines = calloc(p->n_mappings ? p->n_mappings : 1, sizeof *all_lines);
  if (!s.modules || !all_named || !all_lines) {
    free(s.modules);
    free(all_named);
    free(all_lines);
    return -1;
  }
  for (size_t i = 0; i < p->n_mappings; i++)
    all_named[i] = all_lines[i] = true;
  int rc = 0;
  for (size_t i = 0; i < p->n_locations && rc == 0; i++) {
    lw_profile_location_t *l = &p->locations[i];
    if (!l->mapping_id || ((!options || !options->force) && has_source(p, l)))
      continue;
    const lw_profile_mapping_t *mapping = lw_profile_mapping(p, l->mapping_id);
    size_t index = (size_t)(mapping - p->mappings);
    if (result)
      result->n_locations++;
    module_t *m = module_for(&s, index);
    uint32_t start;
    const char *name = NULL;
    const lw_dwarf_line_row_t *row = NULL;
    if (m && l->address >= mapping->memory_start) {
      uint64_t rva = l->address - mapping->memory_start;
      name = lw_pe_function_at(&m->image, (uint32_t)rva, &start);
      if (m->have_lines)
        row = lw_dwarf_lines_find(&m->lines, m->image.image_base + rva);
    }
    if (!name) {
      all_named[index] = all_lines[index] = false;
      if (result)
        result->n_unresolved++;
      continue;
    }
    char demangled[1024];
    lw_demangle(name, demangled, sizeof demangled);
    const char *file = row ? m->lines.files[row->file] : "";
    lw_profile_line_t line = {function_id(&s, demangled, file), row ? row->line : 0, 0};
    if (!line.function_id || lw_profile_set_lines(p, l, &line, 1) != 0) {
      rc = -1;
      break;
    }
    if (result) {
      result->n_functions++;
      result->n_lines += row != NULL;
    }
    all_lines[index] &= row != NULL;
  }
  for (size_t i = 0; i < p->n_mappings; i++) {
    if (s.modules[i].state > 0) {
      p->mappings[i].has_functions = all_named[i];
      p->mappings[i].has_filenames = p->mappings[i].has_line_numbers = all_named[i] && all_lines[i];
      lw_dwarf_lines_free(&s.modules[i].lines);
      lw_pe_close(&s.modules[i].image);
    }
  }
  free(s.modules);
  free(s.functions);
  free(all_named);
  free(all_lines);
  return p->failed ? -1 : rc;
}
