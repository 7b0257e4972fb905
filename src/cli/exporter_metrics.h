/*
 * exporter_metrics.h - renders the exporter's /metrics: the process_* families of
 * watch_metrics.h with pid and comm labels, and leakwatch_exporter_* about the exporter
 * itself, through the Prometheus writer (common/prom.h).
 */
#ifndef LW_CLI_EXPORTER_METRICS_H
#define LW_CLI_EXPORTER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cli/exporter_server.h"
#include "cli/watch_metrics.h"
#include "common/buf.h"

typedef struct lw_exporter_stats {
  double start_time_unix;
  uint64_t scrapes;               /* /metrics requests served, this one included */
  double last_collect_seconds;    /* time this scrape's collection took */
  size_t partial_processes;       /* processes with fields hidden by permissions */
  uint64_t exited_processes;      /* watched processes seen exiting since start */
  uint64_t reloads_ok, reloads_failed;
  int last_reload_ok;             /* 1, or 0 after a failed reload */
  const lw_http_server_stats_t *http;
} lw_exporter_stats_t;

/* Appends the exposition. Returns 0 or the writer's error (common/prom.h). */
int lw_exporter_render(lw_buf_t *out, const lw_watch_sample_t *samples, size_t n_samples,
                       const lw_exporter_stats_t *stats, const char *version);

#endif
