/*
 * test_watch_output.c - CSV/JSONL/table rendering of samples (src/cli/watch_output.c) and
 * the sampler on this very process (src/cli/watch_sample.c): quoting and escaping of odd
 * process names, empty cells and nulls for missing values, rounding of rates, the header's
 * unit comments, and a live sample with rates on the second round and -ESRCH once a
 * process is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/watch_output.h"
#include "cli/watch_sample.h"

static char *text(lw_buf_t *b) {
  lw_buf_append_byte(b, 0);
  b->len--;
  return (char *)b->data;
}

static void test_cells_and_strings(void **state) {
  (void)state;
  lw_buf_t b;
  lw_buf_init(&b, &lw_libc_allocator);
  lw_watch_csv_cell(&b, "plain name");
  lw_buf_append_byte(&b, '|');
  lw_watch_csv_cell(&b, "a,b \"c\"\nd");
  assert_string_equal(text(&b), "plain name|\"a,b \"\"c\"\"\nd\"");
  lw_buf_reset(&b);
  lw_watch_json_string(&b, "q\"b\\s\x01\t\xC3\xA9\xFF");
  assert_string_equal(text(&b), "\"q\\\"b\\\\s\\u0001\\u0009\xC3\xA9\\ufffd\"");
  lw_buf_free(&b);

  char s[32];
  lw_watch_short_size(s, sizeof s, 512);
  assert_string_equal(s, "512B");
  lw_watch_short_size(s, sizeof s, 12.34 * 1024 * 1024);
  assert_string_equal(s, "12.3M");
  lw_watch_short_size(s, sizeof s, 1.5 * 1024 * 1024 * 1024);
  assert_string_equal(s, "1.50G");
  lw_watch_describe_value(s, sizeof s, 612 * 1048576.0, LW_UNIT_BYTES, false);
  assert_string_equal(s, "612 MiB");
  lw_watch_describe_value(s, sizeof s, 1.0 / 3, LW_UNIT_COUNT, true);
  assert_string_equal(s, "0.333/s");
  lw_watch_describe_value(s, sizeof s, 95.25, LW_UNIT_PERCENT, false);
  assert_string_equal(s, "95.2%");
}

static void starts_with(const char *s, const char *prefix) {
  if (strncmp(s, prefix, strlen(prefix)) != 0)
    fail_msg("'%.120s' does not start with '%s'", s, prefix);
}

static lw_watch_sample_t synthetic(void) {
  lw_watch_sample_t s;
  memset(&s, 0, sizeof s);
  s.time_unix = 1700000000.1234;
  s.pid = 42;
  snprintf(s.comm, sizeof s.comm, "my,svc");
  s.v[LW_W_RSS] = 7626752;
  s.has[LW_W_RSS] = true;
  s.v[LW_W_CPU_PERCENT] = 0.1 + 0.2; /* 0.30000000000000004 */
  s.has[LW_W_CPU_PERCENT] = true;
  s.v[LW_W_FDS_TYPE + LW_FD_SOCKET] = 3;
  s.has[LW_W_FDS_TYPE + LW_FD_SOCKET] = true;
  return s;
}

static void test_csv_and_jsonl(void **state) {
  (void)state;
  lw_buf_t b;
  lw_buf_init(&b, &lw_libc_allocator);
  lw_watch_csv_header(&b);
  char *h = text(&b);
  assert_non_null(strstr(h, "\n# time_unix: sample time, seconds since 1970-01-01 UTC (decimal)\n"));
  for (size_t i = 0; i < lw_watch_n_columns; i++) {
    char line[512];
    snprintf(line, sizeof line, "\n# %s: %s\n", lw_watch_columns[i].key, lw_watch_columns[i].doc);
    assert_non_null(strstr(h, line));
  }
  const char *row = strstr(h, "\ntime_unix,pid,comm,rss_bytes,");
  assert_non_null(row);
  assert_int_equal(h[b.len - 1], '\n');
  size_t commas = 0;
  for (const char *p = row + 1; *p; p++)
    commas += *p == ',';
  assert_int_equal(commas, lw_watch_n_columns + 2);

  lw_buf_reset(&b);
  lw_watch_sample_t s = synthetic();
  lw_watch_csv_row(&b, &s);
  char *r = text(&b);
  starts_with(r, "1700000000.123,42,\"my,svc\",7626752,,");
  assert_non_null(strstr(r, ",0.3,")); /* rates rounded to 3 decimals */
  commas = 0;
  for (const char *p = r; *p; p++)
    commas += *p == ',';
  assert_int_equal(commas, lw_watch_n_columns + 2 + 1); /* one comma inside the quoted name */

  lw_buf_reset(&b);
  lw_watch_json_row(&b, &s);
  r = text(&b);
  starts_with(r, "{\"time_unix\":1700000000.123,\"pid\":42,\"comm\":\"my,svc\",\"rss_bytes\":7626752,\"pss_bytes\":null,");
  assert_non_null(strstr(r, "\"fds_socket\":3,"));
  assert_non_null(strstr(r, "\"cpu_percent\":0.3,"));
  assert_int_equal(r[b.len - 1], '\n');

  lw_buf_reset(&b);
  bool growing[LW_WATCH_N_TRENDED] = {true}; /* the first trended counter: rss */
  lw_watch_plain_line(&b, &s, growing);
  assert_non_null(strstr(text(&b), " pid 42 (my,svc) rss=7.27M\xE2\x86\x91 cpu=0.3%\n"));
  lw_buf_reset(&b);
  lw_watch_table_row(&b, &s, growing);
  assert_non_null(strstr(text(&b), "     42 my,svc            7.27M\xE2\x86\x91        -"));
  lw_buf_free(&b);
}

static void test_sampling_this_process(void **state) {
  (void)state;
  lw_watch_sampler_t *sampler = malloc(sizeof *sampler);
  assert_int_equal(lw_watch_sampler_init(sampler, true, true), 0);
  lw_watch_target_t target;
  assert_int_equal(lw_watch_target_open(sampler, &target, getpid()), 0);
  lw_watch_sample_t first, second;
  unsigned denied;
  lw_watch_sampler_begin(sampler);
  assert_int_equal(lw_watch_sample(sampler, &target, NULL, &first, &denied), 0);
  assert_int_equal(denied, 0);
  const lw_watch_field_t always[] = {LW_W_RSS, LW_W_PSS, LW_W_USS, LW_W_VSIZE, LW_W_DATA,
                                     LW_W_PEAK_RSS, LW_W_FDS, LW_W_THREADS, LW_W_CPU_SECONDS,
                                     LW_W_READ_BYTES, LW_W_MAX_FDS, LW_W_START_TIME};
  for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
    assert_true(first.has[always[i]]);
  assert_false(first.has[LW_W_CPU_PERCENT]); /* no previous sample: no rate */
  assert_true(first.v[LW_W_RSS] > 0 && first.v[LW_W_USS] <= first.v[LW_W_RSS]);
  assert_true(first.v[LW_W_FDS_TYPE + LW_FD_DEVICE] + first.v[LW_W_FDS_TYPE + LW_FD_FILE] +
                  first.v[LW_W_FDS_TYPE + LW_FD_PIPE] + first.v[LW_W_FDS_TYPE + LW_FD_SOCKET] >= 1);
  usleep(20000);
  lw_watch_sampler_begin(sampler);
  assert_int_equal(lw_watch_sample(sampler, &target, &first, &second, &denied), 0);
  assert_true(second.has[LW_W_CPU_PERCENT] && second.has[LW_W_MINOR_FAULTS_RATE]);
  assert_true(second.time_mono > first.time_mono);
  lw_watch_target_close(&target);

  /* A process that is gone (here a zombie, then reaped). */
  pid_t child = fork();
  if (child == 0)
    _exit(0);
  assert_int_equal(lw_watch_target_open(sampler, &target, child), 0);
  usleep(50000); /* exited, not reaped: a zombie */
  assert_int_equal(lw_watch_sample(sampler, &target, NULL, &first, &denied), -ESRCH);
  waitpid(child, NULL, 0);
  assert_int_equal(lw_watch_sample(sampler, &target, NULL, &first, &denied), -ESRCH);
  lw_watch_target_close(&target);
  assert_int_equal(lw_watch_target_open(sampler, &target, child), -ENOENT);

  char what[256];
  lw_watch_denied_text(LW_DENIED_SMAPS | LW_DENIED_IO, what, sizeof what);
  assert_string_equal(what, "smaps_rollup (PSS, USS), io (read/write rates)");
  free(sampler);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cells_and_strings),
      cmocka_unit_test(test_csv_and_jsonl),
      cmocka_unit_test(test_sampling_this_process),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
