/*
 * site_history.h - the agent's per-site history (control command `history`, or the file
 * `leakwatch run --leaks` asks for at exit), parsed. Format: docs/CONTROL.md, "history".
 */
#ifndef LW_CLI_SITE_HISTORY_H
#define LW_CLI_SITE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lw_history_point {
  uint64_t t_ms; /* agent clock: ms since the agent started */
  uint64_t bytes;
  uint64_t objects;
} lw_history_point_t;

/* What a site counts: sampled heap memory (estimated bytes and objects), or the exact number
 * of descriptors still open / threads still running that its stack created (bytes and
 * objects both hold that count). */
typedef enum { LW_HISTORY_HEAP = 0, LW_HISTORY_FDS, LW_HISTORY_THREADS } lw_history_kind_t;

typedef struct lw_history_site {
  uint32_t stack_id;
  lw_history_kind_t kind;
  char fd_type[16]; /* LW_HISTORY_FDS: "socket", "pipe", ... ("" when not said) */
  bool truncated;
  uint64_t live;      /* live sampled allocations now */
  uint64_t old;       /* ... of which older than old_after_ms */
  uint64_t oldest_ms; /* agent clock time of the oldest one */
  uint64_t *frames;   /* call sites, innermost first */
  size_t n_frames;
  lw_history_point_t *fine;
  size_t n_fine;
  lw_history_point_t *coarse;
  size_t n_coarse;
} lw_history_site_t;

typedef struct lw_history {
  int pid;
  uint64_t interval_ms;
  uint64_t now_ms;
  uint64_t rate;
  uint64_t old_after_ms;
  uint64_t snapshots;
  uint64_t first_snapshot_ms;
  /* 1: a site was only ever untracked while it held nothing (no tracking slot was refused),
   * so before its first point it was at zero back to first_snapshot_ms. */
  uint64_t untracked_sites_held_nothing;
  /* When the process began to exit (agent clock), 0 in a live process's history: points
   * from then on are tear-down (static destructors, an interpreter's shutdown). */
  uint64_t exit_began_ms;
  lw_history_site_t *sites;
  size_t n_sites;
} lw_history_t;

/* Returns 0, or -1 with a one-line reason ("line 7: ..."). *out is always safe to free. */
int lw_history_parse(const char *text, size_t len, lw_history_t *out, char *error,
                     size_t error_size);
void lw_history_free(lw_history_t *history);

#endif
