/* sweep_report.c - the sweep's rows as CSV, JSON and an SVG/PNG plot (see sweep.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/plot.h"
#include "eval/sweep.h"
#include "base/json_escape.h"

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

static const char *const mode_names[] = {"fixed", "global", "per-layer", "allocated"};

static const char *series_name(const ak_sweep_row *r, char *buf, size_t len) {
    if (r->k) snprintf(buf, len, "fixed top-k");
    else
        snprintf(buf, len, "%s%s", r->policy,
                 r->mode == AK_SWEEP_PER_LAYER ? " (per layer)" : r->mode == AK_SWEEP_ALLOCATED ? " (allocated)" : "");
    return buf;
}

static int write_csv(const ak_sweep *S, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("policy,mode,k,target_avg_k,calib_avg_k,avg_k,ppl,ppl_err,ppl_ratio,ppl_ratio_err,kld,kld_err,same_top,"
          "same_top_err,expert_macs_saved,model_macs_saved,expert_bytes_saved,decode_tok_s,decode_speedup,status,"
          "params\n",
          f);
    for (int i = 0; i < S->n_rows; i++) {
        const ak_sweep_row *r = &S->rows[i];
        fprintf(f, "%s,%s,%d,", r->policy, mode_names[r->mode], r->k);
        if (isfinite(r->target)) fprintf(f, "%.4f", r->target);
        fputc(',', f);
        if (isfinite(r->calib_avg_k)) fprintf(f, "%.4f", r->calib_avg_k);
        if (r->ok)
            fprintf(f, ",%.4f,%.4f,%.4f,%.6f,%.6f,%.6f,%.6f,%.5f,%.5f,%.5f,%.5f,%.5f,%.2f,%.4f,ok,", r->avg_k, r->ppl,
                    r->ppl_err, r->ratio, r->ratio_err, r->kld, r->kld_err, r->same_top, r->same_top_err,
                    r->expert_saved, r->model_saved, r->bytes_saved, r->decode_tps, r->decode_rel);
        else
            fputs(",,,,,,,,,,,,,,,skipped,", f);
        fputc('"', f);
        for (const char *p = r->ok ? r->params : r->note; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p, f);
        }
        fputs("\"\n", f);
    }
    return fclose(f);
}

static int write_json(const ak_sweep *S, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("{\n  \"model\": ", f);
    ak_json_write_string(f, S->model_path);
    fputs(",\n  \"text\": ", f);
    ak_json_write_string(f, S->text_path);
    fputs(",\n  \"calibration\": ", f);
    ak_json_write_string(f, S->calib_path ? S->calib_path : "first third of the text's tokens");
    fprintf(f, ",\n  \"n_ctx\": %d,\n  \"eval_tokens\": %d,\n  \"scored_tokens\": %lld,\n  \"calib_tokens\": %d,\n",
            S->n_ctx, S->n_eval, (long long)S->n_scored, S->n_calib);
    const ak_hparams *hp = ak_model_hparams(S->s->model);
    fprintf(f, "  \"n_experts\": %d,\n  \"k_native\": %d,\n  \"n_layers\": %d,\n", hp->n_expert, hp->n_expert_used,
            hp->n_layer);
    fprintf(f, "  \"decode\": {\"prompt_tokens\": %d, \"tokens\": %d, \"reps\": %d, \"native_tok_s\": ",
            S->prompt_tokens, S->decode_tokens, S->decode_reps);
    json_num(f, S->native_tps);
    fputs("},\n  \"rows\": [", f);
    for (int i = 0; i < S->n_rows; i++) {
        const ak_sweep_row *r = &S->rows[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"policy\": ", f);
        ak_json_write_string(f, r->policy);
        fprintf(f, ", \"mode\": \"%s\", \"k\": %d, \"target_avg_k\": ", mode_names[r->mode],
                r->k);
        json_num(f, r->target);
        fputs(", \"calib_avg_k\": ", f);
        json_num(f, r->calib_avg_k);
        fprintf(f, ", \"ok\": %s", r->ok ? "true" : "false");
        if (r->ok) {
            const struct { const char *k; double v; } m[] = {
                {"avg_k", r->avg_k}, {"ppl", r->ppl}, {"ppl_err", r->ppl_err}, {"ppl_ratio", r->ratio},
                {"ppl_ratio_err", r->ratio_err}, {"kld", r->kld}, {"kld_err", r->kld_err}, {"same_top", r->same_top},
                {"same_top_err", r->same_top_err}, {"expert_macs_saved", r->expert_saved},
                {"model_macs_saved", r->model_saved}, {"expert_bytes_saved", r->bytes_saved},
                {"decode_tok_s", r->decode_tps}, {"decode_speedup", r->decode_rel}, {"seconds", r->seconds}};
            for (size_t j = 0; j < sizeof m / sizeof m[0]; j++) {
                fprintf(f, ", \"%s\": ", m[j].k);
                json_num(f, m[j].v);
            }
            fputs(", \"params\": ", f);
            ak_json_write_string(f, r->params);
        } else {
            fputs(", \"note\": ", f);
            ak_json_write_string(f, r->note);
        }
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    return fclose(f);
}

typedef struct {
    double x, y, y2;
} point;

static int cmp_point(const void *a, const void *b) {
    double x = ((const point *)a)->x, y = ((const point *)b)->x;
    return (x > y) - (x < y);
}

/* Series colour by policy; per-layer calibration dashed, allocated budgets drawn in a
 * darker shade of the same colour. */
static void series_style(const ak_sweep_row *r, const char **color, int *dashed) {
    static const char *const names[] = {"fixed", "entropy", "top-p", "ratio", "threshold"};
    static const char *const plain[] = {"#000000", "#d62728", "#1f77b4", "#2ca02c", "#9467bd"};
    static const char *const dark[] = {"#7f7f7f", "#8c1a1b", "#0d3d61", "#175e17", "#4b2c6b"};
    int i = 0;
    for (int j = 0; j < 5; j++)
        if (!strcmp(r->policy, names[j])) i = j;
    *color = r->mode == AK_SWEEP_ALLOCATED ? dark[i] : plain[i];
    *dashed = r->mode == AK_SWEEP_PER_LAYER || (r->mode == AK_SWEEP_ALLOCATED && i == 0);
}

/* Series in the order their first row appears. */
static int collect_series(const ak_sweep *S, char (*names)[64], int max) {
    int n = 0;
    for (int i = 0; i < S->n_rows; i++) {
        char buf[64];
        if (!S->rows[i].ok) continue;
        series_name(&S->rows[i], buf, sizeof buf);
        int seen = 0;
        for (int j = 0; j < n; j++) seen |= !strcmp(names[j], buf);
        if (!seen && n < max) snprintf(names[n++], 64, "%s", buf);
    }
    return n;
}

#define MAX_SERIES 24

static int write_plot(const ak_sweep *S, const char *svg_path, const char *png_path) {
    char names[MAX_SERIES][64];
    const int n_names = collect_series(S, names, MAX_SERIES);
    double *xs = calloc((size_t)S->n_rows * MAX_SERIES + 1, sizeof *xs),
           *ys = calloc((size_t)S->n_rows * MAX_SERIES + 1, sizeof *ys),
           *ks = calloc((size_t)S->n_rows * MAX_SERIES + 1, sizeof *ks);
    point *pts = calloc((size_t)S->n_rows + 1, sizeof *pts);
    ak_plot_series ppl[MAX_SERIES], kl[MAX_SERIES];
    int n_series = 0;
    if (!xs || !ys || !ks || !pts) goto oom;
    for (int s = 0; s < n_names; s++) {
        int n = 0;
        const char *color = "#000000";
        int dashed = 0;
        for (int i = 0; i < S->n_rows; i++) {
            char buf[64];
            const ak_sweep_row *r = &S->rows[i];
            if (r->ok && !strcmp(series_name(r, buf, sizeof buf), names[s])) {
                pts[n++] = (point){r->avg_k, r->ratio, r->kld};
                series_style(r, &color, &dashed);
            }
        }
        qsort(pts, (size_t)n, sizeof *pts, cmp_point);
        double *x = xs + (size_t)s * S->n_rows, *y = ys + (size_t)s * S->n_rows, *k = ks + (size_t)s * S->n_rows;
        for (int i = 0; i < n; i++) x[i] = pts[i].x, y[i] = pts[i].y, k[i] = pts[i].y2;
        ppl[n_series] = (ak_plot_series){names[s], color, dashed, n, x, y};
        kl[n_series] = (ak_plot_series){names[s], color, dashed, n, x, k};
        n_series++;
    }
    ak_plot_panel panels[2] = {
        {"Perplexity vs native top-k", "average experts per token and layer (measured)", "PPL / PPL(native top-k)",
         1.01, "+1% perplexity", n_series, ppl},
        {"KL divergence to native top-k", "average experts per token and layer (measured)", "mean KL divergence (nats)",
         NAN, NULL, n_series, kl}};
    char title[512], subtitle[700];
    const char *base = strrchr(S->model_path, '/');
    snprintf(title, sizeof title, "%s", S->title ? S->title : "Quality vs average K");
    snprintf(subtitle, sizeof subtitle,
             "%s on %s (%lld scored tokens, -c %d); policies calibrated on %s; native top-%d of %d experts",
             base ? base + 1 : S->model_path, S->text_path, (long long)S->n_scored, S->n_ctx,
             S->calib_path ? S->calib_path : "the first third of the text", ak_model_hparams(S->s->model)->n_expert_used, ak_model_hparams(S->s->model)->n_expert);
    FILE *f = fopen(svg_path, "w");
    int rc = -1;
    if (f) {
        rc = ak_plot_svg(f, title, subtitle, panels, 2);
        rc |= fclose(f);
    }
    free(xs), free(ys), free(ks), free(pts);
    if (rc) return -1;
    /* PNG: rasterised by rsvg-convert (librsvg2-bin) when it is installed */
    if (png_path && ak_plot_svg_to_png(svg_path, png_path) < 0) return -2;
    return 0;
oom:
    free(xs), free(ys), free(ks), free(pts);
    return -1;
}

int ak_sweep_write(const ak_sweep *S, FILE *log) {
    char path[1200], png[1200];
    snprintf(path, sizeof path, "%s/sweep.csv", S->out_dir);
    if (write_csv(S, path)) goto fail;
    snprintf(path, sizeof path, "%s/sweep.json", S->out_dir);
    if (write_json(S, path)) goto fail;
    snprintf(path, sizeof path, "%s/sweep.svg", S->out_dir);
    snprintf(png, sizeof png, "%s/sweep.png", S->out_dir);
    int rc = write_plot(S, path, png);
    if (rc == -2 && log) fprintf(log, "sweep: rsvg-convert could not write %s\n", png);
    else if (rc) goto fail;
    return 0;
fail:
    if (log) fprintf(log, "sweep: cannot write %s\n", path);
    return -1;
}
