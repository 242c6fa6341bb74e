/* cmd_sweep.c - `adaptive-k sweep`: the command line of the sweep (src/eval/sweep.h):
 * options, the two texts, and the summary line. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errfmt.h"
#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "engine_cli.h"
#include "eval/sweep.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k sweep -m FILE.gguf -f TEXT [--calib TEXT] [-o DIR] [options]\n"
            "  Evaluates on TEXT (perplexity as llama.cpp, chunks of -c tokens): fixed K = 1..--k-max,\n"
            "  and the entropy, top-p and ratio policies, each calibrated on the --calib text to every\n"
            "  target average K, with one parameter for all layers and per layer. For each: average K\n"
            "  measured on TEXT, PPL, PPL ratio and KL divergence to the native top-k, same top-1 share,\n"
            "  compute saved (engine counters) and decode tokens/s (median of --decode-reps runs of\n"
            "  --decode-tokens greedy tokens after a --prompt-tokens prompt) and its speed-up over native\n"
            "  (median of the ratios of alternating native and policy runs).\n"
            "  Per-layer budgets (--allocate) are profiled on the calibration text too.\n"
            "  Without --calib the first third of TEXT's tokens calibrates and the rest is evaluated.\n\n"
            "options:\n"
            "  -o DIR               output folder (default sweep-out): sweep.csv, .json, .svg, .png\n"
            "  -c N                 tokens per chunk (default 512, at most the model's context)\n"
            "  --chunks N           evaluate only the first N chunks of TEXT\n"
            "  --calib-chunks N     calibrate on only the first N chunks of the calibration text\n"
            "  --targets A,B,...    target average K (default native x 0.375,0.5,0.625,0.75,0.875,0.9375)\n"
            "  --k-max N            largest fixed K (default min(n_experts, 2 x native))\n"
            "  --policies LIST      subset of entropy,top-p,ratio (default all three; none: no such rows)\n"
            "  --allocate LIST      per-layer budgets (calibrate --allocate) with these rules: fixed, ratio, top-p,\n"
            "                       threshold, entropy (default threshold; none: no such rows)\n"
            "  --exact-chunks N     chunks of the allocation's exact per-layer runs (default 16)\n"
            "  --no-per-layer       only one parameter for all layers\n"
            "  --decode-tokens N    (default 64)   --prompt-tokens N (default 32)   --decode-reps N (default 3)\n"
            "  -t N                 threads\n"
            "  --title TEXT         the plot's title\n"
            "  the early-exit and pruning flags below apply to every evaluated row (not to the calibration\n"
            "  text's profile; the native row too, so ratios and KL compare with the native run skipping\n"
            "  the same way); --exit-target-layers calibrates on --exit-calib FILE first\n\n");
    ak_skip_flags_help(out);
}

/* ---------------------------------------------------------------- command line */

static int parse_targets(const char *v, ak_sweep *S) {
    S->n_targets = 0;
    const char *p = v;
    while (*p) {
        char buf[64];
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof buf || S->n_targets == AK_SWEEP_MAX_TARGETS) return -1;
        memcpy(buf, p, n);
        buf[n] = 0;
        double x;
        if (ak_cli_parse_double(buf, &x) || x <= 0) return -1;
        S->targets[S->n_targets++] = x;
        p += n;
        if (*p == ',') p++;
    }
    return S->n_targets ? 0 : -1;
}

static int parse_policies(const char *v, ak_sweep *S) {
    static const char *const names[3] = {"entropy", "top-p", "ratio"};
    memset(S->use_policy, 0, sizeof S->use_policy);
    if (!strcmp(v, "none")) return 0;
    const char *p = v;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (strlen(names[i]) == n && !strncmp(p, names[i], n)) S->use_policy[i] = 1, found = 1;
        if (!found) return -1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static int parse_alloc(const char *v, ak_sweep *S) {
    memset(S->use_alloc, 0, sizeof S->use_alloc);
    if (!strcmp(v, "none")) return 0;
    for (const char *p = v; *p;) {
        char name[32];
        size_t n = strcspn(p, ",");
        ak_alloc_rule r;
        if (n == 0 || n >= sizeof name) return -1;
        memcpy(name, p, n);
        name[n] = 0;
        if (ak_alloc_rule_parse(name, &r)) return -1;
        S->use_alloc[r] = 1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static int load_tokens(ak_session *s, const char *path, int32_t **out, ak_error *err) {
    size_t len = 0;
    char *text = ak_cli_read_text(path, &len, err);
    if (!text) return -1;
    int n = ak_session_tokenize(s, text, len, ak_tokenizer_add_bos(s->tok), out, err);
    free(text);
    return n;
}

/* The evaluation and calibration tokens: two texts, or the first third of one text
 * calibrates and the rest is evaluated (never the same tokens). */
static int split_texts(ak_sweep *S, int32_t **eval, int32_t **calib, ak_error *err) {
    int32_t *all = NULL;
    int n_all = load_tokens(S->s, S->text_path, &all, err);
    if (n_all < 0) return -1;
    if (S->calib_path) {
        *eval = all;
        S->n_eval = n_all;
        if ((S->n_calib = load_tokens(S->s, S->calib_path, calib, err)) < 0) return -1;
    } else {
        S->n_calib = n_all / 3;
        *calib = all;
        S->n_eval = n_all - S->n_calib;
        if (!(*eval = malloc(((size_t)S->n_eval + 1) * sizeof **eval)))
            return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        memcpy(*eval, all + S->n_calib, (size_t)S->n_eval * sizeof *all);
        fprintf(stderr, "sweep: no --calib: calibrating on the first %d tokens, evaluating on the other %d\n",
                S->n_calib, S->n_eval);
    }
    S->eval_tokens = *eval, S->calib_tokens = *calib;
    if (S->n_eval < 2 * S->n_ctx || S->n_calib < 2 * S->n_ctx)
        return ak_failf(err, AK_ERR_INVALID_ARG,
                        "the evaluation (%d tokens) and calibration (%d tokens) texts need at least 2 x -c = %d "
                        "tokens each", S->n_eval, S->n_calib, 2 * S->n_ctx);
    return 0;
}

static void default_targets(ak_sweep *S, int k_native) {
    static const double f[6] = {0.375, 0.5, 0.625, 0.75, 0.875, 0.9375};
    S->n_targets = 0;
    for (int i = 0; i < 6; i++)
        if (f[i] * k_native > 1.0) S->targets[S->n_targets++] = f[i] * k_native;
}

/* Options into S; the exit status when the command must stop, else -1. */
static int parse_args(int argc, char **argv, ak_sweep *S, int *n_threads, ak_skip_flags *sf) {
    const char *targets_arg = NULL;
    const ak_cli_str_flag strs[] = {{"-m", "--model", &S->model_path}, {"-f", "--file", &S->text_path},
                                    {"-o", "--out", &S->out_dir},      {"--calib", NULL, &S->calib_path},
                                    {"--title", NULL, &S->title},      {"--targets", NULL, &targets_arg}};
    const ak_cli_int_flag ints[] = {
        {"-c", NULL, &S->n_ctx, 4, 1 << 20},          {"--chunks", NULL, &S->n_chunks, 1, 1 << 30},
        {"--calib-chunks", NULL, &S->calib_chunks, 1, 1 << 30}, {"-t", NULL, n_threads, 1, 4096},
        {"--k-max", NULL, &S->k_max, 1, AK_MAX_EXPERTS}, {"--decode-tokens", NULL, &S->decode_tokens, 1, 4096},
        {"--prompt-tokens", NULL, &S->prompt_tokens, 1, 1 << 20}, {"--decode-reps", NULL, &S->decode_reps, 1, 15},
        {"--exact-chunks", NULL, &S->exact_chunks, 0, 1 << 20}};
    const ak_cli_bool_flag bools[] = {{"--no-per-layer", &S->per_layer_too, 0}};
    ak_cli_args args = {.cmd = "sweep", .usage = usage, .strs = strs, .n_strs = AK_CLI_COUNT(strs),
                        .ints = ints, .n_ints = AK_CLI_COUNT(ints), .bools = bools, .n_bools = AK_CLI_COUNT(bools),
                        .skip = sf};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--policies", &v))) {
            if (r < 0) return 2;
            if (parse_policies(v, S)) {
                fprintf(stderr, "sweep: --policies takes a list of entropy, top-p, ratio (or none), not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--allocate", &v))) {
            if (r < 0) return 2;
            if (parse_alloc(v, S)) {
                fprintf(stderr, "sweep: --allocate takes a list of fixed, ratio, top-p, threshold, entropy (or none), "
                                "not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_take(&args, argc, argv, &i)) >= 0) return r;
    }
    if (!S->model_path || !S->text_path) {
        fprintf(stderr, "sweep: -m FILE and -f TEXT are required (see --help)\n");
        return 2;
    }
    if (targets_arg && parse_targets(targets_arg, S)) {
        fprintf(stderr, "sweep: --targets needs a comma-separated list of positive numbers (at most %d), not '%s'\n",
                AK_SWEEP_MAX_TARGETS, targets_arg);
        return 2;
    }
    if (!targets_arg) S->n_targets = -1;
    return -1;
}

int cmd_sweep(int argc, char **argv) {
    ak_sweep S;
    ak_sweep_init(&S);
    ak_skip_flags sf;
    ak_skip_flags_init(&sf);
    int n_threads = 0, rc = parse_args(argc, argv, &S, &n_threads, &sf);
    if (rc >= 0) return rc;
    if (mkdir(S.out_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "sweep: cannot create the folder %s\n", S.out_dir);
        return 1;
    }
    ak_error err = {0};
    ak_session s;
    ak_session_opts so = {.n_ctx = S.n_ctx, .ctx_at_most_train = 1, .n_threads = n_threads};
    int32_t *eval = NULL, *calib = NULL;
    S.s = &s;
    rc = 1;
    if (ak_cli_session_open(&s, "sweep", S.model_path, NULL, &so)) goto done;
    const ak_hparams *hp = ak_model_hparams(s.model);
    S.n_ctx = s.n_ctx;
    if (S.n_targets < 0) default_targets(&S, hp->n_expert_used);
    if (split_texts(&S, &eval, &calib, &err)) {
        fprintf(stderr, "sweep: %s\n", err.msg);
        goto done;
    }
    if (sf.given) { /* calibrated (if asked) and kept for the evaluated rows; off for the profile */
        const ak_skip_params off = ak_skip_default_params();
        if (ak_skip_flags_apply(&sf, &s, S.n_ctx, "sweep", stderr)) goto done;
        S.skip = ak_context_skip(s.ctx), S.has_skip = 1;
        ak_context_set_skip(s.ctx, &off, NULL);
    }
    fprintf(stderr, "sweep: %s: %s, %d evaluation tokens, -c %d, native top-%d of %d experts, %d threads -> %s/\n",
            S.model_path, hp->arch, S.n_eval, S.n_ctx, hp->n_expert_used, hp->n_expert, ak_context_n_threads(s.ctx),
            S.out_dir);
    if (ak_sweep_run(&S, stderr, &err)) {
        fprintf(stderr, "sweep: %s\n", err.msg);
        goto done;
    }
    printf("sweep: %d rows written to %s/sweep.csv, sweep.json, sweep.svg and sweep.png\n", S.n_rows, S.out_dir);
    rc = 0;
done:
    free(eval);
    free(calib);
    ak_sweep_free(&S);
    ak_session_close(&s);
    return rc;
}
