/* calibrate.c - fit one policy parameter so that the average K hits a target.
 *
 * The average K over a sample is a monotone step function of the parameter:
 *   entropy: thresholds * s (non-increasing in s),  top-p: p (non-decreasing),
 *   ratio: r (non-increasing),  threshold: p_min (non-increasing).
 * We bracket the reachable range with the extreme parameters, bisect (in log space for s
 * and r, linearly for p), evaluate every candidate exactly as ak_route would route with it,
 * and keep the candidate whose average K is closest to the target. Method and limits:
 * docs/calibration.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "router/router_internal.h"

#define BISECT_STEPS 100

typedef struct {
    ak_policy base;   /* the layer's policy before calibration */
    int n_experts;
    int n_tokens;
    const float *h;   /* [n_tokens] entropies in nats (entropy policies) */
    const float *top; /* [n_tokens][m] descending top probabilities (top-p, ratio) */
    int m;
} layer_data;

static ak_policy with_param(const ak_policy *base, double x) {
    ak_policy p = *base;
    switch (p.kind) {
    case AK_POLICY_ENTROPY:
        for (int i = 0; i + 1 < p.n_levels; i++) p.thresholds[i] = (float)(base->thresholds[i] * x);
        break;
    case AK_POLICY_TOP_P: p.top_p = (float)x; break;
    case AK_POLICY_RATIO: p.ratio = (float)x; break;
    case AK_POLICY_THRESHOLD: p.p_min = (float)x; break;
    case AK_POLICY_FIXED: break;
    }
    return p;
}

static double layer_k_sum(const layer_data *d, const ak_policy *p) {
    double sum = 0.0;
    if (p->kind == AK_POLICY_ENTROPY) {
        float thr[AK_MAX_LEVELS];
        ak_policy_thresholds_nats(p, d->n_experts, thr);
        for (int t = 0; t < d->n_tokens; t++) sum += ak_entropy_level_k(p, thr, d->h[t]);
    } else {
        for (int t = 0; t < d->n_tokens; t++)
            sum += ak_select_k_nats(p, d->top + (size_t)t * (size_t)d->m, d->m, 0.0f, NULL);
    }
    return sum;
}

/* Average K over all layers with parameter x applied to each layer's policy. */
static double eval_avg(const layer_data *d, int n_layers, double x) {
    double sum = 0.0, n = 0.0;
    for (int l = 0; l < n_layers; l++) {
        ak_policy p = with_param(&d[l].base, x);
        sum += layer_k_sum(&d[l], &p);
        n += d[l].n_tokens;
    }
    return sum / n;
}

/* Bisection over x in [lo, hi] (log space when use_log). On success *x_best holds the
 * parameter whose average K is closest to target. */
static ak_status bisect(const layer_data *d, int n_layers, double target, double lo, double hi,
                        int use_log, double *x_best, double *achieved, ak_error *err) {
    double flo = eval_avg(d, n_layers, lo), fhi = eval_avg(d, n_layers, hi);
    double f_min = fmin(flo, fhi), f_max = fmax(flo, fhi);
    if (target < f_min - 1e-9 || target > f_max + 1e-9)
        return ak_error_setf(err, AK_ERR_CONFIG,
                       "calibration: target average K %.4g is outside what this policy can reach "
                       "on the sample [%.4g, %.4g]", target, f_min, f_max);
    double best_x = lo, best_f = flo;
    if (fabs(fhi - target) < fabs(flo - target)) {
        best_x = hi;
        best_f = fhi;
    }
    double a = use_log ? log(lo) : lo, b = use_log ? log(hi) : hi, fa = flo;
    for (int i = 0; i < BISECT_STEPS && best_f != target; i++) {
        double mid = 0.5 * (a + b);
        double x = use_log ? exp(mid) : mid;
        double f = eval_avg(d, n_layers, x);
        if (fabs(f - target) < fabs(best_f - target)) {
            best_x = x;
            best_f = f;
        }
        if ((f - target) * (fa - target) > 0.0) {
            a = mid;
            fa = f;
        } else {
            b = mid;
        }
    }
    *x_best = best_x;
    if (achieved) *achieved = best_f;
    return AK_OK;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* An entropy policy whose thresholds are all zero has none yet: place them at equally
 * spaced quantiles of the sample entropies (the shape), which the scale then adjusts. */
static ak_status init_thresholds(ak_policy *p, const float *h, int n_tokens, int n_experts,
                                 ak_error *err) {
    int all_zero = 1;
    for (int i = 0; i + 1 < p->n_levels; i++) all_zero &= p->thresholds[i] == 0.0f;
    if (!all_zero || p->n_levels < 2) return AK_OK;
    float *sorted = malloc((size_t)n_tokens * sizeof *sorted);
    if (!sorted) return ak_error_setf(err, AK_ERR_NOMEM, "calibration: out of memory");
    memcpy(sorted, h, (size_t)n_tokens * sizeof *sorted);
    qsort(sorted, (size_t)n_tokens, sizeof *sorted, cmp_float);
    for (int i = 0; i + 1 < p->n_levels; i++) {
        size_t at = (size_t)((double)(i + 1) / p->n_levels * (n_tokens - 1));
        p->thresholds[i] = ak_entropy_to_unit(sorted[at], p->unit, n_experts);
    }
    free(sorted);
    for (int i = 0; i + 1 < p->n_levels; i++)
        if (p->thresholds[i] <= 0.0f || (i > 0 && p->thresholds[i] <= p->thresholds[i - 1]))
            return ak_error_setf(err, AK_ERR_CONFIG,
                           "calibration: sample entropies are too concentrated to place %d "
                           "thresholds by quantiles", p->n_levels - 1);
    return AK_OK;
}

/* Calibrates the policies of n_layers layers with one shared parameter. */
static ak_status calibrate_layers(layer_data *d, int n_layers, double target, double *achieved,
                                  ak_policy **targets, ak_error *err) {
    ak_policy_kind kind = d[0].base.kind;
    for (int l = 0; l < n_layers; l++)
        if (d[l].base.kind != kind)
            return ak_error_setf(err, AK_ERR_CONFIG,
                           "calibration: one shared parameter needs the same policy kind in "
                           "every layer (layer %d is %s, layer 0 is %s)", l,
                           ak_policy_kind_name(d[l].base.kind), ak_policy_kind_name(kind));
    if (!(target > 0.0) || !isfinite(target))
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: target average K %g must be > 0",
                       target);
    double lo = 1.0, hi = 1.0, x = 1.0;
    int use_log = 0;
    switch (kind) {
    case AK_POLICY_FIXED:
        return ak_error_setf(err, AK_ERR_CONFIG,
                       "calibration: a fixed top-k policy has no parameter to calibrate");
    case AK_POLICY_ENTROPY: {
        float max_h = 0.0f;
        double min_thr = INFINITY;
        for (int l = 0; l < n_layers; l++) {
            if (d[l].base.n_levels < 2) continue;
            for (int t = 0; t < d[l].n_tokens; t++) max_h = fmaxf(max_h, d[l].h[t]);
            float thr[AK_MAX_LEVELS];
            ak_policy_thresholds_nats(&d[l].base, d[l].n_experts, thr);
            if (!(thr[0] > 0.0f))
                return ak_error_setf(err, AK_ERR_CONFIG,
                               "calibration: entropy thresholds must be positive to be scaled "
                               "(layer %d has %g)", l, (double)d[l].base.thresholds[0]);
            min_thr = fmin(min_thr, thr[0]);
        }
        if (!isfinite(min_thr)) { /* single-level policies: K is constant */
            lo = hi = 1.0;
        } else {
            lo = 1e-9;
            hi = 2.0 * ((double)max_h + 1.0) / min_thr; /* every threshold above every entropy */
        }
        use_log = 1;
        break;
    }
    case AK_POLICY_TOP_P:
        lo = 1e-9;
        hi = 1.0;
        use_log = 0;
        break;
    case AK_POLICY_RATIO:
    case AK_POLICY_THRESHOLD:
        lo = 1e-12;
        hi = 1.0;
        use_log = 1;
        break;
    default: return ak_error_setf(err, AK_ERR_CONFIG, "calibration: unknown policy kind");
    }
    ak_status st = bisect(d, n_layers, target, lo, hi, use_log, &x, achieved, err);
    if (st != AK_OK) return st;
    for (int l = 0; l < n_layers; l++) *targets[l] = with_param(&d[l].base, x);
    return AK_OK;
}

static ak_status check_sample(const float *data, int n_tokens, int n_experts, ak_error *err) {
    if (!data) return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: sample is NULL");
    if (n_tokens <= 0)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: n_tokens=%d, need at least one",
                       n_tokens);
    if (n_experts < 1 || n_experts > AK_MAX_EXPERTS)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: n_experts %d out of range 1..%d",
                       n_experts, AK_MAX_EXPERTS);
    return AK_OK;
}

/* Softmax every token once; keep the entropy (entropy policies) or the top-m probabilities. */
static ak_status prepare_layer(layer_data *d, const ak_policy *p, const float *logits,
                               int n_tokens, int n_experts, float *h, float *top, int layer,
                               ak_error *err) {
    d->base = *p;
    d->n_experts = n_experts;
    d->n_tokens = n_tokens;
    d->m = ak_policy_max_k(p, n_experts);
    d->h = h;
    d->top = top;
    float probs[AK_MAX_EXPERTS];
    int32_t ids[AK_MAX_EXPERTS];
    const ak_route_row_fn route_row = ak_route_row_select();
    const ak_softmax_row_fn softmax_row = ak_softmax_row_select();
    for (int t = 0; t < n_tokens; t++) {
        const float *z = logits + (size_t)t * (size_t)n_experts;
        float ht;
        /* the same kernel as ak_route, so the ranking (and ties) match exactly */
        int bad = top ? route_row(z, n_experts, d->m, probs, &ht, top + (size_t)t * (size_t)d->m, ids)
                      : softmax_row(z, n_experts, probs, &ht);
        if (bad >= 0)
            return ak_error_setf(err, AK_ERR_NONFINITE,
                           "calibration: layer %d: logit of token %d, expert %d is %s", layer, t,
                           bad, isnan(z[bad]) ? "NaN" : "Inf");
        if (h) h[t] = ht;
    }
    return AK_OK;
}

/* Allocates the per-token buffers of one layer (entropy or top-m) and fills them. */
static ak_status prepare_alloc(layer_data *d, ak_policy *p, const float *logits, int n_tokens,
                               int n_experts, int layer, void **owned, ak_error *err) {
    *owned = NULL;
    ak_status st;
    if (p->kind == AK_POLICY_ENTROPY) {
        float *h = malloc((size_t)n_tokens * sizeof *h);
        if (!h) return ak_error_setf(err, AK_ERR_NOMEM, "calibration: out of memory");
        *owned = h;
        st = prepare_layer(d, p, logits, n_tokens, n_experts, h, NULL, layer, err);
        if (st == AK_OK) st = init_thresholds(p, h, n_tokens, n_experts, err);
        d->base = *p;
    } else {
        int m = ak_policy_max_k(p, n_experts);
        float *top = malloc((size_t)n_tokens * (size_t)(m > 0 ? m : 1) * sizeof *top);
        if (!top) return ak_error_setf(err, AK_ERR_NOMEM, "calibration: out of memory");
        *owned = top;
        st = prepare_layer(d, p, logits, n_tokens, n_experts, NULL, top, layer, err);
    }
    return st;
}

static int thresholds_unset(const ak_policy *p) {
    if (p->kind != AK_POLICY_ENTROPY || p->n_levels < 2 || p->n_levels > AK_MAX_LEVELS) return 0;
    for (int i = 0; i + 1 < p->n_levels; i++)
        if (p->thresholds[i] != 0.0f) return 0;
    return 1;
}

/* Validates a policy, tolerating all-zero entropy thresholds (they get quantiles). */
static ak_status validate_for_calibration(const ak_policy *p, int n_experts, ak_error *err) {
    ak_policy probe = *p;
    if (thresholds_unset(&probe))
        for (int i = 0; i + 1 < probe.n_levels; i++) probe.thresholds[i] = (float)(i + 1);
    return ak_policy_validate(&probe, n_experts, err);
}

ak_status ak_calibrate_policy(ak_policy *policy, const float *logits, int n_tokens, int n_experts,
                              double target_avg_k, double *achieved, ak_error *err) {
    if (!policy) return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: policy is NULL");
    ak_status st = check_sample(logits, n_tokens, n_experts, err);
    if (st == AK_OK) st = validate_for_calibration(policy, n_experts, err);
    if (st != AK_OK) return st;
    if (policy->kind == AK_POLICY_FIXED)
        return ak_error_setf(err, AK_ERR_CONFIG,
                       "calibration: a fixed top-k policy has no parameter to calibrate");
    ak_policy work = *policy;
    layer_data d;
    void *owned;
    st = prepare_alloc(&d, &work, logits, n_tokens, n_experts, 0, &owned, err);
    ak_policy *target = &work;
    if (st == AK_OK) st = calibrate_layers(&d, 1, target_avg_k, achieved, &target, err);
    free(owned);
    if (st == AK_OK) *policy = work;
    return st;
}

ak_status ak_calibrate_entropy(ak_policy *policy, const float *entropies, int n_tokens,
                               int n_experts, double target_avg_k, double *achieved, ak_error *err) {
    if (!policy) return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: policy is NULL");
    ak_status st = check_sample(entropies, n_tokens, n_experts, err);
    if (st == AK_OK) st = validate_for_calibration(policy, n_experts, err);
    if (st != AK_OK) return st;
    if (policy->kind != AK_POLICY_ENTROPY)
        return ak_error_setf(err, AK_ERR_CONFIG,
                       "calibration from entropies needs an entropy policy, got %s",
                       ak_policy_kind_name(policy->kind));
    for (int t = 0; t < n_tokens; t++)
        if (!isfinite(entropies[t]) || entropies[t] < 0.0f)
            return ak_error_setf(err, AK_ERR_NONFINITE, "calibration: entropy of token %d is %g", t,
                           (double)entropies[t]);
    ak_policy work = *policy;
    st = init_thresholds(&work, entropies, n_tokens, n_experts, err);
    if (st != AK_OK) return st;
    layer_data d = {work, n_experts, n_tokens, entropies, NULL, 0};
    ak_policy *target = &work;
    st = calibrate_layers(&d, 1, target_avg_k, achieved, &target, err);
    if (st == AK_OK) *policy = work;
    return st;
}

ak_status ak_calibrate_config(ak_router_config *c, const float *logits, int n_layers, int n_tokens,
                              double target_avg_k, int per_layer, double *achieved, ak_error *err) {
    if (!c) return ak_error_setf(err, AK_ERR_INVALID_ARG, "calibration: config is NULL");
    if (n_layers < 1 || c->n_layers != n_layers || !c->layers)
        return ak_error_setf(err, AK_ERR_INVALID_ARG,
                       "calibration: config has %d layers, sample has %d (call "
                       "ak_config_set_layers first)", c->n_layers, n_layers);
    ak_status st = check_sample(logits, n_tokens, c->n_experts, err);
    if (st != AK_OK) return st;
    for (int l = 0; l < n_layers; l++) {
        ak_error e;
        if (validate_for_calibration(&c->layers[l], c->n_experts, &e) != AK_OK)
            return ak_error_setf(err, AK_ERR_CONFIG, "calibration: layer %d: %s", l, e.msg);
    }
    size_t layer_stride = (size_t)n_tokens * (size_t)c->n_experts;
    if (per_layer) {
        double sum = 0.0;
        for (int l = 0; l < n_layers; l++) {
            double a = 0.0;
            ak_error e;
            st = ak_calibrate_policy(&c->layers[l], logits + (size_t)l * layer_stride, n_tokens,
                                     c->n_experts, target_avg_k, &a, &e);
            if (st != AK_OK) return ak_error_setf(err, st, "layer %d: %s", l, e.msg);
            sum += a;
        }
        if (achieved) *achieved = sum / n_layers;
        return AK_OK;
    }
    layer_data *d = calloc((size_t)n_layers, sizeof *d);
    void **owned = calloc((size_t)n_layers, sizeof *owned);
    ak_policy *work = malloc((size_t)n_layers * sizeof *work);
    ak_policy **targets = malloc((size_t)n_layers * sizeof *targets);
    if (!d || !owned || !work || !targets) {
        st = ak_error_setf(err, AK_ERR_NOMEM, "calibration: out of memory");
    } else {
        for (int l = 0; l < n_layers && st == AK_OK; l++) {
            work[l] = c->layers[l];
            targets[l] = &work[l];
            st = prepare_alloc(&d[l], &work[l], logits + (size_t)l * layer_stride, n_tokens,
                               c->n_experts, l, &owned[l], err);
        }
        if (st == AK_OK) st = calibrate_layers(d, n_layers, target_avg_k, achieved, targets, err);
        if (st == AK_OK) memcpy(c->layers, work, (size_t)n_layers * sizeof *work);
    }
    if (owned)
        for (int l = 0; l < n_layers; l++) free(owned[l]);
    free(owned);
    free(d);
    free(work);
    free(targets);
    return st;
}
