/* attention.c - ak_attend: the work split over the thread pool (attention.h), the merge of
 * split decode items, and the reference per-key loop. The tile kernel is attn_kernel.h,
 * compiled here for baseline x86-64 and in attention_avx2.c for AVX2+FMA+F16C. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "model/model_internal.h"

#define ATTN_KERNEL_NAME ak_attn_kernel_generic
#include "model/attn_kernel.h"

/* kb and vb [KT][hd], s [KT] */
size_t ak_attn_work_floats(int hd) { return (size_t)2 * (size_t)hd * ATTN_KT + ATTN_KT; }

static int attn_group(const ak_context *c) { return c->hp.n_head / c->hp.n_head_kv; }

/* The scale of q.k: 1/sqrt(head_dim), or the architecture's own (MLA: of the key width
 * before absorption). */
static float attn_scale(const ak_context *c) { return c->hp.kq_scale ? c->hp.kq_scale : 1.0f / sqrtf((float)c->hp.head_dim); }

/* The cached values: their own rows, or (MLA) the K rows, whose latent part they are; the
 * output then carries the rotated part too, which the caller drops. */
static const uint8_t *values_of(const ak_context *sq) { return sq->v_cache ? sq->v_cache : sq->k_cache; }

/* Per thread: the kernel's work, then q and acc [rows][hd], m, l, vis_lo and vis_hi [rows],
 * for the rows of one item (the query heads of a KV head x ATTN_QB tokens). */
size_t ak_attn_scratch_floats(const ak_context *c) {
    const size_t hd = (size_t)c->hp.head_dim, rows = (size_t)attn_group(c) * ATTN_QB;
    return (ak_attn_work_floats((int)hd) + rows * (2 * hd + 4) + 15) & ~(size_t)15;
}

/* The first key position `pos` sees in this layer: 0, or the start of its sliding window
 * (llama.cpp masks key p0 for query p1 when p1 - p0 >= n_swa). */
static int first_visible(const ak_context *c, int layer, int pos) {
    const ak_hparams *hp = &c->hp;
    if (!hp->n_swa || layer % hp->swa_period >= hp->swa_period - 1) return 0;
    return pos - hp->n_swa + 1 > 0 ? pos - hp->n_swa + 1 : 0;
}

/* Decode items split over the keys keep (m, l, acc[hd]) per row and part. */
size_t ak_attn_split_floats(const ak_context *c) {
    return (size_t)c->hp.n_head * ATTN_SPLITS * ((size_t)c->hp.head_dim + 2);
}

void ak_attn_use_reference(ak_context *c, int on) { c->attn_reference = on; }

static attn_kernel_fn attn_kernel(void) {
    return ak_quant_simd() == AK_SIMD_AVX2 && ak_attn_avx2_built() ? ak_attn_kernel_avx2 : ak_attn_kernel_generic;
}

/* Items are numbered run by run: run r (one sequence's tokens) has items
 * [item0[r], item0[r + 1]), n_kv_heads x its blocks of ATTN_QB tokens x n_splits. */
typedef struct {
    ak_context *c;
    int layer, n_splits, n_items;
    int item0[AK_GROUP_MAX + 1];
    attn_kernel_fn kernel;
    atomic_int next;
} attend_job;

static int run_blocks(const ak_context *c, int r) {
    return (c->runs.start[r + 1] - c->runs.start[r] + ATTN_QB - 1) / ATTN_QB;
}

/* One item: run r's KV head kvh, its tokens [t0, t1) (batch rows), keys part `split` of
 * n_splits, over the cache of the run's sequence. */
static void attend_item(const attend_job *j, int item, float *scratch) {
    ak_context *c = j->c;
    int run = 0;
    while (item >= j->item0[run + 1]) run++;
    const ak_context *sq = c->runs.seq[run];
    const int hd = c->hp.head_dim, group = attn_group(c), nkv = c->hp.n_head_kv, n_blocks = run_blocks(c, run);
    const size_t q_dim = (size_t)c->hp.n_head * hd;
    const int i = item - j->item0[run], split = i % j->n_splits, block = i / j->n_splits % n_blocks;
    const int kvh = i / j->n_splits / n_blocks, run_end = c->runs.start[run + 1];
    const int t0 = c->runs.start[run] + block * ATTN_QB, t1 = t0 + ATTN_QB < run_end ? t0 + ATTN_QB : run_end;
    const int pos0 = ak_kv_base(sq, j->layer) - c->runs.start[run]; /* batch row t is at cache row pos0 + t */
    const int n_rows = (t1 - t0) * group;
    float *work = scratch, *q = work + ak_attn_work_floats(hd), *acc = q + (size_t)n_rows * hd;
    float *m = acc + (size_t)n_rows * hd, *l = m + n_rows;
    int *vis_lo = (int *)(l + n_rows), *vis_hi = vis_lo + n_rows;
    const float *sinks = c->model->layers[j->layer].sinks;
    const float scale = attn_scale(c);
    for (int t = t0; t < t1; t++)
        for (int g = 0; g < group; g++) {
            const int r = (t - t0) * group + g;
            const float *src = c->q + (size_t)t * q_dim + (size_t)(kvh * group + g) * hd;
            float *qr = q + (size_t)r * hd;
            if (sq->type_k == AK_TYPE_F32) {
                memcpy(qr, src, (size_t)hd * sizeof *qr);
            } else { /* q rounded as llama.cpp's q.k does: to the K type's vec-dot type */
                ak_encode_activation((ak_type)sq->type_k, src, work, hd);
                ak_dequantize_row(ak_vec_dot_type((ak_type)sq->type_k), work, qr, hd);
            }
            for (int d = 0; d < hd; d++) qr[d] *= scale;
            const int with_sink = sinks && split == 0; /* once per softmax, in its first part */
            m[r] = with_sink ? sinks[kvh * group + g] : -INFINITY;
            l[r] = with_sink ? 1.0f : 0.0f;
            vis_lo[r] = first_visible(c, j->layer, pos0 + t);
            vis_hi[r] = pos0 + t + 1;
        }
    memset(acc, 0, (size_t)n_rows * hd * sizeof *acc);
    const int first = first_visible(c, j->layer, pos0 + t0), n_keys = pos0 + t1;
    const int part = (n_keys - first + j->n_splits - 1) / j->n_splits;
    const int lo = first + split * part, hi = lo + part < n_keys ? lo + part : n_keys;
    const attn_cache desc = {hd, sq->type_k, sq->type_v, sq->k_row, sq->v_row};
    const size_t head_row = ((size_t)c->model->layers[j->layer].kv_slot * nkv + kvh) * sq->n_ctx;
    if (lo < hi)
        j->kernel(&desc, sq->k_cache + head_row * sq->k_row, values_of(sq) + head_row * sq->v_row, n_rows, q, vis_lo,
                  vis_hi, lo, hi, m, l, acc, work);
    for (int r = 0; r < n_rows; r++) {
        const int t = t0 + r / group, h = kvh * group + r % group;
        if (j->n_splits == 1) {
            float *out = c->att + (size_t)t * q_dim + (size_t)h * hd;
            const float inv = 1.0f / l[r];
            for (int d = 0; d < hd; d++) out[d] = acc[(size_t)r * hd + d] * inv;
        } else { /* decode: one token, its part of the keys */
            float *part_out = c->attn_split + ((size_t)h * ATTN_SPLITS + split) * ((size_t)hd + 2);
            part_out[0] = m[r];
            part_out[1] = l[r];
            memcpy(part_out + 2, acc + (size_t)r * hd, (size_t)hd * sizeof *acc);
        }
    }
}

static void attend_worker(void *arg, int ith, int nth) {
    attend_job *j = arg;
    float *scratch = j->c->attn_work + (size_t)ith * ak_attn_scratch_floats(j->c);
    (void)nth;
    for (int item; (item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n_items;)
        attend_item(j, item, scratch);
}

/* Decode parts of each head, merged: m = max m_s, out = sum e^(m_s - m) acc_s / sum e^(m_s - m) l_s. */
static void merge_splits(ak_context *c, int n_splits) {
    const int hd = c->hp.head_dim;
    for (int h = 0; h < c->hp.n_head; h++) {
        const float *parts = c->attn_split + (size_t)h * ATTN_SPLITS * ((size_t)hd + 2);
        float mx = -INFINITY, l = 0.0f, *out = c->att + (size_t)h * hd;
        for (int s = 0; s < n_splits; s++) mx = fmaxf(mx, parts[s * (hd + 2)]);
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int s = 0; s < n_splits; s++) {
            const float *p = parts + (size_t)s * (hd + 2);
            if (p[1] == 0.0f) continue; /* a part with no keys */
            const float w = expf(p[0] - mx);
            l += w * p[1];
            for (int d = 0; d < hd; d++) out[d] += w * p[2 + d];
        }
        for (int d = 0; d < hd; d++) out[d] /= l;
    }
}

static void attend_reference(ak_context *c, int layer, int n_tok);

void ak_attend(ak_context *c, int layer, int n_tok) {
    if (c->attn_reference || c->hp.head_dim % 8) {
        attend_reference(c, layer, n_tok);
        return;
    }
    attend_job j = {.c = c, .layer = layer, .n_splits = 1, .kernel = attn_kernel()};
    /* a decode step of one sequence splits its keys into parts, so that all threads have
     * work whatever the number of KV heads: as many as make ATTN_DECODE_ITEMS items, none
     * shorter than ATTN_PART keys, at most ATTN_SPLITS. Fewer, longer parts are faster:
     * each part starts on keys no prefetch asked for, and is merged afterwards (OLMoE 4L
     * Q4_K cut, 16 KV heads, depth 2048, decode, 8 runs in ABBA order: 8 parts of 256 -> 2
     * of about 1024, mean 71.2 -> 73.1 tokens/s at 1 thread, 123.0 -> 134.7 at 2). The parts
     * depend on the key count and the model alone, never on the thread count, so results
     * stay bitwise the same for any -t. (A batch of several sequences has items enough.) */
    if (n_tok == 1) {
        const ak_context *sq = c->runs.seq[0];
        const int row = ak_kv_base(sq, layer), span = row + 1 - first_visible(c, layer, row);
        const int for_items = (ATTN_DECODE_ITEMS + c->hp.n_head_kv - 1) / c->hp.n_head_kv;
        j.n_splits = (span + ATTN_PART - 1) / ATTN_PART;
        if (j.n_splits > for_items) j.n_splits = for_items;
        if (j.n_splits > ATTN_SPLITS) j.n_splits = ATTN_SPLITS;
        if (j.n_splits < 1) j.n_splits = 1;
    }
    for (int r = 0; r < c->runs.n_runs; r++)
        j.item0[r + 1] = j.item0[r] + c->hp.n_head_kv * run_blocks(c, r) * j.n_splits;
    j.n_items = j.item0[c->runs.n_runs];
    atomic_init(&j.next, 0);
    ak_pool_run(c->pool, attend_worker, &j);
    if (j.n_splits > 1) merge_splits(c, j.n_splits);
}

/* ---------------------------------------------------------------- reference */

/* Eight partial sums, so that the compiler can vectorise the reduction. */
static float dot_f32(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef struct {
    ak_context *c;
    int layer, n_tok;
    atomic_int next; /* next (token, head) item to claim */
} ref_job;

/* Scores q.k of n_keys cached keys (rows of k_row bytes in type_k). An f32 cache is read
 * directly; another type through its vec-dot kernel, with q encoded once for it. */
static float keys_scores(const ak_context *c, const float *q, const uint8_t *kc, int n_keys, float scale, float *sc,
                         uint8_t *q_enc) {
    const int hd = c->hp.head_dim;
    float mx = -INFINITY;
    if (c->type_k == AK_TYPE_F32) {
        for (int p = 0; p < n_keys; p++) {
            sc[p] = dot_f32(q, (const float *)(kc + (size_t)p * c->k_row), hd) * scale;
            if (sc[p] > mx) mx = sc[p];
        }
        return mx;
    }
    ak_encode_activation((ak_type)c->type_k, q, q_enc, hd);
    for (int p = 0; p < n_keys; p++) {
        sc[p] = ak_vec_dot((ak_type)c->type_k, hd, kc + (size_t)p * c->k_row, q_enc) * scale;
        if (sc[p] > mx) mx = sc[p];
    }
    return mx;
}

/* out = sum over p of w[p] * v[p], the cached values in type_v (dequantised a row at a time
 * into row, hd floats, unless f32). */
static void weighted_values(const ak_context *c, const float *w, const uint8_t *vc, int n_keys, float *out, float *row) {
    const int hd = c->hp.head_dim;
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int p = 0; p < n_keys; p++) {
        const float *vp = (const float *)(vc + (size_t)p * c->v_row);
        if (c->type_v != AK_TYPE_F32) {
            ak_dequantize_row((ak_type)c->type_v, vc + (size_t)p * c->v_row, row, hd);
            vp = row;
        }
        for (int d = 0; d < hd; d++) out[d] += w[p] * vp[d];
    }
}

static void ref_worker(void *arg, int ith, int nth) {
    ref_job *j = arg;
    ak_context *c = j->c;
    const int hd = c->hp.head_dim, nh = c->hp.n_head, nkv = c->hp.n_head_kv, group = nh / nkv;
    const size_t q_dim = (size_t)nh * hd;
    const float scale = attn_scale(c);
    float *sc = c->scores + (size_t)ith * c->n_ctx;
    uint8_t *scratch = c->attn_scratch + (size_t)ith * c->attn_scratch_stride;
    float *vrow = (float *)scratch;
    uint8_t *q_enc = scratch + (size_t)hd * sizeof(float);
    (void)nth;
    for (int item; (item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->n_tok * nh;) {
        int t = (int)(item / nh), h = (int)(item % nh), kvh = h / group, pos = ak_run_kv(c, t, j->layer);
        const ak_context *sq = ak_run_seq(c, t);
        int lo = first_visible(c, j->layer, pos), n_keys = pos + 1 - lo;
        const float *q = c->q + (size_t)t * q_dim + (size_t)h * hd;
        size_t head_row = ((size_t)c->model->layers[j->layer].kv_slot * nkv + kvh) * sq->n_ctx + (size_t)lo;
        float mx = keys_scores(sq, q, sq->k_cache + head_row * sq->k_row, n_keys, scale, sc, q_enc);
        const float *sinks = c->model->layers[j->layer].sinks;
        if (sinks && sinks[h] > mx) mx = sinks[h];
        double sum = sinks ? (double)expf(sinks[h] - mx) : 0.0;
        for (int p = 0; p < n_keys; p++) {
            sc[p] = expf(sc[p] - mx);
            sum += sc[p];
        }
        const float inv = (float)(1.0 / sum);
        for (int p = 0; p < n_keys; p++) sc[p] *= inv;
        weighted_values(sq, sc, values_of(sq) + head_row * sq->v_row, n_keys, c->att + (size_t)t * q_dim + (size_t)h * hd,
                        vrow);
    }
}

static void attend_reference(ak_context *c, int layer, int n_tok) {
    ref_job j = {c, layer, n_tok, 0};
    atomic_init(&j.next, 0);
    ak_pool_run(c->pool, ref_worker, &j);
}

/* ---------------------------------------------------------------- importance (pruning) */

void ak_attention_of_token(ak_context *c, int il, int t, float *out) {
    const int hd = c->hp.head_dim, nh = c->hp.n_head, nkv = c->hp.n_head_kv, group = nh / nkv;
    const ak_context *sq = ak_run_seq(c, t);
    const int r = c->tok_run[t], t0 = c->runs.start[r], row = ak_run_kv(c, t, il), first = row - (t - t0);
    const float scale = attn_scale(c);
    float *sc = c->scores; /* thread 0's: the pool is idle here */
    uint8_t *q_enc = c->attn_scratch + (size_t)hd * sizeof(float);
    for (int i = 0; i <= t - t0; i++) out[i] = 0.0f;
    for (int h = 0; h < nh; h++) {
        const size_t head_row = ((size_t)c->model->layers[il].kv_slot * nkv + h / group) * sq->n_ctx;
        const float *q = c->q + (size_t)t * nh * hd + (size_t)h * hd;
        const float mx = keys_scores(sq, q, sq->k_cache + head_row * sq->k_row, row + 1, scale, sc, q_enc);
        double sum = 0.0;
        for (int p = 0; p <= row; p++) sum += expf(sc[p] - mx);
        for (int p = first; p <= row; p++) out[p - first] += (float)(expf(sc[p] - mx) / sum / nh);
    }
}
