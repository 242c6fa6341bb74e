/* model.c - parameters, forward and backward of the OLMoE-architecture model. */
#include "base/errfmt.h"
#include "moe_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *rstd1, *h1, *qraw, *kraw, *rstdq, *rstdk, *q, *k, *v, *probs, *o, *xmid, *rstd2, *h2;
    ak_moe_acts moe;
} layer_acts;

struct ak_moe_model {
    ak_moe_config c;
    ak_moe_dims md;
    int n_seq, n;
    int n_tensors;
    ak_param_tensor *t;
    size_t n_params;
    float *params, *grads, *m1, *m2;
    float *tok_embd, *output_norm, *output, *g_tok_embd, *g_output_norm, *g_output;
    ak_layer_params *lp, *lg;
    float *x; /* residual stream before each layer and after the last: [n_layer+1][n][d] */
    layer_acts *la;
    float *rstdf, *hf, *logits;
    float *dx, *dxmid, *dh, *dq, *dk, *dv, *dt, *att_scratch, *dlogits;
    ak_moe_scratch ms;
};

int ak_moe_config_check(const ak_moe_config *c, ak_error *err) {
    const char *why = NULL;
    if (c->n_vocab < 2 || c->n_vocab > (1 << 20)) why = "n_vocab must be in 2..2^20";
    else if (c->n_ctx < 2 || c->n_ctx > 8192) why = "n_ctx must be in 2..8192";
    else if (c->n_layer < 1 || c->n_layer > 64) why = "n_layer must be in 1..64";
    else if (c->n_head < 1 || c->n_embd < 2 || c->n_embd % c->n_head || (c->n_embd / c->n_head) % 2)
        why = "n_embd must be a multiple of n_head with an even head size";
    else if (c->n_embd % 32 || c->n_ff % 32) why = "n_embd and n_ff must be multiples of 32 (Q8_0 blocks)";
    else if (c->n_expert < 1 || c->n_expert > 256) why = "n_expert must be in 1..256";
    else if (c->n_expert_used < 1 || c->n_expert_used > c->n_expert) why = "n_expert_used must be in 1..n_expert";
    else if (c->n_ff < 1 || c->n_ff > 65536) why = "n_ff out of range";
    else if (!(c->rope_theta > 1) || !(c->norm_eps > 0) || !(c->aux_coef >= 0) || !(c->z_coef >= 0))
        why = "rope_theta, norm_eps, aux_coef or z_coef out of range";
    if (why) ak_failf(err, AK_ERR_INVALID_ARG, "model config: %s", why);
    return why ? -1 : 0;
}

static void add_tensor(ak_moe_model *m, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                       int decay) {
    ak_param_tensor *t = &m->t[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->n = (size_t)(ne0 * ne1 * ne2);
    t->offset = m->n_params;
    t->decay = decay;
    m->n_params += t->n;
}

static void build_layout(ak_moe_model *m) {
    const ak_moe_config *c = &m->c;
    int64_t d = c->n_embd, E = c->n_expert, F = c->n_ff, V = c->n_vocab;
    char name[64];
    add_tensor(m, "token_embd.weight", 2, d, V, 1, 1);
    static const char *const attn[] = {"attn_q", "attn_k", "attn_v", "attn_output"};
    for (int l = 0; l < c->n_layer; l++) {
#define T(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
        add_tensor(m, T("attn_norm.weight"), 1, d, 1, 1, 0);
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, attn[i]);
            add_tensor(m, name, 2, d, d, 1, 1);
        }
        add_tensor(m, T("attn_q_norm.weight"), 1, d, 1, 1, 0);
        add_tensor(m, T("attn_k_norm.weight"), 1, d, 1, 1, 0);
        add_tensor(m, T("ffn_norm.weight"), 1, d, 1, 1, 0);
        add_tensor(m, T("ffn_gate_inp.weight"), 2, d, E, 1, 1);
        add_tensor(m, T("ffn_gate_exps.weight"), 3, d, F, E, 1);
        add_tensor(m, T("ffn_up_exps.weight"), 3, d, F, E, 1);
        add_tensor(m, T("ffn_down_exps.weight"), 3, F, d, E, 1);
#undef T
    }
    add_tensor(m, "output_norm.weight", 1, d, 1, 1, 0);
    add_tensor(m, "output.weight", 2, d, V, 1, 1);
}

static void bind(ak_moe_model *m, float *base, float **embd, float **onorm, float **out, ak_layer_params *lp) {
    const ak_param_tensor *t = m->t;
    *embd = base + t[0].offset;
    for (int l = 0; l < m->c.n_layer; l++) {
        const ak_param_tensor *b = t + 1 + 12 * l;
        float **f[12] = {&lp[l].attn_norm, &lp[l].wq,       &lp[l].wk,        &lp[l].wv,
                         &lp[l].wo,        &lp[l].q_norm,   &lp[l].k_norm,    &lp[l].ffn_norm,
                         &lp[l].gate_inp,  &lp[l].gate_exps, &lp[l].up_exps, &lp[l].down_exps};
        for (int i = 0; i < 12; i++) *f[i] = base + b[i].offset;
    }
    *onorm = base + t[m->n_tensors - 2].offset;
    *out = base + t[m->n_tensors - 1].offset;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static float gaussian(uint64_t *s) {
    double u1 = ((splitmix(s) >> 11) + 1.0) / 9007199254740993.0, u2 = (splitmix(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void init_params(ak_moe_model *m, uint64_t seed) {
    float std = 0.02f, out_std = 0.02f / sqrtf(2.0f * m->c.n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const ak_param_tensor *t = &m->t[i];
        float *p = m->params + t->offset;
        int is_out = strstr(t->name, "attn_output") || strstr(t->name, "ffn_down_exps");
        for (size_t j = 0; j < t->n; j++) p[j] = t->n_dims == 1 ? 1.0f : gaussian(&seed) * (is_out ? out_std : std);
    }
}

#define ALLOC(p, count) ((p) = calloc((size_t)(count), sizeof *(p))) == NULL

ak_moe_model *ak_moe_model_new(const ak_moe_config *c, int n_seq, uint64_t seed, ak_error *err) {
    if (ak_moe_config_check(c, err)) return NULL;
    if (n_seq < 1 || (int64_t)n_seq * c->n_ctx > (1 << 24)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "batch of %d sequences out of range", n_seq);
        return NULL;
    }
    ak_moe_model *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    m->c = *c;
    m->n_seq = n_seq;
    m->n = n_seq * c->n_ctx;
    int L = c->n_layer, n = m->n, d = c->n_embd, V = c->n_vocab;
    m->md = (ak_moe_dims){n, d, c->n_expert, c->n_expert_used, c->n_ff, c->aux_coef, c->z_coef};
    if (ALLOC(m->t, 12 * L + 3)) goto oom;
    build_layout(m);
    if (ALLOC(m->params, m->n_params) || ALLOC(m->grads, m->n_params) || ALLOC(m->m1, m->n_params) ||
        ALLOC(m->m2, m->n_params) || ALLOC(m->lp, L) || ALLOC(m->lg, L) || ALLOC(m->la, L))
        goto oom;
    bind(m, m->params, &m->tok_embd, &m->output_norm, &m->output, m->lp);
    bind(m, m->grads, &m->g_tok_embd, &m->g_output_norm, &m->g_output, m->lg);
    init_params(m, seed);
    size_t nd = (size_t)n * d;
    if (ALLOC(m->x, nd * (L + 1))) goto oom;
    for (int l = 0; l < L; l++) {
        layer_acts *a = &m->la[l];
        if (ALLOC(a->rstd1, n) || ALLOC(a->h1, nd) || ALLOC(a->qraw, nd) || ALLOC(a->kraw, nd) ||
            ALLOC(a->rstdq, n) || ALLOC(a->rstdk, n) || ALLOC(a->q, nd) || ALLOC(a->k, nd) || ALLOC(a->v, nd) ||
            ALLOC(a->probs, (size_t)n_seq * c->n_head * c->n_ctx * c->n_ctx) || ALLOC(a->o, nd) ||
            ALLOC(a->xmid, nd) || ALLOC(a->rstd2, n) || ALLOC(a->h2, nd) || ak_moe_acts_alloc(&a->moe, &m->md))
            goto oom;
    }
    if (ALLOC(m->rstdf, n) || ALLOC(m->hf, nd) || ALLOC(m->logits, (size_t)n * V) || ALLOC(m->dx, nd) ||
        ALLOC(m->dxmid, nd) || ALLOC(m->dh, nd) || ALLOC(m->dq, nd) || ALLOC(m->dk, nd) || ALLOC(m->dv, nd) ||
        ALLOC(m->dt, nd) || ALLOC(m->att_scratch, (size_t)c->n_ctx * c->n_ctx) ||
        ALLOC(m->dlogits, (size_t)n * V) || ak_moe_scratch_alloc(&m->ms, &m->md))
        goto oom;
    return m;
oom:
    ak_failf(err, AK_ERR_NOMEM, "out of memory creating the model (batch %d x %d tokens)", n_seq, c->n_ctx);
    ak_moe_model_free(m);
    return NULL;
}

void ak_moe_model_free(ak_moe_model *m) {
    if (!m) return;
    for (int l = 0; m->la && l < m->c.n_layer; l++) {
        layer_acts *a = &m->la[l];
        float *f[] = {a->rstd1, a->h1, a->qraw, a->kraw, a->rstdq, a->rstdk, a->q,
                      a->k,     a->v,  a->probs, a->o,   a->xmid,  a->rstd2, a->h2};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
        ak_moe_acts_free(&a->moe);
    }
    float *f[] = {m->params, m->grads, m->m1, m->m2, m->x, m->rstdf, m->hf, m->logits, m->dx, m->dxmid,
                  m->dh,     m->dq,    m->dk, m->dv, m->dt, m->att_scratch, m->dlogits};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    ak_moe_scratch_free(&m->ms);
    free(m->la);
    free(m->lp);
    free(m->lg);
    free(m->t);
    free(m);
}

const ak_moe_config *ak_moe_model_config(const ak_moe_model *m) { return &m->c; }
size_t ak_moe_model_n_params(const ak_moe_model *m) { return m->n_params; }
int ak_moe_model_n_tensors(const ak_moe_model *m) { return m->n_tensors; }
const ak_param_tensor *ak_moe_model_tensor(const ak_moe_model *m, int i) { return &m->t[i]; }
float *ak_moe_model_params(ak_moe_model *m) { return m->params; }
float *ak_moe_model_grads(ak_moe_model *m) { return m->grads; }

size_t ak_moe_model_n_active(const ak_moe_model *m) {
    const ak_moe_config *c = &m->c;
    size_t d = (size_t)c->n_embd;
    size_t layer = 4 * d * d + 4 * d + (size_t)c->n_expert * d + (size_t)c->n_expert_used * 3 * d * c->n_ff;
    return d + layer * c->n_layer + d + (size_t)c->n_vocab * d;
}

const float *ak_moe_model_logits(const ak_moe_model *m) {
    return m->logits;
}

void ak_moe_model_zero_grad(ak_moe_model *m) {
    memset(m->grads, 0, m->n_params * sizeof *m->grads);
}

void ak_moe_model_expert_load(const ak_moe_model *m, float *out) {
    int E = m->c.n_expert;
    for (int l = 0; l < m->c.n_layer; l++)
        for (int e = 0; e < E; e++)
            out[l * E + e] = (float)m->la[l].moe.count[e] / ((float)m->n * m->c.n_expert_used);
}

double ak_moe_model_step(ak_moe_model *m, const int32_t *inputs, const int32_t *targets, int backward, double *aux,
                         uint64_t *routing_hash) {
    const ak_moe_config *c = &m->c;
    int n = m->n, d = c->n_embd, V = c->n_vocab, L = c->n_layer, H = c->n_head, hd = d / H, T = c->n_ctx;
    size_t nd = (size_t)n * d;
    float eps = c->norm_eps;
    double aux_sum = 0;
    for (int t = 0; t < n; t++) memcpy(m->x + (size_t)t * d, m->tok_embd + (size_t)inputs[t] * d, d * sizeof(float));
    for (int l = 0; l < L; l++) {
        layer_acts *a = &m->la[l];
        const ak_layer_params *p = &m->lp[l];
        float *xin = m->x + l * nd, *xout = m->x + (l + 1) * nd;
        ak_rmsnorm_fwd(a->h1, a->rstd1, xin, p->attn_norm, n, d, eps);
        ak_linear_fwd(a->qraw, a->h1, p->wq, n, d, d);
        ak_linear_fwd(a->kraw, a->h1, p->wk, n, d, d);
        ak_linear_fwd(a->v, a->h1, p->wv, n, d, d);
        ak_rmsnorm_fwd(a->q, a->rstdq, a->qraw, p->q_norm, n, d, eps);
        ak_rmsnorm_fwd(a->k, a->rstdk, a->kraw, p->k_norm, n, d, eps);
        ak_rope_fwd(a->q, m->n_seq, T, H, hd, c->rope_theta);
        ak_rope_fwd(a->k, m->n_seq, T, H, hd, c->rope_theta);
        ak_attention_fwd(a->o, a->probs, a->q, a->k, a->v, m->n_seq, T, H, hd);
        ak_linear_fwd(a->xmid, a->o, p->wo, n, d, d);
        for (size_t i = 0; i < nd; i++) a->xmid[i] += xin[i];
        ak_rmsnorm_fwd(a->h2, a->rstd2, a->xmid, p->ffn_norm, n, d, eps);
        aux_sum += ak_moe_fwd(xout, &a->moe, &m->ms, a->h2, p->gate_inp, p->gate_exps, p->up_exps, p->down_exps,
                              &m->md);
        for (size_t i = 0; i < nd; i++) xout[i] += a->xmid[i];
    }
    float *xl = m->x + L * nd;
    ak_rmsnorm_fwd(m->hf, m->rstdf, xl, m->output_norm, n, d, eps);
    ak_linear_fwd(m->logits, m->hf, m->output, n, d, V);
    double ce = ak_cross_entropy(backward ? m->dlogits : NULL, m->logits, targets, n, V, 1.0f);
    if (aux) *aux = aux_sum;
    if (routing_hash) {
        uint64_t h = 1469598103934665603ULL;
        for (int l = 0; l < L; l++)
            for (size_t i = 0; i < (size_t)n * c->n_expert_used; i++)
                h = (h ^ (uint64_t)m->la[l].moe.idx[i]) * 1099511628211ULL;
        *routing_hash = h;
    }
    if (!backward) return ce;

    /* head */
    memset(m->dh, 0, nd * sizeof(float));
    ak_linear_bwd(m->dh, m->g_output, m->dlogits, m->hf, m->output, n, d, V);
    memset(m->dx, 0, nd * sizeof(float));
    ak_rmsnorm_bwd(m->dx, m->g_output_norm, m->dh, xl, m->output_norm, m->rstdf, n, d);
    for (int l = L - 1; l >= 0; l--) {
        layer_acts *a = &m->la[l];
        const ak_layer_params *p = &m->lp[l];
        ak_layer_params *g = &m->lg[l];
        float *xin = m->x + l * nd;
        /* MoE branch: dx is the gradient of this layer's output */
        memcpy(m->dxmid, m->dx, nd * sizeof(float));
        memset(m->dh, 0, nd * sizeof(float));
        ak_moe_bwd(m->dh, g->gate_inp, g->gate_exps, g->up_exps, g->down_exps, m->dx, &a->moe, &m->ms, a->h2,
                   p->gate_inp, p->gate_exps, p->up_exps, p->down_exps, &m->md);
        ak_rmsnorm_bwd(m->dxmid, g->ffn_norm, m->dh, a->xmid, p->ffn_norm, a->rstd2, n, d);
        /* attention branch */
        memset(m->dt, 0, nd * sizeof(float));
        ak_linear_bwd(m->dt, g->wo, m->dxmid, a->o, p->wo, n, d, d);
        ak_attention_bwd(m->dq, m->dk, m->dv, m->dt, a->probs, a->q, a->k, a->v, m->n_seq, T, H, hd,
                         m->att_scratch);
        ak_rope_bwd(m->dq, m->n_seq, T, H, hd, c->rope_theta);
        ak_rope_bwd(m->dk, m->n_seq, T, H, hd, c->rope_theta);
        memset(m->dh, 0, nd * sizeof(float));
        memset(m->dt, 0, nd * sizeof(float));
        ak_rmsnorm_bwd(m->dt, g->q_norm, m->dq, a->qraw, p->q_norm, a->rstdq, n, d);
        ak_linear_bwd(m->dh, g->wq, m->dt, a->h1, p->wq, n, d, d);
        memset(m->dt, 0, nd * sizeof(float));
        ak_rmsnorm_bwd(m->dt, g->k_norm, m->dk, a->kraw, p->k_norm, a->rstdk, n, d);
        ak_linear_bwd(m->dh, g->wk, m->dt, a->h1, p->wk, n, d, d);
        ak_linear_bwd(m->dh, g->wv, m->dv, a->h1, p->wv, n, d, d);
        memcpy(m->dx, m->dxmid, nd * sizeof(float));
        ak_rmsnorm_bwd(m->dx, g->attn_norm, m->dh, xin, p->attn_norm, a->rstd1, n, d);
    }
    for (int t = 0; t < n; t++) {
        float *ge = m->g_tok_embd + (size_t)inputs[t] * d;
        const float *dxt = m->dx + (size_t)t * d;
        for (int j = 0; j < d; j++) ge[j] += dxt[j];
    }
    return ce;
}

float ak_lr_schedule(int64_t step, int64_t warmup, int64_t total_steps, float lr_max, float min_ratio) {
    if (step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total_steps) return lr_max * min_ratio;
    double progress = (double)(step - warmup) / (double)(total_steps - warmup > 0 ? total_steps - warmup : 1);
    return lr_max * (float)(min_ratio + (1 - min_ratio) * 0.5 * (1 + cos(3.141592653589793 * progress)));
}

double ak_moe_model_adamw(ak_moe_model *m, const ak_adamw *o, int64_t step) {
    double ss = 0;
    for (size_t i = 0; i < m->n_params; i++) ss += (double)m->grads[i] * m->grads[i];
    double norm = sqrt(ss);
    float scale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    float bc1 = 1.0f - powf(o->beta1, (float)(step + 1)), bc2 = 1.0f - powf(o->beta2, (float)(step + 1));
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const ak_param_tensor *t = &m->t[ti];
        float wd = t->decay ? o->weight_decay : 0.0f;
        float *p = m->params + t->offset, *g = m->grads + t->offset, *m1 = m->m1 + t->offset, *m2 = m->m2 + t->offset;
        for (size_t i = 0; i < t->n; i++) {
            float gi = g[i] * scale;
            m1[i] = o->beta1 * m1[i] + (1 - o->beta1) * gi;
            m2[i] = o->beta2 * m2[i] + (1 - o->beta2) * gi * gi;
            float mh = m1[i] / bc1, vh = m2[i] / bc2;
            p[i] -= o->lr * (mh / (sqrtf(vh) + o->eps) + wd * p[i]);
        }
    }
    return norm;
}

/* ------------------------------------------------------------------ checkpoints */

static const char CKPT_MAGIC[8] = {'A', 'K', 'M', 'O', 'E', 'C', 'K', '1'};

int ak_moe_checkpoint_save(const ak_moe_model *m, const char *path, int64_t step, uint64_t rng, ak_error *err) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ak_failf(err, AK_ERR_IO, "cannot write %s", tmp);
        return -1;
    }
    uint64_t np = m->n_params;
    int ok = fwrite(CKPT_MAGIC, 8, 1, f) == 1 && fwrite(&m->c, sizeof m->c, 1, f) == 1 &&
             fwrite(&step, sizeof step, 1, f) == 1 && fwrite(&rng, sizeof rng, 1, f) == 1 &&
             fwrite(&np, sizeof np, 1, f) == 1 && fwrite(m->params, sizeof(float), np, f) == np &&
             fwrite(m->m1, sizeof(float), np, f) == np && fwrite(m->m2, sizeof(float), np, f) == np;
    ok = !fclose(f) && ok;
    if (!ok || rename(tmp, path)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "writing checkpoint %s failed", path);
        remove(tmp);
        return -1;
    }
    return 0;
}

static FILE *open_checkpoint(const char *path, ak_moe_config *c, ak_error *err) {
    FILE *f = fopen(path, "rb");
    char magic[8];
    if (!f) {
        ak_failf(err, AK_ERR_IO, "cannot open checkpoint %s", path);
        return NULL;
    }
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, CKPT_MAGIC, 8) || fread(c, sizeof *c, 1, f) != 1 ||
        ak_moe_config_check(c, err)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "%s is not a valid adaptive-k training checkpoint", path);
        fclose(f);
        return NULL;
    }
    return f;
}

int ak_moe_checkpoint_read_config(const char *path, ak_moe_config *c, ak_error *err) {
    FILE *f = open_checkpoint(path, c, err);
    if (!f) return -1;
    fclose(f);
    return 0;
}

int ak_moe_checkpoint_load(ak_moe_model *m, const char *path, int64_t *step, uint64_t *rng, ak_error *err) {
    ak_moe_config c;
    FILE *f = open_checkpoint(path, &c, err);
    if (!f) return -1;
    uint64_t np = 0;
    int ok = !memcmp(&c, &m->c, sizeof c) && fread(step, sizeof *step, 1, f) == 1 && fread(rng, sizeof *rng, 1, f) == 1 &&
             fread(&np, sizeof np, 1, f) == 1 && np == m->n_params &&
             fread(m->params, sizeof(float), np, f) == np && fread(m->m1, sizeof(float), np, f) == np &&
             fread(m->m2, sizeof(float), np, f) == np;
    fclose(f);
    if (!ok) ak_failf(err, AK_ERR_INVALID_ARG, "checkpoint %s does not match the model or is truncated", path);
    return ok ? 0 : -1;
}
