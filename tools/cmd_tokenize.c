/* cmd_tokenize.c - adaptive-k tokenize: a GGUF model's tokenizer on a text, printed like
 * llama-tokenize (one "id -> 'piece'" per line, or the ids as a list). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "base/file.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k tokenize -m FILE.gguf (-p TEXT | -f FILE) [--ids-only] [--no-bos] [--parse-special]\n"
            "  Tokenizes TEXT (or the contents of FILE) with the model's tokenizer (tokenizer.ggml.*).\n"
            "  --ids-only       print only the ids, as [id, id, ...]\n"
            "  --no-bos         do not add BOS/EOS even when the vocabulary asks for them\n"
            "  --parse-special  turn control-token texts such as <|endoftext|> into their ids\n");
}

/* Prints a piece quoted, escaping what would break the line. */
static void print_piece(const char *s, int n) {
    putchar('\'');
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 32 || c == 127) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL;
    int ids_only = 0, add_special = 1, parse_special = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && i + 1 < argc) prompt = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc) file = argv[++i];
        else if (!strcmp(a, "--ids-only") || !strcmp(a, "--ids")) ids_only = 1;
        else if (!strcmp(a, "--no-bos")) add_special = 0;
        else if (!strcmp(a, "--parse-special")) parse_special = 1;
        else {
            fprintf(stderr, "tokenize: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !!prompt == !!file) {
        fprintf(stderr, "tokenize: need -m FILE.gguf and exactly one of -p TEXT or -f FILE\n");
        usage(stderr);
        return 2;
    }
    ak_error err = {0};
    gguf_file *g = gguf_open(model, &err);
    if (!g) {
        fprintf(stderr, "tokenize: %s\n", err.msg);
        return 1;
    }
    ak_tokenizer *t = ak_tokenizer_load(g, &err);
    if (!t) {
        fprintf(stderr, "tokenize: %s: %s\n", model, err.msg);
        gguf_close(g);
        return 1;
    }
    size_t len = 0;
    char *text = NULL;
    if (file) {
        ak_error why;
        text = ak_read_file(file, &len, &why);
        if (!text) {
            fprintf(stderr, "tokenize: cannot read %s\n", why.msg);
            ak_tokenizer_free(t);
            gguf_close(g);
            return 1;
        }
    } else {
        len = strlen(prompt);
    }
    const char *src = file ? text : prompt;
    int rc = 1;
    /* usually fewer tokens than bytes: one pass, a second only if that guess was short */
    int cap = len < INT32_MAX - 64 ? (int)len + 64 : INT32_MAX;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    int n = ids ? ak_tokenize(t, src, len, add_special, parse_special, ids, cap) : INT32_MIN;
    if (n < 0 && n != INT32_MIN) {
        cap = -n;
        free(ids);
        ids = malloc((size_t)cap * sizeof *ids);
        n = ids ? ak_tokenize(t, src, len, add_special, parse_special, ids, cap) : INT32_MIN;
    }
    if (!ids || n < 0) {
        fprintf(stderr, "tokenize: tokenization failed (text too long or out of memory)\n");
    } else {
        if (ids_only) putchar('[');
        for (int i = 0; i < n; i++) {
            if (ids_only) {
                printf(i ? ", %d" : "%d", ids[i]);
                continue;
            }
            char piece[256];
            int k = ak_token_to_piece(t, ids[i], piece, (int)sizeof piece);
            printf("%6d -> ", ids[i]);
            if (k >= 0) print_piece(piece, k);
            else printf("(piece of %d bytes)", k == INT32_MIN ? 0 : -k);
            putchar('\n');
        }
        if (ids_only) puts("]");
        rc = 0;
    }
    free(ids);
    free(text);
    ak_tokenizer_free(t);
    gguf_close(g);
    return rc;
}
