/* attn_kernel.h - the attention tile kernel (attention.h), written once with eight-lane
 * vectors and compiled twice: attention.c (baseline x86-64) and attention_avx2.c
 * (AVX2+FMA+F16C). Include only from those files, after defining ATTN_KERNEL_NAME.
 *
 * Per tile of ATTN_KT keys: the keys and values are widened to float (f32 rows are read in
 * place), once for all rows of the item. Per row: scores eight keys at a time (lanes along
 * the head dimension, the eight sums reduced together), mask the keys the row may not see,
 * new max m' = max(m, tile max), rescale the state by exp(m - m'), add exp(s - m') to the
 * sum and exp(s - m') v to acc. (A first version transposed each key tile to [hd][KT] so
 * scores needed no sums across lanes; the transposition cost more than it saved, most of
 * all in decode, where an item has one row: decode 0.45-0.7x the per-key loop.) */
#include <math.h>
#include <string.h>

#include "base/v8exp.h"
#include "model/attention.h"
#include "quant/quant.h"

#define ATTN_KV (ATTN_KT / 8) /* vectors of scores per row */
/* The per-tile helpers are always inlined, so that attn_tile_row's constant flags reach
 * every load. */
#define ATTN_INLINE static inline __attribute__((always_inline))

static inline v8f attn_load(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void attn_store(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/* With F16C (the AVX2 build) f16 rows are widened in registers as they are read, instead of
 * into a buffer first: decode reads every cached row once per token, and the store and
 * reload of a buffer cost more than the arithmetic. */
#if defined(__F16C__)
#include <immintrin.h>
#define ATTN_F16_IN_REGISTERS 1
static inline v8f attn_load_f16(const uint16_t *p) {
    __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    v8f v;
    memcpy(&v, &x, sizeof v);
    return v;
}
#else
#define ATTN_F16_IN_REGISTERS 0
static inline v8f attn_load_f16(const uint16_t *p) {
    (void)p;
    return v8_splat(0.0f); /* never called: attn_rows widens f16 rows into its buffer */
}
#endif

/* Element c..c+7 of a tile row: f32, or f16 widened in registers. */
static inline v8f attn_row_load(const void *row, int c, int f16) {
    return f16 ? attn_load_f16((const uint16_t *)row + c) : attn_load((const float *)row + c);
}

/* The tile's rows: f32 in place, f16 in place when widened in registers (returns 1), other
 * types widened into buf ([KT][hd]). */
static int attn_rows(const uint8_t *base, size_t row_bytes, int type, int hd, int n, float *buf, const void **rows) {
    const int f16 = type == AK_TYPE_F16 && ATTN_F16_IN_REGISTERS;
    for (int j = 0; j < n; j++) {
        const uint8_t *src = base + (size_t)j * row_bytes;
        if (type == AK_TYPE_F32 || f16) {
            rows[j] = src;
        } else {
            ak_dequantize_row((ak_type)type, src, buf + (size_t)j * hd, hd);
            rows[j] = buf + (size_t)j * hd;
        }
    }
    return f16;
}

/* The tile after the one being computed is requested before it is needed. A decode item
 * has one row per key tile, too little arithmetic to hide the memory latency of its rows,
 * and the value rows are read half a row at a time (attn_accumulate), which the hardware
 * prefetcher follows poorly. The requests go into L2 (prefetcht2), not L1: a request into L1
 * holds one of the core's few L1 miss buffers until its line arrives (session 12: perf put
 * 30% of the kernel's samples on a loop of L1 requests). They are spread over the tile's
 * first row - the next tile's key rows as its scores are computed, eight keys' worth per
 * eight scores, and its value rows one per value accumulated - instead of all 256 lines
 * issued at the start of the tile, which stalled on the queue of outstanding requests until
 * most had left it (session 13, `bench_attn`: the kernel alone, f16 cache, 64 heads x 8,192
 * keys, 1 thread: 45-47 -> 22-29 ns per key and head, 11 -> 18-23 GB/s; two or three tiles
 * ahead 26-32 ns; into L1 51 ns). In cache (-H 1 -n 512) the requests cost about 3 ns per
 * key (7.8 -> 10.7), which memory-bound decode does not see. */
static inline void attn_request(const uint8_t *p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 1);
}

/* The eight lane sums of a[0..8): lane j of the result is the sum of a[j]'s lanes, by three
 * rounds of pairwise shuffles and adds (7 adds for 8 dot products, not 8 horizontal sums). */
static inline v8f attn_reduce8(const v8f *a) {
    v8f u[4], w[2];
    for (int i = 0; i < 4; i++)
        u[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
               __builtin_shufflevector(a[2 * i], a[2 * i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
    for (int i = 0; i < 2; i++)
        w[i] = __builtin_shufflevector(u[2 * i], u[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               __builtin_shufflevector(u[2 * i], u[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    return __builtin_shufflevector(w[0], w[1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(w[0], w[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

/* q . rows[j] for the eight keys rows[0..8), lanes along the head dimension; requests the
 * rows of eight keys of the next tile from next_k (unless NULL). */
ATTN_INLINE v8f attn_scores8(const float *q, const void *const *rows, int hd, int f16, const uint8_t *next_k,
                             size_t k_row) {
    v8f a[8];
    if (next_k) attn_request(next_k, 8 * k_row);
    for (int j = 0; j < 8; j++) a[j] = v8_splat(0.0f);
    for (int c = 0; c < hd; c += 8) {
        const v8f qc = attn_load(q + c);
        for (int j = 0; j < 8; j++) a[j] += qc * attn_row_load(rows[j], c, f16);
    }
    return attn_reduce8(a);
}

/* acc[0..hd) = acc * alpha + sum over j < n of w[j] * rows[j], eight vectors at a time;
 * requests row j of the next tile's values (next_v, unless NULL) with row j, in the first
 * pass. */
ATTN_INLINE void attn_accumulate(float *acc, float alpha, const float *w, const void *const *rows, int n, int hd,
                                int f16, const uint8_t *next_v, size_t v_row) {
    for (int c0 = 0; c0 < hd; c0 += 64) {
        const int nv = hd - c0 >= 64 ? 8 : (hd - c0) / 8;
        v8f a[8];
        for (int i = 0; i < nv; i++) a[i] = attn_load(acc + c0 + 8 * i) * alpha;
        if (nv == 8) {
            for (int j = 0; j < n; j++) {
                if (next_v && c0 == 0) attn_request(next_v + (size_t)j * v_row, v_row);
                const v8f wj = v8_splat(w[j]);
                for (int i = 0; i < 8; i++) a[i] += wj * attn_row_load(rows[j], c0 + 8 * i, f16);
            }
        } else {
            for (int j = 0; j < n; j++) {
                if (next_v && c0 == 0) attn_request(next_v + (size_t)j * v_row, v_row);
                const v8f wj = v8_splat(w[j]);
                for (int i = 0; i < nv; i++) a[i] += wj * attn_row_load(rows[j], c0 + 8 * i, f16);
            }
        }
        for (int i = 0; i < nv; i++) attn_store(acc + c0 + 8 * i, a[i]);
    }
}

/* One row against the tile's keys, seeing keys first..vis-1 of it: s = exp(score - m') (0 for
 * unseen keys), the state's max and sum updated; returns exp(m - m'), the factor that
 * rescales what the row accumulated before. */
ATTN_INLINE float attn_row(const float *q, const void *const *krows, int k16, int hd, int first, int vis, float *m,
                           float *l, float *s, const uint8_t *next_k, size_t k_row) {
    v8f sc[ATTN_KV];
    for (int c = 0; c < ATTN_KV; c++)
        sc[c] = 8 * c < vis && 8 * c + 8 > first
                    ? attn_scores8(q, krows + 8 * c, hd, k16, next_k ? next_k + (size_t)8 * c * k_row : NULL, k_row)
                    : v8_splat(0.0f);
    float mt = -INFINITY;
    for (int c = 0; c < ATTN_KV; c++) attn_store(s + 8 * c, sc[c]);
    for (int j = first; j < vis; j++) mt = s[j] > mt ? s[j] : mt;
    const float m_new = mt > *m ? mt : *m;
    const v8f mn = v8_splat(m_new);
    v8f sum = v8_splat(0.0f);
    for (int c = 0; c < ATTN_KV; c++) {
        v8f x = sc[c] - mn;
        x = v8_select(x < EXP_LO, v8_splat(EXP_LO), x);
        v8f e = v8_exp_nonpositive(x);
        for (int i = 0; i < 8; i++) /* keys this row may not see weigh nothing */
            if (8 * c + i >= vis || 8 * c + i < first) e[i] = 0.0f;
        attn_store(s + 8 * c, e);
        sum += e;
    }
    float tile_sum = 0.0f;
    for (int i = 0; i < 8; i++) tile_sum += sum[i];
    const float alpha = *m == -INFINITY ? 0.0f : expf(*m - m_new);
    *l = *l * alpha + tile_sum;
    *m = m_new;
    return alpha;
}

/* One row against one tile: scores, softmax state, values. f16 rows widened in registers
 * get a copy of their own (constant flags): the flag tested at every load cost a quarter
 * of the kernel's time in cache (bench_attn -H 1 -n 512: 14.1 -> 10.6 ns per key). */
static void attn_tile_row(const float *q, const void *const *krows, const void *const *vrows, int k16, int v16,
                          int hd, int first, int vis, float *m, float *l, float *s, float *acc, const uint8_t *next_k,
                          const uint8_t *next_v, const attn_cache *d) {
    if (k16 && v16) {
        const float alpha = attn_row(q, krows, 1, hd, first, vis, m, l, s, next_k, d->k_row);
        attn_accumulate(acc, alpha, s + first, vrows + first, vis - first, hd, 1, next_v, d->v_row);
    } else {
        const float alpha = attn_row(q, krows, k16, hd, first, vis, m, l, s, next_k, d->k_row);
        attn_accumulate(acc, alpha, s + first, vrows + first, vis - first, hd, v16, next_v, d->v_row);
    }
}

void ATTN_KERNEL_NAME(const attn_cache *d, const uint8_t *k, const uint8_t *v, int n_rows, const float *q,
                      const int *vis_lo, const int *vis_hi, int key_lo, int key_hi, float *m, float *l, float *acc,
                      float *work) {
    const int hd = d->hd;
    float *kb = work, *vb = kb + (size_t)hd * ATTN_KT, *s = vb + (size_t)hd * ATTN_KT;
    const void *krows[ATTN_KT], *vrows[ATTN_KT];
    for (int p0 = key_lo; p0 < key_hi; p0 += ATTN_KT) {
        const int n = key_hi - p0 < ATTN_KT ? key_hi - p0 : ATTN_KT;
        int any = 0;
        for (int r = 0; r < n_rows; r++) any |= vis_hi[r] > p0;
        if (!any) break; /* rows see ever fewer keys than the tiles that remain */
        /* the next tile, requested by the first row that computes (a partial last tile is
         * requested whole: a prefetch past the rows in use reads nothing wrong) */
        const int more = p0 + ATTN_KT < key_hi;
        const uint8_t *next_k = more ? k + (size_t)(p0 + ATTN_KT) * d->k_row : NULL;
        const uint8_t *next_v = more ? v + (size_t)(p0 + ATTN_KT) * d->v_row : NULL;
        const int k16 = attn_rows(k + (size_t)p0 * d->k_row, d->k_row, d->type_k, hd, n, kb, krows);
        const int v16 = attn_rows(v + (size_t)p0 * d->v_row, d->v_row, d->type_v, hd, n, vb, vrows);
        for (int j = n; j < ATTN_KT; j++) krows[j] = krows[0]; /* readable; masked below */
        for (int r = 0; r < n_rows; r++) {
            const int vis = vis_hi[r] - p0 < n ? vis_hi[r] - p0 : n, first = vis_lo[r] > p0 ? vis_lo[r] - p0 : 0;
            if (vis <= first) continue;
            attn_tile_row(q + (size_t)r * hd, krows, vrows, k16, v16, hd, first, vis, &m[r], &l[r], s,
                          acc + (size_t)r * hd, next_k, next_v, d);
            next_k = next_v = NULL;
        }
    }
}
