/* json_escape.h - one byte of a JSON string as it is written: the byte itself, a two-char
 * escape (\" \\ \n \r \t) or \u00XX for the other control characters and DEL. Callers that
 * must emit valid UTF-8 check multi-byte sequences themselves (serve/sbuf.c). Header-only
 * (src/base), so libadaptivek uses it without a link dependency. */
#ifndef AK_BASE_JSON_ESCAPE_H
#define AK_BASE_JSON_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Writes the escaped form of c into out (at most 6 bytes, no NUL); returns its length. */
static inline size_t ak_json_escape_byte(unsigned char c, char out[6]) {
    static const char hex[] = "0123456789abcdef";
    char e = c == '"' ? '"' : c == '\\' ? '\\' : c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : 0;
    if (e) {
        out[0] = '\\';
        out[1] = e;
        return 2;
    }
    if (c >= 0x20 && c != 0x7f) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = '\\', out[1] = 'u', out[2] = '0', out[3] = '0', out[4] = hex[c >> 4], out[5] = hex[c & 15];
    return 6;
}

/* Writes s as a quoted JSON string to f. */
static inline void ak_json_write_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        char b[6];
        fwrite(b, 1, ak_json_escape_byte((unsigned char)*s, b), f);
    }
    fputc('"', f);
}

#endif
