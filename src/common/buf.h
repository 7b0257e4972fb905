/*
 * buf.h - a growable byte buffer over an lw_allocator_t with a sticky error flag.
 *
 * Writers append without checking every call; once an allocation fails the buffer stays
 * failed (jemalloc's dump idea) and the caller checks lw_buf_failed() once at the end.
 */
#ifndef LW_COMMON_BUF_H
#define LW_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alloc.h"

typedef struct lw_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  bool failed;
  const lw_allocator_t *allocator;
} lw_buf_t;

void lw_buf_init(lw_buf_t *buf, const lw_allocator_t *allocator);
void lw_buf_free(lw_buf_t *buf);
/* Makes room for `extra` more bytes; returns false (and marks the buffer failed) if it cannot. */
bool lw_buf_reserve(lw_buf_t *buf, size_t extra);
void lw_buf_append(lw_buf_t *buf, const void *bytes, size_t len);
void lw_buf_append_byte(lw_buf_t *buf, uint8_t byte);
void lw_buf_append_str(lw_buf_t *buf, const char *text);
/* printf-style append using lw_fmt (no libc stdio, safe in the agent). */
void lw_buf_printf(lw_buf_t *buf, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static inline bool lw_buf_failed(const lw_buf_t *buf) { return buf->failed; }
static inline void lw_buf_reset(lw_buf_t *buf) { buf->len = 0; }

#endif
