/*
 * leak_verdict.h - is this allocation site leaking? A verdict from the history of its live
 * bytes (docs/LEAKS.md derives the method and its thresholds).
 *
 * A site is a suspect when, over at least a minimum window, its live bytes grew by more than
 * sampling noise can explain, along a straight line (least-squares fit), in most intervals,
 * and are still growing at the end of the window (a cache that fills up and then levels off
 * is not a leak). The share of its live allocations that are old raises or lowers the
 * confidence. Pure computation: no allocation, no I/O; used by `leakwatch leaks` and
 * `leakwatch run --leaks`.
 */
#ifndef LW_COMMON_LEAK_VERDICT_H
#define LW_COMMON_LEAK_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lw_site_point {
  double t_seconds;
  double bytes;   /* estimated live bytes */
  double objects; /* estimated live objects */
} lw_site_point_t;

typedef struct lw_leak_verdict_options {
  double min_window_seconds;  /* history needed before any verdict (default 180) */
  double window_seconds;      /* only the newest points within this span count (default 900) */
  double sampling_rate;       /* bytes between samples; 1 = exact */
  double min_growth_samples;  /* growth must exceed this many sampling periods (default 4) */
  double min_r2;              /* straightness for high confidence (default 0.85) */
  double min_rising_share;    /* of the intervals where it changed, the share that were rises
                                 (default 0.8) */
  double min_recent_ratio;    /* a last third slower than this share of the window's rate,
                                 with shrinking in it, means levelled off (default 0.25) */
  const char *count_unit;     /* NULL: the series are bytes. Else they are exact counts of
                                 this ("fds", "threads"), and sampling_rate should be 1 */
} lw_leak_verdict_options_t;

void lw_leak_verdict_defaults(lw_leak_verdict_options_t *options);

typedef enum { LW_LEAK_NONE = 0, LW_LEAK_MEDIUM = 1, LW_LEAK_HIGH = 2 } lw_leak_confidence_t;

typedef struct lw_leak_verdict {
  bool enough_history;
  bool suspect;
  lw_leak_confidence_t confidence;
  double span_seconds;          /* of the points judged */
  double slope_bytes_per_second;
  double r2;
  double growth_bytes;          /* slope x span */
  double noise_bytes;           /* the growth sampling alone could produce */
  double rising_share;          /* rises / intervals in which the value changed */
  double recent_ratio;          /* slope of the last third / slope of the window */
  double last_bytes, last_objects;
  double old_share;             /* live allocations older than the threshold; -1 unknown */
  double growing_for_seconds;   /* how far back the steady growth goes */
  char why[512];                /* one sentence: what was seen, for humans */
} lw_leak_verdict_t;

/* points: oldest first. live / old: the site's live sampled allocations and how many are
 * old (old_share is unknown when live is 0). Returns 0, or -1 for invalid arguments. */
int lw_leak_verdict(const lw_site_point_t *points, size_t n, uint64_t live, uint64_t old,
                    const lw_leak_verdict_options_t *options, lw_leak_verdict_t *out);

/* "5m0s", "1h12m", "40s" */
void lw_format_duration(double seconds, char *out, size_t size);

#endif
