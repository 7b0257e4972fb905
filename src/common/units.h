/*
 * units.h - parsing and printing of sizes and durations, shared by the agent's options
 * (LEAKWATCH_RATE=512k) and the CLI (--rate 1m, --interval 5s, 'rss > 500MiB for 2m').
 * Pure functions: no allocation, no locale, safe in the agent.
 */
#ifndef LW_COMMON_UNITS_H
#define LW_COMMON_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Sizes: a decimal number (fraction allowed) with an optional suffix, case-insensitive:
 * b, k/kb/kib, m/mb/mib, g/gb/gib, t/tb/tib. All suffixes are powers of 1024 (a memory tool
 * is never asked for 10^6-byte megabytes). Returns 0, or -1 for anything else, including
 * overflow, negative numbers and trailing garbage. */
int lw_parse_size(const char *text, uint64_t *bytes);

/* Durations: a decimal number with an optional suffix ms, s, m, min, h, d; a bare number is
 * seconds. Returns 0 or -1. */
int lw_parse_duration_ms(const char *text, uint64_t *milliseconds);

/* "512 B", "12.3 KiB", "1.50 GiB": three significant digits, binary units. */
size_t lw_format_bytes(char *out, size_t size, double bytes);

#endif
