/*
 * handle_report.c - renders a count profile (live descriptors or threads by creating stack,
 * see handle_report.h). Each sample is one creating stack (and, for descriptors, one type,
 * from the sample's "type" label); its single value is the exact count still alive.
 */
#include "cli/handle_report.h"

#include <stdlib.h>
#include <string.h>

#include "cli/json.h"
#include "cli/leak_report.h"

typedef struct {
  size_t sample;
  int64_t count;
  const char *type; /* "" for threads */
} handle_site_t;

static int by_count_desc(const void *a, const void *b) {
  const handle_site_t *x = a, *y = b;
  return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static const char *sample_type(const lw_profile_t *p, const lw_profile_sample_t *s) {
  for (uint32_t l = 0; l < s->n_labels; l++) {
    const lw_profile_label_t *label = &lw_sample_labels(p, s)[l];
    if (strcmp(lw_profile_str(p, label->key), "type") == 0)
      return lw_profile_str(p, label->str);
  }
  return "";
}

/* Totals by descriptor type, in first-seen order: "4 socket, 2 pipe". */
typedef struct {
  const char *type;
  int64_t count;
} type_total_t;

static size_t total_by_type(const handle_site_t *sites, size_t n, type_total_t *totals,
                            size_t max) {
  size_t n_totals = 0;
  for (size_t i = 0; i < n; i++) {
    size_t t = 0;
    while (t < n_totals && strcmp(totals[t].type, sites[i].type) != 0)
      t++;
    if (t == n_totals) {
      if (n_totals == max)
        continue;
      totals[n_totals++] = (type_total_t){sites[i].type, 0};
    }
    totals[t].count += sites[i].count;
  }
  return n_totals;
}

int64_t lw_handle_report_write(FILE *out, const lw_profile_t *p,
                               const lw_handle_report_options_t *o) {
  bool fds = o->kind == LW_HANDLE_REPORT_FDS;
  size_t n_samples = p ? p->n_samples : 0;
  handle_site_t *sites = calloc(n_samples ? n_samples : 1, sizeof *sites);
  int max_frames = o->max_frames > 0 ? o->max_frames : 8;
  char (*frames)[512] = malloc((size_t)max_frames * 512);
  if (!sites || !frames) {
    free(sites);
    free(frames);
    return -1;
  }
  size_t n_sites = 0;
  int64_t total = 0;
  for (size_t i = 0; i < n_samples; i++) {
    const lw_profile_sample_t *s = &p->samples[i];
    if (!s->n_values || lw_sample_values(p, s)[0] <= 0)
      continue;
    sites[n_sites] = (handle_site_t){i, lw_sample_values(p, s)[0], fds ? sample_type(p, s) : ""};
    total += sites[n_sites++].count;
  }
  qsort(sites, n_sites, sizeof *sites, by_count_desc);
  type_total_t totals[32];
  size_t n_totals = total_by_type(sites, n_sites, totals, sizeof totals / sizeof totals[0]);
  const char *noun = fds ? "file descriptor" : "thread";
  const char *when = o->when ? o->when : "at exit";
  int max_sites = o->max_sites > 0 ? o->max_sites : 10;
  if (o->json) {
    fprintf(out, "{\"total\":%lld,", (long long)total);
    if (fds) {
      fprintf(out, "\"by_type\":{");
      for (size_t t = 0; t < n_totals; t++) {
        fprintf(out, "%s", t ? "," : "");
        lw_json_quoted(out, totals[t].type[0] ? totals[t].type : "unknown");
        fprintf(out, ":%lld", (long long)totals[t].count);
      }
      fprintf(out, "},");
    }
    fprintf(out, "\"sites\":[");
  } else if (total == 0) {
    fprintf(out, "leakwatch: no %ss %s %s\n", noun,
            fds ? "the program opened are still open" : "it started are still running", when);
  } else {
    fprintf(out, "leakwatch: %lld %s%s still %s %s", (long long)total, noun,
            total == 1 ? "" : "s", fds ? "open" : "running", when);
    for (size_t t = 0; fds && t < n_totals; t++)
      fprintf(out, "%s%lld %s", t ? ", " : " (", (long long)totals[t].count,
              totals[t].type[0] ? totals[t].type : "unknown");
    fprintf(out, "%s, by the stack that %s them\n", fds && n_totals ? ")" : "",
            fds ? "opened" : "started");
  }
  for (size_t i = 0; i < n_sites && i < (size_t)max_sites; i++) {
    bool more;
    int n = lw_leak_report_sample_frames(p, &p->samples[sites[i].sample], frames, max_frames,
                                         &more);
    const char *site = n ? frames[0] : "?";
    if (o->json) {
      fprintf(out, "%s{\"count\":%lld,", i ? "," : "", (long long)sites[i].count);
      if (fds) {
        fprintf(out, "\"type\":");
        lw_json_quoted(out, sites[i].type);
        fputc(',', out);
      }
      fprintf(out, "\"site\":");
      lw_json_quoted(out, site);
      fprintf(out, ",\"stack\":[");
      for (int f = 0; f < n; f++) {
        fprintf(out, "%s", f ? "," : "");
        lw_json_quoted(out, frames[f]);
      }
      fprintf(out, "]}");
      continue;
    }
    if (fds)
      fprintf(out, "\n  #%-2zu %lld %s fd%s opened at %s\n", i + 1, (long long)sites[i].count,
              sites[i].type[0] ? sites[i].type : "unknown", sites[i].count == 1 ? "" : "s",
              site);
    else
      fprintf(out, "\n  #%-2zu %lld thread%s started at %s\n", i + 1, (long long)sites[i].count,
              sites[i].count == 1 ? "" : "s", site);
    for (int f = 0; f < n; f++)
      fprintf(out, "        %s %s\n", f == 0 ? "  " : "<-", frames[f]);
    if (more)
      fprintf(out, "           ...\n");
  }
  if (o->json) {
    fprintf(out, "]}");
  } else {
    if (n_sites > (size_t)max_sites)
      fprintf(out, "\n  ... and %zu more stack%s\n", n_sites - (size_t)max_sites,
              n_sites - (size_t)max_sites == 1 ? "" : "s");
    if (total && o->profile_path)
      fprintf(out, "\nleakwatch: %s profile written to %s\n", fds ? "fd" : "threadcreate",
              o->profile_path);
  }
  free(frames);
  free(sites);
  return total;
}
