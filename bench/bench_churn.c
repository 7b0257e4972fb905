/*
 * bench_churn.c - malloc/free churn of 16-256 byte objects: the workload where an
 * allocation profiler's per-call overhead shows most. Run by bench/capture.sh with and
 * without the agent (and under heaptrack) in one go.
 *
 *   bench_churn [--threads N] [--pairs N] [--live N]
 *
 * Each thread keeps a ring of `live` objects and replaces one per step (malloc of a new
 * size, free of the oldest), so the allocator sees realistic reuse rather than one hot
 * block. Prints "pairs_per_thread=N threads=N seconds=S ns_per_pair=X".
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "churn_loop.h"

static long pairs = 20000000;
static int live = 1024;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *churn(void *arg) {
  (void)arg;
  lw_bench_churn_loop(pairs, live);
  return NULL;
}

int main(int argc, char **argv) {
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--threads") == 0)
      threads = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--pairs") == 0)
      pairs = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--live") == 0)
      live = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "bench_churn: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  if (threads < 1 || threads > 64 || pairs < 1 || live < 1) {
    fprintf(stderr, "bench_churn: invalid arguments\n");
    return 2;
  }
  pthread_t ids[64];
  double start = now_seconds();
  for (int t = 0; t < threads; t++)
    pthread_create(&ids[t], NULL, churn, NULL);
  for (int t = 0; t < threads; t++)
    pthread_join(ids[t], NULL);
  double seconds = now_seconds() - start;
  printf("pairs_per_thread=%ld threads=%d seconds=%.4f ns_per_pair=%.3f\n", pairs, threads,
         seconds, seconds * 1e9 / (double)pairs);
  return 0;
}
