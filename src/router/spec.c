/* spec.c - policy specifications: the one place where a policy as a user states it (CLI
 * flags, an HTTP request, an A/B variant) becomes validated policies. */
#include <stdio.h>
#include <string.h>

#include "router/router_internal.h"

static const ak_policy_spec_names json_names = {"kind", "k", "k_values", "thresholds", "unit",
                                                "top_p", "ratio", "k_min", "k_max"};

void ak_policy_spec_init(ak_policy_spec *s) {
    memset(s, 0, sizeof *s);
    s->n_thresholds = -1;
}

int ak_entropy_unit_parse(const char *name, ak_entropy_unit *unit) {
    static const char *const names[] = {"nats", "bits", "normalized"};
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, names[i])) {
            *unit = (ak_entropy_unit)i;
            return 0;
        }
    return -1;
}

int ak_policy_min_k(const ak_policy *p) {
    switch (p->kind) {
    case AK_POLICY_FIXED: return p->k;
    case AK_POLICY_ENTROPY: return p->n_levels > 0 ? p->k_values[0] : 0;
    default: return p->k_min;
    }
}

/* The largest K of a policy, unclamped (0 for an entropy policy without levels). */
static int policy_top(const ak_policy *p) {
    switch (p->kind) {
    case AK_POLICY_FIXED: return p->k;
    case AK_POLICY_ENTROPY:
        return p->n_levels > 0 && p->n_levels <= AK_MAX_LEVELS ? p->k_values[p->n_levels - 1] : 0;
    default: return p->k_max;
    }
}

int ak_config_max_k(const ak_router_config *c) {
    int k = policy_top(&c->default_policy);
    for (int l = 0; l < c->n_layers; l++)
        if (policy_top(&c->layers[l]) > k) k = policy_top(&c->layers[l]);
    return k;
}

/* The kind the spec asks for: *have = 1 and *kind set, or *have = 0 when it does not say.
 * AK_ERR_CONFIG when parameters of two kinds are given, or of another kind than the given. */
static ak_status resolve_kind(const ak_policy_spec *s, const ak_policy_spec_names *nm, int *have,
                              ak_policy_kind *kind, ak_error *err) {
    const struct {
        int given;
        const char *name;
        ak_policy_kind kind;
    } implied[] = {
        {s->has_k, nm->k, AK_POLICY_FIXED},
        {s->n_k_values > 0, nm->k_values, AK_POLICY_ENTROPY},
        {s->n_thresholds >= 0, nm->thresholds, AK_POLICY_ENTROPY},
        {s->has_unit, nm->unit, AK_POLICY_ENTROPY},
        {s->has_top_p, nm->top_p, AK_POLICY_TOP_P},
        {s->has_ratio, nm->ratio, AK_POLICY_RATIO},
    };
    *have = s->has_kind;
    const char *by = NULL; /* the parameter that implied the kind; NULL: the kind was given */
    if (*have) *kind = s->kind;
    for (size_t n = 0; n < sizeof implied / sizeof implied[0]; n++) {
        if (!implied[n].given) continue;
        if (!*have) {
            *have = 1;
            *kind = implied[n].kind;
            by = implied[n].name;
        } else if (implied[n].kind != *kind) {
            if (!by)
                return ak_error_setf(err, AK_ERR_CONFIG, "%s does not apply to %s %s", implied[n].name, nm->kind,
                               ak_policy_kind_name(*kind));
            return ak_error_setf(err, AK_ERR_CONFIG, "%s (%s) and %s (%s) select different policies", by,
                           ak_policy_kind_name(*kind), implied[n].name, ak_policy_kind_name(implied[n].kind));
        }
    }
    return AK_OK;
}

/* Evenly spaced normalised-entropy thresholds in the policy's unit: placeholders that
 * calibration rescales. */
static void placeholder_thresholds(ak_policy *p, int n_experts) {
    for (int i = 0; i + 1 < p->n_levels; i++) {
        float nats = ak_entropy_from_unit((float)(i + 1) / (float)p->n_levels, AK_ENTROPY_NORMALIZED, n_experts);
        p->thresholds[i] = ak_entropy_to_unit(nats, p->unit, n_experts);
    }
}

/* A policy of the given kind from its defaults and the spec's parameter. */
static ak_status start_policy(const ak_policy_spec *s, const ak_policy_spec_names *nm, ak_policy_kind kind,
                              int n_experts, int k_native, ak_policy *p, ak_error *err) {
    const float placeholder = 0.5f;
    switch (kind) {
    case AK_POLICY_FIXED:
        if (!s->has_k && k_native <= 0)
            return ak_error_setf(err, AK_ERR_CONFIG, "%s fixed needs %s", nm->kind, nm->k);
        *p = ak_policy_fixed(s->has_k ? s->k : k_native);
        break;
    case AK_POLICY_ENTROPY: *p = ak_policy_entropy_default(); break;
    case AK_POLICY_TOP_P:
        if (!s->has_top_p && !(s->fit & AK_FIT_PARAM))
            return ak_error_setf(err, AK_ERR_CONFIG, "%s top-p needs %s", nm->kind, nm->top_p);
        *p = ak_policy_top_p(s->has_top_p ? s->top_p : placeholder, 1, n_experts);
        break;
    case AK_POLICY_RATIO:
        if (!s->has_ratio && !(s->fit & AK_FIT_PARAM))
            return ak_error_setf(err, AK_ERR_CONFIG, "%s ratio needs %s", nm->kind, nm->ratio);
        *p = ak_policy_ratio(s->has_ratio ? s->ratio : placeholder, 1, n_experts);
        break;
    case AK_POLICY_THRESHOLD:
        return ak_error_setf(err, AK_ERR_CONFIG, "the threshold policy is set by a router config");
    }
    return AK_OK;
}

/* The entropy parameters: unit (keeping the thresholds' meaning when none are given),
 * levels and thresholds. */
static ak_status apply_entropy(const ak_policy_spec *s, const ak_policy_spec_names *nm, int n_experts, ak_policy *p,
                               ak_error *err) {
    const int fit = s->fit & AK_FIT_THRESHOLDS;
    if (s->has_unit && s->n_thresholds < 0)
        for (int i = 0; i + 1 < p->n_levels; i++)
            p->thresholds[i] =
                ak_entropy_to_unit(ak_entropy_from_unit(p->thresholds[i], p->unit, n_experts), s->unit, n_experts);
    if (s->has_unit) p->unit = s->unit;
    int old_levels = p->n_levels;
    if (s->n_k_values > 0) {
        p->n_levels = s->n_k_values;
        memcpy(p->k_values, s->k_values, sizeof s->k_values);
    }
    if (s->n_thresholds >= 0) {
        if (s->n_thresholds == 0 && fit) {
            placeholder_thresholds(p, n_experts);
        } else if (s->n_thresholds != p->n_levels - 1) {
            return ak_error_setf(err, AK_ERR_CONFIG, "%d k-values need %d thresholds, %s gives %d", p->n_levels,
                           p->n_levels - 1, nm->thresholds, s->n_thresholds);
        } else {
            memcpy(p->thresholds, s->thresholds, sizeof s->thresholds);
        }
    } else if (p->n_levels != old_levels) {
        if (!fit)
            return ak_error_setf(err, AK_ERR_CONFIG, "%s gives %d levels: add %s with %d values", nm->k_values,
                           p->n_levels, nm->thresholds, p->n_levels - 1);
        placeholder_thresholds(p, n_experts);
    }
    return AK_OK;
}

/* The spec's parameters on p, without validation. */
static ak_status apply(const ak_policy_spec *s, int n_experts, int k_native, ak_policy *p, ak_error *err) {
    const ak_policy_spec_names *nm = s->names ? s->names : &json_names;
    ak_policy_kind kind = p->kind;
    int have_kind;
    ak_status st = resolve_kind(s, nm, &have_kind, &kind, err);
    if (st) return st;
    if (have_kind && p->kind != kind && (st = start_policy(s, nm, kind, n_experts, k_native, p, err))) return st;
    if ((s->has_k_min || s->has_k_max) && p->kind != AK_POLICY_TOP_P && p->kind != AK_POLICY_RATIO)
        return ak_error_setf(err, AK_ERR_CONFIG, "%s/%s apply to the top-p and ratio policies, not %s", nm->k_min,
                       nm->k_max, ak_policy_kind_name(p->kind));
    if (s->has_k) p->k = s->k;
    if (s->has_top_p) p->top_p = s->top_p;
    if (s->has_ratio) p->ratio = s->ratio;
    if (s->has_k_min) p->k_min = s->k_min;
    if (s->has_k_max) p->k_max = s->k_max;
    return p->kind == AK_POLICY_ENTROPY ? apply_entropy(s, nm, n_experts, p, err) : AK_OK;
}

/* Validates p with a message that names it (layer < 0: the default policy). */
static ak_status validate_named(const ak_policy *p, int n_experts, int layer, ak_error *err) {
    ak_error e = {AK_OK, ""};
    ak_status st = ak_policy_validate(p, n_experts, &e);
    if (st == AK_OK) return AK_OK;
    char desc[160];
    ak_policy_describe(p, desc, sizeof desc);
    if (layer < 0) return ak_error_setf(err, st, "invalid policy '%s': %s", desc, e.msg);
    return ak_error_setf(err, st, "invalid policy for layer %d '%s': %s", layer, desc, e.msg);
}

ak_status ak_policy_spec_apply(const ak_policy_spec *s, int n_experts, int k_native, ak_policy *p, ak_error *err) {
    if (!s || !p) return ak_error_setf(err, AK_ERR_INVALID_ARG, "spec or policy is NULL");
    ak_status st = apply(s, n_experts, k_native, p, err);
    return st ? st : validate_named(p, n_experts, -1, err);
}

ak_status ak_config_apply_spec(ak_router_config *c, const ak_policy_spec *s, ak_error *err) {
    if (!c || !s) return ak_error_setf(err, AK_ERR_INVALID_ARG, "config or spec is NULL");
    ak_status st;
    for (int l = -1; l < c->n_layers; l++)
        if ((st = apply(s, c->n_experts, c->k_native, l < 0 ? &c->default_policy : &c->layers[l], err))) return st;
    for (int l = -1; l < c->n_layers; l++)
        if ((st = validate_named(l < 0 ? &c->default_policy : &c->layers[l], c->n_experts, l, err))) return st;
    if (c->k_native <= 0) c->k_native = ak_config_max_k(c);
    ak_error e = {AK_OK, ""};
    if ((st = ak_config_validate(c, &e))) return ak_error_setf(err, st, "invalid router config: %s", e.msg);
    return AK_OK;
}
