/*
 * test_prom.c - the Prometheus exposition writer (src/common/prom.c): exact output for the
 * reference exposition of FORMATS.md (conformance/prom/good.prom), escaping, UTF-8 repair,
 * the refusals (split family, bad names, misplaced suffixes), and `promtool check metrics`
 * accepting what it writes (exit 0; Debian's prometheus package provides promtool).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/prom.h"

static char *text_of(lw_buf_t *buf) {
  lw_buf_append_byte(buf, 0);
  buf->len--;
  return (char *)buf->data;
}

/* Runs promtool check metrics on text; returns its exit status. */
static int promtool_check(const char *text) {
  char path[] = "/tmp/lw-prom-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int status = system(cmd);
  unlink(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_reference_exposition(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_prom_writer_t w;
  lw_prom_init(&w, &buf);
  const lw_prom_label_t demo[] = {{"pid", "4242"}, {"comm", "demo"}};
  lw_prom_family(&w, "leakwatch_heap_inuse_bytes", LW_PROM_GAUGE,
                 "Estimated live heap bytes (unsampled) tracked by the agent.");
  lw_prom_sample(&w, NULL, demo, 2, 2.5165824e+07);
  lw_prom_family(&w, "leakwatch_site_inuse_bytes", LW_PROM_GAUGE,
                 "Estimated live bytes per allocation site (top N).");
  const lw_prom_label_t site1[] = {{"pid", "4242"}, {"site", "cache_insert demo.c:14"}};
  const lw_prom_label_t site2[] = {{"pid", "4242"}, {"site", "say \"hi\"\n path C:\\tmp"}};
  lw_prom_sample(&w, NULL, site1, 2, 1.6e+07);
  lw_prom_sample_u64(&w, NULL, site2, 2, 4096);
  lw_prom_family(&w, "process_cpu_seconds_total", LW_PROM_COUNTER,
                 "Total user and system CPU time spent in seconds.");
  lw_prom_sample(&w, NULL, demo, 1, 12.5);
  assert_int_equal(lw_prom_finish(&w), 0);
  assert_string_equal(
      text_of(&buf),
      "# HELP leakwatch_heap_inuse_bytes Estimated live heap bytes (unsampled) tracked by the agent.\n"
      "# TYPE leakwatch_heap_inuse_bytes gauge\n"
      "leakwatch_heap_inuse_bytes{pid=\"4242\",comm=\"demo\"} 25165824\n"
      "# HELP leakwatch_site_inuse_bytes Estimated live bytes per allocation site (top N).\n"
      "# TYPE leakwatch_site_inuse_bytes gauge\n"
      "leakwatch_site_inuse_bytes{pid=\"4242\",site=\"cache_insert demo.c:14\"} 16000000\n"
      "leakwatch_site_inuse_bytes{pid=\"4242\",site=\"say \\\"hi\\\"\\n path C:\\\\tmp\"} 4096\n"
      "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
      "# TYPE process_cpu_seconds_total counter\n"
      "process_cpu_seconds_total{pid=\"4242\"} 12.5\n");
  assert_int_equal(promtool_check(text_of(&buf)), 0);
  lw_buf_free(&buf);
}

static void test_values_histogram_and_help_escapes(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_prom_writer_t w;
  lw_prom_init(&w, &buf);
  lw_prom_family(&w, "leakwatch_scrape_duration_seconds", LW_PROM_HISTOGRAM,
                 "Time to collect.\nSecond line with a \\ backslash.");
  const lw_prom_label_t le1[] = {{"le", "0.001"}}, le2[] = {{"le", "0.1"}},
                        inf[] = {{"le", "+Inf"}};
  lw_prom_sample_u64(&w, "_bucket", le1, 1, 3);
  lw_prom_sample_u64(&w, "_bucket", le2, 1, 7);
  lw_prom_sample_u64(&w, "_bucket", inf, 1, 8);
  lw_prom_sample(&w, "_sum", NULL, 0, 0.30000000000000004);
  lw_prom_sample_u64(&w, "_count", NULL, 0, 8);
  lw_prom_family(&w, "leakwatch_test_values", LW_PROM_GAUGE, "Odd values.");
  const double values[] = {NAN, INFINITY, -INFINITY, 1e-300, 18446744073709551615.0, -0.5};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char v[8];
    snprintf(v, sizeof v, "%zu", i);
    const lw_prom_label_t l[] = {{"i", v}};
    lw_prom_sample(&w, NULL, l, 1, values[i]);
  }
  lw_prom_family(&w, "leakwatch_big_bytes", LW_PROM_GAUGE, "Exact.");
  lw_prom_sample_u64(&w, NULL, NULL, 0, UINT64_MAX);
  assert_int_equal(lw_prom_finish(&w), 0);
  const char *text = text_of(&buf);
  assert_non_null(strstr(text, "# HELP leakwatch_scrape_duration_seconds Time to collect.\\n"
                               "Second line with a \\\\ backslash.\n"));
  assert_non_null(strstr(text, "leakwatch_scrape_duration_seconds_sum 0.30000000000000004\n"));
  assert_non_null(strstr(text, "leakwatch_test_values{i=\"0\"} NaN\n"));
  assert_non_null(strstr(text, "leakwatch_test_values{i=\"1\"} +Inf\n"));
  assert_non_null(strstr(text, "leakwatch_test_values{i=\"2\"} -Inf\n"));
  assert_non_null(strstr(text, "leakwatch_test_values{i=\"4\"} 1.8446744073709552e+19\n"));
  assert_non_null(strstr(text, "leakwatch_big_bytes 18446744073709551615\n"));
  assert_int_equal(text[buf.len - 1], '\n');
  assert_int_equal(promtool_check(text), 0);
  lw_buf_free(&buf);
}

static void test_utf8_repair(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_prom_writer_t w;
  lw_prom_init(&w, &buf);
  lw_prom_family(&w, "process_threads", LW_PROM_GAUGE, "Threads.");
  /* A comm set with prctl can hold any bytes: a lone continuation byte, a truncated
   * sequence, an overlong '/', a surrogate, and valid multi-byte text. */
  const lw_prom_label_t l[] = {{"comm", "a\x80" "b\xC3" "c\xC0\xAF" "d\xED\xA0\x80" "é€😀"}};
  lw_prom_sample_u64(&w, NULL, l, 1, 1);
  assert_int_equal(lw_prom_finish(&w), 0);
  assert_non_null(strstr(text_of(&buf), "{comm=\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD"
                                        "\xEF\xBF\xBD" "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                        "é€😀\"} 1\n"));
  assert_int_equal(promtool_check(text_of(&buf)), 0);
  lw_buf_free(&buf);
}

static int error_of(void (*write)(lw_prom_writer_t *)) {
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_prom_writer_t w;
  lw_prom_init(&w, &buf);
  write(&w);
  int rc = lw_prom_finish(&w);
  lw_buf_free(&buf);
  return rc;
}

static void split_family(lw_prom_writer_t *w) {
  lw_prom_family(w, "x_bytes", LW_PROM_GAUGE, "x");
  lw_prom_sample(w, NULL, NULL, 0, 1);
  lw_prom_family(w, "y_bytes", LW_PROM_GAUGE, "y");
  lw_prom_family(w, "x_bytes", LW_PROM_GAUGE, "x again");
  lw_prom_sample(w, NULL, NULL, 0, 2);
}
static void bad_metric_name(lw_prom_writer_t *w) { lw_prom_family(w, "9lives", LW_PROM_GAUGE, "x"); }
static void reserved_name(lw_prom_writer_t *w) { lw_prom_family(w, "__name", LW_PROM_GAUGE, "x"); }
static void bad_label_name(lw_prom_writer_t *w) {
  lw_prom_family(w, "x", LW_PROM_GAUGE, "x");
  const lw_prom_label_t l[] = {{"bad-label", "v"}};
  lw_prom_sample(w, NULL, l, 1, 1);
}
static void colon_label(lw_prom_writer_t *w) {
  lw_prom_family(w, "job:x:rate5m", LW_PROM_GAUGE, "colons are fine in metric names");
  const lw_prom_label_t l[] = {{"a:b", "v"}};
  lw_prom_sample(w, NULL, l, 1, 1);
}
static void no_family(lw_prom_writer_t *w) { lw_prom_sample(w, NULL, NULL, 0, 1); }
static void bucket_on_gauge(lw_prom_writer_t *w) {
  lw_prom_family(w, "x", LW_PROM_GAUGE, "x");
  lw_prom_sample(w, "_bucket", NULL, 0, 1);
}
static void too_many(lw_prom_writer_t *w) {
  for (int i = 0; i <= LW_PROM_MAX_FAMILIES; i++) {
    char name[32];
    snprintf(name, sizeof name, "family_%d", i);
    lw_prom_family(w, name, LW_PROM_GAUGE, "x");
  }
}
static void after_error(lw_prom_writer_t *w) {
  lw_prom_family(w, "bad name", LW_PROM_GAUGE, "x");
  lw_prom_family(w, "good_name", LW_PROM_GAUGE, "x"); /* the first error stays */
}

static void test_refusals(void **state) {
  (void)state;
  assert_int_equal(error_of(split_family), -EEXIST);
  assert_int_equal(error_of(bad_metric_name), -EINVAL);
  assert_int_equal(error_of(reserved_name), -EINVAL);
  assert_int_equal(error_of(bad_label_name), -EINVAL);
  assert_int_equal(error_of(colon_label), -EINVAL);
  assert_int_equal(error_of(no_family), -EPROTO);
  assert_int_equal(error_of(bucket_on_gauge), -EINVAL);
  assert_int_equal(error_of(too_many), -E2BIG);
  assert_int_equal(error_of(after_error), -EINVAL);
  assert_true(lw_prom_valid_metric_name("a:b_c9"));
  assert_false(lw_prom_valid_metric_name(""));
  assert_true(lw_prom_valid_label_name("_x"));
  assert_false(lw_prom_valid_label_name("é"));
}

/* An allocator that refuses, to check the out-of-memory report. */
static void *refuse_alloc(void *c, size_t s) { (void)c; (void)s; return NULL; }
static void *refuse_resize(void *c, void *b, size_t o, size_t n) { (void)c; (void)b; (void)o; (void)n; return NULL; }
static void refuse_release(void *c, void *b, size_t s) { (void)c; (void)b; (void)s; }

static void test_out_of_memory(void **state) {
  (void)state;
  const lw_allocator_t refusing = {refuse_alloc, refuse_resize, refuse_release, NULL};
  lw_buf_t buf;
  lw_buf_init(&buf, &refusing);
  lw_prom_writer_t w;
  lw_prom_init(&w, &buf);
  lw_prom_family(&w, "x", LW_PROM_GAUGE, "x");
  lw_prom_sample(&w, NULL, NULL, 0, 1);
  assert_int_equal(lw_prom_finish(&w), -ENOMEM);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_exposition),
      cmocka_unit_test(test_values_histogram_and_help_escapes),
      cmocka_unit_test(test_utf8_repair),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
