/* Ids pinned from llama.cpp's llama-tokenize (see docs/tokenizer.md for how they were made):
 * the tiny vocabularies of 2000 tokens, with tokenizer.ggml.pre set to each pre-tokenizer. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

#include "reference_ids.inc"

static ak_tokenizer *tiny(const char *pre, const char *path) {
    gguf_writer *w = gguf_writer_new();
    ak_error err = {0};
    ak_tokenizer *t = NULL;
    if (ak_tokenizer_write_tiny_vocab(w, strcmp(pre, "llama") ? "gpt2" : "llama", 2000) == 0) {
        if (strcmp(pre, "llama")) gguf_set_str(w, "tokenizer.ggml.pre", pre);
        if (gguf_writer_write(w, path, &err) == 0) {
            gguf_file *f = gguf_open(path, &err);
            if (f) t = ak_tokenizer_load(f, &err);
            gguf_close(f);
        }
    }
    unlink(path);
    gguf_writer_free(w);
    if (!t) printf("FAIL: tiny vocab for %s: %s\n", pre, err.msg);
    return t;
}

int main(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/ak_tok_ref_%d.gguf", (int)getpid());
    int failures = 0, n_cases = (int)(sizeof ref_cases / sizeof ref_cases[0]);
    const char *loaded_pre = "";
    ak_tokenizer *t = NULL;
    for (int c = 0; c < n_cases; c++) {
        if (strcmp(loaded_pre, ref_cases[c].pre)) {
            ak_tokenizer_free(t);
            t = tiny(ref_cases[c].pre, path);
            loaded_pre = ref_cases[c].pre;
        }
        if (!t) {
            failures++;
            continue;
        }
        const char *text = ref_texts[ref_cases[c].text];
        int32_t ids[800];
        int n = ak_tokenize(t, text, strlen(text), 1, 1, ids, 800);
        int ok = n == ref_cases[c].n;
        for (int i = 0; ok && i < n; i++) ok = ids[i] == ref_cases[c].ids[i];
        if (!ok) {
            printf("FAIL pre %s text %d: %d ids, llama.cpp %d\n", ref_cases[c].pre, ref_cases[c].text, n,
                   ref_cases[c].n);
            failures++;
        }
    }
    ak_tokenizer_free(t);
    printf("%d cases, %s\n", n_cases, failures ? "FAILED" : "ok");
    return failures != 0;
}
