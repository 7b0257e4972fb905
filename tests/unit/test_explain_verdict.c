/*
 * test_explain.c - `leakwatch explain`'s two pure parts on made-up inputs: the smaps
 * classifier (src/cli/explain_memory.c: brk heap, glibc arena heaps, thread stacks by guard
 * page and by stack pointer, code, files, shared memory, the rest and its largest mapping)
 * and the findings' thresholds (src/cli/explain_verdict.c: each verdict where it should be,
 * none on a small process, advice specific to the allocator).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/explain_memory.h"
#include "cli/explain_verdict.h"

#define MIB (1024ull * 1024)

/* One smaps entry: header plus the lines the classifier reads. */
static void entry(char *out, size_t size, uint64_t start, uint64_t end, const char *perms,
                  const char *name, uint64_t rss_kib, uint64_t anonymous_kib) {
  size_t len = strlen(out);
  snprintf(out + len, size - len,
           "%012llx-%012llx %s 00000000 00:00 0          %s\n"
           "Size:           %8llu kB\nRss:            %8llu kB\nPss:            %8llu kB\n"
           "Swap:                  0 kB\nAnonymous:      %8llu kB\n",
           (unsigned long long)start, (unsigned long long)end, perms, name,
           (unsigned long long)((end - start) >> 10), (unsigned long long)rss_kib,
           (unsigned long long)rss_kib, (unsigned long long)anonymous_kib);
}

static void test_classifies_mappings(void **state) {
  (void)state;
  static char smaps[16384];
  smaps[0] = '\0';
  uint64_t arena = 0x7f0000000000ull; /* 64 MiB aligned */
  entry(smaps, sizeof smaps, 0x555555554000, 0x555555556000, "r-xp", "/usr/bin/svc", 8, 0);
  entry(smaps, sizeof smaps, 0x555555556000, 0x555555557000, "rw-p", "/usr/bin/svc", 4, 4);
  entry(smaps, sizeof smaps, 0x555555600000, 0x555556600000, "rw-p", "[heap]", 10240, 10240);
  /* An arena heap (rw part, then its PROT_NONE reserve up to 64 MiB). */
  entry(smaps, sizeof smaps, arena, arena + 32 * MIB, "rw-p", "", 30 * 1024, 30 * 1024);
  entry(smaps, sizeof smaps, arena + 32 * MIB, arena + 64 * MIB, "---p", "", 0, 0);
  /* A pthread stack: guard page, then the stack. */
  entry(smaps, sizeof smaps, 0x7f1000000000, 0x7f1000001000, "---p", "", 0, 0);
  entry(smaps, sizeof smaps, 0x7f1000001000, 0x7f1000801000, "rw-p", "", 64, 64);
  /* A stack found only by its thread's stack pointer (no guard below it). */
  entry(smaps, sizeof smaps, 0x7f2000000000, 0x7f2000100000, "rw-p", "", 16, 16);
  /* The program's own 100 MiB pool, and a small one. */
  entry(smaps, sizeof smaps, 0x7f3000000000, 0x7f3006400000, "rw-p", "", 100 * 1024, 100 * 1024);
  entry(smaps, sizeof smaps, 0x7f4000000000, 0x7f4000010000, "rw-p", "", 32, 32);
  entry(smaps, sizeof smaps, 0x7f5000000000, 0x7f5000400000, "rw-s", "/dev/shm/cache", 2048, 0);
  entry(smaps, sizeof smaps, 0x7f6000000000, 0x7f6000200000, "r--p", "/data/index.bin", 1024, 0);
  entry(smaps, sizeof smaps, 0x7ffc00000000, 0x7ffc00021000, "rw-p", "[stack]", 20, 20);
  entry(smaps, sizeof smaps, 0x7ffc00100000, 0x7ffc00102000, "r-xp", "[vdso]", 8, 0);
  uint64_t sp[1] = {0x7f20000ff000};
  lw_explain_memory_t m;
  memset(&m, 0, sizeof m);
  assert_int_equal(lw_explain_memory_parse(smaps, sp, 1, &m), 0);
  assert_int_equal(m.brk_heap_bytes, 10 * MIB);
  assert_int_equal(m.arena_heap_bytes, 30 * MIB);
  assert_int_equal(m.n_arena_heaps, 1);
  assert_int_equal(m.stack_bytes, (64 + 16 + 20) * 1024);
  assert_int_equal(m.n_stacks, 3);
  assert_int_equal(m.code_bytes, 16 * 1024);
  assert_int_equal(m.file_bytes, 4 * 1024 + 1 * MIB);
  assert_int_equal(m.shared_memory_bytes, 2 * MIB);
  assert_int_equal(m.other_anon_bytes, 100 * MIB + 32 * 1024);
  assert_int_equal(m.n_other_anon, 2);
  assert_int_equal(m.largest_other[0].start, 0x7f3000000000ull);
  assert_int_equal(m.largest_other[0].rss_bytes, 100 * MIB);
  assert_int_equal(m.largest_other[1].rss_bytes, 32 * 1024);
  assert_int_equal(m.largest_other[2].rss_bytes, 0);
}

static void test_fully_grown_arena_and_merged_reserve(void **state) {
  (void)state;
  static char smaps[4096];
  smaps[0] = '\0';
  uint64_t a = 0x7f0000000000ull, b = a + 64 * MIB;
  entry(smaps, sizeof smaps, a, a + 64 * MIB, "rw-p", "", 60 * 1024, 60 * 1024); /* full */
  /* The second heap's reserve merged with the guard page of a stack mapped after it: the
   * stack is known by its thread's stack pointer; a big mapping placed right above such a
   * reserve is no stack. */
  entry(smaps, sizeof smaps, b, b + 4 * MIB, "rw-p", "", 4096, 4096);
  entry(smaps, sizeof smaps, b + 4 * MIB, b + 64 * MIB + 4096, "---p", "", 0, 0);
  entry(smaps, sizeof smaps, b + 64 * MIB + 4096, b + 72 * MIB + 4096, "rw-p", "", 8, 8);
  entry(smaps, sizeof smaps, b + 80 * MIB, b + 96 * MIB, "---p", "", 0, 0);
  entry(smaps, sizeof smaps, b + 96 * MIB, b + 256 * MIB, "rw-p", "", 160 * 1024, 160 * 1024);
  /* A program's 160 MiB mapping that happens to start on a 64 MiB boundary, with a guard
   * page mapped right after it: not an arena heap. */
  entry(smaps, sizeof smaps, b + 320 * MIB, b + 480 * MIB, "rw-p", "", 160 * 1024, 160 * 1024);
  entry(smaps, sizeof smaps, b + 480 * MIB, b + 480 * MIB + 4096, "---p", "", 0, 0);
  uint64_t sp[1] = {b + 70 * MIB};
  lw_explain_memory_t m;
  memset(&m, 0, sizeof m);
  assert_int_equal(lw_explain_memory_parse(smaps, sp, 1, &m), 0);
  assert_int_equal(m.n_arena_heaps, 2);
  assert_int_equal(m.arena_heap_bytes, 64 * MIB);
  assert_int_equal(m.n_stacks, 1);
  assert_int_equal(m.stack_bytes, 8 * 1024);
  assert_int_equal(m.other_anon_bytes, 320 * MIB);
}

static lw_explain_input_t glibc_process(uint64_t rss_mib, uint64_t heap_mib, uint64_t in_use_mib) {
  lw_explain_input_t in;
  memset(&in, 0, sizeof in);
  in.pid = 4242;
  in.agent = true;
  snprintf(in.allocator, sizeof in.allocator, "glibc");
  snprintf(in.command, sizeof in.command, "./svc --port 8080");
  in.allocator_figures = true;
  in.memory.rss_bytes = rss_mib * MIB;
  in.memory.arena_heap_bytes = heap_mib * MIB;
  in.memory.n_arena_heaps = 8;
  in.allocator_in_use = in_use_mib * MIB;
  in.heap_live_bytes = in_use_mib * MIB;
  in.arenas = 9;
  in.largest_arena_bytes = 32 * MIB;
  in.history = true;
  in.history_seconds = 600;
  in.min_window_seconds = 180;
  return in;
}

static bool has_advice(const lw_explain_result_t *r, const char *start) {
  for (int i = 0; i < r->n_advice; i++)
    if (strncmp(r->advice[i].line, start, strlen(start)) == 0)
      return true;
  return false;
}

static void test_retention(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(260, 250, 10);
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[0].kind, LW_FINDING_RETENTION);
  assert_int_equal(r.figures.heap_free, 240 * MIB);
  assert_string_equal(r.advice[0].line, "leakwatch trim 4242");
  assert_true(has_advice(&r, "MALLOC_ARENA_MAX=2 ./svc --port 8080"));
  assert_true(has_advice(&r, "GLIBC_TUNABLES=glibc.malloc.trim_threshold="));
  assert_non_null(strstr(r.advice[1].what, "9 arenas"));
  /* Halfway between what is not free (20 MiB) and RSS: 140 MiB. */
  assert_true(has_advice(&r, "LD_PRELOAD=libleakwatch.so LEAKWATCH_SOFT_LIMIT=140MiB"));
}

static void test_small_process_has_no_problem(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(30, 20, 8); /* 12 MiB free: under 16 MiB */
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.n_findings, 1);
  assert_int_equal(r.findings[0].kind, LW_FINDING_NOTHING);
}

static void test_outside_heap(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(200, 10, 9);
  in.memory.other_anon_bytes = 180 * MIB;
  in.memory.largest_other[0] = (lw_explain_mapping_t){0x7f3000000000ull, 0x7f300b400000ull,
                                                      180 * MIB, "rw-p", ""};
  in.agent_memory_bytes = 1 * MIB;
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[0].kind, LW_FINDING_OUTSIDE);
  assert_int_equal(r.figures.outside_heap, 179 * MIB);
  assert_non_null(strstr(r.findings[0].evidence[1], "7f3000000000-7f300b400000"));
  assert_true(has_advice(&r, "strace -f -k -e trace=mmap,munmap -p 4242"));
}

static void test_leak_comes_first(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(260, 250, 10);
  in.n_suspects = 1;
  snprintf(in.suspects[0].name, sizeof in.suspects[0].name, "cache_insert cache.c:54");
  in.suspects[0].bytes_per_minute = MIB;
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[0].kind, LW_FINDING_LEAK);
  assert_int_equal(r.findings[1].kind, LW_FINDING_RETENTION);
  assert_string_equal(r.advice[0].line, "leakwatch leaks 4242");
}

static void test_bounded_cache(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(40, 36, 30);
  in.n_levelled = 1;
  snprintf(in.levelled[0].name, sizeof in.levelled[0].name, "dns_cache_put dns.c:39");
  in.levelled[0].live_bytes = 20.0 * MIB;
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[0].kind, LW_FINDING_BOUNDED_CACHE);
  in.history_seconds = 60; /* too little history: no verdict on growth either way */
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[0].kind, LW_FINDING_NOTHING);
}

static void test_without_the_agent(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(260, 250, 10);
  in.agent = false;
  in.allocator_figures = false;
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[r.n_findings - 1].kind, LW_FINDING_UNKNOWN);
  for (int i = 0; i < r.n_findings; i++)
    assert_int_not_equal(r.findings[i].kind, LW_FINDING_RETENTION);
  assert_true(r.n_unknown >= 1);
}

static void test_jemalloc_advice(void **state) {
  (void)state;
  lw_explain_input_t in = glibc_process(260, 0, 10);
  snprintf(in.allocator, sizeof in.allocator, "jemalloc");
  snprintf(in.allocator_file, sizeof in.allocator_file, "/usr/lib/libjemalloc.so.2");
  in.allocator_resident = 250 * MIB;
  in.memory.other_anon_bytes = 250 * MIB;
  lw_explain_result_t r;
  lw_explain_judge(&in, &r);
  assert_int_equal(r.findings[0].kind, LW_FINDING_RETENTION);
  assert_non_null(strstr(r.advice[0].what, "jemalloc purge"));
  assert_true(has_advice(&r, "MALLOC_CONF=dirty_decay_ms:"));
  assert_false(has_advice(&r, "MALLOC_ARENA_MAX"));
  assert_true(has_advice(&r, "LD_PRELOAD=\"libleakwatch.so /usr/lib/libjemalloc.so.2\" "
                             "LEAKWATCH_SOFT_LIMIT="));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classifies_mappings),
      cmocka_unit_test(test_fully_grown_arena_and_merged_reserve),
      cmocka_unit_test(test_retention),
      cmocka_unit_test(test_small_process_has_no_problem),
      cmocka_unit_test(test_outside_heap),
      cmocka_unit_test(test_leak_comes_first),
      cmocka_unit_test(test_bounded_cache),
      cmocka_unit_test(test_without_the_agent),
      cmocka_unit_test(test_jemalloc_advice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
