/* sbuf.c - growable byte strings and JSON string escaping. */
#include "serve/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_escape.h"
#include "serve/textutil.h"

void ak_sbuf_free(ak_sbuf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

void ak_sbuf_clear(ak_sbuf *b) {
    b->len = 0;
    if (b->s) b->s[0] = 0;
}

int ak_sbuf_reserve(ak_sbuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) return -1;
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (!s) return -1;
    b->s = s;
    b->cap = cap;
    return 0;
}

int ak_sbuf_append(ak_sbuf *b, const char *s, size_t n) {
    if (ak_sbuf_reserve(b, n)) return -1;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

int ak_sbuf_puts(ak_sbuf *b, const char *s) { return ak_sbuf_append(b, s, strlen(s)); }

int ak_sbuf_printf(ak_sbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof small) return ak_sbuf_append(b, small, (size_t)n);
    if (ak_sbuf_reserve(b, (size_t)n)) return -1;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ak_sbuf_json_string(ak_sbuf *b, const char *s, size_t n) {
    /* worst case: every byte becomes \u00XX (6) or U+FFFD (3) */
    if (n > ((size_t)-1) / 8 || ak_sbuf_reserve(b, 6 * n + 2)) return -1;
    char *o = b->s + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t cl = ak_utf8_char_len(s + i, n - i);
            if (cl == 0) { /* invalid or truncated sequence: one replacement char per byte */
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
                i++;
            } else {
                memcpy(o, s + i, cl);
                o += cl;
                i += cl;
            }
            continue;
        }
        i++;
        o += ak_json_escape_byte(c, o);
    }
    *o++ = '"';
    b->len = (size_t)(o - b->s);
    b->s[b->len] = 0;
    return 0;
}
