/* plot.c - SVG line charts (see plot.h). */
#include "eval/plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PANEL_W 560
#define PANEL_H 430
#define MARGIN_L 78
#define MARGIN_R 24
#define MARGIN_T 40
#define MARGIN_B 58
#define HEADER_H 64
#define LEGEND_ROW 24
#define LEGEND_COLS 4

double ak_plot_tick_step(double lo, double hi, int n) {
    double span = hi - lo;
    if (!(span > 0) || n < 1) return 1.0;
    double raw = span / n, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

static void text_escaped(FILE *out, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

static void bounds(const ak_plot_panel *p, double *x0, double *x1, double *y0, double *y1) {
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x < *x0) *x0 = x;
            if (x > *x1) *x1 = x;
            if (y < *y0) *y0 = y;
            if (y > *y1) *y1 = y;
        }
    if (isfinite(p->hline)) {
        if (p->hline < *y0) *y0 = p->hline;
        if (p->hline > *y1) *y1 = p->hline;
    }
    if (!isfinite(*x0)) *x0 = 0, *x1 = 1;
    if (!isfinite(*y0)) *y0 = 0, *y1 = 1;
    if (*x1 - *x0 < 1e-12) *x0 -= 0.5, *x1 += 0.5;
    if (*y1 - *y0 < 1e-12) *y0 -= 0.5, *y1 += 0.5;
    /* round outwards to whole ticks */
    double sx = ak_plot_tick_step(*x0, *x1, 8), sy = ak_plot_tick_step(*y0, *y1, 8);
    *x0 = floor(*x0 / sx) * sx;
    *x1 = ceil(*x1 / sx) * sx;
    *y0 = floor(*y0 / sy) * sy;
    *y1 = ceil(*y1 / sy) * sy;
}

static void fmt_tick(char *buf, size_t len, double v, double step) {
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 6) dec = 6;
    if (fabs(v) < step * 1e-6) v = 0;
    snprintf(buf, len, "%.*f", dec, v);
}

static void panel(FILE *out, const ak_plot_panel *p, double ox, double oy) {
    double x0, x1, y0, y1;
    bounds(p, &x0, &x1, &y0, &y1);
    const double pw = PANEL_W - MARGIN_L - MARGIN_R, ph = PANEL_H - MARGIN_T - MARGIN_B;
    const double left = ox + MARGIN_L, top = oy + MARGIN_T, bottom = top + ph;
#define PX(x) (left + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (bottom - ((y) - y0) / (y1 - y0) * ph)
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">",
            left + pw / 2, oy + 24);
    text_escaped(out, p->title);
    fputs("</text>\n", out);
    fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#333\"/>\n", left,
            top, pw, ph);
    char lab[32];
    const double sx = ak_plot_tick_step(x0, x1, 8), sy = ak_plot_tick_step(y0, y1, 8);
    for (double v = x0; v <= x1 + sx * 1e-6; v += sx) {
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", PX(v), top, PX(v),
                bottom);
        fmt_tick(lab, sizeof lab, v, sx);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n", PX(v),
                bottom + 17, lab);
    }
    for (double v = y0; v <= y1 + sy * 1e-6; v += sy) {
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", left, PY(v),
                left + pw, PY(v));
        fmt_tick(lab, sizeof lab, v, sy);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">%s</text>\n", left - 6,
                PY(v) + 4, lab);
    }
    if (isfinite(p->hline)) {
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" stroke-width=\"1.2\" "
                "stroke-dasharray=\"3,3\"/>\n",
                left, PY(p->hline), left + pw, PY(p->hline));
        if (p->hline_label) {
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">",
                    left + pw - 4, PY(p->hline) - 4);
            text_escaped(out, p->hline_label);
            fputs("</text>\n", out);
        }
    }
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">", left + pw / 2, bottom + 42);
    text_escaped(out, p->xlabel);
    fputs("</text>\n", out);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 %.1f %.1f)\">",
            ox + 20, top + ph / 2, ox + 20, top + ph / 2);
    text_escaped(out, p->ylabel);
    fputs("</text>\n", out);
    for (int s = 0; s < p->n_series; s++) {
        const ak_plot_series *se = &p->series[s];
        fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", se->color,
                se->dashed ? " stroke-dasharray=\"7,4\"" : "");
        for (int i = 0; i < se->n; i++)
            if (isfinite(se->x[i]) && isfinite(se->y[i])) fprintf(out, "%.1f,%.1f ", PX(se->x[i]), PY(se->y[i]));
        fputs("\"/>\n", out);
        for (int i = 0; i < se->n; i++)
            if (isfinite(se->x[i]) && isfinite(se->y[i]))
                fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"/>\n", PX(se->x[i]), PY(se->y[i]),
                        se->color);
    }
#undef PX
#undef PY
}

int ak_plot_svg(FILE *out, const char *title, const char *subtitle, const ak_plot_panel *panels, int n_panels) {
    const int n_legend = n_panels > 0 ? panels[0].n_series : 0;
    const int legend_rows = (n_legend + LEGEND_COLS - 1) / LEGEND_COLS;
    const int width = n_panels * PANEL_W + 20, height = HEADER_H + PANEL_H + legend_rows * LEGEND_ROW + 24;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    fprintf(out, "<text x=\"%d\" y=\"26\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">", width / 2);
    text_escaped(out, title);
    fputs("</text>\n", out);
    if (subtitle) {
        fprintf(out, "<text x=\"%d\" y=\"48\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444\">", width / 2);
        text_escaped(out, subtitle);
        fputs("</text>\n", out);
    }
    for (int i = 0; i < n_panels; i++) panel(out, &panels[i], 10 + i * PANEL_W, HEADER_H);
    const double ly = HEADER_H + PANEL_H + 8, col_w = (double)(width - 40) / LEGEND_COLS;
    for (int i = 0; i < n_legend; i++) {
        const ak_plot_series *se = &panels[0].series[i];
        const double x = 20 + (i % LEGEND_COLS) * col_w, y = ly + (i / LEGEND_COLS) * LEGEND_ROW;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>\n", x,
                y, x + 34, y, se->color, se->dashed ? " stroke-dasharray=\"7,4\"" : "");
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"/>\n", x + 17, y, se->color);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">", x + 42, y + 4);
        text_escaped(out, se->name);
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
    return ferror(out) ? -1 : 0;
}

/* Heat map: cell colour from white (the smallest value) to dark red (the largest), on a
 * log scale when every value is positive (sensitivities span decades). */
static void heat_colour(double v, double lo, double hi, int log_scale, char *buf, size_t len) {
    double f = 0;
    if (isfinite(v) && hi > lo) f = log_scale ? (log(v) - log(lo)) / (log(hi) - log(lo)) : (v - lo) / (hi - lo);
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    int r = (int)(255 - 80 * f), g = (int)(255 - 235 * f), b = (int)(255 - 225 * f);
    snprintf(buf, len, "#%02x%02x%02x", r, g, b);
}

int ak_plot_heatmap_svg(FILE *out, const ak_plot_heatmap *h) {
    const int cw = 86, ch = 34, ox = 90, oy = 86, min_w = 820;
    double lo = INFINITY, hi = -INFINITY;
    int log_scale = 1;
    for (int i = 0; i < h->rows * h->cols; i++)
        if (isfinite(h->v[i])) {
            lo = fmin(lo, h->v[i]), hi = fmax(hi, h->v[i]);
            if (h->v[i] <= 0) log_scale = 0;
        }
    const int W = ox + cw * h->cols + 30 > min_w ? ox + cw * h->cols + 30 : min_w, H = oy + ch * h->rows + 60;
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\">\n", W,
            H);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<text x=\"12\" y=\"26\" font-size=\"17\">", W, H);
    text_escaped(out, h->title);
    fputs("</text>\n<text x=\"12\" y=\"48\" font-size=\"12\" fill=\"#444\">", out);
    text_escaped(out, h->subtitle);
    fputs("</text>\n", out);
    for (int c = 0; c < h->cols; c++)
        fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">%s%d</text>\n",
                ox + c * cw + cw / 2, oy - 8, h->col_prefix, h->col0 + c);
    for (int r = 0; r < h->rows; r++) {
        fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"end\">%s%d</text>\n", ox - 8,
                oy + r * ch + ch / 2 + 5, h->row_prefix, h->row_index ? h->row_index[r] : r);
        for (int c = 0; c < h->cols; c++) {
            double v = h->v[r * h->cols + c];
            char col[16];
            heat_colour(v, lo, hi, log_scale, col, sizeof col);
            fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"#888\"/>\n",
                    ox + c * cw, oy + r * ch, cw, ch, col);
            if (isfinite(v))
                fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%.3g</text>\n",
                        ox + c * cw + cw / 2, oy + r * ch + ch / 2 + 4, v);
        }
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"#444\">", ox, oy + ch * h->rows + 24);
    text_escaped(out, h->note);
    fputs("</text>\n</svg>\n", out);
    return ferror(out) ? -1 : 0;
}

int ak_plot_svg_to_png(const char *svg_path, const char *png_path) {
    if (system("command -v rsvg-convert >/dev/null 2>&1") != 0) return 1;
    if (strchr(png_path, '\'') || strchr(svg_path, '\'')) return -1;
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s'", png_path, svg_path);
    return system(cmd) == 0 ? 0 : -1;
}
