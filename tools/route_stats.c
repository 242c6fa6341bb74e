/* route_stats.c - routing all layers and summarising the decisions. */
#include "route_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"

ak_status ak_route_run_init(ak_route_run *r, const ak_router_config *c, int n_layers, int n_tokens, int n_experts,
                            ak_error *err) {
    memset(r, 0, sizeof *r);
    r->n_layers = n_layers;
    r->n_tokens = n_tokens;
    r->n_experts = n_experts;
    r->slots = 1;
    for (int l = 0; l < n_layers; l++) {
        int m = ak_policy_max_k(ak_config_layer_policy(c, l), n_experts);
        if (m > r->slots) r->slots = m;
    }
    size_t lt = (size_t)n_layers * (size_t)n_tokens, ts = (size_t)n_tokens * (size_t)r->slots;
    r->k_hist = calloc((size_t)n_layers * (size_t)(n_experts + 1), sizeof *r->k_hist);
    r->entropy = malloc(lt * sizeof *r->entropy);
    r->out.n_tokens = n_tokens;
    r->out.slots = r->slots;
    r->out.k = malloc((size_t)n_tokens * sizeof *r->out.k);
    r->out.ids = malloc(ts * sizeof *r->out.ids);
    r->out.weights = malloc(ts * sizeof *r->out.weights);
    if (!r->k_hist || !r->entropy || !r->out.k || !r->out.ids || !r->out.weights) {
        ak_route_run_free(r);
        return ak_error_setf(err, AK_ERR_NOMEM, "out of memory for %d layers x %d tokens", n_layers, n_tokens);
    }
    return AK_OK;
}

ak_status ak_route_run_all(ak_route_run *r, const ak_router_config *c, const float *logits, ak_route_sink sink,
                           void *ctx, ak_error *err) {
    size_t layer_size = (size_t)r->n_tokens * (size_t)r->n_experts;
    memset(r->k_hist, 0, (size_t)r->n_layers * (size_t)(r->n_experts + 1) * sizeof *r->k_hist);
    for (int l = 0; l < r->n_layers; l++) {
        r->out.entropy = r->entropy + (size_t)l * (size_t)r->n_tokens;
        ak_error e = {0};
        ak_status s = ak_route(ak_config_layer_policy(c, l), logits + (size_t)l * layer_size, r->n_tokens,
                               r->n_experts, c->renormalize, &r->out, &e);
        if (s) return ak_error_setf(err, s, "layer %d: %s", l, e.msg);
        uint64_t *h = r->k_hist + (size_t)l * (size_t)(r->n_experts + 1);
        for (int t = 0; t < r->n_tokens; t++) {
            int k = r->out.k[t];
            if (k < 0 || k > r->n_experts)
                return ak_error_setf(err, AK_ERR_INVALID_ARG, "layer %d token %d: K = %d", l, t, k);
            h[k]++;
        }
        if (sink && sink(ctx, l, &r->out, err)) return err ? err->code : AK_ERR_IO;
    }
    return AK_OK;
}

void ak_route_run_free(ak_route_run *r) {
    free(r->k_hist);
    free(r->entropy);
    free(r->out.k);
    free(r->out.ids);
    free(r->out.weights);
    memset(r, 0, sizeof *r);
}

static uint64_t hist_at(const ak_route_run *r, int layer, int k) {
    if (layer >= 0) return r->k_hist[(size_t)layer * (size_t)(r->n_experts + 1) + (size_t)k];
    uint64_t n = 0;
    for (int l = 0; l < r->n_layers; l++) n += hist_at(r, l, k);
    return n;
}

double ak_route_run_avg_k(const ak_route_run *r, int layer) {
    uint64_t n = 0, sum = 0;
    for (int k = 0; k <= r->n_experts; k++) {
        uint64_t c = hist_at(r, layer, k);
        n += c;
        sum += c * (uint64_t)k;
    }
    return n ? (double)sum / (double)n : 0.0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void ak_route_run_entropy_percentiles(const ak_route_run *r, int layer, const double *q, int nq, double *out) {
    size_t n = (size_t)r->n_tokens * (size_t)(layer < 0 ? r->n_layers : 1);
    const float *src = r->entropy + (layer < 0 ? 0 : (size_t)layer * (size_t)r->n_tokens);
    float *v = malloc(n * sizeof *v);
    if (!v) {
        for (int i = 0; i < nq; i++) out[i] = NAN;
        return;
    }
    memcpy(v, src, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_float);
    for (int i = 0; i < nq; i++) {
        double pos = q[i] * (double)(n - 1);
        size_t lo = (size_t)floor(pos);
        if (lo >= n - 1) {
            out[i] = v[n - 1];
            continue;
        }
        double frac = pos - (double)lo;
        out[i] = (double)v[lo] + frac * ((double)v[lo + 1] - (double)v[lo]);
    }
    free(v);
}

double ak_route_run_entropy_percentile(const ak_route_run *r, int layer, double q) {
    double v;
    ak_route_run_entropy_percentiles(r, layer, &q, 1, &v);
    return v;
}

/* ---------------------------------------------------------------- summary */

#define MAX_COLUMNS 10

typedef struct {
    int lo, hi; /* K range of one histogram column */
} k_column;

/* The distinct K values chosen, or, when there are more than MAX_COLUMNS, equal-width
 * ranges of K (empty ones dropped). */
static int histogram_columns(const ak_route_run *r, k_column *cols) {
    int distinct = 0, kmin = -1, kmax = -1;
    for (int k = 0; k <= r->n_experts; k++)
        if (hist_at(r, -1, k)) {
            distinct++;
            if (kmin < 0) kmin = k;
            kmax = k;
        }
    int n = 0;
    if (distinct <= MAX_COLUMNS) {
        for (int k = 0; k <= r->n_experts; k++)
            if (hist_at(r, -1, k)) cols[n++] = (k_column){k, k};
        return n;
    }
    int width = (kmax - kmin + MAX_COLUMNS) / MAX_COLUMNS;
    for (int lo = kmin; lo <= kmax; lo += width) {
        int hi = lo + width - 1 < kmax ? lo + width - 1 : kmax;
        uint64_t c = 0;
        for (int k = lo; k <= hi; k++) c += hist_at(r, -1, k);
        if (c) cols[n++] = (k_column){lo, hi};
    }
    return n;
}

static uint64_t column_count(const ak_route_run *r, int layer, k_column c) {
    uint64_t n = 0;
    for (int k = c.lo; k <= c.hi; k++) n += hist_at(r, layer, k);
    return n;
}

static void column_label(k_column c, char *buf, size_t len) {
    if (c.lo == c.hi) snprintf(buf, len, "K=%d", c.lo);
    else snprintf(buf, len, "K=%d-%d", c.lo, c.hi);
}

static void print_layer_row(const ak_route_run *r, int layer, int k_native, const k_column *cols, int ncols,
                            FILE *out) {
    static const double q[3] = {0.10, 0.50, 0.90};
    double pct[3];
    ak_route_run_entropy_percentiles(r, layer, q, 3, pct);
    double avg = ak_route_run_avg_k(r, layer);
    uint64_t total = (uint64_t)r->n_tokens * (uint64_t)(layer < 0 ? r->n_layers : 1);
    if (layer < 0) fprintf(out, "  %5s", "all");
    else fprintf(out, "  %5d", layer);
    fprintf(out, "  %6.3f  %6.1f%%  %5.2f %5.2f %5.2f  |", avg, 100.0 * (1.0 - avg / k_native), pct[0], pct[1], pct[2]);
    for (int c = 0; c < ncols; c++)
        fprintf(out, " %7.1f%%", 100.0 * (double)column_count(r, layer, cols[c]) / (double)total);
    fputc('\n', out);
}

void ak_route_run_print_summary(const ak_route_run *r, int k_native, FILE *out) {
    k_column cols[MAX_COLUMNS + 1];
    int ncols = histogram_columns(r, cols);
    char label[32];

    fprintf(out, "\n  %5s  %6s  %7s  %-17s  |  share of tokens by K\n", "layer", "avg K", "saved", "entropy (nats)");
    fprintf(out, "  %5s  %6s  %7s  %5s %5s %5s  |", "", "", "", "p10", "p50", "p90");
    for (int c = 0; c < ncols; c++) {
        column_label(cols[c], label, sizeof label);
        fprintf(out, " %8s", label);
    }
    fputc('\n', out);
    for (int l = 0; l < r->n_layers; l++) print_layer_row(r, l, k_native, cols, ncols, out);
    if (r->n_layers > 1) print_layer_row(r, -1, k_native, cols, ncols, out);

    uint64_t total = (uint64_t)r->n_tokens * (uint64_t)r->n_layers, most = 1;
    for (int c = 0; c < ncols; c++) {
        uint64_t n = column_count(r, -1, cols[c]);
        if (n > most) most = n;
    }
    fprintf(out, "\n  K histogram, %s (%llu routing decisions):\n", r->n_layers > 1 ? "all layers" : "the layer",
            (unsigned long long)total);
    for (int c = 0; c < ncols; c++) {
        uint64_t n = column_count(r, -1, cols[c]);
        int bar = n ? (int)((n * 40 + most / 2) / most) : 0;
        if (n && !bar) bar = 1;
        column_label(cols[c], label, sizeof label);
        fprintf(out, "  %8s %8llu %6.1f%%  ", label, (unsigned long long)n, 100.0 * (double)n / (double)total);
        for (int b = 0; b < bar; b++) fputc('#', out);
        fputc('\n', out);
    }

    double avg = ak_route_run_avg_k(r, -1), saved = 1.0 - avg / k_native;
    fprintf(out, "\n  average K %.3f vs native top-%d: ", avg, k_native);
    if (saved >= 0) fprintf(out, "%.1f%% of the routed-expert FFN compute saved\n", 100.0 * saved);
    else fprintf(out, "%.1f%% MORE routed-expert FFN compute than top-%d\n", -100.0 * saved, k_native);
    fprintf(out, "  (entropy of a uniform router over %d experts: ln %d = %.3f nats)\n", r->n_experts, r->n_experts,
            log((double)r->n_experts));
}
