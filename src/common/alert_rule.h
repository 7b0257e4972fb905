/*
 * alert_rule.h - alert rules in one line of text, parsed against a caller's metric table,
 * evaluated with Prometheus's pending -> firing `for:` semantics, and translated to PromQL.
 *
 * Syntax (one rule; a rules file has one per line, '#' starts a comment):
 *
 *   [NAME:] EXPR OP THRESHOLD [for DURATION]
 *   EXPR      = METRIC | rate(METRIC) | rate(METRIC[DURATION])
 *   OP        = >  >=  <  <=  ==  !=
 *   THRESHOLD = NUMBER [UNIT] [/ TIME]      e.g. 500MiB, 200, 95%, 10/min, 4MiB/h
 *
 * Units depend on the metric: sizes (B, k, KiB, MB, MiB, g, GiB...; all powers of 1024, as
 * in units.h) for byte metrics, '%' (optional) for percentages, none for counts. "/ TIME"
 * (s, sec, m, min, h, d) is only for rate(), whose value is per second; without it the
 * threshold is per second too. rate() of a gauge is its least-squares slope over the window
 * (PromQL deriv()), of a counter its increase per second (PromQL rate()). The window is 1m
 * unless given. Examples: `rss > 500MiB for 2m`, `rate(fds) > 10/min for 5m`,
 * `ThreadStorm: threads > 200`.
 *
 * Semantics, as Prometheus evaluates alerting rules (FORMATS.md 4.4): each evaluation where
 * the condition holds makes the alert active; with `for`, it stays pending until it has held
 * at every evaluation for that long, then fires; one evaluation where it does not hold (or
 * the value is missing) resets it, and a firing alert then resolves.
 *
 * Pure and allocation-free (the agent may evaluate rules on its own metrics later): no
 * stdio, errors go into a caller's struct with a column number.
 */
#ifndef LW_COMMON_ALERT_RULE_H
#define LW_COMMON_ALERT_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/trend.h"

typedef enum lw_metric_unit {
  LW_UNIT_COUNT,   /* fds, threads, faults */
  LW_UNIT_BYTES,
  LW_UNIT_PERCENT, /* cpu */
} lw_metric_unit_t;

/* One metric rules may name. The table is the caller's (the watcher's metric list). */
typedef struct lw_alert_metric {
  const char *name;      /* "rss" */
  lw_metric_unit_t unit;
  bool counter;          /* cumulative: rate() is increase per second */
  bool rate_allowed;     /* false for derived values such as cpu percent */
  const char *promql;    /* instant PromQL for the same value: "process_resident_memory_bytes",
                            "process_open_fds_by_type{type=\"socket\"}",
                            "rate(process_cpu_seconds_total[1m]) * 100" */
} lw_alert_metric_t;

typedef enum lw_alert_op { LW_OP_GT, LW_OP_GE, LW_OP_LT, LW_OP_LE, LW_OP_EQ, LW_OP_NE } lw_alert_op_t;

#define LW_ALERT_NAME_MAX 64
#define LW_ALERT_TEXT_MAX 200

typedef struct lw_alert_rule {
  char name[LW_ALERT_NAME_MAX]; /* given, or made from the metric ("RssHigh") */
  bool named;                   /* the name was given in the text */
  char text[LW_ALERT_TEXT_MAX]; /* the rule as written, trimmed (for messages) */
  size_t metric;                /* index into the metric table */
  bool rate;
  uint64_t rate_window_ms;      /* 60000 unless given */
  lw_alert_op_t op;
  double threshold;             /* base units: bytes, count, percent; per second for rate */
  uint64_t for_ms;              /* 0: fire at the first evaluation that holds */
  int line;                     /* line in a rules file, 0 for a single rule */
} lw_alert_rule_t;

typedef struct lw_alert_error {
  int line;          /* 1-based line in a rules file, 0 for a single rule */
  int column;        /* 1-based column of the problem */
  char message[200]; /* one line, no trailing period */
} lw_alert_error_t;

/* Parses one rule. Returns 0, or -EINVAL with *err filled (column of the offending text). */
int lw_alert_rule_parse(const char *text, size_t len, const lw_alert_metric_t *metrics,
                        size_t n_metrics, lw_alert_rule_t *out, lw_alert_error_t *err);

/* Parses a rules file: one rule per line, blank lines and '#' comments (also after a rule)
 * ignored. Unnamed rules get unique names (RssHigh, RssHigh2, ...); two rules with the same
 * given name are an error. Returns the number of rules, or -EINVAL (*err has the line and
 * column) or -E2BIG (more than max_rules). */
int lw_alert_rules_parse(const char *text, size_t len, const lw_alert_metric_t *metrics,
                         size_t n_metrics, lw_alert_rule_t *rules, size_t max_rules,
                         lw_alert_error_t *err);

/* Gives unnamed rules unique names (rules parsed one at a time, e.g. from --alert options).
 * Returns 0, or -EEXIST with *err naming the duplicate given name. */
int lw_alert_rules_name(lw_alert_rule_t *rules, size_t n_rules, const lw_alert_metric_t *metrics,
                        lw_alert_error_t *err);

/* ">" for LW_OP_GT ... */
const char *lw_alert_op_text(lw_alert_op_t op);
/* Is `value op threshold` true? */
bool lw_alert_compare(lw_alert_op_t op, double value, double threshold);

/* Prometheus duration text: 120000 -> "2m", 5400000 -> "1h30m", 1500 -> "1s500ms". */
size_t lw_alert_format_duration(uint64_t ms, char *out, size_t size);

/* Appends the PromQL expression of the rule ("process_resident_memory_bytes > 524288000",
 * "deriv(process_open_fds[1m]) > 0.16666666666666666"). */
void lw_alert_rule_promql(const lw_alert_rule_t *rule, const lw_alert_metric_t *metrics,
                          lw_buf_t *out);

/* Appends a Prometheus rule file (YAML) with one group holding every rule, ready for
 * `promtool check rules`. Labels: severity (given) and source="leakwatch"; annotations:
 * a summary naming the pid and comm, and the rule's text. */
void lw_alert_rules_prometheus(const lw_alert_rule_t *rules, size_t n_rules,
                               const lw_alert_metric_t *metrics, const char *group,
                               const char *severity, lw_buf_t *out);

/* ---- Evaluation --------------------------------------------------------------------- */

typedef enum lw_alert_state { LW_ALERT_INACTIVE, LW_ALERT_PENDING, LW_ALERT_FIRING } lw_alert_state_t;
typedef enum lw_alert_event {
  LW_ALERT_NO_CHANGE,
  LW_ALERT_BECAME_PENDING,
  LW_ALERT_BECAME_FIRING,
  LW_ALERT_RESOLVED,  /* was firing, condition no longer holds */
  LW_ALERT_CANCELLED, /* was pending, condition no longer holds */
} lw_alert_event_t;

#define LW_ALERT_RATE_POINTS 64

/* Per rule and per watched process. */
typedef struct lw_alert_eval {
  lw_alert_state_t state;
  double active_since; /* time the condition started holding (valid unless INACTIVE) */
  bool has_value;
  double value;        /* the expression's value at the last evaluation */
  lw_trend_t window;   /* rate(): samples over the rule's window */
  lw_trend_point_t points[LW_ALERT_RATE_POINTS];
} lw_alert_eval_t;

void lw_alert_eval_init(lw_alert_eval_t *eval, const lw_alert_rule_t *rule);

/* One evaluation at time now (seconds, monotonic) with the metric's current sample
 * (present = false when it could not be read: the process is gone, or access was denied).
 * For rate rules the sample is added to the window first; the rate exists once the window
 * holds two samples. Returns the state change, if any. */
lw_alert_event_t lw_alert_eval_step(lw_alert_eval_t *eval, const lw_alert_rule_t *rule,
                                    const lw_alert_metric_t *metrics, double now,
                                    double sample, bool present);

#endif
