/*
 * watch_metrics.h - the one list of what the outside watcher measures per process, and
 * the tables derived from it, so that `watch`'s table, CSV and JSONL, the alert rules'
 * metric names, `rules --prometheus` and the exporter's metric families cannot disagree
 * (STYLE.md rule 15).
 *
 * A sample is an array of doubles indexed by lw_watch_field_t with a presence flag each
 * (every value here is an integer below 2^53 or a rate, so doubles are exact enough).
 * Missing means "not available": the process exited, access was denied, or there is no
 * memory cgroup.
 *
 * Pairs with watch_sample.c (fills samples from /proc and cgroups), watch_output.c
 * (CSV/JSONL/table), cmd_watch.c, cmd_rules.c and exporter_metrics.c.
 */
#ifndef LW_CLI_WATCH_METRICS_H
#define LW_CLI_WATCH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/alert_rule.h"
#include "common/handle_types.h"
#include "common/procfs.h"

typedef enum lw_watch_field {
  /* Memory, bytes (gauges). */
  LW_W_RSS,       /* status VmRSS */
  LW_W_PSS,       /* smaps_rollup Pss */
  LW_W_USS,       /* smaps_rollup Private_Clean + Private_Dirty + Private_Hugetlb */
  LW_W_SWAP,      /* status VmSwap */
  LW_W_VSIZE,     /* stat vsize */
  LW_W_DATA,      /* status VmData */
  LW_W_PEAK_RSS,  /* status VmHWM */
  /* Descriptors and threads (gauges). */
  LW_W_FDS,
  LW_W_FDS_TYPE, /* LW_FD_TYPE_COUNT entries follow, in lw_fd_type_t order */
  LW_W_MAX_FDS = LW_W_FDS_TYPE + LW_FD_TYPE_COUNT, /* limits: soft "Max open files" */
  LW_W_THREADS,
  /* Cumulative counters. */
  LW_W_MINOR_FAULTS,
  LW_W_MAJOR_FAULTS,
  LW_W_CPU_SECONDS,   /* utime + stime */
  LW_W_READ_BYTES,    /* io rchar: every read(2)-family byte */
  LW_W_WRITE_BYTES,   /* io wchar */
  LW_W_DISK_READ_BYTES,  /* io read_bytes: from storage */
  LW_W_DISK_WRITE_BYTES, /* io write_bytes: to storage */
  /* Rates over the previous interval (need two samples). */
  LW_W_MINOR_FAULTS_RATE,
  LW_W_MAJOR_FAULTS_RATE,
  LW_W_CPU_PERCENT, /* percent of one CPU: 100 = one core busy */
  LW_W_READ_RATE,
  LW_W_WRITE_RATE,
  LW_W_DISK_READ_RATE,
  LW_W_DISK_WRITE_RATE,
  /* The memory cgroup (v2 or v1) the process is in. */
  LW_W_CG_CURRENT,
  LW_W_CG_MAX,  /* absent when the group has no limit */
  LW_W_CG_PEAK,
  LW_W_CG_OOM_KILLS,
  LW_W_START_TIME, /* seconds since the epoch */
  /* Windows only (never present on Linux): Task Manager's and Process Explorer's counters.
   * Working set, its peak, virtual size, threads, CPU and I/O bytes use the fields above. */
  LW_W_PRIVATE,          /* private bytes (VM_COUNTERS_EX PrivateUsage): commit charge */
  LW_W_PAGEFILE,         /* PagefileUsage */
  LW_W_PEAK_PAGEFILE,    /* PeakPagefileUsage */
  LW_W_PAGE_FAULTS,      /* PageFaultCount: soft and hard faults, cumulative */
  LW_W_PAGE_FAULTS_RATE,
  LW_W_HANDLES,          /* open handles */
  LW_W_HANDLES_TYPE,     /* LW_HANDLE_TYPE_COUNT entries follow, in lw_handle_type_t order */
  LW_W_GDI_OBJECTS = LW_W_HANDLES_TYPE + LW_HANDLE_TYPE_COUNT,
  LW_W_USER_OBJECTS,
  LW_W_FIELD_COUNT
} lw_watch_field_t;

typedef struct lw_watch_sample {
  double time_unix;  /* wall clock, seconds since the epoch */
  double time_mono;  /* monotonic seconds, for rates and trends */
  int pid;
  char comm[64];
  double v[LW_W_FIELD_COUNT];
  bool has[LW_W_FIELD_COUNT];
} lw_watch_sample_t;

/* Sets a field present. */
static inline void lw_watch_set(lw_watch_sample_t *s, lw_watch_field_t f, double v) {
  s->v[f] = v;
  s->has[f] = true;
}

/* Sets `field` to the per-second rate of `counter` between prev and out, times scale, when
 * both samples have it and it did not go down (a PID reused by a new process starts its
 * counters over). Both platforms' samplers compute their rates with it. */
static inline void lw_watch_rate(lw_watch_sample_t *out, const lw_watch_sample_t *prev,
                                 lw_watch_field_t counter, lw_watch_field_t field, double scale) {
  if (!prev || !prev->has[counter] || !out->has[counter])
    return;
  double dt = out->time_mono - prev->time_mono;
  double dv = out->v[counter] - prev->v[counter];
  if (dt <= 0 || dv < 0)
    return;
  lw_watch_set(out, field, dv / dt * scale);
}

/* One CSV/JSONL column (after time_unix, pid, comm). */
typedef struct lw_watch_column {
  const char *key;        /* "rss_bytes": ends with its unit */
  lw_watch_field_t field;
  bool bytes;             /* display as a size */
  bool rate;              /* a per-second or percent value: printed with 3 decimals */
  const char *doc;        /* for the CSV header comment */
} lw_watch_column_t;

extern const lw_watch_column_t lw_watch_columns[];
extern const size_t lw_watch_n_columns;

/* Metrics alert rules may name (lw_alert_metric_t) and the sample field each reads. */
extern const lw_alert_metric_t lw_watch_rule_metrics[];
extern const lw_watch_field_t lw_watch_rule_fields[];
extern const size_t lw_watch_n_rule_metrics;

/* Counters the watcher trends for "keeps growing" verdicts. */
typedef struct lw_watch_trended {
  const char *name;       /* "rss", as in rules and messages */
  lw_watch_field_t field;
  bool bytes;             /* thresholds in bytes/h, else counts/h */
} lw_watch_trended_t;
#ifdef _WIN32
#define LW_WATCH_N_TRENDED 8 /* working_set private_bytes pagefile virtual handles threads gdi user */
#else
#define LW_WATCH_N_TRENDED 9 /* rss pss uss swap vsize data fds threads cgroup_memory */
#endif
extern const lw_watch_trended_t lw_watch_trended[LW_WATCH_N_TRENDED];
extern const size_t lw_watch_n_trended;

/* A counter split by type: n fields from `first` on, type t named name(t) ("socket"). */
typedef struct lw_watch_breakdown {
  lw_watch_field_t first;
  int n;
  const char *(*name)(int type);
} lw_watch_breakdown_t;

/* Exporter families: name, type, help and the field; by_type families (descriptors by type,
 * handles by type) carry a type label and read by_type->first + type. */
typedef struct lw_watch_family {
  const char *name;
  bool counter;
  const char *help;
  lw_watch_field_t field;
  const lw_watch_breakdown_t *by_type; /* NULL for one value per process */
} lw_watch_family_t;
extern const lw_watch_family_t lw_watch_families[];
extern const size_t lw_watch_n_families;

/* The live table's columns and the plain line's items (watch_output.c renders them).
 * kind: 'b' bytes, 'n' count, 'r' rate of a count, 'p' percent, 'B' bytes per second,
 * 'c' bytes with the cgroup limit after a slash; with by_type, the plain line follows the
 * count with its non-zero parts ("fds=12 (file 5, socket 3)"). */
typedef struct lw_watch_view_item {
  const char *title;      /* "RSS" in the table, "rss" on the plain line */
  lw_watch_field_t field;
  int width;              /* table only */
  char kind;
  const lw_watch_breakdown_t *by_type;
} lw_watch_view_item_t;
extern const lw_watch_view_item_t lw_watch_table_columns[];
extern const size_t lw_watch_n_table_columns;
extern const lw_watch_view_item_t lw_watch_line_items[];
extern const size_t lw_watch_n_line_items;

#endif
