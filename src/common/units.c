/*
 * units.c - size and duration parsing and formatting (see units.h).
 */
#include "common/units.h"

#include <math.h>
#include <stdbool.h>

#include "common/fmt.h"

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static bool suffix_is(const char *text, const char *suffix) {
  for (; *suffix; text++, suffix++)
    if (lower(*text) != *suffix)
      return false;
  return *text == '\0';
}

/* Parses "123" or "1.25" into whole and fractional parts; returns a pointer past the number
 * or NULL if there are no digits or the integer part overflows. */
static const char *parse_decimal(const char *p, uint64_t *whole, double *fraction) {
  *whole = 0;
  *fraction = 0;
  bool digits = false;
  while (*p >= '0' && *p <= '9') {
    uint64_t digit = (uint64_t)(*p - '0');
    if (*whole > (UINT64_MAX - digit) / 10)
      return NULL;
    *whole = *whole * 10 + digit;
    digits = true;
    p++;
  }
  if (*p == '.') {
    p++;
    double scale = 0.1;
    while (*p >= '0' && *p <= '9') {
      *fraction += (*p - '0') * scale;
      scale /= 10;
      digits = true;
      p++;
    }
  }
  return digits ? p : NULL;
}

static int scale_value(uint64_t whole, double fraction, uint64_t unit, uint64_t *out) {
  if (unit && whole > UINT64_MAX / unit)
    return -1;
  double extra = fraction * (double)unit;
  uint64_t base = whole * unit;
  if (extra >= 18446744073709551615.0 - (double)base)
    return -1;
  *out = base + (uint64_t)(extra + 0.5);
  return 0;
}

int lw_parse_size(const char *text, uint64_t *bytes) {
  if (!text)
    return -1;
  while (*text == ' ')
    text++;
  uint64_t whole;
  double fraction;
  const char *p = parse_decimal(text, &whole, &fraction);
  if (!p)
    return -1;
  while (*p == ' ')
    p++;
  static const struct {
    const char *suffix;
    uint64_t unit;
  } units[] = {
      {"", 1},          {"b", 1},
      {"k", 1ull << 10}, {"kb", 1ull << 10}, {"kib", 1ull << 10},
      {"m", 1ull << 20}, {"mb", 1ull << 20}, {"mib", 1ull << 20},
      {"g", 1ull << 30}, {"gb", 1ull << 30}, {"gib", 1ull << 30},
      {"t", 1ull << 40}, {"tb", 1ull << 40}, {"tib", 1ull << 40},
  };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (suffix_is(p, units[i].suffix))
      return scale_value(whole, fraction, units[i].unit, bytes);
  return -1;
}

int lw_parse_duration_ms(const char *text, uint64_t *milliseconds) {
  if (!text)
    return -1;
  while (*text == ' ')
    text++;
  uint64_t whole;
  double fraction;
  const char *p = parse_decimal(text, &whole, &fraction);
  if (!p)
    return -1;
  while (*p == ' ')
    p++;
  static const struct {
    const char *suffix;
    uint64_t unit;
  } units[] = {
      {"", 1000},        {"ms", 1},          {"s", 1000},        {"sec", 1000},
      {"m", 60000},      {"min", 60000},     {"h", 3600000},     {"d", 86400000},
  };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (suffix_is(p, units[i].suffix))
      return scale_value(whole, fraction, units[i].unit, milliseconds);
  return -1;
}

size_t lw_format_bytes(char *out, size_t size, double bytes) {
  static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double magnitude = fabs(bytes);
  int unit = 0;
  while (magnitude >= 1024 && unit < 5) {
    magnitude /= 1024;
    bytes /= 1024;
    unit++;
  }
  if (unit == 0)
    return lw_fmt(out, size, "%lld B", (long long)bytes);
  int decimals = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2;
  return lw_fmt(out, size, "%.*f %s", decimals, bytes, names[unit]);
}
