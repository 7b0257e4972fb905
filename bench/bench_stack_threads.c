/*
 * bench_stack_threads.c - the target of bench/stack_pause.sh: N threads that each wake on a
 * fixed period and measure how late they woke, so a pause an inspector (`leakwatch stack`)
 * causes shows as lateness the program itself notices.
 *
 *   bench_stack_threads N
 *
 * Each thread sleeps to absolute deadlines (clock_nanosleep TIMER_ABSTIME, CLOCK_MONOTONIC)
 * every max(10 ms, N x 0.1 ms), so all of them together wake about 10,000 times a second at
 * most, whatever N. Prints "ready", then answers each line on standard input: "reset" zeroes
 * the figures, anything else prints "wakeups=W late_max_us=M late_over_1ms=K" (K: wake-ups
 * more than 1 ms late). Exits at the end of its input.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_uint_fast64_t wakeups, late_max_ns, late_over_1ms;
static int64_t period_ns;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *ticker(void *arg) {
  /* Spread the threads' deadlines over the period so they do not all wake at once. */
  int64_t next = now_ns() + period_ns + (int64_t)(uintptr_t)arg * 7919 % period_ns;
  for (;;) {
    struct timespec deadline = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) != 0)
      continue; /* an absolute deadline stays right across an EINTR */
    int64_t late = now_ns() - next;
    atomic_fetch_add(&wakeups, 1);
    uint_fast64_t seen = atomic_load(&late_max_ns);
    while (late > 0 && (uint_fast64_t)late > seen &&
           !atomic_compare_exchange_weak(&late_max_ns, &seen, (uint_fast64_t)late))
      continue;
    if (late > 1000000)
      atomic_fetch_add(&late_over_1ms, 1);
    next += period_ns;
    if (next < now_ns()) /* fell behind (a loaded machine): skip, do not burst */
      next = now_ns() + period_ns;
  }
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10;
  if (n < 1) {
    fprintf(stderr, "usage: bench_stack_threads N\n");
    return 2;
  }
  period_ns = (int64_t)n * 100000;
  if (period_ns < 10000000)
    period_ns = 10000000;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024); /* 1,000 threads in 64 MiB of address space */
  for (int i = 0; i < n; i++) {
    pthread_t thread;
    if (pthread_create(&thread, &attr, ticker, (void *)(uintptr_t)i) != 0) {
      perror("bench_stack_threads: pthread_create");
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "reset", 5) == 0) {
      atomic_store(&wakeups, 0);
      atomic_store(&late_max_ns, 0);
      atomic_store(&late_over_1ms, 0);
      continue;
    }
    printf("wakeups=%llu late_max_us=%llu late_over_1ms=%llu\n",
           (unsigned long long)atomic_load(&wakeups),
           (unsigned long long)(atomic_load(&late_max_ns) / 1000),
           (unsigned long long)atomic_load(&late_over_1ms));
    fflush(stdout);
  }
  return 0;
}
