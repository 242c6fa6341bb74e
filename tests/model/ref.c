/* ref.c - a deliberately plain reference forward pass over the fixture's float weights:
 * double accumulators, rope angles from pow(), no batching, no threads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static const float *W(const fx_model *m, int il, const char *name) {
    char n[64];
    if (il < 0)
        strcpy(n, name);
    else
        snprintf(n, sizeof n, "blk.%d.%s", il, name);
    const fx_tensor *t = fx_get(m, n);
    return t ? t->data : NULL;
}

/* y[o] = sum_i M[o * n_in + i] x[i] */
static void mv(const float *M, const float *x, int n_in, int n_out, float *y) {
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += (double)M[(size_t)o * n_in + i] * x[i];
        y[o] = (float)s;
    }
}

static void rmsnorm(float *v, const float *w, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)v[i] * v[i];
    double sc = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) v[i] = (float)(v[i] * sc * w[i]);
}

static void rope(float *v, int hd, int pos, int neox) {
    for (int i = 0; i < hd / 2; i++) {
        double th = pos * pow(10000.0, -2.0 * i / hd);
        int a = neox ? i : 2 * i, b = neox ? i + hd / 2 : 2 * i + 1;
        double x0 = v[a], x1 = v[b];
        v[a] = (float)(x0 * cos(th) - x1 * sin(th));
        v[b] = (float)(x0 * sin(th) + x1 * cos(th));
    }
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

/* out += scale * down(silu(gate x) * up x) for one expert's matrices */
static void ffn(const float *g, const float *u, const float *d, const float *x, int E, int ff, double scale,
                double *out) {
    float *hg = malloc(ff * sizeof *hg), *hu = malloc(ff * sizeof *hu), *y = malloc(E * sizeof *y);
    mv(g, x, E, ff, hg);
    mv(u, x, E, ff, hu);
    for (int i = 0; i < ff; i++) hg[i] = (float)(silu(hg[i]) * hu[i]);
    mv(d, hg, ff, E, y);
    for (int i = 0; i < E; i++) out[i] += scale * y[i];
    free(hg);
    free(hu);
    free(y);
}

/* One MoE block on the normalised input xn: softmax router, top-k by selection, the
 * chosen experts (and a shared expert) summed into acc. rl, pr: [n_expert] scratch. */
static void ref_moe(const fx_model *m, int il, const float *xn, int k_used, float *rl, double *pr, double *acc) {
    const fx_params *p = &m->p;
    const int E = p->n_embd, X = p->n_expert, ff = p->n_ff;
    const int renorm = !strcmp(p->arch, "qwen3moe") || !strcmp(p->arch, "llama");
    mv(W(m, il, "ffn_gate_inp.weight"), xn, E, X, rl);
    double mxl = -1e300, z = 0;
    for (int e = 0; e < X; e++) mxl = rl[e] > mxl ? rl[e] : mxl;
    for (int e = 0; e < X; e++) z += (pr[e] = exp(rl[e] - mxl));
    for (int e = 0; e < X; e++) pr[e] /= z;
    /* top-k by selection: k times the largest not yet taken */
    int chosen[64];
    double wsum = 0;
    for (int s = 0; s < k_used; s++) {
        int best = -1;
        for (int e = 0; e < X; e++) {
            int taken = 0;
            for (int u = 0; u < s; u++) taken |= chosen[u] == e;
            if (!taken && (best < 0 || pr[e] > pr[best])) best = e;
        }
        chosen[s] = best;
        wsum += pr[best];
    }
    memset(acc, 0, E * sizeof *acc);
    const float *G = W(m, il, "ffn_gate_exps.weight"), *U = W(m, il, "ffn_up_exps.weight");
    const float *D = W(m, il, "ffn_down_exps.weight");
    for (int s = 0; s < k_used; s++) {
        int e = chosen[s];
        double w = renorm ? pr[e] / wsum : pr[e];
        ffn(G + (size_t)e * ff * E, U + (size_t)e * ff * E, D + (size_t)e * E * ff, xn, E, ff, w, acc);
    }
    if (W(m, il, "ffn_gate_inp_shexp.weight")) {
        const float *gi = W(m, il, "ffn_gate_inp_shexp.weight");
        double g = 0;
        for (int i = 0; i < E; i++) g += (double)gi[i] * xn[i];
        ffn(W(m, il, "ffn_gate_shexp.weight"), W(m, il, "ffn_up_shexp.weight"), W(m, il, "ffn_down_shexp.weight"), xn,
            E, p->n_ff_shexp, 1.0 / (1.0 + exp(-g)), acc);
    }
}

void ref_forward(const fx_model *m, const int32_t *tokens, int n_tokens, int k_used, float *logits) {
    const fx_params *p = &m->p;
    const int E = p->n_embd, hd = p->head_dim, nh = p->n_head, nkv = p->n_head_kv, X = p->n_expert;
    const int q_dim = nh * hd, kv_dim = nkv * hd;
    const int olmoe = !strcmp(p->arch, "olmoe"), q3 = !strcmp(p->arch, "qwen3moe");
    const int neox = strcmp(p->arch, "llama") != 0;
    float *Kc = calloc((size_t)p->n_layer * n_tokens * kv_dim, sizeof(float));
    float *Vc = calloc((size_t)p->n_layer * n_tokens * kv_dim, sizeof(float));
    float *x = malloc(E * sizeof *x), *xn = malloc(E * sizeof *xn), *q = malloc(q_dim * sizeof *q);
    float *att = malloc(q_dim * sizeof *att), *o = malloc(E * sizeof *o), *rl = malloc(X * sizeof *rl);
    double *acc = malloc(E * sizeof *acc), *pr = malloc(X * sizeof *pr);
    double *sc = malloc(n_tokens * sizeof *sc);

    for (int pos = 0; pos < n_tokens; pos++) {
        memcpy(x, W(m, -1, "token_embd.weight") + (size_t)tokens[pos] * E, E * sizeof *x);
        for (int il = 0; il < p->n_layer; il++) {
            float *k = Kc + ((size_t)il * n_tokens + pos) * kv_dim, *v = Vc + ((size_t)il * n_tokens + pos) * kv_dim;
            memcpy(xn, x, E * sizeof *x);
            rmsnorm(xn, W(m, il, "attn_norm.weight"), E);
            mv(W(m, il, "attn_q.weight"), xn, E, q_dim, q);
            mv(W(m, il, "attn_k.weight"), xn, E, kv_dim, k);
            mv(W(m, il, "attn_v.weight"), xn, E, kv_dim, v);
            const float *bq = W(m, il, "attn_q.bias"), *bk = W(m, il, "attn_k.bias"), *bv = W(m, il, "attn_v.bias");
            for (int i = 0; bq && i < q_dim; i++) q[i] += bq[i];
            for (int i = 0; bk && i < kv_dim; i++) k[i] += bk[i];
            for (int i = 0; bv && i < kv_dim; i++) v[i] += bv[i];
            if (olmoe) {
                rmsnorm(q, W(m, il, "attn_q_norm.weight"), q_dim);
                rmsnorm(k, W(m, il, "attn_k_norm.weight"), kv_dim);
            }
            for (int h = 0; h < nh; h++) {
                if (q3) rmsnorm(q + h * hd, W(m, il, "attn_q_norm.weight"), hd);
                rope(q + h * hd, hd, pos, neox);
            }
            for (int h = 0; h < nkv; h++) {
                if (q3) rmsnorm(k + h * hd, W(m, il, "attn_k_norm.weight"), hd);
                rope(k + h * hd, hd, pos, neox);
            }
            for (int h = 0; h < nh; h++) {
                int kh = h / (nh / nkv);
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= pos; j++) {
                    const float *kj = Kc + ((size_t)il * n_tokens + j) * kv_dim + kh * hd;
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double)q[h * hd + d] * kj[d];
                    sc[j] = s / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= pos; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double s = 0;
                    for (int j = 0; j <= pos; j++) s += sc[j] / sum * Vc[((size_t)il * n_tokens + j) * kv_dim + kh * hd + d];
                    att[h * hd + d] = (float)s;
                }
            }
            mv(W(m, il, "attn_output.weight"), att, q_dim, E, o);
            for (int i = 0; i < E; i++) x[i] += o[i];

            memcpy(xn, x, E * sizeof *x);
            rmsnorm(xn, W(m, il, "ffn_norm.weight"), E);
            ref_moe(m, il, xn, k_used, rl, pr, acc);
            for (int i = 0; i < E; i++) x[i] += (float)acc[i];
        }
        memcpy(xn, x, E * sizeof *x);
        rmsnorm(xn, W(m, -1, "output_norm.weight"), E);
        const float *out = W(m, -1, "output.weight");
        mv(out ? out : W(m, -1, "token_embd.weight"), xn, E, p->n_vocab, logits + (size_t)pos * p->n_vocab);
    }
    free(Kc);
    free(Vc);
    free(x);
    free(xn);
    free(q);
    free(att);
    free(o);
    free(rl);
    free(acc);
    free(pr);
    free(sc);
}
