/*
 * plot.c - SVG line plots for the report (see plot.h).
 */
#include "cli/plot.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "cli/flame.h"
#include "common/units.h"

#define W 900
#define H 320
#define LEFT 80
#define RIGHT 200
#define TOP 30
#define BOTTOM 40

static const char *const palette[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

static void format_y(const lw_plot_t *p, double v, char *out, size_t size) {
  if (p->unit && strcmp(p->unit, "bytes") == 0)
    lw_format_bytes(out, size, v);
  else if (fabs(v) >= 100 || v == floor(v))
    snprintf(out, size, "%.0f", v);
  else
    snprintf(out, size, "%.3g", v);
}

static void format_x(const lw_plot_t *p, double v, char *out, size_t size) {
  if (p->time_axis) {
    time_t t = (time_t)v;
    struct tm tm;
    if (gmtime_r(&t, &tm))
      strftime(out, size, "%H:%M:%S", &tm);
    else
      snprintf(out, size, "%.0f", v);
  } else {
    snprintf(out, size, "%.0f", v);
  }
}

int lw_plot_svg(FILE *out, const lw_plot_t *p, const lw_plot_series_t *series, size_t n) {
  double x0 = INFINITY, x1 = -INFINITY, y1 = 0;
  for (size_t s = 0; s < n; s++)
    for (size_t i = 0; i < series[s].n; i++) {
      if (isnan(series[s].y[i]))
        continue;
      x0 = fmin(x0, series[s].x[i]);
      x1 = fmax(x1, series[s].x[i]);
      y1 = fmax(y1, series[s].y[i]);
    }
  if (!isfinite(x0)) {
    x0 = 0;
    x1 = 1;
  }
  if (x1 <= x0)
    x1 = x0 + 1;
  if (y1 <= 0)
    y1 = 1;
  y1 *= 1.05;
  double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
  fprintf(out, "<svg class=\"lwplot\" id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
          p->id, W, H, W, H);
  fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
  fprintf(out, "<text x=\"%d\" y=\"18\" font-family=\"sans-serif\" font-size=\"14\" "
               "font-weight=\"bold\">",
          LEFT);
  lw_xml_escape(out, p->title);
  fputs("</text>\n", out);
  /* Axes and ticks. */
  fprintf(out, "<g font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\">\n");
  for (int t = 0; t <= 4; t++) {
    double v = y1 * t / 4, y = TOP + ph - ph * t / 4;
    char label[48];
    format_y(p, v, label, sizeof label);
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", LEFT, y,
            LEFT + pw, y);
    fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6, y + 4,
            label);
  }
  for (int t = 0; t <= 4; t++) {
    double v = x0 + (x1 - x0) * t / 4, x = LEFT + pw * t / 4;
    char label[48];
    format_x(p, v, label, sizeof label);
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, H - BOTTOM + 16,
            label);
  }
  if (p->x_label) {
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", LEFT + pw / 2, H - 6);
    lw_xml_escape(out, p->x_label);
    fputs("</text>\n", out);
  }
  fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>", LEFT, TOP, LEFT,
          TOP + ph);
  fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n</g>\n", LEFT,
          TOP + ph, LEFT + pw, TOP + ph);
  /* Series: a polyline, then a circle per point with its exact value as tooltip. */
  for (size_t s = 0; s < n; s++) {
    const char *colour = palette[s % (sizeof palette / sizeof *palette)];
    fprintf(out, "<g class=\"lwseries\" data-name=\"");
    lw_xml_escape(out, series[s].name);
    fprintf(out, "\"><polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", colour);
    for (size_t i = 0; i < series[s].n; i++) {
      if (isnan(series[s].y[i]))
        continue;
      fprintf(out, "%.1f,%.1f ", LEFT + (series[s].x[i] - x0) / (x1 - x0) * pw,
              TOP + ph - series[s].y[i] / y1 * ph);
    }
    fputs("\"/>\n", out);
    for (size_t i = 0; i < series[s].n; i++) {
      if (isnan(series[s].y[i]))
        continue;
      char yl[48], xl[48];
      format_y(p, series[s].y[i], yl, sizeof yl);
      format_x(p, series[s].x[i], xl, sizeof xl);
      fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>",
              LEFT + (series[s].x[i] - x0) / (x1 - x0) * pw, TOP + ph - series[s].y[i] / y1 * ph,
              colour);
      lw_xml_escape(out, series[s].name);
      fprintf(out, ": %s at %s</title></circle>\n", yl, xl);
    }
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>",
            LEFT + pw + 16, TOP + 16.0 * (double)s, colour);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-family=\"sans-serif\" font-size=\"11\">",
            LEFT + pw + 30, TOP + 16.0 * (double)s + 9);
    char name[40];
    snprintf(name, sizeof name, "%.28s%s", series[s].name, strlen(series[s].name) > 28 ? ".." : "");
    lw_xml_escape(out, name);
    fputs("</text></g>\n", out);
  }
  fputs("</svg>\n", out);
  return ferror(out) ? -1 : 0;
}
