/* test_bpe.c - GPT-2 pre-tokeniser splits, byte-to-unicode mapping, BPE training on a
 * hand-worked example, file round trip and encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/bpe.h"
#include "train/pretok.h"
#include "../check.h"


static void check_split(const char *text, const char *const *want, int n_want) {
    size_t len = strlen(text), pos = 0;
    int i = 0;
    while (pos < len) {
        size_t end = ak_pretok_next(text, len, pos);
        if (i >= n_want || strlen(want[i]) != end - pos || memcmp(want[i], text + pos, end - pos)) {
            fprintf(stderr, "split of '%s': piece %d is '%.*s', want '%s'\n", text, i, (int)(end - pos), text + pos,
                    i < n_want ? want[i] : "(none)");
            failures++;
            return;
        }
        i++;
        pos = end;
    }
    CHECK(i == n_want);
}

static void test_pretok(void) {
    const char *a[] = {"Hello", " world", "'s", " ", " end", "\n", "\n", "ok", " 123", " ...!", "  "};
    check_split("Hello world's  end\n\nok 123 ...!  ", a, 11);
    const char *b[] = {"it", "\xE2\x80\x99", "s", " fine", "\xE2\x80\x94", "we", "'ll", " see", "."};
    check_split("it\xE2\x80\x99s fine\xE2\x80\x94we'll see.", b, 9);
    const char *c[] = {"caf\xC3\xA9", " na\xC3\xAFve", " 1790", "-", "1800", " \t", " x"};
    check_split("caf\xC3\xA9 na\xC3\xAFve 1790-1800 \t x", c, 7);
}

static void test_byte_map(void) {
    char u[2];
    CHECK(ak_byte_to_unicode(' ', u) == 2 && (unsigned char)u[0] == 0xC4 && (unsigned char)u[1] == 0xA0); /* U+0120 */
    CHECK(ak_byte_to_unicode('\n', u) == 2 && (unsigned char)u[0] == 0xC4 && (unsigned char)u[1] == 0x8A); /* U+010A */
    CHECK(ak_byte_to_unicode(0, u) == 2 && (unsigned char)u[0] == 0xC4 && (unsigned char)u[1] == 0x80);    /* U+0100 */
    CHECK(ak_byte_to_unicode(173, u) == 2 && (unsigned char)u[0] == 0xC5 && (unsigned char)u[1] == 0x83);  /* U+0143 */
    CHECK(ak_byte_to_unicode('A', u) == 1 && u[0] == 'A');
    for (int b = 0; b < 256; b++) {
        uint8_t back[4];
        int n = ak_byte_to_unicode((uint8_t)b, u);
        CHECK(ak_unicode_to_bytes(u, (size_t)n, back, sizeof back) == 1 && back[0] == b);
    }
}

/* "aaabdaaabac" by hand: (a,a) x4 first; then (a,b) and (aa,a) tie at 2 and the smaller
 * id pair (a,b) wins; then (aa,ab) x2; every other pair occurs once. */
static void test_train(void) {
    ak_error err = {0};
    const char *text = "aaabdaaabac";
    ak_bpe *b = ak_bpe_train(text, strlen(text), 1000, &err);
    CHECK(b != NULL);
    if (!b) return;
    CHECK(ak_bpe_n_merges(b) == 3);
    CHECK(ak_bpe_n_tokens(b) == 260);
    CHECK(ak_bpe_eot(b) == 259);
    char buf[64];
    CHECK(ak_bpe_merge_gpt2(b, 0, buf, sizeof buf) > 0 && !strcmp(buf, "a a"));
    CHECK(ak_bpe_merge_gpt2(b, 1, buf, sizeof buf) > 0 && !strcmp(buf, "a b"));
    CHECK(ak_bpe_merge_gpt2(b, 2, buf, sizeof buf) > 0 && !strcmp(buf, "aa ab"));
    CHECK(ak_bpe_token_gpt2(b, 258, buf, sizeof buf) > 0 && !strcmp(buf, "aaab"));
    CHECK(ak_bpe_token_gpt2(b, 259, buf, sizeof buf) > 0 && !strcmp(buf, "<|endoftext|>"));
    CHECK(ak_bpe_token_type(b, 259) == 3 && ak_bpe_token_type(b, 258) == 1);

    int32_t *ids;
    size_t n;
    CHECK(ak_bpe_encode(b, text, strlen(text), &ids, &n) == 0);
    CHECK(n == 5 && ids[0] == 258 && ids[1] == 'd' && ids[2] == 258 && ids[3] == 'a' && ids[4] == 'c');
    free(ids);
    /* "aaab", " aab": the second word only gets (a,a); (aa,b) is not a merge */
    CHECK(ak_bpe_encode(b, "aaab aab", 8, &ids, &n) == 0);
    CHECK(n == 4 && ids[0] == 258 && ids[1] == ' ' && ids[2] == 256 && ids[3] == 'b');
    free(ids);

    const char *path = "test_bpe_vocab.txt";
    CHECK(ak_bpe_save(b, path, &err) == 0);
    ak_bpe *c = ak_bpe_load(path, &err);
    CHECK(c != NULL);
    if (c) {
        CHECK(ak_bpe_n_tokens(c) == 260 && ak_bpe_n_merges(c) == 3 && ak_bpe_eot(c) == 259);
        CHECK(ak_bpe_encode(c, text, strlen(text), &ids, &n) == 0 && n == 5 && ids[0] == 258);
        free(ids);
        ak_bpe_free(c);
    }
    remove(path);
    ak_bpe_free(b);

    CHECK(ak_bpe_train(text, strlen(text), 100, &err) == NULL && strstr(err.msg, "range"));
    CHECK(ak_bpe_load("/nonexistent/vocab", &err) == NULL && strstr(err.msg, "/nonexistent/vocab"));
}

/* Encoding then concatenating token bytes gives back the text, on a larger sample. */
static void test_round_trip(void) {
    ak_error err = {0};
    const char *para = "The Congress shall have power to lay and collect taxes, duties, imposts and excises; "
                       "to borrow money on the credit of the United States.\n\n";
    size_t plen = strlen(para), len = plen * 40;
    char *text = malloc(len + 1);
    for (int i = 0; i < 40; i++) memcpy(text + (size_t)i * plen, para, plen);
    text[len] = 0;
    ak_bpe *b = ak_bpe_train(text, len, 400, &err);
    CHECK(b && ak_bpe_n_tokens(b) > 256 && ak_bpe_n_tokens(b) <= 400);
    int32_t *ids;
    size_t n;
    if (b && !ak_bpe_encode(b, text, len, &ids, &n)) {
        size_t at = 0;
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            int tl;
            const char *t = ak_bpe_token_bytes(b, ids[i], &tl);
            ok = at + (size_t)tl <= len && !memcmp(text + at, t, (size_t)tl);
            at += (size_t)tl;
        }
        CHECK(ok && at == len);
        CHECK(n < len / 4);
        free(ids);
    }
    ak_bpe_free(b);
    free(text);
}

int main(void) {
    test_pretok();
    test_byte_map();
    test_train();
    test_round_trip();
    return check_finish("test_bpe");
}
