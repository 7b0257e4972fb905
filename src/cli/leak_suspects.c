/*
 * leak_suspects.c - per-site leak verdicts from an agent history, ranked and rendered (see
 * leak_suspects.h). The verdict method is in src/common/leak_verdict.c and docs/LEAKS.md.
 */
#include "cli/leak_suspects.h"

#include <stdlib.h>
#include <string.h>

#include "cli/leak_report.h"
#include "cli/symbolize.h"
#include "common/units.h"

typedef struct {
  uint64_t address;
  const lw_profile_location_t *location;
} address_entry_t;

typedef struct {
  const lw_history_site_t *site;
  lw_leak_verdict_t verdict;
} judged_t;

static int by_address(const void *a, const void *b) {
  uint64_t x = ((const address_entry_t *)a)->address, y = ((const address_entry_t *)b)->address;
  return (x > y) - (x < y);
}

/* Suspects first (high before medium), then by growth rate. */
static int by_suspicion(const void *a, const void *b) {
  const lw_leak_verdict_t *x = &((const judged_t *)a)->verdict;
  const lw_leak_verdict_t *y = &((const judged_t *)b)->verdict;
  if (x->suspect != y->suspect)
    return x->suspect ? -1 : 1;
  if (x->confidence != y->confidence)
    return x->confidence > y->confidence ? -1 : 1;
  double rx = x->slope_bytes_per_second, ry = y->slope_bytes_per_second;
  if (rx != ry)
    return rx > ry ? -1 : 1;
  return x->last_bytes > y->last_bytes ? -1 : x->last_bytes < y->last_bytes;
}

/* The site's series: coarse points from before the fine ring, then the fine ring. A site
 * is tracked from the first snapshot where it holds memory; when the agent says untracked
 * sites held nothing, the series starts with that zero at the first snapshot, so a slow
 * leak's first sample (which may come minutes in) does not shorten its history. */
static size_t build_series(const lw_history_t *h, const lw_history_site_t *s,
                           lw_site_point_t *out) {
  size_t n = 0;
  uint64_t fine_start = s->n_fine ? s->fine[0].t_ms : UINT64_MAX;
  uint64_t first = s->n_coarse ? s->coarse[0].t_ms : fine_start;
  if (h->untracked_sites_held_nothing && first != UINT64_MAX && first > h->first_snapshot_ms &&
      (s->n_coarse ? s->coarse[0].bytes : s->fine[0].bytes) > 0)
    out[n++] = (lw_site_point_t){(double)h->first_snapshot_ms / 1000.0, 0, 0};
  for (size_t i = 0; i < s->n_coarse; i++)
    if (s->coarse[i].t_ms < fine_start)
      out[n++] = (lw_site_point_t){(double)s->coarse[i].t_ms / 1000.0, (double)s->coarse[i].bytes,
                                   (double)s->coarse[i].objects};
  for (size_t i = 0; i < s->n_fine; i++)
    out[n++] = (lw_site_point_t){(double)s->fine[i].t_ms / 1000.0, (double)s->fine[i].bytes,
                                 (double)s->fine[i].objects};
  return n;
}

typedef struct {
  address_entry_t *entries;
  size_t n;
  const lw_profile_t *profile;
} namer_t;

/* Display names of a site's frames (inline frames expanded), leaf first. */
static int site_frames(const namer_t *namer, const lw_history_site_t *s, char frames[][512],
                       int max) {
  int n = 0;
  for (size_t i = 0; i < s->n_frames && n < max; i++) {
    address_entry_t key = {s->frames[i], NULL};
    const address_entry_t *hit =
        namer->n ? bsearch(&key, namer->entries, namer->n, sizeof key, by_address) : NULL;
    if (!hit) {
      snprintf(frames[n++], 512, "[0x%llx]", (unsigned long long)s->frames[i]);
      continue;
    }
    uint32_t lines = hit->location->n_lines ? hit->location->n_lines : 1;
    for (uint32_t j = 0; j < lines && n < max; j++)
      lw_symbolize_frame_name(namer->profile, hit->location, j, frames[n++], 512);
  }
  if (s->truncated && n < max)
    snprintf(frames[n++], 512, "[truncated stack]");
  return n;
}

static void json_string(FILE *out, const char *text) {
  fputc('"', out);
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(out, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(out, "\\u%04x", *c);
    else
      fputc(*c, out);
  }
  fputc('"', out);
}

static const char *confidence_name(lw_leak_confidence_t c) {
  return c == LW_LEAK_HIGH ? "high" : c == LW_LEAK_MEDIUM ? "medium" : "none";
}

static void write_json_site(FILE *out, const judged_t *j, char frames[][512], int n_frames,
                            int site_frame, bool first) {
  const lw_leak_verdict_t *v = &j->verdict;
  fprintf(out, "%s{\"site\":", first ? "" : ",");
  json_string(out, n_frames ? frames[site_frame] : "?");
  fprintf(out,
          ",\"suspect\":%s,\"confidence\":\"%s\",\"bytes_per_minute\":%.0f,\"growth_bytes\":%.0f,"
          "\"span_seconds\":%.0f,\"r2\":%.4f,\"rising_share\":%.4f,\"live_bytes\":%.0f,"
          "\"live_objects\":%.0f,\"old_share\":%.4f,\"growing_for_seconds\":%.0f,\"why\":",
          v->suspect ? "true" : "false", confidence_name(v->confidence),
          v->slope_bytes_per_second * 60, v->growth_bytes, v->span_seconds, v->r2,
          v->rising_share, v->last_bytes, v->last_objects, v->old_share, v->growing_for_seconds);
  json_string(out, v->why);
  fprintf(out, ",\"stack\":[");
  for (int f = 0; f < n_frames; f++) {
    if (f)
      fputc(',', out);
    json_string(out, frames[f]);
  }
  fprintf(out, "]}");
}

static void write_text_site(FILE *out, int rank, const judged_t *j, char frames[][512],
                            int n_frames, int site_frame) {
  const lw_leak_verdict_t *v = &j->verdict;
  char rate[32], live[32], since[32];
  lw_format_bytes(rate, sizeof rate, v->slope_bytes_per_second * 60);
  lw_format_bytes(live, sizeof live, v->last_bytes);
  lw_format_duration(v->growing_for_seconds, since, sizeof since);
  if (v->suspect)
    fprintf(out, "\n  #%-2d LEAK SUSPECT (%s confidence), %s/min at %s\n", rank,
            confidence_name(v->confidence), rate, n_frames ? frames[site_frame] : "?");
  else
    fprintf(out, "\n  #%-2d not a suspect: %s\n", rank, n_frames ? frames[site_frame] : "?");
  fprintf(out, "      %s\n", v->why);
  if (v->suspect)
    fprintf(out, "      live now: %s in %.0f objects; growing for %s\n", live, v->last_objects,
            since);
  for (int f = 0; f < n_frames; f++)
    fprintf(out, "        %s %s\n", f == 0 ? "  " : "<-", frames[f]);
}

int lw_leak_suspects_write(FILE *out, const lw_history_t *h, const lw_profile_t *profile,
                           const lw_leak_suspects_options_t *o) {
  namer_t namer = {NULL, 0, profile};
  if (profile && profile->n_locations) {
    namer.entries = malloc(profile->n_locations * sizeof *namer.entries);
    if (!namer.entries)
      return -1;
    for (size_t i = 0; i < profile->n_locations; i++)
      namer.entries[namer.n++] = (address_entry_t){profile->locations[i].address,
                                                   &profile->locations[i]};
    qsort(namer.entries, namer.n, sizeof *namer.entries, by_address);
  }
  judged_t *judged = calloc(h->n_sites ? h->n_sites : 1, sizeof *judged);
  size_t max_points = 0;
  for (size_t i = 0; i < h->n_sites; i++)
    if (h->sites[i].n_fine + h->sites[i].n_coarse > max_points)
      max_points = h->sites[i].n_fine + h->sites[i].n_coarse;
  lw_site_point_t *series = malloc((max_points + 1) * sizeof *series);
  int max_frames = o->max_frames > 0 ? o->max_frames : 8;
  char (*frames)[512] = malloc((size_t)max_frames * 512);
  if (!judged || !series || !frames) {
    free(namer.entries);
    free(judged);
    free(series);
    free(frames);
    return -1;
  }
  lw_leak_verdict_options_t vo = o->verdict;
  vo.sampling_rate = (double)(h->rate ? h->rate : 1);
  int suspects = 0;
  double longest_span = 0;
  for (size_t i = 0; i < h->n_sites; i++) {
    size_t n = build_series(h, &h->sites[i], series);
    judged[i].site = &h->sites[i];
    lw_leak_verdict(series, n, h->sites[i].live, h->sites[i].old, &vo, &judged[i].verdict);
    suspects += judged[i].verdict.suspect;
    if (n && series[n - 1].t_seconds - series[0].t_seconds > longest_span)
      longest_span = series[n - 1].t_seconds - series[0].t_seconds;
  }
  qsort(judged, h->n_sites, sizeof *judged, by_suspicion);
  char span[32], need[32], interval[32], rate[32];
  lw_format_duration(longest_span, span, sizeof span);
  lw_format_duration(vo.min_window_seconds, need, sizeof need);
  lw_format_duration((double)h->interval_ms / 1000.0, interval, sizeof interval);
  if (h->rate <= 1)
    snprintf(rate, sizeof rate, "every allocation");
  else
    lw_format_bytes(rate, sizeof rate, (double)h->rate);
  int max_sites = o->max_sites > 0 ? o->max_sites : 10;
  const char *subject = o->subject ? o->subject : "";
  if (o->json) {
    fprintf(out, "{\"pid\":%d,\"history_seconds\":%.0f,\"interval_seconds\":%.3f,"
                 "\"sampling_rate\":%llu,\"sites_tracked\":%zu,\"enough_history\":%s,"
                 "\"suspects\":[",
            h->pid, longest_span, (double)h->interval_ms / 1000.0, (unsigned long long)h->rate,
            h->n_sites, longest_span >= vo.min_window_seconds ? "true" : "false");
  } else if (h->n_sites == 0) {
    fprintf(out, "leakwatch: no allocation site holds memory %s yet (history every %s)\n",
            subject, interval);
  } else if (longest_span < vo.min_window_seconds) {
    fprintf(out,
            "leakwatch: too little history %s to judge growth: %s of the %s needed (history "
            "every %s)%s\n",
            subject, span, need, interval,
            strstr(subject, "run") ? "; a longer run, or --min-window, gives a verdict"
                                   : "; run again later");
  } else if (suspects == 0) {
    fprintf(out,
            "leakwatch: no leak suspected %s: no allocation site grew steadily over the last %s "
            "(%zu sites tracked, history every %s, sampling every %s)\n",
            subject, span, h->n_sites, interval, rate);
  } else {
    fprintf(out,
            "leakwatch: %d leak suspect%s %s: site%s whose live memory grew steadily over the "
            "last %s (%zu sites tracked, history every %s, sampling every %s)\n",
            suspects, suspects == 1 ? "" : "s", subject, suspects == 1 ? "" : "s", span,
            h->n_sites, interval, rate);
  }
  int shown = 0;
  bool first_json = true;
  for (size_t i = 0; i < h->n_sites && shown < max_sites; i++) {
    const judged_t *j = &judged[i];
    if (!j->verdict.suspect && !o->all)
      continue;
    if (!j->verdict.suspect && !o->json && !j->verdict.enough_history)
      continue;
    int n_frames = site_frames(&namer, j->site, frames, max_frames);
    int site_frame = 0;
    while (site_frame + 1 < n_frames && lw_leak_report_is_allocator_frame(frames[site_frame]))
      site_frame++;
    if (o->json)
      write_json_site(out, j, frames, n_frames, site_frame, first_json);
    else
      write_text_site(out, shown + 1, j, frames, n_frames, site_frame);
    first_json = false;
    shown++;
  }
  if (o->json)
    fprintf(out, "]}\n");
  free(namer.entries);
  free(judged);
  free(series);
  free(frames);
  return suspects;
}
