/*
 * test_stress.c - the agent under the stress fixture (tests/fixtures/stress.c): 8 threads
 * using every allocation function, frees from other threads, realloc chains, a fork storm
 * and signal handlers that allocate, for a bounded time, at the default rate and in exact
 * mode. The host must finish with status 0 (no crash, no hang: the fixture's watchdog and
 * its fork-child deadline), every counter check the fixture makes must pass, and the
 * profiles it and its children wrote must be readable. And, alone, the hazard that made the
 * storm's live-object check fail about 1 run in 6: a signal handler allocating in the middle
 * of the agent's counting of a realloc (tests/fixtures/signal_counts.c).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The harness is header-only; this test uses a few of its helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "agent_harness.h"

#define STRESS_SECONDS "5"

static void run_stress(const char *rate) {
  char dir[64], output[128];
  harness_temp_dir(dir, sizeof dir);
  snprintf(output, sizeof output, "%s/heap.pb.gz", dir);
  const char *args[] = {STRESS_SECONDS, NULL};
  fixture_run_t run;
  assert_int_equal(harness_run("stress", args, rate, output, NULL, &run), 0);
  print_message("%s", run.out);
  if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    fail_msg("stress at rate %s: status %d", rate, run.status);
  assert_non_null(strstr(run.out, "stress: passed"));
  assert_null(strstr(run.out, "FAIL"));
  assert_non_null(strstr(run.out, "ok live objects back to the baseline"));
  if (strcmp(rate, "1") == 0)
    assert_non_null(strstr(run.out, "ok calls and live table agree"));

  /* The process's profile and those of the children that ran their exit handlers. */
  lw_profile_t profile;
  harness_load(output, &profile);
  assert_true(profile.n_samples > 0);
  lw_profile_free(&profile);
  harness_pprof_reads(output);
  DIR *d = opendir(dir);
  assert_non_null(d);
  int children = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "heap.pb.gz.", 11) != 0)
      continue;
    assert_null(strstr(e->d_name, ".tmp.")); /* no half-written file left behind */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    harness_load(path, &profile);
    lw_profile_free(&profile);
    children++;
  }
  closedir(d);
  if (children < 1)
    fail_msg("no fork child wrote its profile");
  char command[128];
  snprintf(command, sizeof command, "rm -rf %s", dir);
  assert_int_equal(system(command), 0);
}

static void test_stress_sampled(void **state) {
  (void)state;
  run_stress("512k");
}

static void test_stress_exact(void **state) {
  (void)state;
  run_stress("1");
}

/* Every block the handlers kept is a live object: none of their calls lost. */
static void run_signal_counts(const char *rate) {
  const char *args[] = {"2", NULL};
  fixture_run_t run;
  assert_int_equal(harness_run("signal_counts", args, rate, NULL, NULL, &run), 0);
  print_message("%s", run.out);
  if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    fail_msg("signal_counts at rate %s: status %d: %s", rate, run.status, run.out);
}

static void test_signal_counts_sampled(void **state) {
  (void)state;
  run_signal_counts("512k");
}

static void test_signal_counts_exact(void **state) {
  (void)state;
  run_signal_counts("1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stress_sampled),
      cmocka_unit_test(test_stress_exact),
      cmocka_unit_test(test_signal_counts_sampled),
      cmocka_unit_test(test_signal_counts_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
