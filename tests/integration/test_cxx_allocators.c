/*
 * test_cxx_allocators.c - C++ operator new and delete seen whichever allocator is behind the
 * agent: glibc (libstdc++'s operators over malloc), jemalloc and tcmalloc preloaded after the
 * agent, and the fixture linked with -ljemalloc and with -ltcmalloc (their own operators,
 * which never reach malloc). Every form of new and delete (tests/fixtures/cxx_allocators.cpp)
 * is counted exactly at rate 1, an 8 MiB leak through new is all there, and a 32 MiB leak is
 * estimated within the sampling error at the default rate. Also: a C program that dlopens a
 * C++ library privately (RTLD_LOCAL, as python3 does) still gets its operators.
 *
 * LW_TEST_AGENT=path runs them against another libleakwatch.so (an older build, to show a
 * test failing without the fix). A missing allocator library skips its cases, saying why;
 * scripts/debian-packages.txt installs them so CI runs them all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#pragma GCC diagnostic ignored "-Wunused-function" /* the harness's helpers not used here */
#include "agent_harness.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu/"

typedef struct {
  const char *name;     /* what the case is called in messages */
  const char *fixture;  /* the program run */
  const char *preload;  /* library preloaded after the agent, or NULL */
  const char *allocator; /* what the fixture must report serving it */
  const char *package;  /* what installs the library, for the skip message */
} setup_t;

static const setup_t glibc_behind = {"glibc", "cxx_allocators", NULL, "glibc", NULL};
static const setup_t jemalloc_preloaded = {"jemalloc preloaded", "cxx_allocators",
                                           LIBDIR "libjemalloc.so.2", "jemalloc", "libjemalloc2"};
static const setup_t tcmalloc_preloaded = {"tcmalloc preloaded", "cxx_allocators",
                                           LIBDIR "libtcmalloc_minimal.so.4", "tcmalloc",
                                           "libtcmalloc-minimal4"};
static const setup_t jemalloc_linked = {"jemalloc linked", "cxx_allocators_jemalloc", NULL,
                                        "jemalloc", "libjemalloc-dev"};
static const setup_t tcmalloc_linked = {"tcmalloc linked", "cxx_allocators_tcmalloc", NULL,
                                        "tcmalloc", "libgoogle-perftools-dev"};

typedef struct {
  char dir[64];
  char profile_path[128];
  lw_profile_t profile;
  fixture_run_t run;
} test_context_t;

/* False (and the case skipped) when what the setup needs is not installed. */
static bool available(const setup_t *s) {
  char path[4096];
  const char *missing = NULL;
  if (s->preload && access(s->preload, R_OK) != 0)
    missing = s->preload;
  snprintf(path, sizeof path, "%s%s", HARNESS_FIXTURES, s->fixture);
  if (!missing && access(path, X_OK) != 0)
    missing = path; /* tests/CMakeLists.txt builds it only when the library was found */
  if (missing) {
    print_message("skipped %s: %s is missing (scripts/setup.sh installs %s)\n", s->name,
                  missing, s->package ? s->package : "it");
    return false;
  }
  return true;
}

/* Runs the setup's fixture under the agent (then the allocator) and loads its profile. */
static void run_and_load(test_context_t *t, const setup_t *s, const char *const *args,
                         const char *rate) {
  harness_temp_dir(t->dir, sizeof t->dir);
  snprintf(t->profile_path, sizeof t->profile_path, "%s/heap.pb.gz", t->dir);
  const char *agent = getenv("LW_TEST_AGENT") ? getenv("LW_TEST_AGENT") : HARNESS_AGENT;
  static char preload[8192]; /* putenv keeps the string; one run at a time */
  snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", agent, s->preload ? " " : "",
           s->preload ? s->preload : "");
  const char *env[] = {preload, NULL};
  assert_int_equal(harness_run(s->fixture, args, rate, t->profile_path, env, &t->run), 0);
  if (!WIFEXITED(t->run.status) || WEXITSTATUS(t->run.status) != 0)
    fail_msg("%s: %s exited with status %d; stderr: %s", s->name, s->fixture, t->run.status,
             t->run.err);
  char expected[64];
  snprintf(expected, sizeof expected, "allocator %s\n", s->allocator);
  if (!strstr(t->run.out, expected))
    fail_msg("%s: the fixture did not run with %s: %s", s->name, s->allocator, t->run.out);
  /* The allocator's own new_handler loop and bad_alloc, through the agent's operators. */
  static const char *const lines[] = {"bad_alloc caught, new_handler called 2 times\n",
                                      "aligned bad_alloc caught\n", "nothrow new returned null\n",
                                      "done\n"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    if (!strstr(t->run.out, lines[i]))
      fail_msg("%s: expected '%s' in the fixture's output: %s", s->name, lines[i], t->run.out);
  harness_load(t->profile_path, &t->profile);
}

static void cleanup(test_context_t *t) {
  lw_profile_free(&t->profile);
  char command[256];
  snprintf(command, sizeof command, "rm -rf %s", t->dir);
  assert_int_equal(system(command), 0);
}

static void expect_site(const setup_t *s, const lw_profile_t *p, const char *function,
                        int64_t objects, int64_t bytes) {
  site_values_t v = harness_site(p, function);
  if (v.inuse_objects != objects || v.inuse_space != bytes)
    fail_msg("%s: %s: expected %lld objects / %lld bytes in use, profile has %lld / %lld",
             s->name, function, (long long)objects, (long long)bytes,
             (long long)v.inuse_objects, (long long)v.inuse_space);
}

/* Rate 1: every site exact, every allocation counted once. */
static void exact_case(const setup_t *s) {
  if (!available(s)) {
    skip();
    return;
  }
  test_context_t t;
  const char *args[] = {"big", "8", NULL};
  run_and_load(&t, s, args, "1");
  assert_int_equal(t.profile.period, 1);
  expect_site(s, &t.profile, "new_scalar", 3, 120);
  expect_site(s, &t.profile, "new_array", 2, 200);
  expect_site(s, &t.profile, "new_nothrow", 4, 160);
  expect_site(s, &t.profile, "new_array_nothrow", 1, 300);
  expect_site(s, &t.profile, "new_aligned", 2, 256);
  expect_site(s, &t.profile, "new_array_aligned", 1, 384);
  expect_site(s, &t.profile, "new_aligned_nothrow", 1, 128);
  expect_site(s, &t.profile, "new_array_aligned_nothrow", 1, 256);
  expect_site(s, &t.profile, "leak_big", 2048, 8 << 20);
  expect_site(s, &t.profile, "thread_leak", 400, 400 * 512);
  assert_int_equal(harness_site(&t.profile, "thread_leak").alloc_objects, 4400);
  const char *chain[] = {"leak_big", "main"};
  if (!harness_has_chain(&t.profile, chain, 2))
    fail_msg("%s: no stack leak_big <- main", s->name);
  /* Every form of delete took its block out, and each block was counted once. */
  site_values_t freed = harness_site(&t.profile, "delete_every_form");
  if (freed.inuse_objects != 0 || freed.alloc_objects != 12 || freed.alloc_space != 6 * 24 + 6 * 64)
    fail_msg("%s: delete_every_form: expected 12 allocated (528 bytes), none in use; profile "
             "has %lld allocated (%lld bytes), %lld in use",
             s->name, (long long)freed.alloc_objects, (long long)freed.alloc_space,
             (long long)freed.inuse_objects);
  harness_pprof_reads(t.profile_path);
  cleanup(&t);
}

/* Default rate (512 KiB): a 32 MiB leak in 4 KiB blocks is ~64 samples, one standard error
 * 12.5%; within 50% is 4 standard errors. A double count (operator and malloc both counting)
 * would read about 2x. */
static void sampled_case(const setup_t *s) {
  if (!available(s)) {
    skip();
    return;
  }
  test_context_t t;
  const char *args[] = {"big", "32", NULL};
  run_and_load(&t, s, args, NULL);
  assert_int_equal(t.profile.period, 512 * 1024);
  site_values_t v = harness_site(&t.profile, "leak_big");
  double ratio = (double)v.inuse_space / (double)(32 << 20);
  if (ratio < 0.5 || ratio > 1.5)
    fail_msg("%s: leak_big: estimated %lld bytes in use, true %d (ratio %.2f)", s->name,
             (long long)v.inuse_space, 32 << 20, ratio);
  double total = (double)harness_total_inuse(&t.profile) / (double)(32 << 20);
  if (total < 0.5 || total > 1.6)
    fail_msg("%s: %lld bytes in use in all, the program holds about %d", s->name,
             (long long)harness_total_inuse(&t.profile), 32 << 20);
  cleanup(&t);
}

/* One cmocka test per setup and mode. */
#define SETUP_TEST(name, check, setup)                                                        \
  static void name(void **state) {                                                            \
    (void)state;                                                                              \
    check(&(setup));                                                                          \
  }
SETUP_TEST(test_glibc_exact, exact_case, glibc_behind)
SETUP_TEST(test_glibc_sampled, sampled_case, glibc_behind)
SETUP_TEST(test_jemalloc_preloaded_exact, exact_case, jemalloc_preloaded)
SETUP_TEST(test_jemalloc_preloaded_sampled, sampled_case, jemalloc_preloaded)
SETUP_TEST(test_tcmalloc_preloaded_exact, exact_case, tcmalloc_preloaded)
SETUP_TEST(test_tcmalloc_preloaded_sampled, sampled_case, tcmalloc_preloaded)
SETUP_TEST(test_jemalloc_linked_exact, exact_case, jemalloc_linked)
SETUP_TEST(test_jemalloc_linked_sampled, sampled_case, jemalloc_linked)
SETUP_TEST(test_tcmalloc_linked_exact, exact_case, tcmalloc_linked)
SETUP_TEST(test_tcmalloc_linked_sampled, sampled_case, tcmalloc_linked)

/* A C program loads a C++ library with RTLD_LOCAL: the library's operators bind to the
 * agent's, and the libstdc++ it brought is out of RTLD_NEXT's view; the agent must still
 * reach it (new, delete, and a bad_alloc thrown and caught in the library). */
static void plugin_case(const char *rate) {
  static const setup_t host = {"C host, private libstdc++", "cxx_plugin_host", NULL, NULL, NULL};
  test_context_t t;
  harness_temp_dir(t.dir, sizeof t.dir);
  snprintf(t.profile_path, sizeof t.profile_path, "%s/heap.pb.gz", t.dir);
  const char *agent = getenv("LW_TEST_AGENT");
  static char preload[4200];
  snprintf(preload, sizeof preload, "LD_PRELOAD=%s", agent ? agent : HARNESS_AGENT);
  const char *env[] = {preload, NULL};
  assert_int_equal(harness_run(host.fixture, NULL, rate, t.profile_path, env, &t.run), 0);
  if (!WIFEXITED(t.run.status) || WEXITSTATUS(t.run.status) != 0)
    fail_msg("%s exited with status %d; stderr: %s", host.fixture, t.run.status, t.run.err);
  assert_string_equal(t.run.out, "bad_alloc caught\ndone\n");
  harness_load(t.profile_path, &t.profile);
  if (strcmp(rate, "1") == 0) {
    expect_site(&host, &t.profile, "cxx_plugin_leak", 5, 1000);
    assert_int_equal(harness_site(&t.profile, "cxx_plugin_leak").alloc_objects, 10);
  }
  cleanup(&t);
}

static void test_private_runtime_exact(void **state) {
  (void)state;
  plugin_case("1");
}
static void test_private_runtime_sampled(void **state) {
  (void)state;
  plugin_case("512k");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_glibc_exact),
      cmocka_unit_test(test_glibc_sampled),
      cmocka_unit_test(test_jemalloc_preloaded_exact),
      cmocka_unit_test(test_jemalloc_preloaded_sampled),
      cmocka_unit_test(test_tcmalloc_preloaded_exact),
      cmocka_unit_test(test_tcmalloc_preloaded_sampled),
      cmocka_unit_test(test_jemalloc_linked_exact),
      cmocka_unit_test(test_jemalloc_linked_sampled),
      cmocka_unit_test(test_tcmalloc_linked_exact),
      cmocka_unit_test(test_tcmalloc_linked_sampled),
      cmocka_unit_test(test_private_runtime_exact),
      cmocka_unit_test(test_private_runtime_sampled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
