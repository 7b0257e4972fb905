/*
 * cmd_watch.c - `leakwatch watch`: samples any processes from outside (/proc and the
 * memory cgroup) every interval, shows a live table (or plain lines), writes CSV/JSONL,
 * fits trends and says which counters keep growing, and evaluates alert rules with
 * Prometheus's pending/firing semantics.
 *
 * Exit status: 0 done, 1 nothing could be watched or an output failed, 2 usage error,
 * 3 an alert fired during the watch (docs/WATCH.md).
 *
 * The pieces: watch_sample.c reads a sample (watch_sample_windows.c on Windows),
 * watch_output.c renders it, trend.h and alert_rule.h (src/common) do the maths,
 * os_process.h starts and stops processes; this file is the loop and the glue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/os_process.h"
#include "cli/output.h"
#include "cli/proc_discovery.h"
#include "cli/symbolize.h"
#include "cli/watch_metrics.h"
#include "cli/watch_output.h"
#include "cli/watch_sample.h"
#include "common/alert_rule.h"
#include "common/file.h"
#include "common/number_format.h"
#include "common/trend.h"
#include "common/units.h"

enum { EXIT_ALERT = 3 };
/* stop_signal when stdout was closed (a pager quit): not a signal to pass on. */
enum { STOP_OUTPUT_CLOSED = -1 };
#define MAX_RULES 64
/* Points per trended counter: 120 x 16 bytes x 9 counters, about 17 KiB per process; over
 * the default 30 min window a point every 15 s at most, 40 points in 10 min. */
#define TREND_POINTS 120
#define MAX_HOOKS 8
#define EVENT_LINES 8

static const lw_cli_option_t options[] = {
    {"interval", 'i', "DURATION", "time between samples (default 5s; e.g. 500ms, 1s, 1m)"},
    {"duration", 'd', "DURATION", "stop after this long (default: until stopped or all exit)"},
    {"count", 'n', "N", "stop after N samples"},
    {"name", 0, "REGEX", "watch processes whose name matches (POSIX extended regex; new ones "
                         "are picked up as they appear)"},
    {"full", 0, NULL, "with --name, match the whole command line instead of the name"},
    {"csv", 0, "FILE", "write every sample to FILE as CSV (header documents units)"},
    {"jsonl", 0, "FILE", "write every sample to FILE as JSON lines (same keys as the CSV)"},
    {"json", 0, NULL, "print samples and events as JSON lines on stdout"},
    {"plain", 0, NULL, "plain lines even on a terminal (no live table)"},
    {"alert", 'a', "RULE", "alert rule, e.g. 'rss > 500MiB for 2m' (repeatable)"},
    {"rules", 0, "FILE", "alert rules, one per line ('#' comments)"},
    {"on-alert", 0, "CMD", "run CMD (via /bin/sh) when an alert fires or resolves; details in "
                           "LEAKWATCH_* environment variables"},
    {"exit-on-alert", 0, NULL, "stop at the first firing alert (exit status 3)"},
    {"trend-window", 0, "DURATION", "fit trends over this much history (default 30m)"},
    {"trend-min-span", 0, "DURATION", "evidence needed before saying 'growing' (default 10m)"},
    {"trend-min-r2", 0, "R", "fit quality needed, 0..1 (default 0.9)"},
    {"trend-min-bytes", 0, "SIZE", "growth per hour that counts for memory (default 1MiB)"},
    {"trend-min-count", 0, "N", "growth per hour that counts for fds and threads (default 10)"},
    {"no-fd-types", 0, NULL, "count descriptors without telling their types (cheaper)"},
    {"no-smaps", 0, NULL, "skip smaps_rollup (no PSS/USS; cheaper for huge processes)"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "watch",
    "leakwatch watch [OPTIONS] PID... | --name REGEX | -- COMMAND [ARGS...]",
    "Watch processes from outside, like a task manager that keeps records: memory (RSS, PSS,\n"
    "USS, swap, virtual, data, peak), descriptors by type, threads, page faults, CPU and I/O\n"
    "rates, and the memory cgroup's usage, limit and OOM kills. Trends say which counters keep\n"
    "growing; alert rules fire like Prometheus alerts. Exit status: 0, 1 error, 2 usage,\n"
    "3 an alert fired.",
    options,
    "Examples:\n"
    "  leakwatch watch 1234\n"
    "  leakwatch watch --interval 1s --csv svc.csv --name '^my-service$'\n"
    "  leakwatch watch --alert 'rss > 500MiB for 2m' --alert 'rate(fds) > 10/min for 5m' 1234\n"
    "  leakwatch watch --rules alerts.rules --on-alert 'logger \"$LEAKWATCH_ALERT\"' -- ./server\n"
    "Metric names for rules: leakwatch rules --metrics. Guide: docs/WATCH.md.",
};

typedef struct watched {
  lw_watch_target_t target;
  lw_watch_sample_t prev, cur;
  bool have_prev, have_cur;
  bool alive;
  bool spawned;
  bool denial_reported;
  double first_mono;
  lw_trend_t trends[LW_WATCH_N_TRENDED];
  lw_trend_point_t points[LW_WATCH_N_TRENDED][TREND_POINTS];
  bool growing[LW_WATCH_N_TRENDED];
  lw_alert_eval_t evals[]; /* one per rule */
} watched_t;

static struct {
  uint64_t interval_ms, duration_ms, count;
  bool have_duration, have_count;
  const char *name_regex;
  bool full;
  regex_t regex;
  const char *csv_path, *jsonl_path;
  int csv_fd, jsonl_fd;
  bool json, plain, table;
  lw_alert_rule_t rules[MAX_RULES];
  size_t n_rules;
  const char *on_alert;
  bool exit_on_alert;
  bool alert_fired;
  double trend_window_s, trend_min_span_s, trend_min_r2, trend_min_bytes, trend_min_count;
  bool fd_types, smaps;

  lw_watch_sampler_t sampler;
  watched_t **procs;
  size_t n_procs;
  size_t n_alive;

  int child;
  int hooks[MAX_HOOKS];
  char events[EVENT_LINES][512];
  size_t n_events;
  uint64_t samples;
} g;

static volatile sig_atomic_t stop_signal;

static double mono_now(void) { return lw_os_mono_now(); }

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Writes a buffer to stdout; a closed stdout (a pager quit) ends the watch quietly. */
static void out_buf(lw_buf_t *buf) {
  if (buf->len && write_all(STDOUT_FILENO, buf->data, buf->len) != 0)
    stop_signal = STOP_OUTPUT_CLOSED;
  lw_buf_reset(buf);
}

/* A human-readable event ("pid 12 (x) exited", trend and alert lines): printed at once in
 * plain mode, kept under the table in table mode, not printed in --json mode (where the
 * JSON event carries it). */
static void event_text(const char *raw) {
  if (g.json)
    return;
  /* The process's name and the rule's text are in it: escaped for the terminal. */
  if (g.table) {
    if (g.n_events == EVENT_LINES) {
      memmove(g.events[0], g.events[1], sizeof g.events[0] * (EVENT_LINES - 1));
      g.n_events--;
    }
    lw_escape_text(g.events[g.n_events++], sizeof g.events[0], raw);
    return;
  }
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  char text[1024];
  lw_escape_text(text, sizeof text, raw);
  lw_buf_printf(&buf, "%s\n", text);
  out_buf(&buf);
  lw_buf_free(&buf);
}

/* {"event":kind,"pid":..,"comm":..,"time_unix":..,<extra>} on stdout in --json mode. */
static void event_json(const char *kind, const watched_t *w, const char *extra) {
  if (!g.json)
    return;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_buf_printf(&buf, "{\"event\":\"%s\",\"time_unix\":%.3f", kind, lw_os_wall_now());
  if (w) {
    lw_buf_printf(&buf, ",\"pid\":%d,\"comm\":", w->target.pid);
    lw_watch_json_string(&buf, w->cur.comm);
  }
  if (extra && *extra)
    lw_buf_printf(&buf, ",%s", extra);
  lw_buf_append_str(&buf, "}\n");
  out_buf(&buf);
  lw_buf_free(&buf);
}

static void format_span(double seconds, char *out, size_t size) {
  if (seconds < 120)
    snprintf(out, size, "%.0f s", seconds);
  else if (seconds < 7200)
    snprintf(out, size, "%.0f min", seconds / 60);
  else
    snprintf(out, size, "%.1f h", seconds / 3600);
}

/* ---- Targets -------------------------------------------------------------------------- */

static watched_t *add_process(int pid, bool spawned, int *error) {
  size_t size = sizeof(watched_t) + g.n_rules * sizeof(lw_alert_eval_t);
  watched_t *w = calloc(1, size);
  watched_t **grown = realloc(g.procs, (g.n_procs + 1) * sizeof *g.procs);
  if (!w || !grown) {
    free(w);
    *error = -ENOMEM;
    return NULL;
  }
  g.procs = grown;
  int rc = lw_watch_target_open(&g.sampler, &w->target, pid);
  if (rc != 0) {
    free(w);
    *error = rc;
    return NULL;
  }
  w->alive = true;
  w->spawned = spawned;
  w->first_mono = mono_now();
  /* Trends and alert windows point into this allocation, which never moves. */
  for (size_t i = 0; i < lw_watch_n_trended; i++)
    lw_trend_init(&w->trends[i], w->points[i], TREND_POINTS, g.trend_window_s);
  for (size_t i = 0; i < g.n_rules; i++)
    lw_alert_eval_init(&w->evals[i], &g.rules[i]);
  g.procs[g.n_procs++] = w;
  g.n_alive++;
  return w;
}

static bool watching(int pid) {
  for (size_t i = 0; i < g.n_procs; i++)
    if (g.procs[i]->alive && g.procs[i]->target.pid == pid)
      return true;
  return false;
}

/* Adds processes matching --name that are not watched yet. */
static void scan_by_name(void) {
  static int found[4096];
  int n = lw_proc_find(&g.regex, g.full, found, sizeof found / sizeof found[0]);
  for (int i = 0; i < n; i++) {
    int pid = found[i];
    bool skip = watching(pid);
    for (int h = 0; h < MAX_HOOKS; h++)
      skip |= g.hooks[h] == pid; /* our own --on-alert commands */
    if (skip)
      continue;
    int error;
    watched_t *w = add_process(pid, false, &error);
    if (w) {
      char text[256] = "?", line[320];
      lw_proc_match_text(pid, false, text, sizeof text);
      snprintf(w->cur.comm, sizeof w->cur.comm, "%s", text);
      snprintf(line, sizeof line, "watching pid %d (%s)", pid, text);
      event_text(line);
      event_json("start", w, NULL);
    }
  }
}

/* ---- Alerts --------------------------------------------------------------------------- */

static void reap_hooks(bool wait_all) {
  for (int i = 0; i < MAX_HOOKS; i++) {
    if (g.hooks[i] <= 0)
      continue;
    lw_os_exit_t ended;
    if (lw_os_wait(g.hooks[i], wait_all, &ended) != 0)
      g.hooks[i] = 0;
  }
}

static void run_hook(const lw_alert_rule_t *rule, const watched_t *w, const char *state,
                     double value, double since_unix) {
  int slot = -1;
  for (int i = 0; i < MAX_HOOKS && slot < 0; i++)
    if (g.hooks[i] <= 0)
      slot = i;
  if (slot < 0) {
    lw_cli_warn("--on-alert: %d commands still running; not starting another for %s",
                MAX_HOOKS, rule->name);
    return;
  }
  /* Details go to the command in LEAKWATCH_* variables (docs/WATCH.md). */
  char vars[10][600];
  snprintf(vars[0], sizeof vars[0], "LEAKWATCH_ALERT=%s", rule->name);
  snprintf(vars[1], sizeof vars[1], "LEAKWATCH_ALERT_STATE=%s", state);
  snprintf(vars[2], sizeof vars[2], "LEAKWATCH_ALERT_RULE=%s", rule->text);
  snprintf(vars[3], sizeof vars[3], "LEAKWATCH_ALERT_METRIC=%s",
           lw_watch_rule_metrics[rule->metric].name);
  snprintf(vars[4], sizeof vars[4], "LEAKWATCH_ALERT_VALUE=%.17g", value);
  snprintf(vars[5], sizeof vars[5], "LEAKWATCH_ALERT_THRESHOLD=%.17g", rule->threshold);
  snprintf(vars[6], sizeof vars[6], "LEAKWATCH_ALERT_SINCE=%.3f", since_unix);
  snprintf(vars[7], sizeof vars[7], "LEAKWATCH_PID=%d", w->target.pid);
  snprintf(vars[8], sizeof vars[8], "LEAKWATCH_COMM=%s", w->cur.comm);
  const char *env[10];
  for (int i = 0; i < 9; i++)
    env[i] = vars[i];
  env[9] = NULL;
  int pid = lw_os_spawn_shell(g.on_alert, env);
  if (pid < 0) {
    lw_cli_warn("--on-alert: cannot start '%s': %s", g.on_alert, strerror(-pid));
    return;
  }
  g.hooks[slot] = pid;
}

static void evaluate_alerts(watched_t *w, bool present) {
  for (size_t i = 0; i < g.n_rules; i++) {
    const lw_alert_rule_t *rule = &g.rules[i];
    lw_alert_eval_t *e = &w->evals[i];
    lw_watch_field_t field = lw_watch_rule_fields[rule->metric];
    bool has = present && w->cur.has[field];
    double now = present ? w->cur.time_mono : mono_now();
    double previous_value = e->value;
    lw_alert_event_t ev =
        lw_alert_eval_step(e, rule, lw_watch_rule_metrics, now, has ? w->cur.v[field] : 0, has);
    if (ev != LW_ALERT_BECAME_FIRING && ev != LW_ALERT_RESOLVED)
      continue;
    bool firing = ev == LW_ALERT_BECAME_FIRING;
    double value = e->has_value ? e->value : previous_value;
    const lw_alert_metric_t *m = &lw_watch_rule_metrics[rule->metric];
    char shown[64];
    lw_watch_describe_value(shown, sizeof shown, value, m->unit, rule->rate);
    double since = lw_os_wall_now() - (now - e->active_since);
    char line[512];
    snprintf(line, sizeof line, "ALERT %s %s: pid %d (%s): %s (%s%s%s = %s)", rule->name,
             firing ? "firing" : "resolved", w->target.pid, w->cur.comm, rule->text,
             rule->rate ? "rate(" : "", m->name, rule->rate ? ")" : "", e->has_value ? shown : "gone");
    event_text(line);
    char extra[768];
    lw_buf_t rule_json;
    lw_buf_init(&rule_json, &lw_libc_allocator);
    lw_watch_json_string(&rule_json, rule->text);
    lw_buf_append_byte(&rule_json, 0);
    snprintf(extra, sizeof extra,
             "\"alert\":\"%s\",\"state\":\"%s\",\"rule\":%s,\"metric\":\"%s\",\"value\":%.17g,"
             "\"threshold\":%.17g",
             rule->name, firing ? "firing" : "resolved",
             lw_buf_failed(&rule_json) ? "null" : (char *)rule_json.data, m->name,
             isfinite(value) ? value : 0, rule->threshold);
    lw_buf_free(&rule_json);
    event_json("alert", w, extra);
    if (g.on_alert)
      run_hook(rule, w, firing ? "firing" : "resolved", value, since);
    if (firing)
      g.alert_fired = true;
  }
}

/* ---- Trends --------------------------------------------------------------------------- */

static void update_trends(watched_t *w) {
  lw_trend_rule_t bytes_rule = {g.trend_min_bytes, g.trend_min_r2, g.trend_min_span_s, 10};
  lw_trend_rule_t count_rule = {g.trend_min_count, g.trend_min_r2, g.trend_min_span_s, 10};
  for (size_t i = 0; i < lw_watch_n_trended; i++) {
    const lw_watch_trended_t *t = &lw_watch_trended[i];
    if (!w->cur.has[t->field])
      continue;
    lw_trend_add(&w->trends[i], w->cur.time_mono, w->cur.v[t->field]);
    lw_trend_fit_t fit;
    bool growing = lw_trend_fit(&w->trends[i], &fit) == 0 &&
                   lw_trend_is_growing(&fit, t->bytes ? &bytes_rule : &count_rule);
    if (growing == w->growing[i])
      continue;
    w->growing[i] = growing;
    char rate_text[64], span[32], line[512], extra[256];
    if (t->bytes) {
      lw_format_bytes(rate_text, sizeof rate_text, fit.slope_per_hour);
    } else {
      snprintf(rate_text, sizeof rate_text, "%.1f", fit.slope_per_hour);
    }
    format_span(fit.span_seconds, span, sizeof span);
    if (growing)
      snprintf(line, sizeof line, "pid %d (%s): %s growing %s/h (R\xC2\xB2=%.2f) over %s",
               w->target.pid, w->cur.comm, t->name, rate_text, fit.r2, span);
    else
      snprintf(line, sizeof line, "pid %d (%s): %s no longer growing", w->target.pid, w->cur.comm,
               t->name);
    event_text(line);
    snprintf(extra, sizeof extra,
             "\"counter\":\"%s\",\"growing\":%s,\"slope_per_hour\":%.17g,\"r2\":%.6f,"
             "\"span_seconds\":%.3f",
             t->name, growing ? "true" : "false", fit.slope_per_hour, fit.r2, fit.span_seconds);
    event_json("trend", w, extra);
  }
}

/* ---- One round ------------------------------------------------------------------------ */

static void report_denied(watched_t *w, unsigned denied) {
  if (!denied || w->denial_reported)
    return;
  w->denial_reported = true;
  char what[256], where[128];
  lw_watch_denied_text(denied, what, sizeof what);
  lw_watch_denied_where(&w->target, where, sizeof where);
  char comm[256];
  lw_escape_text(comm, sizeof comm, w->cur.comm);
  lw_cli_warn("pid %d (%s): permission denied reading %s of %s; %s to see them; watching the "
              "rest",
              w->target.pid, comm, what, where, lw_watch_denied_fix);
}

static void process_gone(watched_t *w) {
  w->alive = false;
  g.n_alive--;
  char line[320], span[32], extra[128] = "";
  format_span(mono_now() - w->first_mono, span, sizeof span);
  if (w->spawned) {
    lw_os_exit_t ended;
    int r = lw_os_wait(w->target.pid, true, &ended);
    if (r == 1 && !ended.signaled) {
      snprintf(line, sizeof line, "pid %d (%s) exited with status %d after %s", w->target.pid,
               w->cur.comm, ended.exit_status, span);
      snprintf(extra, sizeof extra, "\"exit_status\":%d", ended.exit_status);
    } else if (r == 1) {
      snprintf(line, sizeof line, "pid %d (%s) was killed by signal %d (%s) after %s",
               w->target.pid, w->cur.comm, ended.signal, lw_os_signal_text(ended.signal), span);
      snprintf(extra, sizeof extra, "\"signal\":%d", ended.signal);
    } else {
      snprintf(line, sizeof line, "pid %d (%s) exited after %s", w->target.pid, w->cur.comm, span);
    }
    g.child = 0;
  } else {
    snprintf(line, sizeof line, "pid %d (%s) exited after %s", w->target.pid,
             w->cur.comm[0] ? w->cur.comm : "?", span);
  }
  event_text(line);
  event_json("exit", w, extra);
  evaluate_alerts(w, false); /* firing alerts of a gone process resolve */
  lw_watch_target_close(&w->target);
}

static int write_rows(void) {
  lw_buf_t csv, jsonl, out;
  lw_buf_init(&csv, &lw_libc_allocator);
  lw_buf_init(&jsonl, &lw_libc_allocator);
  lw_buf_init(&out, &lw_libc_allocator);
  if (g.table) {
    lw_buf_append_str(&out, "\033[H\033[2J"); /* home, clear: redraw in place */
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    char every[LW_NUMBER_MAX];
    lw_format_double(every, sizeof every, (double)g.interval_ms / 1000);
    lw_buf_printf(&out, "leakwatch watch  %s  %zu process%s  every %ss  (Ctrl-C to stop)\n\n",
                  when, g.n_alive, g.n_alive == 1 ? "" : "es", every);
    lw_watch_table_header(&out);
  }
  for (size_t i = 0; i < g.n_procs; i++) {
    watched_t *w = g.procs[i];
    if (!w->have_cur)
      continue;
    if (g.csv_fd >= 0)
      lw_watch_csv_row(&csv, &w->cur);
    if (g.jsonl_fd >= 0 || g.json)
      lw_watch_json_row(&jsonl, &w->cur);
    if (g.table && w->alive)
      lw_watch_table_row(&out, &w->cur, w->growing);
    else if (!g.table && !g.json)
      lw_watch_plain_line(&out, &w->cur, w->growing);
    w->have_cur = false;
  }
  if (g.table) {
    if (g.n_events)
      lw_buf_append_byte(&out, '\n');
    for (size_t i = 0; i < g.n_events; i++)
      lw_buf_printf(&out, "%s\n", g.events[i]);
  }
  int rc = 0;
  if (lw_buf_failed(&csv) || lw_buf_failed(&jsonl) || lw_buf_failed(&out)) {
    lw_cli_error("out of memory");
    rc = -ENOMEM;
  }
  if (rc == 0 && g.csv_fd >= 0 && (rc = write_all(g.csv_fd, csv.data, csv.len)) != 0)
    lw_cli_error("%s: %s", g.csv_path, strerror(-rc));
  if (rc == 0 && g.jsonl_fd >= 0 && (rc = write_all(g.jsonl_fd, jsonl.data, jsonl.len)) != 0)
    lw_cli_error("%s: %s", g.jsonl_path, strerror(-rc));
  if (rc == 0 && g.json)
    out_buf(&jsonl);
  if (rc == 0)
    out_buf(&out);
  lw_buf_free(&csv);
  lw_buf_free(&jsonl);
  lw_buf_free(&out);
  return rc;
}

static int sample_round(void) {
  lw_watch_sampler_begin(&g.sampler);
  if (g.name_regex)
    scan_by_name();
  for (size_t i = 0; i < g.n_procs; i++) {
    watched_t *w = g.procs[i];
    if (!w->alive)
      continue;
    unsigned denied = 0;
    lw_watch_sample_t sample;
    int rc = lw_watch_sample(&g.sampler, &w->target, w->have_prev ? &w->prev : NULL, &sample,
                             &denied);
    if (rc != 0) {
      process_gone(w);
      continue;
    }
    w->cur = sample;
    w->have_cur = true;
    report_denied(w, denied);
    update_trends(w);
    evaluate_alerts(w, true);
    w->prev = sample;
    w->have_prev = true;
  }
  g.samples++;
  return write_rows();
}

/* ---- Options -------------------------------------------------------------------------- */

static bool parse_ratio(const char *value, double *out) {
  char *end;
  errno = 0;
  double v = strtod(value, &end);
  if (errno || end == value || *end || !(v >= 0 && v <= 1))
    return false;
  *out = v;
  return true;
}

static int add_rule_text(const char *text) {
  if (g.n_rules >= MAX_RULES)
    return lw_cli_usage_error(&spec, "more than %d alert rules", MAX_RULES);
  lw_alert_error_t err;
  if (lw_alert_rule_parse(text, strlen(text), lw_watch_rule_metrics, lw_watch_n_rule_metrics,
                          &g.rules[g.n_rules], &err) != 0)
    return lw_cli_usage_error(&spec, "--alert '%s': column %d: %s", text, err.column,
                              err.message);
  g.n_rules++;
  return 0;
}

static int add_rules_file(const char *path) {
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  int rc = lw_read_file(path, &buf, 1 << 20);
  if (rc != 0) {
    lw_buf_free(&buf);
    lw_cli_error("%s: %s", path, strerror(-rc));
    return LW_EXIT_FAILURE;
  }
  lw_alert_error_t err;
  int n = lw_alert_rules_parse((const char *)buf.data, buf.len, lw_watch_rule_metrics,
                               lw_watch_n_rule_metrics, g.rules + g.n_rules,
                               MAX_RULES - g.n_rules, &err);
  lw_buf_free(&buf);
  if (n < 0)
    return lw_cli_usage_error(&spec, "%s:%d:%d: %s", path, err.line, err.column, err.message);
  g.n_rules += (size_t)n;
  return 0;
}

/* Opens an output file only after everything else is known to be valid, so bad input never
 * leaves a file behind. */
static int open_output(const char *path, int *fd) {
  /* A new private file renamed into place, then appended to: a symlink planted at `path`
   * is replaced, its target never opened (common/file.h). */
  *fd = lw_create_file_replacing(path, LW_OUTPUT_FILE_MODE);
  if (*fd < 0) {
    char problem[256];
    lw_output_problem(path, *fd, problem, sizeof problem);
    lw_cli_error("%s: %s", path, problem);
    *fd = -1;
    return -1;
  }
  return 0;
}

static void cleanup(void) {
  for (size_t i = 0; i < g.n_procs; i++) {
    lw_watch_target_close(&g.procs[i]->target);
    free(g.procs[i]);
  }
  free(g.procs);
  if (g.name_regex)
    regfree(&g.regex);
  if (g.csv_fd >= 0)
    close(g.csv_fd);
  if (g.jsonl_fd >= 0)
    close(g.jsonl_fd);
}

/* Final words: which counters were still growing when the watch ended. */
static int summarize(void) {
  lw_buf_t out;
  lw_buf_init(&out, &lw_libc_allocator);
  for (size_t i = 0; i < g.n_procs && !g.json; i++) {
    watched_t *w = g.procs[i];
    for (size_t t = 0; t < lw_watch_n_trended; t++) {
      lw_trend_fit_t fit;
      if (!w->growing[t] || lw_trend_fit(&w->trends[t], &fit) != 0)
        continue;
      char rate_text[64], span[32];
      if (lw_watch_trended[t].bytes)
        lw_format_bytes(rate_text, sizeof rate_text, fit.slope_per_hour);
      else
        snprintf(rate_text, sizeof rate_text, "%.1f", fit.slope_per_hour);
      format_span(fit.span_seconds, span, sizeof span);
      lw_buf_printf(&out, "summary: pid %d (%s): %s growing %s/h (R\xC2\xB2=%.2f) over %s\n",
                    w->target.pid, w->cur.comm, lw_watch_trended[t].name, rate_text, fit.r2, span);
    }
  }
  out_buf(&out);
  lw_buf_free(&out);
  return g.alert_fired ? EXIT_ALERT : LW_EXIT_OK;
}

int lw_cmd_watch(int argc, char **argv) {
  memset(&g, 0, sizeof g);
  g.interval_ms = 5000;
  g.csv_fd = g.jsonl_fd = -1;
  g.trend_window_s = 1800;
  g.trend_min_span_s = 600;
  g.trend_min_r2 = 0.9;
  g.trend_min_bytes = 1048576;
  g.trend_min_count = 10;
  g.fd_types = g.smaps = true;

  /* "--" separates the command to run from watch's own arguments. */
  int own_argc = argc;
  char **command = NULL;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) {
      own_argc = i;
      command = argv + i + 1;
      break;
    }
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, own_argc, argv, false);
  const char *value;
  int opt, rc = 0;
  const char *rules_file = NULL;
  uint64_t number;
  while (rc == 0 && (opt = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[opt].long_name;
    if (strcmp(name, "interval") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &g.interval_ms))
        rc = LW_EXIT_USAGE;
      else if (g.interval_ms < 10)
        rc = lw_cli_usage_error(&spec, "--interval must be at least 10ms");
    } else if (strcmp(name, "duration") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &g.duration_ms))
        rc = LW_EXIT_USAGE;
      g.have_duration = true;
    } else if (strcmp(name, "count") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, UINT64_MAX, &g.count))
        rc = LW_EXIT_USAGE;
      g.have_count = true;
    } else if (strcmp(name, "name") == 0) {
      g.name_regex = value;
    } else if (strcmp(name, "full") == 0) {
      g.full = true;
    } else if (strcmp(name, "csv") == 0) {
      g.csv_path = value;
    } else if (strcmp(name, "jsonl") == 0) {
      g.jsonl_path = value;
    } else if (strcmp(name, "json") == 0) {
      g.json = true;
    } else if (strcmp(name, "plain") == 0) {
      g.plain = true;
    } else if (strcmp(name, "alert") == 0) {
      rc = add_rule_text(value);
    } else if (strcmp(name, "rules") == 0) {
      rules_file = value;
    } else if (strcmp(name, "on-alert") == 0) {
      g.on_alert = value;
    } else if (strcmp(name, "exit-on-alert") == 0) {
      g.exit_on_alert = true;
    } else if (strcmp(name, "trend-window") == 0 || strcmp(name, "trend-min-span") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &number) || number == 0)
        rc = number == 0 ? lw_cli_usage_error(&spec, "--%s must be positive", name) : LW_EXIT_USAGE;
      else if (strcmp(name, "trend-window") == 0)
        g.trend_window_s = (double)number / 1000;
      else
        g.trend_min_span_s = (double)number / 1000;
    } else if (strcmp(name, "trend-min-r2") == 0) {
      if (!parse_ratio(value, &g.trend_min_r2))
        rc = lw_cli_usage_error(&spec, "invalid value '%s' for --trend-min-r2 (a number from 0 to 1)",
                                value);
    } else if (strcmp(name, "trend-min-bytes") == 0) {
      if (!lw_cli_parse_size(&spec, name, value, &number))
        rc = LW_EXIT_USAGE;
      g.trend_min_bytes = (double)number;
    } else if (strcmp(name, "trend-min-count") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 0, 1000000000, &number))
        rc = LW_EXIT_USAGE;
      g.trend_min_count = (double)number;
    } else if (strcmp(name, "no-fd-types") == 0) {
      g.fd_types = false;
    } else if (strcmp(name, "no-smaps") == 0) {
      g.smaps = false;
    }
  }
  if (rc == 0 && rules_file)
    rc = add_rules_file(rules_file);
  lw_alert_error_t name_err;
  if (rc == 0 && lw_alert_rules_name(g.rules, g.n_rules, lw_watch_rule_metrics, &name_err) != 0)
    rc = lw_cli_usage_error(&spec, "%s", name_err.message);
  int n_pids = parser.n_positionals;
  char **pid_args = parser.positionals;
  int kinds = (n_pids > 0) + (g.name_regex != NULL) + (command != NULL);
  if (rc == 0 && kinds == 0)
    rc = lw_cli_usage_error(&spec, "nothing to watch: give PIDs, --name REGEX or -- COMMAND");
  if (rc == 0 && command && !command[0])
    rc = lw_cli_usage_error(&spec, "missing command after '--'");
  if (rc == 0 && g.full && !g.name_regex)
    rc = lw_cli_usage_error(&spec, "--full only applies to --name");
  if (rc == 0 && g.name_regex) {
    int re = regcomp(&g.regex, g.name_regex, REG_EXTENDED | REG_NOSUB);
    if (re != 0) {
      char msg[256];
      regerror(re, &g.regex, msg, sizeof msg);
      rc = lw_cli_usage_error(&spec, "--name '%s': %s", g.name_regex, msg);
      g.name_regex = NULL; /* nothing to regfree */
    }
  }
  int *pids = calloc((size_t)n_pids + 1, sizeof *pids);
  if (!pids && rc == 0) {
    lw_cli_error("out of memory");
    rc = LW_EXIT_FAILURE;
  }
  for (int i = 0; rc == 0 && i < n_pids; i++) {
    char *end;
    long pid = strtol(pid_args[i], &end, 10);
    if (*end || pid <= 0 || pid > 4194304)
      rc = lw_cli_usage_error(&spec, "'%s' is not a process id", pid_args[i]);
    else
      pids[i] = (int)pid;
  }
  if (rc == 0 && ((g.csv_path && lw_output_check_path(g.csv_path, "CSV") != 0) ||
                  (g.jsonl_path && lw_output_check_path(g.jsonl_path, "JSON lines") != 0)))
    rc = LW_EXIT_FAILURE;
  lw_cli_parser_free(&parser);
  if (rc != 0) {
    free(pids);
    cleanup();
    return rc;
  }

  if ((rc = lw_watch_sampler_init(&g.sampler, g.fd_types, g.smaps)) != 0) {
    lw_cli_error("/proc: %s", strerror(-rc));
    free(pids);
    cleanup();
    return LW_EXIT_FAILURE;
  }
  /* One descriptor per proc file is kept open per process: allow as many as we may. */
  lw_os_raise_fd_limit();
  for (int i = 0; i < n_pids; i++) {
    int error;
    if (!add_process(pids[i], false, &error)) {
      if (error == -ENOENT || error == -ESRCH)
        lw_cli_error("pid %d: no such process", pids[i]);
      else
        lw_cli_error("pid %d: cannot open /proc/%d: %s", pids[i], pids[i], strerror(-error));
      free(pids);
      cleanup();
      return LW_EXIT_FAILURE;
    }
  }
  free(pids);

  lw_os_catch_stop(&stop_signal);

  if (command) {
    int pid = lw_os_spawn(command);
    if (pid < 0) {
      lw_cli_error("%s: %s", command[0], strerror(-pid));
      cleanup();
      return -pid == ENOENT ? LW_EXIT_NOT_FOUND : LW_EXIT_FAILURE;
    }
    g.child = pid;
    int error;
    if (!add_process(pid, true, &error)) {
      lw_cli_error("pid %d: %s", pid, strerror(-error));
      lw_os_exit_t ended;
      lw_os_terminate(pid, false);
      lw_os_wait(pid, true, &ended);
      cleanup();
      return LW_EXIT_FAILURE;
    }
  }
  if ((g.csv_path && open_output(g.csv_path, &g.csv_fd) != 0) ||
      (g.jsonl_path && open_output(g.jsonl_path, &g.jsonl_fd) != 0)) {
    if (g.csv_fd >= 0) {
      close(g.csv_fd);
      g.csv_fd = -1;
      unlink(g.csv_path); /* do not leave an empty file looking like output */
    }
    if (g.child > 0) {
      lw_os_exit_t ended;
      lw_os_terminate(g.child, false);
      lw_os_wait(g.child, true, &ended);
    }
    cleanup();
    return LW_EXIT_FAILURE;
  }
  if (g.csv_fd >= 0) {
    lw_buf_t header;
    lw_buf_init(&header, &lw_libc_allocator);
    lw_watch_csv_header(&header);
    rc = lw_buf_failed(&header) ? -ENOMEM : write_all(g.csv_fd, header.data, header.len);
    lw_buf_free(&header);
    if (rc != 0) {
      lw_cli_error("%s: %s", g.csv_path, strerror(-rc));
      cleanup();
      return LW_EXIT_FAILURE;
    }
  }
  g.table = !g.plain && !g.json && lw_os_stdout_is_terminal();
  if (g.name_regex && g.n_procs == 0) {
    scan_by_name();
    if (g.n_procs == 0 && !g.json)
      lw_cli_warn("no process matches --name '%s' yet; waiting for one", g.name_regex);
  }

  double start = mono_now(), next = start;
  int status = LW_EXIT_OK;
  while (!stop_signal) {
    if (sample_round() != 0) {
      status = LW_EXIT_FAILURE;
      break;
    }
    reap_hooks(false);
    if (g.exit_on_alert && g.alert_fired)
      break;
    if (g.have_count && g.samples >= g.count)
      break;
    if (g.n_alive == 0 && !g.name_regex)
      break;
    next += (double)g.interval_ms / 1000;
    double now = mono_now();
    if (g.have_duration && next - start > (double)g.duration_ms / 1000 + 1e-6)
      break;
    if (next < now) /* we fell behind (suspend, overload): do not burst to catch up */
      next = now;
    lw_os_sleep_until(next, &stop_signal);
  }
  if (stop_signal && g.child > 0 && stop_signal != STOP_OUTPUT_CLOSED)
    lw_os_terminate(g.child, stop_signal == SIGINT);
  if (status == LW_EXIT_OK)
    status = summarize();
  reap_hooks(true);
  cleanup();
  return status;
}
