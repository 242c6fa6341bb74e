/* cmd_train_tokenizer.c - adaptive-k train-tokenizer: byte-level BPE on a text file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bpe.h"
#include "commands.h"
#include "base/clock.h"
#include "base/file.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k train-tokenizer --input FILE --out VOCAB [--vocab N] [--eval FILE]...\n"
            "  Trains a GPT-2-style byte-level BPE vocabulary of N tokens (default 4096,\n"
            "  including the 256 bytes and <|endoftext|>) and writes it as an ak-bpe text file.\n"
            "  --eval FILE prints the token count of FILE and the perplexity of a unigram model\n"
            "  of the input's tokens (add-one smoothed) on it: the baseline a language model must beat.\n");
}

/* Perplexity of an add-one-smoothed unigram model of the training tokens on each file. */
static int unigram_report(ak_bpe *b, const int32_t *train, size_t n_train, const char *const *files, int n_files) {
    int V = ak_bpe_n_tokens(b);
    double *count = calloc((size_t)V, sizeof *count);
    if (!count) return 1;
    for (size_t i = 0; i < n_train; i++) count[train[i]]++;
    int status = 0;
    for (int f = 0; f < n_files; f++) {
        ak_error err = {0};
        size_t len, n = 0;
        int32_t *ids = NULL;
        char *text = ak_read_file(files[f], &len, &err);
        if (!text || ak_bpe_encode(b, text, len, &ids, &n)) {
            fprintf(stderr, "train-tokenizer: %s\n", text ? "out of memory" : err.msg);
            free(text);
            status = 1;
            continue;
        }
        double nll = 0;
        for (size_t i = 0; i < n; i++) nll -= log((count[ids[i]] + 1) / ((double)n_train + V));
        printf("train-tokenizer: %s: %zu tokens (%.2f bytes/token), unigram perplexity %.2f\n", files[f], n,
               (double)len / (double)(n ? n : 1), exp(nll / (double)(n ? n : 1)));
        free(ids);
        free(text);
    }
    free(count);
    return status;
}

int cmd_train_tokenizer(int argc, char **argv) {
    const char *input = NULL, *out = NULL, *evals[16];
    int n_evals = 0;
    int vocab = 4096;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
            input = argv[++i];
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--eval") && i + 1 < argc && n_evals < 16) {
            evals[n_evals++] = argv[++i];
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 257 || v > 1 << 20) {
                fprintf(stderr, "train-tokenizer: --vocab must be an integer in 257..%d\n", 1 << 20);
                return 2;
            }
            vocab = (int)v;
        } else {
            fprintf(stderr, "train-tokenizer: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!input || !out) {
        usage(stderr);
        return 2;
    }
    ak_error err = {0};
    size_t len;
    char *text = ak_read_file(input, &len, &err);
    if (!text) {
        fprintf(stderr, "train-tokenizer: %s\n", err.msg);
        return 1;
    }
    double t0 = ak_now();
    ak_bpe *b = ak_bpe_train(text, len, vocab, &err);
    double seconds = ak_now() - t0;
    if (!b || ak_bpe_save(b, out, &err)) {
        fprintf(stderr, "train-tokenizer: %s\n", err.msg);
        free(text);
        ak_bpe_free(b);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int enc = ak_bpe_encode(b, text, len, &ids, &n_ids);
    printf("train-tokenizer: %d tokens, %d merges from %zu bytes in %.1f s", ak_bpe_n_tokens(b),
           ak_bpe_n_merges(b), len, seconds);
    if (!enc) printf("; %zu tokens on the input (%.2f bytes/token)", n_ids, (double)len / (double)(n_ids ? n_ids : 1));
    printf(" -> %s\n", out);
    int status = enc ? 1 : unigram_report(b, ids, n_ids, evals, n_evals);
    free(ids);
    free(text);
    ak_bpe_free(b);
    return status;
}
