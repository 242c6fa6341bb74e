/* gate.c - numerically stable softmax with the entropy from the log-sum-exp.
 *
 * With m = max z, e_i = exp(z_i - m), s = sum e_i:
 *   p_i = e_i / s,  lse = m + ln s,  H = lse - sum p_i z_i = ln s - (1/s) sum e_i (z_i - m),
 * so the entropy costs one log per row, not one per expert.
 *
 * The exp is our own polynomial (below) so the loops vectorise; relative error < 2e-7
 * over the range that matters, which is below float rounding of the probabilities. */
#include <math.h>
#include <string.h>

#include "router/router_internal.h"

#define LANES 8

/* exp(x) for x <= 0 (arguments are shifted by the row maximum). Cody-Waite range reduction
 * x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial for exp(r) and 2^n from the bits. */
static inline float exp_nonpositive(float x) {
    if (x < -87.0f) x = -87.0f; /* 2^-125.5: still a normal float, ~0 as a probability */
    float y = x * 1.44269504088896341f;
    int n = (int)(y - 0.5f); /* round half away from zero for y <= 0 */
    float fn = (float)n;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    float er = q * r * r + r + 1.0f;
    int32_t bits = (int32_t)((uint32_t)(n + 127) << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return er * scale;
}

int ak_softmax_row(const float *z, int n, float *p, float *h_nats) {
    float mx[LANES], chk[LANES];
    for (int j = 0; j < LANES; j++) {
        mx[j] = -INFINITY;
        chk[j] = 0.0f;
    }
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float v = z[i + j];
            mx[j] = v > mx[j] ? v : mx[j];
            chk[j] += v - v; /* stays 0 unless v is NaN or Inf */
        }
    float m = -INFINITY, c = 0.0f;
    for (int j = 0; j < LANES; j++) {
        m = mx[j] > m ? mx[j] : m;
        c += chk[j];
    }
    for (; i < n; i++) {
        m = z[i] > m ? z[i] : m;
        c += z[i] - z[i];
    }
    if (c != 0.0f || c != c) {
        for (int k = 0; k < n; k++)
            if (!isfinite(z[k])) return k;
    }

    float s[LANES], t[LANES];
    for (int j = 0; j < LANES; j++) s[j] = t[j] = 0.0f;
    for (i = 0; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            float d = z[i + j] - m;
            float e = exp_nonpositive(d);
            p[i + j] = e;
            s[j] += e;
            t[j] += e * d;
        }
    float sum = 0.0f, tsum = 0.0f;
    for (int j = 0; j < LANES; j++) {
        sum += s[j];
        tsum += t[j];
    }
    for (; i < n; i++) {
        float d = z[i] - m;
        float e = exp_nonpositive(d);
        p[i] = e;
        sum += e;
        tsum += e * d;
    }
    float inv = 1.0f / sum;
    for (i = 0; i < n; i++) p[i] *= inv;
    if (h_nats) {
        float h = logf(sum) - tsum * inv;
        *h_nats = h > 0.0f ? h : 0.0f;
    }
    return -1;
}

ak_status ak_softmax_entropy(const float *logits, int n_experts, float *probs, float *entropy_nats,
                             ak_error *err) {
    if (!logits || !probs)
        return ak_fail(err, AK_ERR_INVALID_ARG, "softmax: logits and probs must not be NULL");
    if (n_experts < 1 || n_experts > AK_MAX_EXPERTS)
        return ak_fail(err, AK_ERR_INVALID_ARG, "softmax: n_experts %d out of range 1..%d",
                       n_experts, AK_MAX_EXPERTS);
    int bad = ak_softmax_row(logits, n_experts, probs, entropy_nats);
    if (bad >= 0)
        return ak_fail(err, AK_ERR_NONFINITE, "softmax: logit of expert %d is %s", bad,
                       isnan(logits[bad]) ? "NaN" : "Inf");
    return AK_OK;
}

static float unit_scale(ak_entropy_unit unit, int n_experts) {
    switch (unit) {
    case AK_ENTROPY_BITS: return (float)M_LN2;
    case AK_ENTROPY_NORMALIZED: return n_experts > 1 ? logf((float)n_experts) : 1.0f;
    case AK_ENTROPY_NATS: break;
    }
    return 1.0f;
}

float ak_entropy_to_unit(float h_nats, ak_entropy_unit unit, int n_experts) {
    return h_nats / unit_scale(unit, n_experts);
}

float ak_entropy_from_unit(float h, ak_entropy_unit unit, int n_experts) {
    return h * unit_scale(unit, n_experts);
}
