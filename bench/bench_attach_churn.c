/*
 * bench_attach_churn.c - bench_churn's malloc/free churn in rounds, one per line read on
 * stdin, in a process that lives on between them: bench/attach_cost.sh times rounds before
 * an attach (no agent), after `leakwatch attach` (or `heaptrack -p`) and after the detach, in
 * the same process, against a preloaded agent's rounds interleaved with them.
 *
 *   bench_attach_churn [--pairs N] [--live N]
 *
 * Says "ready" once, then for each line: one round of N malloc+free pairs of 16-256 bytes
 * (a ring of `live` blocks, the oldest replaced each step) and "ns_per_pair=X". EOF ends it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long pairs = 5000000;
static int live = 1024;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The same loop as bench_churn.c, so the numbers compare with docs/PERFORMANCE.md's. */
static void churn(void) {
  void **ring = calloc((size_t)live, sizeof(void *));
  uint32_t state = 2463534242u;
  for (long i = 0; i < pairs; i++) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    size_t size = 16 + (state % 241); /* 16..256 bytes */
    long slot = i % live;
    free(ring[slot]);
    ring[slot] = malloc(size);
    *(volatile char *)ring[slot] = 1;
  }
  for (int i = 0; i < live; i++)
    free(ring[i]);
  free(ring);
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--pairs") == 0)
      pairs = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--live") == 0)
      live = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "bench_attach_churn: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    double start = now_seconds();
    churn();
    printf("ns_per_pair=%.2f\n", (now_seconds() - start) * 1e9 / (double)pairs);
  }
  return 0;
}
