/*
 * inflate.c - whole-buffer gunzip for the analysis commands (see inflate.h for why).
 *
 * The fast path must agree with zlib on every input: it only ever succeeds on gzip data
 * that zlib would accept too, and anything it does not like (corrupt, truncated, trailing
 * bytes, over the limit) is handed to lw_gunzip from the start, which decides and words
 * the error.
 */
#include "cli/inflate.h"

#include <stdio.h>

#include "common/gzip.h"

#ifdef LW_HAVE_LIBDEFLATE
#include <libdeflate.h>

/* Returns 0 with every member appended to out, -2 when the output would pass max_out (the
 * limit error; zlib would only inflate a gzip bomb's first gigabyte again to say the same),
 * or -1 (out as it was) for zlib to judge. */
static int fast_gunzip(const uint8_t *in, size_t len, lw_buf_t *out, size_t max_out) {
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  if (!d)
    return -1;
  size_t start_len = out->len;
  size_t position = 0;
  int result = 0;
  while (result == 0 && position < len) {
    size_t produced = out->len - start_len;
    size_t room_left = max_out - produced;
    size_t want = lw_gzip_size_hint(in, len);
    if (want < 4096)
      want = 4096;
    for (;;) {
      if (want > room_left)
        want = room_left;
      if (!lw_buf_reserve(out, want + 1)) {
        result = -1;
        break;
      }
      size_t used = 0, made = 0;
      enum libdeflate_result r = libdeflate_gzip_decompress_ex(
          d, in + position, len - position, out->data + out->len, want, &used, &made);
      if (r == LIBDEFLATE_SUCCESS) {
        out->len += made;
        position += used;
        break;
      }
      if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
        result = -1; /* corrupt or truncated */
        break;
      }
      if (want == room_left) {
        result = -2; /* valid so far, and more than the limit */
        break;
      }
      want = want > room_left / 2 ? room_left : want * 2;
    }
  }
  libdeflate_free_decompressor(d);
  if (result < 0)
    out->len = start_len;
  return result;
}
#endif

int lw_cli_gunzip(const uint8_t *in, size_t len, lw_buf_t *out, size_t max_out, char *error,
                  size_t error_size) {
#ifdef LW_HAVE_LIBDEFLATE
  if (len >= 18 && lw_is_gzip(in, len)) {
    int rc = fast_gunzip(in, len, out, max_out);
    if (rc == 0)
      return 0;
    if (rc == -2) {
      /* lw_gunzip's wording, which callers recognise */
      if (error && error_size)
        snprintf(error, error_size, "decompressed size exceeds the limit of %zu bytes", max_out);
      return -1;
    }
  }
#endif
  return lw_gunzip(in, len, out, max_out, error, error_size);
}
