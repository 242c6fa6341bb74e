/* v8exp.h - eight-lane float vectors (GCC/Clang vector extensions) and exp for x <= 0,
 * shared by the kernels compiled twice, for baseline x86-64 and for AVX2+FMA: the router's
 * softmax (router/softmax_kernel.h) and the engine's attention (model/attn_kernel.h).
 *
 * exp is our own: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial
 * for exp(r) and 2^n built from the exponent bits; relative error ~1e-7 for x in [-80, 0],
 * below the float rounding of probabilities. Header-only (static inline), so libadaptivek
 * still links nothing but libc and libm. */
#ifndef AK_BASE_V8EXP_H
#define AK_BASE_V8EXP_H

#include <stdint.h>
#include <string.h>

/* Eight-lane helpers are static inline and always inlined; their ABI never matters. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Floor for z - max: exp(-80) ~ 1.8e-35, so even divided by a sum of 1024 experts a
 * probability stays a normal float (denormals cost microcode assists on some CPUs). The
 * entropy uses the floored difference too, so a huge logit gap adds ~0, not e * gap. */
#define EXP_LO -80.0f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
#define EXP_P0 1.9875691500e-4f
#define EXP_P1 1.3981999507e-3f
#define EXP_P2 8.3334519073e-3f
#define EXP_P3 4.1665795894e-2f
#define EXP_P4 1.6666665459e-1f
#define EXP_P5 5.0000001201e-1f

static inline v8f v8_splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

static inline v8f v8_select(v8i mask, v8f a, v8f b) {
    return (v8f)(((v8i)a & mask) | ((v8i)b & ~mask));
}

/* exp(x) for EXP_LO <= x <= 0, eight lanes. */
static inline v8f v8_exp_nonpositive(v8f x) {
    v8i n = __builtin_convertvector(x * LOG2E - 0.5f, v8i); /* round half away, x <= 0 */
    v8f fn = __builtin_convertvector(n, v8f);
    v8f r = x - fn * LN2_HI;
    r = r - fn * LN2_LO;
    v8f q = v8_splat(EXP_P0);
    q = q * r + EXP_P1;
    q = q * r + EXP_P2;
    q = q * r + EXP_P3;
    q = q * r + EXP_P4;
    q = q * r + EXP_P5;
    v8f er = q * r * r + r + 1.0f;
    return er * (v8f)((n + 127) << 23);
}

static inline float exp_nonpositive(float x) {
    int32_t n = (int32_t)(x * LOG2E - 0.5f);
    float fn = (float)n;
    float r = x - fn * LN2_HI;
    r = r - fn * LN2_LO;
    float q = EXP_P0;
    q = q * r + EXP_P1;
    q = q * r + EXP_P2;
    q = q * r + EXP_P3;
    q = q * r + EXP_P4;
    q = q * r + EXP_P5;
    float er = q * r * r + r + 1.0f;
    int32_t bits = (int32_t)((uint32_t)(n + 127) << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return er * scale;
}

#endif
