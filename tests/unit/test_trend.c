/*
 * test_trend.c - rolling least squares (src/common/trend.c): exact lines, constant and
 * noisy series, the window, bounded storage by subsampling, clock steps, the growth
 * verdict, and a million-sample run whose incremental sums must agree with a fresh
 * two-pass fit over the same stored points.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/trend.h"

/* Two-pass reference fit over the points the trend holds. */
static void reference_fit(const lw_trend_t *trend, double *slope, double *r2) {
  double mt = 0, mv = 0;
  size_t n = trend->count;
  for (size_t i = 0; i < n; i++) {
    const lw_trend_point_t *p = &trend->points[(trend->head + i) % trend->capacity];
    mt += p->t;
    mv += p->v;
  }
  mt /= (double)n;
  mv /= (double)n;
  double stt = 0, stv = 0, svv = 0;
  for (size_t i = 0; i < n; i++) {
    const lw_trend_point_t *p = &trend->points[(trend->head + i) % trend->capacity];
    stt += (p->t - mt) * (p->t - mt);
    stv += (p->t - mt) * (p->v - mv);
    svv += (p->v - mv) * (p->v - mv);
  }
  *slope = stv / stt;
  *r2 = svv > 0 ? stv * stv / (stt * svv) : 0;
}

static void test_exact_line(void **state) {
  (void)state;
  lw_trend_point_t storage[1024];
  lw_trend_t tr;
  lw_trend_init(&tr, storage, 1024, 3600); /* spacing 3.5 s: every 5 s sample is kept */
  for (int t = 0; t <= 600; t += 5)
    lw_trend_add(&tr, 1000.0 + t, 5e8 + 10.0 * t); /* 10 bytes/s */
  lw_trend_fit_t fit;
  assert_int_equal(lw_trend_fit(&tr, &fit), 0);
  assert_int_equal(fit.n, 121);
  assert_true(fabs(fit.slope_per_second - 10) < 1e-9);
  assert_true(fabs(fit.slope_per_hour - 36000) < 1e-6);
  assert_true(fabs(fit.r2 - 1) < 1e-12);
  assert_true(fabs(fit.span_seconds - 600) < 1e-12);
  assert_true(fabs(fit.fitted_last - (5e8 + 6000)) < 1e-6);
  assert_true(fit.first == 5e8 && fit.last == 5e8 + 6000);
}

static void test_constant_and_too_few(void **state) {
  (void)state;
  lw_trend_point_t storage[64];
  lw_trend_t tr;
  lw_trend_init(&tr, storage, 64, 3600);
  lw_trend_fit_t fit;
  assert_int_equal(lw_trend_fit(&tr, &fit), -1);
  lw_trend_add(&tr, 0, 7);
  assert_int_equal(lw_trend_fit(&tr, &fit), -1);
  lw_trend_add(&tr, 0, 8); /* same time: subsampled away (too soon) */
  assert_int_equal(lw_trend_fit(&tr, &fit), -1);
  assert_int_equal(tr.count, 1);
  lw_trend_reset(&tr);
  for (int t = 60; t < 3000; t += 60)
    lw_trend_add(&tr, t, 123456789.0);
  assert_int_equal(lw_trend_fit(&tr, &fit), 0);
  assert_true(fabs(fit.slope_per_second) < 1e-12);
  assert_true(fit.r2 == 0);
  lw_trend_add(&tr, 3000, NAN); /* ignored */
  assert_int_equal(lw_trend_fit(&tr, &fit), 0);
  assert_true(fit.last == 123456789.0);
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static void test_noisy_line(void **state) {
  (void)state;
  lw_trend_point_t storage[1024];
  lw_trend_t tr;
  lw_trend_init(&tr, storage, 1024, 7200);
  for (int t = 0; t < 1800; t += 2)
    lw_trend_add(&tr, t, 2e8 + 1000.0 * t + (uniform() - 0.5) * 1e5);
  lw_trend_fit_t fit;
  assert_int_equal(lw_trend_fit(&tr, &fit), 0);
  double slope, r2;
  reference_fit(&tr, &slope, &r2);
  assert_true(fabs(fit.slope_per_second - slope) < 1e-9 * fabs(slope));
  assert_true(fabs(fit.r2 - r2) < 1e-9);
  assert_true(fabs(fit.slope_per_second - 1000) < 20);
  assert_true(fit.r2 > 0.99);
  /* Pure noise: low R², slope near zero. */
  lw_trend_reset(&tr);
  for (int t = 0; t < 1800; t += 2)
    lw_trend_add(&tr, t, 2e8 + (uniform() - 0.5) * 2e5);
  assert_int_equal(lw_trend_fit(&tr, &fit), 0);
  assert_true(fit.r2 < 0.05);
}

static void test_window_and_subsampling(void **state) {
  (void)state;
  lw_trend_point_t storage[120];
  lw_trend_t tr;
  lw_trend_init(&tr, storage, 120, 1200); /* 20 min, a point per 10 s at most */
  /* Flat for an hour, then growing for half an hour: the window sees only growth. */
  for (int t = 0; t < 3600; t++)
    lw_trend_add(&tr, t, 1e6);
  for (int t = 3600; t < 5400; t++)
    lw_trend_add(&tr, t, 1e6 + 50.0 * (t - 3600));
  lw_trend_fit_t fit;
  assert_int_equal(lw_trend_fit(&tr, &fit), 0);
  assert_true(fit.n <= 120);
  assert_true(fit.n >= 110);
  assert_true(fit.span_seconds <= 1200);
  assert_true(fit.span_seconds >= 1180);
  assert_true(fabs(fit.slope_per_second - 50) < 1e-6);
  assert_true(fit.r2 > 0.999999);
  for (size_t i = 1; i < tr.count; i++) { /* stored points are spaced by >= 10 s */
    double a = tr.points[(tr.head + i - 1) % tr.capacity].t;
    double b = tr.points[(tr.head + i) % tr.capacity].t;
    assert_true(b - a >= 10);
  }
  /* A clock step back restarts. */
  lw_trend_add(&tr, 100, 5);
  assert_int_equal(tr.count, 1);
  /* A gap longer than the window leaves only the new point. */
  lw_trend_add(&tr, 200, 6);
  lw_trend_add(&tr, 5000, 7);
  assert_int_equal(tr.count, 1);
  assert_int_equal(lw_trend_fit(&tr, &fit), -1);
}

/* A long watch: the incremental sums must not drift from a fresh computation. */
static void test_long_run_accuracy(void **state) {
  (void)state;
  static lw_trend_point_t storage[600];
  lw_trend_t tr;
  lw_trend_init(&tr, storage, 600, 600);
  double t = 1.7e9; /* epoch-like times: large origin */
  for (int i = 0; i < 1000000; i++) {
    t += 1.0;
    double v = 3e9 + 777.0 * (i % 50000) + (uniform() - 0.5) * 1e4;
    lw_trend_add(&tr, t, v);
    if (i % 99991 == 0 && tr.count > 10) {
      lw_trend_fit_t fit;
      assert_int_equal(lw_trend_fit(&tr, &fit), 0);
      double slope, r2;
      reference_fit(&tr, &slope, &r2);
      if (fabs(fit.slope_per_second - slope) > 1e-6 * (fabs(slope) + 1) ||
          fabs(fit.r2 - r2) > 1e-6)
        fail_msg("at %d: slope %.12g vs %.12g, r2 %.12g vs %.12g", i, fit.slope_per_second,
                 slope, fit.r2, r2);
    }
  }
}

static void test_growing_rule(void **state) {
  (void)state;
  lw_trend_rule_t rule = {.min_slope_per_hour = 1 << 20, .min_r2 = 0.9,
                          .min_span_seconds = 600, .min_points = 10};
  lw_trend_fit_t fit = {.n = 100, .span_seconds = 1500, .slope_per_hour = 42.0 * (1 << 20),
                        .r2 = 0.97};
  assert_true(lw_trend_is_growing(&fit, &rule));
  lw_trend_fit_t f = fit;
  f.r2 = 0.5;
  assert_false(lw_trend_is_growing(&f, &rule));
  f = fit;
  f.span_seconds = 300;
  assert_false(lw_trend_is_growing(&f, &rule));
  f = fit;
  f.slope_per_hour = 1000;
  assert_false(lw_trend_is_growing(&f, &rule));
  f = fit;
  f.slope_per_hour = -fit.slope_per_hour; /* shrinking is not growing */
  assert_false(lw_trend_is_growing(&f, &rule));
  f = fit;
  f.n = 5;
  assert_false(lw_trend_is_growing(&f, &rule));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_line),
      cmocka_unit_test(test_constant_and_too_few),
      cmocka_unit_test(test_noisy_line),
      cmocka_unit_test(test_window_and_subsampling),
      cmocka_unit_test(test_long_run_accuracy),
      cmocka_unit_test(test_growing_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
