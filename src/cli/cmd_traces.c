/*
 * cmd_traces.c - `leakwatch traces FILE`: every stack in the profile with its values,
 * largest first, each frame as "function file:line" (inlined frames marked).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/json.h"
#include "cli/open_profile.h"
#include "cli/top.h"
#include "cli/view.h"

static const lw_cli_option_t options[] = {
    {"sample", 's', "TYPE", "value to sort by (default: the profile's default, inuse_space for "
                            "heap profiles)"},
    {"nodes", 'n', "N", "show only the N largest stacks"},
    {"focus", 0, "RE", "only stacks with a frame matching RE"},
    {"ignore", 0, "RE", "drop stacks with a frame matching RE"},
    {"functions", 0, NULL, "name frames by function only, without file:line"},
    {"json", 0, NULL, "print JSON instead of text"},
    {"debug-dir", 0, "DIR", LW_OPEN_HELP_DEBUG_DIR},
    {"no-symbolize", 0, NULL, LW_OPEN_HELP_NO_SYMBOLIZE},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "traces",
    "leakwatch traces [OPTIONS] FILE",
    "Print every stack of a heap profile with its values, largest first: where each block of\n"
    "memory was allocated, from the allocating frame (top) down to main.",
    options,
    "Examples:\n"
    "  leakwatch traces heap.pb.gz | less\n"
    "  leakwatch traces -n 5 --sample alloc_space heap.pb.gz",
};

static const lw_view_t *order_view;

/* Largest |value| first; equal values keep profile order. */
static int by_value(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int64_t vx = lw_view_value(order_view, x), vy = lw_view_value(order_view, y);
  vx = vx < 0 ? -vx : vx;
  vy = vy < 0 ? -vy : vy;
  if (vx != vy)
    return vx > vy ? -1 : 1;
  return x < y ? -1 : x > y;
}

static void label_text(const lw_profile_t *p, const lw_profile_label_t *l, char *out, size_t n) {
  if (l->str)
    snprintf(out, n, "%s", lw_profile_str(p, l->str));
  else if (l->num_unit)
    snprintf(out, n, "%" PRId64 " %s", l->num, lw_profile_str(p, l->num_unit));
  else
    snprintf(out, n, "%" PRId64, l->num);
}

static int run(const lw_view_t *v, const size_t *order, size_t n, size_t n_total, bool json,
               const char *path) {
  const lw_profile_t *p = v->profile;
  lw_frame_list_t stack = {NULL, NULL, 0, 0};
  lw_json_t j;
  char text[64];
  if (json) {
    lw_json_init(&j, stdout);
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "file", path);
    lw_json_kstring(&j, "sample_type", v->sample_type);
    lw_json_kstring(&j, "unit", v->sample_unit);
    lw_json_kint(&j, "total", v->total);
    lw_json_key(&j, "traces");
    lw_json_begin_array(&j);
  } else {
    if (lw_profile_main_file(p)[0])
      printf("File: %s\n", lw_profile_main_file(p));
    printf("Type: %s\n", v->sample_type);
    lw_view_format_value(v, v->total, text, sizeof text);
    printf("Stacks: %zu", n_total);
    if (n < n_total)
      printf(", the %zu largest shown", n);
    printf("; total %s\n", text);
  }
  for (size_t i = 0; i < n; i++) {
    size_t s = order[i];
    const lw_profile_sample_t *sample = &p->samples[s];
    if (lw_view_stack(v, s, &stack) < 0) {
      lw_frame_list_free(&stack);
      return -1;
    }
    const int64_t *values = lw_sample_values(p, sample);
    const lw_profile_label_t *labels = lw_sample_labels(p, sample);
    if (json) {
      lw_json_begin_object(&j);
      lw_json_kint(&j, "value", lw_view_value(v, s));
      lw_json_key(&j, "values");
      lw_json_begin_object(&j);
      for (size_t t = 0; t < p->n_sample_types; t++)
        lw_json_kint(&j, lw_profile_str(p, p->sample_types[t].type), values[t]);
      lw_json_end_object(&j);
      lw_json_key(&j, "labels");
      lw_json_begin_object(&j);
      for (uint32_t k = 0; k < sample->n_labels; k++) {
        char value[256];
        label_text(p, &labels[k], value, sizeof value);
        lw_json_kstring(&j, lw_profile_str(p, labels[k].key), value);
      }
      lw_json_end_object(&j);
      lw_json_key(&j, "frames");
      lw_json_begin_array(&j);
      for (size_t k = 0; k < stack.n; k++) {
        lw_json_begin_object(&j);
        lw_json_kstring(&j, "name", lw_view_frame_name(v, stack.ids[k]));
        lw_json_kbool(&j, "inlined", stack.inlined[k]);
        lw_json_end_object(&j);
      }
      lw_json_end_array(&j);
      lw_json_end_object(&j);
      continue;
    }
    printf("-----------+-------------------------------------------------------\n");
    printf("%10s ", "");
    for (size_t t = 0; t < p->n_sample_types; t++) {
      lw_format_value(lw_profile_str(p, p->sample_types[t].unit), values[t], text, sizeof text);
      printf(" %s=%s", lw_profile_str(p, p->sample_types[t].type), text);
    }
    for (uint32_t k = 0; k < sample->n_labels; k++) {
      char value[256];
      label_text(p, &labels[k], value, sizeof value);
      printf(" %s:%s", lw_profile_str(p, labels[k].key), value);
    }
    printf("\n");
    lw_view_format_value(v, lw_view_value(v, s), text, sizeof text);
    if (stack.n == 0)
      printf("%10s   (no stack)\n", text);
    for (size_t k = 0; k < stack.n; k++)
      printf("%10s   %s%s\n", k == 0 ? text : "", lw_view_frame_name(v, stack.ids[k]),
             stack.inlined[k] ? " (inline)" : "");
  }
  if (json) {
    lw_json_end_array(&j);
    lw_json_end_object(&j);
  } else if (n) {
    printf("-----------+-------------------------------------------------------\n");
  }
  lw_frame_list_free(&stack);
  return 0;
}

int lw_cmd_traces(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  lw_open_options_t open = {{NULL}, 0, false};
  lw_view_options_t view_options = {NULL, LW_VIEW_LINES, NULL, NULL};
  bool json = false;
  uint64_t limit = 0;
  const char *value;
  int option;
  int status = LW_EXIT_USAGE;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (lw_open_option(&open, name, value))
      continue;
    if (strcmp(name, "sample") == 0)
      view_options.sample = lw_cli_nonempty(&spec, name, value);
    else if (strcmp(name, "nodes") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 100000000, &limit))
        goto out;
    } else if (strcmp(name, "focus") == 0)
      view_options.focus = value;
    else if (strcmp(name, "ignore") == 0)
      view_options.ignore = value;
    else if (strcmp(name, "functions") == 0)
      view_options.grain = LW_VIEW_FUNCTIONS;
    else if (strcmp(name, "json") == 0)
      json = true;
  }
  if (parser.n_positionals != 1) {
    lw_cli_usage_error(&spec, "expected one profile file, got %d", parser.n_positionals);
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
  size_t *order = malloc((profile.n_samples + 1) * sizeof *order);
  size_t n = 0, n_total = 0;
  if (order) {
    for (size_t s = 0; s < profile.n_samples; s++)
      if (lw_view_kept(&view, s))
        order[n++] = s;
    order_view = &view;
    qsort(order, n, sizeof *order, by_value);
    n_total = n;
    if (limit && n > limit)
      n = (size_t)limit;
  }
  if (!order || run(&view, order, n, n_total, json, path) < 0)
    lw_cli_error("'%s': out of memory", path);
  else
    status = fflush(stdout) == 0 && !ferror(stdout) ? LW_EXIT_OK : LW_EXIT_FAILURE;
  free(order);
  lw_view_free(&view);
  lw_profile_free(&profile);
out:
  lw_cli_parser_free(&parser);
  return status;
}
