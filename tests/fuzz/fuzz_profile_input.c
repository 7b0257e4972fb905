/*
 * fuzz_profile_input.c - libFuzzer target for what stands in front of the profile decoder
 * and the terminal: the early check that stops reading /dev/zero or random bytes
 * (lw_cli_profile_refused_early, issue 13) and the escaping of names for terminals
 * (lw_escape_text).
 *
 * The promises checked: the early check never refuses bytes the decoder accepts (but for a
 * first field that is not one of Profile's), whatever the pieces they arrive in; escaped
 * text holds no control character and is valid UTF-8, fits the buffer, and escaping it
 * again changes nothing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/profile_io.h"
#include "cli/symbolize.h"
#include "common/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8 without C0, DEL or C1 controls: what a terminal shows as text. */
static bool printable_utf8(const unsigned char *p) {
  while (*p) {
    if (*p < 0x20 || *p == 0x7f)
      return false;
    size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;
    if (n > 1 && *p < 0xc2)
      return false;
    if (n == 2 && *p == 0xc2 && p[1] < 0xa0)
      return false; /* U+0080-U+009F */
    for (size_t i = 1; i < n; i++)
      if ((p[i] & 0xc0) != 0x80)
        return false;
    p += n;
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Pieces of 1, 7 and 4096 bytes, and all at once, as reads may deliver them. */
  static const size_t pieces[] = {1, 7, 4096, 0};
  bool refused = false;
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
    refused = lw_cli_profile_refused_early(data, size, pieces[i]) || refused;
  if (refused && size > 0) {
    /* The one rule beyond the decoder's: the first field is one of Profile's (1-15). */
    uint64_t key = 0;
    for (size_t i = 0; i < size && i < 10; i++) {
      key |= (uint64_t)(data[i] & 0x7f) << (7 * i);
      if (!(data[i] & 0x80))
        break;
    }
    lw_profile_t p;
    lw_profile_init(&p, &lw_libc_allocator);
    char error[256];
    if (lw_profile_decode(&p, data, size, error, sizeof error) == 0 && (key >> 3) <= 15)
      abort(); /* refused early what the decoder accepts */
    lw_profile_free(&p);
  }

  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  size_t sizes[] = {0, 1, 5, 64, 4 * size + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    char *out = malloc(sizes[i] + 1);
    if (!out)
      break;
    out[sizes[i]] = '\x5a'; /* a guard byte past the buffer */
    size_t need = lw_escape_text(out, sizes[i], text);
    if (out[sizes[i]] != '\x5a')
      abort();
    if (sizes[i] > 0) {
      if (strlen(out) >= sizes[i] || !printable_utf8((const unsigned char *)out))
        abort();
      if (sizes[i] > need && strlen(out) != need)
        abort(); /* room enough: the whole text */
      char again[256];
      if (need < sizeof again && sizes[i] > need &&
          (lw_escape_text(again, sizeof again, out) != need || strcmp(again, out) != 0))
        abort(); /* escaping is idempotent */
    }
    free(out);
  }
  free(text);
  return 0;
}
