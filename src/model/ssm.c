/* ssm.c - the Mamba-2 block of hybrid models (nemotron_h_moe), computed as llama.cpp's
 * build_mamba2_layer does:
 *
 *   z | xBC | dt = in_proj(x)
 *   xBC = silu(conv1d(xBC) + b)      causal depthwise, d_conv taps, over the last inputs
 *   x | B | C = xBC                  B and C shared by the heads of a group
 *   per head h: dt' = softplus(dt + dt_bias), dA = exp(dt' A)
 *               S = S dA + (x dt') B^T      the state, [head width][d_state]
 *               y = S C + D x
 *   y = grouped RMSNorm(y * silu(z)) ; out = out_proj(y)
 *
 * The convolution's last d_conv - 1 inputs and S are the recurrent state, one per
 * sequence (context) and layer: a token's output depends on every earlier token only
 * through them, so memory stays flat however long the sequence gets. A batch's runs each
 * continue their own sequence's state, token after token. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "model/model_internal.h"

size_t ak_ssm_conv_state_floats(const ak_hparams *hp) {
    return (size_t)(hp->ssm_d_conv - 1) * (size_t)ak_ssm_conv_channels(hp);
}

size_t ak_ssm_scan_state_floats(const ak_hparams *hp) { return (size_t)hp->ssm_d_inner * (size_t)hp->ssm_d_state; }

static float softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); } /* ggml's, threshold included */

typedef struct {
    ak_context *c;
    const ak_layer *l;
    int n_tok;
    atomic_int next;
    float *conv_in;   /* token t's convolution channels start at conv_in + t * conv_stride */
    size_t conv_stride;
} ssm_job;

/* The shapes every step needs. */
typedef struct {
    int di, ng, ds, nh, hd, channels, row; /* row: floats of one token's in_proj output */
} ssm_dims;

static ssm_dims dims(const ak_hparams *hp) {
    ssm_dims d = {hp->ssm_d_inner, hp->ssm_n_group, hp->ssm_d_state, hp->ssm_n_head, 0, 0, 0};
    d.hd = d.di / d.nh;
    d.channels = ak_ssm_conv_channels(hp);
    d.row = d.channels + d.di + d.nh;
    return d;
}

/* The convolution of each run's tokens over channels [lo, hi), in place (Mamba-2: the xBC
 * part of the in_proj rows; Gated DeltaNet: q k v), with the bias if any and silu; the
 * window continues from and updates the run's state. Sums in tap order from the oldest
 * input, as ggml_ssm_conv. */
static void conv_worker(void *arg, int ith, int nth) {
    ssm_job *j = arg;
    ak_context *c = j->c;
    const ssm_dims d = dims(&c->hp);
    const int K = c->hp.ssm_d_conv;
    int64_t lo, hi;
    ak_split(d.channels, ith, nth, &lo, &hi);
    for (int r = 0; r < c->runs.n_runs; r++) {
        ak_context *sq = c->runs.seq[r];
        float *state = sq->conv_state + (size_t)j->l->ssm_slot * ak_ssm_conv_state_floats(&c->hp);
        const int t0 = c->runs.start[r], t1 = c->runs.start[r + 1];
        for (int64_t ch = lo; ch < hi; ch++) {
            float win[64]; /* d_conv <= 64 (load.c) */
            const float *w = j->l->ssm_conv + (size_t)ch * K;
            memcpy(win, state + (size_t)ch * (K - 1), (size_t)(K - 1) * sizeof *win);
            for (int t = t0; t < t1; t++) {
                float *x = j->conv_in + (size_t)t * j->conv_stride + ch;
                win[K - 1] = *x;
                float sum = 0.0f;
                for (int k = 0; k < K; k++) sum += win[k] * w[k];
                if (j->l->ssm_conv_b) sum += j->l->ssm_conv_b[ch];
                *x = ak_silu(sum);
                memmove(win, win + 1, (size_t)(K - 1) * sizeof *win);
            }
            memcpy(state + (size_t)ch * (K - 1), win, (size_t)(K - 1) * sizeof *win);
        }
    }
}

/* One row of a head's state: s = s dA + B x_dt, returns s . C. The dot product is summed in
 * SCAN_LANES partial sums (as ggml sums it in vector accumulators): a single float sum
 * would keep the compiler from vectorising the loop, and at Nemotron-3-Nano's shapes the
 * scan is 64 x 64 x 128 state values per layer and token. */
enum { SCAN_LANES = 16 };

static float scan_row(float *s, const float *B, const float *C, float dA, float x_dt, int ds) {
    float acc[SCAN_LANES] = {0};
    int n = 0;
    for (; n + SCAN_LANES <= ds; n += SCAN_LANES)
        for (int k = 0; k < SCAN_LANES; k++) {
            s[n + k] = s[n + k] * dA + B[n + k] * x_dt;
            acc[k] += s[n + k] * C[n + k];
        }
    float sum = 0.0f;
    for (; n < ds; n++) {
        s[n] = s[n] * dA + B[n] * x_dt;
        sum += s[n] * C[n];
    }
    for (int k = 0; k < SCAN_LANES; k++) sum += acc[k];
    return sum;
}

/* One (run, head) item at a time: the scan over the run's tokens, y = S C + D x, gated by
 * silu(z), into ssm_y. */
static void scan_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    ssm_job *j = arg;
    ak_context *c = j->c;
    const ak_layer *l = j->l;
    const ssm_dims d = dims(&c->hp);
    for (int item; (item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < c->runs.n_runs * d.nh;) {
        const int r = item / d.nh, h = item % d.nh, g = h / (d.nh / d.ng);
        ak_context *sq = c->runs.seq[r];
        float *S = sq->ssm_state + (size_t)l->ssm_slot * ak_ssm_scan_state_floats(&c->hp) + (size_t)h * d.hd * d.ds;
        for (int t = c->runs.start[r]; t < c->runs.start[r + 1]; t++) {
            const float *row = c->ssm_zxbcdt + (size_t)t * d.row;
            const float *z = row + h * d.hd, *x = row + d.di + h * d.hd;
            const float *B = row + 2 * d.di + g * d.ds, *C = row + 2 * d.di + d.ng * d.ds + g * d.ds;
            const float dt = softplus(row[d.di + d.channels + h] + l->ssm_dt_b[h]);
            const float dA = expf(dt * l->ssm_a[h]);
            float *y = c->ssm_y + (size_t)t * d.di + h * d.hd;
            for (int i = 0; i < d.hd; i++)
                y[i] = (scan_row(S + (size_t)i * d.ds, B, C, dA, x[i] * dt, d.ds) + x[i] * l->ssm_d[h]) * ak_silu(z[i]);
        }
    }
}

/* The grouped RMSNorm of each token's gated y, in place. */
static void norm_worker(void *arg, int ith, int nth) {
    ssm_job *j = arg;
    ak_context *c = j->c;
    const ssm_dims d = dims(&c->hp);
    const int gs = d.di / d.ng;
    int64_t lo, hi;
    ak_split(j->n_tok, ith, nth, &lo, &hi);
    for (int64_t t = lo; t < hi; t++)
        for (int g = 0; g < d.ng; g++) {
            float *y = c->ssm_y + (size_t)t * d.di + (size_t)g * gs;
            ak_rms_norm(y, j->l->ssm_norm + (size_t)g * gs, y, gs, c->hp.rms_eps);
        }
}

void ak_ssm_layer(ak_context *c, const ak_layer *l, int n_tok) {
    const ak_hparams *hp = &c->hp;
    const ak_mat *win[1] = {&l->ssm_in}, *wout[1] = {&l->ssm_out};
    float *yin[1] = {c->ssm_zxbcdt}, *yout[1] = {c->moe_out};
    const ssm_dims d = dims(hp);
    ssm_job j = {c, l, n_tok, 0, c->ssm_zxbcdt + d.di, (size_t)d.row};
    atomic_init(&j.next, 0);
    ak_batch_matmul(c, c->xn, hp->n_embd, n_tok, win, yin, 1);
    ak_pool_run(c->pool, conv_worker, &j);
    ak_pool_run(c->pool, scan_worker, &j);
    ak_pool_run(c->pool, norm_worker, &j);
    ak_batch_matmul(c, c->ssm_y, hp->ssm_d_inner, n_tok, wout, yout, 1);
}

/* ---------------------------------------------------------------- Gated DeltaNet
 *
 * qwen35moe's linear attention, as llama.cpp's build_layer_attn_linear and
 * ggml_gated_delta_net compute it:
 *
 *   q k v = silu(conv1d(attn_qkv x)), z = attn_gate x      k heads for q and k, v heads for v
 *   q, k = L2-normalised per head; value head h reads key head h % n_k_heads
 *   g = softplus(alpha x + dt_bias) A (A = -exp(A_log)), beta = sigmoid(beta x)
 *   per value head: S = S exp(g); d = (v - S^T k) beta; S = S + k d^T; o = S^T q / sqrt(width)
 *   o = RMSNorm(o) * silu(z) per head ; out = ssm_out(o)
 *
 * S (key width x value width per head) and the convolution's last inputs are the
 * recurrent state. The buffers: ssm_zxbcdt holds q k v [n_tok][conv channels], then z
 * [n_tok][value width], beta and alpha [n_tok][value heads]. */

static float l2_inv(const float *x, int n, float eps) { /* ggml_l2_norm: 1 / max(|x|, eps) */
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)x[i] * x[i];
    return 1.0f / fmaxf(sqrtf((float)sum), eps);
}

/* a . b in SCAN_LANES partial sums (see scan_row) */
static float dot_lanes(const float *a, const float *b, int n) {
    float acc[SCAN_LANES] = {0}, sum = 0.0f;
    int i = 0;
    for (; i + SCAN_LANES <= n; i += SCAN_LANES)
        for (int k = 0; k < SCAN_LANES; k++) acc[k] += a[i + k] * b[i + k];
    for (; i < n; i++) sum += a[i] * b[i];
    for (int k = 0; k < SCAN_LANES; k++) sum += acc[k];
    return sum;
}

enum { DN_MAX_WIDTH = 1024 }; /* head width (load.c: ssm.state_size <= 1024) */

/* One (run, value head) item at a time: the delta rule over the run's tokens, then the
 * gated norm, into ssm_y. */
static void delta_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    ssm_job *j = arg;
    ak_context *c = j->c;
    const ak_layer *l = j->l;
    const ak_hparams *hp = &c->hp;
    const int nv = hp->ssm_n_head, nk = hp->ssm_n_group, w = hp->ssm_d_state, vd = hp->ssm_d_inner;
    const int channels = ak_ssm_conv_channels(hp), n_all = c->runs.start[c->runs.n_runs];
    const float *z_all = c->ssm_zxbcdt + (size_t)n_all * channels;
    const float *beta_all = z_all + (size_t)n_all * vd, *alpha_all = beta_all + (size_t)n_all * nv;
    const float scale = 1.0f / sqrtf((float)w);
    float q[DN_MAX_WIDTH], k[DN_MAX_WIDTH];
    for (int item; (item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < c->runs.n_runs * nv;) {
        const int r = item / nv, h = item % nv, kh = h % nk;
        ak_context *sq = c->runs.seq[r];
        /* M[jv][i] = S[i][jv]: row jv holds value channel jv's weights over the key */
        float *M = sq->ssm_state + (size_t)l->ssm_slot * ak_ssm_scan_state_floats(hp) + (size_t)h * w * w;
        for (int t = c->runs.start[r]; t < c->runs.start[r + 1]; t++) {
            const float *row = c->ssm_zxbcdt + (size_t)t * channels;
            const float *qr = row + kh * w, *kr = row + nk * w + kh * w, *v = row + 2 * nk * w + h * w;
            const float qs = l2_inv(qr, w, hp->rms_eps), ks = l2_inv(kr, w, hp->rms_eps);
            for (int i = 0; i < w; i++) q[i] = qr[i] * qs, k[i] = kr[i] * ks;
            const float g = softplus(alpha_all[(size_t)t * nv + h] + l->ssm_dt_b[h]) * l->ssm_a[h];
            const float beta = 1.0f / (1.0f + expf(-beta_all[(size_t)t * nv + h])), decay = expf(g);
            /* row by row, so that each row is read from memory once per token (the state is
             * 64 KiB per head at Qwen3.6's shapes); per value the same operations as the
             * four whole-state passes of the definition above */
            float *o = c->ssm_y + (size_t)t * vd + (size_t)h * w;
            for (int jv = 0; jv < w; jv++) {
                float *row = M + (size_t)jv * w;
                for (int i = 0; i < w; i++) row[i] *= decay;
                const float d = (v[jv] - dot_lanes(row, k, w)) * beta;
                for (int i = 0; i < w; i++) row[i] += k[i] * d;
                o[jv] = dot_lanes(row, q, w) * scale;
            }
            ak_rms_norm(o, l->ssm_norm, o, w, hp->rms_eps);
            const float *z = z_all + (size_t)t * vd + (size_t)h * w;
            for (int jv = 0; jv < w; jv++) o[jv] *= ak_silu(z[jv]);
        }
    }
}

void ak_deltanet_layer(ak_context *c, const ak_layer *l, int n_tok) {
    const ak_hparams *hp = &c->hp;
    const int nv = hp->ssm_n_head, vd = hp->ssm_d_inner;
    const int channels = ak_ssm_conv_channels(hp);
    float *qkv = c->ssm_zxbcdt, *z = qkv + (size_t)n_tok * channels, *beta = z + (size_t)n_tok * vd;
    float *alpha = beta + (size_t)n_tok * nv;
    const ak_mat *w3[3] = {&l->dn_qkv, &l->dn_z, &l->dn_beta}, *wa[1] = {&l->dn_alpha}, *wout[1] = {&l->ssm_out};
    float *y3[3] = {qkv, z, beta}, *ya[1] = {alpha}, *yout[1] = {c->moe_out};
    ssm_job j = {c, l, n_tok, 0, qkv, (size_t)channels};
    atomic_init(&j.next, 0);
    ak_batch_matmul(c, c->xn, hp->n_embd, n_tok, w3, y3, 3);
    ak_batch_matmul(c, c->xn, hp->n_embd, n_tok, wa, ya, 1);
    ak_pool_run(c->pool, conv_worker, &j);
    ak_pool_run(c->pool, delta_worker, &j);
    ak_batch_matmul(c, c->ssm_y, vd, n_tok, wout, yout, 1);
}
