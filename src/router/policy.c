/* policy.c - routing policies: constructors, validation, K selection, names. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "router/router_internal.h"

static ak_policy policy_zero(ak_policy_kind kind) {
    ak_policy p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.unit = AK_ENTROPY_NATS;
    return p;
}

ak_policy ak_policy_fixed(int k) {
    ak_policy p = policy_zero(AK_POLICY_FIXED);
    p.k = k;
    p.k_min = p.k_max = k;
    return p;
}

ak_policy ak_policy_entropy(int n_levels, const int *k_values, const float *thresholds,
                            ak_entropy_unit unit) {
    ak_policy p = policy_zero(AK_POLICY_ENTROPY);
    p.unit = unit;
    /* out-of-range level counts are kept so that validation can report them */
    p.n_levels = n_levels;
    int n = n_levels < 0 ? 0 : n_levels > AK_MAX_LEVELS ? AK_MAX_LEVELS : n_levels;
    for (int i = 0; i < n && k_values; i++) p.k_values[i] = k_values[i];
    for (int i = 0; i + 1 < n && thresholds; i++) p.thresholds[i] = thresholds[i];
    if (n > 0) {
        p.k_min = p.k_values[0];
        p.k_max = p.k_values[n - 1];
    }
    return p;
}

ak_policy ak_policy_entropy_default(void) {
    static const int k[3] = {1, 2, 4};
    static const float h[2] = {0.6f, 1.2f};
    return ak_policy_entropy(3, k, h, AK_ENTROPY_NATS);
}

/* The parameterised policies (top-p, ratio, threshold): a kind and its clamp [k_min, k_max]. */
static ak_policy policy_clamped(ak_policy_kind kind, int k_min, int k_max) {
    ak_policy p = policy_zero(kind);
    p.k_min = k_min;
    p.k_max = k_max;
    return p;
}

ak_policy ak_policy_top_p(float p_value, int k_min, int k_max) {
    ak_policy p = policy_clamped(AK_POLICY_TOP_P, k_min, k_max);
    p.top_p = p_value;
    return p;
}

ak_policy ak_policy_ratio(float r, int k_min, int k_max) {
    ak_policy p = policy_clamped(AK_POLICY_RATIO, k_min, k_max);
    p.ratio = r;
    return p;
}

ak_policy ak_policy_threshold(float p_min, int k_min, int k_max) {
    ak_policy p = policy_clamped(AK_POLICY_THRESHOLD, k_min, k_max);
    p.p_min = p_min;
    return p;
}

static ak_status check_clamp(const ak_policy *p, int n_experts, const char *what, ak_error *err) {
    if (p->k_min < 1 || p->k_min > p->k_max || p->k_max > n_experts)
        return ak_error_setf(err, AK_ERR_CONFIG,
                       "%s policy: need 1 <= k_min <= k_max <= n_experts, got k_min=%d k_max=%d "
                       "n_experts=%d", what, p->k_min, p->k_max, n_experts);
    return AK_OK;
}

ak_status ak_policy_validate(const ak_policy *p, int n_experts, ak_error *err) {
    if (!p) return ak_error_setf(err, AK_ERR_INVALID_ARG, "policy is NULL");
    if (n_experts < 1 || n_experts > AK_MAX_EXPERTS)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "n_experts %d out of range 1..%d", n_experts,
                       AK_MAX_EXPERTS);
    switch (p->kind) {
    case AK_POLICY_FIXED:
        if (p->k < 1 || p->k > n_experts)
            return ak_error_setf(err, AK_ERR_CONFIG, "fixed policy: k=%d must be in 1..n_experts=%d",
                           p->k, n_experts);
        return AK_OK;
    case AK_POLICY_ENTROPY:
        if (p->n_levels < 1 || p->n_levels > AK_MAX_LEVELS)
            return ak_error_setf(err, AK_ERR_CONFIG, "entropy policy: n_levels=%d must be in 1..%d",
                           p->n_levels, AK_MAX_LEVELS);
        if ((int)p->unit < AK_ENTROPY_NATS || p->unit > AK_ENTROPY_NORMALIZED)
            return ak_error_setf(err, AK_ERR_CONFIG, "entropy policy: unknown unit %d", (int)p->unit);
        for (int i = 0; i < p->n_levels; i++) {
            if (p->k_values[i] < 1 || p->k_values[i] > n_experts)
                return ak_error_setf(err, AK_ERR_CONFIG,
                               "entropy policy: k_values[%d]=%d must be in 1..n_experts=%d", i,
                               p->k_values[i], n_experts);
            if (i > 0 && p->k_values[i] <= p->k_values[i - 1])
                return ak_error_setf(err, AK_ERR_CONFIG,
                               "entropy policy: k_values must be strictly ascending "
                               "(k_values[%d]=%d after %d)", i, p->k_values[i], p->k_values[i - 1]);
        }
        for (int i = 0; i + 1 < p->n_levels; i++) {
            if (!isfinite(p->thresholds[i]))
                return ak_error_setf(err, AK_ERR_CONFIG, "entropy policy: thresholds[%d] is not finite",
                               i);
            if (i > 0 && p->thresholds[i] <= p->thresholds[i - 1])
                return ak_error_setf(err, AK_ERR_CONFIG,
                               "entropy policy: thresholds must be strictly ascending "
                               "(thresholds[%d]=%g after %g)", i, (double)p->thresholds[i],
                               (double)p->thresholds[i - 1]);
        }
        return AK_OK;
    case AK_POLICY_TOP_P:
        if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
            return ak_error_setf(err, AK_ERR_CONFIG, "top-p policy: p=%g must be in (0, 1]",
                           (double)p->top_p);
        return check_clamp(p, n_experts, "top-p", err);
    case AK_POLICY_RATIO:
        if (!(p->ratio > 0.0f && p->ratio <= 1.0f))
            return ak_error_setf(err, AK_ERR_CONFIG, "ratio policy: r=%g must be in (0, 1]",
                           (double)p->ratio);
        return check_clamp(p, n_experts, "ratio", err);
    case AK_POLICY_THRESHOLD:
        if (!(p->p_min > 0.0f && p->p_min <= 1.0f))
            return ak_error_setf(err, AK_ERR_CONFIG, "threshold policy: p_min=%g must be in (0, 1]",
                           (double)p->p_min);
        return check_clamp(p, n_experts, "threshold", err);
    }
    return ak_error_setf(err, AK_ERR_CONFIG, "unknown policy kind %d", (int)p->kind);
}

int ak_policy_max_k(const ak_policy *p, int n_experts) {
    int k = 0;
    switch (p->kind) {
    case AK_POLICY_FIXED: k = p->k; break;
    case AK_POLICY_ENTROPY:
        k = p->n_levels >= 1 && p->n_levels <= AK_MAX_LEVELS ? p->k_values[p->n_levels - 1] : 0;
        break;
    case AK_POLICY_TOP_P:
    case AK_POLICY_RATIO:
    case AK_POLICY_THRESHOLD: k = p->k_max; break;
    }
    if (k > n_experts) k = n_experts;
    return k < 0 ? 0 : k;
}

void ak_policy_thresholds_nats(const ak_policy *p, int n_experts, float *out) {
    for (int i = 0; i + 1 < p->n_levels; i++)
        out[i] = ak_entropy_from_unit(p->thresholds[i], p->unit, n_experts);
}

/* Relative slack when a cumulative probability is compared with p, so that p = 0.75 over
 * probabilities 0.5 and 0.25 that rounded a hair low still stops at 2 experts. */
#define TOP_P_SLACK 1e-6

static int clamp_k(int k, const ak_policy *p) {
    if (k < p->k_min) k = p->k_min;
    if (k > p->k_max) k = p->k_max;
    return k;
}

int ak_select_k_nats(const ak_policy *policy, const float *sorted_p, int n_experts,
                     float entropy_nats, const float *thr_nats) {
    switch (policy->kind) {
    case AK_POLICY_FIXED: return policy->k;
    case AK_POLICY_ENTROPY: return ak_entropy_level_k(policy, thr_nats, entropy_nats);
    case AK_POLICY_TOP_P: {
        int limit = policy->k_max < n_experts ? policy->k_max : n_experts;
        double target = (double)policy->top_p * (1.0 - TOP_P_SLACK);
        double cum = 0.0;
        int k = limit;
        for (int i = 0; i < limit; i++) {
            cum += sorted_p[i];
            if (cum >= target) {
                k = i + 1;
                break;
            }
        }
        return clamp_k(k, policy);
    }
    case AK_POLICY_RATIO: {
        int limit = policy->k_max < n_experts ? policy->k_max : n_experts;
        float cut = policy->ratio * sorted_p[0];
        int k = 1;
        while (k < limit && sorted_p[k] >= cut) k++;
        return clamp_k(k, policy);
    }
    case AK_POLICY_THRESHOLD: {
        int limit = policy->k_max < n_experts ? policy->k_max : n_experts;
        int k = 1;
        while (k < limit && sorted_p[k] >= policy->p_min) k++;
        return clamp_k(k, policy);
    }
    }
    return 1;
}

int ak_select_k(const ak_policy *policy, const float *sorted_p, int n_experts, float entropy_nats) {
    float thr[AK_MAX_LEVELS];
    if (policy->kind == AK_POLICY_ENTROPY) ak_policy_thresholds_nats(policy, n_experts, thr);
    return ak_select_k_nats(policy, sorted_p, n_experts, entropy_nats, thr);
}

static const char *const kind_names[] = {"fixed", "entropy", "top-p", "ratio", "threshold"};

const char *ak_policy_kind_name(ak_policy_kind kind) {
    if ((int)kind < 0 || (int)kind > AK_POLICY_THRESHOLD) return "unknown";
    return kind_names[kind];
}

int ak_policy_kind_parse(const char *name, ak_policy_kind *kind) {
    if (!name) return -1;
    for (int i = 0; i <= AK_POLICY_THRESHOLD; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            if (kind) *kind = (ak_policy_kind)i;
            return 0;
        }
    if (strcmp(name, "top_p") == 0 || strcmp(name, "topp") == 0) {
        if (kind) *kind = AK_POLICY_TOP_P;
        return 0;
    }
    return -1;
}

static const char *unit_name(ak_entropy_unit u) {
    return u == AK_ENTROPY_BITS ? "bits" : u == AK_ENTROPY_NORMALIZED ? "normalized" : "nats";
}

void ak_policy_describe(const ak_policy *p, char *buf, size_t len) {
    if (!buf || len == 0) return;
    buf[0] = '\0';
    if (!p) return;
    size_t used = 0;
#define APPEND(...)                                                                      \
    do {                                                                                 \
        if (used < len) {                                                                \
            int w_ = snprintf(buf + used, len - used, __VA_ARGS__);                      \
            if (w_ > 0) used += (size_t)w_;                                              \
        }                                                                                \
    } while (0)
    switch (p->kind) {
    case AK_POLICY_FIXED: APPEND("fixed k=%d", p->k); break;
    case AK_POLICY_ENTROPY: {
        int n = p->n_levels < 0 ? 0 : p->n_levels > AK_MAX_LEVELS ? AK_MAX_LEVELS : p->n_levels;
        APPEND("entropy k={");
        for (int i = 0; i < n; i++) APPEND("%s%d", i ? "," : "", p->k_values[i]);
        APPEND("} h={");
        for (int i = 0; i + 1 < n; i++) APPEND("%s%.4g", i ? "," : "", (double)p->thresholds[i]);
        APPEND("} %s", unit_name(p->unit));
        break;
    }
    case AK_POLICY_TOP_P:
        APPEND("top-p p=%.4g k=[%d,%d]", (double)p->top_p, p->k_min, p->k_max);
        break;
    case AK_POLICY_RATIO:
        APPEND("ratio r=%.4g k=[%d,%d]", (double)p->ratio, p->k_min, p->k_max);
        break;
    case AK_POLICY_THRESHOLD:
        APPEND("threshold p>=%.4g k=[%d,%d]", (double)p->p_min, p->k_min, p->k_max);
        break;
    default: APPEND("unknown policy"); break;
    }
#undef APPEND
}
