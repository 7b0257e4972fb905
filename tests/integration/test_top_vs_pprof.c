/*
 * test_top_vs_pprof.c - `leakwatch top` must give the numbers `go tool pprof -top` gives for
 * the same file: per function flat and cum, the total, and which rows the node-fraction
 * cutoff keeps, for every sample type, with --cum, --focus and --ignore. Checked on Go's
 * reference profiles and on one of ours: a profile of the symbolize_probe fixture with
 * recursion, inline frames, a shared library and samples that are zero in some columns.
 * The raw (address-only) copy must give the same answer, since top symbolizes it first.
 */
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
#include "cli/symbolize.h"
#include "probe_profile.h"

static char dir[] = "/tmp/lw-top-pprof-XXXXXX";

/* Runs a shell command and returns its stdout (malloc'ed); fails the test on exit != 0. */
static char *capture(const char *command) {
  FILE *f = popen(command, "r");
  assert_non_null(f);
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  size_t n;
  while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (len + 1 == cap)
      out = realloc(out, cap *= 2);
  }
  out[len] = '\0';
  int rc = pclose(f);
  if (rc != 0)
    fail_msg("exit %d: %s", rc, command);
  return out;
}

/* A percentage as pprof prints it: "58.95%", "100%", "0.0058%", "3.7e-05%". */
#define PCT "[0-9.e+-]+%"

/* Compares `leakwatch top` with `go tool pprof -top` for one file and option set. The rows
 * are "name<TAB>flat<TAB>cum", sorted, so ties in order cannot matter; totals separately. */
static void compare(const char *file, const char *ours, const char *theirs) {
  char command[8192];
  snprintf(command, sizeof command,
           "%s/bin/leakwatch top --json %s '%s' | jq -r '.rows[] | [.name, .flat, .cum, .inline] | @tsv' "
           "| LC_ALL=C sort",
           LW_BUILD_DIR, ours, file);
  char *a = capture(command);
  snprintf(command, sizeof command,
           "cd %s && HOME=%s go tool pprof -top -unit=B %s '%s' 2>/dev/null | "
           "sed -nE -e 's/^ *(-?[0-9]+)B? +%s +%s +(-?[0-9]+)B? +%s  (.*) "
           "\\(((partial-)?inline)\\)$/\\3\\t\\1\\t\\2\\t(\\4)/p; t' "
           "-e 's/^ *(-?[0-9]+)B? +%s +%s +(-?[0-9]+)B? +%s  (.*)$/\\3\\t\\1\\t\\2\\t/p' "
           "| LC_ALL=C sort",
           dir, dir, theirs, file, PCT, PCT, PCT, PCT, PCT, PCT);
  char *b = capture(command);
  if (strcmp(a, b) != 0)
    fail_msg("leakwatch top %s and go tool pprof -top %s differ on %s:\n--- leakwatch\n%s--- "
             "pprof\n%s",
             ours, theirs, file, a, b);
  assert_true(strlen(a) > 0);
  free(a);
  free(b);
  snprintf(command, sizeof command, "%s/bin/leakwatch top --json %s '%s' | jq -r .total",
           LW_BUILD_DIR, ours, file);
  a = capture(command);
  snprintf(command, sizeof command,
           "cd %s && HOME=%s go tool pprof -top -unit=B %s '%s' 2>/dev/null | "
           "sed -nE 's/^Showing nodes accounting for .* of ([0-9]+)B? total$/\\1/p'",
           dir, dir, theirs, file);
  b = capture(command);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

static void compare_all(const char *file, const char *focus, const char *ignore) {
  const char *types[] = {"inuse_space", "inuse_objects", "alloc_space", "alloc_objects"};
  char ours[512], theirs[512];
  compare(file, "", "");
  compare(file, "--node-fraction 0", "-nodefraction=0");
  for (int i = 0; i < 4; i++) {
    snprintf(ours, sizeof ours, "--sample %s --node-fraction 0", types[i]);
    snprintf(theirs, sizeof theirs, "-sample_index=%s -nodefraction=0", types[i]);
    compare(file, ours, theirs);
    snprintf(ours, sizeof ours, "--sample %s --cum", types[i]);
    snprintf(theirs, sizeof theirs, "-sample_index=%s -cum", types[i]);
    compare(file, ours, theirs);
  }
  snprintf(ours, sizeof ours, "--focus '%s' --node-fraction 0", focus);
  snprintf(theirs, sizeof theirs, "-focus='%s' -nodefraction=0", focus);
  compare(file, ours, theirs);
  snprintf(ours, sizeof ours, "--ignore '%s'", ignore);
  snprintf(theirs, sizeof theirs, "-ignore='%s'", ignore);
  compare(file, ours, theirs);
  snprintf(ours, sizeof ours, "--focus '%s' --ignore '%s' --sample alloc_space", focus, ignore);
  snprintf(theirs, sizeof theirs, "-focus='%s' -ignore='%s' -sample_index=alloc_space", focus,
           ignore);
  compare(file, ours, theirs);
}

static void test_go_reference_profiles(void **state) {
  (void)state;
  char file[4096];
  snprintf(file, sizeof file, "%s/tests/data/reference/go-heap-example.pb.gz", LW_SOURCE_DIR);
  compare_all(file, "main\\.main", "leakBig");
  snprintf(file, sizeof file, "%s/tests/data/reference/go-heap-rate1.pb.gz", LW_SOURCE_DIR);
  compare_all(file, "runtime", "growCache|churn");
}

/* Stacks over the fixture's real addresses: enough shape to exercise every rule. */
static void add_stacks(lw_profile_t *p, const probe_run_t *run) {
  uint64_t grow = probe_find(run, "cxx_method")->location_id;
  uint64_t inl = probe_find(run, "inlined")->location_id;
  uint64_t twice = probe_find(run, "template")->location_id;
  uint64_t lib = probe_find(run, "lib_static")->location_id;
  uint64_t outer = probe_find(run, "lwtest::outer_fn()")->location_id;
  uint64_t entry = probe_find(run, "lw_probe_lib_entry")->location_id;
  struct {
    uint64_t stack[5];
    size_t n;
    int64_t values[4];
  } samples[] = {
      {{inl, grow}, 2, {10, 40960, 4, 16384}},
      {{lib, entry, outer}, 3, {3, 3 << 20, 3, 3 << 20}},
      {{twice, outer}, 2, {100, 6400, 0, 0}},          /* all freed: zero in-use */
      {{grow, twice, grow, outer}, 4, {7, 7000, 7, 7000}}, /* recursion: cum once */
      {{outer}, 1, {1, 512, 1, 512}},
      {{inl, twice, inl}, 3, {2, 2 << 20, 1, 1 << 20}},   /* inlined chain twice */
      {{entry}, 1, {5, 50, 5, 50}},                       /* tiny: under the cutoff */
  };
  for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
    assert_int_equal(lw_profile_add_sample(p, samples[i].stack, samples[i].n, samples[i].values, 4,
                                           NULL, 0),
                     0);
}

static void test_our_profile(void **state) {
  (void)state;
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  add_stacks(&p, &run);
  char raw[4096], sym[4096], error[512];
  snprintf(raw, sizeof raw, "%s/raw.pb.gz", dir);
  snprintf(sym, sizeof sym, "%s/symbolized.pb.gz", dir);
  assert_int_equal(lw_cli_save_profile(raw, &p, error, sizeof error), 0);
  assert_int_equal(lw_symbolize_profile(&p, NULL, NULL), 0);
  assert_int_equal(lw_cli_save_profile(sym, &p, error, sizeof error), 0);
  compare_all(sym, "outer_fn", "lib_static|inline_mid");

  /* The raw profile gives the same table: top symbolizes it on the way in. */
  char command[8192];
  snprintf(command, sizeof command, "%s/bin/leakwatch top --json '%s' | jq -c .rows", LW_BUILD_DIR,
           raw);
  char *a = capture(command);
  snprintf(command, sizeof command, "%s/bin/leakwatch top --json '%s' | jq -c .rows", LW_BUILD_DIR,
           sym);
  char *b = capture(command);
  assert_string_equal(a, b);
  assert_non_null(strstr(a, "lwtest::inline_leaf"));
  free(a);
  free(b);
  lw_profile_free(&p);
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
      cmocka_unit_test(test_go_reference_profiles),
      cmocka_unit_test(test_our_profile),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
