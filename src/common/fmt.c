/*
 * fmt.c - non-allocating formatter (see fmt.h). Pure computation plus write(2): safe to
 * call from the agent's hooks, fork children and signal handlers.
 */
#include "common/fmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char *out;
  size_t size;
  size_t len;
} sink_t;

static void sink_put(sink_t *s, char c) {
  if (s->len + 1 < s->size)
    s->out[s->len] = c;
  s->len++;
}

static void sink_pad(sink_t *s, char c, int count) {
  for (int i = 0; i < count; i++)
    sink_put(s, c);
}

typedef struct {
  bool left;
  bool zero;
  bool plus;
  bool space;
  int width;
  int precision; /* -1 when absent */
} spec_t;

/* Emits digits (already converted, most significant first) with sign and padding. */
static void emit_number(sink_t *s, const spec_t *spec, const char *sign, const char *digits,
                        int n_digits) {
  int sign_len = (int)strlen(sign);
  int zeros = spec->precision > n_digits ? spec->precision - n_digits : 0;
  int body = sign_len + zeros + n_digits;
  int pad = spec->width > body ? spec->width - body : 0;
  if (!spec->left && !(spec->zero && spec->precision < 0))
    sink_pad(s, ' ', pad);
  for (int i = 0; i < sign_len; i++)
    sink_put(s, sign[i]);
  if (!spec->left && spec->zero && spec->precision < 0)
    sink_pad(s, '0', pad);
  sink_pad(s, '0', zeros);
  for (int i = 0; i < n_digits; i++)
    sink_put(s, digits[i]);
  if (spec->left)
    sink_pad(s, ' ', pad);
}

static int to_digits(uint64_t value, unsigned base, bool upper, char *digits) {
  const char *alphabet = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[64];
  int n = 0;
  do {
    tmp[n++] = alphabet[value % base];
    value /= base;
  } while (value);
  for (int i = 0; i < n; i++)
    digits[i] = tmp[n - 1 - i];
  return n;
}

static void emit_float(sink_t *s, const spec_t *spec, double value) {
  int precision = spec->precision < 0 ? 6 : spec->precision;
  if (precision > 17)
    precision = 17;
  const char *sign = value < 0 ? "-" : spec->plus ? "+" : spec->space ? " " : "";
  if (value < 0)
    value = -value;
  char digits[96];
  int n;
  if (value != value) {
    memcpy(digits, "nan", 3);
    n = 3;
  } else if (value > 1.8e19) {
    memcpy(digits, "inf", 3); /* large values only appear as +Inf sentinels here */
    n = 3;
  } else {
    double scale = 1;
    for (int i = 0; i < precision; i++)
      scale *= 10;
    uint64_t whole = (uint64_t)value;
    double fraction = value - (double)whole;
    /* Round half to even, as glibc does in the default rounding mode. */
    double scaled = fraction * scale;
    uint64_t frac_units = (uint64_t)scaled;
    double rest = scaled - (double)frac_units;
    uint64_t last_digit = precision > 0 ? frac_units : whole;
    if (rest > 0.5 || (rest == 0.5 && (last_digit & 1)))
      frac_units++;
    if (precision == 0 && frac_units) {
      whole++;
      frac_units = 0;
    } else if ((double)frac_units >= scale) {
      whole++;
      frac_units = 0;
    }
    n = to_digits(whole, 10, false, digits);
    if (precision > 0) {
      digits[n++] = '.';
      char frac[32];
      int fn = to_digits(frac_units, 10, false, frac);
      for (int i = fn; i < precision; i++)
        digits[n++] = '0';
      memcpy(digits + n, frac, (size_t)fn);
      n += fn;
    }
  }
  spec_t plain = *spec;
  plain.precision = -1;
  emit_number(s, &plain, sign, digits, n);
}

size_t lw_vfmt(char *out, size_t size, const char *format, va_list args) {
  sink_t s = {out, size, 0};
  for (const char *p = format; *p; p++) {
    if (*p != '%') {
      sink_put(&s, *p);
      continue;
    }
    const char *start = p++;
    spec_t spec = {false, false, false, false, 0, -1};
    for (;; p++) {
      if (*p == '-')
        spec.left = true;
      else if (*p == '0')
        spec.zero = true;
      else if (*p == '+')
        spec.plus = true;
      else if (*p == ' ')
        spec.space = true;
      else
        break;
    }
    if (*p == '*') {
      spec.width = va_arg(args, int);
      if (spec.width < 0) {
        spec.left = true;
        spec.width = -spec.width;
      }
      p++;
    } else {
      while (*p >= '0' && *p <= '9')
        spec.width = spec.width * 10 + (*p++ - '0');
    }
    if (*p == '.') {
      p++;
      spec.precision = 0;
      if (*p == '*') {
        spec.precision = va_arg(args, int);
        p++;
      } else {
        while (*p >= '0' && *p <= '9')
          spec.precision = spec.precision * 10 + (*p++ - '0');
      }
    }
    int length = 0; /* 0 int, 1 long, 2 long long, 3 size_t/intmax/ptrdiff */
    while (*p == 'h' || *p == 'l' || *p == 'z' || *p == 'j' || *p == 't') {
      if (*p == 'l')
        length++;
      else if (*p != 'h')
        length = 3;
      p++;
    }
    char digits[72];
    switch (*p) {
    case 'd':
    case 'i': {
      int64_t v = length == 0 ? va_arg(args, int)
                  : length == 1 ? va_arg(args, long)
                  : length == 2 ? va_arg(args, long long)
                                : (int64_t)va_arg(args, intptr_t);
      uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
      int n = to_digits(magnitude, 10, false, digits);
      emit_number(&s, &spec, v < 0 ? "-" : spec.plus ? "+" : spec.space ? " " : "", digits, n);
      break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      uint64_t v = length == 0 ? va_arg(args, unsigned)
                   : length == 1 ? va_arg(args, unsigned long)
                   : length == 2 ? va_arg(args, unsigned long long)
                                 : (uint64_t)va_arg(args, uintptr_t);
      unsigned base = *p == 'u' ? 10 : *p == 'o' ? 8 : 16;
      int n = to_digits(v, base, *p == 'X', digits);
      emit_number(&s, &spec, "", digits, n);
      break;
    }
    case 'p': {
      uintptr_t v = (uintptr_t)va_arg(args, void *);
      int n = to_digits(v, 16, false, digits);
      emit_number(&s, &spec, "0x", digits, n);
      break;
    }
    case 'c':
      sink_pad(&s, ' ', spec.left ? 0 : spec.width - 1);
      sink_put(&s, (char)va_arg(args, int));
      sink_pad(&s, ' ', spec.left ? spec.width - 1 : 0);
      break;
    case 's': {
      const char *text = va_arg(args, const char *);
      if (!text)
        text = "(null)";
      int n = 0;
      /* Precision first: with "%.*s" the text need not be NUL-terminated. */
      while ((spec.precision < 0 || n < spec.precision) && text[n])
        n++;
      if (!spec.left)
        sink_pad(&s, ' ', spec.width - n);
      for (int i = 0; i < n; i++)
        sink_put(&s, text[i]);
      if (spec.left)
        sink_pad(&s, ' ', spec.width - n);
      break;
    }
    case 'f':
    case 'F':
      emit_float(&s, &spec, va_arg(args, double));
      break;
    case '%':
      sink_put(&s, '%');
      break;
    default:
      for (const char *q = start; q <= p && *q; q++)
        sink_put(&s, *q);
      if (!*p)
        p--;
      break;
    }
  }
  if (size > 0)
    out[s.len < size ? s.len : size - 1] = '\0';
  return s.len;
}

size_t lw_fmt(char *out, size_t size, const char *format, ...) {
  va_list args;
  va_start(args, format);
  size_t n = lw_vfmt(out, size, format, args);
  va_end(args);
  return n;
}

void lw_fdprintf(int fd, const char *format, ...) {
  char line[1024];
  va_list args;
  va_start(args, format);
  size_t n = lw_vfmt(line, sizeof line, format, args);
  va_end(args);
  if (n >= sizeof line)
    n = sizeof line - 1;
  int saved_errno = errno;
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, line + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    done += (size_t)w;
  }
  errno = saved_errno;
}
