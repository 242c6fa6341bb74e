/* pretok.c - GPT-2 pre-tokeniser and byte-to-unicode mapping. */
#include "pretok.h"

enum { CL_LETTER, CL_NUMBER, CL_SPACE, CL_OTHER };

/* Decodes one code point; invalid sequences decode as the single byte (class other). */
static uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *n) {
    unsigned c = s[0];
    int need = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (need < 0 || (size_t)need + 1 > len) {
        *n = 1;
        return 0xFFFFFFFFu;
    }
    uint32_t cp = need == 0 ? c : need == 1 ? (c & 0x1F) : need == 2 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *n = 1;
            return 0xFFFFFFFFu;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *n = (size_t)need + 1;
    return cp;
}

static int cp_class(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CL_LETTER;
        if (cp >= '0' && cp <= '9') return CL_NUMBER;
        if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return CL_SPACE;
        return CL_OTHER;
    }
    if (cp == 0xFFFFFFFFu) return CL_OTHER;
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return CL_SPACE;
    if (cp < 0xC0) {
        if (cp == 0xAA || cp == 0xB5 || cp == 0xBA) return CL_LETTER;
        if (cp == 0xB2 || cp == 0xB3 || cp == 0xB9 || (cp >= 0xBC && cp <= 0xBE)) return CL_NUMBER;
        return CL_OTHER;
    }
    if (cp == 0xD7 || cp == 0xF7) return CL_OTHER;
    if (cp >= 0x300 && cp <= 0x36F) return CL_OTHER; /* combining marks are \p{M} */
    if (cp >= 0x2000 && cp <= 0x2BFF) return CL_OTHER; /* punctuation, symbols, arrows */
    if (cp >= 0x3000 && cp <= 0x303F) return CL_OTHER;
    return CL_LETTER;
}

static int class_at(const char *s, size_t len, size_t pos, size_t *n) {
    return cp_class(utf8_decode((const unsigned char *)s + pos, len - pos, n));
}

static size_t run_of(const char *s, size_t len, size_t pos, int cls) {
    while (pos < len) {
        size_t n;
        if (class_at(s, len, pos, &n) != cls) break;
        pos += n;
    }
    return pos;
}

size_t ak_pretok_next(const char *s, size_t len, size_t pos) {
    if (s[pos] == '\'' && pos + 1 < len) {
        char a = s[pos + 1], b = pos + 2 < len ? s[pos + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
    }
    size_t n, p = pos;
    int cls = class_at(s, len, p, &n);
    if (s[p] == ' ' && p + 1 < len) {
        size_t n2;
        int next = class_at(s, len, p + 1, &n2);
        if (next != CL_SPACE) {
            p += 1;
            cls = next;
        }
    }
    if (cls != CL_SPACE) return run_of(s, len, p, cls);
    size_t end = run_of(s, len, p, CL_SPACE);
    if (end == len) return end;
    /* \s+(?!\S): leave the last space to prefix the next word */
    size_t last = p, q = p;
    while (q < end) {
        last = q;
        class_at(s, len, q, &n);
        q += n;
    }
    return last > p ? last : p + n;
}

/* Bytes that GPT-2 keeps as their own code point; the others map to 256 + rank. */
static int byte_is_printable(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
}

static uint32_t byte_code_point(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t rank = 0;
    for (unsigned i = 0; i < b; i++) rank += !byte_is_printable(i);
    return 256 + rank;
}

int ak_byte_to_unicode(uint8_t b, char out[2]) {
    uint32_t cp = byte_code_point(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int ak_unicode_to_bytes(const char *s, size_t len, uint8_t *out, size_t cap) {
    static int inverse[324];
    static int ready;
    if (!ready) {
        for (int i = 0; i < 324; i++) inverse[i] = -1;
        for (int b = 0; b < 256; b++) inverse[byte_code_point((uint8_t)b)] = b;
        ready = 1;
    }
    size_t pos = 0, n_out = 0;
    while (pos < len) {
        size_t n;
        uint32_t cp = utf8_decode((const unsigned char *)s + pos, len - pos, &n);
        if (cp >= 324 || inverse[cp] < 0 || n_out >= cap) return -1;
        out[n_out++] = (uint8_t)inverse[cp];
        pos += n;
    }
    return (int)n_out;
}
