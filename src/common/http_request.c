/*
 * http_request.c - bounded HTTP/1.x request-head parser (see http_request.h).
 *
 * One forward pass over data[0..len) with an explicit position; every access is guarded
 * by `pos < len`. No allocation, no libc beyond memcmp/memset.
 */
#include "common/http_request.h"

#include <string.h>

/* RFC 9110 token characters: "!#$%&'*+-.^_`|~" DIGIT ALPHA */
static bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII, what a request-target may contain. */
static bool is_vchar(unsigned char c) { return c >= 0x21 && c <= 0x7e; }

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

bool lw_http_slice_equals_ci(lw_http_slice_t slice, const char *text) {
  size_t n = strlen(text);
  if (slice.len != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (lower(slice.ptr[i]) != lower(text[i]))
      return false;
  return true;
}

lw_http_limits_t lw_http_default_limits(void) {
  lw_http_limits_t limits = {
      .methods = LW_HTTP_GET | LW_HTTP_HEAD,
      .max_target = 2048,
      .max_head = 8192,
      .max_fields = 64,
      .max_body = 0,
  };
  return limits;
}

/* The head is not complete yet: can it still fit? */
static lw_http_result_t incomplete(size_t len, const lw_http_limits_t *limits) {
  return len >= limits->max_head ? LW_HTTP_HEADERS_TOO_LARGE : LW_HTTP_INCOMPLETE;
}

static unsigned method_bit(const char *p, size_t n) {
  static const struct {
    const char *name;
    unsigned bit;
  } methods[] = {{"GET", LW_HTTP_GET},       {"HEAD", LW_HTTP_HEAD},
                 {"POST", LW_HTTP_POST},     {"PUT", LW_HTTP_PUT},
                 {"DELETE", LW_HTTP_DELETE}, {"OPTIONS", LW_HTTP_OPTIONS},
                 {"PATCH", LW_HTTP_PATCH}};
  /* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method. */
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strlen(methods[i].name) == n && memcmp(methods[i].name, p, n) == 0)
      return methods[i].bit;
  return LW_HTTP_OTHER_METHOD;
}

/* Splits the target into path and query; handles origin-, absolute- and asterisk-form. */
static bool split_target(lw_http_request_t *r) {
  const char *t = r->target.ptr;
  size_t n = r->target.len;
  for (size_t i = 0; i < n; i++)
    if (t[i] == '#') /* a fragment is never sent in a request-target */
      return false;
  size_t start = 0;
  if (n == 1 && t[0] == '*') {
    if (r->method != LW_HTTP_OPTIONS)
      return false;
    r->path = r->target;
    return true;
  }
  if (t[0] != '/') {
    /* absolute-form (what proxies get): scheme "://" authority [path] */
    size_t scheme = 0;
    lw_http_slice_t s7 = {t, n >= 7 ? 7 : n}, s8 = {t, n >= 8 ? 8 : n};
    if (lw_http_slice_equals_ci(s7, "http://"))
      scheme = 7;
    else if (lw_http_slice_equals_ci(s8, "https://"))
      scheme = 8;
    else
      return false;
    start = scheme;
    while (start < n && t[start] != '/' && t[start] != '?')
      start++;
    if (start == scheme) /* empty authority */
      return false;
    if (start == n || t[start] == '?') {
      static const char root[] = "/";
      r->path.ptr = root;
      r->path.len = 1;
      if (start < n) {
        r->query.ptr = t + start + 1;
        r->query.len = n - start - 1;
      }
      return true;
    }
  }
  size_t q = start;
  while (q < n && t[q] != '?')
    q++;
  r->path.ptr = t + start;
  r->path.len = q - start;
  if (q < n) {
    r->query.ptr = t + q + 1;
    r->query.len = n - q - 1;
  }
  return true;
}

/* Value of a Content-Length field: digits only. Returns false when malformed; sets
 * *overflow for values beyond 2^64 (which are simply too large). */
static bool parse_length(lw_http_slice_t v, uint64_t *out, bool *overflow) {
  if (v.len == 0)
    return false;
  uint64_t n = 0;
  *overflow = false;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.ptr[i];
    if (c < '0' || c > '9')
      return false;
    uint64_t digit = (uint64_t)(c - '0');
    if (n > (UINT64_MAX - digit) / 10)
      *overflow = true;
    else
      n = n * 10 + digit;
  }
  *out = *overflow ? UINT64_MAX : n;
  return true;
}

/* Does the comma-separated Connection value contain token (case-insensitive)? */
static bool has_token(lw_http_slice_t v, const char *token) {
  size_t i = 0;
  while (i < v.len) {
    while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
      i++;
    size_t start = i;
    while (i < v.len && v.ptr[i] != ',' && v.ptr[i] != ' ' && v.ptr[i] != '\t')
      i++;
    lw_http_slice_t item = {v.ptr + start, i - start};
    if (item.len && lw_http_slice_equals_ci(item, token))
      return true;
  }
  return false;
}

lw_http_result_t lw_http_parse_request(const char *data, size_t len,
                                       const lw_http_limits_t *limits, lw_http_request_t *out) {
  memset(out, 0, sizeof *out);
  size_t pos = 0;

  /* RFC 9112 2.2: ignore empty lines received before the request line (a few). */
  for (int skipped = 0; skipped < 4 && pos < len; skipped++) {
    if (data[pos] == '\n') {
      pos++;
    } else if (data[pos] == '\r') {
      if (pos + 1 >= len)
        return incomplete(len, limits);
      if (data[pos + 1] != '\n')
        return LW_HTTP_BAD_REQUEST;
      pos += 2;
    } else {
      break;
    }
  }

  /* method SP */
  size_t start = pos;
  while (pos < len && is_tchar((unsigned char)data[pos])) {
    if (pos - start >= 32) /* no real method is this long */
      return LW_HTTP_BAD_REQUEST;
    pos++;
  }
  if (pos == len)
    return incomplete(len, limits);
  if (pos == start || data[pos] != ' ')
    return LW_HTTP_BAD_REQUEST;
  out->method_text.ptr = data + start;
  out->method_text.len = pos - start;
  out->method = method_bit(data + start, pos - start);
  pos++;

  /* request-target SP */
  start = pos;
  while (pos < len && is_vchar((unsigned char)data[pos])) {
    pos++;
    if (pos - start > limits->max_target)
      return LW_HTTP_URI_TOO_LONG;
  }
  if (pos == len)
    return incomplete(len, limits);
  if (pos == start)
    return LW_HTTP_BAD_REQUEST;
  if (data[pos] == '\r' || data[pos] == '\n') /* "GET /x" alone is HTTP/0.9 */
    return LW_HTTP_VERSION_NOT_SUPPORTED;
  if (data[pos] != ' ')
    return LW_HTTP_BAD_REQUEST;
  out->target.ptr = data + start;
  out->target.len = pos - start;
  pos++;

  /* HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF (or LF) */
  static const char shape[] = "HTTP/0.0";
  for (size_t i = 0; i < 8; i++) {
    if (pos + i >= len)
      return incomplete(len, limits);
    char c = data[pos + i];
    bool ok = (i == 5 || i == 7) ? (c >= '0' && c <= '9') : c == shape[i];
    if (!ok)
      return LW_HTTP_BAD_REQUEST;
  }
  int major = data[pos + 5] - '0', minor = data[pos + 7] - '0';
  pos += 8;
  if (pos == len)
    return incomplete(len, limits);
  if (data[pos] == '\r') {
    if (pos + 1 == len)
      return incomplete(len, limits);
    if (data[pos + 1] != '\n')
      return LW_HTTP_BAD_REQUEST;
    pos += 2;
  } else if (data[pos] == '\n') {
    pos++;
  } else {
    return LW_HTTP_BAD_REQUEST;
  }
  if (major != 1)
    return LW_HTTP_VERSION_NOT_SUPPORTED;
  out->version_minor = minor >= 1 ? 1 : 0; /* 1.2+ is answered as 1.1 (RFC 9110 6.2) */
  if (!split_target(out))
    return LW_HTTP_BAD_REQUEST;
  if (!(out->method & limits->methods))
    return LW_HTTP_METHOD_NOT_ALLOWED;
  if (pos > limits->max_head)
    return LW_HTTP_HEADERS_TOO_LARGE;

  /* field-line = field-name ":" OWS field-value OWS, until an empty line */
  bool seen_host = false, transfer_encoding = false, length_overflow = false;
  for (;;) {
    if (pos >= len)
      return incomplete(len, limits);
    if (data[pos] == '\r') {
      if (pos + 1 >= len)
        return incomplete(len, limits);
      if (data[pos + 1] != '\n')
        return LW_HTTP_BAD_REQUEST;
      pos += 2;
      break;
    }
    if (data[pos] == '\n') {
      pos++;
      break;
    }
    if (data[pos] == ' ' || data[pos] == '\t') /* obs-fold: RFC 9112 5.2 says reject */
      return LW_HTTP_BAD_REQUEST;
    size_t name_start = pos;
    while (pos < len && is_tchar((unsigned char)data[pos]))
      pos++;
    if (pos == len)
      return incomplete(len, limits);
    if (pos == name_start || data[pos] != ':') /* includes "Name :" (RFC 9112 5.1) */
      return LW_HTTP_BAD_REQUEST;
    lw_http_slice_t name = {data + name_start, pos - name_start};
    pos++;
    size_t value_start = pos, value_end;
    for (;;) {
      if (pos >= len)
        return incomplete(len, limits);
      unsigned char c = (unsigned char)data[pos];
      if (c == '\n') {
        value_end = pos;
        pos++;
        break;
      }
      if (c == '\r') {
        if (pos + 1 >= len)
          return incomplete(len, limits);
        if (data[pos + 1] != '\n')
          return LW_HTTP_BAD_REQUEST;
        value_end = pos;
        pos += 2;
        break;
      }
      if ((c < 0x20 && c != '\t') || c == 0x7f)
        return LW_HTTP_BAD_REQUEST;
      pos++;
    }
    if (pos > limits->max_head)
      return LW_HTTP_HEADERS_TOO_LARGE;
    if (++out->n_fields > limits->max_fields)
      return LW_HTTP_HEADERS_TOO_LARGE;
    while (value_start < value_end && (data[value_start] == ' ' || data[value_start] == '\t'))
      value_start++;
    while (value_end > value_start &&
           (data[value_end - 1] == ' ' || data[value_end - 1] == '\t'))
      value_end--;
    lw_http_slice_t value = {data + value_start, value_end - value_start};

    if (lw_http_slice_equals_ci(name, "host")) {
      if (seen_host) /* RFC 9112 3.2: more than one Host is a 400 */
        return LW_HTTP_BAD_REQUEST;
      seen_host = true;
      out->host = value;
    } else if (lw_http_slice_equals_ci(name, "content-length")) {
      uint64_t n;
      bool overflow;
      if (!parse_length(value, &n, &overflow))
        return LW_HTTP_BAD_REQUEST;
      if (out->has_content_length && n != out->content_length)
        return LW_HTTP_BAD_REQUEST;
      out->has_content_length = true;
      out->content_length = n;
      length_overflow |= overflow;
    } else if (lw_http_slice_equals_ci(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (lw_http_slice_equals_ci(name, "connection")) {
      out->connection = value;
    } else if (lw_http_slice_equals_ci(name, "accept")) {
      out->accept = value;
    } else if (lw_http_slice_equals_ci(name, "accept-encoding")) {
      out->accept_encoding = value;
    } else if (lw_http_slice_equals_ci(name, "user-agent")) {
      out->user_agent = value;
    } else if (lw_http_slice_equals_ci(name, "content-type")) {
      out->content_type = value;
    }
  }
  if (pos > limits->max_head)
    return LW_HTTP_HEADERS_TOO_LARGE;
  out->head_length = pos;
  if (out->version_minor == 1 && !seen_host) /* RFC 9112 3.2: Host is required in 1.1 */
    return LW_HTTP_BAD_REQUEST;
  if (transfer_encoding) /* chunked bodies are not supported; RFC 9112 6.1 allows 501 */
    return LW_HTTP_NOT_IMPLEMENTED;
  if (out->has_content_length && (length_overflow || out->content_length > limits->max_body))
    return LW_HTTP_PAYLOAD_TOO_LARGE;
  if (out->version_minor == 1)
    out->keep_alive = !has_token(out->connection, "close");
  else
    out->keep_alive = has_token(out->connection, "keep-alive");
  return LW_HTTP_OK;
}

int lw_http_result_status(lw_http_result_t result) {
  switch (result) {
  case LW_HTTP_OK:
    return 200;
  case LW_HTTP_INCOMPLETE:
    return 0;
  case LW_HTTP_BAD_REQUEST:
    return 400;
  case LW_HTTP_METHOD_NOT_ALLOWED:
    return 405;
  case LW_HTTP_PAYLOAD_TOO_LARGE:
    return 413;
  case LW_HTTP_URI_TOO_LONG:
    return 414;
  case LW_HTTP_HEADERS_TOO_LARGE:
    return 431;
  case LW_HTTP_NOT_IMPLEMENTED:
    return 501;
  case LW_HTTP_VERSION_NOT_SUPPORTED:
    return 505;
  }
  return 400;
}

const char *lw_http_status_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  }
  return "Error";
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int lw_http_percent_decode(const char *in, size_t len, char *out, size_t size,
                           bool plus_is_space) {
  if (size == 0)
    return -1;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = in[i];
    if (c == '%') {
      if (len - i < 3) /* fewer than two characters follow */
        return -1;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) /* %00 would cut a C string */
        return -1;
      c = (char)(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (n + 1 >= size)
      return -1;
    out[n++] = c;
  }
  out[n] = '\0';
  return (int)n;
}

int lw_http_query_param(lw_http_slice_t query, const char *name, char *out, size_t size) {
  size_t i = 0;
  while (i <= query.len && query.len > 0) {
    size_t start = i;
    while (i < query.len && query.ptr[i] != '&')
      i++;
    size_t end = i, eq = start;
    while (eq < end && query.ptr[eq] != '=')
      eq++;
    char key[128];
    int klen = lw_http_percent_decode(query.ptr + start, eq - start, key, sizeof key, true);
    if (klen >= 0 && strcmp(key, name) == 0) {
      if (eq >= end) {
        if (size == 0)
          return -2;
        out[0] = '\0';
        return 0;
      }
      int vlen = lw_http_percent_decode(query.ptr + eq + 1, end - eq - 1, out, size, true);
      return vlen < 0 ? -2 : vlen;
    }
    i++; /* past '&' */
  }
  return -1;
}
