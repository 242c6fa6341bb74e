/* cmd_sweep.c - `adaptive-k sweep`: the quality / compute trade-off of a model. Fixed K
 * from 1 to 2x native, and the entropy, top-p and ratio policies calibrated (globally and
 * per layer) to a series of target average K on a calibration text, each evaluated on
 * the test text: perplexity, KL divergence to the native top-k, compute saved and decode
 * speed. Writes sweep.csv, sweep.json, sweep.svg and sweep.png into the output folder,
 * rewritten after every row so an interrupted sweep leaves usable partial results. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "engine_cli.h"
#include "eval/calib.h"
#include "eval/kl.h"
#include "eval/logprobs.h"
#include "eval/plot.h"

#define MAX_TARGETS 32

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k sweep -m FILE.gguf -f TEXT [--calib TEXT] [-o DIR] [options]\n"
            "  Evaluates on TEXT (perplexity as llama.cpp, chunks of -c tokens): fixed K = 1..--k-max,\n"
            "  and the entropy, top-p and ratio policies, each calibrated on the --calib text to every\n"
            "  target average K, with one parameter for all layers and per layer. For each: average K\n"
            "  measured on TEXT, PPL, PPL ratio and KL divergence to the native top-k, same top-1 share,\n"
            "  compute saved (engine counters) and decode tokens/s (median of --decode-reps runs of\n"
            "  --decode-tokens greedy tokens after a --prompt-tokens prompt) and its speed-up over native\n"
            "  (median of the ratios of alternating native and policy runs).\n"
            "  Without --calib the first third of TEXT's tokens calibrates and the rest is evaluated.\n\n"
            "options:\n"
            "  -o DIR               output folder (default sweep-out): sweep.csv, .json, .svg, .png\n"
            "  -c N                 tokens per chunk (default 512, at most the model's context)\n"
            "  --chunks N           evaluate only the first N chunks of TEXT\n"
            "  --calib-chunks N     calibrate on only the first N chunks of the calibration text\n"
            "  --targets A,B,...    target average K (default native x 0.375,0.5,0.625,0.75,0.875,0.9375)\n"
            "  --k-max N            largest fixed K (default min(n_experts, 2 x native))\n"
            "  --policies LIST      subset of entropy,top-p,ratio (default all three)\n"
            "  --no-per-layer       only one parameter for all layers\n"
            "  --decode-tokens N    (default 64)   --prompt-tokens N (default 32)   --decode-reps N (default 3)\n"
            "  -t N                 threads\n"
            "  --title TEXT         the plot's title\n");
}

typedef struct {
    char policy[12];
    int per_layer;
    double target; /* NAN for fixed K */
    int k;         /* fixed K, 0 otherwise */
    int ok;
    char note[300];
    char params[1024];
    double calib_avg_k, avg_k, ppl, ppl_err, ratio, ratio_err, kld, kld_err, same_top, same_top_err;
    double expert_saved, model_saved, bytes_saved, decode_tps, decode_rel, seconds;
} sweep_row;

typedef struct {
    const char *model_path, *text_path, *calib_path, *out_dir, *title;
    int n_ctx, n_chunks, calib_chunks, n_threads, k_max, per_layer_too;
    int use_policy[3]; /* entropy, top-p, ratio */
    int n_targets;
    double targets[MAX_TARGETS];
    int decode_tokens, prompt_tokens, decode_reps;
    /* state */
    ak_session s;
    const ak_hparams *hp;
    int32_t *eval_tokens, *calib_tokens;
    int n_eval, n_calib;
    ak_ppl_params pp;
    ak_logprobs base;
    float *base_logp;
    ak_kl_stats kl;
    int mismatch;
    double native_tps;
    int64_t n_scored;
    sweep_row *rows;
    int n_rows, cap_rows;
} sweep;

/* ---------------------------------------------------------------- evaluation */

static void store_base(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next) {
    sweep *S = user;
    (void)n_vocab;
    int64_t r = ak_logprobs_row(&S->base, chunk, pos);
    if (r >= 0) ak_logprobs_put(&S->base, r, logits, next);
}

static void add_kl(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next) {
    sweep *S = user;
    int64_t r = ak_logprobs_row(&S->base, chunk, pos);
    if (r < 0) return;
    int32_t argmax, base_next;
    double nll_base;
    ak_logprobs_get(&S->base, r, S->base_logp, &argmax, &base_next, &nll_base);
    if (base_next != next) S->mismatch = 1;
    else ak_kl_add(&S->kl, S->base_logp, argmax, nll_base, logits, n_vocab, next);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time of decode_tokens greedy single-token steps after a prompt of the first
 * prompt_tokens evaluation tokens (BOS first when the vocabulary adds it). */
static int decode_time(sweep *S, double *seconds, char *err, size_t errlen) {
    ak_context *c = S->s.ctx;
    int P = S->prompt_tokens < S->n_eval ? S->prompt_tokens : S->n_eval;
    if (P + S->decode_tokens > ak_context_n_ctx(c)) P = ak_context_n_ctx(c) - S->decode_tokens;
    if (P < 1) P = 1;
    ak_context_reset(c);
    if (ak_decode(c, S->eval_tokens, P, err, errlen)) return -1;
    double t = 0;
    for (int i = 0; i < S->decode_tokens; i++) {
        const float *lg = ak_get_logits(c, -1);
        int32_t best = 0;
        for (int v = 1; v < S->hp->n_vocab; v++)
            if (lg[v] > lg[best]) best = v;
        const double t0 = now_seconds();
        if (ak_decode(c, &best, 1, err, errlen)) return -1;
        t += now_seconds() - t0;
    }
    *seconds = t;
    return 0;
}

/* Decode tokens/s with cfg (median of decode_reps runs) and the speed-up over the native
 * top-k: native and cfg runs alternate, and the speed-up is the median of the per-pair
 * ratios, so that load from other processes on a shared machine affects both alike. */
static int decode_speed(sweep *S, const ak_router_config *cfg, double *tps, double *speedup, char *err,
                        size_t errlen) {
    double t_cfg[16], ratio[16];
    for (int rep = 0; rep < S->decode_reps; rep++) {
        double tn = 0, tc = 0;
        if (cfg && (ak_context_set_routing(S->s.ctx, NULL, err, errlen) || decode_time(S, &tn, err, errlen)))
            return -1;
        if (ak_context_set_routing(S->s.ctx, cfg, err, errlen) || decode_time(S, &tc, err, errlen)) return -1;
        t_cfg[rep] = tc;
        ratio[rep] = cfg && tc > 0 ? tn / tc : 1.0;
    }
    qsort(t_cfg, (size_t)S->decode_reps, sizeof t_cfg[0], cmp_double);
    qsort(ratio, (size_t)S->decode_reps, sizeof ratio[0], cmp_double);
    const double med = t_cfg[S->decode_reps / 2];
    *tps = med > 0 ? S->decode_tokens / med : 0;
    *speedup = ratio[S->decode_reps / 2];
    return 0;
}

static double saved(uint64_t v, uint64_t native) { return native ? 1.0 - (double)v / (double)native : 0.0; }

/* Runs the evaluation text with cfg (NULL: native) and fills the measured fields of r. */
static int evaluate(sweep *S, const ak_router_config *cfg, sweep_row *r, char *err, size_t errlen) {
    ak_context *c = S->s.ctx;
    if (ak_context_set_routing(c, cfg, err, errlen)) return -1;
    ak_context_reset_stats(c);
    ak_kl_init(&S->kl);
    S->mismatch = 0;
    ak_ppl_params pp = S->pp;
    pp.on_logits = cfg ? add_kl : store_base;
    pp.user = S;
    ak_ppl_result res;
    const double t0 = now_seconds();
    if (ak_perplexity(c, S->eval_tokens, S->n_eval, &pp, &res, err, errlen)) return -1;
    if (S->mismatch) {
        snprintf(err, errlen, "internal: the base run's tokens differ");
        return -1;
    }
    S->n_scored = res.n_scored;
    r->avg_k = ak_session_avg_k(&S->s);
    ak_compute_counters cc;
    ak_context_counters(c, &cc);
    r->expert_saved = saved(cc.expert_macs, cc.expert_macs_native);
    r->model_saved = saved(cc.model_macs, cc.model_macs_native);
    r->bytes_saved = saved(cc.expert_bytes_read, cc.expert_bytes_read_native);
    r->ppl = res.ppl;
    r->ppl_err = res.ppl_err;
    if (cfg) {
        ak_kl_summary k;
        ak_kl_summarize(&S->kl, &k);
        r->ratio = k.ratio, r->ratio_err = k.ratio_err;
        r->kld = k.kld, r->kld_err = k.kld_err;
        r->same_top = k.same_top, r->same_top_err = k.same_top_err;
    } else { /* the base itself: the engine is deterministic */
        r->ratio = 1, r->ratio_err = 0, r->kld = 0, r->kld_err = 0, r->same_top = 1, r->same_top_err = 0;
    }
    if (decode_speed(S, cfg, &r->decode_tps, &r->decode_rel, err, errlen)) return -1;
    if (!cfg) S->native_tps = r->decode_tps;
    r->seconds = now_seconds() - t0;
    r->ok = 1;
    return 0;
}

/* ---------------------------------------------------------------- output */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

static const char *series_name(const sweep_row *r, char *buf, size_t len) {
    if (r->k) snprintf(buf, len, "fixed top-k");
    else snprintf(buf, len, "%s%s", r->policy, r->per_layer ? " (per layer)" : "");
    return buf;
}

static int write_csv(const sweep *S, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("policy,mode,k,target_avg_k,calib_avg_k,avg_k,ppl,ppl_err,ppl_ratio,ppl_ratio_err,kld,kld_err,same_top,"
          "same_top_err,expert_macs_saved,model_macs_saved,expert_bytes_saved,decode_tok_s,decode_speedup,status,"
          "params\n",
          f);
    for (int i = 0; i < S->n_rows; i++) {
        const sweep_row *r = &S->rows[i];
        fprintf(f, "%s,%s,%d,", r->policy, r->k ? "fixed" : r->per_layer ? "per-layer" : "global", r->k);
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

static int write_json(const sweep *S, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("{\n  \"model\": ", f);
    json_str(f, S->model_path);
    fputs(",\n  \"text\": ", f);
    json_str(f, S->text_path);
    fputs(",\n  \"calibration\": ", f);
    json_str(f, S->calib_path ? S->calib_path : "first third of the text's tokens");
    fprintf(f, ",\n  \"n_ctx\": %d,\n  \"eval_tokens\": %d,\n  \"scored_tokens\": %lld,\n  \"calib_tokens\": %d,\n",
            S->n_ctx, S->n_eval, (long long)S->n_scored, S->n_calib);
    fprintf(f, "  \"n_experts\": %d,\n  \"k_native\": %d,\n  \"n_layers\": %d,\n", S->hp->n_expert,
            S->hp->n_expert_used, S->hp->n_layer);
    fprintf(f, "  \"decode\": {\"prompt_tokens\": %d, \"tokens\": %d, \"reps\": %d, \"native_tok_s\": ",
            S->prompt_tokens, S->decode_tokens, S->decode_reps);
    json_num(f, S->native_tps);
    fputs("},\n  \"rows\": [", f);
    for (int i = 0; i < S->n_rows; i++) {
        const sweep_row *r = &S->rows[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"policy\": ", f);
        json_str(f, r->policy);
        fprintf(f, ", \"mode\": \"%s\", \"k\": %d, \"target_avg_k\": ", r->k ? "fixed" : r->per_layer ? "per-layer" : "global",
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
            json_str(f, r->params);
        } else {
            fputs(", \"note\": ", f);
            json_str(f, r->note);
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

static int write_plot(const sweep *S, const char *svg_path, const char *png_path) {
    static const char *const names[7] = {"fixed top-k", "entropy", "entropy (per layer)", "top-p",
                                         "top-p (per layer)", "ratio", "ratio (per layer)"};
    static const char *const colors[7] = {"#000000", "#d62728", "#d62728", "#1f77b4", "#1f77b4", "#2ca02c", "#2ca02c"};
    double *xs = calloc((size_t)S->n_rows * 7 + 1, sizeof *xs), *ys = calloc((size_t)S->n_rows * 7 + 1, sizeof *ys),
           *ks = calloc((size_t)S->n_rows * 7 + 1, sizeof *ks);
    point *pts = calloc((size_t)S->n_rows + 1, sizeof *pts);
    ak_plot_series ppl[7], kl[7];
    int n_series = 0;
    if (!xs || !ys || !ks || !pts) goto oom;
    for (int s = 0; s < 7; s++) {
        int n = 0;
        for (int i = 0; i < S->n_rows; i++) {
            char buf[64];
            const sweep_row *r = &S->rows[i];
            if (r->ok && !strcmp(series_name(r, buf, sizeof buf), names[s]))
                pts[n++] = (point){r->avg_k, r->ratio, r->kld};
        }
        if (!n) continue;
        qsort(pts, (size_t)n, sizeof *pts, cmp_point);
        double *x = xs + (size_t)s * S->n_rows, *y = ys + (size_t)s * S->n_rows, *k = ks + (size_t)s * S->n_rows;
        for (int i = 0; i < n; i++) x[i] = pts[i].x, y[i] = pts[i].y, k[i] = pts[i].y2;
        ppl[n_series] = (ak_plot_series){names[s], colors[s], s > 0 && s % 2 == 0, n, x, y};
        kl[n_series] = (ak_plot_series){names[s], colors[s], s > 0 && s % 2 == 0, n, x, k};
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
             S->calib_path ? S->calib_path : "the first third of the text", S->hp->n_expert_used, S->hp->n_expert);
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

static int write_outputs(const sweep *S) {
    char path[1200], png[1200];
    snprintf(path, sizeof path, "%s/sweep.csv", S->out_dir);
    if (write_csv(S, path)) goto fail;
    snprintf(path, sizeof path, "%s/sweep.json", S->out_dir);
    if (write_json(S, path)) goto fail;
    snprintf(path, sizeof path, "%s/sweep.svg", S->out_dir);
    snprintf(png, sizeof png, "%s/sweep.png", S->out_dir);
    int rc = write_plot(S, path, png);
    if (rc == -2) fprintf(stderr, "sweep: rsvg-convert could not write %s\n", png);
    else if (rc) goto fail;
    return 0;
fail:
    fprintf(stderr, "sweep: cannot write %s\n", path);
    return -1;
}

/* ---------------------------------------------------------------- the sweep */

static sweep_row *new_row(sweep *S) {
    if (S->n_rows == S->cap_rows) {
        int cap = S->cap_rows ? 2 * S->cap_rows : 64;
        sweep_row *r = realloc(S->rows, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        S->rows = r;
        S->cap_rows = cap;
    }
    sweep_row *r = &S->rows[S->n_rows++];
    memset(r, 0, sizeof *r);
    r->target = NAN;
    r->calib_avg_k = NAN;
    return r;
}

static void describe_config(const ak_router_config *cfg, char *buf, size_t len) {
    if (!cfg->n_layers) {
        ak_policy_describe(&cfg->default_policy, buf, len);
        return;
    }
    size_t used = 0;
    buf[0] = 0;
    for (int l = 0; l < cfg->n_layers && used + 1 < len; l++) {
        char d[200];
        ak_policy_describe(&cfg->layers[l], d, sizeof d);
        int w = snprintf(buf + used, len - used, "%sL%d: %s", l ? "; " : "", l, d);
        if (w < 0) break;
        used += (size_t)w;
    }
}

static ak_policy start_policy(int which, const ak_hparams *hp) {
    const int K = hp->n_expert_used;
    if (which == 1) return ak_policy_top_p(0.5f, 1, K);
    if (which == 2) return ak_policy_ratio(0.5f, 1, K);
    if (K == 4) return ak_policy_entropy_default(); /* the seeds' method: k={1,2,4}, h={0.6,1.2} shape */
    int kv[3] = {1, K / 2, K}, n = 0, levels[3];
    for (int i = 0; i < 3; i++)
        if (n == 0 || kv[i] > levels[n - 1]) levels[n++] = kv[i];
    float zero[2] = {0, 0}; /* thresholds at entropy quantiles, then scaled */
    return ak_policy_entropy(n, levels, zero, AK_ENTROPY_NATS);
}

static void progress(const sweep *S, const sweep_row *r) {
    char name[64];
    if (r->ok)
        fprintf(stderr,
                "sweep: %-20s target %5.2f  avg K %.3f  PPL %.4f  ratio %.4f +/- %.4f  KLD %.5f  top-1 %.1f%%  "
                "expert MACs saved %.1f%%  decode x%.3f  (%.0f s)\n",
                series_name(r, name, sizeof name), isfinite(r->target) ? r->target : (double)r->k, r->avg_k, r->ppl,
                r->ratio, r->ratio_err, r->kld, 100 * r->same_top, 100 * r->expert_saved, r->decode_rel, r->seconds);
    else
        fprintf(stderr, "sweep: %-20s target %5.2f  skipped: %s\n", series_name(r, name, sizeof name), r->target,
                r->note);
    (void)S;
}

static int run_sweep(sweep *S, char *err, size_t errlen) {
    const ak_hparams *hp = S->hp;
    const int K = hp->n_expert_used;
    /* 1. calibration logits, native top-k */
    ak_router_record rec;
    if (ak_router_record_init(&rec, hp->n_layer, hp->n_expert, S->n_calib > S->n_ctx ? S->n_calib : S->n_ctx, err,
                              errlen))
        return -1;
    ak_context_set_router_logits_sink(S->s.ctx, ak_router_record_sink, &rec);
    ak_ppl_params cp = S->pp;
    cp.n_chunks = S->calib_chunks;
    ak_ppl_result cres;
    int rc = -1;
    if (ak_perplexity(S->s.ctx, S->calib_tokens, S->n_calib, &cp, &cres, err, errlen)) goto done;
    ak_context_set_router_logits_sink(S->s.ctx, NULL, NULL);
    if (ak_router_record_finish(&rec, err, errlen) < 0) goto done;
    fprintf(stderr, "sweep: calibration: %lld tokens x %d layers of router logits (calibration PPL %.4f)\n",
            (long long)rec.cap, hp->n_layer, cres.ppl);

    /* 2. the native run: base of the KL divergence and the fixed K = native row */
    const int whole = S->n_eval / S->n_ctx;
    const int n_run = S->n_chunks > 0 && S->n_chunks < whole ? S->n_chunks : whole;
    if (ak_logprobs_init(&S->base, hp->n_vocab, S->n_ctx, n_run, err, errlen)) goto done;
    sweep_row *r = new_row(S);
    if (!r) goto oom;
    snprintf(r->policy, sizeof r->policy, "fixed");
    r->k = K;
    snprintf(r->params, sizeof r->params, "native top-%d", K);
    if (evaluate(S, NULL, r, err, errlen)) goto done;
    progress(S, r);
    if (write_outputs(S)) goto done;

    /* 3. fixed K */
    for (int k = 1; k <= S->k_max; k++) {
        if (k == K) continue;
        ak_router_config cfg;
        memset(&cfg, 0, sizeof cfg);
        snprintf(cfg.name, sizeof cfg.name, "fixed-%d", k);
        cfg.n_experts = hp->n_expert;
        cfg.k_native = K;
        cfg.renormalize = hp->renormalize;
        cfg.default_policy = ak_policy_fixed(k);
        if (!(r = new_row(S))) goto oom;
        snprintf(r->policy, sizeof r->policy, "fixed");
        r->k = k;
        ak_policy_describe(&cfg.default_policy, r->params, sizeof r->params);
        if (evaluate(S, &cfg, r, err, errlen)) goto done;
        progress(S, r);
        if (write_outputs(S)) goto done;
    }

    /* 4. calibrated policies: for each target, global first, then per layer */
    for (int mode = 0; mode <= S->per_layer_too; mode++)
        for (int t = 0; t < S->n_targets; t++)
            for (int which = 0; which < 3; which++) {
                if (!S->use_policy[which]) continue;
                if (!(r = new_row(S))) goto oom;
                const ak_policy base = start_policy(which, hp);
                snprintf(r->policy, sizeof r->policy, "%s", ak_policy_kind_name(base.kind));
                r->per_layer = mode;
                r->target = S->targets[t];
                ak_router_config cfg;
                char cerr[280];
                if (ak_calibrate_on_record(&rec, hp, &base, r->target, mode, &cfg, &r->calib_avg_k, cerr,
                                           sizeof cerr)) {
                    snprintf(r->note, sizeof r->note, "calibration: %s", cerr);
                    progress(S, r);
                    if (write_outputs(S)) goto done;
                    continue;
                }
                describe_config(&cfg, r->params, sizeof r->params);
                int e = evaluate(S, &cfg, r, err, errlen);
                ak_config_free(&cfg);
                if (e) goto done;
                progress(S, r);
                if (write_outputs(S)) goto done;
            }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    ak_context_set_router_logits_sink(S->s.ctx, NULL, NULL);
    ak_router_record_free(&rec);
    return rc;
}

/* ---------------------------------------------------------------- command line */

static int parse_targets(const char *v, sweep *S) {
    S->n_targets = 0;
    const char *p = v;
    while (*p) {
        char buf[64];
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof buf || S->n_targets == MAX_TARGETS) return -1;
        memcpy(buf, p, n);
        buf[n] = 0;
        double x;
        if (ak_cli_parse_double(buf, &x) || x <= 0) return -1;
        S->targets[S->n_targets++] = x;
        p += n;
        if (*p == ',') p++;
    }
    return S->n_targets ? 0 : -1;
}

static int parse_policies(const char *v, sweep *S) {
    static const char *const names[3] = {"entropy", "top-p", "ratio"};
    memset(S->use_policy, 0, sizeof S->use_policy);
    const char *p = v;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (strlen(names[i]) == n && !strncmp(p, names[i], n)) S->use_policy[i] = 1, found = 1;
        if (!found) return -1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static int load_tokens(sweep *S, const char *path, int32_t **out, char *err, size_t errlen) {
    size_t len = 0;
    char *text = ak_cli_read_text(path, &len, err, errlen);
    if (!text) return -1;
    int n = ak_session_tokenize(&S->s, text, len, ak_tokenizer_add_bos(S->s.tok), out, err, errlen);
    free(text);
    return n;
}

int cmd_sweep(int argc, char **argv) {
    sweep S;
    memset(&S, 0, sizeof S);
    S.out_dir = "sweep-out";
    S.n_ctx = 512;
    S.n_chunks = -1;
    S.calib_chunks = -1;
    S.k_max = -1;
    S.per_layer_too = 1;
    S.use_policy[0] = S.use_policy[1] = S.use_policy[2] = 1;
    S.decode_tokens = 64;
    S.prompt_tokens = 32;
    S.decode_reps = 3;
    S.native_tps = NAN;
    const char *targets_arg = NULL;
    const ak_cli_str_flag strs[] = {{"-m", "--model", &S.model_path}, {"-f", "--file", &S.text_path},
                                    {"-o", "--out", &S.out_dir},      {"--calib", NULL, &S.calib_path},
                                    {"--title", NULL, &S.title},      {"--targets", NULL, &targets_arg}};
    const ak_cli_int_flag ints[] = {
        {"-c", NULL, &S.n_ctx, 4, 1 << 20},          {"--chunks", NULL, &S.n_chunks, 1, 1 << 30},
        {"--calib-chunks", NULL, &S.calib_chunks, 1, 1 << 30}, {"-t", NULL, &S.n_threads, 1, 4096},
        {"--k-max", NULL, &S.k_max, 1, AK_MAX_EXPERTS}, {"--decode-tokens", NULL, &S.decode_tokens, 1, 4096},
        {"--prompt-tokens", NULL, &S.prompt_tokens, 1, 1 << 20}, {"--decode-reps", NULL, &S.decode_reps, 1, 15}};
    const ak_cli_bool_flag bools[] = {{"--no-per-layer", &S.per_layer_too, 0}};
    ak_cli_args args = {.cmd = "sweep", .usage = usage, .strs = strs, .n_strs = AK_CLI_COUNT(strs),
                        .ints = ints, .n_ints = AK_CLI_COUNT(ints), .bools = bools, .n_bools = AK_CLI_COUNT(bools)};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--policies", &v))) {
            if (r < 0) return 2;
            if (parse_policies(v, &S)) {
                fprintf(stderr, "sweep: --policies takes a list of entropy, top-p, ratio, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_take(&args, argc, argv, &i)) >= 0) return r;
    }
    if (!S.model_path || !S.text_path) {
        fprintf(stderr, "sweep: -m FILE and -f TEXT are required (see --help)\n");
        return 2;
    }
    if (targets_arg && parse_targets(targets_arg, &S)) {
        fprintf(stderr, "sweep: --targets needs a comma-separated list of positive numbers (at most %d), not '%s'\n",
                MAX_TARGETS, targets_arg);
        return 2;
    }
    if (mkdir(S.out_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "sweep: cannot create the folder %s\n", S.out_dir);
        return 1;
    }

    char err[600];
    if (ak_session_load(&S.s, S.model_path, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        return 1;
    }
    S.hp = ak_model_hparams(S.s.model);
    const ak_hparams *hp = S.hp;
    int rc = 1;
    if (S.n_ctx > hp->n_ctx_train && hp->n_ctx_train > 0) S.n_ctx = hp->n_ctx_train;
    if (S.k_max < 0) S.k_max = 2 * hp->n_expert_used < hp->n_expert ? 2 * hp->n_expert_used : hp->n_expert;
    if (S.k_max > hp->n_expert) S.k_max = hp->n_expert;
    if (!targets_arg) {
        static const double f[6] = {0.375, 0.5, 0.625, 0.75, 0.875, 0.9375};
        S.n_targets = 0;
        for (int i = 0; i < 6; i++)
            if (f[i] * hp->n_expert_used > 1.0) S.targets[S.n_targets++] = f[i] * hp->n_expert_used;
    }
    if (ak_session_start(&S.s, S.n_ctx, S.n_ctx, S.n_threads, NULL, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        goto done;
    }
    int32_t *all = NULL;
    int n_all = load_tokens(&S, S.text_path, &all, err, sizeof err);
    if (n_all < 0) {
        fprintf(stderr, "sweep: %s\n", err);
        goto done;
    }
    if (S.calib_path) {
        S.eval_tokens = all;
        S.n_eval = n_all;
        S.n_calib = load_tokens(&S, S.calib_path, &S.calib_tokens, err, sizeof err);
        if (S.n_calib < 0) {
            fprintf(stderr, "sweep: %s\n", err);
            goto done;
        }
    } else { /* calibrate on the first third, evaluate on the rest: never on the same tokens */
        S.n_calib = n_all / 3;
        S.calib_tokens = all;
        S.eval_tokens = malloc(((size_t)(n_all - S.n_calib) + 1) * sizeof *S.eval_tokens);
        if (!S.eval_tokens) {
            fprintf(stderr, "sweep: out of memory\n");
            S.eval_tokens = NULL;
            goto done;
        }
        S.n_eval = n_all - S.n_calib;
        memcpy(S.eval_tokens, all + S.n_calib, (size_t)S.n_eval * sizeof *all);
        fprintf(stderr, "sweep: no --calib: calibrating on the first %d tokens, evaluating on the other %d\n",
                S.n_calib, S.n_eval);
    }
    if (S.n_eval < 2 * S.n_ctx || S.n_calib < 2 * S.n_ctx) {
        fprintf(stderr, "sweep: the evaluation (%d tokens) and calibration (%d tokens) texts need at least 2 x -c = %d "
                        "tokens each\n", S.n_eval, S.n_calib, 2 * S.n_ctx);
        goto done;
    }
    S.pp = ak_cli_ppl_params(&S.s, S.n_ctx, S.n_ctx, S.n_chunks);
    S.base_logp = malloc((size_t)hp->n_vocab * sizeof *S.base_logp);
    if (!S.base_logp) {
        fprintf(stderr, "sweep: out of memory\n");
        goto done;
    }
    fprintf(stderr, "sweep: %s: %s, %d evaluation tokens, -c %d, native top-%d of %d experts, %d threads -> %s/\n",
            S.model_path, hp->arch, S.n_eval, S.n_ctx, hp->n_expert_used, hp->n_expert,
            ak_context_n_threads(S.s.ctx), S.out_dir);
    if (run_sweep(&S, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        goto done;
    }
    printf("sweep: %d rows written to %s/sweep.csv, sweep.json, sweep.svg and sweep.png\n", S.n_rows, S.out_dir);
    rc = 0;
done:
    if (S.calib_path) {
        free(S.eval_tokens);
        free(S.calib_tokens);
    } else {
        free(S.calib_tokens);
        free(S.eval_tokens);
    }
    free(S.base_logp);
    free(S.rows);
    ak_logprobs_free(&S.base);
    ak_session_close(&S.s);
    return rc;
}
