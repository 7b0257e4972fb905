/*
 * test_diff_sampling.c - `leakwatch diff` on profiles taken at different sampling rates.
 * Allocations of a program with a leaking site, a churning site and a shrinking site are
 * simulated twice (BASE, then later NEW), each run through Go's sampler (a byte countdown
 * drawn from an exponential distribution with mean = rate, FORMATS.md 1.5) at a different
 * rate, scaled with Go's estimator and written as heap profiles. diff must recover the true
 * growth of each site from the two estimates, mark the leak "only grew" and the others not.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/profile_io.h"
#include "common/profile.h"

static char dir[] = "/tmp/lw-diff-XXXXXX";

/* xorshift64*: deterministic, so the test always sees the same samples. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double uniform(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

typedef struct {
  const char *name;
  int64_t size;
  int64_t allocated; /* objects allocated since start */
  int64_t live;      /* of which the last `live` are still live */
} site_spec_t;

typedef struct {
  double next; /* bytes until the next sample */
  double rate;
} sampler_t;

static bool sample(sampler_t *s, int64_t size) {
  if ((double)size < s->next) {
    s->next -= (double)size;
    return false;
  }
  s->next = -log(1.0 - uniform()) * s->rate;
  return true;
}

/* Go's scaleHeapSample. */
static void scale(int64_t count, int64_t bytes, double rate, int64_t *out_count, int64_t *out_bytes) {
  if (count == 0 || bytes == 0) {
    *out_count = *out_bytes = 0;
    return;
  }
  double avg = (double)bytes / (double)count;
  double factor = 1 / (1 - exp(-avg / rate));
  *out_count = (int64_t)((double)count * factor);
  *out_bytes = (int64_t)((double)bytes * factor);
}

static void write_profile(const char *path, const site_spec_t *sites, size_t n, double rate) {
  lw_profile_t p;
  lw_profile_init(&p, &lw_libc_allocator);
  lw_profile_set_heap_layout(&p, (int64_t)rate);
  uint64_t main_fn = lw_profile_add_function(&p, lw_profile_string(&p, "main"),
                                             lw_profile_string(&p, "main"),
                                             lw_profile_string(&p, "/src/app.c"), 1);
  lw_profile_line_t main_line = {main_fn, 10, 0};
  uint64_t main_loc = lw_profile_add_location(&p, 0, 0x1000, &main_line, 1);
  sampler_t sampler = {0, rate};
  sampler.next = -log(1.0 - uniform()) * rate;
  for (size_t i = 0; i < n; i++) {
    int64_t raw_alloc = 0, raw_live = 0;
    for (int64_t k = 0; k < sites[i].allocated; k++) {
      if (!sample(&sampler, sites[i].size))
        continue;
      raw_alloc++;
      raw_live += k >= sites[i].allocated - sites[i].live;
    }
    int64_t v[4];
    scale(raw_alloc, raw_alloc * sites[i].size, rate, &v[0], &v[1]);
    scale(raw_live, raw_live * sites[i].size, rate, &v[2], &v[3]);
    uint64_t fn = lw_profile_add_function(&p, lw_profile_string(&p, sites[i].name),
                                          lw_profile_string(&p, sites[i].name),
                                          lw_profile_string(&p, "/src/app.c"), 20 + (int64_t)i);
    lw_profile_line_t line = {fn, 21 + (int64_t)i, 0};
    uint64_t stack[2] = {lw_profile_add_location(&p, 0, 0x2000 + i * 16, &line, 1), main_loc};
    assert_int_equal(lw_profile_add_sample(&p, stack, 2, v, 4, NULL, 0), 0);
  }
  char error[512];
  assert_int_equal(lw_cli_save_profile(path, &p, error, sizeof error), 0);
  lw_profile_free(&p);
}

static double query(const char *command) {
  FILE *f = popen(command, "r");
  assert_non_null(f);
  char out[256] = "";
  if (!fgets(out, sizeof out, f))
    out[0] = '\0';
  assert_int_equal(pclose(f), 0);
  return strtod(out, NULL);
}

static void query_text(const char *command, char *out, size_t size) {
  FILE *f = popen(command, "r");
  assert_non_null(f);
  if (!fgets(out, (int)size, f))
    out[0] = '\0';
  out[strcspn(out, "\n")] = '\0';
  assert_int_equal(pclose(f), 0);
}

static void check(double base_rate, double new_rate) {
  const int64_t KiB = 1024;
  /* BASE: leak holds 50k x 4 KiB; churn allocated 100k x 2 KiB keeping 10k; shrink holds
   * 20k x 8 KiB. NEW (later): leak 100k all live, churn 200k keeping 10k, shrink 5k live. */
  const site_spec_t base[] = {{"leak", 4 * KiB, 50000, 50000},
                              {"churn", 2 * KiB, 100000, 10000},
                              {"shrink", 8 * KiB, 20000, 20000}};
  const site_spec_t now[] = {{"leak", 4 * KiB, 100000, 100000},
                             {"churn", 2 * KiB, 200000, 10000},
                             {"shrink", 8 * KiB, 20000, 5000}};
  char a[4096], b[4096], command[16384], text[256];
  snprintf(a, sizeof a, "%s/base.pb.gz", dir);
  snprintf(b, sizeof b, "%s/new.pb.gz", dir);
  write_profile(a, base, 3, base_rate);
  write_profile(b, now, 3, new_rate);
  const char *names[] = {"leak", "churn", "shrink"};
  const double truth[] = {50000.0 * 4096, 0, -15000.0 * 8192};
  const double tolerance[] = {0.15 * 50000 * 4096, 0.15 * 10000 * 2048, 0.2 * 15000 * 8192};
  for (int i = 0; i < 3; i++) {
    snprintf(command, sizeof command,
             "%s/bin/leakwatch diff --json '%s' '%s' | jq -r '.changes[] | select(.frames[0] | "
             "startswith(\"%s \")) | .delta'",
             LW_BUILD_DIR, a, b, names[i]);
    double delta = query(command);
    if (fabs(delta - truth[i]) > tolerance[i])
      fail_msg("rates %.0f -> %.0f: %s grew by %.0f, true %.0f", base_rate, new_rate, names[i],
               delta, truth[i]);
    snprintf(command, sizeof command,
             "%s/bin/leakwatch diff --json --all '%s' '%s' | jq -r '.changes[] | "
             "select(.frames[0] | startswith(\"%s \")) | .status'",
             LW_BUILD_DIR, a, b, names[i]);
    query_text(command, text, sizeof text);
    if (i == 0)
      assert_string_equal(text, "only grew");
    else
      assert_string_not_equal(text, "only grew");
    if (i == 2)
      assert_string_equal(text, "shrank");
  }
  snprintf(command, sizeof command, "%s/bin/leakwatch diff --json '%s' '%s' | jq -r .rates_differ",
           LW_BUILD_DIR, a, b);
  query_text(command, text, sizeof text);
  assert_string_equal(text, base_rate != new_rate ? "true" : "false");
  /* The table says so too, and lists the leak first. */
  snprintf(command, sizeof command,
           "%s/bin/leakwatch diff '%s' '%s' | grep -c 'sampled at different rates'", LW_BUILD_DIR,
           a, b);
  if (base_rate != new_rate)
    assert_int_equal((int)query(command), 1);
  snprintf(command, sizeof command,
           "%s/bin/leakwatch diff '%s' '%s' | awk '/^ +change/ {getline; print}' | grep -c "
           "'only grew  leak app.c:21'",
           LW_BUILD_DIR, a, b);
  assert_int_equal((int)query(command), 1);
}

static void test_different_rates(void **state) {
  (void)state;
  check(512 * 1024, 64 * 1024);
  check(32 * 1024, 512 * 1024);
}

static void test_same_rate_exact(void **state) {
  (void)state;
  check(1, 1); /* rate 1 records everything: estimates are the truth */
}

static int setup(void **state) {
  (void)state;
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char command[256];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  return system(command) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_different_rates),
      cmocka_unit_test(test_same_rate_exact),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
