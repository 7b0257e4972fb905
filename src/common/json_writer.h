/*
 * json_writer.h - the small JSON writing the agent needs (control replies, /debug/vars),
 * appended to an lw_buf_t without stdio or malloc. The caller writes structure; these
 * write values.
 */
#ifndef LW_COMMON_JSON_WRITER_H
#define LW_COMMON_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* A JSON string literal: quotes, escapes for '"', '\\' and control characters; bytes that
 * are not valid UTF-8 are written as U+FFFD so the output is always valid JSON. */
void lw_json_string(lw_buf_t *buf, const char *text);
void lw_json_string_n(lw_buf_t *buf, const char *text, size_t len);
/* "key": (string key, colon) */
void lw_json_key(lw_buf_t *buf, const char *key);
void lw_json_uint(lw_buf_t *buf, uint64_t value);
void lw_json_int(lw_buf_t *buf, int64_t value);

#endif
