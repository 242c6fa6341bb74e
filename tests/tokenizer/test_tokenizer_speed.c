/* Speed: 1 MiB of English-like text must tokenize in under 1 s (BPE and SPM, 20k-token
 * vocabularies). The bound is only asserted in builds without sanitizers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "base/clock.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

int main(void) {
    static const char *const words[] = {"the", "router", "picks", "experts", "for", "each", "token", "and",
                                        "layer", "while", "entropy", "stays", "low", "2024", "model's",
                                        "caf\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "(x)", "world", "of"};
    size_t len = 1 << 20, n = 0;
    char *text = malloc(len + 64);
    uint32_t seed = 7;
    while (n < len) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % 20];
        size_t l = strlen(w);
        memcpy(text + n, w, l);
        n += l;
        text[n++] = (seed >> 8) % 13 == 0 ? '\n' : ((seed >> 8) % 7 == 0 ? ',' : ' ');
    }
    int failures = 0;
    char path[64];
    ak_error err = {0};
    snprintf(path, sizeof path, "/tmp/ak_tok_speed_%d.gguf", (int)getpid());
    int32_t *ids = malloc((len + 64) * sizeof *ids);
    const char *kinds[] = {"gpt2", "llama"};
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = gguf_writer_new();
        ak_tokenizer *t = NULL;
        gguf_file *f = NULL;
        if (!ak_tokenizer_write_tiny_vocab(w, kinds[k], 20000) && !gguf_writer_write(w, path, &err) &&
            (f = gguf_open(path, &err)))
            t = ak_tokenizer_load(f, &err);
        gguf_writer_free(w);
        unlink(path);
        if (!t) {
            printf("FAIL %s vocab: %s\n", kinds[k], err.msg);
            failures++;
            gguf_close(f);
            continue;
        }
        double t0 = ak_now();
        int got = ak_tokenize(t, text, len, 1, 0, ids, (int)len + 64);
        double dt = ak_now() - t0;
        printf("%s: %d tokens from %zu bytes in %.3f s\n", kinds[k], got, len, dt);
        if (got <= 0 || (!SANITIZED && dt >= 1.0)) {
            printf("FAIL %s too slow or failed\n", kinds[k]);
            failures++;
        }
        ak_tokenizer_free(t);
        gguf_close(f);
    }
    free(ids);
    free(text);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
