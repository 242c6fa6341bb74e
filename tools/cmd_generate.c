/* cmd_generate.c - adaptive-k generate: streams a completion of a prompt, then prints the
 * prompt and generation speeds, average K and compute saved. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "eval/session.h"
#include "model/sampler.h"
#include "base/clock.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k generate -m FILE.gguf -p PROMPT [-n 64] [--temp 0.8] [--top-k 40] [--top-p 0.95]\n"
            "         [--seed S] [-t THREADS] [-c CTX] [routing flags]\n"
            "  Streams the prompt and its completion to stdout (stops at an end-of-generation token,\n"
            "  after -n tokens, or when the context is full), then prints to stderr the prompt and\n"
            "  generation speeds, the average K per token and layer and the compute saved against\n"
            "  the model's own top-k. --temp 0 is greedy. -c 0: the model's context length (at most\n"
            "  4096). --top-p/--top-k here are the sampler's; give the top-p routing policy's\n"
            "  threshold as --route-top-p P.\n\n");
    ak_routing_flags_help(out);
}

/* buf is the caller's, sized once, so streaming allocates nothing per token. */
static void print_piece(const ak_session *s, int32_t id, char *buf, int cap) {
    int n = ak_token_to_piece(s->tok, id, buf, cap);
    if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
    else if (n < 0 && n != INT32_MIN) fprintf(stderr, "[token %d: piece longer than %d bytes]", id, cap);
    fflush(stdout);
}

int cmd_generate(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL;
    int n_predict = 64, n_threads = 0, n_ctx = 0;
    ak_sampler_params sp = ak_sampler_default_params();
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    const ak_cli_str_flag strs[] = {{"-m", "--model", &model_path}, {"-p", "--prompt", &prompt}};
    const ak_cli_int_flag ints[] = {{"-n", "--n-predict", &n_predict, 0, INT_MAX},
                                    {"--top-k", NULL, &sp.top_k, 0, INT_MAX},
                                    {"-t", "--threads", &n_threads, 1, INT_MAX},
                                    {"-c", "--ctx-size", &n_ctx, 0, INT_MAX}};
    ak_cli_args args = {.cmd = "generate", .usage = usage, .usage_after_unknown = 1,
                        .strs = strs, .n_strs = AK_CLI_COUNT(strs), .ints = ints, .n_ints = AK_CLI_COUNT(ints),
                        .routing = &rf};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        /* --top-p / --top-k are the sampler's here (as in llama.cpp); the top-p routing
         * policy's threshold is --route-top-p */
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--temp", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_float(v, &sp.temp) || sp.temp < 0) {
                fprintf(stderr, "generate: --temp needs a number >= 0, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--top-p", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_float(v, &sp.top_p) || sp.top_p <= 0 || sp.top_p > 1) {
                fprintf(stderr, "generate: --top-p needs a number in (0, 1], not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--seed", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_seed(v, &sp.seed)) {
                fprintf(stderr, "generate: --seed needs a non-negative integer, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--route-top-p", &v))) {
            ak_error aerr = {0};
            char *fake[] = {"--top-p", (char *)v};
            if (r < 0) return 2;
            if (ak_routing_flags_parse(&rf, 2, fake, 0, &aerr) < 0) {
                fprintf(stderr, "generate: %s\n", aerr.msg);
                return 2;
            }
            args.n_routing++;
            continue;
        }
        if ((r = ak_cli_args_take(&args, argc, argv, &i)) >= 0) return r;
    }
    if (!model_path || !prompt) {
        fprintf(stderr, "generate: -m FILE and -p PROMPT are required\n");
        usage(stderr);
        return 2;
    }

    char err[512];
    ak_session s;
    if (ak_session_load(&s, model_path, err, sizeof err)) {
        fprintf(stderr, "generate: %s\n", err);
        return 1;
    }
    const ak_hparams *hp = ak_model_hparams(s.model);
    int rc = 1, have_cfg = 0;
    int32_t *tokens = NULL;
    ak_sampler *smp = NULL;
    ak_router_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (args.n_routing) {
        ak_error aerr = {0};
        if (ak_routing_flags_build_for_model(&rf, hp->n_expert, hp->n_layer, hp->n_expert_used, &cfg, &aerr)) {
            fprintf(stderr, "generate: %s\n", aerr.msg);
            goto done;
        }
        have_cfg = 1;
    }
    if (n_ctx == 0) n_ctx = hp->n_ctx_train > 0 && hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    const int n_batch = n_ctx < 512 ? n_ctx : 512;
    if (ak_session_start(&s, n_ctx, n_batch, n_threads, have_cfg ? &cfg : NULL, err, sizeof err)) {
        fprintf(stderr, "generate: %s\n", err);
        goto done;
    }
    int n_prompt = ak_session_tokenize(&s, prompt, strlen(prompt), ak_tokenizer_add_bos(s.tok), &tokens, err, sizeof err);
    if (n_prompt < 0) {
        fprintf(stderr, "generate: %s\n", err);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "generate: the prompt is empty and the vocabulary adds no BOS token\n");
        goto done;
    }
    if (n_prompt >= n_ctx) {
        fprintf(stderr, "generate: the prompt has %d tokens; the context holds %d (-c)\n", n_prompt, n_ctx);
        goto done;
    }
    if (n_prompt + n_predict > n_ctx) {
        fprintf(stderr, "generate: -n %d does not fit the context of %d tokens (-c) after the %d-token prompt: "
                        "generating at most %d\n",
                n_predict, n_ctx, n_prompt, n_ctx - n_prompt);
        n_predict = n_ctx - n_prompt;
    }
    smp = ak_sampler_new(hp->n_vocab, &sp);
    if (!smp) {
        fprintf(stderr, "generate: bad sampling parameters\n");
        goto done;
    }

    fwrite(prompt, 1, strlen(prompt), stdout);
    fflush(stdout);
    double t0 = ak_now();
    for (int b0 = 0; b0 < n_prompt; b0 += n_batch) {
        int nb = n_prompt - b0 < n_batch ? n_prompt - b0 : n_batch;
        if (ak_decode(s.ctx, tokens + b0, nb, err, sizeof err)) {
            fprintf(stderr, "\ngenerate: %s\n", err);
            goto done;
        }
    }
    double t_prompt = ak_now() - t0;
    t0 = ak_now();
    int n_gen = 0;
    static char piece[1 << 16];
    for (; n_gen < n_predict; n_gen++) {
        int32_t id = ak_sampler_sample(smp, ak_get_logits(s.ctx, -1));
        if (ak_tokenizer_is_eog(s.tok, id)) break;
        /* llama.cpp renders control tokens as nothing; BOS is the one a model emits (the
         * tokenizer API has no control-token query, so others print their text) */
        if (id != ak_tokenizer_bos(s.tok)) print_piece(&s, id, piece, (int)sizeof piece);
        if (n_gen + 1 == n_predict) {
            n_gen++;
            break; /* the last token's logits are not needed */
        }
        if (ak_decode(s.ctx, &id, 1, err, sizeof err)) {
            fprintf(stderr, "\ngenerate: %s\n", err);
            goto done;
        }
    }
    double t_gen = ak_now() - t0;
    printf("\n");
    fflush(stdout); /* the text ends before the timing lines on a shared terminal or pipe */
    fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tokens/s)\n", n_prompt, t_prompt,
            t_prompt > 0 ? n_prompt / t_prompt : 0.0);
    fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tokens/s)\n", n_gen, t_gen, t_gen > 0 ? n_gen / t_gen : 0.0);
    ak_session_print_routing(&s, stderr);
    rc = 0;
done:
    free(tokens);
    ak_sampler_free(smp);
    if (have_cfg) ak_config_free(&cfg);
    ak_session_close(&s);
    return rc;
}
