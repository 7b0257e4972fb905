/*
 * alert_rule.c - alert rule parsing, evaluation and PromQL translation (see alert_rule.h).
 * No allocation and no stdio: messages are formatted with lw_fmt into the caller's error.
 */
#include "common/alert_rule.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "common/fmt.h"
#include "common/number_format.h"
#include "common/units.h"

/* ---- Scanner --------------------------------------------------------------------- */

typedef struct {
  const char *text; /* start of the line: columns count from here */
  const char *p, *end;
  lw_alert_error_t *err;
} scan_t;

static int fail(scan_t *s, const char *at, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(scan_t *s, const char *at, const char *format, ...) {
  if (s->err) {
    s->err->column = (int)(at - s->text) + 1;
    va_list args;
    va_start(args, format);
    lw_vfmt(s->err->message, sizeof s->err->message, format, args);
    va_end(args);
  }
  return -EINVAL;
}

static void skip_ws(scan_t *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
    s->p++;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* Identifier [A-Za-z_][A-Za-z0-9_]*; returns its length (0 if none). */
static size_t ident(const scan_t *s) {
  const char *q = s->p;
  if (q >= s->end || !is_alpha(*q))
    return 0;
  while (q < s->end && (is_alpha(*q) || is_digit(*q)))
    q++;
  return (size_t)(q - s->p);
}

static bool word_is(const char *p, size_t n, const char *word) {
  return strlen(word) == n && memcmp(p, word, n) == 0;
}

/* Shows a piece of input in a message: at most 24 characters of it. */
#define SHOW(p, n) (int)((n) > 24 ? 24 : (n)), (p)

/* ---- Metric lookup with a suggestion ----------------------------------------------- */

/* Levenshtein distance, capped: only small distances matter for "did you mean". */
static size_t distance(const char *a, size_t na, const char *b) {
  size_t nb = strlen(b);
  if (na > 40 || nb > 40)
    return 99;
  size_t row[41];
  for (size_t j = 0; j <= nb; j++)
    row[j] = j;
  for (size_t i = 1; i <= na; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= nb; j++) {
      size_t up = row[j];
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      size_t best = diag + cost;
      if (row[j] + 1 < best)
        best = row[j] + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[nb];
}

static int find_metric(scan_t *s, const char *name, size_t n, const lw_alert_metric_t *metrics,
                       size_t n_metrics, size_t *index) {
  for (size_t i = 0; i < n_metrics; i++)
    if (word_is(name, n, metrics[i].name)) {
      *index = i;
      return 0;
    }
  size_t best = 99, best_i = 0;
  for (size_t i = 0; i < n_metrics; i++) {
    size_t d = distance(name, n, metrics[i].name);
    if (d < best) {
      best = d;
      best_i = i;
    }
  }
  if (best <= 2)
    return fail(s, name, "unknown metric '%.*s' (did you mean '%s'?)", SHOW(name, n),
                metrics[best_i].name);
  return fail(s, name, "unknown metric '%.*s'", SHOW(name, n));
}

/* ---- Numbers and units ------------------------------------------------------------- */

/* [+-]digits[.digits][e[+-]digits], or .digits. Exact enough for thresholds. */
static bool scan_number(scan_t *s, double *out) {
  const char *q = s->p;
  double sign = 1;
  if (q < s->end && (*q == '+' || *q == '-')) {
    sign = *q == '-' ? -1 : 1;
    q++;
  }
  double v = 0;
  bool digits = false;
  while (q < s->end && is_digit(*q)) {
    v = v * 10 + (*q++ - '0');
    digits = true;
  }
  if (q < s->end && *q == '.') {
    q++;
    double scale = 0.1;
    while (q < s->end && is_digit(*q)) {
      v += (*q++ - '0') * scale;
      scale /= 10;
      digits = true;
    }
  }
  if (!digits)
    return false;
  /* An exponent only when digits follow "e": "5e" stays a 5 with a unit "e". */
  if (q + 1 < s->end && (*q == 'e' || *q == 'E') &&
      (is_digit(q[1]) || ((q[1] == '+' || q[1] == '-') && q + 2 < s->end && is_digit(q[2])))) {
    q++;
    int esign = 1;
    if (*q == '+' || *q == '-')
      esign = *q++ == '-' ? -1 : 1;
    int e = 0;
    while (q < s->end && is_digit(*q) && e < 1000)
      e = e * 10 + (*q++ - '0');
    v *= pow(10, esign * e);
  }
  s->p = q;
  *out = sign * v;
  return true;
}

static bool unit_char(char c) { return is_alpha(c) || c == '%'; }

/* Size suffix -> bytes multiplier (case-insensitive, powers of 1024 as in units.h). */
static double size_unit(const char *u, size_t n) {
  static const struct {
    const char *name;
    double factor;
  } units[] = {
      {"b", 1},          {"k", 1024.0},        {"kb", 1024.0},        {"kib", 1024.0},
      {"m", 1048576.0},  {"mb", 1048576.0},    {"mib", 1048576.0},    {"g", 1073741824.0},
      {"gb", 1073741824.0}, {"gib", 1073741824.0}, {"t", 1099511627776.0},
      {"tb", 1099511627776.0}, {"tib", 1099511627776.0},
  };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t m = strlen(units[i].name);
    if (m != n)
      continue;
    size_t j = 0;
    while (j < n && lower(u[j]) == units[i].name[j])
      j++;
    if (j == n)
      return units[i].factor;
  }
  return 0;
}

static double time_unit_seconds(const char *u, size_t n) {
  static const struct {
    const char *name;
    double seconds;
  } units[] = {{"s", 1},       {"sec", 1},        {"second", 1},  {"m", 60},
               {"min", 60},    {"minute", 60},    {"h", 3600},    {"hour", 3600},
               {"d", 86400},   {"day", 86400}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (word_is(u, n, units[i].name))
      return units[i].seconds;
  return 0;
}

/* A duration token: up to whitespace, ']' or the end; parsed by units.h. */
static int scan_duration(scan_t *s, const char *what, uint64_t *ms) {
  const char *start = s->p;
  while (s->p < s->end && *s->p != ' ' && *s->p != '\t' && *s->p != ']')
    s->p++;
  size_t n = (size_t)(s->p - start);
  char token[32];
  if (n == 0)
    return fail(s, start, "missing duration after %s (examples: 30s, 2m, 1h)", what);
  if (n >= sizeof token || (memcpy(token, start, n), token[n] = '\0',
                            lw_parse_duration_ms(token, ms) != 0))
    return fail(s, start, "invalid duration '%.*s' after %s (examples: 30s, 2m, 1h)",
                SHOW(start, n), what);
  return 0;
}

/* ---- Rules --------------------------------------------------------------------------- */

const char *lw_alert_op_text(lw_alert_op_t op) {
  static const char *ops[] = {">", ">=", "<", "<=", "==", "!="};
  return (unsigned)op <= LW_OP_NE ? ops[op] : "?";
}

bool lw_alert_compare(lw_alert_op_t op, double value, double threshold) {
  switch (op) {
  case LW_OP_GT: return value > threshold;
  case LW_OP_GE: return value >= threshold;
  case LW_OP_LT: return value < threshold;
  case LW_OP_LE: return value <= threshold;
  case LW_OP_EQ: return value == threshold;
  case LW_OP_NE: return value != threshold;
  }
  return false;
}

int lw_alert_rule_parse(const char *text, size_t len, const lw_alert_metric_t *metrics,
                        size_t n_metrics, lw_alert_rule_t *out, lw_alert_error_t *err) {
  memset(out, 0, sizeof *out);
  if (err) {
    err->line = 0;
    err->column = 0;
    err->message[0] = '\0';
  }
  scan_t s = {text, text, text + len, err};
  /* A '#' comment ends the rule. */
  const char *hash = memchr(text, '#', len);
  if (hash)
    s.end = hash;
  while (s.end > s.p && (s.end[-1] == ' ' || s.end[-1] == '\t' || s.end[-1] == '\r' ||
                         s.end[-1] == '\n'))
    s.end--;
  skip_ws(&s);
  if (s.p == s.end)
    return fail(&s, s.p, "empty rule (example: 'rss > 500MiB for 2m')");
  size_t text_len = (size_t)(s.end - s.p);
  if (text_len >= sizeof out->text)
    return fail(&s, s.p + sizeof out->text - 1, "rule longer than %zu characters",
                sizeof out->text - 1);
  memcpy(out->text, s.p, text_len);
  out->text[text_len] = '\0';

  /* NAME: */
  size_t n = ident(&s);
  if (n) {
    scan_t look = s;
    look.p += n;
    skip_ws(&look);
    if (look.p < look.end && *look.p == ':') {
      if (n >= sizeof out->name)
        return fail(&s, s.p, "alert name longer than %zu characters", sizeof out->name - 1);
      memcpy(out->name, s.p, n);
      out->name[n] = '\0';
      out->named = true;
      s.p = look.p + 1;
      skip_ws(&s);
    }
  }

  /* EXPR */
  const char *metric_at = s.p;
  n = ident(&s);
  if (n == 0)
    return fail(&s, s.p, "expected a metric name or rate(METRIC), got '%.*s'",
                SHOW(s.p, (size_t)(s.end - s.p)));
  scan_t after = s;
  after.p += n;
  skip_ws(&after);
  if (word_is(s.p, n, "rate") && after.p < after.end && *after.p == '(') {
    out->rate = true;
    out->rate_window_ms = 60000;
    s.p = after.p + 1;
    skip_ws(&s);
    metric_at = s.p;
    n = ident(&s);
    if (n == 0)
      return fail(&s, s.p, "expected a metric name inside rate(...)");
    if (find_metric(&s, s.p, n, metrics, n_metrics, &out->metric) != 0)
      return -EINVAL;
    s.p += n;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '[') {
      s.p++;
      skip_ws(&s);
      const char *window_at = s.p;
      if (scan_duration(&s, "rate(METRIC[", &out->rate_window_ms) != 0)
        return -EINVAL;
      if (out->rate_window_ms < 1000)
        return fail(&s, window_at, "rate window must be at least 1s");
      skip_ws(&s);
      if (s.p >= s.end || *s.p != ']')
        return fail(&s, s.p, "expected ']' after the rate window");
      s.p++;
      skip_ws(&s);
    }
    if (s.p >= s.end || *s.p != ')')
      return fail(&s, s.p, "expected ')' to close rate(");
    s.p++;
    if (!metrics[out->metric].rate_allowed)
      return fail(&s, metric_at, "rate() is not defined for %s (it is already a rate)",
                  metrics[out->metric].name);
  } else {
    if (find_metric(&s, s.p, n, metrics, n_metrics, &out->metric) != 0)
      return -EINVAL;
    s.p += n;
  }
  const lw_alert_metric_t *metric = &metrics[out->metric];
  skip_ws(&s);

  /* OP */
  static const struct {
    const char *text;
    lw_alert_op_t op;
  } ops[] = {{">=", LW_OP_GE}, {"<=", LW_OP_LE}, {"==", LW_OP_EQ}, {"!=", LW_OP_NE},
             {">", LW_OP_GT},  {"<", LW_OP_LT}};
  bool have_op = false;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0] && !have_op; i++) {
    size_t m = strlen(ops[i].text);
    if ((size_t)(s.end - s.p) >= m && memcmp(s.p, ops[i].text, m) == 0) {
      out->op = ops[i].op;
      s.p += m;
      have_op = true;
    }
  }
  if (!have_op)
    return fail(&s, s.p, "expected a comparison (>, >=, <, <=, ==, !=) after %s%s, got '%.*s'",
                out->rate ? "rate of " : "", metric->name, SHOW(s.p, (size_t)(s.end - s.p)));
  skip_ws(&s);

  /* THRESHOLD */
  const char *number_at = s.p;
  double value;
  if (!scan_number(&s, &value))
    return fail(&s, s.p, "expected a number after '%s', got '%.*s'", lw_alert_op_text(out->op),
                SHOW(s.p, (size_t)(s.end - s.p)));
  const char *unit_at = s.p;
  skip_ws(&s);
  const char *u = s.p;
  while (s.p < s.end && unit_char(*s.p))
    s.p++;
  size_t un = (size_t)(s.p - u);
  /* A word after a space is a unit only if it is a valid one for this metric ("500 MiB");
   * otherwise it is the next part of the rule ("for 2m", or a mistake reported there). */
  if (un && u > unit_at) {
    bool valid = metric->unit == LW_UNIT_BYTES ? size_unit(u, un) != 0
                 : metric->unit == LW_UNIT_PERCENT ? (un == 1 && *u == '%')
                                                    : false;
    if (!valid)
      un = 0;
  }
  if (un == 0)
    s.p = u;
  if (un) {
    if (metric->unit == LW_UNIT_BYTES) {
      double factor = size_unit(u, un);
      if (factor == 0)
        return fail(&s, u, "unknown size unit '%.*s' (use B, KiB, MiB, GiB, TiB)", SHOW(u, un));
      value *= factor;
    } else if (metric->unit == LW_UNIT_PERCENT) {
      if (!(un == 1 && *u == '%'))
        return fail(&s, u, "%s is a percentage; use a plain number or '%%', not '%.*s'",
                    metric->name, SHOW(u, un));
    } else {
      return fail(&s, u, "%s is a count and takes no unit, got '%.*s'", metric->name,
                  SHOW(u, un));
    }
  }
  skip_ws(&s);
  if (s.p < s.end && *s.p == '/') {
    const char *slash = s.p;
    if (!out->rate)
      return fail(&s, slash, "a per-time threshold ('/...') needs rate(%s)", metric->name);
    s.p++;
    skip_ws(&s);
    const char *t = s.p;
    while (s.p < s.end && is_alpha(*s.p))
      s.p++;
    double seconds = time_unit_seconds(t, (size_t)(s.p - t));
    if (seconds == 0)
      return fail(&s, t, "unknown time unit '%.*s' after '/' (use s, min, h, d)",
                  SHOW(t, (size_t)(s.p - t)));
    value /= seconds;
    skip_ws(&s);
  }
  if (!isfinite(value))
    return fail(&s, number_at, "threshold out of range");
  out->threshold = value;

  /* for DURATION */
  n = ident(&s);
  if (n) {
    if (!word_is(s.p, n, "for"))
      return fail(&s, s.p, "expected 'for DURATION' or the end of the rule, got '%.*s'",
                  SHOW(s.p, (size_t)(s.end - s.p)));
    s.p += n;
    skip_ws(&s);
    if (scan_duration(&s, "for", &out->for_ms) != 0)
      return -EINVAL;
    skip_ws(&s);
  }
  if (s.p < s.end)
    return fail(&s, s.p, "unexpected '%.*s' at the end of the rule",
                SHOW(s.p, (size_t)(s.end - s.p)));
  return 0;
}

/* "fds_socket" -> "FdsSocket"; then Rate, then High/Low/Equal/NotEqual. */
static void default_name(const lw_alert_rule_t *rule, const lw_alert_metric_t *metrics,
                         char *out, size_t size) {
  size_t n = 0;
  bool upper = true;
  for (const char *p = metrics[rule->metric].name; *p && n + 1 < size; p++) {
    if (*p == '_') {
      upper = true;
      continue;
    }
    char c = *p;
    if (upper && c >= 'a' && c <= 'z')
      c = (char)(c - 'a' + 'A');
    out[n++] = c;
    upper = false;
  }
  out[n] = '\0';
  static const char *words[] = {"High", "High", "Low", "Low", "Equal", "NotEqual"};
  lw_fmt(out + n, size - n, "%s%s", rule->rate ? "Rate" : "", words[rule->op]);
}

int lw_alert_rules_name(lw_alert_rule_t *rules, size_t n_rules, const lw_alert_metric_t *metrics,
                        lw_alert_error_t *err) {
  for (size_t i = 0; i < n_rules; i++)
    for (size_t j = 0; j < i; j++)
      if (rules[i].named && rules[j].named && strcmp(rules[i].name, rules[j].name) == 0) {
        if (err) {
          err->line = rules[i].line;
          err->column = 1;
          lw_fmt(err->message, sizeof err->message, "alert name '%s' is used twice",
                 rules[i].name);
        }
        return -EEXIST;
      }
  for (size_t i = 0; i < n_rules; i++) {
    if (rules[i].named)
      continue;
    char base[LW_ALERT_NAME_MAX - 8];
    default_name(&rules[i], metrics, base, sizeof base);
    for (unsigned k = 1;; k++) {
      if (k == 1)
        lw_fmt(rules[i].name, sizeof rules[i].name, "%s", base);
      else
        lw_fmt(rules[i].name, sizeof rules[i].name, "%s%u", base, k);
      bool taken = false;
      for (size_t j = 0; j < n_rules && !taken; j++)
        taken = j != i && (rules[j].named || j < i) && strcmp(rules[j].name, rules[i].name) == 0;
      if (!taken)
        break;
    }
  }
  return 0;
}

int lw_alert_rules_parse(const char *text, size_t len, const lw_alert_metric_t *metrics,
                         size_t n_metrics, lw_alert_rule_t *rules, size_t max_rules,
                         lw_alert_error_t *err) {
  size_t count = 0;
  int line = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    line++;
    const char *q = p;
    while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
      q++;
    if (q < eol && *q != '#') {
      if (count >= max_rules) {
        if (err) {
          err->line = line;
          err->column = 1;
          lw_fmt(err->message, sizeof err->message, "more than %zu rules", max_rules);
        }
        return -E2BIG;
      }
      if (lw_alert_rule_parse(p, (size_t)(eol - p), metrics, n_metrics, &rules[count], err) !=
          0) {
        if (err)
          err->line = line;
        return -EINVAL;
      }
      rules[count].line = line;
      count++;
    }
    p = nl ? nl + 1 : end;
  }
  if (lw_alert_rules_name(rules, count, metrics, err) != 0)
    return -EINVAL;
  return (int)count;
}

size_t lw_alert_format_duration(uint64_t ms, char *out, size_t size) {
  if (ms == 0)
    return lw_fmt(out, size, "0s");
  static const struct {
    const char *unit;
    uint64_t ms;
  } parts[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  size_t n = 0;
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    uint64_t k = ms / parts[i].ms;
    if (k == 0)
      continue;
    ms -= k * parts[i].ms;
    n += lw_fmt(n < size ? out + n : NULL, n < size ? size - n : 0, "%llu%s",
                (unsigned long long)k, parts[i].unit);
  }
  return n;
}

void lw_alert_rule_promql(const lw_alert_rule_t *rule, const lw_alert_metric_t *metrics,
                          lw_buf_t *out) {
  const lw_alert_metric_t *m = &metrics[rule->metric];
  if (rule->rate) {
    char window[32];
    lw_alert_format_duration(rule->rate_window_ms, window, sizeof window);
    lw_buf_printf(out, "%s(%s[%s])", m->counter ? "rate" : "deriv", m->promql, window);
  } else {
    lw_buf_append_str(out, m->promql);
  }
  char number[LW_NUMBER_MAX];
  lw_format_double(number, sizeof number, rule->threshold);
  lw_buf_printf(out, " %s %s", lw_alert_op_text(rule->op), number);
}

/* A YAML double-quoted scalar: backslash and quote escaped, control bytes as \xNN. */
static void yaml_quoted(lw_buf_t *out, const char *text) {
  lw_buf_append_byte(out, '"');
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '"' || *p == '\\') {
      lw_buf_append_byte(out, '\\');
      lw_buf_append_byte(out, *p);
    } else if (*p < 0x20) {
      lw_buf_printf(out, "\\x%02x", *p);
    } else {
      lw_buf_append_byte(out, *p);
    }
  }
  lw_buf_append_byte(out, '"');
}

void lw_alert_rules_prometheus(const lw_alert_rule_t *rules, size_t n_rules,
                               const lw_alert_metric_t *metrics, const char *group,
                               const char *severity, lw_buf_t *out) {
  lw_buf_append_str(out, "# Generated by leakwatch rules --prometheus from leakwatch alert rules.\n"
                         "# Metric names are those of `leakwatch exporter`.\n");
  lw_buf_append_str(out, "groups:\n  - name: ");
  yaml_quoted(out, group);
  lw_buf_append_str(out, "\n    rules:\n");
  for (size_t i = 0; i < n_rules; i++) {
    const lw_alert_rule_t *r = &rules[i];
    lw_buf_printf(out, "      - alert: %s\n        expr: ", r->name);
    lw_buf_t expr;
    lw_buf_init(&expr, out->allocator);
    lw_alert_rule_promql(r, metrics, &expr);
    lw_buf_append_byte(&expr, 0);
    if (lw_buf_failed(&expr))
      out->failed = true;
    else
      yaml_quoted(out, (const char *)expr.data);
    lw_buf_free(&expr);
    lw_buf_append_byte(out, '\n');
    if (r->for_ms) {
      char d[32];
      lw_alert_format_duration(r->for_ms, d, sizeof d);
      lw_buf_printf(out, "        for: %s\n", d);
    }
    lw_buf_append_str(out, "        labels:\n          severity: ");
    yaml_quoted(out, severity);
    lw_buf_append_str(out, "\n          source: leakwatch\n        annotations:\n          summary: ");
    char summary[LW_ALERT_TEXT_MAX + 96];
    lw_fmt(summary, sizeof summary, "%s on pid {{ $labels.pid }} ({{ $labels.comm }})", r->text);
    yaml_quoted(out, summary);
    lw_buf_append_str(out, "\n          description: ");
    yaml_quoted(out, "value {{ $value }}");
    lw_buf_append_str(out, "\n          leakwatch_rule: ");
    yaml_quoted(out, r->text);
    lw_buf_append_byte(out, '\n');
  }
}

/* ---- Evaluation ------------------------------------------------------------------- */

void lw_alert_eval_init(lw_alert_eval_t *eval, const lw_alert_rule_t *rule) {
  memset(eval, 0, sizeof *eval);
  double window = rule->rate ? (double)rule->rate_window_ms / 1000.0 : 60.0;
  lw_trend_init(&eval->window, eval->points, LW_ALERT_RATE_POINTS, window);
}

lw_alert_event_t lw_alert_eval_step(lw_alert_eval_t *eval, const lw_alert_rule_t *rule,
                                    const lw_alert_metric_t *metrics, double now,
                                    double sample, bool present) {
  /* The trend keeps a pointer to our own points: re-aim it in case the struct moved. */
  eval->window.points = eval->points;
  eval->has_value = false;
  if (present && isfinite(sample)) {
    if (!rule->rate) {
      eval->value = sample;
      eval->has_value = true;
    } else {
      const lw_alert_metric_t *m = &metrics[rule->metric];
      lw_trend_t *w = &eval->window;
      if (m->counter && w->count > 0 && sample < w->points[(w->head + w->count - 1) % w->capacity].v)
        lw_trend_reset(w); /* a counter went down: a reset (PID reused), start over */
      lw_trend_add(w, now, sample);
      if (m->counter) {
        /* Increase per second from the oldest sample in the window to this one. */
        if (w->count > 0) {
          const lw_trend_point_t *oldest = &w->points[w->head];
          if (now > oldest->t) {
            eval->value = (sample - oldest->v) / (now - oldest->t);
            eval->has_value = true;
          }
        }
      } else {
        lw_trend_fit_t fit;
        if (lw_trend_fit(w, &fit) == 0) {
          eval->value = fit.slope_per_second;
          eval->has_value = true;
        }
      }
    }
  }
  bool holds = eval->has_value && lw_alert_compare(rule->op, eval->value, rule->threshold);
  lw_alert_state_t before = eval->state;
  if (!holds) {
    eval->state = LW_ALERT_INACTIVE;
    if (before == LW_ALERT_FIRING)
      return LW_ALERT_RESOLVED;
    if (before == LW_ALERT_PENDING)
      return LW_ALERT_CANCELLED;
    return LW_ALERT_NO_CHANGE;
  }
  if (before == LW_ALERT_INACTIVE)
    eval->active_since = now;
  /* As Prometheus: firing once it has held for at least `for` (a zero `for` fires at the
   * first evaluation that holds). */
  if (before != LW_ALERT_FIRING && (now - eval->active_since) * 1000.0 >= (double)rule->for_ms) {
    eval->state = LW_ALERT_FIRING;
    return LW_ALERT_BECAME_FIRING;
  }
  if (before == LW_ALERT_INACTIVE) {
    eval->state = LW_ALERT_PENDING;
    return LW_ALERT_BECAME_PENDING;
  }
  return LW_ALERT_NO_CHANGE;
}
