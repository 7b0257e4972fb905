/*
 * test_exporter.c - the exporter's configuration parser (src/cli/exporter_config.c), its
 * exposition (src/cli/exporter_metrics.c, checked with `promtool check metrics`), and the
 * listen-address handling of its server (src/cli/exporter_server.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/exporter_config.h"
#include "cli/exporter_metrics.h"
#include "cli/exporter_server.h"

static int parse(const char *text, lw_exporter_config_t *c, char *err, size_t size) {
  lw_exporter_config_init(c);
  return lw_exporter_config_parse(text, strlen(text), c, err, size);
}

static void test_config(void **state) {
  (void)state;
  static lw_exporter_config_t c;
  char err[300];
  const char *good = "# exporter\n"
                     "listen 127.0.0.1:9797   # loopback\n"
                     "\n"
                     "  pid 42\n"
                     "pid 42\n" /* duplicates collapse */
                     "pid 7\r\n"
                     "name ^(nginx|postgres)$\n"
                     "cmdline python3 .*worker#1\n" /* '#' inside a pattern is kept */
                     "fd-types off\n"
                     "smaps yes\n";
  assert_int_equal(parse(good, &c, err, sizeof err), 0);
  assert_string_equal(c.listen, "127.0.0.1:9797");
  assert_int_equal(c.n_pids, 2);
  assert_int_equal(c.pids[0], 42);
  assert_int_equal(c.pids[1], 7);
  assert_int_equal(c.n_patterns, 2);
  assert_string_equal(c.patterns[0].regex, "^(nginx|postgres)$");
  assert_false(c.patterns[0].full);
  assert_string_equal(c.patterns[1].regex, "python3 .*worker#1");
  assert_true(c.patterns[1].full);
  assert_int_equal(c.fd_types, 0);
  assert_int_equal(c.smaps, 1);

  static const struct {
    const char *text, *error;
  } bad[] = {
      {"pid 1\nbogus 2\n", "line 2: unknown setting 'bogus' (listen, pid, name, cmdline, fd-types, smaps)"},
      {"pid x\n", "line 1: 'x' is not a process id"},
      {"pid -3\n", "line 1: '-3' is not a process id"},
      {"\n\nname (\n", "line 3: invalid regular expression '('"},
      {"listen\n", "line 1: 'listen' needs a value"},
      {"smaps maybe\n", "line 1: 'smaps' takes on or off, not 'maybe'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(parse(bad[i].text, &c, err, sizeof err), -1);
    if (strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
      fail_msg("'%s': got '%s', want '%s'", bad[i].text, err, bad[i].error);
  }
  lw_exporter_config_init(&c);
  for (int i = 1; i <= LW_EXPORTER_MAX_PATTERNS; i++)
    assert_int_equal(lw_exporter_config_add_pattern(&c, "x", false, err, sizeof err), 0);
  assert_int_equal(lw_exporter_config_add_pattern(&c, "x", false, err, sizeof err), -1);
  assert_non_null(strstr(err, "more than"));
}

static void add(lw_watch_sample_t *s, lw_watch_field_t f, double v) {
  s->v[f] = v;
  s->has[f] = true;
}

static void test_render(void **state) {
  (void)state;
  static lw_watch_sample_t samples[2];
  memset(samples, 0, sizeof samples);
  samples[0].pid = 100;
  snprintf(samples[0].comm, sizeof samples[0].comm, "svc \"quoted\"\\");
  add(&samples[0], LW_W_RSS, 33554432);
  add(&samples[0], LW_W_FDS, 17);
  add(&samples[0], LW_W_FDS_TYPE + LW_FD_SOCKET, 4);
  add(&samples[0], LW_W_FDS_TYPE + LW_FD_FILE, 13);
  add(&samples[0], LW_W_CPU_SECONDS, 12.5);
  add(&samples[0], LW_W_CG_OOM_KILLS, 2);
  samples[1].pid = 200;
  snprintf(samples[1].comm, sizeof samples[1].comm, "partial");
  add(&samples[1], LW_W_RSS, 4096); /* no PSS for anyone: that family is left out */
  lw_http_server_stats_t http = {5, {0, 0, 4, 0, 1, 0}};
  lw_exporter_stats_t stats = {1700000000, 3, 0.0125, 1, 6, 2, 1, 0, &http};
  lw_buf_t b;
  lw_buf_init(&b, &lw_libc_allocator);
  assert_int_equal(lw_exporter_render(&b, samples, 2, &stats, "9.9.9"), 0);
  lw_buf_append_byte(&b, 0);
  const char *t = (const char *)b.data;
  const char *want[] = {
      "# TYPE process_resident_memory_bytes gauge\n"
      "process_resident_memory_bytes{pid=\"100\",comm=\"svc \\\"quoted\\\"\\\\\"} 33554432\n"
      "process_resident_memory_bytes{pid=\"200\",comm=\"partial\"} 4096\n",
      "process_open_fds_by_type{pid=\"100\",comm=\"svc \\\"quoted\\\"\\\\\",type=\"file\"} 13\n",
      "process_open_fds_by_type{pid=\"100\",comm=\"svc \\\"quoted\\\"\\\\\",type=\"socket\"} 4\n",
      "# TYPE process_cpu_seconds_total counter\n",
      "process_cgroup_oom_kills_total{pid=\"100\",comm=\"svc \\\"quoted\\\"\\\\\"} 2\n",
      "leakwatch_exporter_build_info{version=\"9.9.9\"} 1\n",
      "leakwatch_exporter_scrapes_total 3\n",
      "leakwatch_exporter_collect_duration_seconds 0.0125\n",
      "leakwatch_exporter_processes 2\n",
      "leakwatch_exporter_partial_processes 1\n",
      "leakwatch_exporter_exited_processes_total 6\n",
      "leakwatch_exporter_config_reloads_total{result=\"success\"} 2\n",
      "leakwatch_exporter_config_reloads_total{result=\"failure\"} 1\n",
      "leakwatch_exporter_config_last_reload_successful 0\n",
      "leakwatch_exporter_http_responses_total{code=\"2xx\"} 4\n",
      "leakwatch_exporter_http_responses_total{code=\"4xx\"} 1\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(t, want[i]))
      fail_msg("missing:\n%s\nin:\n%s", want[i], t);
  assert_null(strstr(t, "process_proportional_memory_bytes"));
  assert_null(strstr(t, "type=\"pipe\"")); /* a type the sample does not have */

  char path[] = "/tmp/lw-exporter-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, t, strlen(t)), (ssize_t)strlen(t));
  close(fd);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
  int status = system(cmd);
  unlink(path);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  lw_buf_free(&b);
}

static void test_listen_addresses(void **state) {
  (void)state;
  char bound[300];
  int fd = lw_http_listen("127.0.0.1:0", bound, sizeof bound);
  assert_true(fd >= 0);
  assert_memory_equal(bound, "127.0.0.1:", 10);
  char again[300];
  int busy = lw_http_listen(bound, again, sizeof again);
  assert_int_equal(busy, -EADDRINUSE);
  assert_string_equal(again, "address already in use");
  close(fd);
  fd = lw_http_listen("localhost:0", bound, sizeof bound);
  assert_true(fd >= 0);
  close(fd);
  fd = lw_http_listen("[::1]:0", bound, sizeof bound);
  if (fd >= 0) { /* IPv6 loopback may be disabled on the machine */
    assert_memory_equal(bound, "[::1]:", 6);
    close(fd);
  }
  static const struct {
    const char *spec, *reason;
  } bad[] = {
      {"127.0.0.1", "expected HOST:PORT"}, {"127.0.0.1:http", "invalid port 'http'"},
      {"127.0.0.1:70000", "invalid port '70000'"}, {"[::1:9797", "expected [IPv6]:PORT"},
      {"127.0.0.1:", "invalid port ''"}, {"192.0.2.1:0", "address not available"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fd = lw_http_listen(bad[i].spec, bound, sizeof bound);
    if (fd >= 0 || !strstr(bound, bad[i].reason))
      fail_msg("'%s': got %d '%s', want '%s'", bad[i].spec, fd, bound, bad[i].reason);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config),
      cmocka_unit_test(test_render),
      cmocka_unit_test(test_listen_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
