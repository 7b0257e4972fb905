/*
 * sampling.h - the maths of Poisson byte sampling (docs/INTERNALS.md, "Sampling").
 *
 * Each thread counts allocated bytes down from a distance drawn from an exponential
 * distribution with mean `rate`; the allocation that crosses zero is sampled. An allocation
 * of size S is therefore sampled with probability 1 - exp(-S/rate), and one sample of size S
 * stands for 1 / (1 - exp(-S/rate)) allocations: the unbiased estimator Go and tcmalloc use.
 *
 * No libm: the agent must not pull libraries into the target, so log and exp are computed
 * here (accurate to ~1e-12 relative, far below sampling noise).
 */
#ifndef LW_COMMON_SAMPLING_H
#define LW_COMMON_SAMPLING_H

#include <stdint.h>

/* xorshift64*: fast, 64-bit state, good enough for sampling decisions. State must not be 0. */
static inline uint64_t lw_random_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

double lw_natural_log(double x);  /* x > 0 */
double lw_exp(double x);          /* for |x| < 700 */

/* Bytes until the next sample: exponential with mean `rate` (>= 1), at least 1. */
int64_t lw_sample_interval(uint64_t *random_state, uint64_t rate);

/* How many allocations one sampled allocation of `size` bytes stands for. 1 when rate <= 1
 * (every allocation recorded) and for size 0 (which is only sampled in exact mode). */
double lw_sample_weight(uint64_t size, uint64_t rate);

#endif
