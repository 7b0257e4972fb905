/*
 * fuzz_http_request.c - libFuzzer target for the HTTP request parser
 * (src/common/http_request.c).
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when -DLW_FUZZ=ON
 * (build/tests/fuzz/fuzz_http_request tests/fuzz/corpus/http_request), and linked with
 * replay.c into replay_http_request, which ctest runs over the seed corpus in every build.
 * Besides "no crash, no out-of-bounds read", it checks the parser's promises: slices lie
 * inside the input, an OK head ends with a blank line within the limits, and a result is
 * stable when more bytes arrive after a complete head.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_request.h"

#define CHECK(x)              \
  do {                        \
    if (!(x))                 \
      __builtin_trap();       \
  } while (0)

static void check_slice(lw_http_slice_t s, const char *data, size_t size) {
  if (s.len == 0 || (s.len == 1 && s.ptr[0] == '/' && (s.ptr < data || s.ptr >= data + size)))
    return; /* empty, or the static "/" of an absolute-form target without a path */
  CHECK(s.ptr >= data && s.ptr + s.len <= data + size);
}

static void run(const char *data, size_t size, const lw_http_limits_t *limits) {
  lw_http_request_t r;
  lw_http_result_t result = lw_http_parse_request(data, size, limits, &r);
  CHECK(result >= LW_HTTP_OK && result <= LW_HTTP_VERSION_NOT_SUPPORTED);
  if (result != LW_HTTP_OK)
    return;
  CHECK(r.head_length >= 4 && r.head_length <= size && r.head_length <= limits->max_head);
  CHECK(data[r.head_length - 1] == '\n');
  CHECK(r.target.len >= 1 && r.target.len <= limits->max_target);
  CHECK(r.method & limits->methods);
  CHECK(r.n_fields <= limits->max_fields);
  CHECK(!r.has_content_length || r.content_length <= limits->max_body);
  check_slice(r.method_text, data, size);
  check_slice(r.target, data, size);
  check_slice(r.path, data, size);
  check_slice(r.query, data, size);
  check_slice(r.host, data, size);
  check_slice(r.accept, data, size);
  check_slice(r.accept_encoding, data, size);
  check_slice(r.user_agent, data, size);
  check_slice(r.connection, data, size);
  check_slice(r.content_type, data, size);
  char value[64];
  (void)lw_http_query_param(r.query, "seconds", value, sizeof value);
  (void)lw_http_query_param(r.query, "", value, sizeof value);
  char path[256];
  (void)lw_http_percent_decode(r.path.ptr, r.path.len, path, sizeof path, false);
  /* Only the head decides: the same head followed by anything parses the same. */
  lw_http_request_t again;
  CHECK(lw_http_parse_request(data, r.head_length, limits, &again) == LW_HTTP_OK);
  CHECK(again.head_length == r.head_length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy of exactly `size` bytes, so that reading past it is caught. */
  char *copy = malloc(size ? size : 1);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  lw_http_limits_t limits = lw_http_default_limits();
  run(copy, size, &limits);
  lw_http_limits_t small = {LW_HTTP_GET | LW_HTTP_POST | LW_HTTP_OPTIONS, 16, 96, 4, 8};
  run(copy, size, &small);
  free(copy);
  return 0;
}
