/*
 * trend.c - rolling least-squares fit (see trend.h).
 *
 * For n points (t_i, v_i), with sums taken around an origin (t0, v0):
 *   Stt = n*sum(t^2) - (sum t)^2,  Svv = n*sum(v^2) - (sum v)^2,  Stv = n*sum(t*v) - sum t * sum v
 *   slope = Stv / Stt,  R² = Stv^2 / (Stt * Svv)
 * Shifting the origin changes none of these, and keeping it near the data keeps the sums
 * small, which is what makes the differences above accurate.
 */
#include "common/trend.h"

#include <math.h>
#include <string.h>

void lw_trend_init(lw_trend_t *trend, lw_trend_point_t *storage, size_t capacity,
                   double window_seconds) {
  memset(trend, 0, sizeof *trend);
  trend->points = storage;
  trend->capacity = capacity < 3 ? 3 : capacity;
  trend->window_seconds = window_seconds > 0 ? window_seconds : 1;
  trend->min_spacing = trend->window_seconds / (double)trend->capacity;
}

void lw_trend_reset(lw_trend_t *trend) {
  trend->head = trend->count = 0;
  trend->st = trend->sv = trend->stt = trend->stv = trend->svv = 0;
  trend->removed_since_rebuild = 0;
}

static lw_trend_point_t *at(const lw_trend_t *trend, size_t i) {
  return &trend->points[(trend->head + i) % trend->capacity];
}

static void accumulate(lw_trend_t *trend, const lw_trend_point_t *p, double sign) {
  double t = p->t - trend->t0, v = p->v - trend->v0;
  trend->st += sign * t;
  trend->sv += sign * v;
  trend->stt += sign * t * t;
  trend->stv += sign * t * v;
  trend->svv += sign * v * v;
}

/* Recomputes the sums from the stored points around a fresh origin (the oldest point). */
static void rebuild(lw_trend_t *trend) {
  trend->st = trend->sv = trend->stt = trend->stv = trend->svv = 0;
  trend->removed_since_rebuild = 0;
  if (trend->count == 0)
    return;
  trend->t0 = at(trend, 0)->t;
  trend->v0 = at(trend, 0)->v;
  for (size_t i = 0; i < trend->count; i++)
    accumulate(trend, at(trend, i), 1);
}

static void drop_oldest(lw_trend_t *trend) {
  accumulate(trend, at(trend, 0), -1);
  trend->head = (trend->head + 1) % trend->capacity;
  trend->count--;
  if (++trend->removed_since_rebuild >= trend->capacity)
    rebuild(trend);
}

void lw_trend_add(lw_trend_t *trend, double t, double value) {
  if (!isfinite(value) || !isfinite(t))
    return;
  if (trend->count > 0) {
    double newest = at(trend, trend->count - 1)->t;
    if (t < newest) {
      lw_trend_reset(trend);
    } else if (t - newest < trend->min_spacing) {
      return; /* subsampling: too soon after the last stored point */
    }
  }
  while (trend->count > 0 && t - at(trend, 0)->t > trend->window_seconds)
    drop_oldest(trend);
  if (trend->count == trend->capacity)
    drop_oldest(trend);
  if (trend->count == 0) {
    /* Fresh start: exact zero sums (no subtraction residue) around this point. */
    lw_trend_reset(trend);
    trend->t0 = t;
    trend->v0 = value;
  }
  lw_trend_point_t *slot = &trend->points[(trend->head + trend->count) % trend->capacity];
  slot->t = t;
  slot->v = value;
  trend->count++;
  accumulate(trend, slot, 1);
}

int lw_trend_fit(const lw_trend_t *trend, lw_trend_fit_t *out) {
  memset(out, 0, sizeof *out);
  size_t n = trend->count;
  out->n = n;
  if (n < 2)
    return -1;
  const lw_trend_point_t *oldest = at(trend, 0), *newest = at(trend, n - 1);
  out->span_seconds = newest->t - oldest->t;
  out->first = oldest->v;
  out->last = newest->v;
  double dn = (double)n;
  double s_tt = dn * trend->stt - trend->st * trend->st;
  double s_vv = dn * trend->svv - trend->sv * trend->sv;
  double s_tv = dn * trend->stv - trend->st * trend->sv;
  if (!(out->span_seconds > 0) || !(s_tt > 0))
    return -1;
  out->slope_per_second = s_tv / s_tt;
  out->slope_per_hour = out->slope_per_second * 3600.0;
  double mean_t = trend->st / dn, mean_v = trend->sv / dn;
  out->fitted_last =
      trend->v0 + mean_v + out->slope_per_second * (newest->t - trend->t0 - mean_t);
  /* Rounding can leave a tiny positive s_vv for constant values: treat values whose spread
   * is at the level of double rounding as constant. */
  double scale = fabs(trend->svv) + trend->sv * trend->sv / dn;
  if (n >= 3 && s_vv > 1e-12 * dn * (scale > 0 ? scale : 1)) {
    double r2 = (s_tv / s_tt) * (s_tv / s_vv);
    out->r2 = r2 < 0 ? 0 : r2 > 1 ? 1 : r2;
  }
  return 0;
}

bool lw_trend_is_growing(const lw_trend_fit_t *fit, const lw_trend_rule_t *rule) {
  return fit->n >= rule->min_points && fit->n >= 2 &&
         fit->span_seconds >= rule->min_span_seconds &&
         fit->slope_per_hour >= rule->min_slope_per_hour && fit->slope_per_hour > 0 &&
         fit->r2 >= rule->min_r2;
}
