/*
 * test_number_format.c - the shortest round-trip double printer (src/common/number_format.c).
 *
 * Every output must read back (strtod) as the identical double, must be as short as any
 * correct spelling (checked by brute force against glibc's correctly rounded %.*e), and
 * integers must come out as exact digits. Random bit patterns cover the whole range.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/number_format.h"

/* Significant digits of a printed number (ignores sign, point, leading zeros, exponent). */
static int significant_digits(const char *text) {
  int n = 0;
  bool started = false;
  int trailing_zeros = 0;
  for (const char *p = text; *p && *p != 'e'; p++) {
    if (*p < '0' || *p > '9')
      continue;
    if (*p != '0')
      started = true;
    if (!started)
      continue;
    n++;
    trailing_zeros = *p == '0' ? trailing_zeros + 1 : 0;
  }
  return n - trailing_zeros;
}

/* The fewest significant digits with which some decimal reads back as v. glibc's %.*e gives
 * the correctly rounded p-digit neighbour; at powers of two the gap below v is half the gap
 * above, so the p-digit numbers one unit either side of it are tried as well. */
static int shortest_by_brute_force(double v) {
  char text[64];
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(text, sizeof text, "%.*e", precision - 1, v);
    if (strtod(text, NULL) == v)
      return precision;
    unsigned long long mantissa = 0;
    for (const char *p = text; *p && *p != 'e'; p++)
      if (*p >= '0' && *p <= '9')
        mantissa = mantissa * 10 + (unsigned long long)(*p - '0');
    int exponent = atoi(strchr(text, 'e') + 1) - (precision - 1);
    const char *sign = v < 0 ? "-" : "";
    for (int delta = -1; delta <= 1; delta += 2) {
      snprintf(text, sizeof text, "%s%llue%d", sign, mantissa + (unsigned long long)delta,
               exponent);
      if (strtod(text, NULL) == v)
        return precision;
    }
  }
  return 17;
}

static void check_round_trip(double v) {
  char text[LW_NUMBER_MAX];
  size_t n = lw_format_double(text, sizeof text, v);
  assert_true(n < sizeof text);
  assert_int_equal(strlen(text), n);
  char *end = NULL;
  double back = strtod(text, &end);
  if (*end != '\0' || memcmp(&back, &v, sizeof v) != 0)
    fail_msg("%.17g printed as '%s' reads back as %.17g", v, text, back);
  if (v != floor(v) || fabs(v) >= 9223372036854775808.0) {
    int want = shortest_by_brute_force(v);
    if (significant_digits(text) != want)
      fail_msg("%.17g printed as '%s': %d digits, shortest is %d", v, text,
               significant_digits(text), want);
  }
}

static void expect(double v, const char *want) {
  char text[LW_NUMBER_MAX];
  lw_format_double(text, sizeof text, v);
  assert_string_equal(text, want);
}

static void test_known_spellings(void **state) {
  (void)state;
  expect(0, "0");
  expect(-0.0, "-0");
  expect(1, "1");
  expect(-3, "-3");
  expect(0.1, "0.1");
  expect(12.5, "12.5");
  expect(1.0 / 3, "0.3333333333333333");
  expect(0.0001, "0.0001");
  expect(0.00012, "0.00012");
  expect(0.00001, "1e-05");
  expect(7626752, "7626752");
  expect(20000, "20000");
  expect(9007199254740993.0, "9007199254740992"); /* 2^53 + 1 is not a double */
  expect(9223372036854774784.0, "9223372036854774784");
  expect(18446744073709551615.0, "1.8446744073709552e+19");
  expect(1e21, "1e+21");
  expect(1.5e300, "1.5e+300");
  expect(DBL_MAX, "1.7976931348623157e+308");
  expect(DBL_MIN, "2.2250738585072014e-308");
  expect(4.9406564584124654e-324, "5e-324");
  expect(NAN, "NaN");
  expect(INFINITY, "+Inf");
  expect(-INFINITY, "-Inf");
  expect(2.5165824e+07, "25165824");
  expect(0.3, "0.3");
  expect(123456.789, "123456.789");
}

static void test_round_trip_special_values(void **state) {
  (void)state;
  const double values[] = {
      DBL_MAX, DBL_MIN, DBL_TRUE_MIN, DBL_EPSILON, 1e23, 1e22, 5e-324, 2.2250738585072009e-308,
      0.1, 0.2, 0.30000000000000004, 1.7976931348623157e308, 123e-20, 9.999999999999999e22,
      4503599627370496.5, 1e15 + 0.125, 2.0 / 3, 100.0 / 7, 1e-7, 8.41e21, 5e-310,
      9223372036854775808.0, 18446744073709551616.0, 1e300 * 1.5, 0.5, 1.5, 2.5, 1e16 + 2};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    check_round_trip(values[i]);
    check_round_trip(-values[i]);
  }
  /* Powers of two and ten over the whole range hit the unequal-gap boundary case. */
  for (int e = -1074; e <= 1023; e++)
    check_round_trip(ldexp(1.0, e));
  for (int e = -323; e <= 308; e++)
    check_round_trip(pow(10, e));
}

static uint64_t next_random(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void test_round_trip_random_bits(void **state) {
  (void)state;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 40000; i++) {
    uint64_t bits = next_random(&seed);
    double v;
    memcpy(&v, &bits, sizeof v);
    if (isnan(v) || isinf(v))
      continue;
    check_round_trip(v);
  }
  /* Values metrics actually carry: byte counts, percentages, rates. */
  for (int i = 0; i < 20000; i++) {
    double v = (double)(next_random(&seed) % 100000000) / 1000.0;
    check_round_trip(v);
    check_round_trip(v / 3600.0);
  }
}

static void test_integers_exact(void **state) {
  (void)state;
  char text[LW_NUMBER_MAX];
  assert_int_equal(lw_format_u64(text, sizeof text, UINT64_MAX), 20);
  assert_string_equal(text, "18446744073709551615");
  lw_format_u64(text, sizeof text, 0);
  assert_string_equal(text, "0");
  lw_format_i64(text, sizeof text, INT64_MIN);
  assert_string_equal(text, "-9223372036854775808");
  lw_format_i64(text, sizeof text, -42);
  assert_string_equal(text, "-42");
  uint64_t seed = 12345;
  for (int i = 0; i < 10000; i++) {
    uint64_t v = next_random(&seed) >> (next_random(&seed) % 64);
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)v);
    lw_format_u64(text, sizeof text, v);
    assert_string_equal(text, want);
    if (v < (1ull << 53)) { /* exactly representable: the double path prints the same */
      lw_format_double(text, sizeof text, (double)v);
      assert_string_equal(text, want);
    }
  }
}

static void test_truncation(void **state) {
  (void)state;
  char small[5];
  assert_int_equal(lw_format_double(small, sizeof small, 0.123456), 8);
  assert_string_equal(small, "0.12");
  assert_int_equal(lw_format_u64(small, sizeof small, 123456), 6);
  assert_string_equal(small, "1234");
  assert_int_equal(lw_format_double(NULL, 0, 1e100), 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_spellings),
      cmocka_unit_test(test_round_trip_special_values),
      cmocka_unit_test(test_round_trip_random_bits),
      cmocka_unit_test(test_integers_exact),
      cmocka_unit_test(test_truncation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
