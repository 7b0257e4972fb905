/*
 * sampling.c - exponential sampling distances and unbiasing weights (see sampling.h).
 */
#include "common/sampling.h"

#include <string.h>

static const double ln2 = 0.69314718055994530942;

double lw_natural_log(double x) {
  /* x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln(m) = 2 atanh(z), z = (m-1)/(m+1),
   * |z| < 0.172, so the odd series converges fast. */
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int exponent = (int)((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;
  memcpy(&m, &bits, sizeof m);
  if (m > 1.41421356237309504880) {
    m /= 2;
    exponent++;
  }
  double z = (m - 1) / (m + 1);
  double z2 = z * z;
  double term = z;
  double sum = 0;
  for (int k = 1; k <= 25; k += 2) {
    sum += term / k;
    term *= z2;
  }
  return 2 * sum + exponent * ln2;
}

double lw_exp(double x) {
  /* x = k ln2 + r with |r| <= ln2/2; exp(r) by Taylor series, then scale by 2^k. */
  double kf = x / ln2;
  int k = (int)(kf < 0 ? kf - 0.5 : kf + 0.5);
  double r = x - k * ln2;
  double term = 1, sum = 1;
  for (int n = 1; n < 20; n++) {
    term *= r / n;
    sum += term;
  }
  uint64_t bits = (uint64_t)(k + 1023) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return sum * scale;
}

int64_t lw_sample_interval(uint64_t *random_state, uint64_t rate) {
  if (rate <= 1)
    return 0;
  /* Uniform in (0, 1] from the top 53 bits, never 0 so the log is finite. */
  double u = (double)((lw_random_next(random_state) >> 11) + 1) * (1.0 / 9007199254740992.0);
  double distance = -lw_natural_log(u) * (double)rate;
  if (distance < 1)
    return 1;
  if (distance > 4.0e18)
    return (int64_t)4.0e18;
  return (int64_t)distance;
}

double lw_sample_weight(uint64_t size, uint64_t rate) {
  if (rate <= 1 || size == 0)
    return 1;
  double y = (double)size / (double)rate;
  double p; /* probability of being sampled: 1 - exp(-y), accurately for small y */
  if (y < 0.01)
    p = y * (1 - y / 2 * (1 - y / 3 * (1 - y / 4)));
  else if (y > 40)
    p = 1;
  else
    p = 1 - lw_exp(-y);
  return 1 / p;
}
