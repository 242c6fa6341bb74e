/* sweep.c - the sweep's method: the rows it runs and how each is measured (see sweep.h);
 * sweep_report.c writes them. */
#include "eval/sweep.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/calib.h"
#include "eval/profile.h"
#include "base/errfmt.h"
#include "base/clock.h"

void ak_sweep_init(ak_sweep *S) {
    memset(S, 0, sizeof *S);
    S->out_dir = "sweep-out";
    S->n_ctx = 512;
    S->n_chunks = -1;
    S->calib_chunks = -1;
    S->k_max = -1;
    S->per_layer_too = 1;
    S->use_policy[0] = S->use_policy[1] = S->use_policy[2] = 1;
    S->use_alloc[AK_RULE_THRESHOLD] = 1;
    S->exact_chunks = 16;
    S->decode_tokens = 64;
    S->prompt_tokens = 32;
    S->decode_reps = 3;
    S->native_tps = NAN;
}

void ak_sweep_free(ak_sweep *S) {
    free(S->rows);
    ak_compare_base_free(S->base);
    S->rows = NULL;
    S->base = NULL;
}

/* ---------------------------------------------------------------- evaluation */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time of decode_tokens greedy single-token steps after a prompt of the first
 * prompt_tokens evaluation tokens (BOS first when the vocabulary adds it). */
static int decode_time(ak_sweep *S, double *seconds, ak_error *err) {
    ak_context *c = S->s->ctx;
    int P = S->prompt_tokens < S->n_eval ? S->prompt_tokens : S->n_eval;
    if (P + S->decode_tokens > ak_context_n_ctx(c)) P = ak_context_n_ctx(c) - S->decode_tokens;
    if (P < 1) P = 1;
    ak_context_reset(c);
    if (ak_decode(c, S->eval_tokens, P, err)) return -1;
    double t = 0;
    for (int i = 0; i < S->decode_tokens; i++) {
        const float *lg = ak_get_logits(c, -1);
        int32_t best = 0;
        for (int v = 1; v < ak_model_hparams(S->s->model)->n_vocab; v++)
            if (lg[v] > lg[best]) best = v;
        const double t0 = ak_now();
        if (ak_decode(c, &best, 1, err)) return -1;
        t += ak_now() - t0;
    }
    *seconds = t;
    return 0;
}

/* Decode tokens/s with cfg (median of decode_reps runs) and the speed-up over the native
 * top-k: native and cfg runs alternate, and the speed-up is the median of the per-pair
 * ratios, so that load from other processes on a shared machine affects both alike. */
static int decode_speed(ak_sweep *S, const ak_router_config *cfg, double *tps, double *speedup, ak_error *err) {
    double t_cfg[16], ratio[16];
    for (int rep = 0; rep < S->decode_reps; rep++) {
        double tn = 0, tc = 0;
        if (cfg && (ak_context_set_routing(S->s->ctx, NULL, err) || decode_time(S, &tn, err)))
            return -1;
        if (ak_context_set_routing(S->s->ctx, cfg, err) || decode_time(S, &tc, err)) return -1;
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
static int evaluate(ak_sweep *S, const ak_router_config *cfg, ak_sweep_row *r, ak_error *err) {
    ak_context *c = S->s->ctx;
    ak_compare m;
    const double t0 = ak_now();
    if (ak_compare_run(c, S->eval_tokens, S->n_eval, &S->pp, cfg, &S->base, &m, err)) return -1;
    S->n_scored = m.ppl.n_scored;
    r->avg_k = m.avg_k;
    ak_compute_counters cc;
    ak_context_counters(c, &cc);
    r->expert_saved = saved(cc.expert_macs, cc.expert_macs_native);
    r->model_saved = saved(cc.model_macs, cc.model_macs_native);
    r->bytes_saved = saved(cc.expert_bytes_read, cc.expert_bytes_read_native);
    r->ppl = m.ppl.ppl, r->ppl_err = m.ppl.ppl_err;
    r->ratio = m.kl.ratio, r->ratio_err = m.kl.ratio_err;
    r->kld = m.kl.kld, r->kld_err = m.kl.kld_err;
    r->same_top = m.kl.same_top, r->same_top_err = m.kl.same_top_err;
    if (decode_speed(S, cfg, &r->decode_tps, &r->decode_rel, err)) return -1;
    if (!cfg) S->native_tps = r->decode_tps;
    r->seconds = ak_now() - t0;
    r->ok = 1;
    return 0;
}

/* ---------------------------------------------------------------- the sweep */

static ak_sweep_row *new_row(ak_sweep *S) {
    if (S->n_rows == S->cap_rows) {
        int cap = S->cap_rows ? 2 * S->cap_rows : 64;
        ak_sweep_row *r = realloc(S->rows, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        S->rows = r;
        S->cap_rows = cap;
    }
    ak_sweep_row *r = &S->rows[S->n_rows++];
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

static const char *mode_suffix(ak_sweep_mode m) {
    return m == AK_SWEEP_PER_LAYER ? " (per layer)" : m == AK_SWEEP_ALLOCATED ? " (allocated)" : "";
}

static void progress(const ak_sweep_row *r, FILE *log) {
    if (!log) return;
    char name[64];
    snprintf(name, sizeof name, "%s%s", r->k ? "fixed top-k" : r->policy, mode_suffix(r->mode));
    if (r->ok)
        fprintf(log,
                "sweep: %-22s target %5.2f  avg K %.3f  PPL %.4f  ratio %.4f +/- %.4f  KLD %.5f  top-1 %.1f%%  "
                "expert MACs saved %.1f%%  decode x%.3f  (%.0f s)\n",
                name, isfinite(r->target) ? r->target : (double)r->k, r->avg_k, r->ppl, r->ratio, r->ratio_err, r->kld,
                100 * r->same_top, 100 * r->expert_saved, r->decode_rel, r->seconds);
    else
        fprintf(log, "sweep: %-22s target %5.2f  skipped: %s\n", name, r->target, r->note);
}

/* Evaluates cfg into row r (NULL: native), reports it and rewrites the outputs. */
static int finish_row(ak_sweep *S, ak_sweep_row *r, const ak_router_config *cfg, FILE *log, ak_error *err) {
    if (cfg && !r->params[0]) describe_config(cfg, r->params, sizeof r->params);
    if (!r->note[0] && evaluate(S, cfg, r, err)) return -1;
    progress(r, log);
    return ak_sweep_write(S, log) ? ak_failf(err, AK_ERR_IO, "cannot write the outputs into %s", S->out_dir) : 0;
}

static ak_sweep_row *row_of(ak_sweep *S, const char *policy, ak_sweep_mode mode, double target, int k) {
    ak_sweep_row *r = new_row(S);
    if (!r) return NULL;
    snprintf(r->policy, sizeof r->policy, "%s", policy);
    r->mode = mode, r->target = target, r->k = k;
    return r;
}

/* The native run (base of the KL divergence), then fixed K = 1..k_max. */
static int fixed_rows(ak_sweep *S, FILE *log, ak_error *err) {
    const ak_hparams *hp = ak_model_hparams(S->s->model);
    const int K = hp->n_expert_used;
    ak_sweep_row *r = row_of(S, "fixed", AK_SWEEP_FIXED, NAN, K);
    if (!r) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    snprintf(r->params, sizeof r->params, "native top-%d", K);
    if (finish_row(S, r, NULL, log, err)) return -1;
    for (int k = 1; k <= S->k_max; k++) {
        if (k == K) continue;
        ak_router_config cfg = ak_config_uniform(hp->n_expert, K, hp->renormalize, ak_policy_fixed(k));
        snprintf(cfg.name, sizeof cfg.name, "fixed-%d", k);
        if (!(r = row_of(S, "fixed", AK_SWEEP_FIXED, NAN, k))) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        if (finish_row(S, r, &cfg, log, err)) return -1;
    }
    return 0;
}

/* entropy, top-p and ratio calibrated to every target: one parameter, then per layer. */
static int calibrated_rows(ak_sweep *S, const ak_router_record *rec, FILE *log, ak_error *err) {
    const ak_hparams *hp = ak_model_hparams(S->s->model);
    for (int mode = 0; mode <= S->per_layer_too; mode++)
        for (int t = 0; t < S->n_targets; t++)
            for (int which = 0; which < 3; which++) {
                if (!S->use_policy[which]) continue;
                const ak_policy base = start_policy(which, hp);
                ak_sweep_row *r = row_of(S, ak_policy_kind_name(base.kind), mode ? AK_SWEEP_PER_LAYER : AK_SWEEP_GLOBAL,
                                         S->targets[t], 0);
                if (!r) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
                ak_router_config cfg;
                ak_error cerr;
                memset(&cfg, 0, sizeof cfg);
                ak_error ve;
                if (ak_calibrate_on_record(rec, hp, &base, r->target, mode, &cfg, &r->calib_avg_k, &cerr))
                    snprintf(r->note, sizeof r->note, "calibration: %s", cerr.msg);
                else if (ak_config_validate(&cfg, &ve) != AK_OK)
                    snprintf(r->note, sizeof r->note, "calibrated config: %s", ve.msg);
                int e = finish_row(S, r, &cfg, log, err);
                ak_config_free(&cfg);
                if (e) return -1;
            }
    return 0;
}

/* Per-layer budgets (allocate.h) for every target and every requested rule. */
static int allocated_rows(ak_sweep *S, const ak_profile *p, FILE *log, ak_error *err) {
    for (int t = 0; t < S->n_targets; t++)
        for (int rule = 0; rule < AK_RULE_COUNT; rule++) {
            if (!S->use_alloc[rule]) continue;
            ak_sweep_row *r = row_of(S, ak_alloc_rule_name((ak_alloc_rule)rule), AK_SWEEP_ALLOCATED, S->targets[t], 0);
            if (!r) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
            ak_allocation a;
            ak_router_config cfg;
            ak_error aerr;
            memset(&cfg, 0, sizeof cfg);
            if (ak_allocate(p, (ak_alloc_rule)rule, r->target, &a, &cfg, &aerr))
                snprintf(r->note, sizeof r->note, "allocation: %s", aerr.msg);
            else
                r->calib_avg_k = a.achieved;
            ak_allocation_free(&a);
            int e = finish_row(S, r, &cfg, log, err);
            ak_config_free(&cfg);
            if (e) return -1;
        }
    return 0;
}

static int any_alloc(const ak_sweep *S) {
    for (int r = 0; r < AK_RULE_COUNT; r++)
        if (S->use_alloc[r]) return 1;
    return 0;
}

int ak_sweep_run(ak_sweep *S, FILE *log, ak_error *err) {
    const ak_hparams *hp = ak_model_hparams(S->s->model);
    if (S->k_max < 0) S->k_max = 2 * hp->n_expert_used < hp->n_expert ? 2 * hp->n_expert_used : hp->n_expert;
    if (S->k_max > hp->n_expert) S->k_max = hp->n_expert;
    S->pp = ak_session_ppl_params(S->s, S->n_ctx, S->n_ctx, S->n_chunks);
    /* 1. the calibration text at native top-k: router logits and, for allocations, a profile */
    ak_profile p;
    int rc = -1;
    if (ak_profile_init(&p, S->s->model, S->n_calib > S->n_ctx ? S->n_calib : S->n_ctx, err)) return -1;
    ak_ppl_params cp = ak_session_ppl_params(S->s, S->n_ctx, S->n_ctx, S->calib_chunks);
    if (ak_profile_run(&p, S->s->ctx, S->calib_tokens, S->n_calib, &cp, any_alloc(S) ? S->exact_chunks : 0, NULL, err))
        goto done;
    if (log)
        fprintf(log, "sweep: calibration: %lld tokens x %d MoE layers of router logits (calibration PPL %.4f)\n",
                (long long)p.n_tokens, p.n_layer, p.base_ppl);
    /* 2. the native run (base of the KL divergence), fixed K, calibrated policies, budgets,
     * each with the early exit / pruning asked for */
    S->pp.split_context = S->has_skip;
    if (S->has_skip && ak_context_set_skip(S->s->ctx, &S->skip, err)) goto done;
    if (fixed_rows(S, log, err) || calibrated_rows(S, &p.router, log, err) ||
        allocated_rows(S, &p, log, err))
        goto done;
    rc = 0;
done:
    ak_profile_free(&p);
    return rc;
}
