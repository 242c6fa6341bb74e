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
#include "engine_cli.h"
#include "model/sampler.h"
#include "base/clock.h"
#include "base/file.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k generate -m FILE.gguf (-p PROMPT | -f PROMPT_FILE) [-n 64] [--temp 0.8] [--top-k 40]\n"
            "         [--top-p 0.95]\n"
            "         [--seed S] [-t THREADS] [-c CTX] [-ctk TYPE] [-ctv TYPE] [--no-repack] [routing flags]\n"
            "  Streams the prompt and its completion to stdout (stops at an end-of-generation token,\n"
            "  after -n tokens, or when the context is full), then prints to stderr the prompt and\n"
            "  generation speeds, the average K per token and layer and the compute saved against\n"
            "  the model's own top-k. --temp 0 is greedy. -c 0: the model's trained context length.\n"
            "  -ctk/-ctv: KV cache types (f16 default, f32, bf16, q8_0, q4_0).\n"
            "  --no-repack: compute on the weights as the file lays them out (default: MXFP4, Q4_K, Q5_K\n"
            "  are repacked at load for faster kernels).\n"
            "  --top-p/--top-k here are the sampler's; give the top-p routing policy's threshold as\n"
            "  --route-top-p P.\n\n");
    ak_routing_flags_help(out);
    ak_skip_flags_help(out);
}

/* buf is the caller's, sized once, so streaming allocates nothing per token. */
static void print_piece(const ak_session *s, int32_t id, char *buf, int cap) {
    int n = ak_token_to_piece(s->tok, id, buf, cap);
    if (n > 0) fwrite(buf, 1, (size_t)n, stdout);
    else if (n < 0 && n != INT32_MIN) fprintf(stderr, "[token %d: piece longer than %d bytes]", id, cap);
    fflush(stdout);
}

typedef struct {
    const char *model_path, *prompt, *prompt_file, *ctk, *ctv;
    size_t prompt_len;
    char *file_text; /* the prompt read from -f (owned) */
    int n_predict, n_threads, n_ctx, no_repack;
    ak_sampler_params sp;
} gen_opts;

/* The sampler's flags and --route-top-p: 1 when argv[*i] was one (taken), 0 when not, -1
 * once a message is printed. */
static int take_sampling(ak_cli_args *args, int argc, char **argv, int *i, ak_sampler_params *sp) {
    const char *v = NULL;
    int r;
    /* --top-p / --top-k are the sampler's here (as in llama.cpp); the top-p routing
     * policy's threshold is --route-top-p */
    if ((r = ak_cli_args_value(args, argc, argv, i, "--temp", &v))) {
        if (r < 0) return -1;
        if (ak_cli_parse_float(v, &sp->temp) || sp->temp < 0) {
            fprintf(stderr, "generate: --temp needs a number >= 0, not '%s'\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = ak_cli_args_value(args, argc, argv, i, "--top-p", &v))) {
        if (r < 0) return -1;
        if (ak_cli_parse_float(v, &sp->top_p) || sp->top_p <= 0 || sp->top_p > 1) {
            fprintf(stderr, "generate: --top-p needs a number in (0, 1], not '%s'\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = ak_cli_args_value(args, argc, argv, i, "--seed", &v))) {
        if (r < 0) return -1;
        if (ak_cli_parse_seed(v, &sp->seed)) {
            fprintf(stderr, "generate: --seed needs a non-negative integer, not '%s'\n", v);
            return -1;
        }
        return 1;
    }
    if ((r = ak_cli_args_value(args, argc, argv, i, "--route-top-p", &v))) {
        ak_error aerr = {0};
        char *fake[] = {"--top-p", (char *)v};
        if (r < 0) return -1;
        if (ak_routing_flags_parse(args->routing, 2, fake, 0, &aerr) < 0) {
            fprintf(stderr, "generate: %s\n", aerr.msg);
            return -1;
        }
        args->n_routing++;
        return 1;
    }
    return 0;
}

/* Options into o and the routing flags into args (whose flag tables are this function's own:
 * only args->n_routing is read afterwards); the exit status when the command must stop, else -1. */
static int parse_args(int argc, char **argv, gen_opts *o, ak_cli_args *args) {
    const ak_cli_str_flag strs[] = {
        {"-m", "--model", &o->model_path}, {"-p", "--prompt", &o->prompt}, {"-f", "--file", &o->prompt_file},
        {"-ctk", "--cache-type-k", &o->ctk}, {"-ctv", "--cache-type-v", &o->ctv}};
    const ak_cli_int_flag ints[] = {{"-n", "--n-predict", &o->n_predict, 0, INT_MAX},
                                    {"--top-k", NULL, &o->sp.top_k, 0, INT_MAX},
                                    {"-t", "--threads", &o->n_threads, 1, INT_MAX},
                                    {"-c", "--ctx-size", &o->n_ctx, 0, INT_MAX}};
    const ak_cli_bool_flag bools[] = {{"--no-repack", &o->no_repack, 1}};
    args->strs = strs, args->n_strs = AK_CLI_COUNT(strs), args->ints = ints, args->n_ints = AK_CLI_COUNT(ints);
    args->bools = bools, args->n_bools = AK_CLI_COUNT(bools);
    for (int i = 1; i < argc; i++) {
        int r = take_sampling(args, argc, argv, &i, &o->sp);
        if (r < 0) return 2;
        if (r) continue;
        if ((r = ak_cli_args_take(args, argc, argv, &i)) >= 0) return r;
    }
    if (!o->model_path || !o->prompt == !o->prompt_file) {
        fprintf(stderr, "generate: -m FILE and one of -p PROMPT or -f PROMPT_FILE are required\n");
        usage(stderr);
        return 2;
    }
    if (o->prompt_file) { /* as llama.cpp's -f: the file's bytes are the prompt */
        ak_error err = {0};
        if (!(o->file_text = ak_read_file(o->prompt_file, &o->prompt_len, &err))) {
            fprintf(stderr, "generate: -f: %s\n", err.msg);
            return 1;
        }
        o->prompt = o->file_text;
    } else {
        o->prompt_len = strlen(o->prompt);
    }
    return -1;
}

/* Decodes the prompt in batches, then samples and streams up to n_predict tokens. The number
 * generated, or -1 once the message is printed; the prompt's and generation's seconds. */
static int run(ak_session *s, ak_sampler *smp, int n_predict, double *t_prompt, double *t_gen) {
    ak_error err = {0};
    double t0 = ak_now();
    for (int b0 = 0; b0 < s->n_tokens; b0 += s->n_batch) {
        int nb = s->n_tokens - b0 < s->n_batch ? s->n_tokens - b0 : s->n_batch;
        if (ak_decode(s->ctx, s->tokens + b0, nb, &err)) {
            fprintf(stderr, "\ngenerate: %s\n", err.msg);
            return -1;
        }
    }
    *t_prompt = ak_now() - t0;
    t0 = ak_now();
    int n_gen = 0;
    static char piece[1 << 16];
    for (; n_gen < n_predict; n_gen++) {
        int32_t id = ak_sampler_sample(smp, ak_get_logits(s->ctx, -1));
        if (ak_tokenizer_is_eog(s->tok, id)) break;
        /* llama.cpp renders control tokens as nothing; BOS is the one a model emits (the
         * tokenizer API has no control-token query, so others print their text) */
        if (id != ak_tokenizer_bos(s->tok)) print_piece(s, id, piece, (int)sizeof piece);
        if (n_gen + 1 == n_predict) {
            n_gen++;
            break; /* the last token's logits are not needed */
        }
        if (ak_decode(s->ctx, &id, 1, &err)) {
            fprintf(stderr, "\ngenerate: %s\n", err.msg);
            return -1;
        }
    }
    *t_gen = ak_now() - t0;
    return n_gen;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o = {.n_predict = 64, .sp = ak_sampler_default_params()};
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    ak_skip_flags sf;
    ak_skip_flags_init(&sf);
    ak_cli_args args = {.cmd = "generate", .usage = usage, .usage_after_unknown = 1, .routing = &rf, .skip = &sf};
    int rc = parse_args(argc, argv, &o, &args);
    if (rc >= 0) return rc;

    /* -c 0: the model's trained context (the cache's pages are touched only as it fills) */
    ak_session_opts so = {.n_ctx = o.n_ctx ? o.n_ctx : INT_MAX, .ctx_at_most_train = !o.n_ctx, .n_batch = 512,
                          .n_threads = o.n_threads, .no_repack = o.no_repack, .routing = ak_cli_session_routing,
                          .routing_user = &args, .text = o.prompt, .text_len = o.prompt_len, .logits_last = 1};
    if (ak_cli_kv_types("generate", o.ctk, o.ctv, &so.type_k, &so.type_v)) {
        free(o.file_text);
        return 2;
    }
    ak_session s;
    ak_sampler *smp = NULL;
    rc = 1;
    if (ak_cli_session_open(&s, "generate", o.model_path, NULL, &so)) goto done;
    if (ak_skip_flags_apply(&sf, &s, s.n_ctx < 512 ? s.n_ctx : 512, "generate", stderr)) goto done;
    const int n_prompt = s.n_tokens, n_ctx = s.n_ctx;
    int n_predict = o.n_predict;
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
    smp = ak_sampler_new(ak_model_hparams(s.model)->n_vocab, &o.sp);
    if (!smp) {
        fprintf(stderr, "generate: bad sampling parameters\n");
        goto done;
    }

    fwrite(o.prompt, 1, o.prompt_len, stdout);
    fflush(stdout);
    double t_prompt = 0, t_gen = 0;
    int n_gen = run(&s, smp, n_predict, &t_prompt, &t_gen);
    if (n_gen < 0) goto done;
    printf("\n");
    fflush(stdout); /* the text ends before the timing lines on a shared terminal or pipe */
    fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tokens/s)\n", n_prompt, t_prompt,
            t_prompt > 0 ? n_prompt / t_prompt : 0.0);
    fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tokens/s)\n", n_gen, t_gen, t_gen > 0 ? n_gen / t_gen : 0.0);
    ak_session_print_routing(&s, stderr);
    rc = 0;
done:
    ak_sampler_free(smp);
    ak_session_close(&s);
    free(o.file_text);
    return rc;
}
