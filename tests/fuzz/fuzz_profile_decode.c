/*
 * fuzz_profile_decode.c - libFuzzer target for everything a profile file goes through in
 * the CLI: gzip sniffing and inflating, protobuf decoding and validation
 * (lw_cli_load_profile_data), the escaping of its strings for terminals
 * (lw_profile_escape_strings), then, for inputs that decode, the analysis the commands run
 * on them (view, top, flame graph tree, folded and SVG output), which must cope with any
 * valid-but-odd profile: dangling-free but cyclic-looking stacks, huge ids, empty names.
 *
 * Built with clang -fsanitize=fuzzer when -DLW_FUZZ=ON; replay_main.c runs the same
 * function over the seed corpus in every normal build (ctest: fuzz/replay_profile_decode).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/flame.h"
#include "cli/open_profile.h"
#include "cli/profile_io.h"
#include "cli/top.h"
#include "cli/view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lw_profile_t profile;
  char error[512];
  /* A small decompression limit keeps each run fast; the limit logic is the same. */
  if (lw_cli_load_profile_data_limited("fuzz", data, size, 64 << 20, &profile, error,
                                       sizeof error) == 0) {
    /* What lw_open_profile does next: the strings made safe for terminals, in place. */
    if (lw_profile_escape_strings(&profile) != 0)
      abort(); /* only on out of memory, which fuzz inputs cannot cause at this size */
    for (size_t i = 0; i < profile.n_string_offsets; i++) {
      const char *text = lw_profile_str(&profile, (int64_t)i);
      for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
          abort(); /* a control character left in a string the commands print */
    }
    for (int grain = 0; grain < 2; grain++) {
      lw_view_options_t options = {NULL, grain ? LW_VIEW_LINES : LW_VIEW_FUNCTIONS, "a|main",
                                   "zzz"};
      lw_view_t view;
      if (lw_view_build(&view, &profile, &options, error, sizeof error) != 0)
        continue;
      lw_top_t top;
      if (lw_top_compute(&view, grain != 0, 0.005, 0, &top) == 0)
        lw_top_free(&top);
      lw_flame_t flame;
      if (lw_flame_build(&view, &flame) == 0) {
        FILE *sink = fopen("/dev/null", "w");
        if (sink) {
          lw_flame_write_folded(&flame, &view, sink);
          lw_flame_svg_options_t svg = {"fuzz", 800, true};
          lw_flame_write_svg(&flame, &view, &svg, sink);
          fclose(sink);
        }
        lw_flame_free(&flame);
      }
      lw_view_free(&view);
    }
  }
  lw_profile_free(&profile);
  return 0;
}
