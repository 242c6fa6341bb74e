/* main.c - the adaptive-k command-line tool: dispatches to one subcommand. The build defines
 * AK_ENGINE_ONLY when the libraries of train, train-tokenizer and serve are left out. */
#include <stdio.h>
#include <string.h>

#include "adaptivek.h"
#include "commands.h"

static const ak_command commands[] = {
    {"route", cmd_route, "route router logits (.npy or raw f32) through a policy"},
    {"calibrate-logits", cmd_calibrate_logits, "fit a policy to a target average K from router logits"},
#ifndef AK_ENGINE_ONLY
    {"train-tokenizer", cmd_train_tokenizer, "train a byte-level BPE vocabulary on a text file"},
    {"train", cmd_train, "train the small OLMoE-architecture model and export it to GGUF"},
#endif
    {"gguf-info", cmd_gguf_info, "validate a GGUF file and list its keys, tensors and sizes"},
    {"gen-model", cmd_gen_model, "write a random-weight MoE model (GGUF) that llama.cpp also loads"},
    {"perplexity", cmd_perplexity, "perplexity of a text, llama.cpp's method, with average K and compute saved"},
    {"generate", cmd_generate, "generate text from a prompt with adaptive expert routing"},
    {"calibrate", cmd_calibrate, "calibrate a policy to a target average K on a model's router logits over a text"},
    {"profile", cmd_profile, "per-layer sensitivity to fewer experts: table, JSON and heat map"},
    {"sweep", cmd_sweep, "quality vs average K for fixed K and calibrated policies: CSV, JSON, SVG and PNG plot"},
    {"tokenize", cmd_tokenize, "tokenize a text with a GGUF model's tokenizer (ids and pieces)"},
#ifndef AK_ENGINE_ONLY
    {"serve", cmd_serve, "OpenAI-compatible HTTP server with Prometheus metrics, JSON logs, traces and A/B tests"},
#endif
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *out) {
    fprintf(out, "adaptive-k %s - adaptive expert routing for Mixture-of-Experts models\n\n", AK_VERSION);
    fprintf(out, "usage: adaptive-k <command> [options]   (adaptive-k <command> --help for details)\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].summary);
#ifdef AK_ENGINE_ONLY
    fprintf(out, "\n(built with AK_ENGINE_ONLY: train-tokenizer, train and serve are left out)\n");
#endif
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("adaptive-k %s\n", AK_VERSION);
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "adaptive-k: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
