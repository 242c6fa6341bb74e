/* profile_report.c - a sensitivity profile as a text table, JSON and an SVG heat map. */
#include <math.h>

#include "eval/plot.h"
#include "eval/profile.h"
#include "base/json_escape.h"

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

static void json_row(FILE *f, const char *key, const double *v, int n) {
    fprintf(f, "\"%s\": [", key);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        json_num(f, v[i]);
    }
    fputc(']', f);
}

int ak_profile_write_json(const ak_profile *p, FILE *f, const char *model, const char *text) {
    const int K = p->k_native;
    fputs("{\n  \"model\": ", f);
    ak_json_write_string(f, model);
    fputs(",\n  \"text\": ", f);
    ak_json_write_string(f, text);
    fprintf(f, ",\n  \"n_layers\": %d, \"n_experts\": %d, \"k_native\": %d, \"tokens\": %lld,\n", p->n_layer,
            p->n_expert, K, (long long)p->n_tokens);
    fprintf(f, "  \"native_ppl\": ");
    json_num(f, p->base_ppl);
    fprintf(f, ", \"exact_chunks\": %d, \"exact_scored\": %lld,\n", p->exact_chunks, (long long)p->exact_scored);
    fputs("  \"k\": [", f);
    for (int j = 1; j <= K; j++) fprintf(f, "%s%d", j > 1 ? ", " : "", j);
    fputs("],\n  \"layers\": [", f);
    for (int l = 0; l < p->n_layer; l++) {
        fprintf(f, "%s\n    {\"layer\": %d, ", l ? "," : "", p->layer_of[l]);
        const struct {
            const char *key;
            const double *v;
        } rows[] = {{"proxy", p->proxy}, {"proxy_output", p->proxy_out}, {"kl", p->kl},
                    {"kl_err", p->kl_err}, {"dnll", p->dnll},           {"dnll_err", p->dnll_err}};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            json_row(f, rows[i].key, rows[i].v + l * K, K);
            if (i + 1 < sizeof rows / sizeof rows[0]) fputs(", ", f);
        }
        fputs(", \"alpha\": ", f);
        json_num(f, p->has_exact ? p->alpha[l] : NAN);
        fputs(", ", f);
        json_row(f, "entropy_p10_p50_p90", p->entropy_pct + l * 3, 3);
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    return ferror(f) ? -1 : 0;
}

int ak_profile_write_svg(const ak_profile *p, FILE *out, const char *title) {
    char subtitle[300], note[300];
    snprintf(subtitle, sizeof subtitle,
             "%s with one layer at top-k, the others at the native top-%d (%lld tokens)",
             p->has_exact ? "mean KL divergence to native (nats)" : "proxy ||y_k - y_K||^2 / ||h||^2",
             p->k_native, (long long)p->n_tokens);
    snprintf(note, sizeof note, "rows: MoE layers; columns: experts run in that layer; darker = more sensitive (log)");
    ak_plot_heatmap h = {title, subtitle, note, p->n_layer, p->k_native, "layer ", "k=", 1,
                         p->has_exact ? p->kl : p->proxy, p->layer_of};
    return ak_plot_heatmap_svg(out, &h);
}

void ak_profile_print(const ak_profile *p, FILE *out) {
    const int K = p->k_native;
    fprintf(out, "proxy ||y_k - y_K||^2 / ||h||^2 per layer (mean over %lld tokens; k = 1..%d)\n",
            (long long)p->n_tokens, K);
    for (int l = 0; l < p->n_layer; l++) {
        fprintf(out, "  layer %2d:", p->layer_of[l]);
        for (int j = 1; j <= K; j++) fprintf(out, " %9.3g", p->proxy[l * K + j - 1]);
        fprintf(out, "   entropy p50 %.2f\n", p->entropy_pct[l * 3 + 1]);
    }
    if (!p->has_exact) return;
    fprintf(out, "exact, one layer at top-k (%lld scored positions): mean KL to native | NLL change, nats\n",
            (long long)p->exact_scored);
    for (int l = 0; l < p->n_layer; l++) {
        fprintf(out, "  layer %2d:", p->layer_of[l]);
        for (int j = 1; j < K; j++) fprintf(out, " %8.5f", p->kl[l * K + j - 1]);
        fputs(" |", out);
        for (int j = 1; j < K; j++) fprintf(out, " %+8.5f", p->dnll[l * K + j - 1]);
        fprintf(out, "   alpha %.3g\n", p->alpha[l]);
    }
}
