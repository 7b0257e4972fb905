/*
 * trend.h - a rolling least-squares line through (time, value) samples: slope per hour,
 * R², and a "keeps growing" verdict with thresholds.
 *
 * Used by `leakwatch watch` for every counter it trends (rss, fds, threads...), by the
 * alert rules' rate() of a gauge (PromQL's deriv(): the least-squares slope over a window),
 * and later by the agent's per-site leak verdicts; so it is pure: no allocation (the caller
 * gives the point storage), no I/O, no clock.
 *
 * The window: points older than `window_seconds` before the newest are dropped. Storage is
 * bounded: a point is only stored when at least window/capacity seconds passed since the
 * last stored one (systematic subsampling: an hour at 1 s samples fits in a few hundred
 * points, and R² is not inflated the way averaging samples together would inflate it).
 * Sums are kept incrementally around a moving origin and rebuilt from the stored points
 * whenever the ring has turned over, so the cost per sample is O(1) amortized and the
 * rounding error does not accumulate over a long watch.
 */
#ifndef LW_COMMON_TREND_H
#define LW_COMMON_TREND_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lw_trend_point {
  double t; /* seconds, any origin, non-decreasing */
  double v;
} lw_trend_point_t;

typedef struct lw_trend {
  lw_trend_point_t *points; /* ring, capacity entries, owned by the caller */
  size_t capacity;
  size_t head;  /* index of the oldest point */
  size_t count;
  double window_seconds;
  double min_spacing; /* window / capacity */
  /* Sums of (t - t0), (v - v0) and their products over the stored points. */
  double t0, v0;
  double st, sv, stt, stv, svv;
  size_t removed_since_rebuild;
} lw_trend_t;

/* capacity >= 3. window_seconds > 0 (use a large value for "everything"). */
void lw_trend_init(lw_trend_t *trend, lw_trend_point_t *storage, size_t capacity,
                   double window_seconds);
void lw_trend_reset(lw_trend_t *trend);

/* Adds a sample. A time before the newest stored point (a clock step) restarts the trend;
 * a NaN or infinite value is ignored. */
void lw_trend_add(lw_trend_t *trend, double t, double value);

typedef struct lw_trend_fit {
  size_t n;                /* stored points in the window */
  double span_seconds;     /* newest t - oldest t */
  double slope_per_second; /* least-squares slope */
  double slope_per_hour;
  double r2;               /* coefficient of determination, 0..1; 0 when the values are
                              constant (nothing to explain) or n < 3 */
  double first, last;      /* oldest and newest stored values */
  double fitted_last;      /* the line's value at the newest time */
} lw_trend_fit_t;

/* Returns 0, or -1 when there are fewer than 2 points or they span no time. */
int lw_trend_fit(const lw_trend_t *trend, lw_trend_fit_t *out);

/* When does a trend count as "keeps growing"? */
typedef struct lw_trend_rule {
  double min_slope_per_hour; /* in the counter's unit per hour, > 0 */
  double min_r2;             /* 0..1, e.g. 0.9 */
  double min_span_seconds;   /* e.g. 600: ten minutes of evidence at least */
  size_t min_points;         /* e.g. 10 */
} lw_trend_rule_t;

bool lw_trend_is_growing(const lw_trend_fit_t *fit, const lw_trend_rule_t *rule);

#endif
