/*
 * bench_unwind.c - cost of one stack walk with the agent's unwinder (src/agent/unwind*.c),
 * cold and warm, against glibc's backtrace() and libgcc's _Unwind_Backtrace on the very
 * same stack, in one run.
 *
 * The stack is a chain of distinct noinline functions built -O2 -fomit-frame-pointer (this
 * file's flags), sized so that lw__unwind_here returns exactly 10 or 30 frames (main and
 * libc's start-up frames included), each frame with its own pc. backtrace() and _Unwind_Backtrace
 * also report the measuring function itself, one frame more. warm: the rule cache holds every pc;
 * the number is the mean over a loop. cold: the rule cache is flushed before each walk (not timed),
 * so every frame is looked up and interpreted. The flush writes 512 KiB, which also evicts much of
 *         the CPU caches; "backtrace(), after flush" times glibc's unwinder right after the
 *         same flush, the like-for-like comparison for the cold figure.
 * Each figure is the median of several runs (default 7; `bench_unwind RUNS` to change).
 * Command used for docs/PERFORMANCE.md: build/bench/bench_unwind
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unwind.h>

#include "agent/unwind.h"

#define MAX_FRAMES 64
#define WARM_ITERATIONS 20000
#define COLD_ITERATIONS 300
#define MAX_RUNS 31
#define KEEP_FRAME() __asm__ volatile("" ::: "memory")

typedef enum {
  METHOD_LEAKWATCH_MEMO,
  METHOD_LEAKWATCH_WARM,
  METHOD_LEAKWATCH_COLD,
  METHOD_BACKTRACE,
  METHOD_BACKTRACE_AFTER_FLUSH,
  METHOD_UNWIND_BACKTRACE,
  METHOD_COUNT
} method_t;

static const char *const method_names[METHOD_COUNT] = {
    "lw__unwind_here, repeated (memo)",
    "lw__unwind_here, warm cache",    "lw__unwind_here, cold cache", "glibc backtrace()",
    "glibc backtrace(), after flush", "libgcc _Unwind_Backtrace",
};

typedef struct {
  int runs;
  double ns[METHOD_COUNT][MAX_RUNS]; /* per-run mean ns per walk */
  int frames[METHOD_COUNT];          /* frames the method reported */
  bool frames_agree;                 /* lw__unwind_here == backtrace() - 1, frame by frame */
  bool truncated;
} measurement_t;

static uint64_t now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

typedef struct {
  void **pcs;
  int count;
  int max;
} unwind_backtrace_state_t;

static _Unwind_Reason_Code collect_frame(struct _Unwind_Context *context, void *argument) {
  unwind_backtrace_state_t *state = argument;
  if (state->count == state->max)
    return _URC_END_OF_STACK;
  state->pcs[state->count++] = (void *)_Unwind_GetIP(context);
  return _URC_NO_REASON;
}

/* Runs at the bottom of the chain: every method walks this same stack. */
__attribute__((noinline)) static void measure(measurement_t *m) {
  uint64_t pcs[MAX_FRAMES];
  void *addresses[MAX_FRAMES + 1];
  bool truncated = false;

  m->frames[METHOD_LEAKWATCH_WARM] = lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated);
  m->frames[METHOD_LEAKWATCH_COLD] = m->frames[METHOD_LEAKWATCH_WARM];
  m->frames[METHOD_LEAKWATCH_MEMO] = m->frames[METHOD_LEAKWATCH_WARM];
  m->truncated = truncated;
  m->frames[METHOD_BACKTRACE] = backtrace(addresses, MAX_FRAMES + 1);
  m->frames[METHOD_BACKTRACE_AFTER_FLUSH] = m->frames[METHOD_BACKTRACE];
  m->frames_agree = m->frames[METHOD_BACKTRACE] == m->frames[METHOD_LEAKWATCH_WARM] + 1;
  for (int i = 0; m->frames_agree && i < m->frames[METHOD_LEAKWATCH_WARM]; i++)
    m->frames_agree = pcs[i] == (uint64_t)(uintptr_t)addresses[i + 1] - 1;
  unwind_backtrace_state_t state = {.pcs = addresses, .count = 0, .max = MAX_FRAMES + 1};
  _Unwind_Backtrace(collect_frame, &state);
  m->frames[METHOD_UNWIND_BACKTRACE] = state.count;

  for (int run = 0; run < m->runs; run++) {
    /* Every walk below starts at the same pc and sp over the same stack: with the memo on,
     * all but the first are answered from it; "warm" times full walks with it off. */
    uint64_t start = now_ns();
    for (int i = 0; i < WARM_ITERATIONS; i++) {
      lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated);
      KEEP_FRAME();
    }
    m->ns[METHOD_LEAKWATCH_MEMO][run] = (double)(now_ns() - start) / WARM_ITERATIONS;

    lw__unwind_set_memo(false);
    start = now_ns();
    for (int i = 0; i < WARM_ITERATIONS; i++) {
      lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated);
      KEEP_FRAME();
    }
    m->ns[METHOD_LEAKWATCH_WARM][run] = (double)(now_ns() - start) / WARM_ITERATIONS;

    uint64_t cold_total = 0;
    for (int i = 0; i < COLD_ITERATIONS; i++) {
      lw__unwind_flush_cache();
      uint64_t before = now_ns();
      lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated);
      cold_total += now_ns() - before;
    }
    m->ns[METHOD_LEAKWATCH_COLD][run] = (double)cold_total / COLD_ITERATIONS;
    lw__unwind_set_memo(true);
    /* Leave the cache warm for the next run's warm loop. */
    lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated);

    start = now_ns();
    for (int i = 0; i < WARM_ITERATIONS / 10; i++) {
      backtrace(addresses, MAX_FRAMES + 1);
      KEEP_FRAME();
    }
    m->ns[METHOD_BACKTRACE][run] = (double)(now_ns() - start) / (WARM_ITERATIONS / 10);

    cold_total = 0;
    for (int i = 0; i < COLD_ITERATIONS; i++) {
      lw__unwind_flush_cache();
      uint64_t before = now_ns();
      backtrace(addresses, MAX_FRAMES + 1);
      cold_total += now_ns() - before;
    }
    m->ns[METHOD_BACKTRACE_AFTER_FLUSH][run] = (double)cold_total / COLD_ITERATIONS;
    lw__unwind_here(pcs, MAX_FRAMES, 0, &truncated); /* warm again */

    start = now_ns();
    for (int i = 0; i < WARM_ITERATIONS / 10; i++) {
      state.count = 0;
      _Unwind_Backtrace(collect_frame, &state);
      KEEP_FRAME();
    }
    m->ns[METHOD_UNWIND_BACKTRACE][run] = (double)(now_ns() - start) / (WARM_ITERATIONS / 10);
  }
}

/* A chain of distinct functions, so that every frame has its own return address and a
 * cold walk interprets the CFI of each one (a recursion would repeat one pc). level_N
 * calls the level below through a table; the barrier keeps the call from becoming a jump.
 */
#define LW_BENCH_LEVELS 40
typedef int (*level_t)(int remaining, measurement_t *m);
static const level_t levels[LW_BENCH_LEVELS];

#define LEVEL(n)                                                                                   \
  __attribute__((noinline)) static int level_##n(int remaining, measurement_t *m) {                \
    if (remaining <= 0)                                                                            \
      measure(m);                                                                                  \
    else                                                                                           \
      levels[remaining - 1](remaining - 1, m);                                                     \
    KEEP_FRAME();                                                                                  \
    return remaining + n;                                                                          \
  }
LEVEL(0)
LEVEL(1) LEVEL(2) LEVEL(3) LEVEL(4) LEVEL(5) LEVEL(6) LEVEL(7) LEVEL(8) LEVEL(9) LEVEL(10) LEVEL(11)
    LEVEL(12) LEVEL(13) LEVEL(14) LEVEL(15) LEVEL(16) LEVEL(17) LEVEL(18) LEVEL(19) LEVEL(20)
        LEVEL(21) LEVEL(22) LEVEL(23) LEVEL(24) LEVEL(25) LEVEL(26) LEVEL(27) LEVEL(28) LEVEL(29)
            LEVEL(30) LEVEL(31) LEVEL(32) LEVEL(33) LEVEL(34) LEVEL(35) LEVEL(36) LEVEL(37)
                LEVEL(38) LEVEL(39)

                    static const level_t levels[LW_BENCH_LEVELS] = {
                        level_0,  level_1,  level_2,  level_3,  level_4,  level_5,  level_6,
                        level_7,  level_8,  level_9,  level_10, level_11, level_12, level_13,
                        level_14, level_15, level_16, level_17, level_18, level_19, level_20,
                        level_21, level_22, level_23, level_24, level_25, level_26, level_27,
                        level_28, level_29, level_30, level_31, level_32, level_33, level_34,
                        level_35, level_36, level_37, level_38, level_39,
};

/* One measurement below a chain of `chain` + 1 distinct functions; main calls only this,
 * so the frames above the chain are the same for the probe and the real measurements. */
__attribute__((noinline)) static void run_measurement(int chain, measurement_t *m) {
  levels[chain](chain, m);
  KEEP_FRAME();
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values, int count) {
  qsort(values, (size_t)count, sizeof values[0], compare_doubles);
  return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 7;
  if (runs < 1 || runs > MAX_RUNS) {
    fprintf(stderr, "bench_unwind: runs must be 1..%d, got '%s'\n", MAX_RUNS, argv[1]);
    return 2;
  }
  if (lw__unwind_init() != 0) {
    fprintf(stderr, "bench_unwind: lw__unwind_init failed\n");
    return 1;
  }
  void *warm_up[4];
  backtrace(warm_up, 4); /* glibc loads libgcc_s on first use */

  /* Frames lw__unwind_here reports from measure() below the shortest chain (level_0). */
  measurement_t probe = {.runs = 0};
  run_measurement(0, &probe);
  int base = probe.frames[METHOD_LEAKWATCH_WARM];
  const int depths[] = {10, 30};
  printf("%-34s %6s %8s %12s %12s\n", "method", "depth", "frames", "ns/walk", "ns/frame");
  int status = 0;
  for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
    if (depths[d] - base < 0 || depths[d] - base >= LW_BENCH_LEVELS) {
      fprintf(stderr, "bench_unwind: %d frames above the chain, cannot make depth %d\n", base,
              depths[d]);
      return 1;
    }
    measurement_t m = {.runs = runs};
    run_measurement(depths[d] - base, &m);
    if (m.frames[METHOD_LEAKWATCH_WARM] != depths[d] || m.truncated || !m.frames_agree) {
      fprintf(stderr,
              "bench_unwind: depth %d: lw__unwind_here gave %d frames (truncated %d), "
              "%s backtrace()\n",
              depths[d], m.frames[METHOD_LEAKWATCH_WARM], m.truncated,
              m.frames_agree ? "agreeing with" : "DIFFERENT from");
      status = 1;
    }
    for (int method = 0; method < METHOD_COUNT; method++) {
      double ns = median(m.ns[method], runs);
      printf("%-34s %6d %8d %12.1f %12.2f\n", method_names[method], depths[d], m.frames[method], ns,
             ns / m.frames[method]);
    }
  }
  lw_unwind_stats_t stats;
  lw__unwind_get_stats(&stats);
  printf("runs %d (median); cache hits %llu, misses %llu, uncacheable %llu, unsafe stops %llu\n",
         runs, (unsigned long long)stats.cache_hits, (unsigned long long)stats.cache_misses,
         (unsigned long long)stats.uncacheable, (unsigned long long)stats.stopped_unsafe);
  return status;
}
