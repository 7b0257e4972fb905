/*
 * symbolize_names.c - the parts of symbolize.h that only format what a profile already
 * holds (frame names for humans, "[module+0x...]" for unnamed frames) and C++ demangling:
 * shared by the Linux symbolizer (symbolize.c, libdw) and the Windows one
 * (symbolize_windows.c, PE + DWARF).
 */
#include <inttypes.h>
#include <stdint.h>
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

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one (overlong forms,
 * surrogates and values past U+10FFFF included) or encodes a C1 control (U+0080-U+009F). */
static size_t utf8_sequence(const unsigned char *p) {
  unsigned char c = p[0];
  size_t n;
  uint32_t value;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    value = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    value = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    value = c & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
      return 0;
    value = value << 6 | (p[i] & 0x3f);
  }
  if ((n == 3 && (value < 0x800 || (value >= 0xd800 && value <= 0xdfff))) ||
      (n == 4 && (value < 0x10000 || value > 0x10ffff)) || (value >= 0x80 && value <= 0x9f))
    return 0;
  return n;
}

size_t lw_escape_text(char *out, size_t size, const char *in) {
  static const char hex[] = "0123456789abcdef";
  size_t len = 0;
  const unsigned char *p = (const unsigned char *)(in ? in : "");
  while (*p) {
    size_t n = *p >= 0x20 && *p < 0x7f ? 1 : *p >= 0x80 ? utf8_sequence(p) : 0;
    char escaped[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 15]};
    const char *piece = n ? (const char *)p : escaped;
    size_t piece_len = n ? n : 4;
    /* Whole pieces only: a truncated name never ends in half a character or escape. */
    if (size && len + piece_len < size)
      memcpy(out + len, piece, piece_len);
    else if (size && len < size)
      size = len + 1; /* no later piece may land after the cut */
    len += piece_len;
    p += n ? n : 1;
  }
  if (size)
    out[len < size ? len : size - 1] = '\0';
  return len;
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
    char base[512];
    lw_escape_text(base, sizeof base, lw_symbolize_basename(file));
    return (size_t)snprintf(out, size, "[%s+0x%" PRIx64 "]", base, offset);
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
  char base[512];
  lw_escape_text(base, sizeof base, lw_symbolize_basename(file));
  size_t n = lw_escape_text(out, size, name);
  size_t at = n < size ? n : size ? size - 1 : 0;
  if (file[0] && line->line > 0)
    return n + (size_t)snprintf(out + at, size - at, " %s:%" PRId64, base, line->line);
  if (file[0])
    return n + (size_t)snprintf(out + at, size - at, " %s", base);
  return n;
}

