/* cmd_perplexity.c - adaptive-k perplexity: llama.cpp's perplexity method (see
 * src/eval/perplexity.h) with any routing policy, plus average K and compute saved. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "engine_cli.h"
#include "eval/kl.h"
#include "eval/logprobs.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k perplexity -m FILE.gguf -f TEXT [-c 512] [-b N] [--chunks N] [-t N] [-ctk T -ctv T]\n"
            "         [--no-repack] [routing flags]\n"
            "  Perplexity as llama-perplexity computes it: the whole text tokenised (BOS added if the\n"
            "  vocabulary adds it), disjoint chunks of -c tokens each starting with BOS, the second\n"
            "  half of each chunk scored. Prints [i]running-PPL values, 'Final estimate: PPL = x +/- y',\n"
            "  then the routing summary: average K per token and layer, and compute saved against the\n"
            "  model's own top-k. Without routing flags the model's native top-k is used.\n"
            "  -b: tokens per forward batch (default 2048, capped at -c).\n"
            "  -ctk/-ctv: KV cache types (f16 default, f32, bf16, q8_0, q4_0).\n"
            "  --no-repack: compute on the weights as the file lays them out (default: MXFP4, Q4_K, Q5_K\n"
            "  are repacked at load for faster kernels).\n"
            "  --save-logits FILE  store the scored positions' log-probabilities (run this at full K)\n"
            "  --kl-base FILE      KL divergence to that run: mean KL, same top-1 token, PPL ratio\n"
            "                      (same model, text, -c and --chunks as the saved run)\n"
            "  --split-context     each chunk's context half as its own decode keeping only its last token's\n"
            "                      logits, then the scored half (on with the exit and prune flags: the\n"
            "                      context is pruned, the continuation scored at full compute); same PPL\n\n");
    ak_routing_flags_help(out);
    ak_skip_flags_help(out);
}

typedef struct {
    ak_logprobs *save; /* rows to fill, or NULL */
    const ak_logprobs *base; /* rows to compare with, or NULL */
    float *base_logp;  /* n_vocab scratch */
    ak_kl_stats kl;
    int mismatch;      /* a base row's next token differs from this run's */
} logits_sink;

static void on_logits(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next) {
    logits_sink *ls = user;
    if (ls->save) {
        int64_t r = ak_logprobs_row(ls->save, chunk, pos);
        if (r >= 0) ak_logprobs_put(ls->save, r, logits, next);
    }
    if (ls->base) {
        int64_t r = ak_logprobs_row(ls->base, chunk, pos);
        if (r < 0) return;
        int32_t argmax, base_next;
        double nll_base;
        ak_logprobs_get(ls->base, r, ls->base_logp, &argmax, &base_next, &nll_base);
        if (base_next != next) {
            ls->mismatch = 1;
            return;
        }
        ak_kl_add(&ls->kl, ls->base_logp, argmax, nll_base, logits, n_vocab, next);
    }
}

static void print_kl(const ak_kl_stats *st, FILE *out) {
    ak_kl_summary k;
    ak_kl_summarize(st, &k);
    fprintf(out, "KL divergence to the base run (%lld positions):\n", (long long)k.count);
    fprintf(out, "  Mean PPL(base)              : %10.4f +/- %9.5f\n", k.ppl_base, k.ppl_base_err);
    fprintf(out, "  Mean ln(PPL(Q)/PPL(base))   : %10.6f +/- %9.6f\n", k.ln_ratio, k.ln_ratio_err);
    fprintf(out, "  Mean PPL(Q)/PPL(base)       : %10.6f +/- %9.6f\n", k.ratio, k.ratio_err);
    fprintf(out, "  Mean KLD                    : %10.6f +/- %9.6f\n", k.kld, k.kld_err);
    fprintf(out, "  Maximum KLD                 : %10.6f\n", k.kld_max);
    fprintf(out, "  Same top p                  : %6.3f +/- %5.3f %%\n", 100.0 * k.same_top, 100.0 * k.same_top_err);
}

typedef struct {
    const char *model_path, *text_path, *save_path, *base_path, *ctk, *ctv;
    int n_ctx, n_batch, n_chunks, n_threads, split, no_repack;
} ppl_opts;

/* Options into o and the routing flags into args (whose flag tables are this function's own:
 * only args->n_routing is read afterwards); the exit status when the command must stop, else -1. */
static int parse_args(int argc, char **argv, ppl_opts *o, ak_cli_args *args) {
    const ak_cli_str_flag strs[] = {{"-m", "--model", &o->model_path},
                                    {"-f", "--file", &o->text_path},
                                    {"--save-logits", NULL, &o->save_path},
                                    {"--kl-base", NULL, &o->base_path},
                                    {"-ctk", "--cache-type-k", &o->ctk},
                                    {"-ctv", "--cache-type-v", &o->ctv}};
    const ak_cli_int_flag ints[] = {{"-c", "--ctx-size", &o->n_ctx, 4, INT_MAX},
                                    {"-b", "--batch-size", &o->n_batch, 1, INT_MAX},
                                    {"--chunks", NULL, &o->n_chunks, 1, INT_MAX},
                                    {"-t", "--threads", &o->n_threads, 1, INT_MAX}};
    const ak_cli_bool_flag bools[] = {{"--split-context", &o->split, 1}, {"--no-repack", &o->no_repack, 1}};
    args->strs = strs, args->n_strs = AK_CLI_COUNT(strs), args->ints = ints, args->n_ints = AK_CLI_COUNT(ints);
    args->bools = bools, args->n_bools = AK_CLI_COUNT(bools);
    for (int i = 1; i < argc; i++) {
        int st = ak_cli_args_take(args, argc, argv, &i);
        if (st >= 0) return st;
    }
    if (!o->model_path || !o->text_path) {
        fprintf(stderr, "perplexity: -m FILE and -f TEXT are required\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

/* --kl-base and --save-logits for the n_run chunks of tokens (whose hash is hash). 0, or -1
 * once the message is printed. */
static int setup_logits(const ppl_opts *o, const ak_hparams *hp, int n_run, uint64_t hash, ak_logprobs *base_lp,
                        ak_logprobs *saved_lp, logits_sink *ls) {
    ak_error err = {0};
    if (o->base_path) {
        if (ak_logprobs_load(base_lp, o->base_path, &err)) {
            fprintf(stderr, "perplexity: --kl-base %s\n", err.msg);
            return -1;
        }
        if (base_lp->n_vocab != hp->n_vocab || base_lp->n_ctx != o->n_ctx || base_lp->n_chunks != n_run ||
            base_lp->tokens_hash != hash) {
            fprintf(stderr,
                    "perplexity: --kl-base %s was saved from another run (n_vocab %d, -c %d, %d chunks, tokens "
                    "%016llx; this run: %d, %d, %d, %016llx): use the same model, text, -c and --chunks\n",
                    o->base_path, base_lp->n_vocab, base_lp->n_ctx, base_lp->n_chunks,
                    (unsigned long long)base_lp->tokens_hash, hp->n_vocab, o->n_ctx, n_run, (unsigned long long)hash);
            return -1;
        }
        ls->base = base_lp;
        ls->base_logp = malloc((size_t)hp->n_vocab * sizeof *ls->base_logp);
        if (!ls->base_logp) {
            fprintf(stderr, "perplexity: out of memory\n");
            return -1;
        }
    }
    if (o->save_path) {
        if (ak_logprobs_init(saved_lp, hp->n_vocab, o->n_ctx, n_run, &err)) {
            fprintf(stderr, "perplexity: --save-logits: %s\n", err.msg);
            return -1;
        }
        saved_lp->tokens_hash = hash;
        ls->save = saved_lp;
    }
    return 0;
}

int cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {.n_ctx = 512, .n_batch = 2048, .n_chunks = -1};
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    ak_skip_flags sf;
    ak_skip_flags_init(&sf);
    ak_cli_args args = {.cmd = "perplexity", .usage = usage, .usage_after_unknown = 1, .routing = &rf, .skip = &sf};
    int rc = parse_args(argc, argv, &o, &args);
    if (rc >= 0) return rc;
    if (o.n_batch > o.n_ctx) o.n_batch = o.n_ctx;

    ak_session s;
    ak_session_opts so = {.n_ctx = o.n_ctx, .n_batch = o.n_batch, .n_threads = o.n_threads, .no_repack = o.no_repack,
                          .routing = ak_cli_session_routing, .routing_user = &args};
    if (ak_cli_kv_types("perplexity", o.ctk, o.ctv, &so.type_k, &so.type_v)) return 2;
    ak_logprobs saved_lp, base_lp;
    memset(&saved_lp, 0, sizeof saved_lp);
    memset(&base_lp, 0, sizeof base_lp);
    logits_sink ls;
    memset(&ls, 0, sizeof ls);
    rc = 1;
    if (ak_cli_session_open(&s, "perplexity", o.model_path, o.text_path, &so)) goto done;
    const ak_hparams *hp = ak_model_hparams(s.model);
    const int n_ctx = o.n_ctx, n_tokens = s.n_tokens;
    fprintf(stderr, "perplexity: %s, %d tokens, n_ctx %d, batch %d, %d threads\n", hp->arch, n_tokens, n_ctx,
            o.n_batch, ak_context_n_threads(s.ctx));
    if (hp->n_ctx_train > 0 && n_ctx > hp->n_ctx_train) /* as llama.cpp: allowed, but said */
        fprintf(stderr, "perplexity: warning: n_ctx %d is larger than the %d tokens the model was trained on\n",
                n_ctx, hp->n_ctx_train);
    if (ak_skip_flags_apply(&sf, &s, n_ctx, "perplexity", stdout)) goto done;
    ak_ppl_params pp = ak_session_ppl_params(&s, n_ctx, o.n_batch, o.n_chunks);
    pp.progress = stdout;
    pp.split_context = o.split || sf.given;
    if (n_tokens >= 2 * n_ctx) {
        const int whole = n_tokens / n_ctx;
        const int n_run = o.n_chunks > 0 && o.n_chunks < whole ? o.n_chunks : whole;
        const uint64_t hash = ak_tokens_hash(s.tokens, (int64_t)n_run * n_ctx);
        if (setup_logits(&o, hp, n_run, hash, &base_lp, &saved_lp, &ls)) goto done;
        if (ls.save || ls.base) {
            pp.on_logits = on_logits;
            pp.user = &ls;
        }
    }
    ak_error err = {0};
    ak_ppl_result res;
    if (ak_perplexity(s.ctx, s.tokens, n_tokens, &pp, &res, &err)) {
        fprintf(stderr, "perplexity: %s\n", err.msg);
        goto done;
    }
    if (ls.mismatch) {
        fprintf(stderr, "perplexity: --kl-base %s: its tokens differ from this run's\n", o.base_path);
        goto done;
    }
    printf("Final estimate: PPL = %.4lf +/- %.5lf\n", res.ppl, res.ppl_err);
    printf("chunks %d, scored tokens %lld, %.2f s (%.1f tokens/s)\n", res.n_chunks, (long long)res.n_scored,
           res.seconds, res.seconds > 0 ? (double)res.n_chunks * n_ctx / res.seconds : 0.0);
    ak_session_print_routing(&s, stdout);
    ak_context_print_ledger(s.ctx, stdout);
    if (ls.base) print_kl(&ls.kl, stdout);
    if (ls.save) {
        if (ak_logprobs_save(&saved_lp, o.save_path, &err)) {
            fprintf(stderr, "perplexity: --save-logits %s\n", err.msg);
            goto done;
        }
        printf("saved the log-probabilities of %lld positions to %s\n", (long long)saved_lp.n_rows, o.save_path);
    }
    rc = 0;
done:
    ak_logprobs_free(&saved_lp);
    ak_logprobs_free(&base_lp);
    free(ls.base_logp);
    ak_session_close(&s);
    return rc;
}
