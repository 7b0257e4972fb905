/*
 * gzip.c - whole-buffer gzip over zlib (see gzip.h). zlib's zalloc/zfree are routed to the
 * output buffer's allocator; zfree gets no size, so each block carries a 16-byte header.
 */
#include "common/gzip.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "common/fmt.h"

typedef struct {
  size_t size;
  size_t pad; /* keeps the payload 16-byte aligned */
} block_header_t;

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size) {
  const lw_allocator_t *a = opaque;
  size_t bytes = (size_t)items * size + sizeof(block_header_t);
  block_header_t *h = lw_alloc(a, bytes);
  if (!h)
    return Z_NULL;
  h->size = bytes;
  return h + 1;
}

static void zlib_free(voidpf opaque, voidpf address) {
  if (!address)
    return;
  block_header_t *h = (block_header_t *)address - 1;
  lw_release(opaque, h, h->size);
}

static void stream_init(z_stream *z, const lw_allocator_t *allocator) {
  memset(z, 0, sizeof *z);
  z->zalloc = zlib_alloc;
  z->zfree = zlib_free;
  z->opaque = (voidpf)allocator;
}

int lw_gzip_compress(const uint8_t *in, size_t len, lw_buf_t *out, int level) {
  z_stream z;
  stream_init(&z, out->allocator);
  /* 15 window bits + 16 = gzip wrapper; memLevel 8 is zlib's default. */
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  int result = -1;
  z.next_in = (Bytef *)in;
  size_t remaining = len;
  for (;;) {
    uInt chunk = remaining > (1u << 30) ? (1u << 30) : (uInt)remaining;
    z.avail_in = chunk;
    remaining -= chunk;
    int flush = remaining ? Z_NO_FLUSH : Z_FINISH;
    int rc;
    do {
      if (!lw_buf_reserve(out, 65536))
        goto out;
      z.next_out = out->data + out->len;
      z.avail_out = (uInt)(out->cap - out->len);
      rc = deflate(&z, flush);
      out->len = out->cap - z.avail_out;
      if (rc == Z_STREAM_ERROR)
        goto out;
    } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    if (flush == Z_FINISH)
      break;
  }
  result = 0;
out:
  deflateEnd(&z);
  return result;
}

static int gunzip_error(char *error, size_t error_size, const char *text) {
  if (error && error_size)
    lw_fmt(error, error_size, "%s", text);
  return -1;
}

int lw_gunzip(const uint8_t *in, size_t len, lw_buf_t *out, size_t max_out, char *error,
              size_t error_size) {
  if (!lw_is_gzip(in, len))
    return gunzip_error(error, error_size, "not gzip data");
  z_stream z;
  stream_init(&z, out->allocator);
  if (inflateInit2(&z, 15 + 16) != Z_OK)
    return gunzip_error(error, error_size, "cannot start zlib");
  size_t start = out->len;
  const uint8_t *pos = in;
  size_t remaining = len;
  int result = -1;
  for (;;) {
    z.next_in = (Bytef *)pos;
    z.avail_in = remaining > (1u << 30) ? (1u << 30) : (uInt)remaining;
    size_t fed = z.avail_in;
    /* Never more than one byte past the limit: a gzip bomb is stopped as soon as it crosses
     * it, with memory near the limit (a whole grown buffer could be twice that). */
    size_t left = max_out - (out->len - start); /* the loop ends once this would be negative */
    if (left < SIZE_MAX)
      left++;
    if (!lw_buf_reserve(out, left < 65536 ? left : 65536)) {
      gunzip_error(error, error_size, "out of memory while decompressing");
      goto out;
    }
    z.next_out = out->data + out->len;
    size_t room = out->cap - out->len;
    if (room > left)
      room = left;
    z.avail_out = (uInt)(room < (1u << 30) ? room : (1u << 30));
    size_t given = z.avail_out;
    int rc = inflate(&z, Z_NO_FLUSH);
    out->len += given - z.avail_out;
    pos += fed - z.avail_in;
    remaining -= fed - z.avail_in;
    if (out->len - start > max_out) {
      lw_fmt(error, error_size, "decompressed size exceeds the limit of %zu bytes", max_out);
      goto out;
    }
    if (rc == Z_STREAM_END) {
      /* A further gzip member may follow (concatenated .gz files are valid gzip). */
      if (remaining >= 2 && lw_is_gzip(pos, remaining)) {
        inflateReset(&z);
        continue;
      }
      break;
    }
    if (rc == Z_BUF_ERROR && remaining == 0) {
      gunzip_error(error, error_size, "truncated gzip data (unexpected end of file)");
      goto out;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      lw_fmt(error, error_size, "corrupt gzip data (%s)", z.msg ? z.msg : "zlib error");
      goto out;
    }
  }
  result = 0;
out:
  inflateEnd(&z);
  return result;
}
