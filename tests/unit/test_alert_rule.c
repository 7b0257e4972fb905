/*
 * test_alert_rule.c - alert rules (src/common/alert_rule.c): the issue's examples, units,
 * one-line errors with the right column, rules files, names, the PromQL translation
 * (checked by `promtool check rules` and exercised by `promtool test rules`), and the
 * pending -> firing -> resolved evaluation matching Prometheus's on the same series.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alert_rule.h"

static const lw_alert_metric_t metrics[] = {
    {"rss", LW_UNIT_BYTES, false, true, "process_resident_memory_bytes"},
    {"fds", LW_UNIT_COUNT, false, true, "process_open_fds"},
    {"fds_socket", LW_UNIT_COUNT, false, true, "process_open_fds_by_type{type=\"socket\"}"},
    {"threads", LW_UNIT_COUNT, false, true, "process_threads"},
    {"cpu", LW_UNIT_PERCENT, false, false, "rate(process_cpu_seconds_total[1m]) * 100"},
    {"major_faults", LW_UNIT_COUNT, true, true, "process_major_page_faults_total"},
};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

static lw_alert_rule_t parse_ok(const char *text) {
  lw_alert_rule_t r;
  lw_alert_error_t err;
  if (lw_alert_rule_parse(text, strlen(text), metrics, N_METRICS, &r, &err) != 0)
    fail_msg("'%s': column %d: %s", text, err.column, err.message);
  return r;
}

static void test_issue_examples(void **state) {
  (void)state;
  lw_alert_rule_t r = parse_ok("rss > 500MiB for 2m");
  assert_string_equal(metrics[r.metric].name, "rss");
  assert_false(r.rate);
  assert_int_equal(r.op, LW_OP_GT);
  assert_true(r.threshold == 500.0 * 1048576);
  assert_int_equal(r.for_ms, 120000);
  assert_string_equal(r.text, "rss > 500MiB for 2m");

  r = parse_ok("rate(fds) > 10/min for 5m");
  assert_true(r.rate);
  assert_int_equal(r.rate_window_ms, 60000);
  assert_true(fabs(r.threshold - 10.0 / 60) < 1e-15);
  assert_int_equal(r.for_ms, 300000);

  r = parse_ok("threads > 200");
  assert_true(r.threshold == 200);
  assert_int_equal(r.for_ms, 0);
}

static void test_forms_and_units(void **state) {
  (void)state;
  lw_alert_rule_t r = parse_ok("  RssHuge :rss>=1.5 GiB   for 90s  # comment");
  assert_true(r.named);
  assert_string_equal(r.name, "RssHuge");
  assert_int_equal(r.op, LW_OP_GE);
  assert_true(r.threshold == 1.5 * 1073741824.0);
  assert_int_equal(r.for_ms, 90000);
  assert_string_equal(r.text, "RssHuge :rss>=1.5 GiB   for 90s");
  r = parse_ok("rss < 4096");
  assert_true(r.threshold == 4096);
  r = parse_ok("rss != 1k");
  assert_true(r.threshold == 1024);
  r = parse_ok("cpu > 90%");
  assert_true(r.threshold == 90);
  r = parse_ok("cpu <= 12.5");
  assert_true(r.threshold == 12.5);
  r = parse_ok("rate( rss [ 10m ] ) > 4MiB/h for 1h");
  assert_int_equal(r.rate_window_ms, 600000);
  assert_true(fabs(r.threshold - 4.0 * 1048576 / 3600) < 1e-9);
  r = parse_ok("rate(major_faults[30s]) > 100");
  assert_true(r.threshold == 100);
  r = parse_ok("rate(fds) > 2/hour");
  assert_true(fabs(r.threshold - 2.0 / 3600) < 1e-15);
  r = parse_ok("fds_socket == 1e3");
  assert_true(r.threshold == 1000);
  r = parse_ok("threads > 5 for 1.5m");
  assert_int_equal(r.for_ms, 90000);
}

typedef struct {
  const char *text;
  int column;
  const char *message_part;
} bad_case_t;

static void test_errors_name_the_column(void **state) {
  (void)state;
  static const bad_case_t cases[] = {
      {"", 1, "empty rule"},
      {"rsss > 5", 1, "unknown metric 'rsss' (did you mean 'rss'?)"},
      {"bogus_metric > 5", 1, "unknown metric 'bogus_metric'"},
      {"rss >> 5", 6, "expected a number after '>'"},
      {"rss = 5", 5, "expected a comparison"},
      {"rss > 500MIBs", 10, "unknown size unit 'MIBs'"},
      {"rss > lots", 7, "expected a number"},
      {"fds > 10MiB", 9, "fds is a count and takes no unit"},
      {"cpu > 5MiB", 8, "cpu is a percentage"},
      {"fds > 10/min", 9, "needs rate(fds)"},
      {"rate(fds) > 10/fortnight", 16, "unknown time unit 'fortnight'"},
      {"rate(cpu) > 1", 6, "rate() is not defined for cpu"},
      {"rate(fds > 1", 10, "expected ')'"},
      {"rate(fds[5q]) > 1", 10, "invalid duration '5q'"},
      {"rate(fds[]) > 1", 10, "missing duration"},
      {"rss > 5 for", 12, "missing duration after for"},
      {"rss > 5 for ever", 13, "invalid duration 'ever'"},
      {"rss > 5 during 2m", 9, "expected 'for DURATION'"},
      {"rss > 5 for 2m extra", 16, "unexpected 'extra'"},
      {"> 5", 1, "expected a metric name"},
      {"Name: : rss > 5", 7, "expected a metric name"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lw_alert_rule_t r;
    lw_alert_error_t err;
    int rc = lw_alert_rule_parse(cases[i].text, strlen(cases[i].text), metrics, N_METRICS, &r,
                                 &err);
    if (rc != -EINVAL)
      fail_msg("'%s' should not parse", cases[i].text);
    if (err.column != cases[i].column || !strstr(err.message, cases[i].message_part))
      fail_msg("'%s': got column %d '%s', want column %d '%s'", cases[i].text, err.column,
               err.message, cases[i].column, cases[i].message_part);
    assert_null(strchr(err.message, '\n'));
  }
}

static void test_rules_file_and_names(void **state) {
  (void)state;
  const char *file = "# leakwatch rules\n"
                     "\n"
                     "rss > 500MiB for 2m\n"
                     "   # indented comment\n"
                     "rss > 1GiB\n"
                     "FdLeak: rate(fds) > 10/min for 5m  # trailing comment\n"
                     "threads < 2\r\n";
  lw_alert_rule_t rules[8];
  lw_alert_error_t err;
  int n = lw_alert_rules_parse(file, strlen(file), metrics, N_METRICS, rules, 8, &err);
  assert_int_equal(n, 4);
  assert_string_equal(rules[0].name, "RssHigh");
  assert_int_equal(rules[0].line, 3);
  assert_string_equal(rules[1].name, "RssHigh2");
  assert_string_equal(rules[2].name, "FdLeak");
  assert_string_equal(rules[3].name, "ThreadsLow");
  assert_int_equal(rules[3].line, 7);

  const char *bad = "rss > 1\nrss > 2\nrss >\n";
  assert_int_equal(lw_alert_rules_parse(bad, strlen(bad), metrics, N_METRICS, rules, 8, &err),
                   -EINVAL);
  assert_int_equal(err.line, 3);
  assert_int_equal(err.column, 6);
  const char *dup = "A: rss > 1\nA: fds > 2\n";
  assert_int_equal(lw_alert_rules_parse(dup, strlen(dup), metrics, N_METRICS, rules, 8, &err),
                   -EINVAL);
  assert_int_equal(err.line, 2);
  assert_non_null(strstr(err.message, "'A' is used twice"));
  assert_int_equal(lw_alert_rules_parse(file, strlen(file), metrics, N_METRICS, rules, 3, &err),
                   -E2BIG);
  /* A generated name never takes a given one. */
  const char *clash = "rss > 1\nRssHigh: rss > 2\n";
  assert_int_equal(lw_alert_rules_parse(clash, strlen(clash), metrics, N_METRICS, rules, 8, &err), 2);
  assert_string_equal(rules[0].name, "RssHigh2");
  assert_string_equal(rules[1].name, "RssHigh");
}

static void test_promql(void **state) {
  (void)state;
  char d[32];
  lw_alert_format_duration(120000, d, sizeof d);
  assert_string_equal(d, "2m");
  lw_alert_format_duration(5400000, d, sizeof d);
  assert_string_equal(d, "1h30m");
  lw_alert_format_duration(1500, d, sizeof d);
  assert_string_equal(d, "1s500ms");
  lw_alert_format_duration(0, d, sizeof d);
  assert_string_equal(d, "0s");
  lw_alert_format_duration(90061001, d, sizeof d);
  assert_string_equal(d, "1d1h1m1s1ms");

  const char *cases[][2] = {
      {"rss > 500MiB for 2m", "process_resident_memory_bytes > 524288000"},
      {"rate(fds) > 10/min", "deriv(process_open_fds[1m]) > 0.16666666666666666"},
      {"rate(major_faults[5m]) >= 3", "rate(process_major_page_faults_total[5m]) >= 3"},
      {"cpu > 90", "rate(process_cpu_seconds_total[1m]) * 100 > 90"},
      {"fds_socket != 0", "process_open_fds_by_type{type=\"socket\"} != 0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lw_alert_rule_t r = parse_ok(cases[i][0]);
    lw_buf_t b;
    lw_buf_init(&b, &lw_libc_allocator);
    lw_alert_rule_promql(&r, metrics, &b);
    lw_buf_append_byte(&b, 0);
    assert_string_equal((char *)b.data, cases[i][1]);
    lw_buf_free(&b);
  }
}

static int run(const char *cmd) {
  int status = system(cmd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The generated file passes promtool check rules, and promtool test rules shows the same
 * pending/firing behaviour the evaluator below implements. */
static void test_prometheus_rules_with_promtool(void **state) {
  (void)state;
  const char *file = "rss > 500MiB for 2m\n"
                     "FdLeak: rate(fds) > 10/min for 5m\n"
                     "threads > 200\n"
                     "Weird: rss > 1 # \"quoted\" \\ text\n";
  lw_alert_rule_t rules[8];
  lw_alert_error_t err;
  int n = lw_alert_rules_parse(file, strlen(file), metrics, N_METRICS, rules, 8, &err);
  assert_int_equal(n, 4);
  lw_buf_t b;
  lw_buf_init(&b, &lw_libc_allocator);
  lw_alert_rules_prometheus(rules, (size_t)n, metrics, "leakwatch", "warning", &b);
  assert_false(lw_buf_failed(&b));
  char dir[] = "/tmp/lw-rules-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], cmd[1024];
  snprintf(path, sizeof path, "%s/rules.yml", dir);
  FILE *f = fopen(path, "w");
  fwrite(b.data, 1, b.len, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "promtool check rules %s > %s/check.out 2>&1", path, dir);
  int rc = run(cmd);
  if (rc != 0) {
    snprintf(cmd, sizeof cmd, "cat %s %s/check.out", path, dir);
    (void)run(cmd);
    fail_msg("promtool check rules exited %d", rc);
  }
  snprintf(path, sizeof path, "%s/rules.test.yml", dir);
  f = fopen(path, "w");
  fputs("rule_files: [rules.yml]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n"
        "      - series: 'process_resident_memory_bytes{pid=\"42\",comm=\"svc\"}'\n"
        "        values: '1e9x10'\n"
        "      - series: 'process_open_fds{pid=\"42\",comm=\"svc\"}'\n"
        "        values: '10+20x10'\n"
        "      - series: 'process_threads{pid=\"42\",comm=\"svc\"}'\n"
        "        values: '201x10'\n"
        "    alert_rule_test:\n"
        "      - eval_time: 1m\n"
        "        alertname: RssHigh\n"
        "        exp_alerts: []\n"
        "      - eval_time: 2m\n"
        "        alertname: RssHigh\n"
        "        exp_alerts:\n"
        "          - exp_labels: {severity: warning, source: leakwatch, pid: \"42\", comm: svc}\n"
        "            exp_annotations:\n"
        "              summary: \"rss > 500MiB for 2m on pid 42 (svc)\"\n"
        "              description: \"value 1e+09\"\n"
        "              leakwatch_rule: \"rss > 500MiB for 2m\"\n"
        "      - eval_time: 4m\n"
        "        alertname: FdLeak\n"
        "        exp_alerts: []\n"
        "      - eval_time: 6m\n"
        "        alertname: FdLeak\n"
        "        exp_alerts:\n"
        "          - exp_labels: {severity: warning, source: leakwatch, pid: \"42\", comm: svc}\n"
        "            exp_annotations:\n"
        "              summary: \"FdLeak: rate(fds) > 10/min for 5m on pid 42 (svc)\"\n"
        "              description: \"value 0.3333333333333333\"\n"
        "              leakwatch_rule: \"FdLeak: rate(fds) > 10/min for 5m\"\n"
        "      - eval_time: 0m\n"
        "        alertname: ThreadsHigh\n"
        "        exp_alerts:\n"
        "          - exp_labels: {severity: warning, source: leakwatch, pid: \"42\", comm: svc}\n"
        "            exp_annotations:\n"
        "              summary: \"threads > 200 on pid 42 (svc)\"\n"
        "              description: \"value 201\"\n"
        "              leakwatch_rule: \"threads > 200\"\n",
        f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cd %s && promtool test rules rules.test.yml > test.out 2>&1", dir);
  rc = run(cmd);
  if (rc != 0) {
    snprintf(cmd, sizeof cmd, "cat %s/rules.yml %s/test.out", dir, dir);
    (void)run(cmd);
    fail_msg("promtool test rules exited %d", rc);
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(run(cmd), 0);
  lw_buf_free(&b);
}

/* The same series as the promtool test, evaluated every minute by lw_alert_eval_step. */
static void test_pending_firing_resolved(void **state) {
  (void)state;
  lw_alert_rule_t r = parse_ok("rss > 500MiB for 2m");
  lw_alert_eval_t e;
  lw_alert_eval_init(&e, &r);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 0, 1e9, true), LW_ALERT_BECAME_PENDING);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 60, 1e9, true), LW_ALERT_NO_CHANGE);
  assert_int_equal(e.state, LW_ALERT_PENDING);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 120, 1e9, true), LW_ALERT_BECAME_FIRING);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 180, 1e9, true), LW_ALERT_NO_CHANGE);
  assert_int_equal(e.state, LW_ALERT_FIRING);
  assert_true(e.has_value && e.value == 1e9);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 240, 1e6, true), LW_ALERT_RESOLVED);
  assert_int_equal(e.state, LW_ALERT_INACTIVE);
  /* One false evaluation while pending starts the wait over. */
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 300, 1e9, true), LW_ALERT_BECAME_PENDING);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 390, 1e6, true), LW_ALERT_CANCELLED);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 400, 1e9, true), LW_ALERT_BECAME_PENDING);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 519, 1e9, true), LW_ALERT_NO_CHANGE);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 520, 1e9, true), LW_ALERT_BECAME_FIRING);
  /* A missing value (process gone, access denied) is "does not hold". */
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 530, 0, false), LW_ALERT_RESOLVED);
  assert_false(e.has_value);

  /* Without `for`, the first evaluation that holds fires. */
  r = parse_ok("threads > 200");
  lw_alert_eval_init(&e, &r);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 0, 100, true), LW_ALERT_NO_CHANGE);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 5, 201, true), LW_ALERT_BECAME_FIRING);
}

static void test_rates(void **state) {
  (void)state;
  /* Gauge: least-squares slope. fds grows 20 per minute, the rule wants > 10/min for 5m. */
  lw_alert_rule_t r = parse_ok("rate(fds) > 10/min for 5m");
  lw_alert_eval_t e;
  lw_alert_eval_init(&e, &r);
  lw_alert_event_t fired_at = LW_ALERT_NO_CHANGE;
  int fired_second = -1;
  for (int t = 0; t <= 600; t += 5) {
    lw_alert_event_t ev = lw_alert_eval_step(&e, &r, metrics, t, 10 + t / 3.0, true);
    if (t == 0)
      assert_false(e.has_value); /* one sample: no rate yet */
    if (ev == LW_ALERT_BECAME_FIRING && fired_second < 0) {
      fired_at = ev;
      fired_second = t;
    }
  }
  assert_int_equal(fired_at, LW_ALERT_BECAME_FIRING);
  assert_int_equal(fired_second, 305); /* active from the second sample (5 s), + 5 min */
  assert_true(fabs(e.value - 1.0 / 3) < 1e-9);
  /* A flat series afterwards: the slope over the 1m window drops to 0 and it resolves. */
  bool resolved = false;
  for (int t = 605; t <= 700 && !resolved; t += 5)
    resolved = lw_alert_eval_step(&e, &r, metrics, t, 210, true) == LW_ALERT_RESOLVED;
  assert_true(resolved);

  /* Counter: increase per second over the window; a decrease is a reset, not a negative rate. */
  r = parse_ok("rate(major_faults) > 50");
  lw_alert_eval_init(&e, &r);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 0, 1000, true), LW_ALERT_NO_CHANGE);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 1, 1100, true), LW_ALERT_BECAME_FIRING);
  assert_true(e.value == 100);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 2, 5, true), LW_ALERT_RESOLVED);
  assert_false(e.has_value);
  assert_int_equal(lw_alert_eval_step(&e, &r, metrics, 3, 25, true), LW_ALERT_NO_CHANGE);
  assert_true(e.value == 20);
  /* A copied evaluation state keeps working (the window's points move with it). */
  lw_alert_eval_t copy = e;
  memset(&e, 0xAA, sizeof e);
  assert_int_equal(lw_alert_eval_step(&copy, &r, metrics, 4, 200, true), LW_ALERT_BECAME_FIRING);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_issue_examples),
      cmocka_unit_test(test_forms_and_units),
      cmocka_unit_test(test_errors_name_the_column),
      cmocka_unit_test(test_rules_file_and_names),
      cmocka_unit_test(test_promql),
      cmocka_unit_test(test_prometheus_rules_with_promtool),
      cmocka_unit_test(test_pending_firing_resolved),
      cmocka_unit_test(test_rates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
