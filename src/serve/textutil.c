/* textutil.c - UTF-8 checks, FNV-1a and the trace bar. */
#include "serve/textutil.h"

#include <math.h>
#include <stdio.h>

size_t ak_utf8_char_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0) return 0;
    unsigned c = u[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F; /* no surrogates */
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else return 0;
    if (n < len) return 0;
    if (u[1] < lo || u[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (u[i] < 0x80 || u[i] > 0xBF) return 0;
    return len;
}

int ak_utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t l = ak_utf8_char_len(s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

size_t ak_utf8_stream_prefix(const char *s, size_t n) {
    /* look back at most 3 bytes for a lead byte whose sequence is not complete yet */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if (c < 0x80) return n;       /* ASCII: nothing pending */
        if (c >= 0xC0) {              /* a lead byte */
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (need > back && ak_utf8_char_len(s + n - back, back) == 0) {
                /* incomplete: hold it back if what is there could still become valid */
                unsigned char pad[4] = {c, 0x80, 0x80, 0x80};
                for (size_t i = 1; i < back; i++) pad[i] = (unsigned char)s[n - back + i];
                if (c == 0xE0 && back == 1) pad[1] = 0xA0;
                if (c == 0xF0 && back == 1) pad[1] = 0x90;
                if (ak_utf8_char_len((const char *)pad, need)) return n - back;
            }
            return n;
        }
    }
    return n;
}

uint64_t ak_fnv1a64(const char *s, size_t n) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

double ak_hash_unit(uint64_t h) { return (double)(h >> 11) / 9007199254740992.0; }

int ak_trace_bar(char *buf, size_t cap, int layer, float entropy_nats, int n_experts, int k, int width) {
    if (!cap) return 0;
    double hmax = n_experts > 1 ? log((double)n_experts) : 1.0;
    double frac = entropy_nats / hmax;
    if (!(frac >= 0)) frac = 0;
    if (frac > 1) frac = 1;
    if (width < 1) width = 1;
    if (width > 64) width = 64;
    int fill = (int)lround(frac * width);
    char bar[65];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    int n = snprintf(buf, cap, "L%02d | H=%.2f %s | K=%d", layer, (double)entropy_nats, bar, k);
    if (n < 0) return 0;
    return (size_t)n >= cap ? (int)cap - 1 : n;
}
