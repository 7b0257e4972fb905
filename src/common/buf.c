/*
 * buf.c - growable byte buffer (see buf.h). Safe inside the agent: allocates only through
 * the buffer's lw_allocator_t and formats with lw_fmt.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <string.h>

#include "common/fmt.h"

void lw_buf_init(lw_buf_t *buf, const lw_allocator_t *allocator) {
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
  buf->failed = false;
  buf->allocator = allocator;
}

void lw_buf_free(lw_buf_t *buf) {
  lw_release(buf->allocator, buf->data, buf->cap);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}

bool lw_buf_reserve(lw_buf_t *buf, size_t extra) {
  if (buf->failed)
    return false;
  if (extra <= buf->cap - buf->len)
    return true;
  if (extra > SIZE_MAX / 2 - buf->len) {
    buf->failed = true;
    return false;
  }
  size_t need = buf->len + extra;
  size_t cap = buf->cap ? buf->cap : 256;
  while (cap < need)
    cap *= 2;
  uint8_t *data = buf->data ? lw_resize(buf->allocator, buf->data, buf->cap, cap)
                            : lw_alloc(buf->allocator, cap);
  if (!data) {
    buf->failed = true;
    return false;
  }
  buf->data = data;
  buf->cap = cap;
  return true;
}

void lw_buf_append(lw_buf_t *buf, const void *bytes, size_t len) {
  if (len == 0 || !lw_buf_reserve(buf, len))
    return;
  memcpy(buf->data + buf->len, bytes, len);
  buf->len += len;
}

void lw_buf_append_byte(lw_buf_t *buf, uint8_t byte) {
  if (!lw_buf_reserve(buf, 1))
    return;
  buf->data[buf->len++] = byte;
}

void lw_buf_append_str(lw_buf_t *buf, const char *text) { lw_buf_append(buf, text, strlen(text)); }

void lw_buf_printf(lw_buf_t *buf, const char *format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  size_t need = lw_vfmt(NULL, 0, format, args);
  va_end(args);
  if (lw_buf_reserve(buf, need + 1)) {
    lw_vfmt((char *)buf->data + buf->len, need + 1, format, again);
    buf->len += need;
  }
  va_end(again);
}
