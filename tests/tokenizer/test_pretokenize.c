/* Pre-tokenizer splits on hand cases: each expected split is read off the regex by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

static int failures;

/* expected: words separated by '|' */
static void check(ak_pre_type type, const char *name, const char *text, const char *expected) {
    size_t len = strlen(text), n = 0;
    uint32_t cps[256];
    uint16_t flags[256];
    uint8_t cl[256];
    size_t ends[256], tmp[256];
    for (size_t i = 0; i < len; n++) {
        int l;
        cps[n] = ak_utf8_decode((const unsigned char *)text + i, len - i, &l);
        flags[n] = (uint16_t)ak_ucat_flags(cps[n]);
        cl[n] = (uint8_t)l;
        i += (size_t)l;
    }
    size_t nw = ak_pretokenize(type, cps, flags, n, ends, tmp);
    char got[1024];
    size_t g = 0, off = 0, cp = 0;
    for (size_t k = 0; k < nw; k++) {
        if (k) got[g++] = '|';
        for (; cp < ends[k]; cp++) {
            memcpy(got + g, text + off, cl[cp]);
            g += cl[cp], off += cl[cp];
        }
    }
    got[g] = 0;
    if (strcmp(got, expected)) {
        printf("FAIL %s: '%s'\n  expected '%s'\n  got      '%s'\n", name, text, expected, got);
        failures++;
    }
}

int main(void) {
    /* GPT-2 (also olmo) */
    check(AK_PRE_GPT2, "gpt2", "Hello world", "Hello| world");
    check(AK_PRE_GPT2, "gpt2", "I'm sure they'll don't", "I|'m| sure| they|'ll| don|'t");
    check(AK_PRE_GPT2, "gpt2", "FOO'S", "FOO|'|S");
    check(AK_PRE_GPT2, "gpt2", "abc  def", "abc| | def");
    check(AK_PRE_GPT2, "gpt2", "abc   \n", "abc|   \n");
    check(AK_PRE_GPT2, "gpt2", "\n\nfoo", "\n|\n|foo");
    check(AK_PRE_GPT2, "gpt2", "a1234b 56", "a|1234|b| 56");
    check(AK_PRE_GPT2, "gpt2", "h\xC3\xA9llo w\xC3\xB6rld", "h\xC3\xA9llo| w\xC3\xB6rld");
    check(AK_PRE_GPT2, "gpt2", "hi!!! ok?", "hi|!!!| ok|?");
    /* U+2764 (So) + U+FE0F (Mn): neither letter, number nor space */
    check(AK_PRE_GPT2, "gpt2", "I \xE2\x9D\xA4\xEF\xB8\x8F \xF0\x9F\x98\x80\xF0\x9F\x98\x80",
          "I| \xE2\x9D\xA4\xEF\xB8\x8F| \xF0\x9F\x98\x80\xF0\x9F\x98\x80");
    /* Greek and CJK letters, Arabic-Indic digits (Nd) */
    check(AK_PRE_GPT2, "gpt2", "\xCE\xB1\xCE\xB2 \xE4\xB8\xAD\xE6\x96\x87 \xD9\xA1\xD9\xA2",
          "\xCE\xB1\xCE\xB2| \xE4\xB8\xAD\xE6\x96\x87| \xD9\xA1\xD9\xA2");
    /* invalid byte: classified like U+FFFD (a symbol) */
    check(AK_PRE_GPT2, "gpt2", "ab\xFF\xFE cd", "ab|\xFF\xFE| cd");
    /* llama3 */
    check(AK_PRE_LLAMA3, "llama3", "FOO'S it's", "FOO|'S| it|'s");
    check(AK_PRE_LLAMA3, "llama3", "12345 x", "123|45| x");
    check(AK_PRE_LLAMA3, "llama3", "Hello\n\nworld", "Hello|\n\n|world");
    check(AK_PRE_LLAMA3, "llama3", "!hello (a)", "!hello| (|a|)");
    check(AK_PRE_LLAMA3, "llama3", "a  b", "a| | b");
    check(AK_PRE_LLAMA3, "llama3", "x..\n\ny", "x|..\n\n|y");
    check(AK_PRE_LLAMA3, "llama3", "a \n b", "a| \n| b");
    /* qwen2: single digits */
    check(AK_PRE_QWEN2, "qwen2", "x12345", "x|1|2|3|4|5");
    check(AK_PRE_QWEN2, "qwen2", "We'RE 7b", "We|'RE| |7|b");
    /* gpt-4o (o200k, gpt-oss): expected splits computed with Python's re on llama.cpp's
     * effective regex (ASCII case classes; Latin letters standing for \p{L}) */
    check(AK_PRE_GPT4O, "gpt-4o", "Hello WORLD don't HELLOworld helloWorld",
          "Hello| WORLD| don't| HELLOworld| hello|World");
    check(AK_PRE_GPT4O, "gpt-4o", "I'M here, WE'RE it's THEY'LL", "I'M| here|,| WE'RE| it's| THEY'LL");
    check(AK_PRE_GPT4O, "gpt-4o", "12345 x 1234567", "123|45| x| |123|456|7");
    check(AK_PRE_GPT4O, "gpt-4o", "a//b\n\nc  d", "a|//|b|\n\n|c| | d");
    check(AK_PRE_GPT4O, "gpt-4o", "  (foo) bar!!\n/x", " | (|foo|)| bar|!!\n/|x");
    check(AK_PRE_GPT4O, "gpt-4o", "x..\n\ny", "x|..\n\n|y");
    check(AK_PRE_GPT4O, "gpt-4o", "a \n b", "a| \n| b");
    check(AK_PRE_GPT4O, "gpt-4o", "CamelCaseABCDef ABCdef", "Camel|Case|ABCDef| ABCdef");
    check(AK_PRE_GPT4O, "gpt-4o", "'s 'S x'Ve", "'s| '|S| x'Ve");
    /* a non-ASCII letter is in both case classes: the regex backtracks onto it */
    check(AK_PRE_GPT4O, "gpt-4o", "naïveTÉST ÉCOLEécole", "naïve|TÉ|ST| ÉCOLEécole");
    check(AK_PRE_GPT4O, "gpt-4o", "Émile ÉÉÉ AÉB", "Émile| ÉÉÉ| AÉ|B");
    check(AK_PRE_GPT4O, "gpt-4o", "x'LL Ñandú's", "x'LL| Ñandú's");
    /* llama.cpp default chain: punctuation runs, GPT-2, digit runs, groups of 3 digits */
    check(AK_PRE_DEFAULT, "default", "Hello, world! 12345", "Hello|,| world|!| |123|45");
    check(AK_PRE_DEFAULT, "default", "a+=b", "a|+=|b");
    ak_pre_type t;
    if (ak_pre_type_from_name("olmo", &t) || t != AK_PRE_GPT2 || ak_pre_type_from_name("qwen2", &t) ||
        t != AK_PRE_QWEN2 || !ak_pre_type_from_name("no-such-pre", &t)) {
        printf("FAIL pre names\n");
        failures++;
    }
    if (ak_ucat_flags('A') != AK_UCAT_LETTER || ak_ucat_flags('7') != AK_UCAT_NUMBER ||
        ak_ucat_flags(' ') != (AK_UCAT_SEPARATOR | AK_UCAT_WHITESPACE) || ak_ucat_flags(0x4E2D) != AK_UCAT_LETTER ||
        ak_ucat_flags(0x0378) != AK_UCAT_UNDEFINED || ak_ucat_flags(0x2EBF0) != AK_UCAT_LETTER /* 15.1 CJK I */ ||
        ak_ucat_flags(0x31EF) != AK_UCAT_SYMBOL || ak_ucat_flags(0x1C89) != AK_UCAT_UNDEFINED /* 16.0 */ || ak_ucat_flags(0x2003) != (AK_UCAT_SEPARATOR | AK_UCAT_WHITESPACE)) {
        printf("FAIL categories\n");
        failures++;
    }
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
