/* cmd_calibrate.c - `adaptive-k calibrate`: run a text through the model at its native
 * top-k, record every layer's router logits, and fit a policy to a target average K
 * (ak_calibrate_config); writes a router config the other commands accept. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"
#include "calibrate_allocate.h"
#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "engine_cli.h"
#include "eval/calib.h"
#include "io/npy.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k calibrate -m FILE.gguf -f TEXT --target-avg-k X -o OUT.json [options]\n"
            "         [routing flags]\n"
            "  Runs TEXT through the model at its native top-k (chunks of -c tokens, as perplexity),\n"
            "  records the router logits of every layer, calibrates the policy (default: entropy with\n"
            "  the seeds' k={1,2,4}-shaped levels; --policy top-p or ratio, K in 1..native unless\n"
            "  --k-min/--k-max) so that its average K on those logits is X, and writes the router\n"
            "  config (use it with --router-config).\n"
            "  Calibrate on a text you do not evaluate on (e.g. a validation split).\n\n"
            "options:\n"
            "  --target-avg-k X          the average K per token and layer to reach (required)\n"
            "  -o, --out FILE            the router config to write (required)\n"
            "  --per-layer               every layer reaches X (default: one parameter for all layers)\n"
            "  -c N                      tokens per chunk (default 512, at most the model's context)\n"
            "  --chunks N                use only the first N chunks\n"
            "  -t N                      threads\n"
            "  --save-router-logits F    also write the recorded logits as float32 .npy\n"
            "                            [layers][tokens][experts] (input of `adaptive-k route`)\n"
            "  --name NAME               the config's name (default 'calibrated')\n\n"
            "per-layer budgets (docs/calibration.md):\n"
            "  --allocate                profile the text (adaptive-k profile), give each layer its own average K\n"
            "                            so the predicted loss is least for the total, and calibrate a token-level\n"
            "                            rule inside each layer to its budget (-c defaults to 256 here)\n"
            "  --rule R                  auto (default: the rule with the lowest NLL on held-out chunks of the\n"
            "                            text), fixed, ratio, top-p, threshold or entropy\n"
            "  --holdout-chunks N        chunks kept out of the profile to choose the rule (default a quarter)\n"
            "  --exact-chunks N          chunks of the exact per-layer runs that scale the proxy (default 16)\n"
            "  --objective kl|nll        scale the proxy to the exact runs' mean KL (default) or NLL change\n"
            "  --data-free               no text: random token sequences (--random-chunks N, default 32; --seed S)\n\n");
    ak_routing_flags_help(out);
}

/* The start policy: the routing flags, else entropy with K levels {1, native/2, native}
 * (the seeds' {1,2,4} for a top-4 model) and their thresholds in nats. */
static int build_config(const ak_routing_flags *flags, int n_routing, const ak_hparams *hp, ak_router_config *cfg,
                        ak_error *err) {
    ak_error aerr = {0};
    /* --policy top-p / ratio need no starting value here (calibration finds it), and K is
     * clamped to 1..native unless --k-min/--k-max say otherwise */
    ak_routing_flags f = *flags;
    ak_policy_spec *ps = &f.policy;
    if (ps->has_kind && (ps->kind == AK_POLICY_TOP_P || ps->kind == AK_POLICY_RATIO) && !f.config_path[0] && !f.preset[0]) {
        ps->fit |= AK_FIT_PARAM;
        if (!ps->has_k_max) ps->has_k_max = 1, ps->k_max = hp->n_expert_used;
    }
    const ak_routing_flags *rf = &f;
    if (ak_routing_flags_build(rf, hp->n_expert, hp->n_layer, 1, cfg, &aerr) != AK_OK) {
        ak_failf(err, AK_ERR_INVALID_ARG, "%s", aerr.msg);
        return -1;
    }
    cfg->k_native = hp->n_expert_used;
    cfg->renormalize = hp->renormalize;
    if (!n_routing && hp->n_expert_used != 4) { /* the seeds' levels only fit a top-4 model */
        int kv[3] = {1, hp->n_expert_used / 2, hp->n_expert_used}, n = 0, levels[3];
        for (int i = 0; i < 3; i++)
            if (kv[i] >= 1 && (n == 0 || kv[i] > levels[n - 1])) levels[n++] = kv[i];
        float zero[2] = {0, 0}; /* no thresholds yet: calibration places them by quantiles */
        cfg->default_policy = n > 1 ? ak_policy_entropy(n, levels, zero, AK_ENTROPY_NATS) : ak_policy_fixed(1);
        if (n == 1) {
            ak_failf(err, AK_ERR_INVALID_ARG, "a top-1 model has nothing to calibrate");
            return -1;
        }
    }
    return 0;
}

static int save_npy(const ak_router_record *r, const char *path, ak_error *err) {
    int64_t shape[3] = {r->n_layer, r->cap, r->n_expert};
    ak_error e = {0};
    if (ak_npy_save(path, AK_DTYPE_F32, 3, shape, r->logits, &e)) {
        ak_failf(err, e.code, "%s", e.msg);
        return -1;
    }
    return 0;
}

typedef struct {
    const char *model_path, *text_path, *out_path, *npy_path, *name, *rule, *objective;
    int n_ctx, n_chunks, n_threads, per_layer, alloc, data_free, hold, exact, random_chunks, seed;
    double target;
} calib_opts;

/* Options into o and the routing flags into args (whose flag tables are this function's own:
 * only args->n_routing is read afterwards); the exit status when the command must stop, else -1. */
static int parse_args(int argc, char **argv, calib_opts *o, ak_cli_args *args) {
    const ak_cli_str_flag strs[] = {{"-m", "--model", &o->model_path},
                                    {"-f", "--file", &o->text_path},
                                    {"-o", "--out", &o->out_path},
                                    {"--save-router-logits", NULL, &o->npy_path},
                                    {"--name", NULL, &o->name},
                                    {"--rule", NULL, &o->rule},
                                    {"--objective", NULL, &o->objective}};
    const ak_cli_int_flag ints[] = {{"-c", NULL, &o->n_ctx, 4, INT_MAX},
                                    {"--chunks", NULL, &o->n_chunks, 1, INT_MAX},
                                    {"-t", NULL, &o->n_threads, 1, INT_MAX},
                                    {"--holdout-chunks", NULL, &o->hold, 1, INT_MAX},
                                    {"--exact-chunks", NULL, &o->exact, 0, INT_MAX},
                                    {"--random-chunks", NULL, &o->random_chunks, 2, 1 << 20},
                                    {"--seed", NULL, &o->seed, 0, INT_MAX}};
    const ak_cli_bool_flag bools[] = {{"--per-layer", &o->per_layer, 1}, {"--allocate", &o->alloc, 1},
                                      {"--data-free", &o->data_free, 1}};
    args->strs = strs, args->n_strs = AK_CLI_COUNT(strs), args->ints = ints, args->n_ints = AK_CLI_COUNT(ints);
    args->bools = bools, args->n_bools = AK_CLI_COUNT(bools);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = ak_cli_args_value(args, argc, argv, &i, "--target-avg-k", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_double(v, &o->target) || o->target <= 0) {
                fprintf(stderr, "calibrate: --target-avg-k needs a positive number, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_take(args, argc, argv, &i)) >= 0) return r;
    }
    return -1;
}

/* calibrate --allocate. */
static int run_allocate(const calib_opts *o, int n_routing) {
    if (!o->model_path || (!o->text_path == !o->data_free) || !o->out_path || o->target <= 0 || n_routing ||
        o->per_layer) {
        fprintf(stderr, "calibrate: --allocate needs -m FILE, one of -f TEXT or --data-free, --target-avg-k X and "
                        "-o OUT.json, and takes no routing flags or --per-layer (see --help)\n");
        return 2;
    }
    ak_allocate_opts ao = {o->model_path, o->out_path, o->name, o->rule, o->target, o->n_threads, o->hold,
                           {o->text_path, o->data_free, o->random_chunks, o->seed, o->n_ctx > 0 ? o->n_ctx : 256,
                            o->n_chunks, o->exact, AK_OBJECTIVE_KL}};
    if (o->objective && !strcmp(o->objective, "nll")) ao.prof.objective = AK_OBJECTIVE_NLL;
    else if (o->objective && strcmp(o->objective, "kl")) {
        fprintf(stderr, "calibrate: --objective takes kl or nll, not '%s'\n", o->objective);
        return 2;
    }
    return ak_cli_calibrate_allocate(&ao);
}

/* The start policy, built once the model is loaded (an ak_session_routing_fn that gives the
 * context no policy: the text runs at the native top-k). */
typedef struct {
    const ak_cli_args *args;
    ak_router_config cfg;
    int bad; /* the start policy could not be built */
} start_policy;

static int build_start(void *user, const ak_hparams *hp, ak_router_config *unused, ak_error *err) {
    (void)unused;
    start_policy *sp = user;
    if (build_config(sp->args->routing, sp->args->n_routing, hp, &sp->cfg, err)) {
        sp->bad = 1;
        return -1;
    }
    return 0;
}

/* Records the router logits of every layer over the text's chunks at the native top-k; the
 * number of tokens, or -1 once the message is printed. */
static int64_t record(ak_session *s, const calib_opts *o, ak_router_record *rec) {
    const ak_hparams *hp = ak_model_hparams(s->model);
    const int n_ctx = s->n_ctx;
    ak_error err = {0};
    if (ak_router_record_init_model(rec, s->model, s->n_tokens > n_ctx ? s->n_tokens : n_ctx, &err)) {
        fprintf(stderr, "calibrate: %s\n", err.msg);
        return -1;
    }
    ak_context_set_router_logits_sink(s->ctx, ak_router_record_sink, rec);
    ak_ppl_params pp = ak_session_ppl_params(s, n_ctx, n_ctx, o->n_chunks);
    ak_ppl_result res;
    if (ak_perplexity(s->ctx, s->tokens, s->n_tokens, &pp, &res, &err)) {
        fprintf(stderr, "calibrate: %s\n", err.msg);
        return -1;
    }
    int64_t T = ak_router_record_finish(rec, &err);
    if (T < 0) {
        fprintf(stderr, "calibrate: %s\n", err.msg);
        return -1;
    }
    printf("calibrate: %s, %d chunks of %d tokens at native top-%d (PPL %.4f): %lld tokens x %d layers of router "
           "logits\n",
           o->text_path, res.n_chunks, n_ctx, hp->n_expert_used, res.ppl, (long long)T, rec->n_layer);
    if (o->npy_path) {
        if (save_npy(rec, o->npy_path, &err)) {
            fprintf(stderr, "calibrate: --save-router-logits %s\n", err.msg);
            return -1;
        }
        printf("wrote the router logits [%d][%lld][%d] to %s%s\n", rec->n_layer, (long long)T, hp->n_expert,
               o->npy_path, hp->gating != AK_GATING_SOFTMAX || rec->n_layer != hp->n_layer
                                ? " (the layers with experts, as the policies read them: log q)" : "");
    }
    return T;
}

/* Fits cfg to the target on the record and writes it. 0, or -1 once the message is printed. */
static int fit_and_save(const calib_opts *o, const ak_hparams *hp, int n_ctx, int64_t T, const ak_router_record *rec,
                        ak_router_config *cfg) {
    char before[200];
    ak_error err = {0};
    ak_policy_describe(&cfg->default_policy, before, sizeof before);
    double achieved = 0;
    if (ak_calibrate_config_on_record(rec, cfg, o->target, o->per_layer, &achieved, &err)) {
        fprintf(stderr, "calibrate: %s\n", err.msg);
        return -1;
    }
    snprintf(cfg->name, sizeof cfg->name, "%s", o->name ? o->name : "calibrated");
    snprintf(cfg->provenance, sizeof cfg->provenance,
             "adaptive-k calibrate on %.60s with %.50s (%lld tokens, -c %d): target avg K %g, %s", o->text_path,
             o->model_path, (long long)T, n_ctx, o->target, o->per_layer ? "per layer" : "one parameter for all layers");
    ak_error aerr = {0};
    if (ak_config_save(o->out_path, cfg, &aerr)) {
        fprintf(stderr, "calibrate: %s\n", aerr.msg);
        return -1;
    }
    printf("start policy: %s\n", before);
    for (int l = 0; l < hp->n_layer; l++) {
        char desc[200];
        ak_policy_describe(ak_config_layer_policy(cfg, l), desc, sizeof desc);
        printf("  layer %d: %s\n", l, desc);
        if (!o->per_layer) break;
    }
    printf("achieved average K %.3f on the calibration text (target %.3f, %+.2f%%), %.1f%% expert compute saved vs "
           "top-%d\nwrote %s\n",
           achieved, o->target, 100.0 * (achieved - o->target) / o->target,
           100.0 * (1.0 - achieved / hp->n_expert_used), hp->n_expert_used, o->out_path);
    return 0;
}

int cmd_calibrate(int argc, char **argv) {
    calib_opts o = {.rule = "auto", .n_ctx = -1, .n_chunks = -1, .hold = -1, .exact = 16, .random_chunks = 32,
                    .seed = 1};
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    ak_cli_args args = {.cmd = "calibrate", .usage = usage, .routing = &rf};
    int rc = parse_args(argc, argv, &o, &args);
    if (rc >= 0) return rc;
    if (o.alloc) return run_allocate(&o, args.n_routing);
    if (o.n_ctx < 0) o.n_ctx = 512;
    if (!o.model_path || !o.text_path || !o.out_path || o.target <= 0) {
        fprintf(stderr, "calibrate: -m FILE, -f TEXT, --target-avg-k X and -o OUT.json are required (see --help)\n");
        return 2;
    }

    start_policy sp = {.args = &args};
    /* every router: the record holds what the policies read (ak_router_record_init_model) */
    ak_session_opts so = {.n_ctx = o.n_ctx, .ctx_at_most_train = 1, .n_threads = o.n_threads,
                          .routing = build_start, .routing_user = &sp};
    ak_session s;
    ak_router_record rec;
    memset(&rec, 0, sizeof rec);
    rc = 1;
    if (ak_cli_session_open(&s, "calibrate", o.model_path, o.text_path, &so)) {
        rc = sp.bad ? 2 : 1;
        goto done;
    }
    int64_t T = record(&s, &o, &rec);
    if (T < 0 || fit_and_save(&o, ak_model_hparams(s.model), s.n_ctx, T, &rec, &sp.cfg)) goto done;
    rc = 0;
done:
    ak_router_record_free(&rec);
    ak_config_free(&sp.cfg);
    ak_session_close(&s);
    return rc;
}
