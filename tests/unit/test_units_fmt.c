/*
 * test_units_fmt.c - size/duration parsing (src/common/units.c) and the agent's
 * non-allocating formatter (src/common/fmt.c), checked against libc's snprintf.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fmt.h"
#include "common/units.h"

static void test_sizes(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(lw_parse_size("4096", &v), 0);
  assert_int_equal(v, 4096);
  assert_int_equal(lw_parse_size("512k", &v), 0);
  assert_int_equal(v, 524288);
  assert_int_equal(lw_parse_size("512KiB", &v), 0);
  assert_int_equal(v, 524288);
  assert_int_equal(lw_parse_size("1m", &v), 0);
  assert_int_equal(v, 1048576);
  assert_int_equal(lw_parse_size("1.5 GiB", &v), 0);
  assert_int_equal(v, 1610612736);
  assert_int_equal(lw_parse_size("500MiB", &v), 0);
  assert_int_equal(v, 524288000);
  assert_int_equal(lw_parse_size("1", &v), 0);
  assert_int_equal(v, 1);
  const char *bad[] = {"", "k", "-1", "12q", "1..5", "99999999999999999999", "20000000t", "1 2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (lw_parse_size(bad[i], &v) == 0)
      fail_msg("'%s' should not parse as a size", bad[i]);
}

static void test_durations(void **state) {
  (void)state;
  uint64_t ms;
  assert_int_equal(lw_parse_duration_ms("5", &ms), 0);
  assert_int_equal(ms, 5000);
  assert_int_equal(lw_parse_duration_ms("500ms", &ms), 0);
  assert_int_equal(ms, 500);
  assert_int_equal(lw_parse_duration_ms("2m", &ms), 0);
  assert_int_equal(ms, 120000);
  assert_int_equal(lw_parse_duration_ms("1.5h", &ms), 0);
  assert_int_equal(ms, 5400000);
  assert_int_equal(lw_parse_duration_ms("10 min", &ms), 0);
  assert_int_equal(ms, 600000);
  assert_int_equal(lw_parse_duration_ms("5 parsecs", &ms), -1);
  assert_int_equal(lw_parse_duration_ms("", &ms), -1);
}

/* lw_fmt must agree with snprintf on every conversion it supports. */
static void test_fmt_matches_snprintf(void **state) {
  (void)state;
  char a[128], b[128];
#define SAME(...)                                  \
  do {                                             \
    size_t n1 = lw_fmt(a, sizeof a, __VA_ARGS__);  \
    int n2 = snprintf(b, sizeof b, __VA_ARGS__);   \
    assert_string_equal(a, b);                     \
    assert_int_equal(n1, n2);                      \
  } while (0)
  SAME("%d %i %u", -42, 7, 3000000000u);
  SAME("%5d|%-5d|%05d", 42, 42, 42);
  SAME("%lld %llu", (long long)INT64_MIN, (unsigned long long)UINT64_MAX);
  SAME("%zu %lx %X %o", (size_t)123456789, 0xdeadbeefUL, 0xABCu, 8u);
  SAME("%s|%10s|%-10s|%.3s", "abc", "right", "left", "truncate");
  SAME("%c%c %%", 'o', 'k');
  SAME("%p", (void *)0x7ffd1234);
  SAME("%.2f %.0f %f %8.3f", 3.14159, 2.5, 0.1, -12.5);
  SAME("%*d %.*s", 6, 9, 2, "xyz");
#undef SAME
  /* Truncation keeps the NUL and reports the full length. */
  char small[5];
  assert_int_equal(lw_fmt(small, sizeof small, "%s", "0123456789"), 10);
  assert_string_equal(small, "0123");
  /* "%.*s" reads at most the precision: the text need not be NUL-terminated (found by
   * fuzzing the alert-rule parser, which quotes pieces of its input this way). */
  char *unterminated = malloc(3);
  memcpy(unterminated, "abc", 3);
  assert_int_equal(lw_fmt(a, sizeof a, "[%.*s]", 3, unterminated), 5);
  assert_string_equal(a, "[abc]");
  free(unterminated);
}

static void test_format_bytes(void **state) {
  (void)state;
  char out[32];
  lw_format_bytes(out, sizeof out, 512);
  assert_string_equal(out, "512 B");
  lw_format_bytes(out, sizeof out, 1536);
  assert_string_equal(out, "1.50 KiB");
  lw_format_bytes(out, sizeof out, 44040192);
  assert_string_equal(out, "42.0 MiB");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_fmt_matches_snprintf),
      cmocka_unit_test(test_format_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
