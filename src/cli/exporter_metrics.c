/*
 * exporter_metrics.c - the exporter's exposition (see exporter_metrics.h). Families are
 * written one after the other, each with all processes, so they stay contiguous; a family
 * no process has a value for (say PSS without permission) is left out.
 */
#include "cli/exporter_metrics.h"

#include <stdio.h>

#include "common/prom.h"

static void process_families(lw_prom_writer_t *w, const lw_watch_sample_t *samples, size_t n) {
  for (size_t f = 0; f < lw_watch_n_families; f++) {
    const lw_watch_family_t *fam = &lw_watch_families[f];
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
      any = samples[i].has[fam->field];
    if (!any)
      continue;
    lw_prom_family(w, fam->name, fam->counter ? LW_PROM_COUNTER : LW_PROM_GAUGE, fam->help);
    for (size_t i = 0; i < n; i++) {
      const lw_watch_sample_t *s = &samples[i];
      char pid[16];
      snprintf(pid, sizeof pid, "%d", s->pid);
      if (fam->by_type) {
        for (int t = 0; t < fam->by_type->n; t++) {
          lw_watch_field_t field = fam->by_type->first + t;
          if (!s->has[field])
            continue;
          const lw_prom_label_t labels[] = {{"pid", pid}, {"comm", s->comm}, {"type", fam->by_type->name(t)}};
          lw_prom_sample(w, NULL, labels, 3, s->v[field]);
        }
      } else if (s->has[fam->field]) {
        const lw_prom_label_t labels[] = {{"pid", pid}, {"comm", s->comm}};
        lw_prom_sample(w, NULL, labels, 2, s->v[fam->field]);
      }
    }
  }
}

int lw_exporter_render(lw_buf_t *out, const lw_watch_sample_t *samples, size_t n_samples,
                       const lw_exporter_stats_t *stats, const char *version) {
  lw_prom_writer_t w;
  lw_prom_init(&w, out);
  process_families(&w, samples, n_samples);

  const lw_prom_label_t build[] = {{"version", version}};
  lw_prom_family(&w, "leakwatch_exporter_build_info", LW_PROM_GAUGE,
                 "A metric with a constant '1' value labeled by the leakwatch version.");
  lw_prom_sample(&w, NULL, build, 1, 1);
  lw_prom_family(&w, "leakwatch_exporter_start_time_seconds", LW_PROM_GAUGE,
                 "Start time of the exporter since unix epoch in seconds.");
  lw_prom_sample(&w, NULL, NULL, 0, stats->start_time_unix);
  lw_prom_family(&w, "leakwatch_exporter_scrapes_total", LW_PROM_COUNTER,
                 "Metrics requests served, this one included.");
  lw_prom_sample_u64(&w, NULL, NULL, 0, stats->scrapes);
  lw_prom_family(&w, "leakwatch_exporter_collect_duration_seconds", LW_PROM_GAUGE,
                 "Time collecting the process metrics of this scrape took.");
  lw_prom_sample(&w, NULL, NULL, 0, stats->last_collect_seconds);
  lw_prom_family(&w, "leakwatch_exporter_processes", LW_PROM_GAUGE,
                 "Processes exported in this scrape.");
  lw_prom_sample_u64(&w, NULL, NULL, 0, n_samples);
  lw_prom_family(&w, "leakwatch_exporter_partial_processes", LW_PROM_GAUGE,
                 "Processes some of whose metrics are missing for lack of permission "
                 "(smaps_rollup, fd/ and io need the same user or CAP_SYS_PTRACE).");
  lw_prom_sample_u64(&w, NULL, NULL, 0, stats->partial_processes);
  lw_prom_family(&w, "leakwatch_exporter_exited_processes_total", LW_PROM_COUNTER,
                 "Watched processes that exited.");
  lw_prom_sample_u64(&w, NULL, NULL, 0, stats->exited_processes);
  lw_prom_family(&w, "leakwatch_exporter_config_reloads_total", LW_PROM_COUNTER,
                 "Configuration reloads (SIGHUP) by result.");
  const lw_prom_label_t ok[] = {{"result", "success"}}, bad[] = {{"result", "failure"}};
  lw_prom_sample_u64(&w, NULL, ok, 1, stats->reloads_ok);
  lw_prom_sample_u64(&w, NULL, bad, 1, stats->reloads_failed);
  lw_prom_family(&w, "leakwatch_exporter_config_last_reload_successful", LW_PROM_GAUGE,
                 "Whether the last configuration reload succeeded (1) or failed (0).");
  lw_prom_sample_u64(&w, NULL, NULL, 0, (uint64_t)(stats->last_reload_ok != 0));
  if (stats->http) {
    lw_prom_family(&w, "leakwatch_exporter_http_responses_total", LW_PROM_COUNTER,
                   "HTTP responses sent, by status class, before this one.");
    static const char *classes[] = {NULL, NULL, "2xx", "3xx", "4xx", "5xx"};
    for (int c = 2; c <= 5; c++) {
      const lw_prom_label_t l[] = {{"code", classes[c]}};
      lw_prom_sample_u64(&w, NULL, l, 1, stats->http->by_status[c]);
    }
  }
  return lw_prom_finish(&w);
}
