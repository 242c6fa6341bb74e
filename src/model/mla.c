/* mla.c - deepseek2's multi-head latent attention, computed as llama.cpp computes it with
 * the absorption ("MLA" files with split attn_k_b / attn_v_b):
 *
 *   latent | k_pe = attn_kv_a_mqa x          (n_lora_kv | n_rot)
 *   cache row     = [rms_norm(latent), rope(k_pe)]         one per token, for all heads
 *   q_h           = attn_q_b rms_norm(attn_q_a x)  (or attn_q x), per head [nope | pe]
 *   query row h   = [attn_k_b[h] q_nope_h, rope(q_pe_h)]   (the key's up-projection absorbed)
 *   out_h         = attn_v_b[h] (softmax(q.k * kq_scale) . latent)
 *
 * so attention is multi-query over rows of n_lora_kv + n_rot values whose latent part is
 * also the value (ak_attend reads the K rows as values; the rotated tail of its output is
 * dropped here). The per-head products are stacked matrices (n_mat = n_head), run one
 * head per pool item over the batch's encoded rows. */
#include <stdatomic.h>
#include <string.h>

#include "model/model_internal.h"
#include "quant/quant.h"

typedef struct {
    ak_context *c;
    const ak_mat *w;     /* n_head stacked matrices */
    const float *src;    /* head h's input of token t at src + t * src_stride + h * src_head */
    size_t src_stride, src_head;
    int n_in;
    float *dst;          /* head h's output of token t at dst + t * dst_stride + h * dst_head */
    size_t dst_stride, dst_head;
    int n_tok;
    atomic_int next;
} head_job;

/* Each head: its tokens' inputs encoded for the matrix, then W_h times each. */
static void head_worker(void *arg, int ith, int nth) {
    head_job *j = arg;
    ak_context *c = j->c;
    const int H = c->hp.n_head;
    const size_t stride = c->mla_enc_stride;
    (void)ith, (void)nth;
    for (int h; (h = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < H;) {
        uint8_t *enc = c->mla_enc + (size_t)h * stride;
        for (int t = 0; t < j->n_tok; t++)
            ak_encode_row(j->w->type, j->src + (size_t)t * j->src_stride + (size_t)h * j->src_head,
                          enc + (size_t)t * H * stride, j->n_in);
        ak_mat_rows(j->w, h, 0, j->w->n_out, enc, (size_t)H * stride, NULL, j->n_tok, j->dst + (size_t)h * j->dst_head,
                    j->dst_stride);
    }
}

static void per_head(ak_context *c, const ak_mat *w, const float *src, size_t src_stride, size_t src_head, int n_in,
                     float *dst, size_t dst_stride, size_t dst_head, int n_tok) {
    head_job j = {c, w, src, src_stride, src_head, n_in, dst, dst_stride, dst_head, n_tok, 0};
    atomic_init(&j.next, 0);
    ak_pool_run(c->pool, head_worker, &j);
}

void ak_mla_qkv(ak_context *c, int il, int n_tok) {
    const ak_layer *l = &c->model->layers[il];
    const ak_hparams *hp = &c->hp;
    const int E = hp->n_embd, H = hp->n_head, lkv = hp->n_lora_kv, rot = hp->n_rot, hd = hp->head_dim;
    const int kmla = hp->head_k_mla, nope = kmla - rot, q_dim = H * hd;

    /* the latent and k_pe, and q (through its low-rank pair when there is one) */
    const ak_mat *w[2] = {&l->wkv_a, l->wq_a.data ? &l->wq_a : &l->wq};
    float *y[2] = {c->k, l->wq_a.data ? c->mla_qa : c->mla_q};
    ak_batch_matmul(c, c->xn, E, n_tok, w, y, 2);
    if (l->wq_a.data) {
        for (int t = 0; t < n_tok; t++) {
            float *qa = c->mla_qa + (size_t)t * hp->n_lora_q;
            ak_rms_norm(qa, l->q_a_norm, qa, hp->n_lora_q, hp->rms_eps);
        }
        const ak_mat *wb[1] = {&l->wq_b};
        float *yb[1] = {c->mla_q};
        ak_batch_matmul(c, c->mla_qa, hp->n_lora_q, n_tok, wb, yb, 1);
    }

    for (int t = 0; t < n_tok; t++) {
        ak_context *sq = ak_run_seq(c, t);
        const int pos = ak_run_pos(c, t);
        float *kr = c->k + (size_t)t * hd;
        ak_rms_norm(kr, l->kv_a_norm, kr, lkv, hp->rms_eps);
        ak_rope_row(sq, kr + lkv, pos);
        const size_t row = (size_t)l->kv_slot * sq->n_ctx + (size_t)ak_run_kv(c, t, il);
        ak_cache_row(sq->k_cache + row * sq->k_row, sq->type_k, kr, hd);
        for (int h = 0; h < H; h++) {
            float *qpe = c->mla_q + (size_t)t * H * kmla + (size_t)h * kmla + nope;
            ak_rope_row(sq, qpe, pos);
            memcpy(c->q + (size_t)t * q_dim + (size_t)h * hd + lkv, qpe, (size_t)rot * sizeof *qpe);
        }
    }
    /* q_nope absorbed into the latent space: q[t][h][0, lkv) = attn_k_b[h] q_nope */
    per_head(c, &l->wk_b, c->mla_q, (size_t)H * kmla, (size_t)kmla, nope, c->q, (size_t)q_dim, (size_t)hd, n_tok);
}

void ak_mla_values(ak_context *c, const ak_layer *l, int n_tok) {
    const ak_hparams *hp = &c->hp;
    const int H = hp->n_head, hd = hp->head_dim, vd = hp->head_v_mla;
    per_head(c, &l->wv_b, c->att, (size_t)H * hd, (size_t)hd, hp->n_lora_kv, c->mla_v, (size_t)H * vd, (size_t)vd,
             n_tok);
}
