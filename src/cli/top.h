/*
 * top.h - flat and cumulative value per frame, as `go tool pprof -top` computes them:
 * flat goes to a sample's leaf frame (the innermost inlined callee of its first location),
 * cum to every frame on the stack, once per sample even under recursion. Rows are sorted by
 * |flat| (or |cum| with cum_sort), then by name, and rows whose |cum| is below node_fraction
 * of the summed flat values are dropped (pprof's -nodefraction, default 0.005).
 */
#ifndef LW_CLI_TOP_H
#define LW_CLI_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/view.h"

#define LW_TOP_DEFAULT_NODE_FRACTION 0.005
/* Calls into a row lighter than this share of the total do not count for its inline label
 * (pprof's -edgefraction default). */
#define LW_TOP_EDGE_FRACTION 0.001

typedef struct lw_top_row {
  uint32_t frame; /* view frame id */
  int64_t flat;
  int64_t cum;
  bool called_inlined; /* some caller reached it through an inlined call */
  bool called_outline; /* some caller reached it through a real call */
} lw_top_row_t;

/* pprof's label for a row: "(inline)" when every call into it was inlined,
 * "(partial-inline)" when some were, "" otherwise. */
const char *lw_top_inline_label(const lw_top_row_t *row);

typedef struct lw_top {
  lw_top_row_t *rows;
  size_t n_rows;
  size_t n_dropped;   /* rows under the node-fraction cutoff */
  size_t n_cut;       /* rows beyond max_rows */
  int64_t cutoff;     /* |cum| below this was dropped */
  int64_t shown_flat; /* sum of flat over the rows shown */
  int64_t total;      /* the view's total: what percentages refer to */
} lw_top_t;

/* max_rows 0 = no limit. Returns 0 or -1 when out of memory. */
int lw_top_compute(const lw_view_t *view, bool cum_sort, double node_fraction, size_t max_rows,
                   lw_top_t *out);
void lw_top_free(lw_top_t *top);

/* pprof's percentage text: "58.95%", "  100%", "0.041%". */
void lw_top_percent(int64_t value, int64_t total, char *out, size_t size);

#endif
