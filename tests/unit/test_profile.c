/*
 * test_profile.c - the pprof model (src/common/profile.c) with gzip (gzip.c): build, encode,
 * decode round trips; reading Go's real heap profile from ../shared/reference; and the
 * decoder's one-line errors for each invalid profile pprof itself rejects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/file.h"
#include "common/gzip.h"
#include "common/pb.h"
#include "common/profile.h"

/* A two-sample heap profile shaped like Go's: four sample types, bytes label, a mapping. */
static void build_heap_profile(lw_profile_t *p) {
  lw_profile_init(p, &lw_libc_allocator);
  lw_profile_set_heap_layout(p, 524288);
  p->time_nanos = 1700000000000000000;
  lw_profile_mapping_t m;
  memset(&m, 0, sizeof m);
  m.memory_start = 0x400000;
  m.memory_limit = 0x500000;
  m.filename = lw_profile_string(p, "/usr/bin/app");
  m.build_id = lw_profile_string(p, "abcdef");
  m.has_functions = true;
  uint64_t mapping = lw_profile_add_mapping(p, &m);
  uint64_t leak_fn = lw_profile_add_function(p, lw_profile_string(p, "leak"),
                                             lw_profile_string(p, "leak"),
                                             lw_profile_string(p, "app.c"), 10);
  uint64_t main_fn = lw_profile_add_function(p, lw_profile_string(p, "main"),
                                             lw_profile_string(p, "main"),
                                             lw_profile_string(p, "app.c"), 1);
  lw_profile_line_t leak_line = {leak_fn, 12, 0};
  lw_profile_line_t main_line = {main_fn, 3, 0};
  uint64_t l1 = lw_profile_add_location(p, mapping, 0x401000, &leak_line, 1);
  uint64_t l2 = lw_profile_add_location(p, mapping, 0x402000, &main_line, 1);
  const uint64_t stack[] = {l1, l2};
  const int64_t values[] = {195, 12827985, 195, 12827985};
  lw_profile_label_t bytes = {lw_profile_string(p, "bytes"), 0, 65536, 0};
  assert_int_equal(lw_profile_add_sample(p, stack, 2, values, 4, &bytes, 1), 0);
  const int64_t zero[] = {0, 0, 0, 0};
  assert_int_equal(lw_profile_add_sample(p, &l2, 1, zero, 4, NULL, 0), 0);
  lw_profile_add_comment(p, "leakwatch test");
}

static void encode(const lw_profile_t *p, lw_buf_t *out) {
  lw_buf_init(out, &lw_libc_allocator);
  assert_int_equal(lw_profile_encode(p, out), 0);
}

static int decode(const lw_buf_t *wire, lw_profile_t *out, char *error, size_t size) {
  lw_profile_init(out, &lw_libc_allocator);
  return lw_profile_decode(out, wire->data, wire->len, error, size);
}

static void test_round_trip(void **state) {
  (void)state;
  lw_profile_t p, q;
  build_heap_profile(&p);
  lw_buf_t wire;
  encode(&p, &wire);
  char error[256] = "";
  assert_int_equal(decode(&wire, &q, error, sizeof error), 0);
  assert_int_equal(q.n_sample_types, 4);
  assert_string_equal(lw_profile_str(&q, q.sample_types[3].type), "inuse_space");
  assert_int_equal(q.period, 524288);
  assert_string_equal(lw_profile_str(&q, q.period_type.type), "space");
  assert_int_equal(q.n_samples, 2);
  const lw_profile_sample_t *s = &q.samples[0];
  assert_int_equal(s->n_locations, 2);
  assert_int_equal(lw_sample_values(&q, s)[1], 12827985);
  assert_int_equal(s->n_labels, 1);
  assert_int_equal(lw_sample_labels(&q, s)[0].num, 65536);
  const lw_profile_location_t *leaf = lw_profile_location(&q, lw_sample_locations(&q, s)[0]);
  assert_non_null(leaf);
  assert_int_equal(leaf->address, 0x401000);
  const lw_profile_function_t *f = lw_profile_function(&q, lw_location_lines(&q, leaf)[0].function_id);
  assert_string_equal(lw_profile_str(&q, f->name), "leak");
  assert_int_equal(lw_location_lines(&q, leaf)[0].line, 12);
  const lw_profile_mapping_t *m = lw_profile_mapping(&q, leaf->mapping_id);
  assert_string_equal(lw_profile_str(&q, m->build_id), "abcdef");
  assert_true(m->has_functions);
  assert_int_equal(q.n_comments, 1);
  /* Encoding the decoded profile again gives the same bytes. */
  lw_buf_t again;
  encode(&q, &again);
  assert_int_equal(again.len, wire.len);
  assert_memory_equal(again.data, wire.data, wire.len);
  lw_buf_free(&again);
  lw_buf_free(&wire);
  lw_profile_free(&p);
  lw_profile_free(&q);
}

static void test_strings_are_interned(void **state) {
  (void)state;
  lw_profile_t p;
  lw_profile_init(&p, &lw_libc_allocator);
  assert_int_equal(lw_profile_string(&p, ""), 0);
  int64_t a = lw_profile_string(&p, "alpha");
  for (int i = 0; i < 5000; i++) {
    char name[32];
    snprintf(name, sizeof name, "s%d", i);
    lw_profile_string(&p, name);
  }
  assert_int_equal(lw_profile_string(&p, "alpha"), a);
  assert_int_equal(lw_profile_string(&p, "s4999"), 5001);
  assert_int_equal(p.n_string_offsets, 5002);
  lw_profile_free(&p);
}

static void test_reads_go_heap_profile(void **state) {
  (void)state;
  lw_buf_t file, raw;
  lw_buf_init(&file, &lw_libc_allocator);
  lw_buf_init(&raw, &lw_libc_allocator);
  assert_int_equal(lw_read_file(LW_SOURCE_DIR "/tests/data/reference/go-heap-example.pb.gz",
                                &file, 1 << 26), 0);
  char error[256] = "";
  assert_int_equal(lw_gunzip(file.data, file.len, &raw, 1 << 28, error, sizeof error), 0);
  lw_profile_t p;
  assert_int_equal(decode(&raw, &p, error, sizeof error), 0);
  assert_int_equal(p.n_sample_types, 4);
  assert_string_equal(lw_profile_str(&p, p.sample_types[0].type), "alloc_objects");
  assert_int_equal(p.period, 524288);
  assert_int_equal(p.n_samples, 7);
  assert_int_equal(p.n_mappings, 5); /* app, libc, vdso, ld.so, vsyscall */
  bool found = false;
  for (size_t i = 0; i < p.n_functions; i++)
    if (strcmp(lw_profile_str(&p, p.functions[i].name), "main.leakBigBlocks") == 0)
      found = true;
  assert_true(found);
  /* go-heap-example.raw.txt: "195 12827985 195 12827985: 9 10 3" */
  bool sample_found = false;
  for (size_t i = 0; i < p.n_samples; i++) {
    const int64_t *v = lw_sample_values(&p, &p.samples[i]);
    if (v[0] == 195 && v[1] == 12827985 && v[3] == 12827985)
      sample_found = true;
  }
  assert_true(sample_found);
  lw_profile_free(&p);
  lw_buf_free(&file);
  lw_buf_free(&raw);
}

static void test_gzip_round_trip_and_truncation(void **state) {
  (void)state;
  lw_profile_t p;
  build_heap_profile(&p);
  lw_buf_t wire, gz, back;
  encode(&p, &wire);
  lw_buf_init(&gz, &lw_libc_allocator);
  lw_buf_init(&back, &lw_libc_allocator);
  assert_int_equal(lw_gzip_compress(wire.data, wire.len, &gz, 1), 0);
  assert_true(lw_is_gzip(gz.data, gz.len));
  char error[256] = "";
  assert_int_equal(lw_gunzip(gz.data, gz.len, &back, 1 << 20, error, sizeof error), 0);
  assert_int_equal(back.len, wire.len);
  assert_memory_equal(back.data, wire.data, wire.len);
  lw_buf_reset(&back);
  assert_int_equal(lw_gunzip(gz.data, gz.len / 2, &back, 1 << 20, error, sizeof error), -1);
  assert_string_equal(error, "truncated gzip data (unexpected end of file)");
  lw_buf_reset(&back);
  assert_int_equal(lw_gunzip(gz.data, gz.len, &back, 10, error, sizeof error), -1);
  assert_non_null(strstr(error, "exceeds the limit"));
  lw_buf_free(&wire);
  lw_buf_free(&gz);
  lw_buf_free(&back);
  lw_profile_free(&p);
}

/* Each invalid profile is rejected with a reason naming the problem. */
static void expect_decode_error(lw_profile_t *p, const char *expected_substring) {
  lw_buf_t wire;
  encode(p, &wire);
  lw_profile_t q;
  char error[256] = "";
  assert_int_equal(decode(&wire, &q, error, sizeof error), -1);
  if (!strstr(error, expected_substring))
    fail_msg("error '%s' does not mention '%s'", error, expected_substring);
  lw_profile_free(&q);
  lw_buf_free(&wire);
  lw_profile_free(p);
}

static void test_invalid_profiles(void **state) {
  (void)state;
  lw_profile_t p;

  build_heap_profile(&p);
  p.values[0] = 1; /* fine by itself */
  p.samples[0].n_values = 3;
  expect_decode_error(&p, "has 3 values but there are 4 sample types");

  build_heap_profile(&p);
  p.location_ids[0] = 99;
  expect_decode_error(&p, "missing location 99");

  build_heap_profile(&p);
  p.string_lengths[0] = 1; /* string_table[0] = "\0"-byte string, not "" */
  expect_decode_error(&p, "string_table[0] is not empty");

  build_heap_profile(&p);
  p.functions[0].name = 100000;
  expect_decode_error(&p, "refers to string 100000");

  build_heap_profile(&p);
  p.locations[1].id = p.locations[0].id;
  expect_decode_error(&p, "used twice");

  build_heap_profile(&p);
  p.n_sample_types = 0;
  expect_decode_error(&p, "no sample types");

  /* Random bytes are not a profile. */
  const uint8_t noise[] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc};
  lw_profile_t q;
  lw_profile_init(&q, &lw_libc_allocator);
  char error[256] = "";
  assert_int_equal(lw_profile_decode(&q, noise, sizeof noise, error, sizeof error), -1);
  lw_profile_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_strings_are_interned),
      cmocka_unit_test(test_reads_go_heap_profile),
      cmocka_unit_test(test_gzip_round_trip_and_truncation),
      cmocka_unit_test(test_invalid_profiles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
