/*
 * test_control_protocol.c - the control protocol (src/common/control_protocol.c): requests
 * the agent accepts and refuses with which message, reply headers the CLI reads, and the
 * socket directories both sides agree on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/control_protocol.h"

static void expect_request(const char *line, lw_control_command_t command, uint64_t argument) {
  lw_control_request_t r;
  char error[256] = "";
  if (lw_control_parse_request(line, strlen(line), &r, error, sizeof error) != 0)
    fail_msg("'%s' refused: %s", line, error);
  assert_int_equal(r.command, command);
  assert_int_equal(r.argument, argument);
}

static void expect_refusal(const char *line, const char *message) {
  lw_control_request_t r;
  char error[256] = "";
  assert_int_equal(lw_control_parse_request(line, strlen(line), &r, error, sizeof error), -1);
  if (!strstr(error, message))
    fail_msg("'%s': error '%s' does not say '%s'", line, error, message);
}

static void test_requests(void **state) {
  (void)state;
  expect_request("LEAKWATCH/1 info\n", LW_CONTROL_INFO, 0);
  expect_request("LEAKWATCH/1 stats", LW_CONTROL_STATS, 0);
  expect_request("LEAKWATCH/1 heap\r\n", LW_CONTROL_HEAP, 0);
  expect_request("LEAKWATCH/1  heap-window   60 \n", LW_CONTROL_HEAP_WINDOW, 60);
  expect_request("LEAKWATCH/1 trim\n", LW_CONTROL_TRIM, 0);
  expect_refusal("GET / HTTP/1.1\r\n", "unsupported protocol 'GET'");
  expect_refusal("LEAKWATCH/2 info\n", "unsupported protocol 'LEAKWATCH/2'");
  expect_refusal("LEAKWATCH/1 frobnicate\n", "unknown command 'frobnicate'");
  expect_refusal("LEAKWATCH/1\n", "missing command");
  expect_refusal("\n", "not a LEAKWATCH/1 request");
  expect_refusal("LEAKWATCH/1 heap-window\n", "1 to 3600");
  expect_refusal("LEAKWATCH/1 heap-window 0\n", "1 to 3600");
  expect_refusal("LEAKWATCH/1 heap-window 3601\n", "1 to 3600");
  expect_refusal("LEAKWATCH/1 heap-window 99999999999999999999999\n", "1 to 3600");
  expect_refusal("LEAKWATCH/1 heap-window -5\n", "1 to 3600");
  expect_refusal("LEAKWATCH/1 info please\n", "takes no argument");
  expect_refusal("LEAKWATCH/1 heap-window 5 extra\n", "unexpected text");
  expect_refusal("LEAKWATCH/1 in\x01fo\n", "control characters");
  char long_line[400];
  memset(long_line, 'a', sizeof long_line - 1);
  long_line[sizeof long_line - 1] = '\0';
  expect_refusal(long_line, "longer than 256");
}

static void test_replies(void **state) {
  (void)state;
  lw_control_reply_t r;
  const char *ok = "LEAKWATCH/1 OK application/x-pprof-gzip 1385\n";
  assert_int_equal(lw_control_parse_reply(ok, strlen(ok), &r), 0);
  assert_true(r.ok);
  assert_string_equal(r.content_type, "application/x-pprof-gzip");
  assert_int_equal(r.length, 1385);
  const char *error = "LEAKWATCH/1 ERROR unknown command 'x'\n";
  assert_int_equal(lw_control_parse_reply(error, strlen(error), &r), 0);
  assert_false(r.ok);
  assert_string_equal(r.message, "unknown command 'x'");
  const char *bad[] = {"HTTP/1.1 200 OK\n", "LEAKWATCH/1 OK text\n", "LEAKWATCH/1 OK t 12x\n",
                       "LEAKWATCH/1 MAYBE\n", "LEAKWATCH/1 OK t 99999999999999999999999\n", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (lw_control_parse_reply(bad[i], strlen(bad[i]), &r) == 0)
      fail_msg("'%s' accepted as a reply", bad[i]);
}

static void test_socket_directories(void **state) {
  (void)state;
  char dirs[2][256];
  assert_int_equal(lw_control_dirs("/run/user/1000", 1000, dirs), 2);
  assert_string_equal(dirs[0], "/run/user/1000/leakwatch");
  assert_string_equal(dirs[1], "/tmp/leakwatch-1000");
  assert_int_equal(lw_control_dirs(NULL, 0, dirs), 1);
  assert_string_equal(dirs[0], "/tmp/leakwatch-0");
  assert_int_equal(lw_control_dirs("relative/dir", 5, dirs), 1); /* only absolute paths */
  assert_string_equal(dirs[0], "/tmp/leakwatch-5");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_requests),
      cmocka_unit_test(test_replies),
      cmocka_unit_test(test_socket_directories),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
