/* pretokenize.c - pre-tokenizer scanners. Each one reads a segment [beg, end) of code points
 * and appends word ends; positions outside the segment read as "no character" (flags 0), the
 * way a regex sees the end of its input. */
#include "tokenizer/pretokenize.h"

#include <string.h>

#include "tokenizer/unicode.h"

#define NO_CP 0xFFFFFFFFu

typedef struct {
    const uint32_t *cps;
    const uint16_t *flags;
    size_t beg, end;
    size_t *ends;
    size_t n_ends;
    size_t prev; /* end of the last word emitted */
} scan;

static uint32_t cp_at(const scan *s, size_t i) { return i >= s->beg && i < s->end ? s->cps[i] : NO_CP; }
static unsigned fl_at(const scan *s, size_t i) { return i >= s->beg && i < s->end ? s->flags[i] : 0; }

static void emit(scan *s, size_t end) {
    if (end > s->prev) s->ends[s->n_ends++] = end;
    s->prev = end;
}

static int is_lnw(unsigned f) { return f & (AK_UCAT_LETTER | AK_UCAT_NUMBER | AK_UCAT_WHITESPACE); }
static uint32_t lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* 's|'t|'re|'ve|'m|'ll|'d (optionally case-insensitive); returns the match length or 0. */
static size_t contraction(const scan *s, size_t pos, int fold) {
    if (cp_at(s, pos) != '\'' || pos + 1 >= s->end) return 0;
    uint32_t a = cp_at(s, pos + 1), b = pos + 2 < s->end ? cp_at(s, pos + 2) : NO_CP;
    if (fold) a = lower_ascii(a), b = lower_ascii(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S)|\s+ once the run of whitespace at pos is known to be n long. */
static void whitespace_run(scan *s, size_t pos, size_t n) {
    if (n > 1 && cp_at(s, pos + n) != NO_CP) emit(s, pos + n - 1);
    else emit(s, pos + (n > 0 ? n : 1));
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void scan_gpt2(scan *s) {
    size_t pos = s->beg;
    while (pos < s->end) {
        size_t c = contraction(s, pos, 0);
        if (c) {
            emit(s, pos += c);
            continue;
        }
        int space = cp_at(s, pos) == ' ';
        unsigned f = space ? fl_at(s, pos + 1) : fl_at(s, pos);
        if (f & AK_UCAT_LETTER) {
            pos += space;
            while (fl_at(s, pos) & AK_UCAT_LETTER) pos++;
            emit(s, pos);
            continue;
        }
        if (f & AK_UCAT_NUMBER) {
            pos += space;
            while (fl_at(s, pos) & AK_UCAT_NUMBER) pos++;
            emit(s, pos);
            continue;
        }
        if (f && !is_lnw(f)) {
            pos += space;
            while (fl_at(s, pos) && !is_lnw(fl_at(s, pos))) pos++;
            emit(s, pos);
            continue;
        }
        size_t n = 0;
        while (fl_at(s, pos + n) & AK_UCAT_WHITESPACE) n++;
        whitespace_run(s, pos, n);
        pos = s->prev;
    }
}

/* The tail shared by the llama3, qwen2 and gpt-4o regexes, at a position no letter
 * alternative took: \p{N}{1,max_digits} | ?[^\s\p{L}\p{N}]+[\r\n]* (gpt-4o: [\r\n/]*)
 * |\s*[\r\n]+|\s+(?!\S)|\s+. Emits one or more words; returns the position after them. */
static size_t digits_punct_space(scan *s, size_t pos, int max_digits, int slash) {
    uint32_t cp = cp_at(s, pos);
    unsigned f = fl_at(s, pos);
    if (f & AK_UCAT_NUMBER) {
        size_t start = pos;
        while (fl_at(s, pos) & AK_UCAT_NUMBER)
            if ((int)(++pos - start) >= max_digits) {
                emit(s, pos);
                start = pos;
            }
        emit(s, pos);
        return pos;
    }
    unsigned f2 = cp == ' ' ? fl_at(s, pos + 1) : f;
    if (f && f2 && !is_lnw(f2)) {
        pos += cp == ' ';
        while (fl_at(s, pos) && !is_lnw(fl_at(s, pos))) pos++;
        while (cp_at(s, pos) == '\r' || cp_at(s, pos) == '\n' || (slash && cp_at(s, pos) == '/')) pos++;
        emit(s, pos);
        return pos;
    }
    size_t n = 0, last_newline_end = 0;
    while (fl_at(s, pos + n) & AK_UCAT_WHITESPACE) {
        uint32_t w = cp_at(s, pos + n);
        n++;
        if (w == '\r' || w == '\n') last_newline_end = pos + n;
    }
    if (last_newline_end) emit(s, last_newline_end);
    else whitespace_run(s, pos, n);
    return s->prev;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 *   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+          (llama3: 3 digits, qwen2: 1) */
static void scan_llama3(scan *s, int max_digits) {
    size_t pos = s->beg;
    while (pos < s->end) {
        size_t c = contraction(s, pos, 1);
        if (c) {
            emit(s, pos += c);
            continue;
        }
        uint32_t cp = cp_at(s, pos);
        unsigned f = fl_at(s, pos);
        if (cp != '\r' && cp != '\n' && !(f & AK_UCAT_NUMBER) &&
            ((f & AK_UCAT_LETTER) || (fl_at(s, pos + 1) & AK_UCAT_LETTER))) {
            pos++;
            while (fl_at(s, pos) & AK_UCAT_LETTER) pos++;
            emit(s, pos);
            continue;
        }
        pos = digits_punct_space(s, pos, max_digits, 0);
    }
}

/* gpt-4o (o200k, gpt-oss), the regex llama.cpp runs (case classes by ASCII only):
 *   [^\r\n\p{L}\p{N}]?U*L+C?|[^\r\n\p{L}\p{N}]?U+L*C?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*
 *   |\s*[\r\n]+|\s+(?!\S)|\s+
 * with U a letter other than a-z, L a letter other than A-Z (so a non-ASCII letter is both),
 * C a case-insensitive contraction ('s 't 're 've 'm 'll 'd). */
static int letter_not_lower(const scan *s, size_t i) {
    return (fl_at(s, i) & AK_UCAT_LETTER) && !(cp_at(s, i) >= 'a' && cp_at(s, i) <= 'z');
}
static int letter_not_upper(const scan *s, size_t i) {
    return (fl_at(s, i) & AK_UCAT_LETTER) && !(cp_at(s, i) >= 'A' && cp_at(s, i) <= 'Z');
}

/* The end of U*L+ or else U+L* from p (a letter), with the regex's backtracking: when
 * the greedy U* leaves no L, L+ takes the last L of the U run and the match ends there. */
static size_t gpt4o_letters(const scan *s, size_t p) {
    size_t u = p, end;
    while (letter_not_lower(s, u)) u++;
    size_t l = u;
    while (letter_not_upper(s, l)) l++;
    if (l > u) {
        end = l;
    } else {
        size_t j = u;
        while (j > p && !letter_not_upper(s, j - 1)) j--;
        end = j > p ? j : u; /* U*L+ ending at the run's last L, else U+ */
    }
    return end + contraction(s, end, 1);
}

static void scan_gpt4o(scan *s) {
    size_t pos = s->beg;
    while (pos < s->end) {
        uint32_t cp = cp_at(s, pos);
        unsigned f = fl_at(s, pos);
        if (f & AK_UCAT_LETTER) {
            emit(s, pos = gpt4o_letters(s, pos));
            continue;
        }
        if (cp != '\r' && cp != '\n' && !(f & AK_UCAT_NUMBER) && (fl_at(s, pos + 1) & AK_UCAT_LETTER)) {
            emit(s, pos = gpt4o_letters(s, pos + 1));
            continue;
        }
        pos = digits_punct_space(s, pos, 3, 1);
    }
}

/* [\p{P}\$\+<=>\^~\|]+ with the text between matches kept as words too. */
static int default_punct(uint32_t cp, unsigned f) {
    return (f & AK_UCAT_PUNCT) || cp == '$' || cp == '+' || cp == '<' || cp == '=' || cp == '>' || cp == '^' ||
           cp == '~' || cp == '|';
}

static void scan_runs(scan *s, int (*in_class)(const scan *, size_t)) {
    size_t pos = s->beg;
    while (pos < s->end) {
        int c = in_class(s, pos);
        while (pos < s->end && in_class(s, pos) == c) pos++;
        emit(s, pos);
    }
}

static int class_punct(const scan *s, size_t i) { return default_punct(s->cps[i], s->flags[i]); }
static int class_number(const scan *s, size_t i) { return (s->flags[i] & AK_UCAT_NUMBER) != 0; }

/* [0-9][0-9][0-9]: groups of three ASCII digits from the left, the rest kept between them. */
static void scan_three_digits(scan *s) {
    size_t pos = s->beg;
    while (pos < s->end) {
        if (pos + 3 <= s->end && s->cps[pos] - '0' < 10 && s->cps[pos + 1] - '0' < 10 && s->cps[pos + 2] - '0' < 10) {
            emit(s, pos);
            emit(s, pos += 3);
        } else {
            pos++;
        }
    }
    emit(s, s->end);
}

enum { PASS_PUNCT, PASS_GPT2, PASS_LLAMA3, PASS_QWEN2, PASS_NUMBER, PASS_DIGITS3, PASS_GPT4O };

/* Applies one pass to every segment of in (ends) and writes the refined ends to out. */
static size_t refine(int pass, const uint32_t *cps, const uint16_t *flags, const size_t *in, size_t n_in,
                     size_t *out) {
    scan s = {cps, flags, 0, 0, out, 0, 0};
    for (size_t k = 0; k < n_in; k++) {
        s.beg = s.prev = k ? in[k - 1] : 0;
        s.end = in[k];
        switch (pass) {
        case PASS_PUNCT: scan_runs(&s, class_punct); break;
        case PASS_GPT2: scan_gpt2(&s); break;
        case PASS_LLAMA3: scan_llama3(&s, 3); break;
        case PASS_QWEN2: scan_llama3(&s, 1); break;
        case PASS_NUMBER: scan_runs(&s, class_number); break;
        case PASS_DIGITS3: scan_three_digits(&s); break;
        case PASS_GPT4O: scan_gpt4o(&s); break;
        }
    }
    return s.n_ends;
}

size_t ak_pretokenize(ak_pre_type type, const uint32_t *cps, const uint16_t *flags, size_t n, size_t *ends,
                      size_t *tmp) {
    if (n == 0) return 0;
    static const int chain_default[] = {PASS_PUNCT, PASS_GPT2, PASS_NUMBER, PASS_DIGITS3};
    int one[1];
    const int *passes = one;
    int n_passes = 1;
    switch (type) {
    case AK_PRE_DEFAULT: passes = chain_default, n_passes = 4; break;
    case AK_PRE_GPT2: one[0] = PASS_GPT2; break;
    case AK_PRE_LLAMA3: one[0] = PASS_LLAMA3; break;
    case AK_PRE_QWEN2: one[0] = PASS_QWEN2; break;
    case AK_PRE_GPT4O: one[0] = PASS_GPT4O; break;
    }
    /* passes alternate between the two buffers and must finish in ends */
    size_t *bufs[2] = {n_passes % 2 ? tmp : ends, n_passes % 2 ? ends : tmp};
    bufs[0][0] = n;
    size_t n_words = 1;
    for (int p = 0; p < n_passes; p++) n_words = refine(passes[p], cps, flags, bufs[p % 2], n_words, bufs[(p + 1) % 2]);
    return n_words;
}

static const struct {
    const char *name;
    ak_pre_type type;
} pre_names[] = {
    {"default", AK_PRE_DEFAULT}, {"gpt2", AK_PRE_GPT2},       {"gpt-2", AK_PRE_GPT2},
    {"olmo", AK_PRE_GPT2},       {"mpt", AK_PRE_GPT2},        {"phi-2", AK_PRE_GPT2},
    {"roberta-bpe", AK_PRE_GPT2}, {"jais", AK_PRE_GPT2},      {"llama3", AK_PRE_LLAMA3},
    {"llama-v3", AK_PRE_LLAMA3}, {"llama-bpe", AK_PRE_LLAMA3}, {"falcon3", AK_PRE_LLAMA3},
    {"pixtral", AK_PRE_LLAMA3},  {"qwen2", AK_PRE_QWEN2},     {"deepseek-r1-qwen", AK_PRE_QWEN2},
    {"stablelm2", AK_PRE_QWEN2}, {"megrez", AK_PRE_QWEN2},    {"gpt-4o", AK_PRE_GPT4O},
    {"llama4", AK_PRE_GPT4O},
};

int ak_pre_type_from_name(const char *name, ak_pre_type *out) {
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
        if (!strcmp(name, pre_names[i].name)) {
            *out = pre_names[i].type;
            return 0;
        }
    return -1;
}
