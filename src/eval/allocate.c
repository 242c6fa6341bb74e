/* allocate.c - per-layer budgets by dynamic programming over per-layer cost curves
 * (see allocate.h). */
#include "eval/allocate.h"
#include "base/errfmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 16         /* budget grid: 1/16 of an expert */
#define ENTROPY_EVERY 4  /* the entropy curve is calibrated every 1/4 and interpolated */

static const char *const rule_names[AK_RULE_COUNT] = {"fixed", "ratio", "top-p", "threshold", "entropy"};

const char *ak_alloc_rule_name(ak_alloc_rule r) { return r >= 0 && r < AK_RULE_COUNT ? rule_names[r] : "?"; }

int ak_alloc_rule_parse(const char *name, ak_alloc_rule *r) {
    for (int i = 0; i < AK_RULE_COUNT; i++)
        if (!strcmp(name, rule_names[i])) {
            *r = (ak_alloc_rule)i;
            return 0;
        }
    return -1;
}

void ak_allocation_free(ak_allocation *a) {
    free(a->budget);
    free(a->k_min);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- cost curves */

typedef struct {
    double *c;  /* [G + 1] mean cost per token at budget 1 + g / STEPS; INFINITY: unreachable */
    int *kmin;  /* [G + 1] the floor that gives it */
} curve;

static const float *layer_logits(const ak_profile *p, int l) {
    return p->router.logits + (size_t)l * (size_t)p->n_tokens * (size_t)p->n_expert;
}

static double budget_of(int g) { return 1.0 + (double)g / STEPS; }

/* Routes layer l's tokens with pol: K per token into k. */
static int route_layer(const ak_profile *p, int l, const ak_policy *pol, int *k, int32_t *ids, float *w, ak_error *err) {
    ak_route_out ro = {(int)p->n_tokens, p->k_native, k, ids, w, NULL};
    ak_error e;
    if (ak_route(pol, layer_logits(p, l), (int)p->n_tokens, p->n_expert, 0, &ro, &e) != AK_OK)
        return ak_failf(err, e.code, "allocation: layer %d: %s", l, e.msg);
    return 0;
}

static double mean_cost(const ak_profile *p, int l, const int *k) {
    double s = 0;
    for (int64_t t = 0; t < p->n_tokens; t++) s += ak_profile_token_cost(p, l, t, k[t]);
    return s / (double)p->n_tokens;
}

typedef struct {
    float key;
    int32_t t, i;
} entry;

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Ratio / top-p / threshold with floor kmin: adding rank i of token t (going from i to i + 1 experts)
 * happens in the order of a key that falls along each token's ranks, so sorting all
 * (t, i) by key gives every budget's cost by a running sum. w: [T][K] sorted probabilities. */
static void sorted_curve(const ak_profile *p, int l, ak_alloc_rule rule, const float *w, int kmin, entry *buf,
                         curve *cv) {
    const int K = p->k_native;
    const int64_t T = p->n_tokens;
    size_t n = 0;
    double cum = 0;
    for (int64_t t = 0; t < T; t++) {
        cum += ak_profile_token_cost(p, l, t, kmin);
        const float *wt = w + (size_t)t * K;
        double before = 0;
        for (int i = 0; i < K; i++) {
            if (i >= kmin) {
                float key = rule == AK_RULE_RATIO       ? (wt[0] > 0 ? wt[i] / wt[0] : 0.0f)
                            : rule == AK_RULE_THRESHOLD ? wt[i]
                                                        : (float)-before;
                buf[n++] = (entry){key, (int32_t)t, i};
            }
            before += wt[i];
        }
    }
    qsort(buf, n, sizeof *buf, cmp_entry);
    size_t done = 0;
    for (int g = (kmin - 1) * STEPS; g <= (K - 1) * STEPS; g++) {
        size_t want = (size_t)llround((budget_of(g) - kmin) * (double)T);
        if (want > n) want = n;
        for (; done < want; done++)
            cum += ak_profile_token_cost(p, l, buf[done].t, buf[done].i + 1) -
                   ak_profile_token_cost(p, l, buf[done].t, buf[done].i);
        double c = cum / (double)T;
        if (c < cv->c[g]) cv->c[g] = c, cv->kmin[g] = kmin;
    }
}

/* The seeds' entropy levels for a top-K model ({1,2,4}; {1, K/2, K} otherwise), before
 * calibration (thresholds at quantiles). */
static ak_policy entropy_levels(int K) {
    if (K == 4) return ak_policy_entropy_default();
    int kv[3] = {1, K / 2, K}, n = 0, levels[3];
    for (int i = 0; i < 3; i++)
        if (n == 0 || kv[i] > levels[n - 1]) levels[n++] = kv[i];
    float zero[2] = {0, 0};
    return ak_policy_entropy(n, levels, zero, AK_ENTROPY_NATS);
}

static void entropy_curve(const ak_profile *p, int l, int *k, int32_t *ids, float *w, curve *cv) {
    const int K = p->k_native, G = (K - 1) * STEPS;
    for (int g = 0; g <= G; g += ENTROPY_EVERY) {
        ak_policy pol = g == 0 ? ak_policy_fixed(1) : g == G ? ak_policy_fixed(K) : entropy_levels(K);
        ak_error e;
        double ach;
        if (pol.kind == AK_POLICY_ENTROPY &&
            ak_calibrate_policy(&pol, layer_logits(p, l), (int)p->n_tokens, p->n_expert, budget_of(g), &ach, &e))
            continue;
        if (route_layer(p, l, &pol, k, ids, w, NULL)) continue;
        cv->c[g] = mean_cost(p, l, k);
        cv->kmin[g] = 1;
    }
    for (int g = 0; g <= G; g++) { /* linear between the calibrated points */
        int a = g - g % ENTROPY_EVERY, b = a + ENTROPY_EVERY;
        if (g % ENTROPY_EVERY == 0 || b > G || !isfinite(cv->c[a]) || !isfinite(cv->c[b])) continue;
        double f = (double)(g - a) / ENTROPY_EVERY;
        cv->c[g] = (1 - f) * cv->c[a] + f * cv->c[b];
        cv->kmin[g] = 1;
    }
}

static int is_sorted_rule(ak_alloc_rule r) {
    return r == AK_RULE_RATIO || r == AK_RULE_TOP_P || r == AK_RULE_THRESHOLD;
}

static int layer_curve(const ak_profile *p, int l, ak_alloc_rule rule, curve *cv, ak_error *err) {
    const int K = p->k_native, G = (K - 1) * STEPS;
    const size_t T = (size_t)p->n_tokens;
    for (int g = 0; g <= G; g++) cv->c[g] = INFINITY, cv->kmin[g] = 1;
    int *k = malloc(T * sizeof *k);
    int32_t *ids = malloc(T * (size_t)K * sizeof *ids);
    float *w = malloc(T * (size_t)K * sizeof *w);
    entry *buf = is_sorted_rule(rule) ? malloc(T * (size_t)K * sizeof *buf) : NULL;
    int rc = -1;
    if (!k || !ids || !w || ((is_sorted_rule(rule)) && !buf)) {
        ak_failf(err, AK_ERR_NOMEM, "allocation: out of memory");
        goto done;
    }
    if (rule == AK_RULE_FIXED) {
        for (int j = 1; j <= K; j++) {
            double s = 0;
            for (size_t t = 0; t < T; t++) s += ak_profile_token_cost(p, l, (int64_t)t, j);
            cv->c[(j - 1) * STEPS] = s / (double)T, cv->kmin[(j - 1) * STEPS] = j;
        }
    } else if (rule == AK_RULE_ENTROPY) {
        entropy_curve(p, l, k, ids, w, cv);
    } else {
        ak_policy all = ak_policy_fixed(K);
        if (route_layer(p, l, &all, k, ids, w, err)) goto done;
        for (int kmin = 1; kmin <= K; kmin++) sorted_curve(p, l, rule, w, kmin, buf, cv);
    }
    rc = 0;
done:
    free(k), free(ids), free(w), free(buf);
    return rc;
}

static void curves_free(curve *cv, int n) {
    if (!cv) return;
    for (int l = 0; l < n; l++) free(cv[l].c), free(cv[l].kmin);
    free(cv);
}

static curve *build_curves(const ak_profile *p, ak_alloc_rule rule, ak_error *err) {
    const int G = (p->k_native - 1) * STEPS;
    curve *cv = calloc((size_t)p->n_layer, sizeof *cv);
    if (!cv) return ak_failf(err, AK_ERR_NOMEM, "allocation: out of memory"), NULL;
    for (int l = 0; l < p->n_layer; l++) {
        cv[l].c = malloc((size_t)(G + 1) * sizeof(double));
        cv[l].kmin = malloc((size_t)(G + 1) * sizeof(int));
        if (!cv[l].c || !cv[l].kmin) {
            curves_free(cv, p->n_layer);
            return ak_failf(err, AK_ERR_NOMEM, "allocation: out of memory"), NULL;
        }
        if (layer_curve(p, l, rule, &cv[l], err)) {
            curves_free(cv, p->n_layer);
            return NULL;
        }
    }
    return cv;
}

/* Cost at a budget between grid points (linear), and the floor of the nearest point. */
static double curve_at(const curve *cv, int G, double b, int *kmin) {
    double x = (b - 1.0) * STEPS;
    int g = (int)floor(x + 1e-9);
    if (g < 0) g = 0;
    if (g > G) g = G;
    double f = x - g;
    if (kmin) *kmin = cv->kmin[f > 0.5 && g < G ? g + 1 : g];
    if (f <= 1e-9 || g == G) return cv->c[g];
    return (1 - f) * cv->c[g] + f * cv->c[g + 1];
}

/* ---------------------------------------------------------------- dynamic programming */

/* Grid budgets g[l] with sum g[l] = total minimising the summed cost. */
static int allocate_grid(const curve *cv, int L, int G, int total, int *g_out, ak_error *err) {
    const int S = L * G;
    double *f = malloc((size_t)(S + 1) * sizeof *f), *nf = malloc((size_t)(S + 1) * sizeof *nf);
    int *choice = malloc((size_t)L * (size_t)(S + 1) * sizeof *choice);
    int rc = -1;
    if (!f || !nf || !choice) {
        ak_failf(err, AK_ERR_NOMEM, "allocation: out of memory");
        goto done;
    }
    for (int s = 0; s <= S; s++) f[s] = s == 0 ? 0.0 : INFINITY;
    for (int l = 0; l < L; l++) {
        for (int s = 0; s <= S; s++) {
            nf[s] = INFINITY;
            choice[(size_t)l * (S + 1) + s] = -1;
            for (int g = 0; g <= G && g <= s; g++) {
                double v = f[s - g] + cv[l].c[g];
                if (v < nf[s]) nf[s] = v, choice[(size_t)l * (S + 1) + s] = g;
            }
        }
        double *tmp = f;
        f = nf, nf = tmp;
    }
    if (!isfinite(f[total])) {
        ak_failf(err, AK_ERR_INVALID_ARG, "allocation: no per-layer budgets of this rule reach the target");
        goto done;
    }
    for (int l = L - 1, s = total; l >= 0; l--) {
        g_out[l] = choice[(size_t)l * (S + 1) + s];
        s -= g_out[l];
    }
    rc = 0;
done:
    free(f), free(nf), free(choice);
    return rc;
}

/* The part of n_layer x target below one grid step goes to the layer where it costs least. */
static int place_remainder(const curve *cv, int L, int K, double rem, double *budget) {
    int best = -1;
    double best_slope = INFINITY;
    for (int l = 0; l < L; l++) {
        double b = budget[l] + rem;
        if (b < 1.0 || b > K) continue;
        int g = (int)llround((budget[l] - 1.0) * STEPS), h = rem > 0 ? g + 1 : g - 1;
        if (h < 0 || h > (K - 1) * STEPS || !isfinite(cv[l].c[h])) continue;
        double slope = fabs(cv[l].c[h] - cv[l].c[g]);
        if (slope < best_slope) best_slope = slope, best = l;
    }
    if (best < 0) return -1;
    budget[best] += rem;
    return 0;
}

static int check_target(const ak_profile *p, ak_alloc_rule rule, double target, ak_error *err) {
    const int K = p->k_native, L = p->n_layer;
    if (!(target >= 1.0) || !(target <= K))
        return ak_failf(err, AK_ERR_INVALID_ARG, "allocation: target average K %g is outside 1..%d (every token runs at least one expert and "
                    "at most the model's native top-%d)", target, K, K);
    if (p->n_tokens < 1) return ak_failf(err, AK_ERR_INVALID_ARG, "allocation: the profile has no tokens");
    if (rule < 0 || rule >= AK_RULE_COUNT) return ak_failf(err, AK_ERR_INVALID_ARG, "allocation: unknown rule");
    double slots = target * L;
    if (rule == AK_RULE_FIXED && fabs(slots - llround(slots)) > 1e-9)
        return ak_failf(err, AK_ERR_INVALID_ARG, "allocation: fixed top-k per layer needs n_layers x target (%d x %g = %g) to be a whole "
                    "number of experts", L, target, slots);
    return 0;
}

/* Budgets, floors and predicted cost of the optimum on the rule's curves (no config). */
static int allocate_on_curves(const ak_profile *p, const curve *cv, ak_alloc_rule rule, double target,
                              ak_allocation *out, ak_error *err) {
    const int K = p->k_native, L = p->n_layer, G = (K - 1) * STEPS;
    memset(out, 0, sizeof *out);
    out->rule = rule, out->target = target, out->n_layer = L;
    out->budget = calloc((size_t)L, sizeof *out->budget);
    out->k_min = calloc((size_t)L, sizeof *out->k_min);
    int *g = calloc((size_t)L, sizeof *g);
    int rc = -1;
    if (!out->budget || !out->k_min || !g) {
        ak_failf(err, AK_ERR_NOMEM, "allocation: out of memory");
        goto done;
    }
    int total = (int)floor((target - 1.0) * L * STEPS + 1e-9);
    if (rule == AK_RULE_FIXED) total = (int)llround((target - 1.0) * L) * STEPS;
    if (allocate_grid(cv, L, G, total, g, err)) goto done;
    double sum = 0;
    for (int l = 0; l < L; l++) out->budget[l] = budget_of(g[l]), sum += out->budget[l];
    double rem = target * L - sum;
    if (fabs(rem) > 1e-12 && place_remainder(cv, L, K, rem, out->budget)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "allocation: cannot place the last %g experts of the budget", rem);
        goto done;
    }
    out->predicted = 0;
    for (int l = 0; l < L; l++) out->predicted += curve_at(&cv[l], G, out->budget[l], &out->k_min[l]);
    rc = 0;
done:
    free(g);
    if (rc) ak_allocation_free(out);
    return rc;
}

int ak_allocate(const ak_profile *p, ak_alloc_rule rule, double target, ak_allocation *out, ak_router_config *cfg,
                ak_error *err) {
    memset(out, 0, sizeof *out);
    memset(cfg, 0, sizeof *cfg);
    if (check_target(p, rule, target, err)) return -1;
    curve *cv = build_curves(p, rule, err);
    if (!cv) return -1;
    int rc = allocate_on_curves(p, cv, rule, target, out, err);
    curves_free(cv, p->n_layer);
    if (!rc && (rc = ak_allocation_config(p, out, cfg, &out->achieved, err))) ak_allocation_free(out);
    return rc;
}

/* ---------------------------------------------------------------- the config */

static int layer_policy(const ak_profile *p, const ak_allocation *a, int l, ak_policy *pol, double *achieved, ak_error *err) {
    const int K = p->k_native;
    const double b = a->budget[l];
    const int kmin = a->k_min[l] >= 1 && a->k_min[l] <= K ? a->k_min[l] : 1;
    *achieved = b;
    if (a->rule == AK_RULE_FIXED || b <= kmin + 1e-9 || b >= K - 1e-9 || b <= 1.0 + 1e-9) {
        *pol = ak_policy_fixed((int)llround(b < kmin ? kmin : b));
        return 0;
    }
    if (a->rule == AK_RULE_RATIO) *pol = ak_policy_ratio(0.5f, kmin, K);
    else if (a->rule == AK_RULE_TOP_P) *pol = ak_policy_top_p(0.5f, kmin, K);
    else if (a->rule == AK_RULE_THRESHOLD) *pol = ak_policy_threshold(0.05f, kmin, K);
    else *pol = entropy_levels(K);
    ak_error e;
    if (ak_calibrate_policy(pol, layer_logits(p, l), (int)p->n_tokens, p->n_expert, b, achieved, &e) != AK_OK)
        return ak_failf(err, e.code, "allocation: layer %d (budget %.4f): %s", l, b, e.msg);
    return 0;
}

int ak_allocation_config(const ak_profile *p, const ak_allocation *a, ak_router_config *cfg, double *achieved,
                         ak_error *err) {
    *cfg = ak_config_uniform(p->n_expert, p->k_native, p->renormalize, ak_policy_fixed(p->k_native));
    snprintf(cfg->name, sizeof cfg->name, "allocated-%s-avgk%g", ak_alloc_rule_name(a->rule), a->target);
    ak_error e;
    if (ak_config_set_layers(cfg, p->n_model_layer, &e) != AK_OK) return ak_failf(err, e.code, "allocation: %s", e.msg);
    double sum = 0;
    for (int l = 0; l < p->n_layer; l++) { /* (a layer without experts keeps the native policy, unused) */
        double ach;
        if (layer_policy(p, a, l, &cfg->layers[p->layer_of[l]], &ach, err)) {
            ak_config_free(cfg);
            return -1;
        }
        sum += ach;
    }
    if (achieved) *achieved = sum / p->n_layer;
    return 0;
}

/* ---------------------------------------------------------------- checking the proxy */

static void ranks(const double *v, int n, double *r) {
    for (int i = 0; i < n; i++) {
        double below = 0, equal = 0;
        for (int j = 0; j < n; j++) below += v[j] < v[i], equal += v[j] == v[i];
        r[i] = below + (equal + 1) / 2.0;
    }
}

/* Spearman's rank correlation (Pearson on ranks, ties at their mean rank). */
static double spearman(const double *a, const double *b, int n) {
    double *ra = malloc((size_t)n * sizeof *ra), *rb = malloc((size_t)n * sizeof *rb);
    if (!ra || !rb) return free(ra), free(rb), NAN;
    ranks(a, n, ra);
    ranks(b, n, rb);
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) ma += ra[i] / n, mb += rb[i] / n;
    for (int i = 0; i < n; i++)
        sab += (ra[i] - ma) * (rb[i] - mb), saa += (ra[i] - ma) * (ra[i] - ma), sbb += (rb[i] - mb) * (rb[i] - mb);
    free(ra), free(rb);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* Moves whole grid steps between random pairs of layers (a fixed seed: reproducible). */
static void perturb(double *b, int L, int K, int step_grid, uint64_t *rng) {
    int moves = 1 + (int)(*rng % (uint64_t)L);
    for (int m = 0; m < moves; m++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        int from = (int)((*rng >> 33) % (uint64_t)L), to = (int)((*rng >> 17) % (uint64_t)L);
        double d = (double)(1 + (int)((*rng >> 45) % 8)) * step_grid / STEPS;
        if (from != to && b[from] - d >= 1.0 && b[to] + d <= K) b[from] -= d, b[to] += d;
    }
}

typedef struct {
    const ak_profile *p;
    ak_context *c;
    const int32_t *tokens;
    int64_t n;
    const ak_ppl_params *pp;
    ak_compare_base *base;
} check_ctx;

static int measure(check_ctx *x, const ak_allocation *a, ak_compare *m, ak_error *err) {
    ak_router_config cfg;
    double ach;
    if (ak_allocation_config(x->p, a, &cfg, &ach, err)) return -1;
    int rc = ak_compare_run(x->c, x->tokens, x->n, x->pp, &cfg, &x->base, m, err);
    ak_config_free(&cfg);
    return rc;
}

int ak_allocation_check(const ak_profile *p, ak_alloc_rule rule, double target, int n_random, ak_context *c,
                        const int32_t *tokens, int64_t n, const ak_ppl_params *pp, FILE *out, double *rho_kl,
                        double *rho_nll, ak_error *err) {
    ak_allocation opt;
    memset(&opt, 0, sizeof opt);
    if (check_target(p, rule, target, err)) return -1;
    const int L = p->n_layer, K = p->k_native, G = (K - 1) * STEPS, N = n_random + 2;
    curve *cv = build_curves(p, rule, err);
    if (cv && allocate_on_curves(p, cv, rule, target, &opt, err)) {
        curves_free(cv, L);
        return -1;
    }
    double *pred = calloc((size_t)N, sizeof *pred), *kl = calloc((size_t)N, sizeof *kl);
    double *dn = calloc((size_t)N, sizeof *dn), *b = calloc((size_t)L, sizeof *b);
    check_ctx x = {p, c, tokens, n, pp, NULL};
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    int rc = -1, got = 0;
    if (!cv) goto done;
    if (!pred || !kl || !dn || !b) {
        ak_failf(err, AK_ERR_NOMEM, "allocation check: out of memory");
        goto done;
    }
    for (int i = 0; i < N; i++) {
        ak_allocation a = opt;
        a.budget = b;
        memcpy(b, opt.budget, (size_t)L * sizeof *b);
        if (i == 1) /* uniform */
            for (int l = 0; l < L; l++) b[l] = target;
        if (i >= 2) perturb(b, L, K, rule == AK_RULE_FIXED ? STEPS : 1, &rng);
        pred[got] = 0;
        for (int l = 0; l < L; l++) pred[got] += curve_at(&cv[l], G, b[l], &a.k_min[l]);
        if (!isfinite(pred[got])) continue;
        ak_compare m;
        if (measure(&x, &a, &m, err)) goto done;
        kl[got] = m.kl.kld, dn[got] = m.kl.ln_ratio;
        if (out) {
            fprintf(out, "  %-9s budgets", i == 0 ? "optimum" : i == 1 ? "uniform" : "perturbed");
            for (int l = 0; l < L; l++) fprintf(out, " %.3g", b[l]);
            fprintf(out, ": predicted %.5f  measured KL %.5f +/- %.5f  NLL %+.5f +/- %.5f  avg K %.3f\n", pred[got], m.kl.kld,
                    m.kl.kld_err, m.kl.ln_ratio, m.kl.ln_ratio_err, m.avg_k);
        }
        got++;
    }
    *rho_kl = spearman(pred, kl, got);
    *rho_nll = spearman(pred, dn, got);
    if (out)
        fprintf(out, "  Spearman rank correlation of predicted cost with measured KL %.3f, with NLL change %.3f (%d "
                     "allocations)\n", *rho_kl, *rho_nll, got);
    rc = 0;
done:
    ak_compare_base_free(x.base);
    ak_allocation_free(&opt);
    curves_free(cv, L);
    free(pred), free(kl), free(dn), free(b);
    return rc;
}

/* ---------------------------------------------------------------- choosing the rule */

int ak_allocate_choose(const ak_profile *p, const int *use_rule, double target, int by_kl, ak_context *c,
                       const int32_t *tokens, int64_t n, const ak_ppl_params *pp, ak_allocation *out,
                       ak_router_config *cfg, FILE *report, ak_error *err) {
    ak_compare_base *base = NULL;
    double best = INFINITY;
    int rc = -1;
    memset(out, 0, sizeof *out);
    memset(cfg, 0, sizeof *cfg);
    for (int r = 0; r < AK_RULE_COUNT; r++) {
        if (!use_rule[r]) continue;
        ak_allocation a;
        ak_router_config rc_cfg;
        ak_error why;
        if (ak_allocate(p, (ak_alloc_rule)r, target, &a, &rc_cfg, &why)) {
            if (report) fprintf(report, "  %-8s skipped: %s\n", ak_alloc_rule_name((ak_alloc_rule)r), why.msg);
            continue;
        }
        ak_compare m;
        if (ak_compare_run(c, tokens, n, pp, &rc_cfg, &base, &m, err)) {
            ak_allocation_free(&a);
            ak_config_free(&rc_cfg);
            goto done;
        }
        double score = by_kl ? m.kl.kld : m.nll;
        if (report)
            fprintf(report, "  %-8s held-out mean NLL %.5f (%+.5f vs native)  KL %.5f  avg K %.3f  predicted %.5f\n",
                    ak_alloc_rule_name((ak_alloc_rule)r), m.nll, m.kl.ln_ratio, m.kl.kld, m.avg_k, a.predicted);
        if (score < best) {
            best = score;
            ak_allocation_free(out);
            ak_config_free(cfg);
            *out = a;
            *cfg = rc_cfg;
        } else {
            ak_allocation_free(&a);
            ak_config_free(&rc_cfg);
        }
    }
    rc = isfinite(best) ? 0 : ak_failf(err, AK_ERR_INVALID_ARG, "allocation: no rule reaches the target average K %g", target);
done:
    ak_compare_base_free(base);
    if (rc) ak_allocation_free(out), ak_config_free(cfg);
    return rc;
}
