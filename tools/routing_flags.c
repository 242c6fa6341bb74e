/* routing_flags.c - parsing the shared routing flags into a validated router config. */
#include "routing_flags.h"

#include <math.h>
#include <string.h>

#include "cli_util.h"
#include "io/io_error.h"

/* Sets the error and evaluates to -1, what the parsing functions return on failure. */
#define fail(err, code, ...) (ak_io_fail((err), (code), __VA_ARGS__), -1)

void ak_routing_flags_init(ak_routing_flags *f) {
    memset(f, 0, sizeof *f);
    f->n_thresholds = -1;
    f->renormalize = -1;
}

/* "1,2,4" -> at most cap items, each converted by item(text, out, index); the count or -1. */
static int parse_list(const char *s, void *out, int cap, int (*item)(const char *, void *, int)) {
    int n = 0;
    char text[64];
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0 || len >= sizeof text || n == cap) return -1;
        memcpy(text, s, len);
        text[len] = 0;
        if (item(text, out, n++)) return -1;
        s += len + (comma ? 1 : 0);
        if (comma && !*s) return -1;
    }
    return n ? n : -1;
}

static int int_item(const char *text, void *out, int n) { return ak_cli_parse_int(text, (int *)out + n); }
static int float_item(const char *text, void *out, int n) { return ak_cli_parse_float(text, (float *)out + n); }

int ak_routing_flags_parse(ak_routing_flags *f, int argc, char **argv, int i, ak_error *err) {
    const char *a = argv[i];
    if (!strcmp(a, "--renormalize")) {
        f->renormalize = 1;
        return 1;
    }
    if (!strcmp(a, "--no-renormalize")) {
        f->renormalize = 0;
        return 1;
    }
    static const char *const with_value[] = {"--policy", "--k", "--k-values", "--thresholds", "--threshold-unit",
                                             "--top-p", "--ratio", "--k-min", "--k-max", "--router-config",
                                             "--preset"};
    int j = i, which = -1, r = 0;
    const char *v = NULL;
    for (int n = 0; n < (int)(sizeof with_value / sizeof with_value[0]); n++) {
        r = ak_cli_flag_value(argc, argv, &j, with_value[n], &v);
        if (r) {
            which = n;
            break;
        }
    }
    if (which < 0) return 0;
    const char *name = with_value[which];
    if (r < 0) return fail(err, AK_ERR_INVALID_ARG, "%s needs a value", name);
    int consumed = j - i + 1;
    switch (which) {
    case 0:
        if (ak_policy_kind_parse(v, &f->kind))
            return fail(err, AK_ERR_INVALID_ARG, "unknown policy '%s' (use fixed, entropy, top-p or ratio)", v);
        f->has_kind = 1;
        break;
    case 1:
        if (ak_cli_parse_int(v, &f->k) || f->k < 1)
            return fail(err, AK_ERR_INVALID_ARG, "--k '%s' is not a positive integer", v);
        f->has_k = 1;
        break;
    case 2:
        f->n_k_values = parse_list(v, f->k_values, AK_MAX_LEVELS, int_item);
        if (f->n_k_values < 0) {
            f->n_k_values = 0;
            return fail(err, AK_ERR_INVALID_ARG, "--k-values '%s' is not a list of 1 to %d integers like 1,2,4", v,
                        AK_MAX_LEVELS);
        }
        break;
    case 3:
        if (!strcmp(v, "none")) {
            f->n_thresholds = 0;
            break;
        }
        f->n_thresholds = parse_list(v, f->thresholds, AK_MAX_LEVELS - 1, float_item);
        if (f->n_thresholds < 0)
            return fail(err, AK_ERR_INVALID_ARG, "--thresholds '%s' is not a list of 1 to %d numbers like 0.6,1.2",
                        v, AK_MAX_LEVELS - 1);
        break;
    case 4:
        if (!strcmp(v, "nats")) f->unit = AK_ENTROPY_NATS;
        else if (!strcmp(v, "bits")) f->unit = AK_ENTROPY_BITS;
        else if (!strcmp(v, "normalized")) f->unit = AK_ENTROPY_NORMALIZED;
        else return fail(err, AK_ERR_INVALID_ARG, "--threshold-unit '%s': use nats, bits or normalized", v);
        f->has_unit = 1;
        break;
    case 5:
        if (ak_cli_parse_float(v, &f->top_p))
            return fail(err, AK_ERR_INVALID_ARG, "--top-p '%s' is not a number", v);
        f->has_top_p = 1;
        break;
    case 6:
        if (ak_cli_parse_float(v, &f->ratio)) return fail(err, AK_ERR_INVALID_ARG, "--ratio '%s' is not a number", v);
        f->has_ratio = 1;
        break;
    case 7:
    case 8: {
        int k;
        if (ak_cli_parse_int(v, &k) || k < 1)
            return fail(err, AK_ERR_INVALID_ARG, "%s '%s' is not a positive integer", name, v);
        if (which == 7) f->has_k_min = 1, f->k_min = k;
        else f->has_k_max = 1, f->k_max = k;
        break;
    }
    case 9:
        /* a config replaces the routing flags given before it */
        ak_routing_flags_init(f);
        if (strlen(v) >= sizeof f->config_path)
            return fail(err, AK_ERR_INVALID_ARG, "--router-config path is too long");
        strcpy(f->config_path, v);
        break;
    case 10:
        ak_routing_flags_init(f);
        if (strlen(v) >= sizeof f->preset) return fail(err, AK_ERR_INVALID_ARG, "--preset name is too long");
        strcpy(f->preset, v);
        break;
    }
    return consumed;
}

/* ---------------------------------------------------------------- building the config */

/* The policy kind the flags ask for: 1 and *kind set, 0 when they do not say, -1 on a conflict. */
static int resolve_kind(const ak_routing_flags *f, ak_policy_kind *kind, ak_error *err) {
    struct {
        int given;
        const char *flag;
        ak_policy_kind kind;
    } implied[] = {
        {f->has_k, "--k", AK_POLICY_FIXED},
        {f->n_k_values > 0, "--k-values", AK_POLICY_ENTROPY},
        {f->n_thresholds >= 0, "--thresholds", AK_POLICY_ENTROPY},
        {f->has_unit, "--threshold-unit", AK_POLICY_ENTROPY},
        {f->has_top_p, "--top-p", AK_POLICY_TOP_P},
        {f->has_ratio, "--ratio", AK_POLICY_RATIO},
    };
    int have = f->has_kind;
    const char *by = "--policy";
    if (have) *kind = f->kind;
    for (size_t n = 0; n < sizeof implied / sizeof implied[0]; n++) {
        if (!implied[n].given) continue;
        if (!have) {
            have = 1;
            *kind = implied[n].kind;
            by = implied[n].flag;
        } else if (implied[n].kind != *kind) {
            if (!strcmp(by, "--policy"))
                return fail(err, AK_ERR_CONFIG, "%s does not apply to --policy %s", implied[n].flag,
                            ak_policy_kind_name(*kind));
            return fail(err, AK_ERR_CONFIG, "%s (%s) and %s (%s) select different policies", by,
                        ak_policy_kind_name(*kind), implied[n].flag, ak_policy_kind_name(implied[n].kind));
        }
    }
    return have;
}

/* Evenly spaced normalised-entropy thresholds in `unit`: placeholders for calibration. */
static void placeholder_thresholds(ak_policy *p, int n_experts) {
    for (int i = 0; i + 1 < p->n_levels; i++) {
        float nats = ak_entropy_from_unit((float)(i + 1) / (float)p->n_levels, AK_ENTROPY_NORMALIZED, n_experts);
        p->thresholds[i] = ak_entropy_to_unit(nats, p->unit, n_experts);
    }
}

static int apply_flags(const ak_routing_flags *f, int have_kind, ak_policy_kind kind, int k_native, int n_experts,
                       int for_calibration, ak_policy *p, ak_error *err) {
    if (have_kind && p->kind != kind) {
        switch (kind) {
        case AK_POLICY_FIXED:
            if (!f->has_k && k_native <= 0) return fail(err, AK_ERR_CONFIG, "--policy fixed needs --k N");
            *p = ak_policy_fixed(f->has_k ? f->k : k_native);
            break;
        case AK_POLICY_ENTROPY:
            *p = ak_policy_entropy_default();
            break;
        case AK_POLICY_TOP_P:
            if (!f->has_top_p) return fail(err, AK_ERR_CONFIG, "--policy top-p needs --top-p P");
            *p = ak_policy_top_p(f->top_p, 1, n_experts);
            break;
        case AK_POLICY_RATIO:
            if (!f->has_ratio) return fail(err, AK_ERR_CONFIG, "--policy ratio needs --ratio R");
            *p = ak_policy_ratio(f->ratio, 1, n_experts);
            break;
        case AK_POLICY_THRESHOLD:
            return fail(err, AK_ERR_CONFIG, "the threshold policy is set by a router config (--router-config)");
        }
    }
    if ((f->has_k_min || f->has_k_max) && p->kind != AK_POLICY_TOP_P && p->kind != AK_POLICY_RATIO)
        return fail(err, AK_ERR_CONFIG, "--k-min/--k-max apply to the top-p and ratio policies, not %s",
                    ak_policy_kind_name(p->kind));
    if (f->has_k) p->k = f->k;
    if (f->has_top_p) p->top_p = f->top_p;
    if (f->has_ratio) p->ratio = f->ratio;
    if (f->has_k_min) p->k_min = f->k_min;
    if (f->has_k_max) p->k_max = f->k_max;
    if (p->kind != AK_POLICY_ENTROPY) return 0;

    if (f->has_unit && f->n_thresholds < 0) /* keep the thresholds' meaning, change their unit */
        for (int i = 0; i + 1 < p->n_levels; i++)
            p->thresholds[i] =
                ak_entropy_to_unit(ak_entropy_from_unit(p->thresholds[i], p->unit, n_experts), f->unit, n_experts);
    if (f->has_unit) p->unit = f->unit;
    int old_levels = p->n_levels;
    if (f->n_k_values > 0) {
        p->n_levels = f->n_k_values;
        memcpy(p->k_values, f->k_values, sizeof f->k_values);
    }
    if (f->n_thresholds >= 0) {
        if (f->n_thresholds == 0 && for_calibration) {
            placeholder_thresholds(p, n_experts);
        } else if (f->n_thresholds != p->n_levels - 1) {
            return fail(err, AK_ERR_CONFIG, "%d k-values need %d thresholds, --thresholds gives %d", p->n_levels,
                        p->n_levels - 1, f->n_thresholds);
        } else {
            memcpy(p->thresholds, f->thresholds, sizeof f->thresholds);
        }
    } else if (p->n_levels != old_levels) {
        if (!for_calibration)
            return fail(err, AK_ERR_CONFIG, "--k-values gives %d levels: add --thresholds with %d values",
                        p->n_levels, p->n_levels - 1);
        placeholder_thresholds(p, n_experts);
    }
    return 0;
}

ak_status ak_routing_flags_build(const ak_routing_flags *f, int n_experts, int n_layers, int for_calibration,
                                 ak_router_config *out, ak_error *err) {
    memset(out, 0, sizeof *out);
    ak_status s;
    if (f->config_path[0]) {
        ak_error e = {0};
        s = ak_config_load(f->config_path, out, &e);
        if (s) {
            if (strstr(e.msg, f->config_path)) ak_io_fail(err, s, "--router-config %s", e.msg);
            else ak_io_fail(err, s, "--router-config %s: %s", f->config_path, e.msg);
            return s;
        }
        if (out->n_experts != n_experts) {
            ak_io_fail(err, AK_ERR_CONFIG, "--router-config %s is for %d experts, the input has %d",
                       f->config_path, out->n_experts, n_experts);
            ak_config_free(out);
            return AK_ERR_CONFIG;
        }
        if (out->n_layers > 0 && out->n_layers != n_layers) {
            ak_io_fail(err, AK_ERR_CONFIG, "--router-config %s has %d layer policies, the input has %d layers",
                       f->config_path, out->n_layers, n_layers);
            ak_config_free(out);
            return AK_ERR_CONFIG;
        }
    } else if (f->preset[0]) {
        ak_error e = {0};
        s = ak_preset_get(f->preset, out, &e);
        if (s) {
            ak_io_fail(err, s, "--preset: %s", e.msg);
            return s;
        }
        if (out->n_experts != n_experts) {
            ak_io_fail(err, AK_ERR_CONFIG, "--preset %s is for %d experts, the input has %d", f->preset,
                       out->n_experts, n_experts);
            ak_config_free(out);
            return AK_ERR_CONFIG;
        }
    } else {
        snprintf(out->name, sizeof out->name, "command-line");
        out->n_experts = n_experts;
        out->default_policy = ak_policy_entropy_default();
    }
    if (f->renormalize >= 0) out->renormalize = f->renormalize;

    ak_policy_kind kind = AK_POLICY_ENTROPY;
    int have_kind = resolve_kind(f, &kind, err);
    s = AK_ERR_CONFIG;
    if (have_kind < 0) goto fail;
    if (apply_flags(f, have_kind, kind, out->k_native, n_experts, for_calibration, &out->default_policy, err))
        goto fail;
    for (int l = 0; l < out->n_layers; l++)
        if (apply_flags(f, have_kind, kind, out->k_native, n_experts, for_calibration, &out->layers[l], err))
            goto fail;

    for (int l = -1; l < out->n_layers; l++) {
        const ak_policy *p = l < 0 ? &out->default_policy : &out->layers[l];
        ak_error e = {0};
        s = ak_policy_validate(p, n_experts, &e);
        if (s) {
            char desc[160];
            ak_policy_describe(p, desc, sizeof desc);
            if (l < 0) ak_io_fail(err, s, "invalid policy '%s': %s", desc, e.msg);
            else ak_io_fail(err, s, "invalid policy for layer %d '%s': %s", l, desc, e.msg);
            goto fail;
        }
    }
    if (out->k_native <= 0) out->k_native = ak_routing_default_k_native(out);
    {
        ak_error e = {0};
        s = ak_config_validate(out, &e);
        if (s) {
            ak_io_fail(err, s, "invalid router config: %s", e.msg);
            goto fail;
        }
    }
    return AK_OK;
fail:
    ak_config_free(out);
    return s;
}

ak_status ak_routing_flags_build_for_model(const ak_routing_flags *f, int n_experts, int n_layers, int n_expert_used,
                                           ak_router_config *out, ak_error *err) {
    ak_status s = ak_routing_flags_build(f, n_experts, n_layers, 0, out, err);
    if (s == AK_OK && !out->k_native) out->k_native = n_expert_used;
    return s;
}

static int policy_top(const ak_policy *p) {
    switch (p->kind) {
    case AK_POLICY_FIXED: return p->k;
    case AK_POLICY_ENTROPY: return p->n_levels > 0 ? p->k_values[p->n_levels - 1] : 0;
    default: return p->k_max;
    }
}

int ak_routing_default_k_native(const ak_router_config *c) {
    int k = policy_top(&c->default_policy);
    for (int l = 0; l < c->n_layers; l++)
        if (policy_top(&c->layers[l]) > k) k = policy_top(&c->layers[l]);
    return k;
}

void ak_routing_flags_help(FILE *out) {
    fputs("routing flags:\n"
          "  --policy NAME            fixed | entropy | top-p | ratio (default: entropy, or the config's)\n"
          "  --k N                    fixed: run the top N experts\n"
          "  --k-values 1,2,4         entropy: K levels, ascending\n"
          "  --thresholds 0.6,1.2     entropy: len(k-values)-1 ascending thresholds; H < t[0] -> k[0],\n"
          "                           t[i-1] <= H < t[i] -> k[i], H >= last -> last k (default 0.6,1.2 nats)\n"
          "  --threshold-unit U       nats | bits | normalized (H / ln n_experts)   (default nats)\n"
          "  --top-p P                top-p: smallest set of experts whose probability reaches P\n"
          "  --ratio R                ratio: keep expert i if p_i >= R * p_max\n"
          "  --k-min N, --k-max N     top-p/ratio: clamp K to [N, M] (default 1 .. n_experts)\n"
          "  --renormalize            rescale the chosen experts' weights to sum to 1\n"
          "  --no-renormalize         weights are the softmax over all experts (default, or the config's)\n"
          "  --router-config F.json   per-model/per-layer config (docs/router-config.md); routing flags\n"
          "                           before it are discarded, flags after it override it\n"
          "  --preset NAME            a built-in config (olmoe-1b-7b, qwen1.5-moe-a2.7b, qwen3-30b-a3b,\n"
          "                           mixtral-8x7b): expert count, native top-k, weight normalisation\n"
          "  A policy is implied by its parameters: --k -> fixed, --k-values/--thresholds -> entropy,\n"
          "  --top-p -> top-p, --ratio -> ratio. Flags take 'X V' or 'X=V'.\n",
          out);
}
