/* attn_kernel.h - the attention tile kernel (attention.h), written once with eight-lane
 * vectors and compiled twice: attention.c (baseline x86-64) and attention_avx2.c
 * (AVX2+FMA+F16C). Include only from those files, after defining ATTN_KERNEL_NAME.
 *
 * Per tile of ATTN_KT keys: the keys are widened to float (f32 rows are read in place) and
 * transposed to [hd][KT], so a query row's KT scores are hd broadcast multiply-adds on
 * vectors of keys, with no horizontal sums, and the transposition is shared by all rows of
 * the item. Then per row: mask the keys it may not see, new max m' = max(m, tile max),
 * rescale the state by exp(m - m'), add exp(s - m') to the sum and exp(s - m') v to acc. */
#include <math.h>
#include <string.h>

#include "base/v8exp.h"
#include "model/attention.h"
#include "quant/quant.h"

#define ATTN_KV (ATTN_KT / 8) /* vectors of scores per row */

static inline v8f attn_load(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void attn_store(float *p, v8f v) { memcpy(p, &v, sizeof v); }

/* Rows of the tile as floats: in place for f32, else widened into buf ([KT][hd]). */
static void attn_rows(const uint8_t *base, size_t row_bytes, int type, int hd, int n, float *buf, const float **rows) {
    for (int j = 0; j < n; j++) {
        const uint8_t *src = base + (size_t)j * row_bytes;
        if (type == AK_TYPE_F32) {
            rows[j] = (const float *)src;
        } else {
            ak_dequantize_row((ak_type)type, src, buf + (size_t)j * hd, hd);
            rows[j] = buf + (size_t)j * hd;
        }
    }
}

/* kt[d][j] = key j, dimension d; columns past n are zero (their scores are masked). */
static void attn_transpose(const float *const *rows, int n, int hd, float *kt) {
    for (int d = 0; d < hd; d++) {
        float *dst = kt + (size_t)d * ATTN_KT;
        int j = 0;
        for (; j < n; j++) dst[j] = rows[j][d];
        for (; j < ATTN_KT; j++) dst[j] = 0.0f;
    }
}

/* acc[0..hd) = acc * alpha + sum over j < n of w[j] * rows[j], eight vectors at a time. */
static void attn_accumulate(float *acc, float alpha, const float *w, const float *const *rows, int n, int hd) {
    for (int c0 = 0; c0 < hd; c0 += 64) {
        const int nv = hd - c0 >= 64 ? 8 : (hd - c0) / 8;
        v8f a[8];
        for (int i = 0; i < nv; i++) a[i] = attn_load(acc + c0 + 8 * i) * alpha;
        if (nv == 8) {
            for (int j = 0; j < n; j++) {
                const v8f wj = v8_splat(w[j]);
                const float *vr = rows[j] + c0;
                for (int i = 0; i < 8; i++) a[i] += wj * attn_load(vr + 8 * i);
            }
        } else {
            for (int j = 0; j < n; j++) {
                const v8f wj = v8_splat(w[j]);
                for (int i = 0; i < nv; i++) a[i] += wj * attn_load(rows[j] + c0 + 8 * i);
            }
        }
        for (int i = 0; i < nv; i++) attn_store(acc + c0 + 8 * i, a[i]);
    }
}

/* One row against the transposed tile, seeing its first vis keys: s = exp(score - m') (0 for
 * unseen keys), the state's max and sum updated; returns exp(m - m'), the factor that
 * rescales what the row accumulated before. */
static float attn_row(const float *q, const float *kt, int hd, int vis, float *m, float *l, float *s) {
    v8f sc[ATTN_KV];
    for (int c = 0; c < ATTN_KV; c++) sc[c] = v8_splat(0.0f);
    for (int d = 0; d < hd; d++) {
        const v8f qd = v8_splat(q[d]);
        const float *kd = kt + (size_t)d * ATTN_KT;
        for (int c = 0; c < ATTN_KV; c++) sc[c] += qd * attn_load(kd + 8 * c);
    }
    float mt = -INFINITY;
    for (int c = 0; c < ATTN_KV; c++) attn_store(s + 8 * c, sc[c]);
    for (int j = 0; j < vis; j++) mt = s[j] > mt ? s[j] : mt;
    const float m_new = mt > *m ? mt : *m;
    const v8f mn = v8_splat(m_new);
    v8f sum = v8_splat(0.0f);
    for (int c = 0; c < ATTN_KV; c++) {
        v8f x = sc[c] - mn;
        x = v8_select(x < EXP_LO, v8_splat(EXP_LO), x);
        v8f e = v8_exp_nonpositive(x);
        for (int i = 0; i < 8; i++) /* keys this row may not see weigh nothing */
            if (8 * c + i >= vis) e[i] = 0.0f;
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

void ATTN_KERNEL_NAME(const attn_cache *d, const uint8_t *k, const uint8_t *v, int n_rows, const float *q,
                      const int *n_vis, int key_lo, int key_hi, float *m, float *l, float *acc, float *work) {
    const int hd = d->hd;
    float *kt = work, *kb = kt + (size_t)hd * ATTN_KT, *vb = kb + (size_t)hd * ATTN_KT, *s = vb + (size_t)hd * ATTN_KT;
    const float *krows[ATTN_KT], *vrows[ATTN_KT];
    for (int p0 = key_lo; p0 < key_hi; p0 += ATTN_KT) {
        const int n = key_hi - p0 < ATTN_KT ? key_hi - p0 : ATTN_KT;
        int any = 0;
        for (int r = 0; r < n_rows; r++) any |= n_vis[r] > p0;
        if (!any) break; /* rows see ever fewer keys than the tiles that remain */
        attn_rows(k + (size_t)p0 * d->k_row, d->k_row, d->type_k, hd, n, kb, krows);
        attn_rows(v + (size_t)p0 * d->v_row, d->v_row, d->type_v, hd, n, vb, vrows);
        attn_transpose(krows, n, hd, kt);
        for (int r = 0; r < n_rows; r++) {
            int vis = n_vis[r] - p0 < n ? n_vis[r] - p0 : n;
            if (vis <= 0) continue;
            const float alpha = attn_row(q + (size_t)r * hd, kt, hd, vis, &m[r], &l[r], s);
            attn_accumulate(acc + (size_t)r * hd, alpha, s, vrows, vis, hd);
        }
    }
}
