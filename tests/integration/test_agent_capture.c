/*
 * test_agent_capture.c - the capture core end to end: fixture programs with known leaks run
 * under libleakwatch.so, in exact mode (LEAKWATCH_RATE=1, numbers must match exactly) and
 * sampled mode (estimates within tolerance), and every profile is read by `go tool pprof`.
 * One test per hazard: depths, every allocation function, realloc chains, C++ new/new[],
 * dlopen (with and without dlclose), threads, constructors before main, mmap-sized blocks,
 * fork, and a churning program with no leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "agent_harness.h"

typedef struct {
  char dir[64];
  char profile_path[128];
  lw_profile_t profile;
  fixture_run_t run;
} test_context_t;

/* Runs a fixture under the agent and loads what it wrote; checks pprof reads it. */
static void run_and_load(test_context_t *t, const char *fixture, const char *const *args,
                         const char *rate) {
  harness_temp_dir(t->dir, sizeof t->dir);
  snprintf(t->profile_path, sizeof t->profile_path, "%s/heap.pb.gz", t->dir);
  assert_int_equal(harness_run(fixture, args, rate, t->profile_path, NULL, &t->run), 0);
  if (!WIFEXITED(t->run.status) || WEXITSTATUS(t->run.status) != 0)
    fail_msg("%s exited with status %d", fixture, t->run.status);
  harness_load(t->profile_path, &t->profile);
  harness_pprof_reads(t->profile_path);
}

static void cleanup(test_context_t *t) {
  lw_profile_free(&t->profile);
  char command[256];
  snprintf(command, sizeof command, "rm -rf %s", t->dir);
  assert_int_equal(system(command), 0);
}

static void expect_site(const lw_profile_t *p, const char *function, int64_t objects,
                        int64_t bytes) {
  site_values_t v = harness_site(p, function);
  if (v.inuse_objects != objects || v.inuse_space != bytes)
    fail_msg("%s: expected %lld objects / %lld bytes in use, profile has %lld / %lld", function,
             (long long)objects, (long long)bytes, (long long)v.inuse_objects,
             (long long)v.inuse_space);
}

static void test_depths_exact(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "leak_depths", NULL, "1");
  assert_int_equal(t.profile.period, 1);
  expect_site(&t.profile, "shallow_leak", 10, 1000);
  expect_site(&t.profile, "chain_leaf", 20, 4000);
  expect_site(&t.profile, "deep_leaf", 5, 1500);
  const char *chain[] = {"chain_leaf", "chain_5", "chain_4", "chain_3", "chain_2", "chain_1",
                         "main"};
  assert_true(harness_has_chain(&t.profile, chain, 7));
  const char *deep[23] = {"deep_leaf"};
  for (int i = 1; i <= 21; i++)
    deep[i] = "descend";
  deep[22] = "main";
  assert_true(harness_has_chain(&t.profile, deep, 23));
  /* The 1000 freed blocks allocated in main are not live; nothing else is. */
  assert_int_equal(harness_total_inuse(&t.profile), 6500);
  site_values_t freed = harness_site(&t.profile, "main");
  assert_int_equal(freed.alloc_objects, 10 + 20 + 5 + 1000 + 1); /* + the kept[] array */
  cleanup(&t);
}

/* Sampled mode: estimates of 1, 4 and 1.5 MB leaks at a 16 KiB rate (61 to 244 samples per
 * site, one standard error 6-13%) must be within 50%: about 4 standard errors for the
 * smallest site, so the test does not flake. */
static void test_depths_sampled(void **state) {
  (void)state;
  test_context_t t;
  const char *args[] = {"1000", NULL};
  run_and_load(&t, "leak_depths", args, "16k");
  assert_int_equal(t.profile.period, 16384);
  struct {
    const char *function;
    double bytes;
  } expected[] = {{"shallow_leak", 1000000}, {"chain_leaf", 4000000}, {"deep_leaf", 1500000}};
  for (size_t i = 0; i < 3; i++) {
    site_values_t v = harness_site(&t.profile, expected[i].function);
    double ratio = (double)v.inuse_space / expected[i].bytes;
    if (ratio < 0.5 || ratio > 1.5)
      fail_msg("%s: estimated %lld bytes, true %.0f (ratio %.2f)", expected[i].function,
               (long long)v.inuse_space, expected[i].bytes, ratio);
    /* Objects: sizes are fixed per site, so objects = bytes / size. */
    assert_true(v.inuse_objects > 0);
  }
  const char *chain[] = {"chain_leaf", "chain_5", "chain_4", "chain_3", "chain_2", "chain_1"};
  assert_true(harness_has_chain(&t.profile, chain, 6));
  cleanup(&t);
}

static void test_every_allocation_function(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "alloc_functions", NULL, "1");
  assert_non_null(strstr(t.run.out, "usable_ok"));
  expect_site(&t.profile, "via_malloc", 1, 101);
  expect_site(&t.profile, "via_calloc", 1, 201);
  expect_site(&t.profile, "via_realloc", 1, 401);
  expect_site(&t.profile, "via_reallocarray", 1, 511);
  expect_site(&t.profile, "via_posix_memalign", 1, 601);
  expect_site(&t.profile, "via_aligned_alloc", 1, 704);
  expect_site(&t.profile, "via_memalign", 1, 801);
  expect_site(&t.profile, "via_valloc", 1, 901);
  expect_site(&t.profile, "via_pvalloc", 1, 1001);
  expect_site(&t.profile, "via_strdup", 1, 1101);
  /* The realloc site allocated twice (malloc(10), then the realloc that replaced it). */
  assert_int_equal(harness_site(&t.profile, "via_realloc").alloc_objects, 2);
  cleanup(&t);
}

static void test_realloc_chain(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "realloc_chain", NULL, "1");
  site_values_t leaked = harness_site(&t.profile, "grow_leaked");
  assert_int_equal(leaked.inuse_objects, 1);
  assert_int_equal(leaked.inuse_space, 100000);
  assert_int_equal(leaked.alloc_objects, 100);
  site_values_t freed = harness_site(&t.profile, "grow_freed");
  assert_int_equal(freed.inuse_objects, 0);
  assert_int_equal(freed.alloc_objects, 50);
  cleanup(&t);
}

static void test_cxx_new(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "cxx_new", NULL, "1");
  expect_site(&t.profile, "make_widgets", 5, 5 * 48);
  expect_site(&t.profile, "make_arrays", 2, 2000);
  expect_site(&t.profile, "use_vector", 0, 0);
  /* 3 x new char[64] plus the vector's final buffer of 4 pointers (it grew 1, 2, 4). */
  expect_site(&t.profile, "store::Registry::add", 4, 3 * 64 + 32);
  const char *chain[] = {"operator new", "make_widgets", "main"};
  assert_true(harness_has_chain(&t.profile, chain, 3));
  /* libstdc++'s operator new[] tail-calls operator new, so its own frame is gone from every
   * unwinder's view: the stack reads operator new <- make_arrays. */
  const char *arrays[] = {"operator new", "make_arrays", "main"};
  assert_true(harness_has_chain(&t.profile, arrays, 3));
  cleanup(&t);
}

static void dlopen_case(const char *mode) {
  test_context_t t;
  const char *args[] = {mode, NULL};
  run_and_load(&t, "dlopen_leak", mode ? args : NULL, "1");
  expect_site(&t.profile, "plugin_leak", 7, 7 * 4096);
  /* The leak's frames are attributed to the plugin's file even after dlclose. */
  bool found = false;
  for (size_t i = 0; i < t.profile.n_mappings; i++)
    if (strstr(lw_profile_str(&t.profile, t.profile.mappings[i].filename), "libplugin_leak.so"))
      found = true;
  assert_true(found);
  cleanup(&t);
}

static void test_dlopen_leak(void **state) {
  (void)state;
  dlopen_case(NULL);
}

static void test_dlopen_leak_after_dlclose(void **state) {
  (void)state;
  dlopen_case("close");
}

static void test_one_leaking_thread_among_eight(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "threads_leak", NULL, "1");
  expect_site(&t.profile, "leaky_worker", 100, 51200);
  site_values_t churn = harness_site(&t.profile, "churn_worker");
  assert_int_equal(churn.inuse_objects, 0);
  assert_int_equal(churn.alloc_objects, 8 * 200000);
  cleanup(&t);
}

static void test_constructors_before_main(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "ctor_leak", NULL, "1");
  expect_site(&t.profile, "constructor_leak", 3, 999);
  expect_site(&t.profile, "library_constructor_leak", 4, 1776);
  /* Freed by an atexit handler, which runs before the profile is written. */
  expect_site(&t.profile, "atexit_freed_block", 0, 0);
  cleanup(&t);
}

static void test_large_blocks(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "large_blocks", NULL, "1");
  expect_site(&t.profile, "big_malloc_leak", 3, 3 << 20);
  expect_site(&t.profile, "big_calloc_leak", 1, 16 << 20);
  expect_site(&t.profile, "big_freed", 0, 0);
  assert_int_equal(harness_site(&t.profile, "big_freed").alloc_space, 8 << 20);
  cleanup(&t);
  /* At the default rate a 16 MiB block is sampled with probability 1 - e^-32. */
  run_and_load(&t, "large_blocks", NULL, NULL);
  expect_site(&t.profile, "big_calloc_leak", 1, 16 << 20);
  cleanup(&t);
}

static void test_fork_child_writes_its_own_profile(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "fork_leak", NULL, "1");
  expect_site(&t.profile, "parent_leak", 10, 10000);
  expect_site(&t.profile, "child_leak", 0, 0);
  const char *child_text = strstr(t.run.out, "child=");
  assert_non_null(child_text);
  int child_pid = atoi(child_text + 6);
  char child_path[256];
  snprintf(child_path, sizeof child_path, "%s.%d", t.profile_path, child_pid);
  lw_profile_t child;
  harness_load(child_path, &child);
  expect_site(&child, "parent_leak", 10, 10000); /* inherited */
  expect_site(&child, "child_leak", 20, 40000);
  harness_pprof_reads(child_path);
  lw_profile_free(&child);
  cleanup(&t);
}

static void test_exec_child_gets_fresh_agent(void **state) {
  (void)state;
  test_context_t t;
  harness_temp_dir(t.dir, sizeof t.dir);
  snprintf(t.profile_path, sizeof t.profile_path, "%s/heap.pb.gz", t.dir);
  assert_int_equal(harness_run("exec_child", NULL, "1", t.profile_path, NULL, &t.run), 0);
  assert_true(WIFEXITED(t.run.status) && WEXITSTATUS(t.run.status) == 0);
  const char *child_text = strstr(t.run.out, "child=");
  assert_non_null(child_text);
  char child_path[256];
  snprintf(child_path, sizeof child_path, "%s.%d", t.profile_path, atoi(child_text + 6));
  lw_profile_t child;
  harness_load(child_path, &child);
  expect_site(&child, "chain_leaf", 20, 4000); /* leak_depths ran under its own agent */
  lw_profile_free(&child);
  harness_load(t.profile_path, &t.profile); /* the parent's own profile was not overwritten */
  expect_site(&t.profile, "chain_leaf", 0, 0);
  cleanup(&t);
}

/* LD_PRELOAD="libleakwatch.so libjemalloc.so.2": the agent forwards to jemalloc and still
 * sees every allocation. */
static void test_composes_with_jemalloc(void **state) {
  (void)state;
  const char *jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
  if (access(jemalloc, R_OK) != 0)
    fail_msg("%s is missing (scripts/setup.sh installs libjemalloc2)", jemalloc);
  test_context_t t;
  harness_temp_dir(t.dir, sizeof t.dir);
  snprintf(t.profile_path, sizeof t.profile_path, "%s/heap.pb.gz", t.dir);
  char preload[256];
  snprintf(preload, sizeof preload, "LD_PRELOAD=%s %s", HARNESS_AGENT, jemalloc);
  const char *env[] = {preload, NULL};
  assert_int_equal(harness_run("allocator_probe", NULL, "1", t.profile_path, env, &t.run), 0);
  assert_true(WIFEXITED(t.run.status) && WEXITSTATUS(t.run.status) == 0);
  assert_string_equal(t.run.out, "jemalloc\n");
  harness_load(t.profile_path, &t.profile);
  expect_site(&t.profile, "probe_leak", 12, 36000);
  harness_pprof_reads(t.profile_path);
  cleanup(&t);
}

/* lw_stats counts exactly (1000 mallocs, 600 frees, 100000 bytes between two calls) and
 * lw_write_profile writes a profile on demand while the program runs. */
static void test_public_api(void **state) {
  (void)state;
  test_context_t t;
  harness_temp_dir(t.dir, sizeof t.dir);
  snprintf(t.profile_path, sizeof t.profile_path, "%s/now.pb.gz", t.dir);
  const char *args[] = {t.profile_path, NULL};
  /* 1 MB live at a 64 KiB rate: ~15 samples expected, none with probability e^-15. */
  assert_int_equal(harness_run("stats_api", args, "64k", NULL, NULL, &t.run), 0);
  assert_true(WIFEXITED(t.run.status) && WEXITSTATUS(t.run.status) == 0);
  assert_non_null(strstr(t.run.out, "malloc_calls=1000 free_calls=600 bytes_requested=100000"));
  assert_non_null(strstr(t.run.out, "sampling_enabled=1"));
  assert_non_null(strstr(t.run.out, "profiles_written=1"));
  harness_load(t.profile_path, &t.profile);
  site_values_t kept = harness_site(&t.profile, "kept_by_api");
  double ratio = (double)kept.inuse_space / 1000000.0;
  if (ratio < 0.3 || ratio > 1.7) /* 15 samples: +-26% is one standard error */
    fail_msg("kept_by_api: estimated %lld bytes live, true 1000000", (long long)kept.inuse_space);
  harness_pprof_reads(t.profile_path);
  cleanup(&t);
}

/* The stack table is bounded: past LEAKWATCH_MAX_STACKS samples go to one overflow bucket,
 * counted, said once, and visible in the profile. */
static void test_stack_table_bound(void **state) {
  (void)state;
  test_context_t t;
  harness_temp_dir(t.dir, sizeof t.dir);
  snprintf(t.profile_path, sizeof t.profile_path, "%s/heap.pb.gz", t.dir);
  char api_path[128];
  snprintf(api_path, sizeof api_path, "%s/api.pb.gz", t.dir);
  const char *args[] = {api_path, "many-stacks", NULL};
  const char *env[] = {"LEAKWATCH_MAX_STACKS=100", NULL};
  assert_int_equal(harness_run("stats_api", args, "1", t.profile_path, env, &t.run), 0);
  assert_true(WIFEXITED(t.run.status) && WEXITSTATUS(t.run.status) == 0);
  assert_non_null(strstr(t.run.out, "stacks=99 "));
  const char *dropped = strstr(t.run.out, "dropped_stacks=");
  assert_non_null(dropped);
  assert_true(atoll(dropped + 15) > 4000);
  harness_load(t.profile_path, &t.profile);
  site_values_t overflow = harness_site(&t.profile, "[stack table full]");
  assert_true(overflow.alloc_objects > 4000);
  harness_pprof_reads(t.profile_path);
  cleanup(&t);
}

/* What the agent may say when a mapping fails: it stopped sampling (and says so in its
 * stats too), or one named thing it could not do. A failure it keeps quiet about fails. */
static const char *const fault_explanations[] = {
    "sampling stopped: ",          /* tables: the agent is a pass-through from then on */
    "live table limited to ",      /* a smaller live table reserved instead */
    "cannot write heap profile ",  /* the exit profile */
    "lw_write_profile failed: ",   /* the host's own call said so (fault_host prints it) */
    "reachability not computed ",  /* the exit profile has no reachability labels */
    "out of memory while reading the symbols ", /* fewer names in the profile */
    "out of memory to keep the mappings of unloaded ", /* a dlclose'd library's frames */
};

static bool fault_explained(const fixture_run_t *run) {
  for (size_t i = 0; i < sizeof fault_explanations / sizeof fault_explanations[0]; i++)
    if (strstr(run->err, fault_explanations[i]))
      return true;
  return false;
}

/* Runs fault_host with `variable`=n for n = 1, 2, ... until a run injects nothing (the
 * agent announces the first failure it injects), so every one of the agent's mappings
 * fails in turn. Every run must print what a run without faults prints and exit 0, the
 * agent must explain itself on stderr, and an exit profile, when written, must load.
 * Returns the number of mappings the workload made. */
static int fail_every_mapping(const char *variable, const char *expected_out) {
  char dir[64];
  harness_temp_dir(dir, sizeof dir);
  int n;
  for (n = 1; n < 2000; n++) {
    char fault[64], output[128];
    snprintf(fault, sizeof fault, "%s=%d", variable, n);
    snprintf(output, sizeof output, "%s/f%d.pb.gz", dir, n);
    const char *env[] = {fault, NULL};
    fixture_run_t run;
    assert_int_equal(harness_run("fault_host", NULL, "1", output, env, &run), 0);
    if (!strstr(run.err, "LEAKWATCH_FAULT_MMAP: the agent's mapping number"))
      break; /* past the last mapping: nothing was injected */
    if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
      fail_msg("%s: the host failed (status %d); stderr:\n%s", fault, run.status, run.err);
    if (strcmp(run.out, expected_out) != 0)
      fail_msg("%s: the host printed\n%s instead of\n%s", fault, run.out, expected_out);
    if (!fault_explained(&run))
      fail_msg("%s: the agent did not say what the failure cost; stderr:\n%s", fault, run.err);
    if (strstr(run.err, "sampling stopped: ") && !strstr(run.err, "agent: sampling_enabled=0"))
      fail_msg("%s: sampling stopped but lw_stats says otherwise; stderr:\n%s", fault, run.err);
    if (access(output, F_OK) == 0) {
      lw_profile_t profile;
      harness_load(output, &profile);
      lw_profile_free(&profile);
    }
  }
  char command[128];
  snprintf(command, sizeof command, "ls %s | grep -q '\\.tmp\\.'", dir);
  if (system(command) == 0)
    fail_msg("%s: a temporary profile was left behind in %s", variable, dir);
  snprintf(command, sizeof command, "rm -rf %s", dir);
  assert_int_equal(system(command), 0);
  return n - 1;
}

/* The agent's own memory fails at every point in turn, once (LEAKWATCH_FAULT_MMAP) and for
 * good from there on (LEAKWATCH_FAULT_MMAP_FROM): the program always completes with the
 * same output and status, and the agent says what it gave up instead of crashing. */
static void test_agent_memory_failures_spare_the_host(void **state) {
  (void)state;
  fixture_run_t plain, clean;
  const char *disabled[] = {"LEAKWATCH_ENABLE=0", NULL};
  assert_int_equal(harness_run("fault_host", NULL, "1", NULL, disabled, &plain), 0);
  assert_true(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 0);
  assert_int_equal(harness_run("fault_host", NULL, "1", NULL, NULL, &clean), 0);
  assert_string_equal(clean.out, plain.out);
  assert_non_null(strstr(clean.err, "agent: sampling_enabled=1"));
  int once = fail_every_mapping("LEAKWATCH_FAULT_MMAP", plain.out);
  int from = fail_every_mapping("LEAKWATCH_FAULT_MMAP_FROM", plain.out);
  print_message("agent mappings failed in turn: %d (once), %d (from there on)\n", once, from);
  /* The workload grows every table: far more than the few mappings made at start. */
  assert_true(once > 50);
  assert_true(from > 50);
}

static void expect_class(const lw_profile_t *p, const char *function, const char *class,
                         int64_t objects, int64_t bytes) {
  site_values_t v = harness_site_labelled(p, function, "reachability", class);
  if (v.inuse_objects != objects || v.inuse_space != bytes)
    fail_msg("%s %s: expected %lld objects / %lld bytes, profile has %lld / %lld", function, class,
             (long long)objects, (long long)bytes, (long long)v.inuse_objects,
             (long long)v.inuse_space);
}

/* Exact mode classifies what is live at exit like LeakSanitizer: a dropped list is one
 * direct leak and the rest indirect; what globals still point to is reachable. */
static void test_reachability_at_exit(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "reachability", NULL, "1");
  expect_class(&t.profile, "build_and_drop_list", "definitely_lost", 1, 64);
  expect_class(&t.profile, "build_and_drop_list", "indirectly_lost", 9, 9 * 64);
  expect_class(&t.profile, "build_and_drop_list", "still_reachable", 0, 0);
  expect_class(&t.profile, "build_and_drop_tree", "definitely_lost", 1, 48);
  expect_class(&t.profile, "build_and_drop_tree", "indirectly_lost", 2, 64);
  expect_class(&t.profile, "fill_global_cache", "still_reachable", 5, 500);
  expect_class(&t.profile, "fill_global_cache", "definitely_lost", 0, 0);
  expect_class(&t.profile, "keep_in_chain", "still_reachable", 3, 3 * 64);
  /* Splitting by class keeps every site's totals. */
  expect_site(&t.profile, "build_and_drop_list", 10, 640);
  assert_int_equal(harness_site(&t.profile, "build_and_drop_list").alloc_objects, 10);
  cleanup(&t);
}

static void test_churn_without_leak(void **state) {
  (void)state;
  test_context_t t;
  run_and_load(&t, "churn_noleak", NULL, NULL);
  site_values_t churn = harness_site(&t.profile, "churn_cache");
  assert_int_equal(churn.inuse_space, 0);
  assert_true(harness_total_inuse(&t.profile) < 256 * 1024);
  /* The allocated-bytes estimate over ~1.2 GB (about 2300 samples) is within 10%. */
  const char *text = strstr(t.run.out, "allocated=");
  assert_non_null(text);
  double truth = strtod(text + 10, NULL);
  double ratio = (double)churn.alloc_space / truth;
  if (ratio < 0.9 || ratio > 1.1)
    fail_msg("allocated %.0f bytes, estimate %lld (ratio %.3f)", truth,
             (long long)churn.alloc_space, ratio);
  cleanup(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_depths_exact),
      cmocka_unit_test(test_depths_sampled),
      cmocka_unit_test(test_every_allocation_function),
      cmocka_unit_test(test_realloc_chain),
      cmocka_unit_test(test_cxx_new),
      cmocka_unit_test(test_dlopen_leak),
      cmocka_unit_test(test_dlopen_leak_after_dlclose),
      cmocka_unit_test(test_one_leaking_thread_among_eight),
      cmocka_unit_test(test_constructors_before_main),
      cmocka_unit_test(test_large_blocks),
      cmocka_unit_test(test_fork_child_writes_its_own_profile),
      cmocka_unit_test(test_exec_child_gets_fresh_agent),
      cmocka_unit_test(test_composes_with_jemalloc),
      cmocka_unit_test(test_public_api),
      cmocka_unit_test(test_stack_table_bound),
      cmocka_unit_test(test_agent_memory_failures_spare_the_host),
      cmocka_unit_test(test_reachability_at_exit),
      cmocka_unit_test(test_churn_without_leak),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
