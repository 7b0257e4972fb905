/*
 * json_writer.c - JSON values into an lw_buf_t (see json_writer.h).
 */
#include "common/json_writer.h"

#include "common/fmt.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
static size_t utf8_sequence(const unsigned char *p, size_t left) {
  unsigned char c = p[0];
  size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || n > left || (n == 2 && c < 0xc2))
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

void lw_json_string_n(lw_buf_t *buf, const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text;
  lw_buf_append_byte(buf, '"');
  size_t i = 0;
  while (i < len) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      lw_buf_append_byte(buf, '\\');
      lw_buf_append_byte(buf, c);
      i++;
    } else if (c < 0x20) {
      if (c == '\n')
        lw_buf_append_str(buf, "\\n");
      else if (c == '\t')
        lw_buf_append_str(buf, "\\t");
      else
        lw_buf_printf(buf, "\\u%04x", c);
      i++;
    } else {
      size_t n = utf8_sequence(p + i, len - i);
      if (n == 0) {
        lw_buf_append_str(buf, "\xef\xbf\xbd");
        i++;
      } else {
        lw_buf_append(buf, p + i, n);
        i += n;
      }
    }
  }
  lw_buf_append_byte(buf, '"');
}

void lw_json_string(lw_buf_t *buf, const char *text) {
  size_t len = 0;
  while (text[len])
    len++;
  lw_json_string_n(buf, text, len);
}

void lw_json_key(lw_buf_t *buf, const char *key) {
  lw_json_string(buf, key);
  lw_buf_append_byte(buf, ':');
}

void lw_json_uint(lw_buf_t *buf, uint64_t value) { lw_buf_printf(buf, "%llu", (unsigned long long)value); }

void lw_json_int(lw_buf_t *buf, int64_t value) { lw_buf_printf(buf, "%lld", (long long)value); }
