/* forward.c - one batch through the model: embeddings, attention with the KV cache,
 * routed MoE (only the chosen experts run), the head. Matrix work and attention are
 * split over the thread pool; every ak_pool_run is a barrier. */
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "model/attention.h"
#include "model/model_internal.h"
#include "quant/quant.h"
#include "base/errfmt.h"

/* The feed-forward activation on rows lo..hi of n rows (stride ff) of gate products g, in
 * place: silu(g) * u, or relu(g)^2 without a gate (u NULL: nemotron_h_moe). */
static void activate_rows(float *g, const float *u, int n, int ff, int64_t lo, int64_t hi) {
    for (int a = 0; a < n; a++)
        for (int64_t r = lo; r < hi; r++) {
            float *v = &g[(size_t)a * ff + r];
            *v = u ? ak_silu(*v) * u[(size_t)a * ff + r] : *v > 0.0f ? *v * *v : 0.0f;
        }
}

/* x += the block's output (moe_out) for the batch's rows that layer il computes (a token
 * that exited keeps its hidden state). */
static void add_residual(ak_context *c, int il, int n_tok) {
    const size_t E = (size_t)c->hp.n_embd;
    for (int t = 0; t < n_tok; t++)
        if (ak_tok_live(c, t, il))
            for (size_t i = (size_t)t * E; i < (size_t)(t + 1) * E; i++) c->x[i] += c->moe_out[i];
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    int wtype;
    const float *src;
    size_t src_stride; /* floats */
    int64_t n;
    uint8_t *dst;
    size_t dst_stride;
    int count;
} enc_job;

static void enc_worker(void *arg, int ith, int nth) {
    enc_job *j = arg;
    int64_t lo, hi;
    ak_split(j->count, ith, nth, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        ak_encode_row(j->wtype, j->src + (size_t)i * j->src_stride, j->dst + (size_t)i * j->dst_stride, j->n);
}

static void encode_rows(ak_context *c, int wtype, const float *src, size_t src_stride, int64_t n, uint8_t *dst,
                        size_t dst_stride, int count) {
    enc_job j = {wtype, src, src_stride, n, dst, dst_stride, count};
    if (count == 1)
        enc_worker(&j, 0, 1);
    else
        ak_pool_run(c->pool, enc_worker, &j);
}

void ak_enc_invalidate(ak_context *c) {
    for (int i = 0; i < AK_ENC_CACHE; i++) c->enc_vdt[i] = -1;
    c->enc_src = NULL;
}

/* The batch's rows of src (n floats each, row stride n) encoded for weights of type wtype;
 * each vec-dot type is encoded once per src. */
static const uint8_t *encoded(ak_context *c, const float *src, int64_t n, int n_tok, int wtype) {
    if (c->enc_src != src) ak_enc_invalidate(c);
    c->enc_src = src;
    int vdt = (int)ak_vec_dot_type((ak_type)wtype), slot = 0;
    for (; slot < AK_ENC_CACHE; slot++) {
        if (c->enc_vdt[slot] == vdt) return c->xenc + (size_t)slot * c->n_batch * c->enc_stride;
        if (c->enc_vdt[slot] < 0) break;
    }
    if (slot == AK_ENC_CACHE) slot = 0; /* cannot happen with the types we know; recycle */
    uint8_t *dst = c->xenc + (size_t)slot * c->n_batch * c->enc_stride;
    encode_rows(c, wtype, src, (size_t)n, n, dst, c->enc_stride, n_tok);
    c->enc_vdt[slot] = vdt;
    return dst;
}

/* ---------------------------------------------------------------- matrix jobs */

/* Matrix work is cut into chunks of rows that threads claim from a shared counter, so a
 * thread that was descheduled (a shared machine) or got the slower rows does not keep the
 * others waiting at the barrier. Every output value is still computed by one call on the
 * same inputs, so results do not depend on the thread count or on who took which chunk.
 * Chunk size: 512 / threads rows, within 64..256, so that 2-4 threads each read long
 * contiguous runs that the hardware prefetcher streams instead of taking turns along the
 * matrix (2 threads, 64 -> 256 rows: decode 1.10-1.31x on the OLMoE Q4_K and gpt-oss MXFP4
 * cuts, BENCHMARKS.md); from 8 threads on it stays at 64, enough chunks per thread for the
 * claiming to balance. One thread walks the chunks in order anyway: 64. */
static int chunk_size(const ak_context *c) {
    if (c->n_threads <= 1) return 64;
    const int rows = 512 / c->n_threads;
    return rows < 64 ? 64 : rows > 256 ? 256 : rows / 8 * 8;
}

static int n_chunks(int64_t rows, int cs) { return (int)((rows + cs - 1) / cs); }

static int claim(atomic_int *next) { return atomic_fetch_add_explicit(next, 1, memory_order_relaxed); }

static void chunk_rows(int64_t rows, int cs, int chunk, int64_t *lo, int64_t *hi) {
    *lo = (int64_t)chunk * cs;
    *hi = *lo + cs < rows ? *lo + cs : rows;
}

typedef struct {
    const ak_mat *w;
    const uint8_t *x;
    size_t xstride;
    int n_tok;
    float *y;
    size_t ystride;
} mm_task;

typedef struct {
    mm_task t[3];
    int n;
    int cs;           /* rows per chunk (chunk_size) */
    int total;        /* chunks of all tasks */
    atomic_int next;  /* next chunk to claim */
} mm_job;

static void mm_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    mm_job *j = arg;
    for (int item; (item = claim(&j->next)) < j->total;) {
        int i = 0;
        while (item >= n_chunks(j->t[i].w->n_out, j->cs)) item -= n_chunks(j->t[i++].w->n_out, j->cs);
        const mm_task *t = &j->t[i];
        int64_t lo, hi;
        chunk_rows(t->w->n_out, j->cs, item, &lo, &hi);
        ak_mat_rows(t->w, 0, lo, hi, t->x, t->xstride, NULL, t->n_tok, t->y, t->ystride);
    }
}

/* y[t][r] = W x_t over the batch, for up to three matrices sharing one activation. */
void ak_batch_matmul(ak_context *c, const float *src, int64_t n_in, int n_tok, const ak_mat *const *w,
                   float *const *y, int n_mat) {
    mm_job j = {.n = n_mat, .cs = chunk_size(c)};
    atomic_init(&j.next, 0);
    for (int i = 0; i < n_mat; i++) {
        j.total += n_chunks(w[i]->n_out, j.cs);
        j.t[i].w = w[i];
        j.t[i].x = encoded(c, src, n_in, n_tok, w[i]->type);
        j.t[i].xstride = c->enc_stride;
        j.t[i].n_tok = n_tok;
        j.t[i].y = y[i];
        j.t[i].ystride = (size_t)w[i]->n_out;
    }
    ak_pool_run(c->pool, mm_worker, &j);
}

static void add_bias(float *y, const float *b, int n_tok, int n) {
    if (!b) return;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < n; i++) y[(size_t)t * n + i] += b[i];
}

/* c->xn = RMSNorm(c->x) with weights w, for the batch's n_tok rows. */
static void norm_batch(ak_context *c, const float *w, int n_tok) {
    const int E = c->hp.n_embd;
    for (int t = 0; t < n_tok; t++) ak_rms_norm(c->x + (size_t)t * E, w, c->xn + (size_t)t * E, E, c->hp.rms_eps);
}

/* ---------------------------------------------------------------- attention */

void ak_rope_row(const ak_context *c, float *v, int pos) {
    const int half = c->hp.n_rot / 2;
    const float *cs = c->rope_cos + (size_t)pos * half, *sn = c->rope_sin + (size_t)pos * half;
    for (int i = 0; i < half; i++) {
        int a = c->hp.rope_neox ? i : 2 * i, b = c->hp.rope_neox ? i + half : 2 * i + 1;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x0 * sn[i] + x1 * cs[i];
    }
}

/* One head's K or V row into the cache, in the cache's type. */
void ak_cache_row(uint8_t *dst, int type, const float *src, int hd) {
    if (type == AK_TYPE_F32) memcpy(dst, src, (size_t)hd * sizeof(float));
    else ak_quantize_row((ak_type)type, src, dst, hd);
}

/* q, k and v of the batch (biases, norms, RoPE), k and v into each token's sequence cache
 * (kv_only: no q, the fill of a layer every token of the batch exited before). */
static void qkv(ak_context *c, int il, int n_tok, int kv_only) {
    const ak_hparams *hp = &c->hp;
    const ak_layer *l = &c->model->layers[il];
    const int E = hp->n_embd, hd = hp->head_dim, nh = kv_only ? 0 : hp->n_head, nkv = hp->n_head_kv;
    const int q_dim = hp->n_head * hd, kv_dim = nkv * hd;
    const ak_mat *w[3] = {&l->wk, &l->wv, &l->wq};
    float *y[3] = {c->k, c->v, hp->attn_gated ? c->q_full : c->q};
    ak_batch_matmul(c, c->xn, E, n_tok, w, y, kv_only ? 2 : 3);
    if (hp->attn_gated) /* each head's query, then its gate */
        for (int t = 0; t < n_tok; t++)
            for (int h = 0; h < nh; h++) {
                const float *src = c->q_full + (size_t)t * 2 * q_dim + (size_t)h * 2 * hd;
                memcpy(c->q + (size_t)t * q_dim + (size_t)h * hd, src, (size_t)hd * sizeof(float));
                memcpy(c->attn_gate + (size_t)t * q_dim + (size_t)h * hd, src + hd, (size_t)hd * sizeof(float));
            }
    if (!kv_only) add_bias(c->q, l->bq, n_tok, q_dim);
    add_bias(c->k, l->bk, n_tok, kv_dim);
    add_bias(c->v, l->bv, n_tok, kv_dim);

    for (int t = 0; t < n_tok; t++) {
        float *q = c->q + (size_t)t * q_dim, *k = c->k + (size_t)t * kv_dim, *v = c->v + (size_t)t * kv_dim;
        ak_context *sq = ak_run_seq(c, t); /* the sequence whose cache and positions t continues */
        const int pos = ak_run_pos(c, t);
        if (hp->qk_norm == 1) {
            if (!kv_only) ak_rms_norm(q, l->q_norm, q, q_dim, hp->rms_eps);
            ak_rms_norm(k, l->k_norm, k, kv_dim, hp->rms_eps);
        }
        for (int h = 0; h < nh; h++) {
            if (hp->qk_norm == 2) ak_rms_norm(q + h * hd, l->q_norm, q + h * hd, hd, hp->rms_eps);
            ak_rope_row(sq, q + h * hd, pos);
        }
        for (int h = 0; h < nkv; h++) {
            if (hp->qk_norm == 2) ak_rms_norm(k + h * hd, l->k_norm, k + h * hd, hd, hp->rms_eps);
            ak_rope_row(sq, k + h * hd, pos);
            size_t row = (((size_t)l->kv_slot * nkv + h) * sq->n_ctx) + (size_t)ak_run_kv(c, t, il);
            ak_cache_row(sq->k_cache + row * sq->k_row, sq->type_k, k + h * hd, hd);
            ak_cache_row(sq->v_cache + row * sq->v_row, sq->type_v, v + h * hd, hd);
        }
    }
}

static void attention(ak_context *c, int il, int n_tok) {
    const ak_layer *l = &c->model->layers[il];
    const ak_hparams *hp = &c->hp;
    const int E = hp->n_embd;

    norm_batch(c, l->attn_norm, n_tok);
    const int fill_only = c->n_exited == n_tok; /* every token exited: their K/V, nothing else */
    if (hp->n_lora_kv) ak_mla_qkv(c, il, n_tok);
    else qkv(c, il, n_tok, fill_only);
    if (fill_only) return;
    ak_attend(c, il, n_tok);
    if (hp->attn_gated) /* qwen35moe: each head's output times the sigmoid of its gate */
        for (size_t i = 0; i < (size_t)n_tok * hp->n_head * hp->head_dim; i++)
            c->att[i] *= 1.0f / (1.0f + expf(-c->attn_gate[i]));
    const float *att = c->att;
    int64_t att_dim = (int64_t)hp->n_head * hp->head_dim;
    if (hp->n_lora_kv) { /* the heads' values from the latent outputs */
        ak_mla_values(c, l, n_tok);
        att = c->mla_v, att_dim = (int64_t)hp->n_head * hp->head_v_mla;
    }

    /* x += wo att (+ bo), the projection summed first as ggml does */
    const ak_mat *wo[1] = {&l->wo};
    float *yo[1] = {c->moe_out};
    ak_batch_matmul(c, att, att_dim, n_tok, wo, yo, 1);
    add_bias(c->moe_out, l->bo, n_tok, E);
    add_residual(c, il, n_tok);
}

/* A recurrent block (ssm.c), Mamba-2 or Gated DeltaNet: x += block(attn_norm(x)). Its
 * state reads every token, also those that exited (their fill). */
static void ssm_block(ak_context *c, int il, int n_tok) {
    const ak_layer *l = &c->model->layers[il];
    norm_batch(c, l->attn_norm, n_tok);
    if (l->mixer == AK_MIXER_SSM) ak_ssm_layer(c, l, n_tok);
    else ak_deltanet_layer(c, l, n_tok);
    add_residual(c, il, n_tok);
}

/* ---------------------------------------------------------------- experts */

typedef struct {
    ak_context *c;
    const ak_layer *l;
    const uint8_t *xg, *xu; /* batch encoded for gate and up */
    int gathered;           /* xgather holds xg's rows in assignment order */
    int up_gathered;        /* ... and they suit up as well */
    size_t row_bytes;       /* of one encoded row to gather */
    atomic_int next;        /* next (expert, row chunk) item to claim, expert-major */
} up_job;

static void gather_worker(void *arg, int ith, int nth) {
    up_job *j = arg;
    ak_context *c = j->c;
    int64_t lo, hi;
    ak_split(c->exp_off[c->hp.n_expert], ith, nth, &lo, &hi);
    for (int64_t a = lo; a < hi; a++)
        memcpy(c->xgather + (size_t)a * c->enc_stride, j->xg + (size_t)c->assign_tok[a] * c->enc_stride, j->row_bytes);
}

/* gpt-oss's expert activation on rows lo..hi of n assignments, biases added first (as
 * llama.cpp's swiglu_oai with alpha 1.702 and limit 7): x = min(gate + bg, 7),
 * y = clamp(up + bu, -7, 7), h = x * sigmoid(1.702 x) * (y + 1). */
static void oai_glu(float *g, const float *u, int n, int ff, int64_t lo, int64_t hi, const float *bg, const float *bu) {
    for (int a = 0; a < n; a++)
        for (int64_t r = lo; r < hi; r++) {
            const float x = fminf(g[(size_t)a * ff + r] + bg[r], 7.0f);
            const float y = fminf(fmaxf(u[(size_t)a * ff + r] + bu[r], -7.0f), 7.0f);
            g[(size_t)a * ff + r] = x / (1.0f + expf(1.702f * -x)) * (y + 1.0f);
        }
}

/* h[a] = silu(gate_e x_t) * (up_e x_t) for every assignment a = (token t, expert e)
 * (gpt-oss: its clamped variant; experts without a gate: relu(up_e x_t)^2), into h_gate. */
static void up_worker(void *arg, int ith, int nth) {
    up_job *j = arg;
    ak_context *c = j->c;
    const int ff = c->hp.n_ff_exp, cs = chunk_size(c), per_expert = n_chunks(ff, cs);
    (void)ith, (void)nth;
    for (int item; (item = claim(&j->next)) < c->n_active * per_expert;) {
        int e = c->active[item / per_expert], a0 = c->exp_off[e], n = c->exp_off[e + 1] - a0;
        int64_t lo, hi;
        chunk_rows(ff, cs, item % per_expert, &lo, &hi);
        const int *toks = c->assign_tok + a0;
        float *g = c->h_gate + (size_t)a0 * ff, *u = c->h_up + (size_t)a0 * ff;
        const uint8_t *xa = c->xgather + (size_t)a0 * c->enc_stride;
        if (!j->l->gate_exps.data) { /* nemotron_h_moe: relu(up x)^2, no gate */
            if (j->gathered) ak_mat_rows(&j->l->up_exps, e, lo, hi, xa, c->enc_stride, NULL, n, g, (size_t)ff);
            else ak_mat_rows(&j->l->up_exps, e, lo, hi, j->xu, c->enc_stride, toks, n, g, (size_t)ff);
            activate_rows(g, NULL, n, ff, lo, hi);
            continue;
        }
        if (j->gathered)
            ak_mat_rows(&j->l->gate_exps, e, lo, hi, xa, c->enc_stride, NULL, n, g, (size_t)ff);
        else
            ak_mat_rows(&j->l->gate_exps, e, lo, hi, j->xg, c->enc_stride, toks, n, g, (size_t)ff);
        if (j->up_gathered)
            ak_mat_rows(&j->l->up_exps, e, lo, hi, xa, c->enc_stride, NULL, n, u, (size_t)ff);
        else
            ak_mat_rows(&j->l->up_exps, e, lo, hi, j->xu, c->enc_stride, toks, n, u, (size_t)ff);
        if (j->l->gate_exps_b)
            oai_glu(g, u, n, ff, lo, hi, j->l->gate_exps_b + (size_t)e * ff, j->l->up_exps_b + (size_t)e * ff);
        else
            activate_rows(g, u, n, ff, lo, hi);
    }
}

/* y_exp[a] = down_e h[a] */
static void down_worker(void *arg, int ith, int nth) {
    up_job *j = arg;
    ak_context *c = j->c;
    const int E = c->hp.n_embd_moe, cs = chunk_size(c), per_expert = n_chunks(E, cs); /* the experts' output width */
    (void)ith, (void)nth;
    for (int item; (item = claim(&j->next)) < c->n_active * per_expert;) {
        int e = c->active[item / per_expert], a0 = c->exp_off[e], n = c->exp_off[e + 1] - a0;
        int64_t lo, hi;
        chunk_rows(E, cs, item % per_expert, &lo, &hi);
        ak_mat_rows(&j->l->down_exps, e, lo, hi, c->henc + (size_t)a0 * c->enc_stride_ff, c->enc_stride_ff, NULL,
                    n, c->y_exp + (size_t)a0 * E, (size_t)E);
        if (j->l->down_exps_b) /* gpt-oss */
            for (int a = 0; a < n; a++)
                for (int64_t r = lo; r < hi; r++)
                    c->y_exp[(size_t)(a0 + a) * E + r] += j->l->down_exps_b[(size_t)e * E + r];
    }
}

/* A feed-forward over the whole batch: a shared expert, or a dense layer's. */
typedef struct {
    ak_context *c;
    const ak_mat *gate, *up, *down;
    int ff, n_tok;
    const uint8_t *xg, *xu;
    float *out;
} ffn_job;

static void ffn_up_worker(void *arg, int ith, int nth) {
    ffn_job *j = arg;
    ak_context *c = j->c;
    const int ff = j->ff;
    int64_t lo, hi;
    ak_split(ff, ith, nth, &lo, &hi);
    if (!j->gate) { /* nemotron_h_moe's shared expert: relu(up x)^2 */
        ak_mat_rows(j->up, 0, lo, hi, j->xu, c->enc_stride, NULL, j->n_tok, c->sh_gate, (size_t)ff);
        activate_rows(c->sh_gate, NULL, j->n_tok, ff, lo, hi);
        return;
    }
    ak_mat_rows(j->gate, 0, lo, hi, j->xg, c->enc_stride, NULL, j->n_tok, c->sh_gate, (size_t)ff);
    ak_mat_rows(j->up, 0, lo, hi, j->xu, c->enc_stride, NULL, j->n_tok, c->sh_up, (size_t)ff);
    activate_rows(c->sh_gate, c->sh_up, j->n_tok, ff, lo, hi);
}

static void ffn_down_worker(void *arg, int ith, int nth) {
    ffn_job *j = arg;
    ak_context *c = j->c;
    int64_t lo, hi;
    ak_split(c->hp.n_embd, ith, nth, &lo, &hi);
    ak_mat_rows(j->down, 0, lo, hi, c->sh_enc, c->enc_stride_ff, NULL, j->n_tok, j->out, (size_t)c->hp.n_embd);
}

/* out[t] = down (silu(gate xn_t) * up xn_t) for the batch's rows of c->xn (gate NULL:
 * down relu(up xn_t)^2). */
static void ffn(ak_context *c, const ak_mat *gate, const ak_mat *up, const ak_mat *down, int ff, int n_tok, float *out) {
    const int E = c->hp.n_embd;
    ffn_job j = {c, gate, up, down, ff, n_tok, gate ? encoded(c, c->xn, E, n_tok, gate->type) : NULL, NULL, out};
    j.xu = encoded(c, c->xn, E, n_tok, up->type);
    ak_pool_run(c->pool, ffn_up_worker, &j);
    encode_rows(c, down->type, c->sh_gate, (size_t)ff, ff, c->sh_enc, c->enc_stride_ff, n_tok);
    ak_pool_run(c->pool, ffn_down_worker, &j);
}

/* A dense layer's feed-forward (deepseek2's leading layers): x += ffn(ffn_norm(x)). */
static void dense_layer(ak_context *c, int il, int n_tok) {
    const ak_layer *l = &c->model->layers[il];
    norm_batch(c, l->ffn_norm, n_tok);
    ffn(c, &l->ffn_gate, &l->ffn_up, &l->ffn_down, c->hp.n_ff_dense, n_tok, c->moe_out);
    add_residual(c, il, n_tok);
}

/* Groups the batch's (token, slot) assignments by expert, experts ascending. */
static void group_by_expert(ak_context *c, int n_tok) {
    const int X = c->hp.n_expert, S = c->slots;
    memset(c->exp_count, 0, (size_t)X * sizeof(int));
    for (int t = 0; t < n_tok; t++)
        for (int s = 0; s < c->route_k[t]; s++) c->exp_count[c->route_ids[(size_t)t * S + s]]++;
    c->n_active = 0;
    c->exp_off[0] = 0;
    for (int e = 0; e < X; e++) {
        c->exp_off[e + 1] = c->exp_off[e] + c->exp_count[e];
        if (c->exp_count[e]) c->active[c->n_active++] = e;
        c->exp_count[e] = 0; /* reused as the fill cursor */
    }
    for (int t = 0; t < n_tok; t++)
        for (int s = 0; s < c->route_k[t]; s++) {
            int e = c->route_ids[(size_t)t * S + s], a = c->exp_off[e] + c->exp_count[e]++;
            c->assign_tok[a] = t;
            c->assign_of[(size_t)t * S + s] = a;
        }
}

/* Each run routed with its own sequence's policy for this layer (per-request routing holds
 * inside a batch); the sequence's router-logits sink and trace see its own tokens and
 * positions. */
static int route_runs(ak_context *c, int il, ak_error *err) {
    const int X = c->hp.n_expert, S = c->slots, n_tok = c->runs.start[c->runs.n_runs];
    for (int r = 0; r < c->runs.n_runs; r++) {
        ak_context *sq = c->runs.seq[r];
        const int t0 = c->runs.start[r], n = c->runs.start[r + 1] - t0;
        const float *logits = c->router_logits + (size_t)t0 * X;
        if (sq->sink) sq->sink(sq->sink_user, il, logits, n, X);
        const ak_policy *pol = sq->has_cfg ? ak_config_layer_policy(&sq->cfg, il) : &sq->native;
        ak_route_out ro = {n, S, c->route_k + t0, c->route_ids + (size_t)t0 * S, c->route_w + (size_t)t0 * S,
                           c->route_h + t0};
        if (ak_gate_route(c, il, pol, logits, n, &ro, err)) return -1;
    }
    const float ws = c->model->expert_weights_scale;
    if (ws != 0.0f && ws != 1.0f)
        for (size_t i = 0; i < (size_t)n_tok * S; i++) c->route_w[i] *= ws;
    for (int t = 0; t < n_tok; t++) {
        ak_context *sq = ak_run_seq(c, t);
        if (!ak_tok_live(c, t, il)) { /* exited: no experts in this layer */
            c->route_k[t] = 0;
            continue;
        }
        if (sq->trace)
            sq->trace(sq->trace_user, il, ak_run_pos(c, t), c->route_h[t], c->route_k[t], c->route_ids + (size_t)t * S,
                      c->route_w + (size_t)t * S);
    }
    return 0;
}

/* out[t] = sum over slots s of w[t][s] * y_exp[assignment (t, s)], rows of D values, added
 * in slot order (descending probability) as ggml adds the experts. */
static void weighted_sum(ak_context *c, int n_tok, int D, float *out_all) {
    const int S = c->slots;
    for (int t = 0; t < n_tok; t++) {
        float *out = out_all + (size_t)t * D;
        int k = c->route_k[t];
        if (k == 0) memset(out, 0, (size_t)D * sizeof *out);
        for (int s = 0; s < k; s++) {
            const float w = c->route_w[(size_t)t * S + s];
            const float *y = c->y_exp + (size_t)c->assign_of[(size_t)t * S + s] * D;
            if (s == 0)
                for (int i = 0; i < D; i++) out[i] = y[i] * w;
            else
                for (int i = 0; i < D; i++) out[i] += y[i] * w;
        }
    }
}

static int moe(ak_context *c, int il, int n_tok, ak_error *err) {
    const ak_layer *l = &c->model->layers[il];
    const ak_hparams *hp = &c->hp;
    const int E = hp->n_embd, X = hp->n_expert, S = c->slots, ff = hp->n_ff_exp, Em = hp->n_embd_moe;
    const int latent = l->latent_down.data != NULL;

    norm_batch(c, l->ffn_norm, n_tok);
    const ak_mat *wr[1] = {&l->gate_inp};
    float *yr[1] = {c->router_logits};
    ak_batch_matmul(c, c->xn, E, n_tok, wr, yr, 1);
    add_bias(c->router_logits, l->gate_inp_b, n_tok, X); /* gpt-oss: the policies see biased logits */
    if (route_runs(c, il, err)) return -1;
    group_by_expert(c, n_tok);
    if (ak_ledger_record(c, il, n_tok, err)) return -1;
    const int n_assign = c->exp_off[X];

    /* the experts' input: xn, or its latent projection (nemotron_h_moe's moe_latent_size) */
    const float *xin = c->xn;
    if (latent) {
        const ak_mat *wl[1] = {&l->latent_down};
        float *yl[1] = {c->lat_in};
        ak_batch_matmul(c, c->xn, E, n_tok, wl, yl, 1);
        xin = c->lat_in;
    }
    /* routed experts, each over its own tokens (first: the gate's input, or up's without a gate) */
    const ak_mat *first = l->gate_exps.data ? &l->gate_exps : &l->up_exps;
    up_job uj = {c, l, encoded(c, xin, Em, n_tok, first->type), NULL, 0, 0, 0, 0};
    uj.xu = encoded(c, xin, Em, n_tok, l->up_exps.type);
    if (n_tok > 1) {
        /* contiguous inputs per expert let ak_matmul use its multi-column kernels */
        uj.row_bytes = ak_enc_row_bytes(first->type, Em);
        uj.gathered = 1;
        uj.up_gathered = ak_vec_dot_type((ak_type)l->up_exps.type) == ak_vec_dot_type((ak_type)first->type);
        ak_pool_run(c->pool, gather_worker, &uj);
    }
    atomic_init(&uj.next, 0);
    ak_pool_run(c->pool, up_worker, &uj);
    encode_rows(c, l->down_exps.type, c->h_gate, (size_t)ff, ff, c->henc, c->enc_stride_ff, n_assign);
    atomic_init(&uj.next, 0);
    ak_pool_run(c->pool, down_worker, &uj);

    if (!latent) {
        weighted_sum(c, n_tok, E, c->moe_out);
    } else { /* summed in the latent space, then projected back */
        const ak_mat *wu[1] = {&l->latent_up};
        float *yu[1] = {c->moe_out};
        weighted_sum(c, n_tok, Em, c->lat_sum);
        ak_batch_matmul(c, c->lat_sum, Em, n_tok, wu, yu, 1);
    }

    if (c->out_sink && !c->runs.grouped && !latent) { /* (profiles refuse latent experts) */
        ak_expert_outputs o = {il, n_tok, E, S, c->route_k, c->route_w, c->assign_of, c->y_exp, c->moe_out, c->x};
        c->out_sink(c->out_sink_user, &o);
    }

    if (l->has_shexp) { /* qwen2moe: scaled by a sigmoid gate; deepseek2, nemotron_h_moe: added as it is */
        const int fs = hp->n_ff_shexp;
        ffn(c, l->gate_shexp.data ? &l->gate_shexp : NULL, &l->up_shexp, &l->down_shexp, fs, n_tok, c->shexp_out);
        for (int t = 0; t < n_tok; t++) {
            float scale = 1.0f;
            if (l->gate_inp_shexp) {
                const float *xt = c->xn + (size_t)t * E;
                double d = 0.0;
                for (int i = 0; i < E; i++) d += (double)l->gate_inp_shexp[i] * xt[i];
                scale = 1.0f / (1.0f + expf(-(float)d));
            }
            for (int i = 0; i < E; i++) c->moe_out[(size_t)t * E + i] += c->shexp_out[(size_t)t * E + i] * scale;
        }
    }
    add_residual(c, il, n_tok);
    return 0;
}

/* ---------------------------------------------------------------- decode */

/* The first of n rows of width w holding a NaN or an infinity, or -1. Tests the exponent
 * bits as integers, so the loop vectorises (a float reduction would not, without
 * reassociation): the cost is small next to the head's matrix product. */
static int first_nonfinite_row(const float *x, int n, int w) {
    for (int r = 0; r < n; r++) {
        const float *row = x + (size_t)r * w;
        uint32_t any = 0;
        for (int i = 0; i < w; i++) {
            uint32_t bits;
            memcpy(&bits, &row[i], sizeof bits);
            any |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
        }
        if (any) return r;
    }
    return -1;
}

/* One batch of 1..n_batch tokens in c->batch_tokens, its runs set (validated by the
 * caller): embeddings, then per layer attention and the routed experts, then the head.
 * The sequences' positions (n_past) are advanced by the caller. */
static int decode_batch(ak_context *c, int n_tok, ak_error *err) {
    const ak_model *m = c->model;
    const ak_hparams *hp = &c->hp;
    const int E = hp->n_embd;

    for (int t = 0; t < n_tok; t++)
        ak_dequantize_row((ak_type)m->tok_embd_type, m->tok_embd + (size_t)c->batch_tokens[t] * m->tok_embd_row_bytes,
                          c->x + (size_t)t * E, E);

    ak_skip_batch_start(c, n_tok);
    for (int il = 0; il < hp->n_layer; il++) {
        const ak_layer *l = &m->layers[il];
        ak_enc_invalidate(c);
        ak_exit_layer_start(c, il, n_tok);
        if (l->mixer == AK_MIXER_ATTENTION) attention(c, il, n_tok);
        if (l->mixer == AK_MIXER_SSM || l->mixer == AK_MIXER_DELTANET) ssm_block(c, il, n_tok);
        ak_enc_invalidate(c);
        const int ffn_runs = c->n_exited < n_tok; /* some token is still computed */
        if (ffn_runs && l->ffn == AK_FFN_DENSE) dense_layer(c, il, n_tok);
        if (ffn_runs && l->ffn == AK_FFN_MOE && moe(c, il, n_tok, err)) {
            ak_enc_invalidate(c);
            return -1;
        }
        if (ak_prune_here(c, il)) n_tok = ak_prune_batch(c, il, n_tok);
        ak_exit_check(c, il, n_tok);
    }

    /* the head: every token, or (a group, logits_last) only each run's last token, whose
     * normed rows then come first in xn */
    ak_enc_invalidate(c);
    const int last_only = ak_head_last_only(c);
    const int n_head = last_only ? c->runs.n_runs : n_tok;
    if (last_only)
        for (int r = 0; r < c->runs.n_runs; r++)
            ak_rms_norm(c->x + (size_t)(c->runs.start[r + 1] - 1) * E, m->output_norm, c->xn + (size_t)r * E, E, hp->rms_eps);
    else
        norm_batch(c, m->output_norm, n_tok);
    const ak_mat *wh[1] = {&m->output};
    float *yh[1] = {c->logits};
    ak_batch_matmul(c, c->xn, E, n_head, wh, yh, 1);
    ak_enc_invalidate(c);
    int bad = first_nonfinite_row(c->logits, n_head, hp->n_vocab);
    if (bad >= 0) {
        if (last_only) bad = c->runs.start[bad + 1] - 1;
        return ak_failf(err, AK_ERR_INVALID_ARG, "the logits of token %d (position %d%s) are not finite (NaN or Inf): "
                        "the model's weights or its activations are not finite",
                        bad, ak_run_pos(c, bad), c->runs.grouped ? " of its sequence" : "");
    }
    ak_ledger_count_batch(c);
    return 0;
}

/* More than n_batch tokens run as consecutive batches of n_batch; only the last batch's
 * logits are kept (the buffer holds n_batch rows). */
int ak_decode(ak_context *c, const int32_t *tokens, int n_tok, ak_error *err) {
    const ak_hparams *hp = &c->hp;
    if (!tokens || n_tok < 1)
        return ak_failf(err, AK_ERR_INVALID_ARG, "ak_decode: %d tokens (must be at least 1)", n_tok);
    if (n_tok > c->n_ctx - c->n_past)
        return ak_failf(err, AK_ERR_INVALID_ARG, "context full: %d tokens in the cache + %d new > n_ctx %d", c->n_past, n_tok,
                    c->n_ctx);
    for (int t = 0; t < n_tok; t++)
        if (tokens[t] < 0 || tokens[t] >= hp->n_vocab)
            return ak_failf(err, AK_ERR_INVALID_ARG, "token %d (id %d) is out of range [0, %d)", t, tokens[t], hp->n_vocab);
    const int n_past0 = c->n_past;
    c->n_logits = c->logits_first = 0;
    c->runs.seq = &c->self;
    c->runs.n_runs = 1;
    c->runs.grouped = 0;
    c->runs.start[0] = 0;
    for (int b0 = 0; b0 < n_tok; b0 += c->n_batch) {
        int nb = n_tok - b0 < c->n_batch ? n_tok - b0 : c->n_batch;
        memcpy(c->batch_tokens, tokens + b0, (size_t)nb * sizeof *tokens);
        memset(c->tok_run, 0, (size_t)nb * sizeof *c->tok_run);
        c->runs.start[1] = nb;
        if (decode_batch(c, nb, err)) {
            c->n_past = n_past0;
            return -1;
        }
        c->n_past += nb;
        c->kv_gap += c->n_pruned;
        c->logits_first = ak_head_last_only(c) ? b0 + nb - 1 : b0;
    }
    c->n_logits = n_tok;
    return 0;
}

/* 0, or -1 with err naming the caller's mistake that keeps the group from running. */
static int group_check(const ak_context *c, ak_context *const *seq, const int32_t *const *tokens, const int *n_tok,
                       int n_seq, ak_error *err) {
    if (!seq || !tokens || !n_tok || n_seq < 1 || n_seq > AK_GROUP_MAX)
        return ak_failf(err, AK_ERR_INVALID_ARG, "ak_decode_group: %d sequences (1 to %d)", n_seq, AK_GROUP_MAX);
    int total = 0;
    for (int r = 0; r < n_seq; r++) {
        const ak_context *sq = seq[r];
        if (!sq || sq == c || sq->model != c->model)
            return ak_failf(err, AK_ERR_INVALID_ARG, "ak_decode_group: sequence %d is %s", r,
                            !sq ? "NULL" : sq == c ? "the executing context" : "a context of another model");
        for (int r2 = 0; r2 < r; r2++)
            if (seq[r2] == sq) return ak_failf(err, AK_ERR_INVALID_ARG, "ak_decode_group: sequence %d is also %d", r, r2);
        if (!tokens[r] || n_tok[r] < 1)
            return ak_failf(err, AK_ERR_INVALID_ARG, "ak_decode_group: sequence %d has %d tokens", r, n_tok[r]);
        if (n_tok[r] > sq->n_ctx - sq->n_past)
            return ak_failf(err, AK_ERR_INVALID_ARG, "sequence %d: context full: %d tokens in the cache + %d new > n_ctx %d",
                            r, sq->n_past, n_tok[r], sq->n_ctx);
        if (sq->n_ctx > c->n_ctx || sq->type_k != c->type_k || sq->type_v != c->type_v || sq->out_sink)
            return ak_failf(err, AK_ERR_INVALID_ARG,
                            "ak_decode_group: sequence %d needs the executing context's cache types and at most its "
                            "n_ctx (%d), and no expert-outputs sink", r, c->n_ctx);
        for (int t = 0; t < n_tok[r]; t++)
            if (tokens[r][t] < 0 || tokens[r][t] >= c->hp.n_vocab)
                return ak_failf(err, AK_ERR_INVALID_ARG, "sequence %d: token %d (id %d) is out of range [0, %d)", r, t,
                                tokens[r][t], c->hp.n_vocab);
        total += n_tok[r];
    }
    if (total > c->n_batch)
        return ak_failf(err, AK_ERR_INVALID_ARG, "ak_decode_group: %d tokens > the executing context's n_batch %d", total,
                        c->n_batch);
    return 0;
}

/* The sequences' tokens as one batch of c: each continues its own cache and is routed by
 * its own policy; each keeps the logits of its last token. */
int ak_decode_group(ak_context *c, ak_context *const *seq, const int32_t *const *tokens, const int *n_tok, int n_seq,
                    ak_error *err) {
    if (group_check(c, seq, tokens, n_tok, n_seq, err)) return -1;
    const int V = c->hp.n_vocab;
    int total = 0, slots = 0;
    c->runs.seq = seq;
    c->runs.n_runs = n_seq;
    c->runs.grouped = 1;
    for (int r = 0; r < n_seq; r++) {
        c->runs.start[r] = total;
        memcpy(c->batch_tokens + total, tokens[r], (size_t)n_tok[r] * sizeof **tokens);
        for (int t = 0; t < n_tok[r]; t++) c->tok_run[total + t] = r;
        total += n_tok[r];
        if (seq[r]->slots > slots) slots = seq[r]->slots;
    }
    c->runs.start[n_seq] = total;
    c->n_logits = c->logits_first = 0;
    if (ak_context_reserve_slots(c, slots))
        return ak_failf(err, AK_ERR_NOMEM, "out of memory for %d expert slots per token", slots);
    if (decode_batch(c, total, err)) return -1;
    for (int r = 0; r < n_seq; r++) { /* the head ran for each run's last token: row r */
        ak_context *sq = seq[r];
        memcpy(sq->logits, c->logits + (size_t)r * V, (size_t)V * sizeof *sq->logits);
        sq->n_logits = n_tok[r];
        sq->logits_first = n_tok[r] - 1;
        sq->n_past += n_tok[r];
        sq->kv_gap += c->runs.pruned[r];
    }
    c->n_logits = 0; /* the executing context keeps no logits of its own */
    return 0;
}
