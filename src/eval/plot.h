/* plot.h - line charts as standalone SVG (the sweep's trade-off plot): one or more panels
 * side by side, each with axes, ticks, labels, an optional dashed reference line, and a
 * legend; one polyline with point markers per series. */
#ifndef AK_EVAL_PLOT_H
#define AK_EVAL_PLOT_H

#include <stdio.h>

typedef struct {
    const char *name;   /* legend text */
    const char *color;  /* SVG colour, e.g. "#1f77b4" */
    int dashed;
    int n;
    const double *x, *y; /* n points; drawn in the given order; non-finite points skipped */
} ak_plot_series;

typedef struct {
    const char *title, *xlabel, *ylabel;
    double hline;        /* dashed grey reference at this y; NaN: none */
    const char *hline_label;
    int n_series;
    const ak_plot_series *series;
} ak_plot_panel;

/* Writes the SVG document. Returns 0, or -1 on a write error. */
int ak_plot_svg(FILE *out, const char *title, const char *subtitle, const ak_plot_panel *panels, int n_panels);

/* "Nice" tick step (1, 2 or 5 times a power of ten) for about n ticks over [lo, hi]. */
double ak_plot_tick_step(double lo, double hi, int n);

#endif
