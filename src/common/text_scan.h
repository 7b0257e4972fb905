/*
 * text_scan.h - the two scanning steps the /proc and cgroup parsers share, over a text
 * range [p, end) that need not be NUL-terminated (files are read into fixed buffers).
 * Inline: the agent calls these parsers too, and they must stay plain code.
 */
#ifndef LW_COMMON_TEXT_SCAN_H
#define LW_COMMON_TEXT_SCAN_H

#include <stdint.h>
#include <string.h>

/* The end of the line starting at p: its '\n', or end. */
static inline const char *lw_line_end(const char *p, const char *end) {
  const char *newline = memchr(p, '\n', (size_t)(end - p));
  return newline ? newline : end;
}

/* Parses an unsigned decimal; returns the position after it, or NULL when there is no
 * digit or the value overflows 64 bits. */
static inline const char *lw_scan_u64(const char *p, const char *end, uint64_t *out) {
  uint64_t v = 0;
  const char *start = p;
  while (p < end && *p >= '0' && *p <= '9') {
    uint64_t digit = (uint64_t)(*p - '0');
    if (v > (UINT64_MAX - digit) / 10)
      return NULL;
    v = v * 10 + digit;
    p++;
  }
  if (p == start)
    return NULL;
  *out = v;
  return p;
}

#endif
