/* test_tokenizer_agree.c - the trainer's BPE encoder and the runtime tokenizer
 * (src/tokenizer, built from the same vocabulary with pre "olmo") give identical ids on
 * real text; llama-tokenize agreed with the trainer's encoder on the shipped test texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "train/bpe.h"
#include "base/file.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_tokenizer_agree TRAIN_TEXT TEST_TEXT\n");
        return 2;
    }
    ak_error err = {0};
    size_t n_train, n_test;
    char *train = ak_read_file(argv[1], &n_train, &err);
    char *test = ak_read_file(argv[2], &n_test, &err);
    if (!train || !test) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ak_bpe *b = ak_bpe_train(train, n_train, 1024, &err);
    if (!b) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int nt = ak_bpe_n_tokens(b), nm = ak_bpe_n_merges(b);
    char **tok = calloc((size_t)nt, sizeof *tok), **mer = calloc((size_t)nm, sizeof *mer), buf[4096];
    for (int i = 0; i < nt; i++) ak_bpe_token_gpt2(b, i, buf, sizeof buf), tok[i] = strdup(buf);
    for (int i = 0; i < nm; i++) ak_bpe_merge_gpt2(b, i, buf, sizeof buf), mer[i] = strdup(buf);
    ak_tokenizer *t = ak_tokenizer_create_bpe((const char *const *)tok, nt, (const char *const *)mer, nm, "olmo",
                                              ak_bpe_eot(b), ak_bpe_eot(b), &err);
    int failures = 0;
    if (!t) {
        fprintf(stderr, "runtime tokenizer: %s\n", err.msg);
        failures++;
    } else {
        int32_t *mine;
        size_t n_mine;
        int32_t *theirs = malloc(n_test * sizeof *theirs);
        int n = ak_tokenize(t, test, n_test, 0, 0, theirs, (int)n_test);
        ak_bpe_encode(b, test, n_test, &mine, &n_mine);
        size_t first_diff = 0;
        while (first_diff < n_mine && (int)first_diff < n && mine[first_diff] == theirs[first_diff]) first_diff++;
        if (n < 0 || (size_t)n != n_mine || first_diff != n_mine) {
            fprintf(stderr, "encoders differ: %zu vs %d tokens, first difference at token %zu\n", n_mine, n, first_diff);
            failures++;
        } else {
            printf("test_tokenizer_agree: %zu identical tokens\n", n_mine);
        }
        free(mine);
        free(theirs);
        ak_tokenizer_free(t);
    }
    for (int i = 0; i < nt; i++) free(tok[i]);
    for (int i = 0; i < nm; i++) free(mer[i]);
    free(tok);
    free(mer);
    ak_bpe_free(b);
    free(train);
    free(test);
    return failures != 0;
}
