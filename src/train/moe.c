/* moe.c - the OLMoE MoE block: softmax router over all experts, top-K, SwiGLU experts
 * run on the tokens grouped by expert, Switch load-balancing loss and router z-loss. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC(p, count) ((p) = calloc((size_t)(count), sizeof *(p))) == NULL

int ak_moe_acts_alloc(ak_moe_acts *a, const ak_moe_dims *m) {
    memset(a, 0, sizeof *a);
    size_t nk = (size_t)m->n * m->K;
    if (ALLOC(a->logits, (size_t)m->n * m->E) || ALLOC(a->probs, (size_t)m->n * m->E) || ALLOC(a->idx, nk) ||
        ALLOC(a->count, m->E) || ALLOC(a->offset, m->E + 1) || ALLOC(a->slot_tok, nk) || ALLOC(a->slot_of, nk) ||
        ALLOC(a->g, nk * m->F) || ALLOC(a->u, nk * m->F) || ALLOC(a->yexp, nk * m->d)) {
        ak_moe_acts_free(a);
        return -1;
    }
    return 0;
}

void ak_moe_acts_free(ak_moe_acts *a) {
    free(a->logits);
    free(a->probs);
    free(a->idx);
    free(a->count);
    free(a->offset);
    free(a->slot_tok);
    free(a->slot_of);
    free(a->g);
    free(a->u);
    free(a->yexp);
    memset(a, 0, sizeof *a);
}

int ak_moe_scratch_alloc(ak_moe_scratch *s, const ak_moe_dims *m) {
    memset(s, 0, sizeof *s);
    size_t nk = (size_t)m->n * m->K;
    if (ALLOC(s->hs, nk * m->d) || ALLOC(s->dhs, nk * m->d) || ALLOC(s->dyexp, nk * m->d) || ALLOC(s->a, nk * m->F) ||
        ALLOC(s->da, nk * m->F) || ALLOC(s->dg, nk * m->F) || ALLOC(s->du, nk * m->F) ||
        ALLOC(s->dlogits, (size_t)m->n * m->E) || ALLOC(s->dw, nk)) {
        ak_moe_scratch_free(s);
        return -1;
    }
    return 0;
}

void ak_moe_scratch_free(ak_moe_scratch *s) {
    free(s->hs);
    free(s->dhs);
    free(s->dyexp);
    free(s->a);
    free(s->da);
    free(s->dg);
    free(s->du);
    free(s->dlogits);
    free(s->dw);
    memset(s, 0, sizeof *s);
}

static float sigmoidf(float x) {
    return 1.0f / (1.0f + expf(-x));
}

static void gather_rows(float *dst, const float *src, const int32_t *rows, int n, int d) {
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * d, src + (size_t)rows[i] * d, (size_t)d * sizeof *dst);
}

double ak_moe_fwd(float *y, ak_moe_acts *a, ak_moe_scratch *s, const float *h, const float *Wr, const float *Wg,
                  const float *Wu, const float *Wd, const ak_moe_dims *m) {
    int n = m->n, d = m->d, E = m->E, K = m->K, F = m->F;
    ak_linear_fwd(a->logits, h, Wr, n, d, E);
    double z_sum = 0, P[256] = {0}; /* E <= 256 checked by the model config */
    for (int t = 0; t < n; t++) {
        const float *l = a->logits + (size_t)t * E;
        float *p = a->probs + (size_t)t * E, mx = l[0];
        for (int e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
        double sum = 0;
        for (int e = 0; e < E; e++) sum += p[e] = expf(l[e] - mx);
        double lse = mx + log(sum);
        z_sum += lse * lse;
        for (int e = 0; e < E; e++) {
            p[e] = (float)(p[e] / sum);
            P[e] += p[e];
        }
        /* top-K by repeated selection; ties go to the lower expert index */
        int32_t *idx = a->idx + (size_t)t * K;
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= idx[j] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            idx[k] = best;
        }
    }
    memset(a->count, 0, (size_t)E * sizeof *a->count);
    for (int i = 0; i < n * K; i++) a->count[a->idx[i]]++;
    a->offset[0] = 0;
    for (int e = 0; e < E; e++) a->offset[e + 1] = a->offset[e] + a->count[e];
    int32_t fill[256];
    memcpy(fill, a->offset, (size_t)E * sizeof *fill);
    for (int i = 0; i < n * K; i++) {
        int slot = fill[a->idx[i]]++;
        a->slot_tok[slot] = i / K;
        a->slot_of[i] = slot;
    }

    for (int e = 0; e < E; e++) {
        int S = a->count[e], o = a->offset[e];
        if (!S) continue;
        float *hs = s->hs + (size_t)o * d, *g = a->g + (size_t)o * F, *u = a->u + (size_t)o * F;
        float *act = s->a + (size_t)o * F;
        gather_rows(hs, h, a->slot_tok + o, S, d);
        ak_linear_fwd(g, hs, Wg + (size_t)e * F * d, S, d, F);
        ak_linear_fwd(u, hs, Wu + (size_t)e * F * d, S, d, F);
        for (size_t i = 0; i < (size_t)S * F; i++) act[i] = g[i] * sigmoidf(g[i]) * u[i];
        ak_linear_fwd(a->yexp + (size_t)o * d, act, Wd + (size_t)e * d * F, S, F, d);
    }
    for (int t = 0; t < n; t++) {
        float *yt = y + (size_t)t * d;
        memset(yt, 0, (size_t)d * sizeof *yt);
        for (int k = 0; k < K; k++) {
            int e = a->idx[(size_t)t * K + k], slot = a->slot_of[(size_t)t * K + k];
            cblas_saxpy(d, a->probs[(size_t)t * E + e], a->yexp + (size_t)slot * d, 1, yt, 1);
        }
    }
    double balance = 0;
    for (int e = 0; e < E; e++) balance += (double)a->count[e] / ((double)n * K) * (P[e] / n);
    a->aux_loss = m->aux_coef * E * balance;
    a->z_loss = m->z_coef * z_sum / n;
    return a->aux_loss + a->z_loss;
}

void ak_moe_bwd(float *dh, float *dWr, float *dWg, float *dWu, float *dWd, const float *dy, const ak_moe_acts *a,
                ak_moe_scratch *s, const float *h, const float *Wr, const float *Wg, const float *Wu, const float *Wd,
                const ak_moe_dims *m) {
    int n = m->n, d = m->d, E = m->E, K = m->K, F = m->F;
    /* gate weights and expert outputs */
    for (int t = 0; t < n; t++)
        for (int k = 0; k < K; k++) {
            int e = a->idx[(size_t)t * K + k], slot = a->slot_of[(size_t)t * K + k];
            const float *dyt = dy + (size_t)t * d;
            s->dw[(size_t)t * K + k] = cblas_sdot(d, dyt, 1, a->yexp + (size_t)slot * d, 1);
            float w = a->probs[(size_t)t * E + e], *dye = s->dyexp + (size_t)slot * d;
            for (int j = 0; j < d; j++) dye[j] = w * dyt[j];
        }
    for (int e = 0; e < E; e++) {
        int S = a->count[e], o = a->offset[e];
        if (!S) continue;
        const float *g = a->g + (size_t)o * F, *u = a->u + (size_t)o * F;
        const float *wg = Wg + (size_t)e * F * d, *wu = Wu + (size_t)e * F * d, *wd = Wd + (size_t)e * d * F;
        float *hs = s->hs + (size_t)o * d, *act = s->a + (size_t)o * F, *da = s->da + (size_t)o * F;
        float *dg = s->dg + (size_t)o * F, *du = s->du + (size_t)o * F, *dhs = s->dhs + (size_t)o * d;
        gather_rows(hs, h, a->slot_tok + o, S, d);
        for (size_t i = 0; i < (size_t)S * F; i++) act[i] = g[i] * sigmoidf(g[i]) * u[i];
        memset(da, 0, (size_t)S * F * sizeof *da);
        ak_linear_bwd(da, dWd + (size_t)e * d * F, s->dyexp + (size_t)o * d, act, wd, S, F, d);
        for (size_t i = 0; i < (size_t)S * F; i++) {
            float sg = sigmoidf(g[i]), silu = g[i] * sg;
            du[i] = da[i] * silu;
            dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        }
        memset(dhs, 0, (size_t)S * d * sizeof *dhs);
        ak_linear_bwd(dhs, dWg + (size_t)e * F * d, dg, hs, wg, S, d, F);
        ak_linear_bwd(dhs, dWu + (size_t)e * F * d, du, hs, wu, S, d, F);
        for (int i = 0; i < S; i++) cblas_saxpy(d, 1.0f, dhs + (size_t)i * d, 1, dh + (size_t)a->slot_tok[o + i] * d, 1);
    }
    /* router: d(probs) from the chosen weights and the balance loss, then the softmax */
    float balance_grad[256];
    for (int e = 0; e < E; e++)
        balance_grad[e] = (float)(m->aux_coef * E * ((double)a->count[e] / ((double)n * K)) / n);
    for (int t = 0; t < n; t++) {
        const float *p = a->probs + (size_t)t * E, *l = a->logits + (size_t)t * E;
        float *dl = s->dlogits + (size_t)t * E;
        for (int e = 0; e < E; e++) dl[e] = balance_grad[e];
        for (int k = 0; k < K; k++) dl[a->idx[(size_t)t * K + k]] += s->dw[(size_t)t * K + k];
        float dot = 0;
        for (int e = 0; e < E; e++) dot += p[e] * dl[e];
        float mx = l[0];
        for (int e = 1; e < E; e++) mx = l[e] > mx ? l[e] : mx;
        double sum = 0;
        for (int e = 0; e < E; e++) sum += exp((double)(l[e] - mx));
        float zg = (float)(m->z_coef * 2.0 * (mx + log(sum)) / n);
        for (int e = 0; e < E; e++) dl[e] = p[e] * (dl[e] - dot) + zg * p[e];
    }
    ak_linear_bwd(dh, dWr, s->dlogits, h, Wr, n, d, E);
}
