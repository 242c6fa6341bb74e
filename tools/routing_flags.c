/* routing_flags.c - parsing the shared routing flags into a validated router config. */
#include "routing_flags.h"

#include <string.h>

#include "cli_util.h"
#include "base/errfmt.h"

/* Sets the error and evaluates to -1, what the parsing functions return on failure. */
#define fail(err, code, ...) (ak_error_setf((err), (code), __VA_ARGS__), -1)

/* How the flags spell the spec's fields, for the spec's messages. */
static const ak_policy_spec_names flag_names = {"--policy", "--k", "--k-values", "--thresholds", "--threshold-unit",
                                                "--top-p", "--ratio", "--k-min", "--k-max"};

void ak_routing_flags_init(ak_routing_flags *f) {
    memset(f, 0, sizeof *f);
    ak_policy_spec_init(&f->policy);
    f->policy.names = &flag_names;
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
    ak_policy_spec *p = &f->policy;
    switch (which) {
    case 0:
        if (ak_policy_kind_parse(v, &p->kind))
            return fail(err, AK_ERR_INVALID_ARG, "unknown policy '%s' (use fixed, entropy, top-p or ratio)", v);
        p->has_kind = 1;
        break;
    case 2:
        p->n_k_values = parse_list(v, p->k_values, AK_MAX_LEVELS, int_item);
        if (p->n_k_values < 0) {
            p->n_k_values = 0;
            return fail(err, AK_ERR_INVALID_ARG, "--k-values '%s' is not a list of 1 to %d integers like 1,2,4", v,
                        AK_MAX_LEVELS);
        }
        break;
    case 3:
        if (!strcmp(v, "none")) {
            p->n_thresholds = 0;
            break;
        }
        p->n_thresholds = parse_list(v, p->thresholds, AK_MAX_LEVELS - 1, float_item);
        if (p->n_thresholds < 0)
            return fail(err, AK_ERR_INVALID_ARG, "--thresholds '%s' is not a list of 1 to %d numbers like 0.6,1.2",
                        v, AK_MAX_LEVELS - 1);
        break;
    case 4:
        if (ak_entropy_unit_parse(v, &p->unit))
            return fail(err, AK_ERR_INVALID_ARG, "--threshold-unit '%s': use nats, bits or normalized", v);
        p->has_unit = 1;
        break;
    case 5:
        if (ak_cli_parse_float(v, &p->top_p)) return fail(err, AK_ERR_INVALID_ARG, "--top-p '%s' is not a number", v);
        p->has_top_p = 1;
        break;
    case 6:
        if (ak_cli_parse_float(v, &p->ratio)) return fail(err, AK_ERR_INVALID_ARG, "--ratio '%s' is not a number", v);
        p->has_ratio = 1;
        break;
    case 1:
    case 7:
    case 8: {
        int k;
        if (ak_cli_parse_int(v, &k) || k < 1)
            return fail(err, AK_ERR_INVALID_ARG, "%s '%s' is not a positive integer", name, v);
        if (which == 1) p->has_k = 1, p->k = k;
        else if (which == 7) p->has_k_min = 1, p->k_min = k;
        else p->has_k_max = 1, p->k_max = k;
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

/* A loaded config must be for the input's experts and, when it has per-layer policies, layers. */
static ak_status check_fits(ak_router_config *c, const char *flag, const char *name, int n_experts, int n_layers,
                            ak_error *err) {
    if (c->n_experts != n_experts)
        ak_error_setf(err, AK_ERR_CONFIG, "%s %s is for %d experts, the input has %d", flag, name, c->n_experts,
                   n_experts);
    else if (c->n_layers > 0 && c->n_layers != n_layers)
        ak_error_setf(err, AK_ERR_CONFIG, "%s %s has %d layer policies, the input has %d layers", flag, name,
                   c->n_layers, n_layers);
    else return AK_OK;
    ak_config_free(c);
    return AK_ERR_CONFIG;
}

ak_status ak_routing_flags_build(const ak_routing_flags *f, int n_experts, int n_layers, int for_calibration,
                                 ak_router_config *out, ak_error *err) {
    memset(out, 0, sizeof *out);
    ak_status s;
    ak_error e = {0};
    if (f->config_path[0]) {
        if ((s = ak_config_load(f->config_path, out, &e))) {
            if (strstr(e.msg, f->config_path)) return ak_error_setf(err, s, "--router-config %s", e.msg);
            return ak_error_setf(err, s, "--router-config %s: %s", f->config_path, e.msg);
        }
        if ((s = check_fits(out, "--router-config", f->config_path, n_experts, n_layers, err))) return s;
    } else if (f->preset[0]) {
        if ((s = ak_preset_get(f->preset, out, &e))) return ak_error_setf(err, s, "--preset: %s", e.msg);
        if ((s = check_fits(out, "--preset", f->preset, n_experts, n_layers, err))) return s;
    } else {
        snprintf(out->name, sizeof out->name, "command-line");
        out->n_experts = n_experts;
        out->default_policy = ak_policy_entropy_default();
    }
    if (f->renormalize >= 0) out->renormalize = f->renormalize;
    ak_policy_spec spec = f->policy;
    if (for_calibration) spec.fit |= AK_FIT_THRESHOLDS;
    s = ak_config_apply_spec(out, &spec, err);
    for (int l = -1; for_calibration && s == AK_OK && l < out->n_layers; l++)
        if ((l < 0 ? &out->default_policy : &out->layers[l])->kind == AK_POLICY_FIXED)
            s = ak_error_setf(err, AK_ERR_CONFIG,
                              "the fixed policy has nothing to calibrate (use --policy entropy, top-p or ratio)");
    if (s) ak_config_free(out);
    return s;
}

ak_status ak_routing_flags_build_for_model(const ak_routing_flags *f, int n_experts, int n_layers, int n_expert_used,
                                           ak_router_config *out, ak_error *err) {
    ak_status s = ak_routing_flags_build(f, n_experts, n_layers, 0, out, err);
    if (s == AK_OK && !out->k_native) out->k_native = n_expert_used;
    return s;
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
          "                           mixtral-8x7b, gpt-oss-20b, deepseek-v2-lite, deepseek-v3,\n"
          "                           qwen3.6-35b-a3b, nemotron-3-nano-30b-a3b): expert count, native\n"
          "                           top-k, weight normalisation\n"
          "  A policy is implied by its parameters: --k -> fixed, --k-values/--thresholds -> entropy,\n"
          "  --top-p -> top-p, --ratio -> ratio. Flags take 'X V' or 'X=V'.\n",
          out);
}
