/*
 * cmd_top.c - `leakwatch top FILE`: who holds the memory. Flat and cumulative value per
 * function with percentages, the same numbers `go tool pprof -top` prints for the file
 * (view.h and top.h say how they are computed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/json.h"
#include "cli/open_profile.h"
#include "cli/top.h"
#include "cli/view.h"

static const lw_cli_option_t options[] = {
    {"sample", 's', "TYPE", "value to rank by: inuse_space (default for heap profiles), "
                            "inuse_objects, alloc_space, alloc_objects, or an index"},
    {"cum", 0, NULL, "sort by cumulative value instead of flat"},
    {"nodes", 'n', "N", "show at most N rows (default: all above the cutoff)"},
    {"node-fraction", 0, "F", "hide rows whose cum is below F of the total (default 0.005, as "
                              "pprof; 0 shows all)"},
    {"focus", 0, "RE", "only stacks with a frame matching RE (function, file or binary)"},
    {"ignore", 0, "RE", "drop stacks with a frame matching RE"},
    {"lines", 0, NULL, "one row per source line instead of per function"},
    {"json", 0, NULL, "print JSON (exact values) instead of a table"},
    {"debug-dir", 0, "DIR", LW_OPEN_HELP_DEBUG_DIR},
    {"no-symbolize", 0, NULL, LW_OPEN_HELP_NO_SYMBOLIZE},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "top",
    "leakwatch top [OPTIONS] FILE",
    "Show which functions hold the memory in a heap profile (leakwatch's or Go's, gzipped or\n"
    "not): flat is what a function allocated itself, cum what it and its callees did.\n"
    "Profiles with bare addresses are symbolized first.",
    options,
    "Examples:\n"
    "  leakwatch top heap.pb.gz\n"
    "  leakwatch top --sample alloc_space --cum -n 20 heap.pb.gz\n"
    "  leakwatch top --focus 'cache|Cache' --json heap.pb.gz",
};

static bool parse_fraction(const char *text, double *out) {
  char *end = NULL;
  double value = strtod(text, &end);
  /* Written so that nan fails it too (every comparison with nan is false). */
  if (!end || end == text || *end || !(value >= 0 && value <= 1))
    return false;
  *out = value;
  return true;
}

static void print_json(const lw_view_t *v, const lw_top_t *top, const char *path) {
  lw_json_t j;
  lw_json_init(&j, stdout);
  lw_json_begin_object(&j);
  lw_json_kstring(&j, "file", path);
  lw_json_kstring(&j, "sample_type", v->sample_type);
  lw_json_kstring(&j, "unit", v->sample_unit);
  lw_json_kint(&j, "total", top->total);
  lw_json_kint(&j, "shown_flat", top->shown_flat);
  lw_json_kint(&j, "dropped", (int64_t)top->n_dropped);
  lw_json_kint(&j, "cutoff", top->cutoff);
  lw_json_key(&j, "rows");
  lw_json_begin_array(&j);
  for (size_t i = 0; i < top->n_rows; i++) {
    const lw_top_row_t *r = &top->rows[i];
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "name", lw_view_frame_name(v, r->frame));
    lw_json_kint(&j, "flat", r->flat);
    lw_json_kint(&j, "cum", r->cum);
    lw_json_kstring(&j, "inline", lw_top_inline_label(r));
    lw_json_kdouble(&j, "flat_percent", top->total ? 100.0 * (double)r->flat / (double)top->total : 0);
    lw_json_kdouble(&j, "cum_percent", top->total ? 100.0 * (double)r->cum / (double)top->total : 0);
    lw_json_end_object(&j);
  }
  lw_json_end_array(&j);
  lw_json_end_object(&j);
}

static void print_table(const lw_view_t *v, const lw_top_t *top) {
  const lw_profile_t *p = v->profile;
  char when[64], a[32], b[32], c[32], d[32], e[32];
  if (lw_profile_main_file(p)[0])
    printf("File: %s\n", lw_profile_main_file(p));
  printf("Type: %s\n", v->sample_type);
  lw_profile_time_text(p, when, sizeof when);
  if (when[0])
    printf("Time: %s\n", when);
  lw_view_format_value(v, top->shown_flat, a, sizeof a);
  lw_top_percent(top->shown_flat, top->total, b, sizeof b);
  lw_view_format_value(v, top->total, c, sizeof c);
  printf("Showing %zu functions accounting for %s, %s of %s total\n", top->n_rows, a, b, c);
  if (top->n_dropped) {
    lw_view_format_value(v, top->cutoff, a, sizeof a);
    printf("Dropped %zu functions (cum < %s)\n", top->n_dropped, a);
  }
  if (top->n_cut)
    printf("Not shown: %zu more (see -n)\n", top->n_cut);
  printf("%10s %6s %6s %10s %6s\n", "flat", "flat%", "sum%", "cum", "cum%");
  int64_t sum = 0;
  for (size_t i = 0; i < top->n_rows; i++) {
    const lw_top_row_t *r = &top->rows[i];
    sum += r->flat;
    lw_view_format_value(v, r->flat, a, sizeof a);
    lw_top_percent(r->flat, top->total, b, sizeof b);
    lw_top_percent(sum, top->total, c, sizeof c);
    lw_view_format_value(v, r->cum, d, sizeof d);
    lw_top_percent(r->cum, top->total, e, sizeof e);
    const char *label = lw_top_inline_label(r);
    printf("%10s %6s %6s %10s %6s  %s%s%s\n", a, b, c, d, e, lw_view_frame_name(v, r->frame),
           label[0] ? " " : "", label);
  }
}

int lw_cmd_top(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  lw_open_options_t open = {{NULL}, 0, false};
  lw_view_options_t view_options = {NULL, LW_VIEW_FUNCTIONS, NULL, NULL};
  bool cum = false, json = false;
  uint64_t nodes = 0;
  double fraction = LW_TOP_DEFAULT_NODE_FRACTION;
  const char *value;
  int option;
  int status = LW_EXIT_USAGE;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (lw_open_option(&open, name, value))
      continue;
    if (strcmp(name, "sample") == 0)
      view_options.sample = lw_cli_nonempty(&spec, name, value);
    else if (strcmp(name, "cum") == 0)
      cum = true;
    else if (strcmp(name, "nodes") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 0, 100000000, &nodes))
        goto out;
    } else if (strcmp(name, "node-fraction") == 0) {
      if (!parse_fraction(value, &fraction)) {
        lw_cli_usage_error(&spec, "invalid value '%s' for --node-fraction (a number from 0 to 1)",
                           value);
        goto out;
      }
    } else if (strcmp(name, "focus") == 0)
      view_options.focus = value;
    else if (strcmp(name, "ignore") == 0)
      view_options.ignore = value;
    else if (strcmp(name, "lines") == 0)
      view_options.grain = LW_VIEW_LINES;
    else if (strcmp(name, "json") == 0)
      json = true;
  }
  if (parser.n_positionals != 1) {
    lw_cli_usage_error(&spec, parser.n_positionals ? "expected one profile file, got %d"
                                                   : "missing the profile file%.0d",
                       parser.n_positionals);
    goto out;
  }
  const char *path = parser.positionals[0];
  status = LW_EXIT_FAILURE;
  lw_profile_t profile;
  if (lw_open_profile(path, &open, &profile) < 0)
    goto out;
  lw_view_t view;
  char error[512];
  if (lw_view_build(&view, &profile, &view_options, error, sizeof error) < 0) {
    lw_cli_error("'%s': %s", path, error);
    lw_profile_free(&profile);
    goto out;
  }
  lw_top_t top;
  if (lw_top_compute(&view, cum, fraction, (size_t)nodes, &top) < 0) {
    lw_cli_error("'%s': out of memory", path);
  } else {
    if (json)
      print_json(&view, &top, path);
    else
      print_table(&view, &top);
    lw_top_free(&top);
    status = fflush(stdout) == 0 && !ferror(stdout) ? LW_EXIT_OK : LW_EXIT_FAILURE;
  }
  lw_view_free(&view);
  lw_profile_free(&profile);
out:
  lw_cli_parser_free(&parser);
  return status;
}
