/*
 * test_profile_io.c - src/cli/profile_io.c: loading gzipped and plain profiles, and one clear
 * line naming the file for every kind of bad input (truncated gzip, empty file, not a
 * protobuf, string_table[0] not empty, dangling ids, an oversized file or decompressed
 * size, a directory, a missing file); saving is atomic and round-trips. src/cli/inflate.c
 * (libdeflate when built with it) agrees with zlib's lw_gunzip on every input tried.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/inflate.h"
#include "cli/profile_io.h"
#include "common/gzip.h"
#include "common/pb.h"

static char dir[] = "/tmp/lw-profile-io-XXXXXX";

static int setup(void **state) {
  (void)state;
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char command[256];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  return system(command) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void build(lw_profile_t *p) {
  lw_profile_init(p, &lw_libc_allocator);
  lw_profile_add_sample_type(p, "inuse_space", "bytes");
  uint64_t f = lw_profile_add_function(p, lw_profile_string(p, "leak"), lw_profile_string(p, "leak"),
                                       lw_profile_string(p, "leak.c"), 3);
  lw_profile_line_t line = {f, 7, 0};
  uint64_t l = lw_profile_add_location(p, 0, 0x1000, &line, 1);
  const int64_t v = 4096;
  assert_int_equal(lw_profile_add_sample(p, &l, 1, &v, 1, NULL, 0), 0);
}

/* Loads `path` expecting failure, and returns the message. */
static const char *load_error(const char *path) {
  static char error[512];
  lw_profile_t p;
  error[0] = '\0';
  assert_int_equal(lw_cli_load_profile(path, &p, error, sizeof error), -1);
  assert_int_equal(p.n_samples, 0);
  lw_profile_free(&p);
  assert_non_null(strchr(error, '\''));
  assert_null(strchr(error, '\n'));
  return error;
}

/* Writes the bytes to `name` and checks the message starts with "'<path>': <expected>". */
static void expect_error(const char *name, const void *data, size_t len, const char *expected) {
  char path[512], want[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  write_file(path, data, len);
  snprintf(want, sizeof want, "'%s': %s", path, expected);
  const char *got = load_error(path);
  if (strncmp(got, want, strlen(want)) != 0)
    fail_msg("got \"%s\", want \"%s...\"", got, want);
}

static void test_save_and_load_round_trip(void **state) {
  (void)state;
  lw_profile_t p, q;
  build(&p);
  char path[512], error[512];
  snprintf(path, sizeof path, "%s/ok.pb.gz", dir);
  assert_int_equal(lw_cli_save_profile(path, &p, error, sizeof error), 0);
  assert_int_equal(lw_cli_load_profile(path, &q, error, sizeof error), 0);
  assert_int_equal(q.n_samples, 1);
  assert_int_equal(lw_sample_values(&q, &q.samples[0])[0], 4096);
  /* The file is gzip (level 1, as Go writes). */
  FILE *f = fopen(path, "rb");
  unsigned char magic[2];
  assert_int_equal(fread(magic, 1, 2, f), 2);
  fclose(f);
  assert_true(magic[0] == 0x1f && magic[1] == 0x8b);
  lw_profile_free(&q);

  /* Plain (not gzipped) protobuf is accepted too. */
  lw_buf_t wire;
  lw_buf_init(&wire, &lw_libc_allocator);
  assert_int_equal(lw_profile_encode(&p, &wire), 0);
  snprintf(path, sizeof path, "%s/plain.pb", dir);
  write_file(path, wire.data, wire.len);
  assert_int_equal(lw_cli_load_profile(path, &q, error, sizeof error), 0);
  assert_int_equal(q.n_samples, 1);
  lw_profile_free(&q);
  lw_buf_free(&wire);

  /* Go's real profile. */
  snprintf(path, sizeof path, "%s/tests/data/reference/go-heap-example.pb.gz", LW_SOURCE_DIR);
  assert_int_equal(lw_cli_load_profile(path, &q, error, sizeof error), 0);
  assert_int_equal(q.n_sample_types, 4);
  assert_int_equal(q.n_samples, 7);
  lw_profile_free(&q);
  lw_profile_free(&p);
}

static void test_save_failure_leaves_nothing(void **state) {
  (void)state;
  lw_profile_t p;
  build(&p);
  char path[512], error[512];
  snprintf(path, sizeof path, "%s/no-such-dir/out.pb.gz", dir);
  assert_int_equal(lw_cli_save_profile(path, &p, error, sizeof error), -1);
  char want[1024];
  snprintf(want, sizeof want, "'%s': No such file or directory", path);
  assert_string_equal(error, want);
  /* An existing file is replaced whole, and no temporary file is left beside it. */
  snprintf(path, sizeof path, "%s/replace.pb.gz", dir);
  write_file(path, "old", 3);
  assert_int_equal(lw_cli_save_profile(path, &p, error, sizeof error), 0);
  char command[1024];
  snprintf(command, sizeof command, "test $(ls '%s' | grep -c replace) -eq 1", dir);
  assert_int_equal(system(command), 0);
  lw_profile_free(&p);
}

static void test_bad_input(void **state) {
  (void)state;
  lw_profile_t p;
  build(&p);
  lw_buf_t wire, gz;
  lw_buf_init(&wire, &lw_libc_allocator);
  lw_buf_init(&gz, &lw_libc_allocator);
  assert_int_equal(lw_profile_encode(&p, &wire), 0);
  assert_int_equal(lw_gzip_compress(wire.data, wire.len, &gz, 1), 0);

  expect_error("truncated.pb.gz", gz.data, gz.len / 2,
               "truncated gzip data (unexpected end of file)");
  expect_error("empty", "", 0, "empty file");
  /* Which field the bytes happen to land in varies; the reading does not. */
  expect_error("text.txt", "hello, this is not a profile\n", 29,
               "not a pprof profile (malformed protobuf in ");

  /* Gzipped text: gunzips fine, is not a protobuf. */
  lw_buf_t text_gz;
  lw_buf_init(&text_gz, &lw_libc_allocator);
  assert_int_equal(lw_gzip_compress((const uint8_t *)"just words\n", 11, &text_gz, 1), 0);
  expect_error("text.gz", text_gz.data, text_gz.len,
               "not a pprof profile (malformed protobuf in ");
  lw_buf_free(&text_gz);

  /* A protobuf whose first string is not "": some other message. */
  lw_buf_t other;
  lw_buf_init(&other, &lw_libc_allocator);
  lw_pb_bytes(&other, 6, "x", 1);
  expect_error("other.pb", other.data, other.len,
               "not a pprof profile (string_table[0] is not empty)");
  lw_buf_reset(&other);
  /* A sample that refers to a location that does not exist. */
  lw_pb_bytes(&other, 6, "", 0);
  lw_pb_bytes(&other, 6, "inuse_space", 11);
  size_t mark = lw_pb_begin(&other, 1);
  lw_pb_int(&other, 1, 1);
  lw_pb_end(&other, mark);
  mark = lw_pb_begin(&other, 2);
  const uint64_t loc = 9;
  lw_pb_repeated_uint(&other, 1, &loc, 1);
  const int64_t v = 1;
  lw_pb_repeated_int(&other, 2, &v, 1);
  lw_pb_end(&other, mark);
  expect_error("dangling.pb", other.data, other.len,
               "invalid profile: sample 0 refers to missing location 9");
  lw_buf_free(&other);

  /* Directory, missing file. */
  char want[1024];
  snprintf(want, sizeof want, "'%s': is a directory, not a profile file", dir);
  assert_string_equal(load_error(dir), want);
  char path[512];
  snprintf(path, sizeof path, "%s/does-not-exist.pb.gz", dir);
  snprintf(want, sizeof want, "'%s': No such file or directory", path);
  assert_string_equal(load_error(path), want);

  lw_buf_free(&wire);
  lw_buf_free(&gz);
  lw_profile_free(&p);
}

/* A 2 GB file is refused from its size alone (sparse: costs no disk and no reading). */
static void test_huge_file_refused_without_reading(void **state) {
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/huge.pb.gz", dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)2 << 30), 0);
  close(fd);
  char want[1024];
  snprintf(want, sizeof want, "'%s': the file is 2.00 GiB, more than the limit of 1.00 GiB",
           path);
  assert_string_equal(load_error(path), want);
}

/* A gzip stream that inflates past the limit is stopped there. Its content starts like a
 * Profile (one huge string_table entry), so only the size can refuse it. */
static void test_decompressed_size_limit(void **state) {
  (void)state;
  size_t n = 1 << 20;
  uint8_t *zeros = calloc(n, 1);
  size_t string_len = n - 4; /* field 6 (string_table), length-delimited, 3-byte length */
  zeros[0] = 0x32;
  zeros[1] = (uint8_t)(0x80 | (string_len & 0x7f));
  zeros[2] = (uint8_t)(0x80 | ((string_len >> 7) & 0x7f));
  zeros[3] = (uint8_t)(string_len >> 14);
  lw_buf_t gz;
  lw_buf_init(&gz, &lw_libc_allocator);
  assert_int_equal(lw_gzip_compress(zeros, n, &gz, 9), 0);
  lw_profile_t p;
  char error[512];
  assert_int_equal(lw_cli_load_profile_data_limited("bomb.gz", gz.data, gz.len, 64 * 1024, &p,
                                                    error, sizeof error), -1);
  assert_string_equal(error, "'bomb.gz': decompresses to more than the limit of 64.0 KiB "
                             "(not a heap profile, or a gzip bomb)");
  lw_profile_free(&p);

  /* Inflating stops one byte past the limit, not wherever the grown buffer ends (memory
   * near the limit, never twice it), with both inflaters. */
  for (int fast = 0; fast < 2; fast++) {
    lw_buf_t out;
    lw_buf_init(&out, &lw_libc_allocator);
    char why[256];
    int rc = fast ? lw_cli_gunzip(gz.data, gz.len, &out, 100000, why, sizeof why)
                  : lw_gunzip(gz.data, gz.len, &out, 100000, why, sizeof why);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(why, "exceeds the limit of 100000 bytes"));
    assert_true(out.len <= 100001);
    lw_buf_free(&out);
  }

  /* Zeros are no Profile: refused from the first bytes inside, whatever the limit. */
  memset(zeros, 0, 4);
  lw_buf_reset(&gz);
  assert_int_equal(lw_gzip_compress(zeros, n, &gz, 9), 0);
  assert_int_equal(lw_cli_load_profile_data("zeros.gz", gz.data, gz.len, &p, error, sizeof error),
                   -1);
  assert_string_equal(error, "'zeros.gz': not a pprof profile (malformed protobuf in profile)");
  lw_profile_free(&p);
  lw_buf_free(&gz);
  free(zeros);
}

/* lw_cli_gunzip gives lw_gunzip's bytes and lw_gunzip's errors: several members (the
 * trailer's size hint is the last, small member's, so the fast path must grow its
 * buffer), a truncated stream, a corrupt one, and one over the limit. */
static void test_fast_gunzip_agrees_with_zlib(void **state) {
  (void)state;
  size_t n = 300000;
  uint8_t *plain = malloc(n);
  assert_non_null(plain);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    plain[i] = (uint8_t)(i % 7 ? x >> 24 : 0);
  }
  lw_buf_t gz, fast, slow;
  lw_buf_init(&gz, &lw_libc_allocator);
  lw_buf_init(&fast, &lw_libc_allocator);
  lw_buf_init(&slow, &lw_libc_allocator);
  assert_int_equal(lw_gzip_compress(plain, n, &gz, 1), 0);
  assert_int_equal(lw_gzip_compress(plain, 100, &gz, 1), 0); /* a second, small member */
  char fast_error[256] = "", slow_error[256] = "";
  assert_int_equal(lw_cli_gunzip(gz.data, gz.len, &fast, 1 << 24, fast_error, 256), 0);
  assert_int_equal(lw_gunzip(gz.data, gz.len, &slow, 1 << 24, slow_error, 256), 0);
  assert_int_equal(fast.len, n + 100);
  assert_int_equal(fast.len, slow.len);
  assert_memory_equal(fast.data, slow.data, slow.len);
  assert_memory_equal(fast.data + n, plain, 100);

  size_t cuts[] = {gz.len / 3, gz.len - 5, 10};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    lw_buf_reset(&fast);
    lw_buf_reset(&slow);
    assert_int_equal(lw_cli_gunzip(gz.data, cuts[i], &fast, 1 << 24, fast_error, 256), -1);
    assert_int_equal(lw_gunzip(gz.data, cuts[i], &slow, 1 << 24, slow_error, 256), -1);
    assert_string_equal(fast_error, slow_error);
  }
  gz.data[gz.len / 2] ^= 0x5a; /* corrupt the first member */
  lw_buf_reset(&fast);
  lw_buf_reset(&slow);
  int fast_rc = lw_cli_gunzip(gz.data, gz.len, &fast, 1 << 24, fast_error, 256);
  int slow_rc = lw_gunzip(gz.data, gz.len, &slow, 1 << 24, slow_error, 256);
  assert_int_equal(fast_rc, -1);
  assert_int_equal(slow_rc, -1);
  assert_string_equal(fast_error, slow_error);
  gz.data[gz.len / 2] ^= 0x5a;
  lw_buf_reset(&fast);
  assert_int_equal(lw_cli_gunzip(gz.data, gz.len, &fast, 4096, fast_error, 256), -1);
  assert_non_null(strstr(fast_error, "exceeds the limit"));
  lw_buf_free(&gz);
  lw_buf_free(&fast);
  lw_buf_free(&slow);
  free(plain);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_save_and_load_round_trip),
      cmocka_unit_test(test_save_failure_leaves_nothing),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_huge_file_refused_without_reading),
      cmocka_unit_test(test_decompressed_size_limit),
      cmocka_unit_test(test_fast_gunzip_agrees_with_zlib),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
