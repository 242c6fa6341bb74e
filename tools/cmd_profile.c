/* cmd_profile.c - `adaptive-k profile`: how much each MoE layer loses with fewer experts
 * (src/eval/profile.h): the per-layer table, JSON, an SVG/PNG heat map, and optionally a
 * check that the allocation's predicted cost ranks allocations as measured KL does. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "engine_cli.h"
#include "eval/allocate.h"
#include "eval/plot.h"
#include "profile_cli.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k profile -m FILE.gguf (-f TEXT | --data-free) [options]\n"
            "  Runs TEXT at the native top-K and measures, per MoE layer and k = 1..K, what running only the\n"
            "  top k experts loses: the proxy ||y_k - y_K||^2 / ||h||^2 from one pass (y: the layer's expert\n"
            "  output, h: the hidden state it writes), and exactly (layer alone at top-k, the others native):\n"
            "  mean KL divergence to native and the change of mean NLL, on the first --exact-chunks chunks.\n\n"
            "options:\n"
            "  -c N                 tokens per chunk (default 256, at most the model's context)\n"
            "  --chunks N           profile only the first N chunks\n"
            "  --exact-chunks N     chunks of the exact runs (default 16; 0: the proxy only)\n"
            "  -o FILE.json         write the profile as JSON\n"
            "  --svg FILE           heat map (layer x k) as SVG; --png FILE as PNG (rsvg-convert)\n"
            "  --data-free          random token sequences instead of a text (only the weights matter)\n"
            "  --random-chunks N    how many random chunks (default 32)   --seed S (default 1)\n"
            "  --check-target X     check that the allocator's predicted cost ranks per-layer budgets for\n"
            "                       average K X as measured KL and NLL do (on the exact chunks)\n"
            "  --check-rule R       fixed, ratio, top-p, threshold (default) or entropy\n"
            "  --check-random N     perturbed allocations to measure (default 8)\n"
            "  -t N                 threads\n");
}

static int write_outputs(const ak_profile *p, const char *json, const char *svg, const char *png,
                         const char *model, const char *text) {
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f || ak_profile_write_json(p, f, model, text) || fclose(f)) {
            fprintf(stderr, "profile: cannot write %s\n", json);
            return -1;
        }
        printf("wrote %s\n", json);
    }
    char tmp[1100];
    const char *svg_path = svg;
    if (!svg && png) snprintf(tmp, sizeof tmp, "%s.svg", png), svg_path = tmp;
    if (svg_path) {
        FILE *f = fopen(svg_path, "w");
        char title[300];
        snprintf(title, sizeof title, "Sensitivity per layer: %s on %s", model, text);
        if (!f || ak_profile_write_svg(p, f, title) || fclose(f)) {
            fprintf(stderr, "profile: cannot write %s\n", svg_path);
            return -1;
        }
        if (svg) printf("wrote %s\n", svg);
    }
    if (png) {
        int rc = ak_plot_svg_to_png(svg_path, png);
        if (!svg) remove(svg_path);
        if (rc) {
            fprintf(stderr, "profile: %s %s\n", rc > 0 ? "rsvg-convert (librsvg2-bin) is needed for" : "cannot write",
                    png);
            return -1;
        }
        printf("wrote %s\n", png);
    }
    return 0;
}

typedef struct {
    double target;
    const char *rule;
    int n_random;
} check_opts;

static int run_check(ak_session *s, const ak_profile *p, const ak_profile_opts *o, const check_opts *ck,
                     const int32_t *tokens, int n) {
    ak_alloc_rule rule;
    if (ak_alloc_rule_parse(ck->rule, &rule)) {
        fprintf(stderr, "profile: --check-rule takes fixed, ratio, top-p, threshold or entropy, not '%s'\n", ck->rule);
        return 2;
    }
    ak_ppl_params pp = ak_session_ppl_params(s, o->n_ctx, o->n_ctx, o->exact_chunks > 0 ? o->exact_chunks : 16);
    ak_error err = {0};
    double rk, rn;
    printf("check: %s budgets for average K %g, predicted (profile) vs measured on %d chunks:\n", ck->rule,
           ck->target, pp.n_chunks);
    if (ak_allocation_check(p, rule, ck->target, ck->n_random, s->ctx, tokens, n, &pp, stdout, &rk, &rn, &err)) {
        fprintf(stderr, "profile: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int cmd_profile(int argc, char **argv) {
    const char *model_path = NULL, *json = NULL, *svg = NULL, *png = NULL, *check_target = NULL;
    ak_profile_opts o = {NULL, 0, 32, 1, 256, -1, 16, AK_OBJECTIVE_KL};
    check_opts ck = {0, "threshold", 8};
    int n_threads = 0;
    const ak_cli_str_flag strs[] = {{"-m", "--model", &model_path}, {"-f", "--file", &o.text_path},
                                    {"-o", "--out", &json},         {"--svg", NULL, &svg},
                                    {"--png", NULL, &png},          {"--check-target", NULL, &check_target},
                                    {"--check-rule", NULL, &ck.rule}};
    const ak_cli_int_flag ints[] = {{"-c", NULL, &o.n_ctx, 4, INT_MAX},
                                    {"--chunks", NULL, &o.n_chunks, 1, INT_MAX},
                                    {"--exact-chunks", NULL, &o.exact_chunks, 0, INT_MAX},
                                    {"--random-chunks", NULL, &o.random_chunks, 2, 1 << 20},
                                    {"--seed", NULL, &o.seed, 0, INT_MAX},
                                    {"--check-random", NULL, &ck.n_random, 0, 1000},
                                    {"-t", NULL, &n_threads, 1, INT_MAX}};
    const ak_cli_bool_flag bools[] = {{"--data-free", &o.data_free, 1}};
    ak_cli_args args = {.cmd = "profile", .usage = usage, .strs = strs, .n_strs = AK_CLI_COUNT(strs), .ints = ints,
                        .n_ints = AK_CLI_COUNT(ints), .bools = bools, .n_bools = AK_CLI_COUNT(bools)};
    for (int i = 1; i < argc; i++) {
        int r = ak_cli_args_take(&args, argc, argv, &i);
        if (r >= 0) return r;
    }
    if (!model_path || (!o.text_path == !o.data_free)) {
        fprintf(stderr, "profile: -m FILE and one of -f TEXT or --data-free are required (see --help)\n");
        return 2;
    }
    if (check_target && (ak_cli_parse_double(check_target, &ck.target) || !(ck.target > 0))) {
        fprintf(stderr, "profile: --check-target needs a positive number, not '%s'\n", check_target);
        return 2;
    }
    ak_error err = {0};
    ak_session s;
    ak_session_opts so = {.n_ctx = o.n_ctx, .ctx_at_most_train = 1, .n_threads = n_threads};
    int rc = 1, n = -1;
    int32_t *tokens = NULL;
    ak_profile p;
    memset(&p, 0, sizeof p);
    if (ak_cli_session_open(&s, "profile", model_path, NULL, &so)) goto done;
    const ak_hparams *hp = ak_model_hparams(s.model);
    o.n_ctx = s.n_ctx;
    if ((n = ak_cli_profile_tokens(&s, &o, &tokens, &err)) < 0 ||
        ak_cli_profile_run(&s, &o, tokens, n, &p, stderr, &err)) {
        fprintf(stderr, "profile: %s\n", err.msg);
        goto done;
    }
    const char *text = o.data_free ? "random tokens" : o.text_path;
    printf("profile: %s on %s: %lld tokens x %d MoE layers, native top-%d of %d experts, native PPL %.4f\n", model_path,
           text, (long long)p.n_tokens, p.n_layer, hp->n_expert_used, hp->n_expert, p.base_ppl);
    ak_profile_print(&p, stdout);
    if (write_outputs(&p, json, svg, png, model_path, text)) goto done;
    rc = check_target ? run_check(&s, &p, &o, &ck, tokens, n) : 0;
done:
    free(tokens);
    ak_profile_free(&p);
    ak_session_close(&s);
    return rc;
}
