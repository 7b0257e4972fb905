/*
 * bench_deep_alloc.c - malloc/free pairs made at stack depth 10 through -O2 code without
 * frame pointers: the workload for exact mode (every allocation unwound and recorded), run
 * by bench/capture.sh against no agent and against heaptrack.
 *
 *   bench_deep_alloc [--pairs N]
 *
 * A ring of 1024 live blocks is recycled (one malloc and one free per step), so tables stay
 * small and the cost measured is the per-call cost. Prints "pairs=N seconds=S ns_per_pair=X".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 1024
static void *ring[RING];
static uint32_t state = 2463534242u;
volatile int sink;

__attribute__((noinline)) static void level0(long i) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  long slot = i % RING;
  free(ring[slot]);
  ring[slot] = malloc(16 + state % 241);
  sink++;
}
#define LEVEL(n, next)                                      \
  __attribute__((noinline)) static void level##n(long i) { \
    next(i);                                                \
    sink++;                                                 \
  }
LEVEL(1, level0)
LEVEL(2, level1)
LEVEL(3, level2)
LEVEL(4, level3)
LEVEL(5, level4)
LEVEL(6, level5)
LEVEL(7, level6)
LEVEL(8, level7)
LEVEL(9, level8)

int main(int argc, char **argv) {
  long pairs = 2000000;
  if (argc == 3 && strcmp(argv[1], "--pairs") == 0)
    pairs = atol(argv[2]);
  else if (argc != 1) {
    fprintf(stderr, "usage: bench_deep_alloc [--pairs N]\n");
    return 2;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < pairs; i++)
    level9(i); /* main -> level9 ... level0 -> malloc: depth 11 with main */
  clock_gettime(CLOCK_MONOTONIC, &b);
  for (int i = 0; i < RING; i++)
    free(ring[i]);
  double seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  printf("pairs=%ld seconds=%.4f ns_per_pair=%.2f\n", pairs, seconds, seconds * 1e9 / (double)pairs);
  return 0;
}
