/*
 * gzip.h - gzip compression and decompression of whole buffers, over zlib.
 *
 * zlib is told to allocate through the caller's lw_allocator_t, so the agent can compress
 * profiles without touching the tracked malloc.
 */
#ifndef LW_COMMON_GZIP_H
#define LW_COMMON_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

static inline bool lw_is_gzip(const uint8_t *data, size_t len) {
  return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

/* The uncompressed size gzip's trailer records for the last member, modulo 2^32 (RFC 1952
 * ISIZE); 0 for data too short to hold one. A hint for sizing the output buffer once:
 * exact for the usual one-member file, never to be trusted (it is not checked until the
 * data is inflated). */
static inline size_t lw_gzip_size_hint(const uint8_t *data, size_t len) {
  if (len < 18)
    return 0;
  const uint8_t *t = data + len - 4;
  return (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 | (size_t)t[3] << 24;
}

/* Appends the gzip stream of `in` to `out` (allocating through out->allocator).
 * level: 1 (fastest, what Go uses for profiles) to 9. Returns 0 or -1. */
int lw_gzip_compress(const uint8_t *in, size_t len, lw_buf_t *out, int level);

/* Appends the decompressed bytes of a gzip stream (one or more members) to `out`.
 * Stops with an error past max_out bytes. Returns 0, or -1 with a one-line reason such as
 * "truncated gzip data (unexpected end of file)". */
int lw_gunzip(const uint8_t *in, size_t len, lw_buf_t *out, size_t max_out, char *error,
              size_t error_size);

#endif
