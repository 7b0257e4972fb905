/*
 * test_pb.c - protobuf wire encoding/decoding (src/common/pb.c): varint boundaries,
 * packed vs unpacked repeated fields, nested lengths that need widening, and the decoder's
 * refusal of truncated or overlong input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/pb.h"

static void test_varint_round_trip(void **state) {
  (void)state;
  const uint64_t values[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX,
                             (uint64_t)INT64_MAX, UINT64_MAX};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    lw_buf_t buf;
    lw_buf_init(&buf, &lw_libc_allocator);
    lw_pb_varint(&buf, values[i]);
    lw_pb_reader_t r;
    lw_pb_reader_init(&r, buf.data, buf.len);
    uint64_t got = 0;
    assert_int_equal(lw_pb_read_varint(&r, &got), 0);
    assert_true(got == values[i]);
    assert_ptr_equal(r.pos, r.end);
    lw_buf_free(&buf);
  }
}

static void test_negative_int64_takes_ten_bytes(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_pb_int(&buf, 2, -1);
  assert_int_equal(buf.len, 11); /* key + 10 bytes: int64 is not zigzag encoded */
  lw_buf_free(&buf);
}

static void test_zero_scalars_are_omitted_but_empty_bytes_are_not(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  lw_pb_uint(&buf, 1, 0);
  assert_int_equal(buf.len, 0);
  lw_pb_bytes(&buf, 6, "", 0);
  assert_int_equal(buf.len, 2);
  assert_int_equal(buf.data[0], (6 << 3) | LW_PB_BYTES);
  assert_int_equal(buf.data[1], 0);
  lw_buf_free(&buf);
}

static void test_repeated_packs_only_above_two(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  const uint64_t two[] = {5, 6};
  lw_pb_repeated_uint(&buf, 1, two, 2);
  const uint8_t unpacked[] = {0x08, 5, 0x08, 6};
  assert_int_equal(buf.len, sizeof unpacked);
  assert_memory_equal(buf.data, unpacked, sizeof unpacked);
  lw_buf_reset(&buf);
  const uint64_t three[] = {5, 6, 300};
  lw_pb_repeated_uint(&buf, 1, three, 3);
  const uint8_t packed[] = {0x0a, 4, 5, 6, 0xac, 0x02};
  assert_int_equal(buf.len, sizeof packed);
  assert_memory_equal(buf.data, packed, sizeof packed);
  lw_buf_free(&buf);
}

static void test_nested_length_widens(void **state) {
  (void)state;
  lw_buf_t buf;
  lw_buf_init(&buf, &lw_libc_allocator);
  size_t mark = lw_pb_begin(&buf, 3);
  char body[300];
  memset(body, 'x', sizeof body);
  lw_pb_bytes(&buf, 1, body, sizeof body);
  lw_pb_end(&buf, mark);
  lw_pb_reader_t r;
  lw_pb_reader_init(&r, buf.data, buf.len);
  uint32_t field;
  int wire_type;
  assert_int_equal(lw_pb_next_field(&r, &field, &wire_type), 1);
  assert_int_equal(field, 3);
  const uint8_t *data;
  size_t len;
  assert_int_equal(lw_pb_read_bytes(&r, &data, &len), 0);
  assert_int_equal(len, 303); /* key(1) + length(2) + 300 */
  assert_ptr_equal(r.pos, r.end);
  lw_buf_free(&buf);
}

static void test_decoder_rejects_truncation(void **state) {
  (void)state;
  const uint8_t unfinished_varint[] = {0x80, 0x80};
  lw_pb_reader_t r;
  uint64_t v;
  lw_pb_reader_init(&r, unfinished_varint, sizeof unfinished_varint);
  assert_int_equal(lw_pb_read_varint(&r, &v), -1);

  const uint8_t length_past_end[] = {0x0a, 10, 1, 2};
  lw_pb_reader_init(&r, length_past_end, sizeof length_past_end);
  uint32_t field;
  int wire_type;
  assert_int_equal(lw_pb_next_field(&r, &field, &wire_type), 1);
  const uint8_t *data;
  size_t len;
  assert_int_equal(lw_pb_read_bytes(&r, &data, &len), -1);

  const uint8_t eleven_bytes[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0x01};
  lw_pb_reader_init(&r, eleven_bytes, sizeof eleven_bytes);
  assert_int_equal(lw_pb_read_varint(&r, &v), -1);

  const uint8_t field_zero[] = {0x00};
  lw_pb_reader_init(&r, field_zero, sizeof field_zero);
  assert_int_equal(lw_pb_next_field(&r, &field, &wire_type), -1);

  const uint8_t group[] = {0x0b};
  lw_pb_reader_init(&r, group, sizeof group);
  assert_int_equal(lw_pb_next_field(&r, &field, &wire_type), 1);
  assert_int_equal(lw_pb_skip(&r, wire_type), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_varint_round_trip),
      cmocka_unit_test(test_negative_int64_takes_ten_bytes),
      cmocka_unit_test(test_zero_scalars_are_omitted_but_empty_bytes_are_not),
      cmocka_unit_test(test_repeated_packs_only_above_two),
      cmocka_unit_test(test_nested_length_widens),
      cmocka_unit_test(test_decoder_rejects_truncation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
