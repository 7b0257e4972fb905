/*
 * cmd_flame.c - `leakwatch flame FILE -o out.svg`: an interactive flame graph of a heap
 * profile (flame.h), or with --folded the folded-stack text FlameGraph and speedscope read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/flame.h"
#include "cli/open_profile.h"
#include "cli/output.h"
#include "cli/view.h"

static const lw_cli_option_t options[] = {
    {"output", 'o', "FILE", "write to FILE (default: standard output)"},
    {"folded", 0, NULL, "write folded stacks (\"main;f;g 4096\" lines) instead of SVG"},
    {"sample", 's', "TYPE", "value to draw (default: the profile's default, inuse_space for "
                            "heap profiles)"},
    {"focus", 0, "RE", "only stacks with a frame matching RE"},
    {"ignore", 0, "RE", "drop stacks with a frame matching RE"},
    {"lines", 0, NULL, "one frame per source line (function file:line) instead of per function"},
    {"title", 0, "TEXT", "title shown above the graph"},
    {"width", 0, "PIXELS", "image width (default 1200)"},
    {"debug-dir", 0, "DIR", LW_OPEN_HELP_DEBUG_DIR},
    {"no-symbolize", 0, NULL, LW_OPEN_HELP_NO_SYMBOLIZE},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "flame",
    "leakwatch flame [OPTIONS] FILE",
    "Draw a heap profile as a flame graph: each frame is as wide as the memory allocated under\n"
    "it, callers below callees. The SVG is self-contained: open it in a browser, hover for\n"
    "details, click to zoom, Search (or Ctrl+F) to highlight; add ?s=REGEX to its URL to\n"
    "open it with a search applied.",
    options,
    "Examples:\n"
    "  leakwatch flame heap.pb.gz -o heap.svg\n"
    "  leakwatch flame --folded heap.pb.gz | flamegraph.pl > heap.svg",
};

int lw_cmd_flame(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  lw_open_options_t open = {{NULL}, 0, false};
  lw_view_options_t view_options = {NULL, LW_VIEW_FUNCTIONS, NULL, NULL};
  bool folded = false;
  const char *output = NULL, *title = NULL;
  uint64_t width = 1200;
  const char *value;
  int option;
  int status = LW_EXIT_USAGE;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (lw_open_option(&open, name, value))
      continue;
    if (strcmp(name, "output") == 0)
      output = value;
    else if (strcmp(name, "folded") == 0)
      folded = true;
    else if (strcmp(name, "sample") == 0)
      view_options.sample = lw_cli_nonempty(&spec, name, value);
    else if (strcmp(name, "focus") == 0)
      view_options.focus = value;
    else if (strcmp(name, "ignore") == 0)
      view_options.ignore = value;
    else if (strcmp(name, "lines") == 0)
      view_options.grain = LW_VIEW_LINES;
    else if (strcmp(name, "title") == 0)
      title = value;
    else if (strcmp(name, "width") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 200, 100000, &width))
        goto out;
    }
  }
  if (parser.n_positionals != 1) {
    lw_cli_usage_error(&spec, "expected one profile file, got %d", parser.n_positionals);
    goto out;
  }
  const char *path = parser.positionals[0];
  status = LW_EXIT_FAILURE;
  if (lw_output_check_path(output, "SVG") != 0)
    goto out;
  lw_profile_t profile;
  if (lw_open_profile(path, &open, &profile) < 0)
    goto out;
  lw_view_t view;
  lw_flame_t flame;
  char error[512];
  if (lw_view_build(&view, &profile, &view_options, error, sizeof error) < 0) {
    lw_cli_error("'%s': %s", path, error);
    lw_profile_free(&profile);
    goto out;
  }
  lw_output_t result;
  if (lw_flame_build(&view, &flame) < 0) {
    lw_cli_error("'%s': out of memory", path);
  } else {
    if (lw_output_begin(&result) == 0) {
      char heading[1024];
      const char *file = lw_profile_main_file(&profile);
      snprintf(heading, sizeof heading, "%s: %s%s%s", title ? title : "Flame graph",
               view.sample_type, file[0] ? " of " : "", file);
      lw_flame_svg_options_t svg = {heading, (int)width, false};
      int rc = folded ? lw_flame_write_folded(&flame, &view, result.stream)
                      : lw_flame_write_svg(&flame, &view, &svg, result.stream);
      if (rc < 0) {
        lw_output_discard(&result);
        lw_cli_error("'%s': out of memory", path);
      } else if (lw_output_commit(&result, output) == 0) {
        status = LW_EXIT_OK;
      }
    }
    lw_flame_free(&flame);
  }
  lw_view_free(&view);
  lw_profile_free(&profile);
out:
  lw_cli_parser_free(&parser);
  return status;
}
