/*
 * cmd_diff.c - `leakwatch diff BASE NEW`: what changed per allocation site between two
 * profiles of the same program, largest growth first.
 *
 * A site is a whole stack with source lines ("grow widget.cc:48 <- main main.cc:12"), so
 * the same site matches across runs and address-space layouts. Values are compared as
 * they are stored: pprof heap profiles hold estimates already scaled for their sampling
 * rate (FORMATS.md 1.5), so profiles taken at different rates compare directly; the
 * command says when rates differ, since small sites are then noisier.
 *
 * "only grew" marks a site whose every allocation between BASE and NEW is still live: its
 * in-use value grew by (nearly) what it allocated in between, so nothing it allocated since
 * BASE was freed - the signature of a leak. It needs the alloc_* column next to the inuse_*
 * one (heap profiles from leakwatch and Go have both).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/intern.h"
#include "cli/json.h"
#include "cli/open_profile.h"
#include "cli/view.h"

/* Freed-in-between up to this share of the allocated-in-between still counts as "nothing
 * freed": sampling estimates of the two columns are not exactly equal. */
#define ONLY_GREW_SLACK 0.02

static const lw_cli_option_t options[] = {
    {"sample", 's', "TYPE", "value to compare (default: NEW's default, inuse_space for heap "
                            "profiles)"},
    {"nodes", 'n', "N", "show only the first N sites"},
    {"all", 0, NULL, "also list sites that did not change"},
    {"depth", 0, "N", "frames shown per site in the table (default 4; --json has all)"},
    {"focus", 0, "RE", "only stacks with a frame matching RE"},
    {"ignore", 0, "RE", "drop stacks with a frame matching RE"},
    {"json", 0, NULL, "print JSON instead of a table"},
    {"debug-dir", 0, "DIR", LW_OPEN_HELP_DEBUG_DIR},
    {"no-symbolize", 0, NULL, LW_OPEN_HELP_NO_SYMBOLIZE},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "diff",
    "leakwatch diff [OPTIONS] BASE NEW",
    "Compare two heap profiles of the same program: per allocation site (stack), the value in\n"
    "BASE, in NEW and the change, sorted by growth. Sites marked \"only grew\" kept everything\n"
    "they allocated since BASE: likely leaks. Profiles taken with different sampling rates\n"
    "compare fine: their values are estimates of the same quantities.",
    options,
    "Examples:\n"
    "  leakwatch diff heap-1.pb.gz heap-2.pb.gz\n"
    "  leakwatch diff --sample inuse_objects -n 10 before.pb.gz after.pb.gz",
};

typedef struct site {
  int64_t base, now;             /* selected column */
  int64_t base_alloc, now_alloc; /* matching alloc_* column, when there is one */
  size_t sample;                 /* a sample of this site, to print its frames */
  int which;                     /* 0: sample is from BASE, 1: from NEW */
} site_t;

typedef struct {
  lw_profile_t profile;
  lw_view_t view;
  int alloc_index; /* alloc_* column paired with the selected inuse_* one, or -1 */
  const char *path;
} side_t;

static int find_alloc_index(const lw_profile_t *p, const char *type) {
  if (strncmp(type, "inuse_", 6) != 0)
    return -1;
  char alloc[256];
  snprintf(alloc, sizeof alloc, "alloc_%s", type + 6);
  return lw_profile_sample_type_index(p, alloc);
}

static const char *status_of(const site_t *s, bool have_alloc) {
  int64_t delta = s->now - s->base;
  if (delta > 0 && have_alloc) {
    int64_t allocated = s->now_alloc - s->base_alloc;
    if (allocated > 0 && (double)(allocated - delta) <= ONLY_GREW_SLACK * (double)allocated)
      return "only grew";
  }
  if (s->base == 0 && s->now != 0)
    return "new";
  if (s->now == 0 && s->base != 0)
    return "gone";
  return delta > 0 ? "grew" : delta < 0 ? "shrank" : "same";
}

static site_t *sites_sorted;
static int by_growth(const void *a, const void *b) {
  const site_t *x = &sites_sorted[*(const uint32_t *)a], *y = &sites_sorted[*(const uint32_t *)b];
  int64_t dx = x->now - x->base, dy = y->now - y->base;
  if (dx != dy)
    return dx > dy ? -1 : 1;
  if (x->now != y->now)
    return x->now > y->now ? -1 : 1;
  return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Adds one side's samples to the sites. */
static int collect(side_t *side, int which, lw_intern_t *keys, site_t **sites, size_t *cap) {
  lw_frame_list_t stack = {NULL, NULL, 0, 0};
  char *key = NULL;
  size_t key_cap = 0;
  const lw_profile_t *p = &side->profile;
  for (size_t s = 0; s < p->n_samples; s++) {
    if (!lw_view_kept(&side->view, s) || lw_view_stack(&side->view, s, &stack) < 0)
      continue;
    size_t len = 0;
    for (size_t k = 0; k < stack.n; k++) {
      const char *name = lw_view_frame_name(&side->view, stack.ids[k]);
      size_t n = strlen(name);
      if (len + n + 2 > key_cap) {
        key_cap = (len + n + 2) * 2;
        char *grown = realloc(key, key_cap);
        if (!grown)
          goto oom;
        key = grown;
      }
      memcpy(key + len, name, n);
      len += n;
      key[len++] = '\n';
    }
    uint32_t id = lw_intern_n(keys, key ? key : "", len);
    if (id == UINT32_MAX)
      goto oom;
    if (id >= *cap) {
      size_t grown_cap = *cap ? *cap * 2 : 1024;
      while (grown_cap <= id)
        grown_cap *= 2;
      site_t *grown = realloc(*sites, grown_cap * sizeof *grown);
      if (!grown)
        goto oom;
      memset(grown + *cap, 0, (grown_cap - *cap) * sizeof *grown);
      *sites = grown;
      *cap = grown_cap;
    }
    site_t *site = &(*sites)[id];
    const int64_t *values = lw_sample_values(p, &p->samples[s]);
    int64_t value = values[side->view.sample_index];
    int64_t alloc = side->alloc_index >= 0 ? values[side->alloc_index] : 0;
    if (which == 0) {
      site->base += value;
      site->base_alloc += alloc;
    } else {
      site->now += value;
      site->now_alloc += alloc;
    }
    if (which == 1 || (site->now == 0 && site->which == 0)) {
      site->sample = s;
      site->which = which;
    }
  }
  free(key);
  lw_frame_list_free(&stack);
  return 0;
oom:
  free(key);
  lw_frame_list_free(&stack);
  return -1;
}

static void describe(const side_t *side, const char *label) {
  const lw_profile_t *p = &side->profile;
  char when[64], rate[64] = "";
  lw_profile_time_text(p, when, sizeof when);
  if (p->period > 0 && strcmp(lw_profile_str(p, p->period_type.unit), "bytes") == 0) {
    char amount[32];
    lw_format_value("bytes", p->period, amount, sizeof amount);
    snprintf(rate, sizeof rate, ", sampled every %s", amount);
  }
  printf("%s %s%s%s%s\n", label, side->path, when[0] ? " (" : "", when, when[0] ? ")" : "");
  if (rate[0])
    printf("%*s%s\n", (int)strlen(label) + 1, "", rate + 2);
}

int lw_cmd_diff(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  lw_open_options_t open = {{NULL}, 0, false};
  lw_view_options_t view_options = {NULL, LW_VIEW_LINES, NULL, NULL};
  bool json = false, all = false;
  uint64_t limit = 0, depth = 4;
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
    } else if (strcmp(name, "depth") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 1000, &depth))
        goto out;
    } else if (strcmp(name, "all") == 0)
      all = true;
    else if (strcmp(name, "focus") == 0)
      view_options.focus = value;
    else if (strcmp(name, "ignore") == 0)
      view_options.ignore = value;
    else if (strcmp(name, "json") == 0)
      json = true;
  }
  if (parser.n_positionals != 2) {
    lw_cli_usage_error(&spec, "expected two profile files (BASE NEW), got %d",
                       parser.n_positionals);
    goto out;
  }
  status = LW_EXIT_FAILURE;
  side_t sides[2];
  memset(sides, 0, sizeof sides);
  bool loaded[2] = {false, false}, viewed[2] = {false, false};
  lw_intern_t keys;
  lw_intern_init(&keys);
  site_t *sites = NULL;
  size_t cap = 0;
  uint32_t *order = NULL;
  char error[512];
  for (int i = 0; i < 2; i++) {
    sides[i].path = parser.positionals[i];
    if (lw_open_profile(sides[i].path, &open, &sides[i].profile) < 0)
      goto done;
    loaded[i] = true;
  }
  /* NEW decides the sample type; BASE must have the same one. */
  lw_view_options_t base_options = view_options;
  if (lw_view_build(&sides[1].view, &sides[1].profile, &view_options, error, sizeof error) < 0) {
    lw_cli_error("'%s': %s", sides[1].path, error);
    goto done;
  }
  viewed[1] = true;
  base_options.sample = sides[1].view.sample_type;
  if (lw_profile_sample_type_index(&sides[0].profile, base_options.sample) < 0) {
    lw_cli_error("'%s': has no '%s' values to compare with '%s'", sides[0].path,
                 base_options.sample, sides[1].path);
    goto done;
  }
  if (lw_view_build(&sides[0].view, &sides[0].profile, &base_options, error, sizeof error) < 0) {
    lw_cli_error("'%s': %s", sides[0].path, error);
    goto done;
  }
  viewed[0] = true;
  for (int i = 0; i < 2; i++)
    sides[i].alloc_index = find_alloc_index(&sides[i].profile, sides[i].view.sample_type);
  bool have_alloc = sides[0].alloc_index >= 0 && sides[1].alloc_index >= 0;
  for (int i = 0; i < 2; i++)
    if (collect(&sides[i], i, &keys, &sites, &cap) < 0) {
      lw_cli_error("out of memory");
      goto done;
    }
  size_t n_sites = keys.n, n = 0;
  order = malloc((n_sites + 1) * sizeof *order);
  if (!order) {
    lw_cli_error("out of memory");
    goto done;
  }
  int64_t totals[2] = {0, 0}, alloc_totals[2] = {0, 0};
  size_t counts[6] = {0};
  static const char *const kinds[] = {"only grew", "new", "grew", "shrank", "gone", "same"};
  for (uint32_t i = 0; i < n_sites; i++) {
    totals[0] += sites[i].base;
    totals[1] += sites[i].now;
    alloc_totals[0] += sites[i].base_alloc;
    alloc_totals[1] += sites[i].now_alloc;
    const char *kind = status_of(&sites[i], have_alloc);
    for (int k = 0; k < 6; k++)
      if (strcmp(kind, kinds[k]) == 0)
        counts[k]++;
    if (all || sites[i].now != sites[i].base)
      order[n++] = i;
  }
  sites_sorted = sites;
  qsort(order, n, sizeof *order, by_growth);
  size_t shown = limit && n > limit ? (size_t)limit : n;
  bool rates_differ = sides[0].profile.period != sides[1].profile.period;
  bool reset = have_alloc && alloc_totals[1] < alloc_totals[0];
  if (reset)
    lw_cli_warn("'%s' has allocated less in total than '%s': are they from the same run of the "
                "same program, in this order?",
                sides[1].path, sides[0].path);
  lw_frame_list_t stack = {NULL, NULL, 0, 0};
  const lw_view_t *nv = &sides[1].view;
  if (json) {
    lw_json_t j;
    lw_json_init(&j, stdout);
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "base", sides[0].path);
    lw_json_kstring(&j, "new", sides[1].path);
    lw_json_kstring(&j, "sample_type", nv->sample_type);
    lw_json_kstring(&j, "unit", nv->sample_unit);
    lw_json_kint(&j, "base_period", sides[0].profile.period);
    lw_json_kint(&j, "new_period", sides[1].profile.period);
    lw_json_kbool(&j, "rates_differ", rates_differ);
    lw_json_kint(&j, "base_total", totals[0]);
    lw_json_kint(&j, "new_total", totals[1]);
    lw_json_kint(&j, "sites", (int64_t)n_sites);
    lw_json_key(&j, "changes");
    lw_json_begin_array(&j);
    for (size_t i = 0; i < shown; i++) {
      const site_t *s = &sites[order[i]];
      lw_json_begin_object(&j);
      lw_json_kstring(&j, "status", status_of(s, have_alloc));
      lw_json_kint(&j, "delta", s->now - s->base);
      lw_json_kint(&j, "base", s->base);
      lw_json_kint(&j, "new", s->now);
      if (have_alloc) {
        lw_json_kint(&j, "allocated_between", s->now_alloc - s->base_alloc);
        lw_json_kint(&j, "freed_between", (s->now_alloc - s->base_alloc) - (s->now - s->base));
      }
      lw_json_key(&j, "frames");
      lw_json_begin_array(&j);
      const lw_view_t *sv = &sides[s->which].view;
      if (lw_view_stack(sv, s->sample, &stack) == 0)
        for (size_t k = 0; k < stack.n; k++)
          lw_json_string(&j, lw_view_frame_name(sv, stack.ids[k]));
      lw_json_end_array(&j);
      lw_json_end_object(&j);
    }
    lw_json_end_array(&j);
    lw_json_end_object(&j);
  } else {
    char a[32], b[32], c[32];
    describe(&sides[0], "Base:");
    describe(&sides[1], "New: ");
    lw_view_format_value(nv, totals[0], a, sizeof a);
    lw_view_format_value(nv, totals[1], b, sizeof b);
    lw_view_format_value(nv, totals[1] - totals[0], c, sizeof c);
    printf("Type: %s, total %s -> %s (%s%s", nv->sample_type, a, b,
           totals[1] >= totals[0] ? "+" : "", c);
    if (totals[0])
      printf(", %+.1f%%", 100.0 * (double)(totals[1] - totals[0]) / fabs((double)totals[0]));
    printf(")\n");
    if (rates_differ)
      printf("Note: sampled at different rates; values are estimates, compared as such "
             "(small sites are noisier).\n");
    printf("Sites: %zu", n_sites);
    for (int k = 0; k < 6; k++)
      if (counts[k] && (k < 5 || all))
        printf(", %zu %s", counts[k], kinds[k]);
    printf("%s\n", shown < n ? " (see -n)" : "");
    printf("%11s %10s %10s  %-9s  %s\n", "change", "base", "new", "", "site (allocating frame first)");
    for (size_t i = 0; i < shown; i++) {
      const site_t *s = &sites[order[i]];
      int64_t delta = s->now - s->base;
      lw_view_format_value(nv, delta, c, sizeof c);
      lw_view_format_value(nv, s->base, a, sizeof a);
      lw_view_format_value(nv, s->now, b, sizeof b);
      char signed_delta[40];
      snprintf(signed_delta, sizeof signed_delta, "%s%s", delta > 0 ? "+" : "", c);
      printf("%11s %10s %10s  %-9s  ", signed_delta, a, b, status_of(s, have_alloc));
      const lw_view_t *sv = &sides[s->which].view;
      if (lw_view_stack(sv, s->sample, &stack) == 0) {
        for (size_t k = 0; k < stack.n && k < depth; k++)
          printf("%s%s", k ? " <- " : "", lw_view_frame_name(sv, stack.ids[k]));
        if (stack.n > depth)
          printf(" <- ...");
        if (stack.n == 0)
          printf("(no stack)");
      }
      printf("\n");
    }
  }
  lw_frame_list_free(&stack);
  status = fflush(stdout) == 0 && !ferror(stdout) ? LW_EXIT_OK : LW_EXIT_FAILURE;
done:
  free(order);
  free(sites);
  lw_intern_free(&keys);
  for (int i = 0; i < 2; i++) {
    if (viewed[i])
      lw_view_free(&sides[i].view);
    if (loaded[i])
      lw_profile_free(&sides[i].profile);
  }
out:
  lw_cli_parser_free(&parser);
  return status;
}
