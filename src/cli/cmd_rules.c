/*
 * cmd_rules.c - `leakwatch rules`: checks a file of watch alert rules, lists the metric
 * names rules may use, and prints the equivalent Prometheus alerting rules (for the metrics
 * `leakwatch exporter` serves), which `promtool check rules` accepts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/watch_metrics.h"
#include "cli/watch_output.h"
#include "common/alert_rule.h"
#include "common/file.h"
#include "common/number_format.h"

#define MAX_RULES 256

static const lw_cli_option_t options[] = {
    {"prometheus", 'p', NULL, "print the rules as a Prometheus rule file (YAML)"},
    {"group", 0, "NAME", "rule group name in the Prometheus file (default leakwatch)"},
    {"severity", 0, "LEVEL", "severity label of the Prometheus alerts (default warning)"},
    {"json", 0, NULL, "print the parsed rules as JSON"},
    {"metrics", 0, NULL, "list the metric names rules may use, with units"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "rules",
    "leakwatch rules [--prometheus | --json] RULES_FILE | --metrics",
    "Check a file of alert rules for `leakwatch watch --rules` (one rule per line, '#'\n"
    "comments), or translate it into Prometheus alerting rules over the metrics of\n"
    "`leakwatch exporter`. Rule syntax: [NAME:] EXPR OP THRESHOLD [for DURATION], e.g.\n"
    "'rss > 500MiB for 2m', 'rate(fds) > 10/min for 5m', 'threads > 200'.",
    options,
    "Examples:\n"
    "  leakwatch rules alerts.rules\n"
    "  leakwatch rules --prometheus alerts.rules > leakwatch-alerts.yml && promtool check rules leakwatch-alerts.yml",
};

static int print_buf(lw_buf_t *buf) {
  if (lw_buf_failed(buf)) {
    lw_cli_error("out of memory");
    return LW_EXIT_FAILURE;
  }
  if (fwrite(buf->data, 1, buf->len, stdout) != buf->len || fflush(stdout) != 0) {
    lw_cli_error("stdout: %s", strerror(errno));
    return LW_EXIT_FAILURE;
  }
  return LW_EXIT_OK;
}

static int list_metrics(bool json) {
  lw_buf_t out;
  lw_buf_init(&out, &lw_libc_allocator);
  static const char *units[] = {"count", "bytes", "percent"};
  if (json)
    lw_buf_append_byte(&out, '[');
  for (size_t i = 0; i < lw_watch_n_rule_metrics; i++) {
    const lw_alert_metric_t *m = &lw_watch_rule_metrics[i];
    if (json) {
      lw_buf_printf(&out, "%s{\"name\":\"%s\",\"unit\":\"%s\",\"counter\":%s,\"rate\":%s,\"promql\":",
                    i ? "," : "", m->name, units[m->unit], m->counter ? "true" : "false",
                    m->rate_allowed ? "true" : "false");
      lw_watch_json_string(&out, m->promql);
      lw_buf_append_byte(&out, '}');
    } else {
      lw_buf_printf(&out, "%-18s %-8s %-8s %s\n", m->name, units[m->unit],
                    m->counter ? "counter" : m->rate_allowed ? "gauge" : "rate", m->promql);
    }
  }
  if (json)
    lw_buf_append_str(&out, "]\n");
  int rc = print_buf(&out);
  lw_buf_free(&out);
  return rc;
}

int lw_cmd_rules(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value, *group = "leakwatch", *severity = "warning";
  bool prometheus = false, json = false, metrics = false;
  int opt;
  while ((opt = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[opt].long_name;
    if (strcmp(name, "prometheus") == 0)
      prometheus = true;
    else if (strcmp(name, "group") == 0)
      group = value;
    else if (strcmp(name, "severity") == 0)
      severity = value;
    else if (strcmp(name, "json") == 0)
      json = true;
    else if (strcmp(name, "metrics") == 0)
      metrics = true;
  }
  const char *path = parser.n_positionals == 1 ? parser.positionals[0] : NULL;
  int n_positionals = parser.n_positionals;
  lw_cli_parser_free(&parser);
  if (metrics) {
    if (n_positionals)
      return lw_cli_usage_error(&spec, "--metrics takes no file");
    return list_metrics(json);
  }
  if (!path)
    return lw_cli_usage_error(&spec, n_positionals ? "give one rules file" : "missing rules file");
  if (prometheus && json)
    return lw_cli_usage_error(&spec, "--prometheus and --json exclude each other");
  if (!group[0])
    return lw_cli_usage_error(&spec, "--group must not be empty");

  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  int rc = strcmp(path, "-") == 0 ? -ENOSYS : lw_read_file(path, &text, 1 << 20);
  if (rc == -ENOSYS) { /* "-": standard input */
    rc = 0;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
      lw_buf_append(&text, chunk, n);
    if (ferror(stdin))
      rc = -EIO;
  }
  if (rc != 0) {
    lw_buf_free(&text);
    lw_cli_error("%s: %s", path, strerror(-rc));
    return LW_EXIT_FAILURE;
  }
  static lw_alert_rule_t rules[MAX_RULES];
  lw_alert_error_t err;
  int n = lw_alert_rules_parse((const char *)text.data, text.len, lw_watch_rule_metrics,
                               lw_watch_n_rule_metrics, rules, MAX_RULES, &err);
  lw_buf_free(&text);
  if (n < 0) {
    lw_cli_error("%s:%d:%d: %s", path, err.line, err.column, err.message);
    return LW_EXIT_FAILURE;
  }
  lw_buf_t out;
  lw_buf_init(&out, &lw_libc_allocator);
  if (prometheus) {
    lw_alert_rules_prometheus(rules, (size_t)n, lw_watch_rule_metrics, group, severity, &out);
  } else if (json) {
    lw_buf_append_byte(&out, '[');
    for (int i = 0; i < n; i++) {
      const lw_alert_rule_t *r = &rules[i];
      char threshold[LW_NUMBER_MAX], window[LW_NUMBER_MAX], hold[LW_NUMBER_MAX];
      lw_format_double(threshold, sizeof threshold, r->threshold);
      lw_format_double(window, sizeof window, r->rate ? (double)r->rate_window_ms / 1000 : 0);
      lw_format_double(hold, sizeof hold, (double)r->for_ms / 1000);
      lw_buf_printf(&out, "%s{\"name\":\"%s\",\"line\":%d,\"text\":", i ? "," : "", r->name, r->line);
      lw_watch_json_string(&out, r->text);
      lw_buf_printf(&out, ",\"metric\":\"%s\",\"rate\":%s,\"rate_window_seconds\":%s,"
                          "\"op\":\"%s\",\"threshold\":%s,\"for_seconds\":%s,\"promql\":",
                    lw_watch_rule_metrics[r->metric].name, r->rate ? "true" : "false", window,
                    lw_alert_op_text(r->op), threshold, hold);
      lw_buf_t expr;
      lw_buf_init(&expr, &lw_libc_allocator);
      lw_alert_rule_promql(r, lw_watch_rule_metrics, &expr);
      lw_buf_append_byte(&expr, 0);
      lw_watch_json_string(&out, lw_buf_failed(&expr) ? "" : (const char *)expr.data);
      lw_buf_free(&expr);
      lw_buf_append_byte(&out, '}');
    }
    lw_buf_append_str(&out, "]\n");
  } else {
    for (int i = 0; i < n; i++) {
      /* "NAME: rule" for every rule: a named rule's text already starts with its name. */
      if (rules[i].named)
        lw_buf_printf(&out, "%s:%d: %s\n", path, rules[i].line, rules[i].text);
      else
        lw_buf_printf(&out, "%s:%d: %s: %s\n", path, rules[i].line, rules[i].name, rules[i].text);
    }
    lw_buf_printf(&out, "%d rule%s OK\n", n, n == 1 ? "" : "s");
  }
  rc = print_buf(&out);
  lw_buf_free(&out);
  return rc;
}
