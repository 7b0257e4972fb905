/*
 * http_request.h - a bounded, allocation-free HTTP/1.x request-head parser.
 *
 * Used by the exporter's server (src/cli/exporter_server.c) and, later, by the agent's
 * loopback endpoint (issue 3), where it runs inside someone else's process: so it never
 * allocates, never copies, and never reads past `len`. The caller reads bytes into a fixed
 * buffer and calls lw_http_parse_request() after each read; the result says whether the
 * head is complete, still incomplete, or which 4xx/5xx status to answer with. Results are
 * slices into the caller's buffer.
 *
 * Follows RFC 9112 (HTTP/1.1 message syntax) where it matters for a small server: strict
 * request line (single spaces, token method, no whitespace in the target), header names
 * without whitespace before the colon, no obsolete line folding, at most one Host (and one
 * required in HTTP/1.1), consistent Content-Length, bare LF accepted as a line end, empty
 * lines before the request line skipped. Transfer-Encoding is answered with 501: bodies
 * are only supported with Content-Length.
 *
 * Fuzzed by tests/fuzz/fuzz_http_request.c (seed corpus tests/fuzz/corpus/http_request/,
 * replayed by ctest in every build).
 */
#ifndef LW_COMMON_HTTP_REQUEST_H
#define LW_COMMON_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum lw_http_result {
  LW_HTTP_OK = 0,                 /* a complete, valid request head */
  LW_HTTP_INCOMPLETE,             /* valid so far; read more bytes */
  LW_HTTP_BAD_REQUEST,            /* 400 */
  LW_HTTP_METHOD_NOT_ALLOWED,     /* 405: a valid method token not in limits.methods */
  LW_HTTP_PAYLOAD_TOO_LARGE,      /* 413: Content-Length above limits.max_body */
  LW_HTTP_URI_TOO_LONG,           /* 414: request-target above limits.max_target */
  LW_HTTP_HEADERS_TOO_LARGE,      /* 431: head above limits.max_head, or too many fields */
  LW_HTTP_NOT_IMPLEMENTED,        /* 501: Transfer-Encoding */
  LW_HTTP_VERSION_NOT_SUPPORTED,  /* 505: HTTP/2.0, HTTP/0.9 style, HTTP/3.x ... */
} lw_http_result_t;

/* Method bits for lw_http_limits_t.methods and lw_http_request_t.method. */
enum {
  LW_HTTP_GET = 1u << 0,
  LW_HTTP_HEAD = 1u << 1,
  LW_HTTP_POST = 1u << 2,
  LW_HTTP_PUT = 1u << 3,
  LW_HTTP_DELETE = 1u << 4,
  LW_HTTP_OPTIONS = 1u << 5,
  LW_HTTP_PATCH = 1u << 6,
  LW_HTTP_OTHER_METHOD = 1u << 7, /* any other token (TRACE, CONNECT, PROPFIND, ...) */
};

typedef struct lw_http_limits {
  unsigned methods;   /* allowed method bits; others give 405 */
  size_t max_target;  /* bytes of the request-target; longer gives 414 */
  size_t max_head;    /* bytes of the whole head (request line, fields, blank line): 431 */
  size_t max_fields;  /* header fields; more gives 431 */
  uint64_t max_body;  /* Content-Length above this gives 413 */
} lw_http_limits_t;

/* GET and HEAD, 2 KiB target, 8 KiB head, 64 fields, no body: what a metrics endpoint
 * needs. */
lw_http_limits_t lw_http_default_limits(void);

typedef struct lw_http_slice {
  const char *ptr; /* into the caller's buffer; not NUL-terminated */
  size_t len;
} lw_http_slice_t;

typedef struct lw_http_request {
  unsigned method;             /* one LW_HTTP_* bit */
  lw_http_slice_t method_text; /* "GET" */
  lw_http_slice_t target;      /* as sent: "/metrics?x=1" or "http://h/metrics" */
  lw_http_slice_t path;        /* "/metrics" (still percent-encoded), "*" for OPTIONS * */
  lw_http_slice_t query;       /* "x=1", empty when there is no '?' */
  int version_minor;           /* HTTP/1.<minor>: 0 or 1 */
  bool keep_alive;             /* 1.1 unless "Connection: close"; 1.0 only with keep-alive */
  lw_http_slice_t host, accept, accept_encoding, user_agent, connection, content_type;
  bool has_content_length;
  uint64_t content_length;
  size_t n_fields;
  size_t head_length;          /* bytes of the head including the final blank line; the
                                  body (content_length bytes) starts here */
} lw_http_request_t;

/* Parses the request head at data[0..len). On LW_HTTP_OK, *out describes it. On any
 * other result *out is unspecified. Never reads outside data[0..len). */
lw_http_result_t lw_http_parse_request(const char *data, size_t len,
                                       const lw_http_limits_t *limits, lw_http_request_t *out);

/* 200 for OK, 0 for INCOMPLETE, else the status code to answer with. */
int lw_http_result_status(lw_http_result_t result);
/* "OK", "Bad Request", ... for the codes above and 404; "Error" otherwise. */
const char *lw_http_status_reason(int status);

/* Percent-decodes in[0..len) into out (NUL-terminated); with plus_is_space, '+' becomes
 * ' ' (query strings). Returns the decoded length, or -1 for a malformed escape or an
 * output that does not fit. */
int lw_http_percent_decode(const char *in, size_t len, char *out, size_t size,
                           bool plus_is_space);

/* Finds name in an application/x-www-form-urlencoded query and decodes its value into
 * out. Returns the decoded length, -1 when absent, -2 when malformed or too long. A name
 * without '=' has the empty value. */
int lw_http_query_param(lw_http_slice_t query, const char *name, char *out, size_t size);

/* Case-insensitive comparison of a slice with a NUL-terminated string. */
bool lw_http_slice_equals_ci(lw_http_slice_t slice, const char *text);

#endif
