/*
 * churn_loop.h - the malloc/free loop the capture benchmarks time (bench_churn.c, and
 * bench_attach_churn.c after an attach), in one place so their numbers compare.
 *
 * A ring of `live` objects, one replaced per step: free of the oldest, malloc of a new one
 * of 16..256 bytes (xorshift sizes, the same sequence every run), one byte touched.
 */
#ifndef LW_BENCH_CHURN_LOOP_H
#define LW_BENCH_CHURN_LOOP_H

#include <stdint.h>
#include <stdlib.h>

static inline void lw_bench_churn_loop(long pairs, int live) {
  void **ring = calloc((size_t)live, sizeof(void *));
  if (!ring)
    abort();
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

#endif
