/* unicode.h - code point categories (generated from UnicodeData.txt) and lenient UTF-8
 * decoding for the pre-tokenizers. */
#ifndef AK_TOKENIZER_UNICODE_H
#define AK_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    AK_UCAT_UNDEFINED = 0x01,
    AK_UCAT_NUMBER = 0x02, /* \p{N} */
    AK_UCAT_LETTER = 0x04, /* \p{L} */
    AK_UCAT_SEPARATOR = 0x08,
    AK_UCAT_MARK = 0x10,
    AK_UCAT_PUNCT = 0x20, /* \p{P} */
    AK_UCAT_SYMBOL = 0x40,
    AK_UCAT_CONTROL = 0x80,
    AK_UCAT_WHITESPACE = 0x100, /* \s as llama.cpp defines it */
};

typedef struct {
    uint32_t start;
    uint16_t flags;
} ak_ucat_range;

extern const ak_ucat_range ak_ucat_ranges[];
extern const int ak_ucat_n_ranges;
extern const char ak_unicode_version[];

/* A byte that does not start a valid sequence decodes to AK_CP_BAD_BYTE + byte: it keeps its
 * own byte on output and is classified like U+FFFD (what llama.cpp substitutes for it). */
#define AK_CP_BAD_BYTE 0x80000000u

/* Category flags of a code point (0 never returned: out-of-range code points are UNDEFINED). */
unsigned ak_ucat_flags(uint32_t cp);
/* Decodes one code point at s[0..n) the way llama.cpp does (lenient: overlong forms and
 * surrogates pass); sets *len to the bytes consumed (>= 1). */
uint32_t ak_utf8_decode(const unsigned char *s, size_t n, int *len);
/* Encodes cp (< 0x200000) as UTF-8 into out (4 bytes room); returns the length. */
int ak_utf8_encode(uint32_t cp, char *out);

#endif
