/* layers.c - rmsnorm, linear, NEOX rope, causal attention and cross-entropy. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ak_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int n, int d, float eps) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        rstd[i] = r;
        for (int j = 0; j < d; j++) yi[j] = xi[j] * r * w[j];
    }
}

void ak_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                    int n, int d) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float *dxi = dx + (size_t)i * d, r = rstd[i];
        double dot = 0;
        for (int j = 0; j < d; j++) {
            dot += (double)dyi[j] * w[j] * xi[j];
            dw[j] += dyi[j] * xi[j] * r;
        }
        float c = (float)(dot * r * r * r / d);
        for (int j = 0; j < d; j++) dxi[j] += dyi[j] * w[j] * r - xi[j] * c;
    }
}

void ak_linear_fwd(float *y, const float *x, const float *W, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in, 0.0f, y, out);
}

void ak_linear_bwd(float *dx, float *dW, const float *dy, const float *x, const float *W, int n, int in, int out) {
    if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f, dW, in);
}

static void rope_apply(float *x, int n_seq, int T, int n_head, int head_dim, float theta, float sign) {
    int half = head_dim / 2, D = n_head * head_dim;
    float *cs = malloc((size_t)T * half * 2 * sizeof *cs);
    if (!cs) abort(); /* 2*T*head_dim/2 floats: only fails if the machine is out of memory */
    for (int p = 0; p < T; p++)
        for (int i = 0; i < half; i++) {
            double ang = p * pow(theta, -2.0 * i / head_dim);
            cs[((size_t)p * half + i) * 2] = (float)cos(ang);
            cs[((size_t)p * half + i) * 2 + 1] = sign * (float)sin(ang);
        }
    for (int r = 0; r < n_seq * T; r++) {
        const float *c = cs + (size_t)(r % T) * half * 2;
        for (int h = 0; h < n_head; h++) {
            float *v = x + (size_t)r * D + (size_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                float x0 = v[i], x1 = v[i + half], co = c[2 * i], si = c[2 * i + 1];
                v[i] = x0 * co - x1 * si;
                v[i + half] = x0 * si + x1 * co;
            }
        }
    }
    free(cs);
}

void ak_rope_fwd(float *x, int n_seq, int T, int n_head, int head_dim, float theta) {
    rope_apply(x, n_seq, T, n_head, head_dim, theta, 1.0f);
}

void ak_rope_bwd(float *dx, int n_seq, int T, int n_head, int head_dim, float theta) {
    rope_apply(dx, n_seq, T, n_head, head_dim, theta, -1.0f);
}

void ak_attention_fwd(float *out, float *probs, const float *q, const float *k, const float *v, int n_seq, int T,
                      int n_head, int head_dim) {
    int D = n_head * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int b = 0; b < n_seq; b++)
        for (int h = 0; h < n_head; h++) {
            size_t off = (size_t)b * T * D + (size_t)h * head_dim;
            float *P = probs + ((size_t)b * n_head + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, head_dim, scale, q + off, D, k + off, D, 0.0f,
                        P, T);
            for (int i = 0; i < T; i++) {
                float *row = P + (size_t)i * T, mx = row[0];
                for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
                float sum = 0;
                for (int j = 0; j <= i; j++) sum += row[j] = expf(row[j] - mx);
                for (int j = 0; j <= i; j++) row[j] /= sum;
                for (int j = i + 1; j < T; j++) row[j] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, head_dim, T, 1.0f, P, T, v + off, D, 0.0f,
                        out + off, D);
        }
}

void ak_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                      const float *k, const float *v, int n_seq, int T, int n_head, int head_dim, float *scratch) {
    int D = n_head * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int b = 0; b < n_seq; b++)
        for (int h = 0; h < n_head; h++) {
            size_t off = (size_t)b * T * D + (size_t)h * head_dim;
            const float *P = probs + ((size_t)b * n_head + h) * T * T;
            float *dS = scratch;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, head_dim, T, 1.0f, P, T, dout + off, D, 0.0f,
                        dv + off, D);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, head_dim, 1.0f, dout + off, D, v + off, D,
                        0.0f, dS, T);
            for (int i = 0; i < T; i++) {
                const float *p = P + (size_t)i * T;
                float *ds = dS + (size_t)i * T, dot = 0;
                for (int j = 0; j <= i; j++) dot += p[j] * ds[j];
                for (int j = 0; j <= i; j++) ds[j] = p[j] * (ds[j] - dot);
                for (int j = i + 1; j < T; j++) ds[j] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, head_dim, T, scale, dS, T, k + off, D, 0.0f,
                        dq + off, D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, head_dim, T, scale, dS, T, q + off, D, 0.0f,
                        dk + off, D);
        }
}

double ak_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int n, int V, float scale) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * V;
        float mx = row[0];
        for (int j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        float *d = dlogits ? dlogits + (size_t)i * V : NULL;
        double sum = 0;
        for (int j = 0; j < V; j++) {
            float e = expf(row[j] - mx);
            sum += e;
            if (d) d[j] = e;
        }
        total += mx + log(sum) - row[targets[i]];
        if (d) {
            float c = scale / (float)n, inv = (float)(c / sum);
            for (int j = 0; j < V; j++) d[j] *= inv;
            d[targets[i]] -= c;
        }
    }
    return total / n;
}
