/*
 * pb.h - protobuf wire format: the subset profile.proto needs (varints, length-delimited
 * fields, packed repeated varints). Encoding appends to an lw_buf_t, decoding reads a
 * bounded byte range and never reads past it. Safe inside the agent.
 */
#ifndef LW_COMMON_PB_H
#define LW_COMMON_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum { LW_PB_VARINT = 0, LW_PB_FIXED64 = 1, LW_PB_BYTES = 2, LW_PB_FIXED32 = 5 };

void lw_pb_varint(lw_buf_t *buf, uint64_t value);
void lw_pb_key(lw_buf_t *buf, uint32_t field, int wire_type);
/* Integer fields: proto3 omits zero values, so these write nothing for 0. int64 negatives
 * are written as 10-byte varints (profile.proto uses int64, not sint64). */
void lw_pb_uint(lw_buf_t *buf, uint32_t field, uint64_t value);
void lw_pb_int(lw_buf_t *buf, uint32_t field, int64_t value);
/* Always written, even when empty (string_table[0] must be present as ""). */
void lw_pb_bytes(lw_buf_t *buf, uint32_t field, const void *data, size_t len);
/* Repeated varints: packed when there are more than two values, as Go's writer does. */
void lw_pb_repeated_uint(lw_buf_t *buf, uint32_t field, const uint64_t *values, size_t n);
void lw_pb_repeated_int(lw_buf_t *buf, uint32_t field, const int64_t *values, size_t n);
/* Nested message: begin writes the key and reserves the length, end fills it in. */
size_t lw_pb_begin(lw_buf_t *buf, uint32_t field);
void lw_pb_end(lw_buf_t *buf, size_t mark);

typedef struct lw_pb_reader {
  const uint8_t *pos;
  const uint8_t *end;
} lw_pb_reader_t;

static inline void lw_pb_reader_init(lw_pb_reader_t *r, const void *data, size_t len) {
  r->pos = data;
  r->end = r->pos + len;
}
/* Each returns 0 on success and -1 on malformed or truncated input. */
int lw_pb_read_varint(lw_pb_reader_t *r, uint64_t *value);
/* Reads the next key: returns 1 with field/wire_type set, 0 at the end, -1 when malformed. */
int lw_pb_next_field(lw_pb_reader_t *r, uint32_t *field, int *wire_type);
int lw_pb_read_bytes(lw_pb_reader_t *r, const uint8_t **data, size_t *len);
int lw_pb_skip(lw_pb_reader_t *r, int wire_type);

#endif
