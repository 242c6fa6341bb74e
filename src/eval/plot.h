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

/* A table of values as coloured cells (e.g. a sensitivity profile: layers x K). */
typedef struct {
    const char *title, *subtitle, *note;
    int rows, cols;
    const char *row_prefix, *col_prefix; /* labels: prefix + index (rows from 0, cols from col0) */
    int col0;
    const double *v;                     /* [rows][cols]; non-finite cells left blank */
    const int *row_index;                /* [rows]: the number each row's label shows, or NULL: r */
} ak_plot_heatmap;

int ak_plot_heatmap_svg(FILE *out, const ak_plot_heatmap *h);

/* Rasterises an SVG file with rsvg-convert (librsvg2-bin): 0, 1 when rsvg-convert is not
 * installed, -1 when it failed (or a path holds a quote). */
int ak_plot_svg_to_png(const char *svg_path, const char *png_path);

/* "Nice" tick step (1, 2 or 5 times a power of ten) for about n ticks over [lo, hi]. */
double ak_plot_tick_step(double lo, double hi, int n);

#endif
