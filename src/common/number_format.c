/*
 * number_format.c - shortest round-trip double printing (see number_format.h).
 *
 * The algorithm is the free-format digit generation of Burger & Dybvig, "Printing
 * Floating-Point Numbers Quickly and Accurately" (PLDI 1996), which refines Steele & White's
 * Dragon4: the double v = f * 2^e lies in a rounding interval (v - m-, v + m+) of values that
 * read back as v; digits are generated from the exact ratio r/s until the number printed so
 * far is inside that interval, so the output is the shortest string that reads back as v and,
 * among those, the closest to v. All arithmetic is exact on a fixed-size bignum on the
 * stack, so no allocation, no locale and no libc stdio are involved (agent-safe).
 *
 * Bignum size: the largest quantity is s * 10 during digit generation. For the smallest
 * doubles s = 2^1076 and r is scaled by up to 10^16 before that, so about 1135 bits; 48 words
 * of 32 bits (1536 bits) leave room. The tests run the extremes (DBL_MAX, denormals).
 */
#include "common/number_format.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define BIG_WORDS 48

typedef struct {
  uint32_t w[BIG_WORDS]; /* little-endian base 2^32 digits */
  int n;                 /* words in use; 0 means the value zero */
} big_t;

static void big_set_u64(big_t *b, uint64_t v) {
  b->n = 0;
  while (v) {
    b->w[b->n++] = (uint32_t)v;
    v >>= 32;
  }
}

static void big_mul_small(big_t *b, uint32_t m) {
  uint64_t carry = 0;
  for (int i = 0; i < b->n; i++) {
    uint64_t t = (uint64_t)b->w[i] * m + carry;
    b->w[i] = (uint32_t)t;
    carry = t >> 32;
  }
  /* Capacity is proven sufficient above; the check only keeps memory safe if that
   * reasoning were ever wrong (the value would then be wrong, never a crash). */
  if (carry && b->n < BIG_WORDS)
    b->w[b->n++] = (uint32_t)carry;
}

static void big_mul_pow10(big_t *b, int k) {
  for (; k >= 9; k -= 9)
    big_mul_small(b, 1000000000u);
  static const uint32_t small[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                    100000000};
  if (k > 0)
    big_mul_small(b, small[k]);
}

static void big_shl(big_t *b, int bits) {
  if (b->n == 0 || bits == 0)
    return;
  int words = bits / 32, rest = bits % 32;
  if (b->n + words + 1 > BIG_WORDS)
    return; /* cannot happen for doubles (see the header) */
  if (rest) {
    b->w[b->n] = 0;
    for (int i = b->n; i > 0; i--)
      b->w[i] = (b->w[i] << rest) | (b->w[i - 1] >> (32 - rest));
    b->w[0] <<= rest;
    b->n++;
  }
  if (words) {
    memmove(b->w + words, b->w, (size_t)b->n * sizeof b->w[0]);
    memset(b->w, 0, (size_t)words * sizeof b->w[0]);
    b->n += words;
  }
  while (b->n > 0 && b->w[b->n - 1] == 0)
    b->n--;
}

static int big_cmp(const big_t *a, const big_t *b) {
  if (a->n != b->n)
    return a->n < b->n ? -1 : 1;
  for (int i = a->n - 1; i >= 0; i--)
    if (a->w[i] != b->w[i])
      return a->w[i] < b->w[i] ? -1 : 1;
  return 0;
}

static void big_add(big_t *out, const big_t *a, const big_t *b) {
  const big_t *big = a->n >= b->n ? a : b, *small = a->n >= b->n ? b : a;
  uint64_t carry = 0;
  int i = 0;
  for (; i < big->n; i++) {
    uint64_t t = (uint64_t)big->w[i] + (i < small->n ? small->w[i] : 0) + carry;
    out->w[i] = (uint32_t)t;
    carry = t >> 32;
  }
  out->n = big->n;
  if (carry && out->n < BIG_WORDS)
    out->w[out->n++] = (uint32_t)carry;
}

/* a -= b; requires a >= b. */
static void big_sub(big_t *a, const big_t *b) {
  int64_t borrow = 0;
  for (int i = 0; i < a->n; i++) {
    int64_t t = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
    borrow = t < 0;
    a->w[i] = (uint32_t)(t + (borrow ? (int64_t)1 << 32 : 0));
  }
  while (a->n > 0 && a->w[a->n - 1] == 0)
    a->n--;
}

/* True when r + m >= s (inclusive) or r + m > s (exclusive). */
static bool reaches(const big_t *r, const big_t *m, const big_t *s, bool inclusive) {
  big_t sum;
  big_add(&sum, r, m);
  int c = big_cmp(&sum, s);
  return inclusive ? c >= 0 : c > 0;
}

/* Shortest digits of a finite positive double: value = 0.d1 d2 ... dn * 10^k.
 * Writes the digits as characters into digits[] (at most 17) and returns n. */
static int shortest_digits(double v, char digits[20], int *k_out) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  int biased = (int)((bits >> 52) & 0x7ff);
  uint64_t f = bits & ((1ull << 52) - 1);
  int e;
  if (biased == 0) {
    e = -1074;
  } else {
    f |= 1ull << 52;
    e = biased - 1075;
  }
  /* IEEE round-half-even on input: when f is even the interval's ends read back as v. */
  bool inclusive = (f & 1) == 0;
  bool boundary = f == (1ull << 52) && biased > 1; /* the gap below v is half the gap above */

  big_t r, s, mplus, mminus;
  if (e >= 0) {
    big_set_u64(&r, f);
    big_shl(&r, e + (boundary ? 2 : 1));
    big_set_u64(&s, boundary ? 4 : 2);
    big_set_u64(&mplus, 1);
    big_shl(&mplus, e + (boundary ? 1 : 0));
    big_set_u64(&mminus, 1);
    big_shl(&mminus, e);
  } else {
    big_set_u64(&r, f);
    big_shl(&r, boundary ? 2 : 1);
    big_set_u64(&s, 1);
    big_shl(&s, -e + (boundary ? 2 : 1));
    big_set_u64(&mplus, boundary ? 2 : 1);
    big_set_u64(&mminus, 1);
  }

  /* Estimate k = ceil(log10 v); the small bias makes it never too high, at most one too low
   * (log10's error is far below 1e-10 over the double range), and the fixup corrects that. */
  int k = (int)ceil(log10(v) - 1e-10);
  if (k >= 0) {
    big_mul_pow10(&s, k);
  } else {
    big_mul_pow10(&r, -k);
    big_mul_pow10(&mplus, -k);
    big_mul_pow10(&mminus, -k);
  }
  if (reaches(&r, &mplus, &s, inclusive)) {
    k++;
  } else {
    big_mul_small(&r, 10);
    big_mul_small(&mplus, 10);
    big_mul_small(&mminus, 10);
  }

  int n = 0;
  for (;;) {
    int d = 0;
    while (big_cmp(&r, &s) >= 0) { /* r / s is below 10 by construction */
      big_sub(&r, &s);
      d++;
    }
    int c = big_cmp(&r, &mminus);
    bool low = inclusive ? c <= 0 : c < 0;
    bool high = reaches(&r, &mplus, &s, inclusive);
    if (!low && !high && n < 17) {
      digits[n++] = (char)('0' + d);
      big_mul_small(&r, 10);
      big_mul_small(&mplus, 10);
      big_mul_small(&mminus, 10);
      continue;
    }
    if (low && high) {
      /* Both d and d + 1 are inside the interval: take the closer one. */
      big_t twice = r;
      big_mul_small(&twice, 2);
      if (big_cmp(&twice, &s) >= 0)
        d++;
    } else if (high) {
      d++;
    }
    digits[n++] = (char)('0' + d);
    break;
  }
  *k_out = k;
  return n;
}

/* Copies `len` bytes of text into out with snprintf's truncation rules. */
static size_t emit(char *out, size_t size, const char *text, size_t len) {
  if (size > 0) {
    size_t copy = len < size - 1 ? len : size - 1;
    memcpy(out, text, copy);
    out[copy] = '\0';
  }
  return len;
}

static size_t u64_digits(uint64_t value, char *text) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  for (size_t i = 0; i < n; i++)
    text[i] = tmp[n - 1 - i];
  return n;
}

size_t lw_format_u64(char *out, size_t size, uint64_t value) {
  char text[24];
  return emit(out, size, text, u64_digits(value, text));
}

size_t lw_format_i64(char *out, size_t size, int64_t value) {
  char text[24];
  size_t n = 0;
  uint64_t magnitude = (uint64_t)value;
  if (value < 0) {
    text[n++] = '-';
    magnitude = 0 - magnitude; /* well defined for INT64_MIN too */
  }
  n += u64_digits(magnitude, text + n);
  return emit(out, size, text, n);
}

size_t lw_format_double(char *out, size_t size, double value) {
  char text[LW_NUMBER_MAX];
  size_t n = 0;
  if (isnan(value))
    return emit(out, size, "NaN", 3);
  if (isinf(value))
    return value > 0 ? emit(out, size, "+Inf", 4) : emit(out, size, "-Inf", 4);
  if (signbit(value)) {
    text[n++] = '-';
    value = -value;
  }
  if (value == 0) {
    text[n++] = '0';
    return emit(out, size, text, n);
  }
  /* Integers below 2^63 convert exactly to uint64, so they print as exact digits. */
  if (value < 9223372036854775808.0 && value == floor(value)) {
    n += u64_digits((uint64_t)value, text + n);
    return emit(out, size, text, n);
  }
  char digits[20];
  int k;
  int nd = shortest_digits(value, digits, &k);
  int exponent = k - 1; /* scientific exponent: value = d1.d2... * 10^exponent */
  bool integral = value == floor(value);
  if (!integral && exponent >= -4 && k < nd) {
    /* Positional. Non-integers are below 2^53, so k <= 16 and nothing overflows text. */
    if (k <= 0) {
      text[n++] = '0';
      text[n++] = '.';
      for (int i = 0; i < -k; i++)
        text[n++] = '0';
      memcpy(text + n, digits, (size_t)nd);
      n += (size_t)nd;
    } else {
      memcpy(text + n, digits, (size_t)k);
      n += (size_t)k;
      text[n++] = '.';
      memcpy(text + n, digits + k, (size_t)(nd - k));
      n += (size_t)(nd - k);
    }
    return emit(out, size, text, n);
  }
  text[n++] = digits[0];
  if (nd > 1) {
    text[n++] = '.';
    memcpy(text + n, digits + 1, (size_t)(nd - 1));
    n += (size_t)(nd - 1);
  }
  text[n++] = 'e';
  text[n++] = exponent < 0 ? '-' : '+';
  int magnitude = exponent < 0 ? -exponent : exponent;
  if (magnitude < 10)
    text[n++] = '0'; /* at least two exponent digits, as C and Go print them */
  n += u64_digits((uint64_t)magnitude, text + n);
  return emit(out, size, text, n);
}
