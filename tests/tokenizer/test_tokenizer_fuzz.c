/* Corrupted vocabularies: random byte flips in a GGUF holding a tiny vocabulary. Whatever the
 * reader accepts, the tokenizer must load or refuse with a message, never crash (run under ASan). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(void) {
    const char *kinds[] = {"gpt2", "llama"};
    char path[64];
    ak_error err = {0};
    snprintf(path, sizeof path, "/tmp/ak_tok_fuzz_%d.gguf", (int)getpid());
    uint32_t seed = 2024;
    int opened = 0, loaded = 0, refused = 0;
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = gguf_writer_new();
        if (ak_tokenizer_write_tiny_vocab(w, kinds[k], 400) || gguf_writer_write(w, path, &err)) {
            printf("FAIL writing %s vocab\n", kinds[k]);
            return 1;
        }
        gguf_writer_free(w);
        size_t len;
        unsigned char *orig = read_file(path, &len), *buf = malloc(len);
        unlink(path);
        if (!orig || !buf) return 1;
        for (int round = 0; round < 1500; round++) {
            memcpy(buf, orig, len);
            int flips = 1 + round % 4;
            for (int i = 0; i < flips; i++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % len;
                seed = seed * 1103515245u + 12345u;
                buf[at] = (round & 1) ? (unsigned char)(seed >> 16) : (unsigned char)(buf[at] ^ (1u << (seed >> 29)));
            }
            gguf_file *f = gguf_open_buffer(buf, len, &err);
            if (!f) continue;
            opened++;
            err.msg[0] = 0;
            ak_tokenizer *t = ak_tokenizer_load(f, &err);
            if (!t) {
                if (!err.msg[0]) {
                    printf("FAIL %s round %d: refused without a message\n", kinds[k], round);
                    return 1;
                }
                refused++;
            } else {
                loaded++;
                int32_t ids[128];
                const char *text = "the model's <s> words \xC3\xA9\xFF 123";
                ak_tokenize(t, text, strlen(text), 1, 1, ids, 128);
                char piece[64];
                for (int id = 0; id < ak_tokenizer_n_vocab(t); id++) ak_token_to_piece(t, id, piece, sizeof piece);
                ak_tokenizer_free(t);
            }
            gguf_close(f);
        }
        free(orig);
        free(buf);
    }
    printf("%d corrupted files opened: %d loaded, %d refused\nok\n", opened, loaded, refused);
    return 0;
}
