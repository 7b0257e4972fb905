/*
 * pb.c - protobuf wire encoding and decoding (see pb.h). No allocation besides the
 * lw_buf_t it appends to; the decoder checks every length against the end of its input.
 */
#include "common/pb.h"

#include <string.h>

static size_t varint_size(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    n++;
  }
  return n;
}

static size_t put_varint(uint8_t *out, uint64_t value) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = (uint8_t)(value | 0x80);
    value >>= 7;
  }
  out[n++] = (uint8_t)value;
  return n;
}

void lw_pb_varint(lw_buf_t *buf, uint64_t value) {
  if (!lw_buf_reserve(buf, 10))
    return;
  buf->len += put_varint(buf->data + buf->len, value);
}

void lw_pb_key(lw_buf_t *buf, uint32_t field, int wire_type) {
  lw_pb_varint(buf, ((uint64_t)field << 3) | (uint64_t)wire_type);
}

void lw_pb_uint(lw_buf_t *buf, uint32_t field, uint64_t value) {
  if (value == 0)
    return;
  lw_pb_key(buf, field, LW_PB_VARINT);
  lw_pb_varint(buf, value);
}

void lw_pb_int(lw_buf_t *buf, uint32_t field, int64_t value) {
  lw_pb_uint(buf, field, (uint64_t)value);
}

void lw_pb_bytes(lw_buf_t *buf, uint32_t field, const void *data, size_t len) {
  lw_pb_key(buf, field, LW_PB_BYTES);
  lw_pb_varint(buf, len);
  lw_buf_append(buf, data, len);
}

void lw_pb_repeated_uint(lw_buf_t *buf, uint32_t field, const uint64_t *values, size_t n) {
  if (n <= 2) {
    for (size_t i = 0; i < n; i++) {
      lw_pb_key(buf, field, LW_PB_VARINT);
      lw_pb_varint(buf, values[i]);
    }
    return;
  }
  size_t mark = lw_pb_begin(buf, field);
  for (size_t i = 0; i < n; i++)
    lw_pb_varint(buf, values[i]);
  lw_pb_end(buf, mark);
}

void lw_pb_repeated_int(lw_buf_t *buf, uint32_t field, const int64_t *values, size_t n) {
  /* int64 and uint64 share the varint encoding; reinterpret element by element. */
  if (n <= 2) {
    for (size_t i = 0; i < n; i++) {
      lw_pb_key(buf, field, LW_PB_VARINT);
      lw_pb_varint(buf, (uint64_t)values[i]);
    }
    return;
  }
  size_t mark = lw_pb_begin(buf, field);
  for (size_t i = 0; i < n; i++)
    lw_pb_varint(buf, (uint64_t)values[i]);
  lw_pb_end(buf, mark);
}

size_t lw_pb_begin(lw_buf_t *buf, uint32_t field) {
  lw_pb_key(buf, field, LW_PB_BYTES);
  size_t mark = buf->len;
  lw_buf_append_byte(buf, 0); /* one length byte; lw_pb_end widens it if needed */
  return mark;
}

void lw_pb_end(lw_buf_t *buf, size_t mark) {
  if (lw_buf_failed(buf))
    return;
  size_t body = buf->len - mark - 1;
  size_t width = varint_size(body);
  if (width > 1) {
    if (!lw_buf_reserve(buf, width - 1))
      return;
    memmove(buf->data + mark + width, buf->data + mark + 1, body);
    buf->len += width - 1;
  }
  put_varint(buf->data + mark, body);
}

int lw_pb_read_varint(lw_pb_reader_t *r, uint64_t *value) {
  uint64_t result = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (r->pos >= r->end)
      return -1;
    uint8_t byte = *r->pos++;
    if (shift == 63 && byte > 1)
      return -1; /* more than 64 bits */
    result |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *value = result;
      return 0;
    }
  }
  return -1;
}

int lw_pb_next_field(lw_pb_reader_t *r, uint32_t *field, int *wire_type) {
  if (r->pos >= r->end)
    return 0;
  uint64_t key;
  if (lw_pb_read_varint(r, &key) < 0)
    return -1;
  if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
    return -1;
  *field = (uint32_t)(key >> 3);
  *wire_type = (int)(key & 7);
  return 1;
}

int lw_pb_read_bytes(lw_pb_reader_t *r, const uint8_t **data, size_t *len) {
  uint64_t n;
  if (lw_pb_read_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->pos))
    return -1;
  *data = r->pos;
  *len = (size_t)n;
  r->pos += n;
  return 0;
}

int lw_pb_skip(lw_pb_reader_t *r, int wire_type) {
  uint64_t ignored;
  const uint8_t *data;
  size_t len;
  switch (wire_type) {
  case LW_PB_VARINT:
    return lw_pb_read_varint(r, &ignored);
  case LW_PB_FIXED64:
    if (r->end - r->pos < 8)
      return -1;
    r->pos += 8;
    return 0;
  case LW_PB_BYTES:
    return lw_pb_read_bytes(r, &data, &len);
  case LW_PB_FIXED32:
    if (r->end - r->pos < 4)
      return -1;
    r->pos += 4;
    return 0;
  default:
    return -1; /* groups (3, 4) are not used by profile.proto */
  }
}
