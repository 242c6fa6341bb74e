/* ops.c - the engine's elementwise helpers and the batched row kernel. */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"
#include "quant/quant.h"

size_t ak_enc_row_bytes(int weight_type, int64_t n) {
    return ak_encoded_row_bytes((ak_type)weight_type, n);
}

void ak_encode_row(int weight_type, const float *x, void *dst, int64_t n) {
    ak_encode_activation((ak_type)weight_type, x, dst, n);
}

void ak_mat_rows(const ak_mat *w, int64_t e, int64_t r0, int64_t r1, const uint8_t *x,
                 size_t xstride, const int *idx, int n_tok, float *y, size_t ystride) {
    if (r0 >= r1 || n_tok <= 0) return;
    const uint8_t *base = w->data + (size_t)e * w->mat_bytes;
    if (w->repacked) {
        if (!idx) {
            ak_matmul_x8((ak_type)w->type, base, w->n_in, r0, r1, x, xstride, n_tok, y, (int64_t)ystride);
            return;
        }
        for (int t = 0; t < n_tok; t++)
            ak_matmul_x8((ak_type)w->type, base, w->n_in, r0, r1, x + (size_t)idx[t] * xstride, xstride, 1,
                         y + (size_t)t * ystride, (int64_t)ystride);
        return;
    }
    if (n_tok == 1) {
        ak_matvec((ak_type)w->type, base, w->row_bytes, w->n_in, x + (idx ? (size_t)idx[0] * xstride : 0), y, r0, r1);
        return;
    }
    if (!idx) {
        ak_matmul((ak_type)w->type, base, w->row_bytes, w->n_in, r0, r1, x, xstride, n_tok, y, (int64_t)ystride);
        return;
    }
    /* gathered tokens: the same tiling as ak_matmul; tiles of rows small enough to stay in L1 while every token's activation streams past */
    enum { TILE = 16 };
    for (int64_t rt = r0; rt < r1; rt += TILE) {
        int64_t re = rt + TILE < r1 ? rt + TILE : r1;
        for (int t = 0; t < n_tok; t++) {
            const uint8_t *xt = x + (size_t)(idx ? idx[t] : t) * xstride;
            float *yt = y + (size_t)t * ystride;
            for (int64_t r = rt; r < re; r++)
                yt[r] = ak_vec_dot((ak_type)w->type, w->n_in, base + (size_t)r * w->row_bytes, xt);
        }
    }
}

/* As ggml: mean of squares accumulated in double, scale = 1/sqrtf(mean + eps). */
void ak_rms_norm(const float *x, const float *w, float *out, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)x[i] * x[i];
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}
