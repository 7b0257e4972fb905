/*
 * test_leak_verdict.c - leak verdicts (src/common/leak_verdict.c) on synthetic histories
 * shaped like what the agent records at the default sampling rate: a leak seen as a
 * staircase of samples, churn that wanders, a cache that rises then levels off, a site too
 * young to judge, and growth inside sampling noise.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/leak_verdict.h"
#include "common/sampling.h"

#define RATE 524288.0

/* A leak of `per_minute` bytes in blocks of `size`, sampled like the agent samples: the
 * estimate steps up by one sample's weight each time a sample lands. */
static size_t leak_series(lw_site_point_t *p, double minutes, double interval, double per_minute,
                          double size, uint64_t seed) {
  uint64_t state = seed;
  double estimate = 0, countdown = (double)lw_sample_interval(&state, (uint64_t)RATE);
  size_t n = 0;
  double blocks_per_interval = per_minute / 60 * interval / size;
  for (double t = interval; t <= minutes * 60 + 1e-9; t += interval) {
    for (double b = 0; b < blocks_per_interval; b++) {
      countdown -= size;
      if (countdown < 0) {
        estimate += size * lw_sample_weight((uint64_t)size, (uint64_t)RATE);
        countdown = (double)lw_sample_interval(&state, (uint64_t)RATE);
      }
    }
    p[n].t_seconds = t;
    p[n].bytes = estimate;
    p[n].objects = estimate / size;
    n++;
  }
  return n;
}

static lw_leak_verdict_t judge(const lw_site_point_t *p, size_t n, uint64_t live, uint64_t old) {
  lw_leak_verdict_options_t o;
  lw_leak_verdict_defaults(&o);
  lw_leak_verdict_t v;
  assert_int_equal(lw_leak_verdict(p, n, live, old, &o, &v), 0);
  return v;
}

/* 1 MiB/min in 1 KiB blocks is a suspect within 5 minutes, for most seeds high confidence. */
static void test_slow_leak_found_within_five_minutes(void **state) {
  (void)state;
  int found = 0, high = 0;
  for (uint64_t seed = 1; seed <= 50; seed++) {
    lw_site_point_t p[64];
    size_t n = leak_series(p, 5, 10, 1 << 20, 1024, seed * 7919);
    lw_leak_verdict_t v = judge(p, n, 10, 9);
    found += v.suspect;
    high += v.confidence == LW_LEAK_HIGH;
  }
  if (found < 47) /* a miss needs <= 3 samples where 10 are expected: ~1% per seed */
    fail_msg("a 1 MiB/min leak was a suspect after 5 minutes for only %d of 50 seeds", found);
  assert_true(high >= 30);
}

/* Churn: a site whose live bytes wander around a constant level is never a suspect. */
static void test_churn_is_not_a_leak(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 50; seed++) {
    uint64_t rng = seed;
    lw_site_point_t p[90];
    for (size_t i = 0; i < 90; i++) {
      double noise = (double)(lw_random_next(&rng) % 2000000) - 1000000;
      p[i] = (lw_site_point_t){10.0 * (double)(i + 1), 50e6 + noise, 50e3};
    }
    lw_leak_verdict_t v = judge(p, 90, 100, 2);
    if (v.suspect)
      fail_msg("churn judged a leak (seed %llu): %s", (unsigned long long)seed, v.why);
  }
}

/* A cache that rises for 2 minutes and then stays full: not a suspect at any time after
 * the minimum window. */
static void test_cache_that_levels_off(void **state) {
  (void)state;
  lw_site_point_t p[60];
  for (size_t i = 0; i < 60; i++) {
    double t = 10.0 * (double)(i + 1);
    double level = t < 120 ? t / 120 * 64e6 : 64e6;
    p[i] = (lw_site_point_t){t, level + (double)((i * 7919) % 5) * RATE, level / 1000};
  }
  for (size_t end = 18; end <= 60; end++) { /* from 3 minutes on */
    lw_leak_verdict_t v = judge(p, end, 100, 90);
    if (v.suspect)
      fail_msg("a levelled-off cache judged a leak at %.0f s: %s", p[end - 1].t_seconds, v.why);
  }
  /* Filled and then untouched (no evictions, so it never shrinks): judged levelled off
   * once its quiet time is well past its usual gap between rises. */
  for (size_t i = 0; i < 60; i++)
    p[i].bytes = p[i].t_seconds < 120 ? p[i].t_seconds / 120 * 64e6 : 64e6;
  lw_leak_verdict_t v = judge(p, 60, 100, 90);
  assert_false(v.suspect);
  assert_non_null(strstr(v.why, "levelled off"));
}

static void test_too_young_to_judge(void **state) {
  (void)state;
  lw_site_point_t p[16];
  size_t n = leak_series(p, 2, 10, 8 << 20, 1024, 3);
  lw_leak_verdict_t v = judge(p, n, 5, 5);
  assert_false(v.enough_history);
  assert_false(v.suspect);
  assert_non_null(strstr(v.why, "of history; a verdict needs 3m0s"));
}

/* Growth of one sample's weight in 10 minutes is noise, however straight it looks. */
static void test_growth_within_noise(void **state) {
  (void)state;
  lw_site_point_t p[60];
  for (size_t i = 0; i < 60; i++)
    p[i] = (lw_site_point_t){10.0 * (double)(i + 1), i < 30 ? 1e6 : 1e6 + RATE, 100};
  lw_leak_verdict_t v = judge(p, 60, 2, 2);
  assert_false(v.suspect);
  assert_non_null(strstr(v.why, "noise"));
}

/* A leak that has grown steadily for the whole window reports how long. */
static void test_growing_for(void **state) {
  (void)state;
  lw_site_point_t p[90];
  for (size_t i = 0; i < 90; i++) {
    double t = 10.0 * (double)(i + 1);
    p[i] = (lw_site_point_t){t, t < 300 ? 1e6 : 1e6 + (t - 300) * 100000, 1000};
  }
  lw_leak_verdict_t v = judge(p, 90, 100, 80);
  assert_true(v.suspect);
  assert_true(v.growing_for_seconds > 500 && v.growing_for_seconds < 620);
}

/* Exact counts (descriptors, threads): one leaked per interval is a suspect, phrased in the
 * unit; a pool that fills and holds is not; 3 extra are within the floor of 4. */
static void test_exact_counts(void **state) {
  (void)state;
  lw_leak_verdict_options_t o;
  lw_leak_verdict_defaults(&o);
  o.sampling_rate = 1;
  o.count_unit = "fds";
  lw_site_point_t p[40];
  for (int i = 0; i < 30; i++)
    p[i] = (lw_site_point_t){10.0 * (i + 1), i + 1, i + 1};
  lw_leak_verdict_t v;
  assert_int_equal(lw_leak_verdict(p, 30, 0, 0, &o, &v), 0);
  assert_true(v.suspect);
  assert_int_equal(v.confidence, LW_LEAK_HIGH);
  assert_non_null(strstr(v.why, "grew 29 fds in"));
  assert_non_null(strstr(v.why, "(6 fds/min)"));
  for (int i = 0; i < 30; i++) /* 8 over the first 80 s, then held */
    p[i] = (lw_site_point_t){10.0 * (i + 1), i < 8 ? i + 1 : 8, i < 8 ? i + 1 : 8};
  assert_int_equal(lw_leak_verdict(p, 30, 0, 0, &o, &v), 0);
  assert_false(v.suspect);
  assert_non_null(strstr(v.why, "levelled off"));
  for (int i = 0; i < 30; i++)
    p[i] = (lw_site_point_t){10.0 * (i + 1), 5 + (i >= 15) * 3, 5 + (i >= 15) * 3};
  assert_int_equal(lw_leak_verdict(p, 30, 0, 0, &o, &v), 0);
  assert_false(v.suspect);
  assert_non_null(strstr(v.why, "noise 4 fds"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slow_leak_found_within_five_minutes),
      cmocka_unit_test(test_churn_is_not_a_leak),
      cmocka_unit_test(test_cache_that_levels_off),
      cmocka_unit_test(test_too_young_to_judge),
      cmocka_unit_test(test_growth_within_noise),
      cmocka_unit_test(test_growing_for),
      cmocka_unit_test(test_exact_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
