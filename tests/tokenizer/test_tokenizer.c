/* Tokenizer tests on hand-built vocabularies: expected ids are derived by hand from the merge
 * ranks / piece scores (comments show the derivation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

static int failures;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

static void check_ids(const ak_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                      const int32_t *want, int n_want, const char *what) {
    int32_t got[512];
    int n = ak_tokenize(t, text, len, add_special, parse_special, got, 512);
    int ok = n == n_want;
    for (int i = 0; ok && i < n; i++) ok = got[i] == want[i];
    if (!ok) {
        printf("FAIL %s: got %d ids:", what, n);
        for (int i = 0; i < n && i < 40; i++) printf(" %d", got[i]);
        printf("\n  want %d ids:", n_want);
        for (int i = 0; i < n_want; i++) printf(" %d", want[i]);
        printf("\n");
        failures++;
    }
}
#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

/* GPT-2's byte-to-unicode table, written independently of the library. */
static void gpt2_char(int b, char *out) {
    int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) out[0] = (char)cp, out[1] = 0;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
}

/* Vocabulary: ids 0..255 = bytes (id = byte value), then merged tokens, then <|endoftext|>. */
static const char *const merge_list[] = {"h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"};
static const char *const merged[] = {"he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld"};
enum { HE = 256, LL, HELL, HELLO, SP_W, OR, SP_WOR, LD, SP_WORLD, EOT, N_VOCAB };

static ak_tokenizer *hand_bpe(const char *pre) {
    static char bytes[256][3];
    const char *tokens[N_VOCAB];
    for (int b = 0; b < 256; b++) {
        gpt2_char(b, bytes[b]);
        tokens[b] = bytes[b];
    }
    for (int i = 0; i < 9; i++) tokens[256 + i] = merged[i];
    tokens[EOT] = "<|endoftext|>";
    ak_error err = {0};
    ak_tokenizer *t = ak_tokenizer_create_bpe(tokens, N_VOCAB, merge_list, 9, pre, EOT, EOT, &err);
    CHECK(t, "create_bpe: %s", err.msg);
    return t;
}

static void roundtrip(const ak_tokenizer *t, const char *text, size_t len, const char *what) {
    int32_t ids[4096];
    int n = ak_tokenize(t, text, len, 0, 0, ids, 4096);
    CHECK(n >= 0, "%s: tokenize failed (%d)", what, n);
    char out[16384];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int k = ak_token_to_piece(t, ids[i], out + o, (int)(sizeof out - o));
        CHECK(k >= 0, "%s: piece of %d", what, ids[i]);
        if (k < 0) return;
        o += (size_t)k;
    }
    CHECK(o == len && !memcmp(out, text, len), "%s: round trip differs (%zu vs %zu bytes)", what, o, len);
}

static void test_bpe(void) {
    ak_tokenizer *t = hand_bpe("gpt2");
    if (!t) return;
    CHECK(ak_tokenizer_n_vocab(t) == N_VOCAB && ak_tokenizer_bos(t) == EOT && ak_tokenizer_eos(t) == EOT, "getters");
    CHECK(ak_tokenizer_is_eog(t, EOT) && !ak_tokenizer_is_eog(t, HELLO), "eog");
    /* h e l l o: rank 0 (h,e), rank 1 (l,l), then (he,ll) rank 2, (hell,o) rank 3 */
    check_ids(t, "hello world", 11, 0, 0, IDS(HELLO, SP_WORLD), "hello world");
    /* o r l d: (o,r) rank 5 and (l,d) rank 7 apply; (or,ld) is no merge */
    check_ids(t, "orld", 4, 0, 0, IDS(OR, LD), "orld");
    check_ids(t, "hold", 4, 0, 0, IDS('h', 'o', LD), "hold");
    /* " w" merges (rank 4) before "or" (5): Ġw o r -> Ġw or -> Ġwor */
    check_ids(t, " wor", 4, 0, 0, IDS(SP_WOR), " wor");
    /* bytes outside ASCII map through their byte tokens; invalid UTF-8 too */
    check_ids(t, "\xC3\xA9\xFF", 3, 0, 0, IDS(0xC3, 0xA9, 0xFF), "non-ASCII bytes");
    check_ids(t, "hello<|endoftext|>", 18, 0, 1, IDS(HELLO, EOT), "parse_special");
    check_ids(t, "hello<|endoftext|>", 18, 0, 0,
              IDS(HELLO, '<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>'), "special as text");
    check_ids(t, "hello", 5, 1, 0, IDS(EOT, HELLO), "add_special adds BOS");
    check_ids(t, "", 0, 0, 0, NULL, 0, "empty");
    int32_t small[1];
    CHECK(ak_tokenize(t, "hello world", 11, 0, 0, small, 1) == -2 && small[0] == HELLO, "overflow returns -count");
    CHECK(ak_tokenize(t, NULL, 3, 0, 0, small, 1) == INT32_MIN, "NULL text");
    char piece[16];
    CHECK(ak_token_to_piece(t, SP_WORLD, piece, 16) == 6 && !memcmp(piece, " world", 6), "piece Ġworld");
    CHECK(ak_token_to_piece(t, SP_WORLD, piece, 3) == -6, "piece too small");
    CHECK(ak_token_to_piece(t, 0x0A, piece, 16) == 1 && piece[0] == '\n', "piece newline byte");
    CHECK(ak_token_to_piece(t, N_VOCAB, piece, 16) == INT32_MIN, "piece bad id");
    static const char *const texts[] = {
        "hello world, hello WORLD!\n\n  indented\ttab",
        "caf\xC3\xA9 na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
        "bad \xFF\xFE bytes \xC3 truncated \xE2\x82 and \xED\xA0\x80 surrogate \xF8\x88\x80\x80\x80",
        "1234567890 it's WE'RE 3.14159",
    };
    static const char *const pres[] = {"gpt2", "llama3", "qwen2", "default"};
    for (int p = 0; p < 4; p++) {
        ak_tokenizer *u = p ? hand_bpe(pres[p]) : t;
        for (int i = 0; u && i < 4; i++) roundtrip(u, texts[i], strlen(texts[i]), pres[p]);
        if (p) ak_tokenizer_free(u);
    }
    /* random bytes (mostly invalid UTF-8, with spaces, digits and apostrophes mixed in) */
    static const char extra[] = " '0s\n\t";
    uint32_t seed = 12345;
    for (int p = 0; p < 4; p++) {
        ak_tokenizer *u = hand_bpe(pres[p]);
        for (int k = 0; u && k < 200; k++) {
            char buf[300];
            size_t len = (size_t)(k * 7 % 300);
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = seed >> 16;
                buf[i] = (r & 3) == 0 ? extra[(r >> 2) % 6] : (char)(r >> 4);
            }
            roundtrip(u, buf, len, "random bytes");
        }
        ak_tokenizer_free(u);
    }
    ak_tokenizer_free(t);
}

/* ---------------------------------------------------------------- GGUF-built vocabularies */

static char path[64];

static ak_tokenizer *load_from(gguf_writer *w, ak_error *err) {
    ak_tokenizer *t = NULL;
    if (gguf_writer_write(w, path, err) == 0) {
        gguf_file *f = gguf_open(path, err);
        if (f) t = ak_tokenizer_load(f, err);
        gguf_close(f);
    }
    unlink(path);
    return t;
}

/* SPM: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0xXX>, then pieces. */
enum { SP_U = 259, P_A, P_B, P_C, P_AB, P_BC, P_UA, P_UAB, P_ABC, N_SPM };

static ak_tokenizer *hand_spm(float bc_score) {
    const char *tokens[N_SPM];
    static char bytes[256][8];
    int32_t types[N_SPM];
    float scores[N_SPM] = {0};
    tokens[0] = "<unk>", tokens[1] = "<s>", tokens[2] = "</s>";
    types[0] = 2, types[1] = types[2] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], 8, "<0x%02X>", b);
        tokens[3 + b] = bytes[b];
        types[3 + b] = 6;
    }
    const char *pieces[] = {"\xE2\x96\x81", "a", "b", "c", "ab", "bc", "\xE2\x96\x81" "a", "\xE2\x96\x81" "ab", "abc"};
    const float piece_scores[] = {-1, -2, -3, -4, -5, bc_score, -6, -7, -8};
    for (int i = 0; i < 9; i++) {
        tokens[SP_U + i] = pieces[i];
        types[SP_U + i] = 1;
        scores[SP_U + i] = piece_scores[i];
    }
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, N_SPM);
    gguf_set_arr_data(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, N_SPM);
    gguf_set_arr_data(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, N_SPM);
    ak_error err = {0};
    ak_tokenizer *t = load_from(w, &err);
    gguf_writer_free(w);
    CHECK(t, "load spm: %s", err.msg);
    return t;
}

static void test_spm(void) {
    /* "▁abc": bc (-1) is best -> ▁ a bc; then ▁a (-6) beats the stale ab and abc (a was absorbed) */
    ak_tokenizer *t = hand_spm(-1);
    if (t) {
        check_ids(t, "abc", 3, 1, 0, IDS(1, P_UA, P_BC), "spm bc first");
        /* d is no piece: byte fallback <0x64> = 3 + 0x64; é = <0xC3><0xA9> */
        check_ids(t, "d", 1, 0, 0, IDS(SP_U, 3 + 0x64), "spm byte fallback");
        check_ids(t, "\xC3\xA9", 2, 0, 0, IDS(SP_U, 3 + 0xC3, 3 + 0xA9), "spm utf8 fallback");
        /* space inside text becomes ▁; "a b" -> ▁a ▁ b  (▁b is no piece) */
        check_ids(t, "a b", 3, 0, 0, IDS(P_UA, SP_U, P_B), "spm spaces");
        check_ids(t, "</s>a", 5, 0, 1, IDS(2, P_UA), "spm special then prefix space");
        char piece[16];
        CHECK(ak_token_to_piece(t, P_UA, piece, 16) == 2 && !memcmp(piece, " a", 2), "spm piece ▁a");
        CHECK(ak_token_to_piece(t, 3 + 0x64, piece, 16) == 1 && piece[0] == 'd', "spm piece byte");
        CHECK(ak_tokenizer_add_bos(t) && ak_tokenizer_bos(t) == 1 && ak_tokenizer_is_eog(t, 2), "spm defaults");
        ak_tokenizer_free(t);
    }
    /* bc (-9) last: ab (-5) first -> ▁ ab c; ▁a is stale (a grew); ▁ab (-7) -> ▁ab c */
    t = hand_spm(-9);
    if (t) {
        check_ids(t, "abc", 3, 0, 0, IDS(P_UAB, P_C), "spm ab first");
        ak_tokenizer_free(t);
    }
}

static void expect_load_error(gguf_writer *w, const char *needle, const char *what) {
    ak_error err = {0};
    ak_tokenizer *t = load_from(w, &err);
    CHECK(!t && strstr(err.msg, needle), "%s: expected error containing '%s', got '%s'", what, needle, err.msg);
    ak_tokenizer_free(t);
    gguf_writer_free(w);
}

static void test_bad_vocab(void) {
    const char *tokens[] = {"a", "b", "ab"};
    const char *bad_merges[] = {"a b", "a c"};
    int32_t types[] = {1, 1};
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    expect_load_error(w, "tokenizer.ggml.tokens", "missing tokens");
    w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", bad_merges, 2);
    expect_load_error(w, "not a token", "merge with unknown token");
    w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", bad_merges, 1);
    gguf_set_arr_data(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 2);
    expect_load_error(w, "token_type has 2 entries", "token_type length");
    w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3);
    expect_load_error(w, "merges", "gpt2 without merges");
    w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "bert");
    expect_load_error(w, "not supported", "unknown model");
    w = gguf_writer_new();
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", bad_merges, 1);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 7);
    expect_load_error(w, "outside the vocabulary", "eos out of range");
    ak_error err = {0};
    const char *merges_no_space[] = {"ab"};
    CHECK(!ak_tokenizer_create_bpe(tokens, 3, merges_no_space, 1, NULL, -1, -1, &err) &&
              strstr(err.msg, "left right"),
          "merge without space: '%s'", err.msg);
}

static void test_tiny_vocab(void) {
    const char *kinds[] = {"gpt2", "llama"};
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = gguf_writer_new();
        CHECK(ak_tokenizer_write_tiny_vocab(w, kinds[k], 1000) == 0, "tiny %s", kinds[k]);
        ak_error err = {0};
        ak_tokenizer *t = load_from(w, &err);
        gguf_writer_free(w);
        CHECK(t, "tiny %s loads: %s", kinds[k], err.msg);
        if (!t) continue;
        CHECK(ak_tokenizer_n_vocab(t) == 1000, "tiny %s size %d", kinds[k], ak_tokenizer_n_vocab(t));
        /* "the" is a whole piece in both vocabularies */
        int32_t ids[16];
        /* SPM adds the prefix space itself */
        int n = k == 0 ? ak_tokenize(t, " the", 4, 0, 0, ids, 16) : ak_tokenize(t, "the", 3, 0, 0, ids, 16);
        char piece[16];
        int pl = n == 1 ? ak_token_to_piece(t, ids[0], piece, 16) : -1;
        CHECK(n == 1 && pl == 4 && !memcmp(piece, " the", 4), "tiny %s ' the' -> %d ids", kinds[k], n);
        const char *text = "The router picks experts for each token; caf\xC3\xA9 \xF0\x9F\x98\x80 \xFF end";
        if (k == 0) roundtrip(t, text, strlen(text), "tiny gpt2");
        ak_tokenizer_free(t);
    }
    /* OLMoE's vocabulary size is reached exactly */
    gguf_writer *w = gguf_writer_new();
    ak_error err = {0};
    CHECK(ak_tokenizer_write_tiny_vocab(w, "gpt2", 50304) == 0, "tiny gpt2 50304");
    ak_tokenizer *t = load_from(w, &err);
    gguf_writer_free(w);
    CHECK(t && ak_tokenizer_n_vocab(t) == 50304, "tiny gpt2 50304: %s", err.msg);
    ak_tokenizer_free(t);
    w = gguf_writer_new();
    CHECK(ak_tokenizer_write_tiny_vocab(w, "bert", 1000) == -1, "unknown kind");
    gguf_writer_free(w);
}

/* Random vocabularies and merges (some invalid): creation fails cleanly or tokenizes without
 * memory errors (run under ASan) and still round-trips. */
static void test_random_vocab(void) {
    static const char *const units[] = {"a", "b", "Ġ", "Ċ", "\xC3\xA9", "<", "|", ">", " ", "x"};
    uint32_t seed = 99;
    int created = 0;
    for (int round = 0; round < 60; round++) {
        char tok_buf[64][16], merge_buf[48][40];
        const char *tokens[64 + 256 + 1], *merges[48];
        static char bytes[256][3];
        int n_tok = 0;
        for (int b = 0; b < 256 && round % 2 == 0; b++) {
            gpt2_char(b, bytes[b]);
            tokens[n_tok++] = bytes[b];
        }
        int n_extra = 1 + round % 40;
        for (int i = 0; i < n_extra; i++) {
            tok_buf[i][0] = 0;
            int parts = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 3;
            for (int k = 0; k < parts; k++) strcat(tok_buf[i], units[((seed = seed * 1103515245u + 12345u) >> 16) % 10]);
            tokens[n_tok++] = tok_buf[i];
        }
        tokens[n_tok++] = "<|bos|>";
        int n_merges = round % 48;
        for (int i = 0; i < n_merges; i++) {
            const char *l = tokens[((seed = seed * 1103515245u + 12345u) >> 16) % (unsigned)(n_tok - 1)];
            const char *r = tokens[((seed = seed * 1103515245u + 12345u) >> 16) % (unsigned)(n_tok - 1)];
            snprintf(merge_buf[i], sizeof merge_buf[i], "%s %s", l, r);
            merges[i] = merge_buf[i];
        }
        ak_error err = {0};
        ak_tokenizer *t = ak_tokenizer_create_bpe(tokens, n_tok, merges, n_merges, round % 3 ? "qwen2" : "gpt2",
                                                  n_tok - 1, -1, &err);
        CHECK(t || err.msg[0], "round %d: NULL without a message", round);
        if (!t) continue;
        created++;
        const char *text = "ab \xC3\xA9x|<a>  b\nba'S 12 \xFF";
        int32_t ids[256];
        CHECK(ak_tokenize(t, text, strlen(text), 1, 1, ids, 256) >= 0, "round %d: tokenize", round);
        if (round % 2 == 0) roundtrip(t, text, strlen(text), "random vocab");
        ak_tokenizer_free(t);
    }
    CHECK(created >= 20, "only %d random vocabularies were accepted", created);
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/ak_tok_test_%d.gguf", (int)getpid());
    test_bpe();
    test_spm();
    test_bad_vocab();
    test_tiny_vocab();
    test_random_vocab();
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
