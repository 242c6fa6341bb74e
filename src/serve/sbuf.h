/* sbuf.h - a growable byte string (capacity doubles, so appends are amortised O(1) and a
 * reused buffer stops allocating once it has reached its working size), with JSON string
 * escaping. All appends return 0, or -1 when out of memory (the buffer is then unchanged). */
#ifndef AK_SERVE_SBUF_H
#define AK_SERVE_SBUF_H

#include <stddef.h>

typedef struct {
    char *s;    /* NUL-terminated when not NULL */
    size_t len;
    size_t cap;
} ak_sbuf;

void ak_sbuf_free(ak_sbuf *b);
void ak_sbuf_clear(ak_sbuf *b); /* len 0, memory kept */
int ak_sbuf_reserve(ak_sbuf *b, size_t extra);
int ak_sbuf_append(ak_sbuf *b, const char *s, size_t n);
int ak_sbuf_puts(ak_sbuf *b, const char *s);
int ak_sbuf_printf(ak_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a quoted JSON string. Invalid UTF-8 bytes become U+FFFD, control
 * characters are escaped, so the result is always valid JSON. */
int ak_sbuf_json_string(ak_sbuf *b, const char *s, size_t n);

#endif
