/*
 * cmd_report.c - `leakwatch report FILE... -o report.html`: one self-contained HTML page
 * (no network, no external files) with the top table and the flame graph of the latest
 * profile and, given several profiles in time order and/or the CSV of `leakwatch watch`,
 * plots of memory over time and of how the top allocation sites grew.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/flame.h"
#include "cli/open_profile.h"
#include "cli/output.h"
#include "cli/plot.h"
#include "cli/top.h"
#include "cli/view.h"
#include "cli/watch_csv.h"
#include "common/file.h"

#define MAX_INPUTS 256
#define MAX_CSV_BYTES ((size_t)256 << 20)

static const lw_cli_option_t options[] = {
    {"output", 'o', "FILE", "write the HTML to FILE (default: standard output)"},
    {"sample", 's', "TYPE", "value to report (default: the profile's default, inuse_space for "
                            "heap profiles)"},
    {"nodes", 'n', "N", "rows in the top table (default 40)"},
    {"sites", 0, "K", "sites whose growth is plotted (default 6)"},
    {"title", 0, "TEXT", "page title"},
    {"debug-dir", 0, "DIR", LW_OPEN_HELP_DEBUG_DIR},
    {"no-symbolize", 0, NULL, LW_OPEN_HELP_NO_SYMBOLIZE},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "report",
    "leakwatch report [OPTIONS] FILE... -o report.html",
    "Write one self-contained HTML page about a program's memory: the top table and flame\n"
    "graph of the latest heap profile and, when given several profiles (taken over time) or\n"
    "the CSV of `leakwatch watch`, plots of memory over time and of the top sites' growth.\n"
    "Profiles are put in time order by their timestamps.",
    options,
    "Examples:\n"
    "  leakwatch report heap.pb.gz -o report.html\n"
    "  leakwatch report heap-*.pb.gz watch.csv -o report.html",
};

typedef struct input_profile {
  const char *path;
  lw_profile_t profile;
  lw_view_t view;
  lw_top_t top; /* all rows, for the site series */
} input_profile_t;

typedef struct input_csv {
  const char *path;
  lw_watch_csv_t csv;
} input_csv_t;

static int by_time(const void *a, const void *b) {
  const input_profile_t *x = a, *y = b;
  if (x->profile.time_nanos != y->profile.time_nanos)
    return x->profile.time_nanos < y->profile.time_nanos ? -1 : 1;
  return x->path < y->path ? -1 : x->path > y->path; /* keep command-line order */
}

static const char page_style[] =
    "body { font-family: sans-serif; margin: 24px; color: #222; background: #fafafa; }\n"
    "h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }\n"
    ".meta { color: #555; font-size: 13px; }\n"
    "table { border-collapse: collapse; font-size: 13px; background: #fff; }\n"
    "th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; }\n"
    "th { text-align: right; background: #f0f0f0; } td { text-align: right; }\n"
    "td.name, th.name { text-align: left; font-family: monospace; }\n"
    "#lwflamebox { overflow-x: auto; background: #fff; }\n"
    "input { font-size: 13px; padding: 3px; width: 320px; }\n";

static void html_text(FILE *out, const char *text) { lw_xml_escape(out, text); }

static void write_top_table(FILE *out, const input_profile_t *in, const lw_top_t *top) {
  const lw_view_t *v = &in->view;
  char a[32], b[32], c[32], d[32], e[32];
  fprintf(out, "<table id=\"lwtop\">\n<thead><tr><th>flat</th><th>flat%%</th><th>sum%%</th>"
               "<th>cum</th><th>cum%%</th><th class=\"name\">function</th></tr></thead>\n<tbody>\n");
  int64_t sum = 0;
  for (size_t i = 0; i < top->n_rows; i++) {
    const lw_top_row_t *r = &top->rows[i];
    sum += r->flat;
    lw_view_format_value(v, r->flat, a, sizeof a);
    lw_top_percent(r->flat, top->total, b, sizeof b);
    lw_top_percent(sum, top->total, c, sizeof c);
    lw_view_format_value(v, r->cum, d, sizeof d);
    lw_top_percent(r->cum, top->total, e, sizeof e);
    fprintf(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"name\">",
            a, b, c, d, e);
    html_text(out, lw_view_frame_name(v, r->frame));
    const char *label = lw_top_inline_label(r);
    if (label[0])
      fprintf(out, " %s", label);
    fputs("</td></tr>\n", out);
  }
  fputs("</tbody>\n</table>\n", out);
}

/* Flat value of the frame named `name` in a profile's full top table (0 if absent). */
static int64_t flat_of(const input_profile_t *in, const char *name) {
  uint32_t id = lw_intern_find(&in->view.frames, name, strlen(name));
  if (id == UINT32_MAX)
    return 0;
  for (size_t i = 0; i < in->top.n_rows; i++)
    if (in->top.rows[i].frame == id)
      return in->top.rows[i].flat;
  return 0;
}

static double profile_x(const input_profile_t *ins, size_t n, size_t i, bool *time_axis) {
  *time_axis = true;
  for (size_t k = 0; k < n; k++)
    if (ins[k].profile.time_nanos <= 0)
      *time_axis = false;
  return *time_axis ? (double)ins[i].profile.time_nanos / 1e9 : (double)(i + 1);
}

static int write_profile_plots(FILE *out, input_profile_t *ins, size_t n, size_t n_sites) {
  double *x = calloc(n, sizeof *x), *total = calloc(n, sizeof *total);
  double *site_y = calloc(n * (n_sites + 1), sizeof *site_y);
  lw_plot_series_t *series = calloc(n_sites + 1, sizeof *series);
  char (*names)[256] = calloc(n_sites + 1, sizeof *names);
  int result = -1;
  if (!x || !total || !site_y || !series || !names)
    goto out;
  bool time_axis = false;
  for (size_t i = 0; i < n; i++) {
    x[i] = profile_x(ins, n, i, &time_axis);
    total[i] = (double)ins[i].view.total;
  }
  const input_profile_t *last = &ins[n - 1], *first = &ins[0];
  char title[256];
  snprintf(title, sizeof title, "Total %s in the profiles", last->view.sample_type);
  lw_plot_series_t total_series = {title, x, total, n};
  lw_plot_t plot = {"lwtimeline-profiles", title, last->view.sample_unit, time_axis,
                    time_axis ? "time (UTC)" : "profile"};
  fputs("<h2>Memory over time (profiles)</h2>\n", out);
  if (lw_plot_svg(out, &plot, &total_series, 1) < 0)
    goto out;

  /* Sites: the functions whose flat value grew most from the first profile to the last;
   * when nothing grew, the largest ones in the last profile. */
  size_t chosen = 0;
  bool *used = calloc(last->top.n_rows + 1, sizeof *used);
  if (!used)
    goto out;
  for (int pass = 0; pass < 2 && chosen < n_sites; pass++) {
    while (chosen < n_sites) {
      size_t best = SIZE_MAX;
      int64_t best_key = 0;
      for (size_t r = 0; r < last->top.n_rows; r++) {
        const lw_top_row_t *row = &last->top.rows[r];
        if (used[r] || row->flat <= 0)
          continue;
        int64_t key = pass == 0 ? row->flat - flat_of(first, lw_view_frame_name(&last->view, row->frame))
                                : row->flat;
        if (key > 0 && (best == SIZE_MAX || key > best_key)) {
          best = r;
          best_key = key;
        }
      }
      if (best == SIZE_MAX)
        break;
      used[best] = true;
      snprintf(names[chosen], sizeof names[chosen], "%s",
               lw_view_frame_name(&last->view, last->top.rows[best].frame));
      chosen++;
    }
  }
  free(used);
  for (size_t s = 0; s < chosen; s++) {
    for (size_t i = 0; i < n; i++)
      site_y[s * n + i] = (double)flat_of(&ins[i], names[s]);
    series[s] = (lw_plot_series_t){names[s], x, site_y + s * n, n};
  }
  snprintf(title, sizeof title, "Growth of the top sites (flat %s per function)",
           last->view.sample_type);
  lw_plot_t sites_plot = {"lwsites", title, last->view.sample_unit, time_axis,
                          time_axis ? "time (UTC)" : "profile"};
  fputs("<h2>Growth of the top sites</h2>\n", out);
  if (chosen == 0)
    fputs("<p class=\"meta\">No site holds memory in the last profile.</p>\n", out);
  else if (lw_plot_svg(out, &sites_plot, series, chosen) < 0)
    goto out;
  result = 0;
out:
  free(x);
  free(total);
  free(site_y);
  free(series);
  free(names);
  return result;
}

/* Two plots per CSV: the *_bytes columns, and the other numeric ones (fds, threads, ...),
 * one series per column and process. */
static int write_csv_plots(FILE *out, const input_csv_t *in) {
  const lw_watch_csv_t *c = &in->csv;
  size_t n = c->n_rows, m = c->n_columns;
  double *x = calloc(n + 1, sizeof *x), *ys = calloc((n + 1) * m, sizeof *ys);
  double *pids = calloc(n + 1, sizeof *pids);
  lw_plot_series_t *series = calloc(m * 8 + 1, sizeof *series);
  char (*names)[128] = calloc(m * 8 + 1, sizeof *names);
  double *xs = calloc((n + 1) * m * 8, sizeof *xs), *yv = calloc((n + 1) * m * 8, sizeof *yv);
  int result = -1;
  if (!x || !ys || !pids || !series || !names || !xs || !yv)
    goto out;
  /* Distinct pids (at most 8 plotted), in order of appearance. */
  size_t n_pids = 0;
  for (size_t r = 0; r < n; r++) {
    double pid = c->pid_column >= 0 ? c->values[r * m + (size_t)c->pid_column] : 0;
    bool seen = false;
    for (size_t k = 0; k < n_pids; k++)
      seen |= pids[k] == pid || (isnan(pid) && isnan(pids[k]));
    if (!seen && n_pids < 8)
      pids[n_pids++] = pid;
  }
  fputs("<h2>Memory over time (", out);
  html_text(out, in->path);
  fputs(")</h2>\n", out);
  for (int kind = 0; kind < 2; kind++) {
    size_t n_series = 0;
    for (size_t col = 0; col < m; col++) {
      const char *name = c->columns[col];
      size_t len = strlen(name);
      bool bytes = len > 6 && strcmp(name + len - 6, "_bytes") == 0;
      if ((int)col == c->time_column || (int)col == c->pid_column || bytes != (kind == 0))
        continue;
      for (size_t k = 0; k < n_pids; k++) {
        size_t count = 0;
        double *sx = xs + n_series * n, *sy = yv + n_series * n;
        for (size_t r = 0; r < n; r++) {
          double pid = c->pid_column >= 0 ? c->values[r * m + (size_t)c->pid_column] : 0;
          if (!(pid == pids[k] || (isnan(pid) && isnan(pids[k]))))
            continue;
          double v = c->values[r * m + col];
          if (isnan(v))
            continue;
          sx[count] = c->values[r * m + (size_t)c->time_column];
          sy[count] = v;
          count++;
        }
        if (count == 0)
          continue;
        if (n_pids > 1)
          snprintf(names[n_series], sizeof names[n_series], "%s (pid %.0f)", name, pids[k]);
        else
          snprintf(names[n_series], sizeof names[n_series], "%s", name);
        series[n_series] = (lw_plot_series_t){names[n_series], sx, sy, count};
        n_series++;
      }
    }
    if (n_series == 0)
      continue;
    lw_plot_t plot = {kind == 0 ? "lwtimeline" : "lwcounts",
                      kind == 0 ? "Memory (bytes columns)" : "Other measurements",
                      kind == 0 ? "bytes" : "", true, "time (UTC)"};
    if (lw_plot_svg(out, &plot, series, n_series) < 0)
      goto out;
  }
  result = 0;
out:
  free(x);
  free(ys);
  free(pids);
  free(series);
  free(names);
  free(xs);
  free(yv);
  return result;
}

static int write_page(FILE *out, input_profile_t *ins, size_t n_profiles, input_csv_t *csvs,
                      size_t n_csvs, const char *title, size_t rows, size_t n_sites) {
  fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", out);
  html_text(out, title);
  fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", page_style);
  html_text(out, title);
  fputs("</h1>\n", out);
  for (size_t i = 0; i < n_csvs; i++)
    if (write_csv_plots(out, &csvs[i]) < 0)
      return -1;
  if (n_profiles == 0)
    return ferror(out) ? -1 : (fputs("</body>\n</html>\n", out), 0);
  if (n_profiles > 1 && write_profile_plots(out, ins, n_profiles, n_sites) < 0)
    return -1;

  input_profile_t *last = &ins[n_profiles - 1];
  const lw_profile_t *p = &last->profile;
  char when[64], total[32];
  lw_profile_time_text(p, when, sizeof when);
  lw_view_format_value(&last->view, last->view.total, total, sizeof total);
  fputs("<h2>Top functions</h2>\n<p class=\"meta\">", out);
  html_text(out, last->path);
  if (lw_profile_main_file(p)[0]) {
    fputs(" &middot; program ", out);
    html_text(out, lw_profile_main_file(p));
  }
  fprintf(out, " &middot; %s", last->view.sample_type);
  if (when[0])
    fprintf(out, " &middot; %s", when);
  fprintf(out, " &middot; total %s", total);
  if (n_profiles > 1)
    fprintf(out, " &middot; latest of %zu profiles", n_profiles);
  fputs("</p>\n", out);
  lw_top_t top;
  if (lw_top_compute(&last->view, false, LW_TOP_DEFAULT_NODE_FRACTION, rows, &top) < 0)
    return -1;
  write_top_table(out, last, &top);
  lw_top_free(&top);

  lw_flame_t flame;
  if (lw_flame_build(&last->view, &flame) < 0)
    return -1;
  fputs("<h2>Flame graph</h2>\n<p class=\"meta\">Hover for details, click a frame to zoom; "
        "search: <input id=\"lwsearchbox\" type=\"search\" placeholder=\"regular expression\" "
        "oninput=\"window.lwFlameSearch &amp;&amp; window.lwFlameSearch(this.value || null)\">"
        "</p>\n<div id=\"lwflamebox\">\n",
        out);
  char heading[512];
  snprintf(heading, sizeof heading, "%s of %s", last->view.sample_type,
           lw_profile_main_file(p)[0] ? lw_profile_main_file(p) : last->path);
  lw_flame_svg_options_t svg = {heading, 1200, true};
  int rc = lw_flame_write_svg(&flame, &last->view, &svg, out);
  lw_flame_free(&flame);
  if (rc < 0)
    return -1;
  fputs("</div>\n</body>\n</html>\n", out);
  return ferror(out) ? -1 : 0;
}

int lw_cmd_report(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  lw_open_options_t open = {{NULL}, 0, false};
  const char *output = NULL, *title = "leakwatch report", *sample = NULL;
  uint64_t rows = 40, n_sites = 6;
  const char *value;
  int option;
  int status = LW_EXIT_USAGE;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (lw_open_option(&open, name, value))
      continue;
    if (strcmp(name, "output") == 0)
      output = value;
    else if (strcmp(name, "sample") == 0)
      sample = lw_cli_nonempty(&spec, name, value);
    else if (strcmp(name, "title") == 0)
      title = value;
    else if (strcmp(name, "nodes") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 100000, &rows))
        goto out;
    } else if (strcmp(name, "sites") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 10, &n_sites))
        goto out;
    }
  }
  if (parser.n_positionals < 1 || parser.n_positionals > MAX_INPUTS) {
    lw_cli_usage_error(&spec, "expected 1 to %d input files (profiles or watch CSV), got %d",
                       MAX_INPUTS, parser.n_positionals);
    goto out;
  }
  status = LW_EXIT_FAILURE;
  if (lw_output_check_path(output, "report") != 0)
    goto out;
  size_t n_in = (size_t)parser.n_positionals, n_profiles = 0, n_csvs = 0;
  input_profile_t *ins = calloc(n_in, sizeof *ins);
  input_csv_t *csvs = calloc(n_in, sizeof *csvs);
  if (!ins || !csvs) {
    lw_cli_error("out of memory");
    goto done;
  }
  for (size_t i = 0; i < n_in; i++) {
    const char *path = parser.positionals[i];
    uint8_t sniff[4096];
    size_t got = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
      got = fread(sniff, 1, sizeof sniff, f);
      fclose(f);
    }
    if (got && lw_watch_csv_sniff(sniff, got)) {
      lw_buf_t head;
      lw_buf_init(&head, &lw_libc_allocator);
      int rc = lw_read_file(path, &head, MAX_CSV_BYTES);
      if (rc < 0) {
        lw_cli_error("'%s': %s", path, rc == -EFBIG ? "CSV larger than 256 MiB" : strerror(-rc));
        lw_buf_free(&head);
        goto done;
      }
      char error[512];
      if (lw_watch_csv_parse((const char *)head.data, head.len, &csvs[n_csvs].csv, error,
                             sizeof error) < 0) {
        lw_cli_error("'%s': not a leakwatch watch CSV: %s", path, error);
        lw_buf_free(&head);
        goto done;
      }
      csvs[n_csvs++].path = path;
      lw_buf_free(&head);
      continue;
    }
    input_profile_t *in = &ins[n_profiles];
    in->path = path;
    if (lw_open_profile(path, &open, &in->profile) < 0)
      goto done;
    n_profiles++;
  }
  /* Time order; every profile is seen through the same sample type as the latest. */
  qsort(ins, n_profiles, sizeof *ins, by_time);
  char error[512];
  for (size_t k = n_profiles; k-- > 0;) {
    input_profile_t *in = &ins[k];
    lw_view_options_t vo = {sample, LW_VIEW_FUNCTIONS, NULL, NULL};
    if (k + 1 < n_profiles)
      vo.sample = ins[n_profiles - 1].view.sample_type;
    if (lw_view_build(&in->view, &in->profile, &vo, error, sizeof error) < 0) {
      lw_cli_error("'%s': %s", in->path, error);
      goto done;
    }
    if (n_profiles > 1 && lw_top_compute(&in->view, false, 0, 0, &in->top) < 0) {
      lw_cli_error("'%s': out of memory", in->path);
      goto done;
    }
  }
  lw_output_t result;
  if (lw_output_begin(&result) < 0)
    goto done;
  if (write_page(result.stream, ins, n_profiles, csvs, n_csvs, title, (size_t)rows,
                 (size_t)n_sites) < 0) {
    lw_output_discard(&result);
    lw_cli_error("'%s': out of memory while writing the report", output ? output : "-");
    goto done;
  }
  if (lw_output_commit(&result, output) == 0)
    status = LW_EXIT_OK;
done:
  for (size_t i = 0; ins && i < n_profiles; i++) {
    lw_top_free(&ins[i].top);
    if (ins[i].view.profile)
      lw_view_free(&ins[i].view);
    lw_profile_free(&ins[i].profile);
  }
  for (size_t i = 0; csvs && i < n_csvs; i++)
    lw_watch_csv_free(&csvs[i].csv);
  free(ins);
  free(csvs);
out:
  lw_cli_parser_free(&parser);
  return status;
}
