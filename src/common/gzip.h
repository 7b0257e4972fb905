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

/* Appends the gzip stream of `in` to `out` (allocating through out->allocator).
 * level: 1 (fastest, what Go uses for profiles) to 9. Returns 0 or -1. */
int lw_gzip_compress(const uint8_t *in, size_t len, lw_buf_t *out, int level);

/* Appends the decompressed bytes of a gzip stream (one or more members) to `out`.
 * Stops with an error past max_out bytes. Returns 0, or -1 with a one-line reason such as
 * "truncated gzip data (unexpected end of file)". */
int lw_gunzip(const uint8_t *in, size_t len, lw_buf_t *out, size_t max_out, char *error,
              size_t error_size);

#endif
