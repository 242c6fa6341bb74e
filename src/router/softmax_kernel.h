/* softmax_kernel.h - the softmax + entropy row kernel, written once with GCC/Clang vector
 * extensions and compiled twice: baseline x86-64 (SSE2) in gate.c and AVX2+FMA in
 * gate_avx2.c; gate.c picks one at run time. Include only from those two files, after
 * defining SOFTMAX_ROW_NAME and ROUTE_ROW_NAME.
 *
 * With m = max z, e_i = exp(z_i - m), s = sum e_i:
 *   p_i = e_i / s,  lse = m + ln s,  H = lse - sum p_i z_i = ln s - (1/s) sum e_i (z_i - m),
 * so the entropy costs one log per row, not one per expert.
 *
 * exp is base/v8exp.h's (shared with the engine's attention kernel). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "router/compact_table.h"

#include "base/v8exp.h"

/* Bit j set when lane j of the comparison mask is true. */
static inline unsigned v8_movemask(v8i m) {
#if defined(__AVX__)
    __m256 x;
    memcpy(&x, &m, sizeof x);
    return (unsigned)_mm256_movemask_ps(x);
#elif defined(__SSE2__)
    __m128 lo, hi;
    memcpy(&lo, &m, sizeof lo);
    memcpy(&hi, (const char *)&m + sizeof lo, sizeof hi);
    return (unsigned)(_mm_movemask_ps(lo) | (_mm_movemask_ps(hi) << 4));
#else
    unsigned bits = 0;
    for (int j = 0; j < 8; j++) bits |= (unsigned)(m[j] & 1) << j;
    return bits;
#endif
}

static inline float v8_hsum(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* tau = the m-th largest of the 16 lanes of col[0..1] (m <= 8), branch-free: the minimum
 * over the lanes that have fewer than m lanes strictly above them. */
static inline float v16_mth_largest(const v8f *col, int m) {
    v8i above0 = {0, 0, 0, 0, 0, 0, 0, 0}, above1 = above0;
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 8; k++) {
            v8f v = v8_splat(col[c][k]);
            above0 -= v > col[0];
            above1 -= v > col[1];
        }
    v8f in0 = v8_select(above0 < m, col[0], v8_splat(INFINITY));
    v8f in1 = v8_select(above1 < m, col[1], v8_splat(INFINITY));
    v8f in_top = v8_select(in1 < in0, in1, in0);
    float tau = in_top[0];
    for (int j = 1; j < 8; j++) tau = in_top[j] < tau ? in_top[j] : tau;
    return tau;
}

/* Softmax + entropy of one row. With cand != NULL (top-k of m <= 8 wanted) it also gathers
 * the top-k candidates into cand (room for n + 8) and their count into *n_cand:
 *
 * Prefilter: the 16 column maxima of the logits (column = position mod 16, full chunks of
 * 8 only) sit at distinct positions, so the m-th largest of them, tau, is a lower bound for
 * the m-th largest logit, and only experts with z >= tau can make the top m. tau is known
 * after the max pass, so the gathering (a mask and a table lookup per eight lanes, no
 * branches) overlaps with the exp pass. Experts past the last full chunk of 8 are always
 * candidates. */
static inline int softmax_core(const float *z, int n, float *p, float *h_nats, int m,
                               int32_t *cand, int *n_cand) {
    v8f col0 = v8_splat(-INFINITY), col1 = col0, vchk = v8_splat(0.0f);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a, b;
        memcpy(&a, z + i, sizeof a);
        memcpy(&b, z + i + 8, sizeof b);
        col0 = v8_select(a > col0, a, col0);
        col1 = v8_select(b > col1, b, col1);
        vchk += (a - a) + (b - b); /* stays 0 unless a lane saw NaN or Inf */
    }
    if (i + 8 <= n) {
        v8f a;
        memcpy(&a, z + i, sizeof a);
        col0 = v8_select(a > col0, a, col0);
        vchk += a - a;
        i += 8;
    }
    const int full = i;
    v8f vmax = v8_select(col1 > col0, col1, col0);
    float m_z = -INFINITY, chk = v8_hsum(vchk);
    for (int j = 0; j < 8; j++) m_z = vmax[j] > m_z ? vmax[j] : m_z;
    for (; i < n; i++) {
        m_z = z[i] > m_z ? z[i] : m_z;
        chk += z[i] - z[i];
    }
    if (chk != 0.0f || chk != chk) {
        for (int k = 0; k < n; k++)
            if (!isfinite(z[k])) return k;
    }
    float tau = -INFINITY;
    if (cand && full >= 8) {
        v8f col[2] = {col0, col1};
        tau = v16_mth_largest(col, m);
    }
    const v8f vtau = v8_splat(tau);

    typedef uint8_t v8u8 __attribute__((vector_size(8)));
    int nc = 0;
    v8f vs = v8_splat(0.0f), vt = v8_splat(0.0f), vm = v8_splat(m_z);
    for (i = 0; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, z + i, sizeof v);
        if (cand) {
            unsigned bits = v8_movemask(v >= vtau);
            v8u8 pos;
            memcpy(&pos, ak_compact_table[bits], sizeof pos);
            v8i idx = __builtin_convertvector(pos, v8i) + i;
            memcpy(cand + nc, &idx, sizeof idx);
            nc += __builtin_popcount(bits);
        }
        v8f d = v - vm;
        d = v8_select(d < v8_splat(EXP_LO), v8_splat(EXP_LO), d);
        v8f e = v8_exp_nonpositive(d);
        memcpy(p + i, &e, sizeof e);
        vs += e;
        vt += e * d;
    }
    float s = v8_hsum(vs), t = v8_hsum(vt);
    for (; i < n; i++) {
        if (cand) cand[nc++] = i;
        float d = z[i] - m_z;
        if (d < EXP_LO) d = EXP_LO;
        float e = exp_nonpositive(d);
        p[i] = e;
        s += e;
        t += e * d;
    }
    if (cand) *n_cand = nc;
    float inv = 1.0f / s;
    v8f vinv = v8_splat(inv);
    for (i = 0; i + 8 <= n; i += 8) {
        v8f a;
        memcpy(&a, p + i, sizeof a);
        a *= vinv;
        memcpy(p + i, &a, sizeof a);
    }
    for (; i < n; i++) p[i] *= inv;
    if (h_nats) {
        float h = logf(s) - t * inv;
        *h_nats = h > 0.0f ? h : 0.0f;
    }
    return -1;
}

int SOFTMAX_ROW_NAME(const float *z, int n, float *p, float *h_nats) {
    return softmax_core(z, n, p, h_nats, 0, NULL, NULL);
}

/* Softmax, entropy and the m most probable experts. Experts are ranked by logit, which is
 * the probability order without the ties that float rounding of exp can create between
 * different logits; equal logits go to the lower id. For m <= 8 the prefiltered candidates
 * (softmax_core) go through a branch-free sorted window of 8 lanes; larger m use insertion
 * over all experts. top_p receives the probabilities of the chosen experts. */
int ROUTE_ROW_NAME(const float *z, int n, int m, float *p, float *h_nats, float *top_p,
                   int32_t *top_id) {
    int32_t cand[AK_MAX_EXPERTS + 8];
    int n_cand = 0;
    int bad = softmax_core(z, n, p, h_nats, m, m <= 8 ? cand : NULL, &n_cand);
    if (bad >= 0) return bad;
    if (m > 8) {
        for (int i = 0; i < n; i++) cand[i] = i;
        n_cand = n;
    }
    if (m <= 8) {
        /* sorted window of 8 logits in registers; each candidate is inserted branch-free:
         * lanes holding a value >= v stay (an equal value came from a lower id), the first
         * other lane takes v, the rest shift down by one */
        v8f win = v8_splat(-INFINITY);
        v8i wid = (v8i){-1, -1, -1, -1, -1, -1, -1, -1};
        const v8i all = (v8i){-1, -1, -1, -1, -1, -1, -1, -1};
        for (int c = 0; c < n_cand; c++) {
            int32_t id = cand[c];
            v8f vv = v8_splat(z[id]);
            v8i keep = win >= vv;
            v8i take = __builtin_shufflevector(keep, all, 8, 0, 1, 2, 3, 4, 5, 6) & ~keep;
            v8f wsh = __builtin_shufflevector(win, win, 0, 0, 1, 2, 3, 4, 5, 6);
            v8i ish = __builtin_shufflevector(wid, wid, 0, 0, 1, 2, 3, 4, 5, 6);
            v8i vid = (v8i){id, id, id, id, id, id, id, id};
            win = v8_select(keep, win, v8_select(take, vv, wsh));
            wid = (wid & keep) | (((vid & take) | (ish & ~take)) & ~keep);
        }
        for (int j = 0; j < m; j++) {
            top_id[j] = wid[j];
            top_p[j] = p[wid[j]];
        }
        return -1;
    }
    /* top_p holds logits during the insertion, probabilities at the end */
    int count = 0;
    for (int c = 0; c < n_cand; c++) {
        int32_t id = cand[c];
        float v = z[id];
        if (count == m) {
            if (!(v > top_p[m - 1])) continue;
            count--;
        }
        int j = count++;
        while (j > 0 && v > top_p[j - 1]) {
            top_p[j] = top_p[j - 1];
            top_id[j] = top_id[j - 1];
            j--;
        }
        top_p[j] = v;
        top_id[j] = id;
    }
    for (int j = 0; j < m; j++) top_p[j] = p[top_id[j]];
    return -1;
}
