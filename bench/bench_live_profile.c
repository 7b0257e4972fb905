/*
 * bench_live_profile.c - a process shaped for measuring live profiling (bench/live.sh):
 * 100,000 live allocations spread over 10,000 distinct call stacks (run it with
 * LEAKWATCH_RATE=1 so every one is a sampled allocation), plus an allocating thread that
 * measures how long its malloc+free pairs take while profiles are being taken.
 *
 *   bench_live_profile [SECONDS]
 *
 * Prints "ready <pid> stacks=<n>" once set up; on SIGTERM or after SECONDS prints
 * "pairs=<n> max_pause_us=<worst> p9999_us=<99.99th percentile> over_1ms=<pairs above 1 ms>"
 * (malloc+free latencies).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void *volatile *kept;
static size_t n_kept;
volatile int sink;

static void on_term(int signal_number) {
  (void)signal_number;
  stop = 1;
}

/* 10,000 stacks: branch() descends 14 levels through left() or right() by the bits of a,
 * so each a < 16384 takes its own path; the leaf keeps 10 allocations per stack. */
#include "../tests/fixtures/branching_stacks.h"

__attribute__((noinline)) void branching_leaf(int a) {
  for (int i = 0; i < 10; i++)
    kept[n_kept++] = malloc(32 + (size_t)(a & 63));
  sink++;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Latency histogram in microseconds (last bucket: >= 10 ms). */
static uint64_t histogram[10001];
static uint64_t pairs, worst_ns;

static void *allocator(void *arg) {
  (void)arg;
  while (!stop) {
    uint64_t a = now_ns();
    void *volatile p = malloc(64);
    free(p);
    uint64_t d = now_ns() - a;
    if (d > worst_ns)
      worst_ns = d;
    histogram[d / 1000 > 10000 ? 10000 : d / 1000]++;
    pairs++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 60;
  signal(SIGTERM, on_term);
  kept = calloc(100000, sizeof *kept);
  for (int a = 0; a < 10000; a++)
    branch(14, a);
  printf("ready %d stacks=%d live=%zu\n", (int)getpid(), 10000, n_kept);
  fflush(stdout);
  pthread_t thread;
  pthread_create(&thread, NULL, allocator, NULL);
  for (int i = 0; i < seconds * 10 && !stop; i++)
    usleep(100000);
  stop = 1;
  pthread_join(thread, NULL);
  uint64_t seen = 0, p9999 = 0, over_1ms = 0;
  for (int us = 0; us <= 10000; us++) {
    seen += histogram[us];
    if (!p9999 && seen * 10000 >= pairs * 9999)
      p9999 = (uint64_t)us;
    if (us >= 1000)
      over_1ms += histogram[us];
  }
  printf("pairs=%llu max_pause_us=%.1f p9999_us=%llu over_1ms=%llu\n", (unsigned long long)pairs,
         (double)worst_ns / 1000.0, (unsigned long long)p9999, (unsigned long long)over_1ms);
  return 0;
}
