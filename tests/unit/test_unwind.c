/*
 * test_unwind.c - the agent's DWARF unwinder (src/agent/unwind*.c) against glibc's
 * backtrace() (libgcc's unwinder) on the same stacks.
 *
 * Stacks come from this file (-O2) and from the fixtures in tests/fixtures (libunwind_
 * fixture*.so, -O2 -fomit-frame-pointer, dlopen'ed): chains, alloca/VLA, stack
 * realignment, deep recursion, C++, 8 threads at once, signal handlers on the normal stack
 * and on a sigaltstack (raised and timer-driven at arbitrary instructions), a makecontext
 * fiber, and a library unloaded and replaced at the same address.
 *
 * Comparison rule: backtrace() called next to lw__unwind_here in `capture` returns the
 * capturing function first (and, under sanitizers, its interceptor before that), then the
 * same frames as lw__unwind_here, as return addresses.
 * So ours[i] == backtrace[i + 1] - 1, except the two frames that are not call sites (a
 * signal trampoline and the instruction a signal interrupted), which are equal.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent/unwind.h"
#include "agent/unwind_cache.h"
#include "agent/unwind_cfi.h"

#define MAX_FRAMES 128
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

/* Loops that must make the same call twice from one call site read their trip count from
 * here: with a constant count gcc unrolls them into two call sites, and the two stacks
 * would differ in the caller's frame. */
static volatile int two_passes = 2;

typedef int (*fixture_callback_t)(void *context);
typedef int (*fixture_depth_function_t)(int depth, fixture_callback_t callback, void *context);
typedef int (*fixture_plain_function_t)(fixture_callback_t callback, void *context);

static const char *const fixture_path = LW_BUILD_DIR "/tests/fixtures/libunwind_fixture.so";
static const char *const stale_a_path = LW_BUILD_DIR "/tests/fixtures/libunwind_fixture_stale_a.so";
static const char *const stale_b_path = LW_BUILD_DIR "/tests/fixtures/libunwind_fixture_stale_b.so";
static const char *const cpp_fixture_path = LW_BUILD_DIR "/tests/fixtures/libunwind_fixture_cpp.so";

/* ---- capturing and comparing ----------------------------------------------------------- */

typedef struct {
  uint64_t pcs[MAX_FRAMES];
  int count;
  bool truncated;
  void *backtrace[MAX_FRAMES + 1];
  int backtrace_count;
} capture_t;

typedef struct {
  int mismatches;   /* frames that differ, plus one if the counts differ */
  int exact_frames; /* frames equal to backtrace's address without the -1 */
  int compared;
} comparison_t;

/* Unwinds with both unwinders from one function. */
__attribute__((noinline)) static int capture(void *context) {
  capture_t *result = context;
  result->count = lw__unwind_here(result->pcs, MAX_FRAMES, 0, &result->truncated);
  result->backtrace_count = backtrace(result->backtrace, MAX_FRAMES + 1);
  KEEP_FRAME();
  return result->count;
}

/* Where our frame 0 is in backtrace()'s array: normally 1 (backtrace reports `capture`
 * first), more when a sanitizer's backtrace interceptor adds its own frames. */
static int backtrace_offset(const capture_t *result) {
  for (int offset = 1; offset <= 3 && offset < result->backtrace_count; offset++) {
    uint64_t theirs = (uint64_t)(uintptr_t)result->backtrace[offset];
    if (result->count > 0 && (result->pcs[0] == theirs - 1 || result->pcs[0] == theirs))
      return offset;
  }
  return 1;
}

/* Pure arithmetic so the async-signal test can call it inside the handler. */
static comparison_t compare(const capture_t *result) {
  comparison_t comparison = {0};
  int offset = backtrace_offset(result);
  int expected = result->backtrace_count - offset;
  int n = result->count < expected ? result->count : expected;
  if (result->count != expected)
    comparison.mismatches++;
  for (int i = 0; i < n; i++) {
    uint64_t theirs = (uint64_t)(uintptr_t)result->backtrace[i + offset];
    if (result->pcs[i] == theirs - 1)
      ;
    else if (result->pcs[i] == theirs)
      comparison.exact_frames++;
    else
      comparison.mismatches++;
  }
  comparison.compared = n;
  return comparison;
}

static void describe_address(uint64_t address, char *out, size_t size) {
  Dl_info info;
  if (dladdr((void *)(uintptr_t)address, &info) && info.dli_sname != NULL)
    snprintf(out, size, "%s+%#lx", info.dli_sname,
             (unsigned long)(address - (uintptr_t)info.dli_saddr));
  else if (dladdr((void *)(uintptr_t)address, &info) && info.dli_fname != NULL)
    snprintf(out, size, "%s+%#lx",
             strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname,
             (unsigned long)(address - (uintptr_t)info.dli_fbase));
  else
    snprintf(out, size, "?");
}

static void print_capture(const char *what, const capture_t *result) {
  int offset = backtrace_offset(result);
  print_message("%s: lw__unwind_here %d frames (truncated %d), backtrace %d\n", what, result->count,
                result->truncated, result->backtrace_count - offset);
  int rows = result->count > result->backtrace_count - offset ? result->count
                                                              : result->backtrace_count - offset;
  for (int i = 0; i < rows; i++) {
    char ours[128] = "", theirs[128] = "";
    if (i < result->count)
      describe_address(result->pcs[i], ours, sizeof ours);
    if (i + offset < result->backtrace_count)
      describe_address((uint64_t)(uintptr_t)result->backtrace[i + offset] - 1, theirs,
                       sizeof theirs);
    print_message("  %2d %-44s %s\n", i, ours, theirs);
  }
}

/* The whole stack must match backtrace()'s exactly, with no truncation. */
static void assert_matches_backtrace(const char *what, const capture_t *result,
                                     int expected_exact_frames) {
  comparison_t comparison = compare(result);
  if (comparison.mismatches != 0 || comparison.exact_frames != expected_exact_frames ||
      result->truncated) {
    print_capture(what, result);
    fail_msg("%s: %d mismatching frames, %d exact frames (expected %d), truncated %d", what,
             comparison.mismatches, comparison.exact_frames, expected_exact_frames,
             result->truncated);
  }
}

/* Number of recorded frames whose pc lies in the named exported function. */
static int frames_in_function(const capture_t *result, const char *name) {
  int found = 0;
  for (int i = 0; i < result->count; i++) {
    Dl_info info;
    if (dladdr((void *)(uintptr_t)result->pcs[i], &info) && info.dli_sname != NULL &&
        strcmp(info.dli_sname, name) == 0)
      found++;
  }
  return found;
}

static void *open_fixture(const char *path) {
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL)
    fail_msg("dlopen %s: %s", path, dlerror());
  return handle;
}

static void *fixture_symbol(void *handle, const char *name) {
  void *symbol = dlsym(handle, name);
  if (symbol == NULL)
    fail_msg("dlsym %s: %s", name, dlerror());
  return symbol;
}

/* ---- a chain in this executable -------------------------------------------------------- */

#define LOCAL_LINK(name, next)                                                                     \
  __attribute__((noinline)) static int name(fixture_callback_t callback, void *context) {          \
    int result = next(callback, context);                                                          \
    KEEP_FRAME();                                                                                  \
    return result + 1;                                                                             \
  }

__attribute__((noinline)) static int local_chain_0(fixture_callback_t callback, void *context) {
  int result = callback(context);
  KEEP_FRAME();
  return result;
}
LOCAL_LINK(local_chain_1, local_chain_0)
LOCAL_LINK(local_chain_2, local_chain_1)
LOCAL_LINK(local_chain_3, local_chain_2)
LOCAL_LINK(local_chain_4, local_chain_3)
LOCAL_LINK(local_chain_5, local_chain_4)
LOCAL_LINK(local_chain_6, local_chain_5)
LOCAL_LINK(local_chain_7, local_chain_6)
LOCAL_LINK(local_chain_8, local_chain_7)
LOCAL_LINK(local_chain_9, local_chain_8)
LOCAL_LINK(local_chain_10, local_chain_9)
LOCAL_LINK(local_chain_11, local_chain_10)

/* Two callers of the same chain with identical frames: below them, the walk starts at the
 * same pc and sp every time, and only a return address deeper in the stack differs. */
__attribute__((noinline)) static int twin_a(fixture_callback_t callback, void *context) {
  int result = local_chain_2(callback, context);
  KEEP_FRAME();
  return result + 1;
}
__attribute__((noinline)) static int twin_b(fixture_callback_t callback, void *context) {
  int result = local_chain_2(callback, context);
  KEEP_FRAME();
  return result + 2;
}
__attribute__((noinline)) static int call_twin(int which, capture_t *result) {
  int value = (which ? twin_b : twin_a)(capture, result);
  KEEP_FRAME();
  return value;
}

/* The memo (unwind_memo.c) answers repeated walks, and never with a stale stack: walks
 * alternating between the twins must each match backtrace(), and agree with the first walk
 * of the same twin. Only the frames up to the twin are compared: the compiler may clone or
 * peel the callers above it (ASan builds peel the loop's first round), which moves their
 * return addresses without the memo being wrong. */
static void test_memo_repeats_but_never_stale(void **state) {
  (void)state;
  lw_unwind_stats_t before, after;
  lw__unwind_get_stats(&before);
  capture_t result, first[2];
  for (int which = 0; which < 2; which++) {
    call_twin(which, &first[which]);
    assert_matches_backtrace(which ? "twin b" : "twin a", &first[which], 0);
  }
  /* Same start (pc and sp), different stacks: the first difference is the twin's frame. */
  assert_int_equal(first[0].pcs[0], first[1].pcs[0]);
  int twin_depth = 0;
  while (twin_depth < first[0].count && twin_depth < first[1].count &&
         first[0].pcs[twin_depth] == first[1].pcs[twin_depth])
    twin_depth++;
  assert_true(twin_depth < first[0].count);
  twin_depth++;
  for (int round = 1; round < 300; round++) {
    for (int which = 0; which < 2; which++) {
      call_twin(which, &result);
      assert_matches_backtrace(which ? "twin b" : "twin a", &result, 0);
      assert_true(result.count >= twin_depth);
      assert_memory_equal(result.pcs, first[which].pcs, (size_t)twin_depth * sizeof result.pcs[0]);
    }
  }
  local_chain_7(capture, &result); /* a full walk adds the batched memo counts */
  lw__unwind_get_stats(&after);
  print_message("memo answered %llu of 600 walks\n",
                (unsigned long long)(after.memo_hits - before.memo_hits));
  assert_true(after.memo_hits - before.memo_hits >= 500);
}

static void test_chain_in_executable(void **state) {
  (void)state;
  capture_t result;
  local_chain_11(capture, &result);
  assert_matches_backtrace("executable chain", &result, 0);
  /* capture's caller, 11 more links, the test function, cmocka, main, libc, _start */
  assert_true(result.count >= 12 + 4);
}

static void test_chain_in_dlopened_library(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t chain = fixture_symbol(handle, "unwind_fixture_chain");
  capture_t result;
  chain(15, capture, &result);
  assert_matches_backtrace("library chain", &result, 0);
  int in_library = frames_in_function(&result, "unwind_fixture_chain") +
                   frames_in_function(&result, "unwind_fixture_chain_b") +
                   frames_in_function(&result, "unwind_fixture_chain_c") +
                   frames_in_function(&result, "unwind_fixture_chain_d");
  assert_int_equal(in_library, 16);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- rbp-based and realigned frames ---------------------------------------------------- */

/* The compact rule cached for the first recorded pc inside `function`. */
static bool rule_for_function(const capture_t *result, const char *function,
                              lw_cfi_row_t *row /* out */, lw_unwind_rule_t *rule /* out */,
                              bool *cacheable /* out */) {
  for (int i = 0; i < result->count; i++) {
    Dl_info info;
    if (dladdr((void *)(uintptr_t)result->pcs[i], &info) && info.dli_sname != NULL &&
        strcmp(info.dli_sname, function) == 0) {
      if (lw__cfi_find_row((uintptr_t)result->pcs[i], row) != 0)
        return false;
      *cacheable = lw__unwind_rule_from_row(row, rule);
      return true;
    }
  }
  return false;
}

static void test_alloca_vla_and_realigned_frames(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t mixed = fixture_symbol(handle, "unwind_fixture_mixed");
  capture_t result;
  mixed(5, capture, &result);
  assert_matches_backtrace("alloca, VLA, realigned", &result, 0);

  /* Make sure the fixture really produced the frame shapes under test. */
  lw_cfi_row_t row;
  lw_unwind_rule_t rule;
  bool cacheable;
  assert_true(rule_for_function(&result, "unwind_fixture_alloca", &row, &rule, &cacheable));
  assert_true(cacheable);
  assert_int_equal(lw__rule_cfa(rule), LW_RULE_CFA_RBP);
  assert_int_equal(lw__rule_rbp(rule), LW_RULE_RBP_AT_CFA);

  assert_true(rule_for_function(&result, "unwind_fixture_vla", &row, &rule, &cacheable));
  assert_true(cacheable);
  assert_int_equal(lw__rule_cfa(rule), LW_RULE_CFA_RBP);

  assert_true(rule_for_function(&result, "unwind_fixture_realigned", &row, &rule, &cacheable));
  assert_true(cacheable);
#if defined(__GNUC__) && !defined(__clang__)
  /* gcc realigns through a DRAP register (clang keeps the CFA on rbp instead). */
  assert_int_equal(row.cfa_kind, LW_CFI_CFA_EXPRESSION);
  assert_int_equal(lw__rule_cfa(rule), LW_RULE_CFA_DEREF_RBP);
  /* -8 in a plain -O2 build; instrumented builds save more registers first. */
  assert_true(lw__rule_cfa_offset(rule) < 0 && lw__rule_cfa_offset(rule) % 8 == 0);
  assert_int_equal(lw__rule_rbp(rule), LW_RULE_RBP_AT_RBP);
#else
  assert_int_equal(lw__rule_cfa(rule), LW_RULE_CFA_RBP);
#endif

  assert_true(rule_for_function(&result, "unwind_fixture_force_aligned", &row, &rule, &cacheable));
  assert_true(cacheable);
  assert_int_equal(lw__rule_cfa(rule), LW_RULE_CFA_RBP);

  /* Walks from one call site: the second steps every frame from the cache and must
   * agree. (The first test walk above was made from another call site.) */
  lw_unwind_stats_t before, after;
  for (int pass = 0; pass < two_passes; pass++) {
    lw__unwind_get_stats(&before);
    mixed(5, capture, &result);
    lw__unwind_get_stats(&after);
    assert_matches_backtrace("alloca, VLA, realigned (again)", &result, 0);
  }
  assert_int_equal(after.cache_misses - before.cache_misses, 0);
  assert_true(after.cache_hits - before.cache_hits >= (uint64_t)result.count);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- depth limits, skip ---------------------------------------------------------------- */

typedef struct {
  uint64_t full[MAX_FRAMES], exact[MAX_FRAMES], shorter[MAX_FRAMES], skipped[MAX_FRAMES];
  int full_count, exact_count, shorter_count, skipped_count, limited_count;
  bool full_truncated, exact_truncated, shorter_truncated, skipped_truncated, limited_truncated;
} limits_t;

__attribute__((noinline)) static int capture_limits(void *context) {
  limits_t *limits = context;
  limits->full_count = lw__unwind_here(limits->full, MAX_FRAMES, 0, &limits->full_truncated);
  limits->exact_count =
      lw__unwind_here(limits->exact, limits->full_count, 0, &limits->exact_truncated);
  limits->shorter_count =
      lw__unwind_here(limits->shorter, limits->full_count - 1, 0, &limits->shorter_truncated);
  limits->skipped_count =
      lw__unwind_here(limits->skipped, MAX_FRAMES, 3, &limits->skipped_truncated);
  uint64_t unused[1];
  limits->limited_count = lw__unwind_here(unused, 0, 0, &limits->limited_truncated);
  lw__unwind_here(unused, 1, 0, NULL); /* a NULL truncated pointer is allowed */
  KEEP_FRAME();
  return 0;
}

static void test_depth_limit_and_skip(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t recurse = fixture_symbol(handle, "unwind_fixture_recurse");
  limits_t limits;
  recurse(40, capture_limits, &limits);
  assert_false(limits.full_truncated);
  assert_true(limits.full_count > 40);
  assert_int_equal(limits.exact_count, limits.full_count);
  assert_false(limits.exact_truncated); /* exactly enough room: not truncated */
  assert_int_equal(limits.shorter_count, limits.full_count - 1);
  assert_true(limits.shorter_truncated);
  assert_memory_equal(limits.exact, limits.full, sizeof(uint64_t) * (size_t)limits.full_count);
  assert_memory_equal(limits.shorter, limits.full, sizeof(uint64_t) * (size_t)limits.shorter_count);
  assert_int_equal(limits.skipped_count, limits.full_count - 3);
  assert_false(limits.skipped_truncated);
  assert_memory_equal(limits.skipped, limits.full + 3,
                      sizeof(uint64_t) * (size_t)limits.skipped_count);
  assert_int_equal(limits.limited_count, 0);
  assert_true(limits.limited_truncated);
  assert_int_equal(dlclose(handle), 0);
}

typedef struct {
  uint64_t pcs[64];
  int count;
  bool truncated;
} deep_t;

__attribute__((noinline)) static int capture_deep(void *context) {
  deep_t *deep = context;
  deep->count = lw__unwind_here(deep->pcs, 64, 0, &deep->truncated);
  KEEP_FRAME();
  return 0;
}

static void test_deep_recursion_truncates(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t recurse = fixture_symbol(handle, "unwind_fixture_recurse");
  deep_t deep;
  recurse(300, capture_deep, &deep);
  assert_int_equal(deep.count, 64);
  assert_true(deep.truncated);
  /* All 64 are the recursive function's frames, at one call site. */
  for (int i = 1; i < 64; i++)
    assert_int_equal(deep.pcs[i], deep.pcs[1]);
  assert_int_equal(dlclose(handle), 0);
}

/* Leading frames inside the "agent" (here: this executable) are dropped. */
__attribute__((noinline)) static int skip_probe_inner(void *context) {
  capture_t *result = context;
  result->count = lw__unwind_here(result->pcs, MAX_FRAMES, 0, &result->truncated);
  KEEP_FRAME();
  return 0;
}

__attribute__((noinline)) static int skip_probe(void *context) {
  int result = skip_probe_inner(context);
  KEEP_FRAME();
  return result;
}

static void test_skip_module(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t chain = fixture_symbol(handle, "unwind_fixture_chain");
  capture_t full, skipped;
  chain(3, skip_probe, &full);
  lw__unwind_skip_module((const void *)skip_probe);
  chain(3, skip_probe, &skipped);
  lw__unwind_skip_module(NULL);
  /* full: skip_probe, 4 library frames, this test function, cmocka, main, libc, _start.
   * skipped: the same without skip_probe. The test function's frame differs (two call
   * sites), so compare around it. */
  Dl_info info;
  assert_true(dladdr((void *)(uintptr_t)skipped.pcs[0], &info));
  assert_non_null(strstr(info.dli_fname, "libunwind_fixture"));
  assert_int_equal(skipped.count, full.count - 1);
  assert_true(skipped.count > 5);
  assert_memory_equal(skipped.pcs, full.pcs + 1, sizeof(uint64_t) * 4);
  assert_memory_equal(skipped.pcs + 5, full.pcs + 6,
                      sizeof(uint64_t) * (size_t)(skipped.count - 5));
  assert_int_equal(dlclose(handle), 0);
}

/* ---- the cache ------------------------------------------------------------------------- */

static void test_rule_encoding(void **state) {
  (void)state;
  const int64_t cfa_offsets[] = {8, 16, -8, 4096, 262136, -262144};
  const int64_t rbp_offsets[] = {0, -16, -8, 16376, -16384};
  for (size_t i = 0; i < sizeof cfa_offsets / sizeof cfa_offsets[0]; i++)
    for (size_t j = 0; j < sizeof rbp_offsets / sizeof rbp_offsets[0]; j++)
      for (int cfa = LW_RULE_CFA_RSP; cfa <= LW_RULE_CFA_DEREF_RBP; cfa++) {
        lw_unwind_rule_t rule = lw__rule_make((enum lw_rule_cfa)cfa, cfa_offsets[i],
                                              LW_RULE_RBP_AT_CFA, rbp_offsets[j]);
        assert_true(rule < ((uint64_t)1 << LW_UNWIND_RULE_BITS));
        assert_int_equal(lw__rule_cfa(rule), cfa);
        assert_int_equal(lw__rule_cfa_offset(rule), cfa_offsets[i]);
        assert_int_equal(lw__rule_rbp(rule), LW_RULE_RBP_AT_CFA);
        assert_int_equal(lw__rule_rbp_offset(rule), rbp_offsets[j]);
      }
}

static void test_cache_flush_forgets_rules(void **state) {
  (void)state;
  const uintptr_t address = 0x7f0012345678;
  lw_unwind_rule_t rule = lw__rule_make(LW_RULE_CFA_RSP, 24, LW_RULE_RBP_SAME, 0), found;
  lw__unwind_cache_insert(address, rule, lw__unwind_cache_generation());
  assert_true(lw__unwind_cache_lookup(address, &found));
  assert_int_equal(found, rule);
  assert_false(lw__unwind_cache_lookup(address + 1, &found));
  assert_false(lw__unwind_cache_lookup((uintptr_t)1 << 47, &found)); /* never cached */

  lw__unwind_flush_cache();
  assert_false(lw__unwind_cache_lookup(address, &found));

  /* A rule computed before a flush and stored after it must not survive. */
  uint64_t generation = lw__unwind_cache_generation();
  lw__unwind_flush_cache();
  lw__unwind_cache_insert(address, rule, generation);
  assert_false(lw__unwind_cache_lookup(address, &found));
}

static void test_cache_counters_move(void **state) {
  (void)state;
  lw__unwind_flush_cache();
  capture_t walks[2];
  lw_unwind_stats_t counters[3];
  lw__unwind_get_stats(&counters[0]);
  for (int pass = 0; pass < two_passes; pass++) { /* one call site: the same frames */
    local_chain_5(capture, &walks[pass]);
    lw__unwind_get_stats(&counters[pass + 1]);
  }
  const capture_t *first = &walks[0], *second = &walks[1];
  const lw_unwind_stats_t start = counters[0], middle = counters[1], end = counters[2];
  assert_matches_backtrace("cold", first, 0);
  assert_matches_backtrace("warm", second, 0);
  /* Cold: every frame (plus capture's own) missed. Warm: every frame hit. */
  assert_true(middle.cache_misses - start.cache_misses >= (uint64_t)first->count);
  assert_int_equal(end.cache_misses - middle.cache_misses, 0);
  assert_true(end.cache_hits - middle.cache_hits >= (uint64_t)second->count);
  assert_int_equal(end.stopped_unsafe, start.stopped_unsafe);
}

/* dlclose, flush, and a different library mapped where the first one was. The two
 * fixture libraries are identical but for one frame size (tests/fixtures/
 * unwind_fixture_stale.inc), so when the second lands at the first one's address, its
 * return address is the pc the cache learned for the first one, with a different rule. */
static void test_dlclose_then_flush(void **state) {
  (void)state;
  void *first = open_fixture(stale_a_path);
  fixture_plain_function_t entry = fixture_symbol(first, "unwind_fixture_stale_entry");
  capture_t result;
  entry(capture, &result);
  assert_matches_backtrace("before dlclose", &result, 0);
  uint64_t first_call_site = result.pcs[0];
  lw_unwind_rule_t rule;
  assert_true(lw__unwind_cache_lookup((uintptr_t)first_call_site, &rule)); /* learned */
  assert_int_equal(dlclose(first), 0);
  lw__unwind_flush_cache();
  assert_false(lw__unwind_cache_lookup((uintptr_t)first_call_site, &rule));

  /* Nothing of the closed library is on the stack: this must not crash or misbehave. */
  local_chain_3(capture, &result);
  assert_matches_backtrace("after dlclose", &result, 0);

  void *second = open_fixture(stale_b_path);
  entry = fixture_symbol(second, "unwind_fixture_stale_entry");
  entry(capture, &result);
  assert_matches_backtrace("replacement library", &result, 0);
  if (result.pcs[0] == first_call_site)
    print_message("the replacement library reused the address: a stale rule would show\n");
  else
    print_message("the replacement library was mapped elsewhere; staleness not exercised\n");
  assert_int_equal(dlclose(second), 0);
  lw__unwind_flush_cache();
}

/* A CFA based on rbx (like glibc's _dl_runtime_resolve): uncacheable, and it needs rbx,
 * which cached steps below it do not restore, so the walk is redone in precise mode. */
static void test_rbx_based_frame(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_plain_function_t rbx = fixture_symbol(handle, "unwind_fixture_rbx");
  capture_t result;
  lw_unwind_stats_t before, after;
  for (int pass = 0; pass < two_passes; pass++) { /* cold, then with the rest cached */
    lw__unwind_get_stats(&before);
    rbx(capture, &result);
    lw__unwind_get_stats(&after);
    assert_matches_backtrace("rbx-based CFA", &result, 0);
    assert_true(after.uncacheable > before.uncacheable);
  }
  assert_int_equal(frames_in_function(&result, "unwind_fixture_rbx_frame"), 1);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- the dl_iterate_phdr fallback ------------------------------------------------------ */

static void test_dl_iterate_phdr_fallback(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t mixed = fixture_symbol(handle, "unwind_fixture_mixed");
  lw__cfi_use_dl_iterate_phdr(true);
  lw__unwind_flush_cache();
  capture_t result;
  mixed(4, capture, &result);
  lw__cfi_use_dl_iterate_phdr(false);
  lw__unwind_flush_cache();
  assert_matches_backtrace("dl_iterate_phdr", &result, 0);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- C++ ------------------------------------------------------------------------------- */

static void test_cpp_frames(void **state) {
  (void)state;
  void *handle = open_fixture(cpp_fixture_path);
  fixture_plain_function_t templates = fixture_symbol(handle, "unwind_fixture_cpp");
  fixture_plain_function_t during_exception =
      fixture_symbol(handle, "unwind_fixture_cpp_during_exception");
  capture_t result;
  templates(capture, &result);
  assert_matches_backtrace("C++ templates, virtual, std::function", &result, 0);
  assert_true(result.count >= 10);
  during_exception(capture, &result);
  assert_matches_backtrace("C++ destructor during exception", &result, 0);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- threads --------------------------------------------------------------------------- */

#define THREAD_COUNT 8
#define THREAD_SECONDS 0.4

typedef struct {
  fixture_depth_function_t chain;
  fixture_depth_function_t mixed;
  unsigned seed;
  int iterations;
  int mismatches;
  capture_t first_mismatch;
} thread_work_t;

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void *thread_main(void *argument) {
  thread_work_t *work = argument;
  double deadline = now_seconds() + THREAD_SECONDS;
  capture_t result;
  while (now_seconds() < deadline && work->iterations < 100000) {
    int depth = (int)(rand_r(&work->seed) % 24);
    if (work->iterations % 5 == 4)
      work->mixed(depth, capture, &result);
    else
      work->chain(depth, capture, &result);
    comparison_t comparison = compare(&result);
    if (comparison.mismatches != 0 || comparison.exact_frames != 0 || result.truncated) {
      if (work->mismatches++ == 0)
        work->first_mismatch = result;
    }
    /* One thread flushes now and then, so lookups race with clearing. */
    if (work->seed % THREAD_COUNT == 0 && work->iterations % 97 == 0)
      lw__unwind_flush_cache();
    work->iterations++;
  }
  return NULL;
}

static void test_threads_concurrently(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  pthread_t threads[THREAD_COUNT];
  thread_work_t work[THREAD_COUNT];
  for (int i = 0; i < THREAD_COUNT; i++) {
    work[i] = (thread_work_t){
        .chain = fixture_symbol(handle, "unwind_fixture_chain"),
        .mixed = fixture_symbol(handle, "unwind_fixture_mixed"),
        .seed = (unsigned)i,
    };
    assert_int_equal(pthread_create(&threads[i], NULL, thread_main, &work[i]), 0);
  }
  int total = 0;
  for (int i = 0; i < THREAD_COUNT; i++) {
    assert_int_equal(pthread_join(threads[i], NULL), 0);
    if (work[i].mismatches != 0) {
      print_capture("thread", &work[i].first_mismatch);
      fail_msg("thread %d: %d of %d walks differ from backtrace()", i, work[i].mismatches,
               work[i].iterations);
    }
    assert_true(work[i].iterations > 10);
    total += work[i].iterations;
  }
  print_message("%d threads: %d walks, all equal to backtrace()\n", THREAD_COUNT, total);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- signal handlers ------------------------------------------------------------------- */

static capture_t signal_capture;
static volatile uintptr_t signal_handler_sp;

static void capturing_handler(int signal_number, siginfo_t *info, void *ucontext) {
  (void)signal_number;
  (void)info;
  (void)ucontext;
  char marker;
  signal_handler_sp = (uintptr_t)&marker;
  capture(&signal_capture);
  KEEP_FRAME();
}

__attribute__((noinline)) static int raise_signal(void *context) {
  (void)context;
  int result = raise(SIGUSR1);
  KEEP_FRAME();
  return result;
}

static void run_signal_test(bool on_alternate_stack) {
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t chain = fixture_symbol(handle, "unwind_fixture_chain");
  const size_t alternate_size = 256 * 1024;
  void *alternate = NULL;
  if (on_alternate_stack) {
    alternate =
        mmap(NULL, alternate_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(alternate != MAP_FAILED);
    stack_t stack = {.ss_sp = alternate, .ss_size = alternate_size, .ss_flags = 0};
    assert_int_equal(sigaltstack(&stack, NULL), 0);
  }
  struct sigaction action = {.sa_sigaction = capturing_handler};
  action.sa_flags = SA_SIGINFO | (on_alternate_stack ? SA_ONSTACK : 0);
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  assert_int_equal(sigaction(SIGUSR1, &action, &previous), 0);

  memset(&signal_capture, 0, sizeof signal_capture);
  chain(6, raise_signal, NULL);

  assert_int_equal(sigaction(SIGUSR1, &previous, NULL), 0);
  if (on_alternate_stack) {
    stack_t disable = {.ss_flags = SS_DISABLE};
    assert_int_equal(sigaltstack(&disable, NULL), 0);
    bool handler_was_on_alternate = signal_handler_sp >= (uintptr_t)alternate &&
                                    signal_handler_sp < (uintptr_t)alternate + alternate_size;
    assert_true(handler_was_on_alternate);
    assert_int_equal(munmap(alternate, alternate_size), 0);
  }
  /* Two frames are not call sites: __restore_rt and the instruction raise() was at. */
  assert_matches_backtrace(on_alternate_stack ? "signal on sigaltstack" : "signal", &signal_capture,
                           2);
  assert_int_equal(frames_in_function(&signal_capture, "unwind_fixture_chain"), 2);
  assert_int_equal(dlclose(handle), 0);
}

static void test_signal_handler_on_thread_stack(void **state) {
  (void)state;
  run_signal_test(false);
}

static void test_signal_handler_on_sigaltstack(void **state) {
  (void)state;
  run_signal_test(true);
}

/* Timer signals landing on arbitrary instructions: prologues, epilogues, libc, PLT stubs,
 * malloc, and the unwinder itself. Each handler run compares both unwinders. */
static struct {
  volatile int samples;
  volatile int mismatches;
  volatile int truncated;
  capture_t first_mismatch;
} async_state;

static void async_handler(int signal_number) {
  (void)signal_number;
  int saved_errno = errno;
  capture_t result;
  capture(&result);
  comparison_t comparison = compare(&result);
  /* One exact frame at least (the interrupted pc); two when interrupted outside a
   * trampoline. backtrace() may itself report one frame less than we do if it stops. */
  if (comparison.mismatches != 0 || comparison.exact_frames > 2 || comparison.exact_frames < 1) {
    if (async_state.mismatches == 0)
      async_state.first_mismatch = result;
    async_state.mismatches = async_state.mismatches + 1;
  }
  if (result.truncated)
    async_state.truncated = async_state.truncated + 1;
  async_state.samples = async_state.samples + 1;
  errno = saved_errno;
}

static int compare_ints(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

__attribute__((noinline)) static int async_workload_bottom(void *context) {
  int *sink = context;
  int numbers[64];
  for (int i = 0; i < 64; i++)
    numbers[i] = (i * 7919) % 64;
  qsort(numbers, 64, sizeof numbers[0], compare_ints);
  char text[64];
  snprintf(text, sizeof text, "%d %s", numbers[3], "abc");
  void *block = malloc(100 + (size_t)numbers[5]);
  if (block != NULL) {
    memcpy(block, text, strlen(text) + 1);
    *sink += (int)strlen(block);
    free(block);
  }
  uint64_t pcs[32];
  bool truncated;
  *sink += lw__unwind_here(pcs, 32, 0, &truncated);
  KEEP_FRAME();
  return *sink;
}

static void run_async_test(bool on_alternate_stack) {
  void *handle = open_fixture(fixture_path);
  fixture_depth_function_t chain = fixture_symbol(handle, "unwind_fixture_chain");
  fixture_depth_function_t mixed = fixture_symbol(handle, "unwind_fixture_mixed");
  const size_t alternate_size = 256 * 1024;
  void *alternate = NULL;
  if (on_alternate_stack) {
    alternate =
        mmap(NULL, alternate_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(alternate != MAP_FAILED);
    stack_t stack = {.ss_sp = alternate, .ss_size = alternate_size, .ss_flags = 0};
    assert_int_equal(sigaltstack(&stack, NULL), 0);
  }
  memset(&async_state, 0, sizeof async_state);
  capture_t warm;
  capture(&warm); /* backtrace() loads libgcc_s on first use: not in a handler */

  struct sigaction action = {.sa_handler = async_handler};
  action.sa_flags = SA_RESTART | (on_alternate_stack ? SA_ONSTACK : 0);
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  assert_int_equal(sigaction(SIGPROF, &action, &previous), 0);
  /* A CLOCK_MONOTONIC POSIX timer (high resolution; ITIMER_PROF only fires at the
   * scheduler tick). Process-directed: this is the only thread running. */
  struct sigevent event = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGPROF};
  timer_t timer;
  assert_int_equal(timer_create(CLOCK_MONOTONIC, &event, &timer), 0);
  struct itimerspec period = {.it_interval = {0, 150000}, .it_value = {0, 150000}};
  assert_int_equal(timer_settime(timer, 0, &period, NULL), 0);

  int sink = 0;
  double deadline = now_seconds() + 0.8;
  for (int i = 0; now_seconds() < deadline && async_state.samples < 4000; i++) {
    if (i % 3 == 0)
      mixed(i % 9, async_workload_bottom, &sink);
    else
      chain(i % 13, async_workload_bottom, &sink);
  }

  assert_int_equal(timer_delete(timer), 0);
  assert_int_equal(sigaction(SIGPROF, &previous, NULL), 0);
  if (on_alternate_stack) {
    stack_t disable = {.ss_flags = SS_DISABLE};
    assert_int_equal(sigaltstack(&disable, NULL), 0);
    assert_int_equal(munmap(alternate, alternate_size), 0);
  }
  print_message("%s: %d samples, %d differ from backtrace(), %d truncated\n",
                on_alternate_stack ? "timer signals on sigaltstack" : "timer signals",
                async_state.samples, async_state.mismatches, async_state.truncated);
  if (async_state.mismatches != 0) {
    print_capture("first differing sample", &async_state.first_mismatch);
    fail_msg("%d of %d samples differ", async_state.mismatches, async_state.samples);
  }
  assert_true(async_state.samples >= 100);
  assert_int_equal(async_state.truncated, 0);
  assert_int_equal(dlclose(handle), 0);
}

static void test_timer_signals_on_thread_stack(void **state) {
  (void)state;
  run_async_test(false);
}

static void test_timer_signals_on_sigaltstack(void **state) {
  (void)state;
  run_async_test(true);
}

/* ---- a makecontext fiber: a stack the unwinder does not know --------------------------- */

static ucontext_t fiber_context, fiber_return_context;
static capture_t fiber_capture;
static fixture_depth_function_t fiber_chain;

static void fiber_main(void) { fiber_chain(5, capture, &fiber_capture); }

static void test_makecontext_fiber(void **state) {
  (void)state;
  void *handle = open_fixture(fixture_path);
  fiber_chain = fixture_symbol(handle, "unwind_fixture_chain");
  const size_t size = 256 * 1024;
  void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(stack != MAP_FAILED);
  assert_int_equal(getcontext(&fiber_context), 0);
  fiber_context.uc_stack.ss_sp = stack;
  fiber_context.uc_stack.ss_size = size;
  fiber_context.uc_link = &fiber_return_context;
  makecontext(&fiber_context, fiber_main, 0);
  lw_unwind_stats_t before, after;
  lw__unwind_get_stats(&before);
  assert_int_equal(swapcontext(&fiber_return_context, &fiber_context), 0);
  lw__unwind_get_stats(&after);
  assert_int_equal(munmap(stack, size), 0);
  /* Ends at __start_context (return address undefined), like backtrace(). */
  assert_matches_backtrace("makecontext fiber", &fiber_capture, 0);
  assert_int_equal(frames_in_function(&fiber_capture, "unwind_fixture_chain"), 2);
  assert_int_equal(after.stopped_unsafe, before.stopped_unsafe);
  assert_int_equal(dlclose(handle), 0);
}

/* ---- the unwinder never allocates ------------------------------------------------------ */

/* This binary interposes malloc, calloc, realloc and free (delegating to glibc's own) and
 * counts the calls a thread makes while its `counting_allocations` flag is set. Not under
 * sanitizers, which interpose these functions themselves. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LW_TEST_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define LW_TEST_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef LW_TEST_COUNT_ALLOCATIONS
#define LW_TEST_COUNT_ALLOCATIONS 1
#endif

/* volatile: gcc treats malloc as a builtin that reads no program state, and would
 * otherwise drop or reorder the flag's stores around it. */
static __thread __attribute__((tls_model("initial-exec"))) volatile bool counting_allocations;
static atomic_int allocations_counted;

/* The process's very first allocation also unwinds, as the agent's hook would. Here it is
 * made by the constructor below, before main; in real programs it can come from a
 * library's constructor (libstdc++ allocates its exception pool) before the agent's own
 * constructor runs. The unwinder has no constructor and must not need one. */
static struct {
  bool done;
  bool main_had_started;
  int count;
  bool truncated;
  uint64_t pcs[MAX_FRAMES];
} first_allocation_walk;
static volatile bool main_started;

__attribute__((constructor(101))) static void allocate_before_main(void) {
  void *volatile block = malloc(32);
  free(block);
}

#if LW_TEST_COUNT_ALLOCATIONS
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);

static void note_allocation(void) {
  if (counting_allocations)
    atomic_fetch_add(&allocations_counted, 1);
  if (!first_allocation_walk.done) {
    first_allocation_walk.done = true;
    first_allocation_walk.main_had_started = main_started;
    lw__unwind_init();
    first_allocation_walk.count =
        lw__unwind_here(first_allocation_walk.pcs, MAX_FRAMES, 0, &first_allocation_walk.truncated);
  }
}
void *malloc(size_t size) {
  note_allocation();
  return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
  note_allocation();
  return __libc_calloc(count, size);
}
void *realloc(void *pointer, size_t size) {
  note_allocation();
  return __libc_realloc(pointer, size);
}
void free(void *pointer) {
  if (pointer != NULL)
    note_allocation();
  __libc_free(pointer);
}
#endif

typedef struct {
  uint64_t pcs[MAX_FRAMES];
  int count;
  bool truncated;
} walk_only_t;

/* Walks with counting on; only lw__unwind_here runs while the flag is set. */
__attribute__((noinline)) static int walk_counting(void *context) {
  walk_only_t *walk = context;
  counting_allocations = true;
  walk->count = lw__unwind_here(walk->pcs, MAX_FRAMES, 0, &walk->truncated);
  counting_allocations = false;
  KEEP_FRAME();
  return walk->count;
}

static fixture_depth_function_t counting_chain;

static void *counting_thread(void *argument) {
  walk_only_t *walk = argument;
  counting_chain(4, walk_counting, walk); /* the thread's first walk reads /proc/self/maps */
  return NULL;
}

static walk_only_t counting_signal_walk;
static void counting_handler(int signal_number) {
  (void)signal_number;
  walk_counting(&counting_signal_walk);
}

static void counting_fiber_main(void) { counting_chain(3, walk_counting, &fiber_capture); }

static void test_walk_in_first_allocation(void **state) {
  (void)state;
  if (!LW_TEST_COUNT_ALLOCATIONS)
    skip();
  assert_true(first_allocation_walk.done);
  assert_false(first_allocation_walk.main_had_started);
  print_message("first allocation (a constructor, before main): %d frames, truncated %d, "
                "first caller %#lx\n",
                first_allocation_walk.count, first_allocation_walk.truncated,
                (unsigned long)first_allocation_walk.pcs[0]);
  assert_true(first_allocation_walk.count >= 1);
  assert_false(first_allocation_walk.truncated);
}

static void test_never_allocates(void **state) {
  (void)state;
  if (!LW_TEST_COUNT_ALLOCATIONS)
    skip();
  void *handle = open_fixture(fixture_path);
  counting_chain = fixture_symbol(handle, "unwind_fixture_chain");
  fixture_depth_function_t mixed = fixture_symbol(handle, "unwind_fixture_mixed");
  fixture_plain_function_t rbx = fixture_symbol(handle, "unwind_fixture_rbx");
  /* The counting itself works: */
  atomic_store(&allocations_counted, 0);
  counting_allocations = true;
  void *volatile block = malloc(16); /* volatile: gcc elides a plain free(malloc(16)) */
  free(block);
  counting_allocations = false;
  assert_int_equal(atomic_load(&allocations_counted), 2);
  atomic_store(&allocations_counted, 0);
  walk_only_t walk;

  lw__unwind_flush_cache();
  counting_chain(6, walk_counting, &walk); /* cold */
  assert_true(walk.count > 7 && !walk.truncated);
  counting_chain(6, walk_counting, &walk); /* warm */
  mixed(3, walk_counting, &walk);          /* alloca, VLA, realigned */
  rbx(walk_counting, &walk);               /* precise restart */
  assert_true(walk.count > 7 && !walk.truncated);
  lw__cfi_use_dl_iterate_phdr(true);
  lw__unwind_flush_cache();
  counting_chain(2, walk_counting, &walk); /* the fallback object lookup */
  lw__cfi_use_dl_iterate_phdr(false);
  lw__unwind_flush_cache();

  pthread_t thread;
  walk_only_t thread_walk;
  assert_int_equal(pthread_create(&thread, NULL, counting_thread, &thread_walk), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_true(thread_walk.count > 5 && !thread_walk.truncated);

  const size_t alternate_size = 128 * 1024;
  void *alternate =
      mmap(NULL, alternate_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(alternate != MAP_FAILED);
  stack_t stack = {.ss_sp = alternate, .ss_size = alternate_size, .ss_flags = 0};
  assert_int_equal(sigaltstack(&stack, NULL), 0);
  struct sigaction action = {.sa_handler = counting_handler, .sa_flags = SA_ONSTACK};
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  assert_int_equal(sigaction(SIGUSR2, &action, &previous), 0);
  assert_int_equal(raise(SIGUSR2), 0);
  assert_int_equal(sigaction(SIGUSR2, &previous, NULL), 0);
  stack_t disable = {.ss_flags = SS_DISABLE};
  assert_int_equal(sigaltstack(&disable, NULL), 0);
  assert_int_equal(munmap(alternate, alternate_size), 0);
  assert_true(counting_signal_walk.count > 5 && !counting_signal_walk.truncated);

  /* A fiber: every read goes through process_vm_readv. */
  const size_t fiber_size = 128 * 1024;
  void *fiber_stack =
      mmap(NULL, fiber_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(fiber_stack != MAP_FAILED);
  assert_int_equal(getcontext(&fiber_context), 0);
  fiber_context.uc_stack.ss_sp = fiber_stack;
  fiber_context.uc_stack.ss_size = fiber_size;
  fiber_context.uc_link = &fiber_return_context;
  makecontext(&fiber_context, counting_fiber_main, 0);
  assert_int_equal(swapcontext(&fiber_return_context, &fiber_context), 0);
  assert_int_equal(munmap(fiber_stack, fiber_size), 0);

  assert_int_equal(atomic_load(&allocations_counted), 0);
  assert_int_equal(dlclose(handle), 0);
}

int main(void) {
  main_started = true;
  assert_int_equal(lw__unwind_init(), 0);
  assert_int_equal(lw__unwind_init(), 0); /* idempotent */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_in_executable),
      cmocka_unit_test(test_chain_in_dlopened_library),
      cmocka_unit_test(test_alloca_vla_and_realigned_frames),
      cmocka_unit_test(test_depth_limit_and_skip),
      cmocka_unit_test(test_deep_recursion_truncates),
      cmocka_unit_test(test_skip_module),
      cmocka_unit_test(test_rule_encoding),
      cmocka_unit_test(test_cache_flush_forgets_rules),
      cmocka_unit_test(test_cache_counters_move),
      cmocka_unit_test(test_dlclose_then_flush),
      cmocka_unit_test(test_rbx_based_frame),
      cmocka_unit_test(test_dl_iterate_phdr_fallback),
      cmocka_unit_test(test_cpp_frames),
      cmocka_unit_test(test_threads_concurrently),
      cmocka_unit_test(test_signal_handler_on_thread_stack),
      cmocka_unit_test(test_signal_handler_on_sigaltstack),
      cmocka_unit_test(test_timer_signals_on_thread_stack),
      cmocka_unit_test(test_timer_signals_on_sigaltstack),
      cmocka_unit_test(test_makecontext_fiber),
      cmocka_unit_test(test_never_allocates),
      cmocka_unit_test(test_walk_in_first_allocation),
      cmocka_unit_test(test_memo_repeats_but_never_stale),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
