/* adaptive-k tokenize: ids printed by the CLI equal the library's; bad usage fails cleanly.
 * argv[1] = path of the adaptive-k binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv) {
    if (argc < 2 || access(argv[1], X_OK)) {
        fprintf(stderr, "usage: test_tokenize_cli PATH-OF-adaptive-k (an executable)\n");
        return 1;
    }
    char path[64], cmd[512], out[4096], want[4096];
    ak_error err = {0};
    snprintf(path, sizeof path, "/tmp/ak_tok_cli_%d.gguf", (int)getpid());
    gguf_writer *w = gguf_writer_new();
    int failures = 0;
    if (ak_tokenizer_write_tiny_vocab(w, "gpt2", 1000) || gguf_writer_write(w, path, &err)) {
        printf("FAIL writing vocab: %s\n", err.msg);
        return 1;
    }
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, &err);
    ak_tokenizer *t = f ? ak_tokenizer_load(f, &err) : NULL;
    if (!t) {
        printf("FAIL loading vocab: %s\n", err.msg);
        unlink(path);
        return 1;
    }
    const char *text = "the world's model<|endoftext|>";
    int32_t ids[64];
    int n = ak_tokenize(t, text, strlen(text), 1, 1, ids, 64);
    size_t k = (size_t)snprintf(want, sizeof want, "[");
    for (int i = 0; i < n; i++) k += (size_t)snprintf(want + k, sizeof want - k, i ? ", %d" : "%d", ids[i]);
    snprintf(want + k, sizeof want - k, "]\n");
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' -p \"%s\" --ids-only --parse-special 2>&1", argv[1], path, text);
    if (run(cmd, out, sizeof out) != 0 || strcmp(out, want)) {
        printf("FAIL ids: got '%s' want '%s'\n", out, want);
        failures++;
    }
    /* the piece listing shows "id -> 'piece'" with the special token's text */
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' -p \"%s\" --parse-special 2>&1", argv[1], path, text);
    if (run(cmd, out, sizeof out) != 0 || !strstr(out, " -> '<|endoftext|>'") || !strstr(out, " -> ' model'")) {
        printf("FAIL listing: '%s'\n", out);
        failures++;
    }
    snprintf(cmd, sizeof cmd, "'%s' tokenize -p x 2>&1", argv[1]);
    if (run(cmd, out, sizeof out) != 2) {
        printf("FAIL missing -m should exit 2: '%s'\n", out);
        failures++;
    }
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m /nonexistent/x.gguf -p x 2>&1", argv[1]);
    if (run(cmd, out, sizeof out) != 1 || !strstr(out, "x.gguf")) {
        printf("FAIL missing file should exit 1 naming it: '%s'\n", out);
        failures++;
    }
    ak_tokenizer_free(t);
    gguf_close(f);
    unlink(path);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
