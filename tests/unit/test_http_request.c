/*
 * test_http_request.c - the bounded HTTP/1.x request parser (src/common/http_request.c):
 * every result kind (incomplete, 400, 405, 413, 414, 431, 501, 505), that every proper
 * prefix of a valid request is "incomplete" (never an error, never OK), limits that apply
 * before the head is complete, target forms, and query decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/http_request.h"

static lw_http_result_t parse(const char *text, lw_http_request_t *r) {
  lw_http_limits_t limits = lw_http_default_limits();
  return lw_http_parse_request(text, strlen(text), &limits, r);
}

static void expect_slice(lw_http_slice_t s, const char *want) {
  if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
    fail_msg("got '%.*s', want '%s'", (int)s.len, s.ptr, want);
}

static void test_simple_get(void **state) {
  (void)state;
  const char *req = "GET /metrics?seconds=5 HTTP/1.1\r\n"
                    "Host: 127.0.0.1:9797\r\n"
                    "User-Agent: Prometheus/2.42.0\r\n"
                    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
                    "Accept-Encoding:gzip\r\n"
                    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
                    "\r\n";
  lw_http_request_t r;
  assert_int_equal(parse(req, &r), LW_HTTP_OK);
  assert_int_equal(r.method, LW_HTTP_GET);
  expect_slice(r.method_text, "GET");
  expect_slice(r.target, "/metrics?seconds=5");
  expect_slice(r.path, "/metrics");
  expect_slice(r.query, "seconds=5");
  expect_slice(r.host, "127.0.0.1:9797");
  expect_slice(r.user_agent, "Prometheus/2.42.0");
  expect_slice(r.accept_encoding, "gzip");
  assert_int_equal(r.version_minor, 1);
  assert_true(r.keep_alive);
  assert_int_equal(r.n_fields, 5);
  assert_int_equal(r.head_length, strlen(req));
  assert_false(r.has_content_length);

  /* Bytes after the head (a pipelined request) are not part of it. */
  char two[1024];
  snprintf(two, sizeof two, "%sGET / HTTP/1.1\r\n", req);
  assert_int_equal(parse(two, &r), LW_HTTP_OK);
  assert_int_equal(r.head_length, strlen(req));
}

static void test_every_prefix_is_incomplete(void **state) {
  (void)state;
  const char *reqs[] = {
      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "\r\n\nHEAD / HTTP/1.0\nAccept: */*\n\n",
      "GET http://example.com:80/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n",
  };
  lw_http_limits_t limits = lw_http_default_limits();
  for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
    size_t n = strlen(reqs[i]);
    lw_http_request_t r;
    for (size_t len = 0; len < n; len++) {
      char *copy = malloc(len + 1); /* exactly len bytes visible, for ASan */
      memcpy(copy, reqs[i], len);
      lw_http_result_t got = lw_http_parse_request(copy, len, &limits, &r);
      free(copy);
      if (got != LW_HTTP_INCOMPLETE)
        fail_msg("request %zu cut at %zu: result %d, want incomplete", i, len, got);
    }
    assert_int_equal(lw_http_parse_request(reqs[i], n, &limits, &r), LW_HTTP_OK);
  }
}

static void test_versions_and_connection(void **state) {
  (void)state;
  lw_http_request_t r;
  assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r), LW_HTTP_OK); /* no Host needed */
  assert_int_equal(r.version_minor, 0);
  assert_false(r.keep_alive);
  assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), LW_HTTP_OK);
  assert_true(r.keep_alive);
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", &r),
                   LW_HTTP_OK);
  assert_false(r.keep_alive);
  assert_int_equal(parse("GET / HTTP/1.2\r\nHost: h\r\n\r\n", &r), LW_HTTP_OK);
  assert_int_equal(r.version_minor, 1);
  assert_int_equal(parse("GET / HTTP/2.0\r\nHost: h\r\n\r\n", &r), LW_HTTP_VERSION_NOT_SUPPORTED);
  assert_int_equal(parse("GET /\r\n", &r), LW_HTTP_VERSION_NOT_SUPPORTED); /* HTTP/0.9 */
  assert_int_equal(parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &r), LW_HTTP_VERSION_NOT_SUPPORTED);
}

static void test_bad_requests(void **state) {
  (void)state;
  const char *bad[] = {
      "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",          /* two spaces */
      " GET / HTTP/1.1\r\nHost: h\r\n\r\n",          /* leading space */
      "GET / http/1.1\r\nHost: h\r\n\r\n",           /* lower-case version */
      "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",          /* trailing space */
      "GET / HTTP/1.1\rHost: h\r\n\r\n",             /* CR without LF */
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n",          /* space before colon */
      "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", /* obs-fold */
      "GET / HTTP/1.1\r\n\r\n",                      /* 1.1 without Host */
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n",       /* control character */
      "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
      "GET /#frag HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET relative HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",  /* empty authority */
      "GET * HTTP/1.1\r\nHost: h\r\n\r\n",           /* '*' is for OPTIONS only */
      "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
      "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",           /* not a token */
      "GET / HTTP/1.1\r\nHost: h\r\nBad\x80Name: x\r\n\r\n",
      "\r\r",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lw_http_request_t r;
    lw_http_result_t got = parse(bad[i], &r);
    if (got != LW_HTTP_BAD_REQUEST)
      fail_msg("case %zu: result %d, want 400", i, got);
  }
  /* A NUL byte inside the head. */
  const char with_nul[] = "GET / HTTP/1.1\r\nHost: h\0\r\n\r\n";
  lw_http_limits_t limits = lw_http_default_limits();
  lw_http_request_t r;
  assert_int_equal(lw_http_parse_request(with_nul, sizeof with_nul - 1, &limits, &r),
                   LW_HTTP_BAD_REQUEST);
  char too_long_method[64];
  memset(too_long_method, 'G', 40);
  strcpy(too_long_method + 40, " / HTTP/1.1\r\n");
  assert_int_equal(parse(too_long_method, &r), LW_HTTP_BAD_REQUEST);
}

static void test_methods(void **state) {
  (void)state;
  lw_http_request_t r;
  assert_int_equal(parse("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &r), LW_HTTP_OK);
  assert_int_equal(r.method, LW_HTTP_HEAD);
  assert_int_equal(parse("POST / HTTP/1.1\r\nHost: h\r\n\r\n", &r), LW_HTTP_METHOD_NOT_ALLOWED);
  assert_int_equal(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n", &r), LW_HTTP_METHOD_NOT_ALLOWED);
  assert_int_equal(r.method, LW_HTTP_OTHER_METHOD);
  assert_int_equal(parse("TRACE / HTTP/1.1\r\n", &r), LW_HTTP_METHOD_NOT_ALLOWED);
  /* 405 is known from the request line alone: no need to wait for the fields. */
  assert_int_equal(parse("DELETE /x HTTP/1.1\r\n", &r), LW_HTTP_METHOD_NOT_ALLOWED);

  lw_http_limits_t limits = lw_http_default_limits();
  limits.methods |= LW_HTTP_OPTIONS | LW_HTTP_POST;
  limits.max_body = 10;
  const char *opt = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
  assert_int_equal(lw_http_parse_request(opt, strlen(opt), &limits, &r), LW_HTTP_OK);
  expect_slice(r.path, "*");
  const char *post = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  assert_int_equal(lw_http_parse_request(post, strlen(post), &limits, &r), LW_HTTP_OK);
  assert_true(r.has_content_length);
  assert_int_equal(r.content_length, 10);
  assert_int_equal(r.head_length, strlen(post) - 10);
  const char *big = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";
  assert_int_equal(lw_http_parse_request(big, strlen(big), &limits, &r),
                   LW_HTTP_PAYLOAD_TOO_LARGE);
  const char *huge = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n";
  assert_int_equal(lw_http_parse_request(huge, strlen(huge), &limits, &r),
                   LW_HTTP_PAYLOAD_TOO_LARGE);
  const char *same_twice = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
  assert_int_equal(lw_http_parse_request(same_twice, strlen(same_twice), &limits, &r), LW_HTTP_OK);
  const char *chunked = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  assert_int_equal(lw_http_parse_request(chunked, strlen(chunked), &limits, &r),
                   LW_HTTP_NOT_IMPLEMENTED);
  /* With the default limits any body is too large. */
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n", &r),
                   LW_HTTP_PAYLOAD_TOO_LARGE);
  assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &r),
                   LW_HTTP_OK);
}

static void test_size_limits(void **state) {
  (void)state;
  lw_http_limits_t limits = lw_http_default_limits();
  lw_http_request_t r;
  static char buf[32768];

  /* 414 as soon as the target passes the limit, even before the line ends. */
  strcpy(buf, "GET /");
  memset(buf + 5, 'a', limits.max_target);
  buf[5 + limits.max_target] = '\0';
  assert_int_equal(lw_http_parse_request(buf, strlen(buf), &limits, &r), LW_HTTP_URI_TOO_LONG);
  /* Exactly at the limit is fine. */
  snprintf(buf, sizeof buf, "GET /%0*d HTTP/1.1\r\nHost: h\r\n\r\n", (int)limits.max_target - 1, 7);
  assert_int_equal(lw_http_parse_request(buf, strlen(buf), &limits, &r), LW_HTTP_OK);
  assert_int_equal(r.target.len, limits.max_target);

  /* 431: one huge field, complete or not. */
  int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\nCookie: ");
  memset(buf + n, 'c', limits.max_head);
  buf[n + limits.max_head] = '\0';
  assert_int_equal(lw_http_parse_request(buf, strlen(buf), &limits, &r),
                   LW_HTTP_HEADERS_TOO_LARGE);
  strcat(buf, "\r\n\r\n");
  assert_int_equal(lw_http_parse_request(buf, strlen(buf), &limits, &r),
                   LW_HTTP_HEADERS_TOO_LARGE);
  /* 431: too many fields. */
  n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\n");
  for (size_t i = 0; i < limits.max_fields; i++)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "X-%zu: v\r\n", i);
  strcat(buf, "\r\n");
  assert_int_equal(lw_http_parse_request(buf, strlen(buf), &limits, &r),
                   LW_HTTP_HEADERS_TOO_LARGE);
  /* An incomplete head that already fills max_head cannot finish in time. */
  memset(buf, 0, sizeof buf);
  n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
  while ((size_t)n < limits.max_head)
    n += snprintf(buf + n, sizeof buf - (size_t)n, "X: y\r\n");
  assert_int_equal(lw_http_parse_request(buf, (size_t)n, &limits, &r),
                   LW_HTTP_HEADERS_TOO_LARGE);
}

static void test_query(void **state) {
  (void)state;
  lw_http_request_t r;
  assert_int_equal(parse("GET /x?seconds=30&name=a%20b+c&flag&bad=%zz&e=%C3%A9&z=%00 HTTP/1.1\r\n"
                         "Host: h\r\n\r\n", &r),
                   LW_HTTP_OK);
  char v[64];
  assert_int_equal(lw_http_query_param(r.query, "seconds", v, sizeof v), 2);
  assert_string_equal(v, "30");
  assert_int_equal(lw_http_query_param(r.query, "name", v, sizeof v), 5);
  assert_string_equal(v, "a b c");
  assert_int_equal(lw_http_query_param(r.query, "flag", v, sizeof v), 0);
  assert_string_equal(v, "");
  assert_int_equal(lw_http_query_param(r.query, "e", v, sizeof v), 2);
  assert_string_equal(v, "é");
  assert_int_equal(lw_http_query_param(r.query, "bad", v, sizeof v), -2);
  assert_int_equal(lw_http_query_param(r.query, "z", v, sizeof v), -2);
  assert_int_equal(lw_http_query_param(r.query, "missing", v, sizeof v), -1);
  assert_int_equal(lw_http_query_param(r.query, "seconds", v, 2), -2); /* does not fit */
  lw_http_slice_t empty = {"", 0};
  assert_int_equal(lw_http_query_param(empty, "x", v, sizeof v), -1);

  assert_int_equal(lw_http_percent_decode("%2Fa%2f", 7, v, sizeof v, false), 3);
  assert_string_equal(v, "/a/");
  assert_int_equal(lw_http_percent_decode("a+b", 3, v, sizeof v, false), 3);
  assert_string_equal(v, "a+b");
  assert_int_equal(lw_http_percent_decode("%4", 2, v, sizeof v, false), -1);
  assert_int_equal(lw_http_percent_decode("%", 1, v, sizeof v, false), -1);
  assert_int_equal(lw_http_percent_decode("abc", 3, v, 0, false), -1);

  /* absolute-form */
  assert_int_equal(parse("GET HTTP://h:1?q=1 HTTP/1.1\r\nHost: h\r\n\r\n", &r), LW_HTTP_OK);
  expect_slice(r.path, "/");
  expect_slice(r.query, "q=1");
  assert_int_equal(parse("GET https://h/p/q HTTP/1.1\r\nHost: h\r\n\r\n", &r), LW_HTTP_OK);
  expect_slice(r.path, "/p/q");
  assert_int_equal(r.query.len, 0);
}

static void test_status_names(void **state) {
  (void)state;
  assert_int_equal(lw_http_result_status(LW_HTTP_OK), 200);
  assert_int_equal(lw_http_result_status(LW_HTTP_INCOMPLETE), 0);
  assert_int_equal(lw_http_result_status(LW_HTTP_BAD_REQUEST), 400);
  assert_int_equal(lw_http_result_status(LW_HTTP_METHOD_NOT_ALLOWED), 405);
  assert_int_equal(lw_http_result_status(LW_HTTP_PAYLOAD_TOO_LARGE), 413);
  assert_int_equal(lw_http_result_status(LW_HTTP_URI_TOO_LONG), 414);
  assert_int_equal(lw_http_result_status(LW_HTTP_HEADERS_TOO_LARGE), 431);
  assert_int_equal(lw_http_result_status(LW_HTTP_NOT_IMPLEMENTED), 501);
  assert_int_equal(lw_http_result_status(LW_HTTP_VERSION_NOT_SUPPORTED), 505);
  assert_string_equal(lw_http_status_reason(431), "Request Header Fields Too Large");
  assert_string_equal(lw_http_status_reason(404), "Not Found");
  assert_string_equal(lw_http_status_reason(299), "Error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple_get),
      cmocka_unit_test(test_every_prefix_is_incomplete),
      cmocka_unit_test(test_versions_and_connection),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_methods),
      cmocka_unit_test(test_size_limits),
      cmocka_unit_test(test_query),
      cmocka_unit_test(test_status_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
