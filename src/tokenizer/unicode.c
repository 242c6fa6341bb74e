/* unicode.c - category lookup over the generated range table, UTF-8 coding. */
#include "tokenizer/unicode.h"

/* llama.cpp's \s set (not the Unicode White_Space property: no U+180E, U+FEFF). */
static int is_whitespace(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

unsigned ak_ucat_flags(uint32_t cp) {
    if (cp >= AK_CP_BAD_BYTE) return AK_UCAT_SYMBOL; /* as U+FFFD */
    if (cp >= 0x110000) return AK_UCAT_UNDEFINED;
    int lo = 0, hi = ak_ucat_n_ranges - 1; /* last range whose start <= cp */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ak_ucat_ranges[mid].start <= cp) lo = mid;
        else hi = mid - 1;
    }
    return ak_ucat_ranges[lo].flags | (is_whitespace(cp) ? AK_UCAT_WHITESPACE : 0);
}

uint32_t ak_utf8_decode(const unsigned char *s, size_t n, int *len) {
    unsigned c = s[0];
    int need;
    uint32_t cp;
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    if ((c & 0xE0) == 0xC0) need = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) need = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) need = 3, cp = c & 0x07;
    else need = -1, cp = 0;
    if (need < 0 || (size_t)need >= n) {
        *len = 1;
        return AK_CP_BAD_BYTE + c;
    }
    for (int i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return AK_CP_BAD_BYTE + c;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *len = need + 1;
    return cp;
}

int ak_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
