/*
 * symbolize_names.c - the parts of symbolize.h that only format what a profile already
 * holds (frame names for humans, "[module+0x...]" for unnamed frames) and C++ demangling:
 * shared by the Linux symbolizer (symbolize.c, libdw) and the Windows one
 * (symbolize_windows.c, PE + DWARF).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/symbolize.h"

extern char *__cxa_demangle(const char *mangled, char *buffer, size_t *length, int *status);

bool lw_demangle(const char *symbol, char *out, size_t size) {
  if (size == 0)
    return false;
  if (symbol && symbol[0] == '_' && symbol[1] == 'Z') {
    int status = 0;
    char *text = __cxa_demangle(symbol, NULL, NULL, &status);
    if (text && status == 0) {
      snprintf(out, size, "%s", text);
      free(text);
      return true;
    }
    free(text);
  }
  snprintf(out, size, "%s", symbol ? symbol : "");
  return false;
}

const char *lw_symbolize_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *backslash = strrchr(path, '\\');
  if (backslash && (!slash || backslash > slash))
    slash = backslash;
  return slash && slash[1] ? slash + 1 : path;
}

size_t lw_symbolize_address_name(const lw_profile_t *p, const lw_profile_location_t *l,
                                 char *out, size_t size) {
  const lw_profile_mapping_t *m = l->mapping_id ? lw_profile_mapping(p, l->mapping_id) : NULL;
  const char *file = m ? lw_profile_str(p, m->filename) : "";
  if (m && file[0] && l->address >= m->memory_start) {
    uint64_t offset = l->address - m->memory_start + m->file_offset;
    return (size_t)snprintf(out, size, "[%s+0x%" PRIx64 "]", lw_symbolize_basename(file), offset);
  }
  return (size_t)snprintf(out, size, "[0x%" PRIx64 "]", l->address);
}

size_t lw_symbolize_frame_name(const lw_profile_t *p, const lw_profile_location_t *l,
                               size_t line_index, char *out, size_t size) {
  if (line_index >= l->n_lines)
    return lw_symbolize_address_name(p, l, out, size);
  const lw_profile_line_t *line = &lw_location_lines(p, l)[line_index];
  const lw_profile_function_t *f = lw_profile_function(p, line->function_id);
  const char *name = f ? lw_profile_str(p, f->name) : "";
  if (!name[0] && f)
    name = lw_profile_str(p, f->system_name);
  if (!name[0]) {
    char address[256];
    lw_symbolize_address_name(p, l, address, sizeof address);
    return (size_t)snprintf(out, size, "%s", address);
  }
  const char *file = f ? lw_profile_str(p, f->filename) : "";
  if (file[0] && line->line > 0)
    return (size_t)snprintf(out, size, "%s %s:%" PRId64, name, lw_symbolize_basename(file), line->line);
  if (file[0])
    return (size_t)snprintf(out, size, "%s %s", name, lw_symbolize_basename(file));
  return (size_t)snprintf(out, size, "%s", name);
}

