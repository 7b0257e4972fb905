/*
 * leak_verdict.c - per-site leak verdicts from live-bytes history (see leak_verdict.h and
 * docs/LEAKS.md).
 */
#include "common/leak_verdict.h"

#include <math.h>
#include <string.h>

#include "common/fmt.h"
#include "common/trend.h"
#include "common/units.h"

void lw_leak_verdict_defaults(lw_leak_verdict_options_t *o) {
  o->min_window_seconds = 180;
  o->window_seconds = 900;
  o->sampling_rate = 524288;
  o->min_growth_samples = 4;
  o->min_r2 = 0.85;
  o->min_rising_share = 0.8;
  o->min_recent_ratio = 0.25;
  o->count_unit = NULL; /* bytes */
}

void lw_format_duration(double seconds, char *out, size_t size) {
  uint64_t s = seconds > 0 ? (uint64_t)(seconds + 0.5) : 0;
  if (s >= 3600)
    lw_fmt(out, size, "%lluh%02llum", (unsigned long long)(s / 3600),
           (unsigned long long)(s % 3600 / 60));
  else if (s >= 60)
    lw_fmt(out, size, "%llum%llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
  else
    lw_fmt(out, size, "%llus", (unsigned long long)s);
}

/* Least-squares fit of points[first..n) (bytes over time). */
/* A value of the series for the why sentence: bytes, or an exact count of fds or threads. */
static void format_amount(char *out, size_t size, double value,
                          const lw_leak_verdict_options_t *o) {
  if (!o->count_unit)
    lw_format_bytes(out, size, value);
  else if (value != floor(value) && fabs(value) < 10)
    lw_fmt(out, size, "%.1f %s", value, o->count_unit);
  else
    lw_fmt(out, size, "%.0f %s", value, o->count_unit);
}

static bool fit(const lw_site_point_t *points, size_t first, size_t n, lw_trend_fit_t *out) {
  enum { CAPACITY = 512 };
  lw_trend_point_t storage[CAPACITY];
  if (n - first > CAPACITY)
    first = n - CAPACITY;
  /* The trend keeps a point only window/capacity seconds after the previous one: give it
   * this series' own span, so every point (spaced by the history interval) is kept. */
  double span = points[n - 1].t_seconds - points[first].t_seconds;
  lw_trend_t trend;
  lw_trend_init(&trend, storage, CAPACITY, span > 0 ? span * 1.001 : 1);
  for (size_t i = first; i < n; i++)
    lw_trend_add(&trend, points[i].t_seconds, points[i].bytes);
  return lw_trend_fit(&trend, out) == 0;
}

/* Counts the intervals of points[first..n) in which the value rose and fell. */
static void count_changes(const lw_site_point_t *points, size_t first, size_t n, size_t *up,
                          size_t *down, double *last_up_t) {
  *up = *down = 0;
  *last_up_t = points[first].t_seconds;
  for (size_t i = first + 1; i < n; i++) {
    if (points[i].bytes > points[i - 1].bytes) {
      (*up)++;
      *last_up_t = points[i].t_seconds;
    } else if (points[i].bytes < points[i - 1].bytes) {
      (*down)++;
    }
  }
}

int lw_leak_verdict(const lw_site_point_t *points, size_t n, uint64_t live, uint64_t old,
                    const lw_leak_verdict_options_t *o, lw_leak_verdict_t *v) {
  memset(v, 0, sizeof *v);
  v->old_share = live ? (double)old / (double)live : -1;
  if (!points || !o)
    return -1;
  if (n == 0) {
    lw_fmt(v->why, sizeof v->why, "no history yet");
    return 0;
  }
  v->last_bytes = points[n - 1].bytes;
  v->last_objects = points[n - 1].objects;
  /* The window: the newest points within window_seconds. */
  size_t first = 0;
  while (first + 1 < n && points[n - 1].t_seconds - points[first].t_seconds > o->window_seconds)
    first++;
  v->span_seconds = points[n - 1].t_seconds - points[first].t_seconds;
  char span[32], need[32];
  lw_format_duration(v->span_seconds, span, sizeof span);
  lw_format_duration(o->min_window_seconds, need, sizeof need);
  if (n - first < 4 || v->span_seconds < o->min_window_seconds) {
    lw_fmt(v->why, sizeof v->why, "only %s of history; a verdict needs %s", span, need);
    return 0;
  }
  v->enough_history = true;
  lw_trend_fit_t all;
  if (!fit(points, first, n, &all)) {
    lw_fmt(v->why, sizeof v->why, "history spans no time");
    return 0;
  }
  v->slope_bytes_per_second = all.slope_per_second;
  v->r2 = all.r2;
  /* Net growth, not the fitted line's: with few samples the estimate is a staircase, and
   * the step that matters is the one that happened. */
  v->growth_bytes = points[n - 1].bytes - points[first].bytes;
  /* Sampling noise: one sample of S bytes moves the estimate by about max(rate, S); a site
   * can wander by a few such steps with no real change. In exact mode a step is one object. */
  double objects = v->last_objects > 0 ? v->last_objects : 1;
  double object_size = v->last_bytes > 0 ? v->last_bytes / objects : 1;
  double step = o->sampling_rate > object_size ? o->sampling_rate : object_size;
  size_t up, down;
  double last_up_t;
  count_changes(points, first, n, &up, &down, &last_up_t);
  /* A site that also frees (it shrank at times) turns its samples over: holding about
   * N = bytes / step live samples, its estimate wanders with a standard deviation of about
   * step * sqrt(2N) = sqrt(2 * bytes * step) between two moments, with no real change. A
   * pure leak never shrinks, and only the few-steps floor applies to it. */
  double turnover_sigma = down ? sqrt(2 * (v->last_bytes > 0 ? v->last_bytes : 0) * step) : 0;
  v->noise_bytes = o->min_growth_samples * step;
  if (2 * turnover_sigma > v->noise_bytes)
    v->noise_bytes = 2 * turnover_sigma;
  v->rising_share = up + down ? (double)up / (double)(up + down) : 0;
  /* Still growing? A leak's estimate rises in steps, one per sampled allocation, with
   * gaps between them; a full cache or churn also shrinks. So a slow last third only means
   * "levelled off" if the site also shrank in it, or if the current gap without growth is
   * far longer than its usual gap between steps. */
  size_t third = first + (n - first) * 2 / 3;
  if (n - third < 3)
    third = n - 3;
  lw_trend_fit_t recent;
  v->recent_ratio = fit(points, third, n, &recent) && all.slope_per_second > 0
                        ? recent.slope_per_second / all.slope_per_second
                        : 0;
  size_t recent_up, recent_down;
  double ignored;
  count_changes(points, third, n, &recent_up, &recent_down, &ignored);
  double interval = v->span_seconds / (double)(n - first - 1);
  double mean_gap = up ? v->span_seconds / (double)up : v->span_seconds;
  double quiet = points[n - 1].t_seconds - last_up_t;
  double recent_growth = points[n - 1].bytes - points[third].bytes;
  bool levelled = (recent_down > 0 && v->recent_ratio < o->min_recent_ratio) ||
                  quiet > 3 * (mean_gap > interval ? mean_gap : interval);
  /* A site that shrank lately must also have grown lately by more than its turnover noise
   * to count as still growing: a full cache's estimate drifts up as often as down. */
  bool unclear = !levelled && recent_down > 0 && recent_growth < 2 * turnover_sigma;
  char growth[48], rate[48], noise[48], quiet_text[32];
  format_amount(growth, sizeof growth, v->growth_bytes > 0 ? v->growth_bytes : 0, o);
  format_amount(rate, sizeof rate, all.slope_per_second * 60, o);
  format_amount(noise, sizeof noise, v->noise_bytes, o);
  lw_format_duration(quiet, quiet_text, sizeof quiet_text);
  if (v->growth_bytes < v->noise_bytes) {
    lw_fmt(v->why, sizeof v->why, "no growth beyond %s over %s (%s, noise %s)",
           o->count_unit ? "random turnover" : "sampling noise", span, growth, noise);
    return 0;
  }
  /* Levelled off first: a plateau explains a poor straight-line fit better than anything. */
  if (levelled) {
    lw_fmt(v->why, sizeof v->why,
           "grew %s over %s, then levelled off (no growth for the last %s): a cache that "
           "filled up, not a leak",
           growth, span, quiet_text);
    return 0;
  }
  if (unclear) {
    char recent_text[48], sigma_text[48];
    format_amount(recent_text, sizeof recent_text, recent_growth > 0 ? recent_growth : 0, o);
    format_amount(sigma_text, sizeof sigma_text, 2 * turnover_sigma, o);
    lw_fmt(v->why, sizeof v->why,
           "grew %s over %s, but lately only %s, within the +-%s its turnover of allocations "
           "produces: not clearly still growing",
           growth, span, recent_text, sigma_text);
    return 0;
  }
  if (v->rising_share < o->min_rising_share) {
    lw_fmt(v->why, sizeof v->why,
           "grew %s over %s but not steadily: it shrank in %zu of %zu intervals with a change",
           growth, span, down, up + down);
    return 0;
  }
  if (v->r2 < 0.5) {
    lw_fmt(v->why, sizeof v->why,
           "grew %s over %s in bursts rather than steadily (straight-line fit R2 %.2f)", growth,
           span, v->r2);
    return 0;
  }
  v->suspect = true;
  bool old_ok = v->old_share < 0 || v->old_share >= 0.5;
  v->confidence = v->r2 >= o->min_r2 && v->rising_share >= 0.95 &&
                          v->growth_bytes >= 2 * v->noise_bytes && old_ok
                      ? LW_LEAK_HIGH
                      : LW_LEAK_MEDIUM;
  /* How far back does the steady growth go? The oldest start from which the site still
   * rose in (almost) every interval where it changed. */
  v->growing_for_seconds = v->span_seconds;
  for (size_t k = first; k + 3 < n; k++) {
    size_t k_up, k_down;
    double k_last;
    count_changes(points, k, n, &k_up, &k_down, &k_last);
    if (k_up && (double)k_up / (double)(k_up + k_down) >= o->min_rising_share &&
        points[k + 1].bytes > points[k].bytes) {
      v->growing_for_seconds = points[n - 1].t_seconds - points[k].t_seconds;
      break;
    }
  }
  char age[64] = "";
  if (v->old_share >= 0)
    lw_fmt(age, sizeof age, "; %.0f%% of its live allocations are old", v->old_share * 100);
  lw_fmt(v->why, sizeof v->why,
         "grew %s in %s (%s/min), steadily (rose in %zu of %zu intervals with a change, R2 "
         "%.2f), still growing%s",
         growth, span, rate, up, up + down, v->r2, age);
  return 0;
}
