/* cmd_calibrate_logits.c - `adaptive-k calibrate-logits`: fit a policy to a target average K
 * on recorded router logits and save it as a router config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "io/logits.h"
#include "logits_args.h"
#include "route_stats.h"

static void calibrate_help(FILE *out) {
    fputs("usage: adaptive-k calibrate-logits INPUT --target-avg-k X -o OUT.json [options] [routing flags]\n"
          "\n"
          "Calibrates a routing policy on router logits so that its average K hits X, and writes\n"
          "the router config (docs/router-config.md). INPUT as for `adaptive-k route`.\n"
          "  entropy (default): keeps the K levels and scales the thresholds by one factor\n"
          "                     (--thresholds none: start from evenly spaced thresholds)\n"
          "  top-p / ratio:     bisection on P / R\n"
          "\n"
          "options:\n"
          "  --target-avg-k X   the average K to reach (required)\n"
          "  -o, --out FILE     the router config to write (required)\n"
          "  --per-layer        every layer hits X (default: one parameter for all layers, so the\n"
          "                     average over all layers and tokens hits X)\n"
          "  --holdout F        calibrate on the first (1-F) of the tokens, report avg K on the rest\n"
          "  --experts N        experts per token (required for raw float32 input)\n"
          "  --k-native N       the model's native top-k stored in the config (default: the config's,\n"
          "                     else the largest K the policy can choose)\n"
          "  --name NAME        the config's name (default: the --router-config's, else 'calibrated')\n"
          "\n",
          out);
    ak_routing_flags_help(out);
}

/* Collapses identical per-layer policies into the default policy (a config for any depth). */
static void collapse_layers(ak_router_config *c) {
    for (int l = 1; l < c->n_layers; l++)
        if (memcmp(&c->layers[l], &c->layers[0], sizeof c->layers[0])) return;
    if (c->n_layers > 0) c->default_policy = c->layers[0];
    ak_config_free(c);
    c->layers = NULL;
    c->n_layers = 0;
}

typedef struct {
    const char *out_path, *name;
    int per_layer;
    double target, holdout;
} cal_opts;

/* Options into o and the shared arguments into a; the exit status when the command must
 * stop, else -1. */
static int parse_args(int argc, char **argv, cal_opts *o, ak_logits_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = ak_cli_flag_value(argc, argv, &i, "--target-avg-k", &v))) {
            if (r < 0 || ak_cli_parse_double(v, &o->target) || o->target <= 0) {
                fprintf(stderr, "adaptive-k calibrate-logits: --target-avg-k needs a positive number\n");
                return 2;
            }
        } else if ((r = ak_cli_flag_value(argc, argv, &i, "--holdout", &v))) {
            if (r < 0 || ak_cli_parse_double(v, &o->holdout) || o->holdout <= 0 || o->holdout >= 1) {
                fprintf(stderr, "adaptive-k calibrate-logits: --holdout needs a fraction strictly between 0 and 1\n");
                return 2;
            }
        } else if ((r = ak_cli_flag_value(argc, argv, &i, "--out", &v)) ||
                   (r = ak_cli_flag_value(argc, argv, &i, "-o", &v))) {
            if (r < 0) {
                fprintf(stderr, "adaptive-k calibrate-logits: -o needs a file name\n");
                return 2;
            }
            o->out_path = v;
        } else if ((r = ak_cli_flag_value(argc, argv, &i, "--name", &v))) {
            if (r < 0) {
                fprintf(stderr, "adaptive-k calibrate-logits: --name needs a value\n");
                return 2;
            }
            o->name = v;
        } else if (!strcmp(argv[i], "--per-layer")) {
            o->per_layer = 1;
        } else if ((r = ak_logits_args_take(a, argc, argv, &i)) >= 0) {
            return r;
        }
    }
    if (!a->input || !o->out_path || o->target <= 0) {
        fprintf(stderr, "adaptive-k calibrate-logits: needs INPUT, --target-avg-k X and -o OUT.json (see --help)\n");
        return 2;
    }
    return -1;
}

/* The calibration set: the first n_cal tokens of every layer (into *cal), and the rest held
 * out (into *held). 0, or -1 out of memory. */
static int split_holdout(const ak_logits *lg, int n_cal, int n_hold, float **cal, float **held) {
    const int L = lg->n_layers;
    const size_t row = (size_t)lg->n_experts;
    *cal = malloc((size_t)L * (size_t)n_cal * row * sizeof **cal);
    *held = malloc((size_t)L * (size_t)n_hold * row * sizeof **held);
    if (!*cal || !*held) return -1;
    for (int l = 0; l < L; l++) {
        const float *src = ak_logits_layer(lg, l);
        memcpy(*cal + (size_t)l * n_cal * row, src, (size_t)n_cal * row * sizeof **cal);
        memcpy(*held + (size_t)l * n_hold * row, src + (size_t)n_cal * row, (size_t)n_hold * row * sizeof **held);
    }
    return 0;
}

static void print_report(const char *input, const cal_opts *o, const ak_logits *lg, int n_cal, int n_hold,
                         const char *before, const ak_router_config *cfg, const ak_route_run *run_cal,
                         const ak_route_run *run_held, int k_native) {
    const int L = lg->n_layers;
    const double target = o->target;
    printf("adaptive-k calibrate-logits: %s\n", input);
    printf("  input     %d layer%s x %d tokens x %d experts; calibrating on %s%d tokens per layer", L,
           L == 1 ? "" : "s", lg->n_tokens, lg->n_experts, n_hold ? "the first " : "", n_cal);
    if (n_hold) printf(", %d held out", n_hold);
    printf("\n  start     %s\n", before);
    printf("  target    average K %.3f, %s\n", target,
           o->per_layer ? "every layer" : "over all layers (one parameter for all)");
    printf("\n  layer  avg K (calibration)%s  policy\n", n_hold ? "  avg K (held out)" : "");
    for (int l = 0; l <= L; l++) {
        int layer = l < L ? l : -1; /* layers first, then the total */
        if (layer < 0 && L == 1) break;
        char desc[200] = "";
        if (layer >= 0) ak_policy_describe(ak_config_layer_policy(cfg, layer), desc, sizeof desc);
        if (layer < 0) printf("    all");
        else printf("  %5d", layer);
        printf("  %19.3f", ak_route_run_avg_k(run_cal, layer));
        if (n_hold) printf("  %16.3f", ak_route_run_avg_k(run_held, layer));
        printf("  %s\n", desc);
    }
    double got = ak_route_run_avg_k(run_cal, -1);
    printf("\n  achieved average K %.3f (target %.3f, %+.2f%%) vs native top-%d: %.1f%% compute saved\n", got,
           target, 100.0 * (got - target) / target, k_native, 100.0 * (1.0 - got / k_native));
    if (n_hold) {
        double h = ak_route_run_avg_k(run_held, -1);
        printf("  held-out average K %.3f (%+.2f%% from the target)\n", h, 100.0 * (h - target) / target);
    }
    printf("  wrote %s\n", o->out_path);
}

int cmd_calibrate_logits(int argc, char **argv) {
    cal_opts o = {NULL, NULL, 0, 0, 0};
    ak_logits_args a;
    ak_logits_args_init(&a, "adaptive-k calibrate-logits", calibrate_help, "--help");
    int rc = parse_args(argc, argv, &o, &a);
    if (rc >= 0) return rc;
    const char *input = a.input;
    ak_error err = {0};
    ak_logits lg;
    if (ak_logits_args_load(&a, &lg)) return 1;
    int L = lg.n_layers, T = lg.n_tokens, E = lg.n_experts;
    int n_hold = o.holdout > 0 ? (int)(o.holdout * T + 0.5) : 0, n_cal = T - n_hold;
    if (o.holdout > 0 && (n_hold < 1 || n_cal < 1)) {
        fprintf(stderr, "adaptive-k calibrate-logits: --holdout %g of %d tokens leaves an empty set\n", o.holdout, T);
        ak_logits_free(&lg);
        return 2;
    }
    ak_router_config cfg;
    if (ak_logits_args_build(&a, &lg, 1, &cfg)) return 2;
    int had_layers = cfg.n_layers > 0;
    float *cal = NULL, *held = NULL;
    ak_route_run run_cal, run_held;
    memset(&run_cal, 0, sizeof run_cal);
    memset(&run_held, 0, sizeof run_held);
    rc = 1;
    if (!had_layers && ak_config_set_layers(&cfg, L, &err)) {
        fprintf(stderr, "adaptive-k calibrate-logits: %s\n", err.msg);
        goto done;
    }
    if (n_hold && split_holdout(&lg, n_cal, n_hold, &cal, &held)) {
        fprintf(stderr, "adaptive-k calibrate-logits: out of memory\n");
        goto done;
    }
    const float *cal_logits = n_hold ? cal : lg.data;

    char before[200];
    ak_policy_describe(&cfg.layers[0], before, sizeof before);
    double achieved = 0;
    if (ak_calibrate_config(&cfg, cal_logits, L, n_cal, o.target, o.per_layer, &achieved, &err)) {
        fprintf(stderr, "adaptive-k calibrate-logits: %s: %s\n", input, err.msg);
        goto done;
    }
    if (!o.per_layer && !had_layers) collapse_layers(&cfg);

    int k_native = a.k_native ? a.k_native : cfg.k_native;
    cfg.k_native = k_native;
    if (o.name) snprintf(cfg.name, sizeof cfg.name, "%s", o.name);
    else if (!a.flags.config_path[0] && !a.flags.preset[0]) snprintf(cfg.name, sizeof cfg.name, "calibrated");
    snprintf(cfg.provenance, sizeof cfg.provenance,
             "adaptive-k calibrate-logits on %.120s (%d layers, %d tokens, %d experts): target avg K %g, %s", input, L,
             n_cal, E, o.target, o.per_layer ? "per layer" : "one parameter for all layers");

    if (ak_route_run_init(&run_cal, &cfg, L, n_cal, E, &err) ||
        ak_route_run_all(&run_cal, &cfg, cal_logits, NULL, NULL, &err) ||
        (n_hold && (ak_route_run_init(&run_held, &cfg, L, n_hold, E, &err) ||
                    ak_route_run_all(&run_held, &cfg, held, NULL, NULL, &err)))) {
        fprintf(stderr, "adaptive-k calibrate-logits: %s: %s\n", input, err.msg);
        goto done;
    }
    if (ak_config_save(o.out_path, &cfg, &err)) {
        fprintf(stderr, "adaptive-k calibrate-logits: %s\n", err.msg);
        goto done;
    }
    print_report(input, &o, &lg, n_cal, n_hold, before, &cfg, &run_cal, &run_held, k_native);
    rc = 0;
done:
    ak_route_run_free(&run_cal);
    ak_route_run_free(&run_held);
    free(cal);
    free(held);
    ak_config_free(&cfg);
    ak_logits_free(&lg);
    return rc;
}
