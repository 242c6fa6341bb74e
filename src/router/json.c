/* json.c - strict JSON (RFC 8259) reader into a flat node array, and a small writer. */
#include "router/json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json_escape.h"
#include "router/router_internal.h"

#define MAX_DEPTH 64

typedef struct {
    json_doc *doc;
    size_t pos;
    int depth;
    ak_error *err;
} parser;

void json_where(const json_doc *doc, size_t pos, char *buf, size_t len) {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < doc->len; i++) {
        if (doc->src[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(buf, len, "line %d, column %d (byte %zu)", line, col, pos);
}

static ak_status syntax_error(parser *ps, size_t pos, const char *what) {
    char where[64];
    json_where(ps->doc, pos, where, sizeof where);
    if (pos >= ps->doc->len)
        return ak_error_setf(ps->err, AK_ERR_JSON, "JSON error at %s: %s (end of input)", where, what);
    unsigned char c = (unsigned char)ps->doc->src[pos];
    if (c >= 0x20 && c < 0x7f)
        return ak_error_setf(ps->err, AK_ERR_JSON, "JSON error at %s: %s, found '%c'", where, what, c);
    return ak_error_setf(ps->err, AK_ERR_JSON, "JSON error at %s: %s, found byte 0x%02x", where, what, c);
}

static void skip_ws(parser *ps) {
    const char *s = ps->doc->src;
    while (ps->pos < ps->doc->len &&
           (s[ps->pos] == ' ' || s[ps->pos] == '\t' || s[ps->pos] == '\n' || s[ps->pos] == '\r'))
        ps->pos++;
}

static int new_node(parser *ps, json_type type) {
    json_doc *d = ps->doc;
    if (d->n_nodes == d->cap) {
        int cap = d->cap ? d->cap * 2 : 32;
        json_node *nodes = realloc(d->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return -1;
        d->nodes = nodes;
        d->cap = cap;
    }
    json_node *n = &d->nodes[d->n_nodes];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->pos = ps->pos;
    n->first_child = n->next = -1;
    return d->n_nodes++;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static ak_status read_hex4(parser *ps, unsigned *out) {
    const char *s = ps->doc->src;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ps->pos < ps->doc->len ? hex_value(s[ps->pos]) : -1;
        if (h < 0) return syntax_error(ps, ps->pos, "expected 4 hex digits after \\u");
        v = v * 16 + (unsigned)h;
        ps->pos++;
    }
    *out = v;
    return AK_OK;
}

static void put_utf8(json_doc *d, unsigned cp) {
    char *o = d->strings + d->str_used;
    if (cp < 0x80) {
        o[0] = (char)cp;
        d->str_used += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        d->str_used += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        d->str_used += 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        d->str_used += 4;
    }
}

/* Length of a valid UTF-8 sequence starting at s (at most n bytes), or 0. */
static int utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x3fu >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Decodes the string at ps->pos (opening quote) into doc->strings; *out points at it. */
static ak_status parse_string(parser *ps, const char **out) {
    json_doc *d = ps->doc;
    const char *s = d->src;
    size_t start = ps->pos;
    ps->pos++; /* opening quote */
    char *dst = d->strings + d->str_used;
    for (;;) {
        if (ps->pos >= d->len) return syntax_error(ps, start, "unterminated string");
        unsigned char c = (unsigned char)s[ps->pos];
        if (c == '"') {
            ps->pos++;
            break;
        }
        if (c < 0x20) return syntax_error(ps, ps->pos, "control character in string");
        if (c == '\\') {
            ps->pos++;
            if (ps->pos >= d->len) return syntax_error(ps, start, "unterminated string");
            char e = s[ps->pos++];
            switch (e) {
            case '"': d->strings[d->str_used++] = '"'; break;
            case '\\': d->strings[d->str_used++] = '\\'; break;
            case '/': d->strings[d->str_used++] = '/'; break;
            case 'b': d->strings[d->str_used++] = '\b'; break;
            case 'f': d->strings[d->str_used++] = '\f'; break;
            case 'n': d->strings[d->str_used++] = '\n'; break;
            case 'r': d->strings[d->str_used++] = '\r'; break;
            case 't': d->strings[d->str_used++] = '\t'; break;
            case 'u': {
                size_t esc = ps->pos - 2;
                unsigned cp = 0;
                ak_status st = read_hex4(ps, &cp);
                if (st != AK_OK) return st;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return syntax_error(ps, esc, "unpaired low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo = 0;
                    if (ps->pos + 1 >= d->len || s[ps->pos] != '\\' || s[ps->pos + 1] != 'u')
                        return syntax_error(ps, esc, "unpaired high surrogate");
                    ps->pos += 2;
                    st = read_hex4(ps, &lo);
                    if (st != AK_OK) return st;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return syntax_error(ps, esc, "unpaired high surrogate");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp == 0) return syntax_error(ps, esc, "\\u0000 is not allowed in strings");
                put_utf8(d, cp);
                break;
            }
            default: return syntax_error(ps, ps->pos - 1, "invalid escape");
            }
            continue;
        }
        int n = utf8_seq_len((const unsigned char *)s + ps->pos, d->len - ps->pos);
        if (n == 0) return syntax_error(ps, ps->pos, "invalid UTF-8 in string");
        memcpy(d->strings + d->str_used, s + ps->pos, (size_t)n);
        d->str_used += (size_t)n;
        ps->pos += (size_t)n;
    }
    d->strings[d->str_used++] = '\0';
    *out = dst;
    return AK_OK;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static ak_status parse_number(parser *ps, double *out) {
    const char *s = ps->doc->src;
    size_t n = ps->doc->len, start = ps->pos, p = ps->pos;
    if (p < n && s[p] == '-') p++;
    if (p < n && s[p] == '0') {
        p++;
    } else if (p < n && s[p] >= '1' && s[p] <= '9') {
        while (p < n && is_digit(s[p])) p++;
    } else {
        return syntax_error(ps, p, "invalid number");
    }
    if (p < n && s[p] == '.') {
        p++;
        if (!(p < n && is_digit(s[p]))) return syntax_error(ps, p, "expected digit after '.'");
        while (p < n && is_digit(s[p])) p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-')) p++;
        if (!(p < n && is_digit(s[p]))) return syntax_error(ps, p, "expected digit in exponent");
        while (p < n && is_digit(s[p])) p++;
    }
    char tmp[128];
    size_t len = p - start;
    if (len >= sizeof tmp) return syntax_error(ps, start, "number too long");
    memcpy(tmp, s + start, len);
    tmp[len] = '\0';
    errno = 0;
    double v = strtod(tmp, NULL);
    if (!isfinite(v)) return syntax_error(ps, start, "number out of range");
    *out = v;
    ps->pos = p;
    return AK_OK;
}

static ak_status parse_value(parser *ps, int *out_index);

static ak_status parse_container(parser *ps, int self, int is_object) {
    json_doc *d = ps->doc;
    char close = is_object ? '}' : ']';
    if (++ps->depth > MAX_DEPTH) return syntax_error(ps, ps->pos, "nesting too deep");
    ps->pos++; /* opening bracket */
    skip_ws(ps);
    if (ps->pos < d->len && d->src[ps->pos] == close) {
        ps->pos++;
        ps->depth--;
        return AK_OK;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        size_t key_pos = ps->pos;
        if (is_object) {
            if (ps->pos >= d->len || d->src[ps->pos] != '"')
                return syntax_error(ps, ps->pos, "expected a string key");
            ak_status st = parse_string(ps, &key);
            if (st != AK_OK) return st;
            for (int c = d->nodes[self].first_child; c >= 0; c = d->nodes[c].next)
                if (strcmp(d->nodes[c].key, key) == 0) {
                    char where[64];
                    json_where(d, key_pos, where, sizeof where);
                    return ak_error_setf(ps->err, AK_ERR_JSON, "JSON error at %s: duplicate key \"%s\"",
                                   where, key);
                }
            skip_ws(ps);
            if (ps->pos >= d->len || d->src[ps->pos] != ':')
                return syntax_error(ps, ps->pos, "expected ':' after key");
            ps->pos++;
            skip_ws(ps);
        }
        int child;
        ak_status st = parse_value(ps, &child);
        if (st != AK_OK) return st;
        d->nodes[child].key = key;
        if (last < 0) d->nodes[self].first_child = child;
        else d->nodes[last].next = child;
        last = child;
        d->nodes[self].count++;
        skip_ws(ps);
        if (ps->pos < d->len && d->src[ps->pos] == ',') {
            ps->pos++;
            skip_ws(ps);
            continue;
        }
        if (ps->pos < d->len && d->src[ps->pos] == close) {
            ps->pos++;
            break;
        }
        return syntax_error(ps, ps->pos, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    ps->depth--;
    return AK_OK;
}

static int match_literal(parser *ps, const char *lit) {
    size_t n = strlen(lit);
    if (ps->doc->len - ps->pos < n || memcmp(ps->doc->src + ps->pos, lit, n) != 0) return 0;
    ps->pos += n;
    return 1;
}

static ak_status parse_value(parser *ps, int *out_index) {
    json_doc *d = ps->doc;
    if (ps->pos >= d->len) return syntax_error(ps, ps->pos, "expected a value");
    char c = d->src[ps->pos];
    json_type type;
    switch (c) {
    case '{': type = JSON_OBJECT; break;
    case '[': type = JSON_ARRAY; break;
    case '"': type = JSON_STRING; break;
    case 't': type = JSON_TRUE; break;
    case 'f': type = JSON_FALSE; break;
    case 'n': type = JSON_NULL; break;
    default:
        if (c == '-' || is_digit(c)) {
            type = JSON_NUMBER;
            break;
        }
        return syntax_error(ps, ps->pos, "expected a value");
    }
    int idx = new_node(ps, type);
    if (idx < 0) return ak_error_setf(ps->err, AK_ERR_NOMEM, "JSON: out of memory");
    *out_index = idx;
    ak_status st = AK_OK;
    switch (type) {
    case JSON_OBJECT: st = parse_container(ps, idx, 1); break;
    case JSON_ARRAY: st = parse_container(ps, idx, 0); break;
    case JSON_STRING: {
        const char *str;
        st = parse_string(ps, &str);
        if (st == AK_OK) d->nodes[idx].str = str;
        break;
    }
    case JSON_NUMBER: {
        double v = 0.0;
        st = parse_number(ps, &v);
        if (st == AK_OK) d->nodes[idx].num = v;
        break;
    }
    case JSON_TRUE:
        if (!match_literal(ps, "true")) st = syntax_error(ps, ps->pos, "invalid literal");
        break;
    case JSON_FALSE:
        if (!match_literal(ps, "false")) st = syntax_error(ps, ps->pos, "invalid literal");
        break;
    case JSON_NULL:
        if (!match_literal(ps, "null")) st = syntax_error(ps, ps->pos, "invalid literal");
        break;
    }
    return st;
}

ak_status json_parse(const char *src, size_t len, json_doc *doc, ak_error *err) {
    memset(doc, 0, sizeof *doc);
    if (!src) return ak_error_setf(err, AK_ERR_INVALID_ARG, "JSON: input is NULL");
    doc->src = src;
    doc->len = len;
    doc->strings = malloc(len + 1);
    if (!doc->strings) return ak_error_setf(err, AK_ERR_NOMEM, "JSON: out of memory");
    parser ps = {doc, 0, 0, err};
    skip_ws(&ps);
    int root;
    ak_status st = parse_value(&ps, &root);
    if (st == AK_OK) {
        skip_ws(&ps);
        if (ps.pos != len) st = syntax_error(&ps, ps.pos, "trailing characters after the value");
    }
    if (st != AK_OK) json_free(doc);
    return st;
}

void json_free(json_doc *doc) {
    free(doc->nodes);
    free(doc->strings);
    doc->nodes = NULL;
    doc->strings = NULL;
    doc->n_nodes = doc->cap = 0;
}

const json_node *json_child(const json_doc *doc, const json_node *n) {
    return n->first_child >= 0 ? &doc->nodes[n->first_child] : NULL;
}

const json_node *json_next(const json_doc *doc, const json_node *n) {
    return n->next >= 0 ? &doc->nodes[n->next] : NULL;
}

const json_node *json_get(const json_doc *doc, const json_node *obj, const char *key) {
    if (obj->type != JSON_OBJECT) return NULL;
    for (const json_node *c = json_child(doc, obj); c; c = json_next(doc, c))
        if (strcmp(c->key, key) == 0) return c;
    return NULL;
}

const char *json_type_name(json_type t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "?";
}

/* ---------------------------------------------------------------- writer */

static void jw_reserve(json_writer *w, size_t extra) {
    if (w->failed) return;
    if (w->len + extra + 1 <= w->cap) return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra + 1) cap *= 2;
    char *b = realloc(w->buf, cap);
    if (!b) {
        w->failed = 1;
        return;
    }
    w->buf = b;
    w->cap = cap;
}

static void jw_bytes(json_writer *w, const char *s, size_t n) {
    jw_reserve(w, n);
    if (w->failed) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

void jw_raw(json_writer *w, const char *s) { jw_bytes(w, s, strlen(s)); }

void jw_printf(json_writer *w, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        w->failed = 1;
        return;
    }
    if ((size_t)n >= sizeof tmp) n = (int)sizeof tmp - 1; /* callers print short values only */
    jw_bytes(w, tmp, (size_t)n);
}

void jw_string(json_writer *w, const char *s) {
    char esc[6];
    jw_bytes(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) jw_bytes(w, esc, ak_json_escape_byte(*p, esc));
    jw_bytes(w, "\"", 1);
}

void jw_float(json_writer *w, float v) {
    char tmp[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        if (strtof(tmp, NULL) == v) break;
    }
    jw_raw(w, tmp);
}
