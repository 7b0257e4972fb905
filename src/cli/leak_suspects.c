/*
 * leak_suspects.c - per-site leak verdicts from an agent history, ranked and rendered (see
 * leak_suspects.h). The verdict method is in src/common/leak_verdict.c and docs/LEAKS.md.
 */
#include "cli/leak_suspects.h"

#include <stdlib.h>
#include <string.h>

#include "cli/leak_report.h"
#include "cli/json.h"
#include "cli/symbolize.h"
#include "common/units.h"

typedef struct {
  uint64_t address;
  const lw_profile_location_t *location;
  const lw_profile_t *profile; /* the one location belongs to */
} address_entry_t;

typedef struct {
  const lw_history_site_t *site;
  lw_leak_verdict_t verdict;
  double freed_at_exit; /* bytes (or count) held when exit began and gone at the end */
} judged_t;

static int by_address(const void *a, const void *b) {
  uint64_t x = ((const address_entry_t *)a)->address, y = ((const address_entry_t *)b)->address;
  return (x > y) - (x < y);
}

/* Heap sites, then descriptors, then threads; in each, suspects first (high before medium),
 * then by growth rate. */
static int by_suspicion(const void *a, const void *b) {
  lw_history_kind_t kx = ((const judged_t *)a)->site->kind, ky = ((const judged_t *)b)->site->kind;
  if (kx != ky)
    return kx < ky ? -1 : 1;
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
static size_t build_series(const lw_history_t *h, const lw_history_site_t *s, uint64_t until_ms,
                           lw_site_point_t *out) {
  size_t n = 0;
  uint64_t fine_start = s->n_fine ? s->fine[0].t_ms : UINT64_MAX;
  uint64_t first = s->n_coarse ? s->coarse[0].t_ms : fine_start;
  if (h->untracked_sites_held_nothing && first != UINT64_MAX && first > h->first_snapshot_ms &&
      (s->n_coarse ? s->coarse[0].bytes : s->fine[0].bytes) > 0)
    out[n++] = (lw_site_point_t){(double)h->first_snapshot_ms / 1000.0, 0, 0};
  for (size_t i = 0; i < s->n_coarse; i++)
    if (s->coarse[i].t_ms < fine_start && s->coarse[i].t_ms < until_ms)
      out[n++] = (lw_site_point_t){(double)s->coarse[i].t_ms / 1000.0, (double)s->coarse[i].bytes,
                                   (double)s->coarse[i].objects};
  for (size_t i = 0; i < s->n_fine; i++)
    if (s->fine[i].t_ms < until_ms)
      out[n++] = (lw_site_point_t){(double)s->fine[i].t_ms / 1000.0, (double)s->fine[i].bytes,
                                   (double)s->fine[i].objects};
  return n;
}

/* ---- verdicts at exit: the history before tear-down (docs/LEAKS.md) ---------------------- */

/* Heap bytes of every site at snapshot time t (a site without a point then counts 0). */
static double heap_total_at(const lw_history_t *h, uint64_t t) {
  double total = 0;
  for (size_t i = 0; i < h->n_sites; i++) {
    const lw_history_site_t *s = &h->sites[i];
    for (size_t j = 0; s->kind == LW_HISTORY_HEAP && j < s->n_fine; j++)
      if (s->fine[j].t_ms == t)
        total += (double)s->fine[j].bytes;
  }
  return total;
}

/* The latest fine snapshot time before `before` over all sites, or 0. */
static uint64_t snapshot_before(const lw_history_t *h, uint64_t before) {
  uint64_t best = 0;
  for (size_t i = 0; i < h->n_sites; i++)
    for (size_t j = 0; j < h->sites[i].n_fine; j++)
      if (h->sites[i].fine[j].t_ms < before && h->sites[i].fine[j].t_ms > best)
        best = h->sites[i].fine[j].t_ms;
  return best;
}

enum { TEARDOWN_MAX_POINTS = 3 };

/* Points at or after the returned time are not judged. A live process: all of them. At
 * exit: those before exit began, and before that the snapshots of a final fall, when the
 * heap dropped to less than half within the last few snapshots before exit began: an
 * interpreter (python3) frees its objects at shutdown before exit() is even called, so a
 * snapshot may land in that. A program that shrinks more slowly is judged as it was. */
static uint64_t judged_until(const lw_history_t *h) {
  if (!h->exit_began_ms)
    return UINT64_MAX;
  uint64_t until = h->exit_began_ms;
  uint64_t last = snapshot_before(h, until);
  if (!last)
    return until;
  double low = heap_total_at(h, last);
  uint64_t fall_start = last, t = last;
  bool fall_began = false; /* within the last few snapshots, not earlier */
  for (int k = 0; k <= TEARDOWN_MAX_POINTS && !fall_began; k++) {
    uint64_t earlier = snapshot_before(h, t);
    if (!earlier)
      break;
    if (heap_total_at(h, earlier) <= heap_total_at(h, t))
      fall_began = true; /* the fall starts at t */
    else if (k < TEARDOWN_MAX_POINTS)
      t = fall_start = earlier;
  }
  if (fall_began && fall_start != last && heap_total_at(h, fall_start) > 2 * low)
    until = fall_start + 1; /* the peak is judged, the fall is not */
  return until;
}

/* What a site held at the last judged point and no longer held at the end of the history. */
static double freed_at_exit(const lw_history_site_t *s, uint64_t until_ms) {
  if (until_ms == UINT64_MAX || !s->n_fine || s->fine[s->n_fine - 1].t_ms < until_ms)
    return 0;
  double held = -1;
  for (size_t i = 0; i < s->n_fine; i++)
    if (s->fine[i].t_ms < until_ms)
      held = (double)s->fine[i].bytes;
  double end = (double)s->fine[s->n_fine - 1].bytes;
  return held > end ? held - end : 0;
}

typedef struct {
  address_entry_t *entries;
  size_t n;
} namer_t;

/* Display names of a site's frames (inline frames expanded), leaf first. */
static int site_frames(const namer_t *namer, const lw_history_site_t *s, char frames[][512],
                       int max) {
  int n = 0;
  for (size_t i = 0; i < s->n_frames && n < max; i++) {
    address_entry_t key = {s->frames[i], NULL, NULL};
    const address_entry_t *hit =
        namer->n ? bsearch(&key, namer->entries, namer->n, sizeof key, by_address) : NULL;
    if (!hit) {
      snprintf(frames[n++], 512, "[0x%llx]", (unsigned long long)s->frames[i]);
      continue;
    }
    uint32_t lines = hit->location->n_lines ? hit->location->n_lines : 1;
    for (uint32_t j = 0; j < lines && n < max; j++)
      lw_symbolize_frame_name(hit->profile, hit->location, j, frames[n++], 512);
  }
  if (s->truncated && n < max)
    snprintf(frames[n++], 512, "[truncated stack]");
  return n;
}

static const char *confidence_name(lw_leak_confidence_t c) {
  return c == LW_LEAK_HIGH ? "high" : c == LW_LEAK_MEDIUM ? "medium" : "none";
}

/* The kind of fix a suspect usually needs, as a question: the verdict knows what grows and
 * where, not why (docs/GUIDE.md walks through each of these patterns). */
static const char *fix_hint(const lw_history_site_t *site) {
  if (site->kind == LW_HISTORY_THREADS)
    return "threads started here never end: blocked with no deadline? a bounded pool with "
           "timeouts, or join them";
  if (site->kind == LW_HISTORY_HEAP)
    return "memory allocated here is kept and never freed: a map, cache or registry that only "
           "grows? bound it (LRU, TTL) or remove entries when done with them";
  const char *type = site->fd_type;
  if (strcmp(type, "timerfd") == 0 || strcmp(type, "eventfd") == 0 ||
      strcmp(type, "signalfd") == 0 || strcmp(type, "epoll") == 0 ||
      strcmp(type, "inotify") == 0)
    return "descriptors made here are never closed: one per task? close it when the task ends "
           "(taking it out of epoll does not close it)";
  if (strcmp(type, "socket") == 0)
    return "sockets opened here are never closed: closed on every path, error and timeout paths "
           "included?";
  return "descriptors opened here are never closed: closed on every path, error paths "
         "included?";
}

static const char *const kind_names[] = {"heap", "fds", "threads"};

static void write_json_site(FILE *out, const judged_t *j, char frames[][512], int n_frames,
                            int site_frame, bool first) {
  const lw_leak_verdict_t *v = &j->verdict;
  fprintf(out, "%s{\"kind\":\"%s\",\"site\":", first ? "" : ",", kind_names[j->site->kind]);
  lw_json_quoted(out, n_frames ? frames[site_frame] : "?");
  fprintf(out, ",\"suspect\":%s,\"confidence\":\"%s\",", v->suspect ? "true" : "false",
          confidence_name(v->confidence));
  if (j->site->kind == LW_HISTORY_HEAP)
    fprintf(out, "\"bytes_per_minute\":%.0f,\"growth_bytes\":%.0f,\"live_bytes\":%.0f,"
                 "\"live_objects\":%.0f,",
            v->slope_bytes_per_second * 60, v->growth_bytes, v->last_bytes, v->last_objects);
  else /* exact counts of open descriptors or running threads */
    fprintf(out, "\"per_minute\":%.2f,\"growth\":%.0f,\"live\":%.0f,\"type\":\"%s\",",
            v->slope_bytes_per_second * 60, v->growth_bytes, v->last_bytes, j->site->fd_type);
  fprintf(out,
          "\"span_seconds\":%.0f,\"r2\":%.4f,\"rising_share\":%.4f,\"old_share\":%.4f,"
          "\"growing_for_seconds\":%.0f,\"freed_at_exit\":%.0f,\"why\":",
          v->span_seconds, v->r2, v->rising_share, v->old_share, v->growing_for_seconds,
          j->freed_at_exit);
  lw_json_quoted(out, v->why);
  if (v->suspect) {
    fprintf(out, ",\"fix_hint\":");
    lw_json_quoted(out, fix_hint(j->site));
  }
  fprintf(out, ",\"stack\":[");
  for (int f = 0; f < n_frames; f++) {
    if (f)
      fputc(',', out);
    lw_json_quoted(out, frames[f]);
  }
  fprintf(out, "]}");
}

static void write_text_site(FILE *out, int rank, const judged_t *j, char frames[][512],
                            int n_frames, int site_frame) {
  const lw_leak_verdict_t *v = &j->verdict;
  const lw_history_site_t *site = j->site;
  char rate[48], live[48], since[32];
  if (site->kind == LW_HISTORY_HEAP) {
    lw_format_bytes(rate, sizeof rate, v->slope_bytes_per_second * 60);
    lw_format_bytes(live, sizeof live, v->last_bytes);
  } else {
    const char *unit = site->kind == LW_HISTORY_FDS ? "fds" : "threads";
    snprintf(rate, sizeof rate, "%.1f %s", v->slope_bytes_per_second * 60, unit);
    if (site->kind == LW_HISTORY_FDS)
      snprintf(live, sizeof live, "%.0f open %s%sfds", v->last_bytes, site->fd_type,
               site->fd_type[0] ? " " : "");
    else
      snprintf(live, sizeof live, "%.0f threads running", v->last_bytes);
  }
  lw_format_duration(v->growing_for_seconds, since, sizeof since);
  if (v->suspect)
    fprintf(out, "\n  #%-2d LEAK SUSPECT (%s confidence), %s/min at %s\n", rank,
            confidence_name(v->confidence), rate, n_frames ? frames[site_frame] : "?");
  else
    fprintf(out, "\n  #%-2d not a suspect: %s\n", rank, n_frames ? frames[site_frame] : "?");
  fprintf(out, "      %s\n", v->why);
  if (v->suspect && site->kind == LW_HISTORY_HEAP)
    fprintf(out, "      live %s: %s in %.0f objects; growing for %s\n",
            j->freed_at_exit > 0 ? "when exit began" : "now", live, v->last_objects, since);
  else if (v->suspect)
    fprintf(out, "      now: %s; growing for %s\n", live, since);
  if (v->suspect)
    fprintf(out, "      fix? %s\n", fix_hint(site));
  if (j->freed_at_exit > 0 && site->kind == LW_HISTORY_HEAP) {
    char freed[48];
    lw_format_bytes(freed, sizeof freed, j->freed_at_exit);
    fprintf(out, "      freed only during exit: %s (held until exit began)\n", freed);
  }
  for (int f = 0; f < n_frames; f++)
    fprintf(out, "        %s %s\n", f == 0 ? "  " : "<-", frames[f]);
}

/* The headline of one kind's section: how much history, and how many suspects. */
static void write_headline(FILE *out, const lw_history_t *h, lw_history_kind_t kind,
                           size_t tracked, int suspects, double span_seconds,
                           const lw_leak_verdict_options_t *vo, const char *subject) {
  char span[32], need[32], interval[32], rate[32];
  lw_format_duration(span_seconds, span, sizeof span);
  lw_format_duration(vo->min_window_seconds, need, sizeof need);
  lw_format_duration((double)h->interval_ms / 1000.0, interval, sizeof interval);
  if (h->rate <= 1)
    snprintf(rate, sizeof rate, "allocation"); /* "sampling every allocation" */
  else
    lw_format_bytes(rate, sizeof rate, (double)h->rate);
  static const char *const what[] = {"leak", "descriptor leak", "thread leak"};
  static const char *const grew[] = {"allocation site grew",
                                     "creating stack's open descriptors grew",
                                     "creating stack's running threads grew"};
  static const char *const noun[] = {"site", "creating stack", "creating stack"};
  static const char *const whose[] = {"whose live memory grew", "whose open descriptors grew",
                                      "whose running threads grew"};
  if (kind == LW_HISTORY_HEAP && tracked == 0) {
    fprintf(out, "leakwatch: no allocation site holds memory %s yet (history every %s)\n",
            subject, interval);
  } else if (span_seconds < vo->min_window_seconds) {
    fprintf(out,
            "leakwatch: too little history %s to judge %sgrowth: %s of the %s needed (history "
            "every %s)%s\n",
            subject, kind == LW_HISTORY_FDS ? "descriptor " : kind == LW_HISTORY_THREADS ? "thread "
                                                                                         : "",
            span, need, interval,
            strstr(subject, "run") ? "; a longer run, or --min-window, gives a verdict"
                                   : "; run again later");
  } else if (suspects == 0) {
    fprintf(out, "leakwatch: no %s suspected %s: no %s steadily over the last %s (%zu tracked, "
                 "history every %s",
            what[kind], subject, grew[kind], span, tracked, interval);
    fprintf(out, kind == LW_HISTORY_HEAP ? ", sampling every %s)\n" : ")\n", rate);
  } else {
    const char *plural = suspects == 1 ? "" : "s";
    fprintf(out, "leakwatch: %d %s suspect%s %s: %s%s %s steadily over the last %s (%zu tracked, "
                 "history every %s",
            suspects, what[kind], plural, subject, noun[kind], plural, whose[kind], span, tracked,
            interval);
    fprintf(out, kind == LW_HISTORY_HEAP ? ", sampling every %s)\n" : ")\n", rate);
  }
}

int lw_leak_suspects_write(FILE *out, const lw_history_t *h, const lw_profile_t *const *profiles,
                           size_t n_profiles, const lw_leak_suspects_options_t *o) {
  namer_t namer = {NULL, 0};
  size_t n_locations = 0;
  for (size_t p = 0; p < n_profiles; p++)
    n_locations += profiles[p] ? profiles[p]->n_locations : 0;
  if (n_locations) {
    namer.entries = malloc(n_locations * sizeof *namer.entries);
    if (!namer.entries)
      return -1;
    for (size_t p = 0; p < n_profiles; p++)
      for (size_t i = 0; profiles[p] && i < profiles[p]->n_locations; i++)
        namer.entries[namer.n++] = (address_entry_t){profiles[p]->locations[i].address,
                                                     &profiles[p]->locations[i], profiles[p]};
    qsort(namer.entries, namer.n, sizeof *namer.entries, by_address);
  }
  judged_t *judged = calloc(h->n_sites ? h->n_sites : 1, sizeof *judged);
  size_t max_points = 0;
  for (size_t i = 0; i < h->n_sites; i++)
    if (h->sites[i].n_fine + h->sites[i].n_coarse > max_points)
      max_points = h->sites[i].n_fine + h->sites[i].n_coarse;
  lw_site_point_t *series = malloc((max_points + 1) * sizeof *series);
  int max_frames = o->max_frames > 0 ? o->max_frames : 8;
  /* Read deeper than shown: C++ library frames alone can fill 8 above the program's own. */
  int read_frames = max_frames < 64 ? 64 : max_frames;
  char (*frames)[512] = malloc((size_t)read_frames * 512);
  if (!judged || !series || !frames) {
    free(namer.entries);
    free(judged);
    free(series);
    free(frames);
    return -1;
  }
  /* Heap series are sampled estimates; descriptor and thread series are exact counts. */
  lw_leak_verdict_options_t vo[3] = {o->verdict, o->verdict, o->verdict};
  vo[LW_HISTORY_HEAP].sampling_rate = (double)(h->rate ? h->rate : 1);
  vo[LW_HISTORY_FDS].sampling_rate = vo[LW_HISTORY_THREADS].sampling_rate = 1;
  vo[LW_HISTORY_FDS].count_unit = "fds";
  vo[LW_HISTORY_THREADS].count_unit = "threads";
  int suspects[3] = {0, 0, 0};
  size_t tracked[3] = {0, 0, 0};
  double longest_span[3] = {0, 0, 0};
  uint64_t until = judged_until(h);
  double freed_total = 0;
  for (size_t i = 0; i < h->n_sites; i++) {
    const lw_history_site_t *site = &h->sites[i];
    size_t n = build_series(h, site, until, series);
    judged[i].site = site;
    judged[i].freed_at_exit = freed_at_exit(site, until);
    if (site->kind == LW_HISTORY_HEAP)
      freed_total += judged[i].freed_at_exit;
    lw_leak_verdict(series, n, site->live, site->old, &vo[site->kind], &judged[i].verdict);
    suspects[site->kind] += judged[i].verdict.suspect;
    tracked[site->kind]++;
    if (n && series[n - 1].t_seconds - series[0].t_seconds > longest_span[site->kind])
      longest_span[site->kind] = series[n - 1].t_seconds - series[0].t_seconds;
  }
  qsort(judged, h->n_sites, sizeof *judged, by_suspicion);
  int max_sites = o->max_sites > 0 ? o->max_sites : 10;
  const char *subject = o->subject ? o->subject : "";
  if (o->json)
    fprintf(out, "{\"pid\":%d,\"history_seconds\":%.0f,\"interval_seconds\":%.3f,"
                 "\"sampling_rate\":%llu,\"sites_tracked\":%zu,\"enough_history\":%s,"
                 "\"descriptor_sites_tracked\":%zu,\"thread_sites_tracked\":%zu,",
            h->pid, longest_span[0], (double)h->interval_ms / 1000.0,
            (unsigned long long)h->rate, tracked[0],
            longest_span[0] >= vo[0].min_window_seconds ? "true" : "false", tracked[1],
            tracked[2]);
  if (o->json && until != UINT64_MAX)
    fprintf(out, "\"judged_until_ms\":%llu,\"freed_at_exit_bytes\":%.0f,",
            (unsigned long long)until, freed_total);
  if (o->json)
    fprintf(out, "\"suspects\":[");
  bool first_json = true;
  size_t i = 0;
  for (int kind = 0; kind < 3; kind++) {
    /* Descriptor and thread sections appear only when such sites were tracked. */
    if (!o->json && (kind == 0 || tracked[kind])) {
      if (kind)
        fputc('\n', out);
      write_headline(out, h, (lw_history_kind_t)kind, tracked[kind], suspects[kind],
                     longest_span[kind], &vo[kind], subject);
      if (kind == LW_HISTORY_HEAP && freed_total > 0) {
        char freed[48];
        lw_format_bytes(freed, sizeof freed, freed_total);
        fprintf(out, "leakwatch: %s was freed only during exit (static destructors, atexit "
                     "handlers, an interpreter's shutdown): judged on the history before it\n",
                freed);
      }
    }
    int shown = 0;
    for (; i < h->n_sites && judged[i].site->kind == (lw_history_kind_t)kind; i++) {
      const judged_t *j = &judged[i];
      if (shown >= max_sites || (!j->verdict.suspect && !o->all) ||
          (!j->verdict.suspect && !o->json && !j->verdict.enough_history))
        continue;
      int n_frames = site_frames(&namer, j->site, frames, read_frames);
      int site_frame = 0;
      while (site_frame + 1 < n_frames && lw_leak_report_is_allocator_frame(frames[site_frame]))
        site_frame++;
      if (n_frames > max_frames && n_frames > site_frame + 1) /* shown down to the site */
        n_frames = site_frame + 1 > max_frames ? site_frame + 1 : max_frames;
      if (o->json)
        write_json_site(out, j, frames, n_frames, site_frame, first_json);
      else
        write_text_site(out, shown + 1, j, frames, n_frames, site_frame);
      first_json = false;
      shown++;
    }
  }
  if (o->json)
    fprintf(out, "]}\n");
  free(namer.entries);
  free(judged);
  free(series);
  free(frames);
  return suspects[0] + suspects[1] + suspects[2];
}
