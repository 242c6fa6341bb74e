/* softmax_kernel.h - the softmax + entropy row kernel, written once with GCC/Clang vector
 * extensions and compiled twice: baseline x86-64 (SSE2) in gate.c and AVX2+FMA in
 * gate_avx2.c; gate.c picks one at run time. Include only from those two files, after
 * defining SOFTMAX_ROW_NAME.
 *
 * With m = max z, e_i = exp(z_i - m), s = sum e_i:
 *   p_i = e_i / s,  lse = m + ln s,  H = lse - sum p_i z_i = ln s - (1/s) sum e_i (z_i - m),
 * so the entropy costs one log per row, not one per expert.
 *
 * exp is our own: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial
 * for exp(r) and 2^n built from the exponent bits; relative error ~1e-7 for x in [-87, 0],
 * below the float rounding of the probabilities. Arguments below -87 are clamped there
 * (exp(-87) ~ 1.6e-38: a probability of zero for every purpose). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* Eight-lane helpers are static inline and always inlined; their ABI never matters. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define EXP_LO -87.0f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define P0 1.9875691500e-4f
#define P1 1.3981999507e-3f
#define P2 8.3334519073e-3f
#define P3 4.1665795894e-2f
#define P4 1.6666665459e-1f
#define P5 5.0000001201e-1f

static inline v8f v8_splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

static inline v8f v8_select(v8i mask, v8f a, v8f b) {
    return (v8f)(((v8i)a & mask) | ((v8i)b & ~mask));
}

/* exp(x) for x <= 0, eight lanes. */
static inline v8f v8_exp_nonpositive(v8f x) {
    x = v8_select(x < v8_splat(EXP_LO), v8_splat(EXP_LO), x);
    v8i n = __builtin_convertvector(x * LOG2E - 0.5f, v8i); /* round half away, x <= 0 */
    v8f fn = __builtin_convertvector(n, v8f);
    v8f r = x - fn * LN2_HI;
    r = r - fn * LN2_LO;
    v8f q = v8_splat(P0);
    q = q * r + P1;
    q = q * r + P2;
    q = q * r + P3;
    q = q * r + P4;
    q = q * r + P5;
    v8f er = q * r * r + r + 1.0f;
    return er * (v8f)((n + 127) << 23);
}

static inline float exp_nonpositive(float x) {
    if (x < EXP_LO) x = EXP_LO;
    int32_t n = (int32_t)(x * LOG2E - 0.5f);
    float fn = (float)n;
    float r = x - fn * LN2_HI;
    r = r - fn * LN2_LO;
    float q = P0;
    q = q * r + P1;
    q = q * r + P2;
    q = q * r + P3;
    q = q * r + P4;
    q = q * r + P5;
    float er = q * r * r + r + 1.0f;
    int32_t bits = (int32_t)((uint32_t)(n + 127) << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return er * scale;
}

static inline float v8_hsum(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

int SOFTMAX_ROW_NAME(const float *z, int n, float *p, float *h_nats) {
    v8f vmax = v8_splat(-INFINITY), vchk = v8_splat(0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, z + i, sizeof v);
        vmax = v8_select(v > vmax, v, vmax);
        vchk += v - v; /* stays 0 unless a lane saw NaN or Inf */
    }
    float m = -INFINITY, chk = v8_hsum(vchk);
    for (int j = 0; j < 8; j++) m = vmax[j] > m ? vmax[j] : m;
    for (; i < n; i++) {
        m = z[i] > m ? z[i] : m;
        chk += z[i] - z[i];
    }
    if (chk != 0.0f || chk != chk) {
        for (int k = 0; k < n; k++)
            if (!isfinite(z[k])) return k;
    }

    v8f vs = v8_splat(0.0f), vt = v8_splat(0.0f), vm = v8_splat(m);
    for (i = 0; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, z + i, sizeof v);
        v8f d = v - vm;
        v8f e = v8_exp_nonpositive(d);
        memcpy(p + i, &e, sizeof e);
        vs += e;
        vt += e * d;
    }
    float s = v8_hsum(vs), t = v8_hsum(vt);
    for (; i < n; i++) {
        float d = z[i] - m;
        float e = exp_nonpositive(d);
        p[i] = e;
        s += e;
        t += e * d;
    }
    float inv = 1.0f / s;
    v8f vinv = v8_splat(inv);
    for (i = 0; i + 8 <= n; i += 8) {
        v8f v;
        memcpy(&v, p + i, sizeof v);
        v *= vinv;
        memcpy(p + i, &v, sizeof v);
    }
    for (; i < n; i++) p[i] *= inv;
    if (h_nats) {
        float h = logf(s) - t * inv;
        *h_nats = h > 0.0f ? h : 0.0f;
    }
    return -1;
}
