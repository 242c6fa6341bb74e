/* logits_args.c - the arguments route and calibrate-logits share. */
#include "logits_args.h"

#include <string.h>

#include "cli_util.h"

void ak_logits_args_init(ak_logits_args *a, const char *prog, void (*help)(FILE *out), const char *see) {
    memset(a, 0, sizeof *a);
    a->prog = prog;
    a->help = help;
    a->see = see;
    ak_routing_flags_init(&a->flags);
}

static int fail(const ak_logits_args *a, const char *msg) {
    fprintf(stderr, "%s: %s\n", a->prog, msg);
    return 2;
}

int ak_logits_args_take(ak_logits_args *a, int argc, char **argv, int *i) {
    const char *arg = argv[*i], *v;
    char msg[300];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
        a->help(stdout);
        return 0;
    }
    ak_error err = {0};
    int r = ak_routing_flags_parse(&a->flags, argc, argv, *i, &err);
    if (r < 0) return fail(a, err.msg);
    if (r > 0) {
        *i += r - 1;
        return -1;
    }
    if ((r = ak_cli_flag_value(argc, argv, i, "--experts", &v))) {
        if (r < 0 || ak_cli_parse_int(v, &a->n_experts) || a->n_experts < 1 || a->n_experts > AK_MAX_EXPERTS) {
            snprintf(msg, sizeof msg, "--experts needs an integer in 1..%d", AK_MAX_EXPERTS);
            return fail(a, msg);
        }
        return -1;
    }
    if ((r = ak_cli_flag_value(argc, argv, i, "--k-native", &v))) {
        if (r < 0 || ak_cli_parse_int(v, &a->k_native) || a->k_native < 1)
            return fail(a, "--k-native needs a positive integer");
        return -1;
    }
    if (arg[0] == '-' && arg[1]) {
        fprintf(stderr, "%s: unknown option '%s' (see %s)\n", a->prog, arg, a->see);
        return 2;
    }
    if (a->input) {
        fprintf(stderr, "%s: more than one input ('%s' and '%s')\n", a->prog, a->input, arg);
        return 2;
    }
    a->input = arg;
    return -1;
}

int ak_logits_args_load(const ak_logits_args *a, ak_logits *lg) {
    ak_error err = {0};
    if (!ak_logits_load(a->input, a->n_experts, lg, &err)) return 0;
    fprintf(stderr, "%s: %s\n", a->prog, err.msg);
    return 1;
}

int ak_logits_args_build(const ak_logits_args *a, ak_logits *lg, int for_calibration, ak_router_config *cfg) {
    ak_error err = {0};
    if (!ak_routing_flags_build(&a->flags, lg->n_experts, lg->n_layers, for_calibration, cfg, &err)) return 0;
    fprintf(stderr, "%s: %s\n", a->prog, err.msg);
    ak_logits_free(lg);
    return 2;
}
