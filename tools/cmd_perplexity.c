/* cmd_perplexity.c - adaptive-k perplexity: llama.cpp's perplexity method (see
 * src/eval/perplexity.h) with any routing policy, plus average K and compute saved. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#ifdef AK_HAVE_EVAL
#include "cli_util.h"
#include "eval/perplexity.h"
#include "eval/session.h"
#include "routing_flags.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k perplexity -m FILE.gguf -f TEXT [-c 512] [-b N] [--chunks N] [-t N]\n"
            "         [routing flags]\n"
            "  Perplexity as llama-perplexity computes it: the whole text tokenised (BOS added if the\n"
            "  vocabulary adds it), disjoint chunks of -c tokens each starting with BOS, the second\n"
            "  half of each chunk scored. Prints [i]running-PPL values, 'Final estimate: PPL = x +/- y',\n"
            "  then the routing summary: average K per token and layer, and compute saved against the\n"
            "  model's own top-k. Without routing flags the model's native top-k is used.\n"
            "  -b: tokens per forward batch (default 2048, capped at -c).\n\n");
    ak_routing_flags_help(out);
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL;
    int n_ctx = 512, n_batch = 2048, n_chunks = -1, n_threads = 0, n_routing = 0;
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        ak_error aerr = {0};
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if ((r = ak_routing_flags_parse(&rf, argc, argv, i, &aerr)) != 0) {
            if (r < 0) {
                fprintf(stderr, "perplexity: %s\n", aerr.msg);
                return 2;
            }
            i += r - 1;
            n_routing++;
            continue;
        }
        if ((r = ak_cli_flag_value(argc, argv, &i, "-m", &v)) || (r = ak_cli_flag_value(argc, argv, &i, "--model", &v))) {
            if (r < 0) goto missing;
            model_path = v;
            continue;
        }
        if ((r = ak_cli_flag_value(argc, argv, &i, "-f", &v)) || (r = ak_cli_flag_value(argc, argv, &i, "--file", &v))) {
            if (r < 0) goto missing;
            text_path = v;
            continue;
        }
        struct { const char *a, *b; int *dst, min; } ints[] = {{"-c", "--ctx-size", &n_ctx, 4},
                                                               {"-b", "--batch-size", &n_batch, 1},
                                                               {"--chunks", "--chunks", &n_chunks, 1},
                                                               {"-t", "--threads", &n_threads, 1}};
        int matched = 0;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !matched; k++) {
            if (!(r = ak_cli_flag_value(argc, argv, &i, ints[k].a, &v)) &&
                !(r = ak_cli_flag_value(argc, argv, &i, ints[k].b, &v)))
                continue;
            if (r < 0) goto missing;
            if (ak_cli_parse_int(v, ints[k].dst) || *ints[k].dst < ints[k].min) {
                fprintf(stderr, "perplexity: %s needs an integer >= %d, not '%s'\n", ints[k].a, ints[k].min, v);
                return 2;
            }
            matched = 1;
        }
        if (matched) continue;
        fprintf(stderr, "perplexity: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    missing:
        fprintf(stderr, "perplexity: %s needs a value\n", argv[i]);
        return 2;
    }
    if (!model_path || !text_path) {
        fprintf(stderr, "perplexity: -m FILE and -f TEXT are required\n");
        usage(stderr);
        return 2;
    }
    if (n_batch > n_ctx) n_batch = n_ctx;

    char err[512];
    size_t text_len = 0;
    char *text = ak_read_whole_file(text_path, &text_len, err, sizeof err);
    if (!text) {
        fprintf(stderr, "perplexity: %s\n", err);
        return 1;
    }
    /* llama.cpp drops one trailing newline of a prompt file */
    if (text_len && text[text_len - 1] == '\n') text[--text_len] = 0;

    ak_session s;
    if (ak_session_load(&s, model_path, err, sizeof err)) {
        fprintf(stderr, "perplexity: %s\n", err);
        free(text);
        return 1;
    }
    const ak_hparams *hp = ak_model_hparams(s.model);
    int rc = 1, have_cfg = 0;
    int32_t *tokens = NULL;
    ak_router_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (n_routing) {
        ak_error aerr = {0};
        if (ak_routing_flags_build(&rf, hp->n_expert, hp->n_layer, 0, &cfg, &aerr) != AK_OK) {
            fprintf(stderr, "perplexity: %s\n", aerr.msg);
            goto done;
        }
        have_cfg = 1;
        if (!cfg.k_native) cfg.k_native = hp->n_expert_used;
    }
    if (ak_session_start(&s, n_ctx, n_batch, n_threads, have_cfg ? &cfg : NULL, err, sizeof err)) {
        fprintf(stderr, "perplexity: %s\n", err);
        goto done;
    }
    int n_tokens = ak_session_tokenize(&s, text, text_len, ak_tokenizer_add_bos(s.tok), &tokens, err, sizeof err);
    if (n_tokens < 0) {
        fprintf(stderr, "perplexity: %s\n", err);
        goto done;
    }
    fprintf(stderr, "perplexity: %s, %d tokens, n_ctx %d, batch %d, %d threads\n", hp->arch, n_tokens, n_ctx, n_batch,
            ak_context_n_threads(s.ctx));
    ak_ppl_params pp = ak_ppl_default_params();
    pp.n_vocab = hp->n_vocab;
    pp.n_ctx = n_ctx;
    pp.n_batch = n_batch;
    pp.n_chunks = n_chunks;
    pp.bos = ak_tokenizer_add_bos(s.tok) ? ak_tokenizer_bos(s.tok) : -1;
    pp.progress = stdout;
    ak_ppl_result res;
    if (ak_perplexity(s.ctx, tokens, n_tokens, &pp, &res, err, sizeof err)) {
        fprintf(stderr, "perplexity: %s\n", err);
        goto done;
    }
    printf("Final estimate: PPL = %.4lf +/- %.5lf\n", res.ppl, res.ppl_err);
    printf("chunks %d, scored tokens %lld, %.2f s (%.1f tokens/s)\n", res.n_chunks, (long long)res.n_scored,
           res.seconds, res.seconds > 0 ? (double)res.n_chunks * n_ctx / res.seconds : 0.0);
    ak_session_print_routing(&s, stdout);
    rc = 0;
done:
    free(text);
    free(tokens);
    if (have_cfg) ak_config_free(&cfg);
    ak_session_close(&s);
    return rc;
}

#endif /* AK_HAVE_EVAL */
