/*
 * plot.h - line plots as inline SVG for the HTML report: one or more series over time (or
 * over profile number), with axes, tick labels in the series' unit, a legend, and a circle
 * per point whose tooltip gives the exact value. No script, no external resources.
 */
#ifndef LW_CLI_PLOT_H
#define LW_CLI_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct lw_plot_series {
  const char *name;
  const double *x; /* seconds since the epoch when time_axis, else any number */
  const double *y;
  size_t n;
} lw_plot_series_t;

typedef struct lw_plot {
  const char *id;    /* element id */
  const char *title;
  const char *unit;  /* "bytes" formats ticks as KiB/MiB; anything else as numbers */
  bool time_axis;    /* x in seconds since the epoch: ticks as clock times */
  const char *x_label;
} lw_plot_t;

/* Writes <svg>...</svg>. Points with NaN y are skipped. Returns 0 or -1 on write error. */
int lw_plot_svg(FILE *out, const lw_plot_t *plot, const lw_plot_series_t *series, size_t n);

#endif
