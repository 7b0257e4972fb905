/*
 * number_format.h - locale-free, non-allocating number printing that round-trips.
 *
 * lw_fmt has no %g, and its %f loses precision and prints large values as "inf"; metric
 * writers (Prometheus exposition, CSV, JSONL) need every double back exactly as it was.
 * This module prints the shortest decimal string that reads back as the same double
 * (Burger & Dybvig's free-format algorithm on a fixed-size bignum: no malloc, no libc
 * stdio, no locale, safe inside the agent). Integers are printed as plain digits.
 *
 * Pairs with: prom.c (exposition values), the CLI's CSV/JSONL writers.
 */
#ifndef LW_COMMON_NUMBER_FORMAT_H
#define LW_COMMON_NUMBER_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Longest output of any function here, including the terminating NUL
 * ("-2.2250738585072014e-308" is 24 characters). */
#define LW_NUMBER_MAX 32

/* Writes `value` so that strtod() of the text gives back the same double:
 *  - integral values with magnitude below 2^63 as plain integers ("7626752", "-3");
 *  - other values in [1e-5, 1e21) in positional notation ("0.1", "12.5", "0.00012");
 *  - the rest with an exponent ("1.8446744073709552e+21", "5e-324");
 *  - "NaN", "+Inf", "-Inf" (the spellings Prometheus and Go accept), and "-0".
 * Returns the length written, truncating (always NUL-terminated when size > 0) like
 * snprintf: a buffer of LW_NUMBER_MAX bytes is always enough. */
size_t lw_format_double(char *out, size_t size, double value);

/* Plain decimal digits, exact for every value. Same return convention. */
size_t lw_format_u64(char *out, size_t size, uint64_t value);
size_t lw_format_i64(char *out, size_t size, int64_t value);

#endif
