/* repack.c - weights re-laid out at load for kernels that compute 8 rows at once.
 *
 * Why: a plain row-by-row kernel of a 32-value type spends about 18 instructions per block
 * (decode, sign trick, multiply-add, one float scale and accumulate per row) and cannot keep
 * up with memory for 4-bit blocks: MXFP4 decode reached 24% of the read-bandwidth roofline
 * (BENCHMARKS.md). With 8 rows' block i side by side, one byte shuffle decodes 32 weights of
 * 8 rows at once, each 32-bit lane of a vector holds 4 weights of one row, the activation's
 * 4 matching bytes are broadcast to every lane, and the block's scales of the 8 rows form
 * one vector: the per-row work of a block falls to a few instructions (llama.cpp's
 * "repacked" x86 kernels use the same idea).
 *
 * The x8 layout (n_out a multiple of 8): group g holds rows 8g..8g+7; its block i (the size
 * of 8 plain blocks) is the 8 rows' blocks with their 4-byte words interleaved, so that a
 * 32-byte vector holds word w of each row, row r in lane r:
 *   MXFP4: e[8] (the E8M0 exponents, kept as bytes), then the 4 words of qs: in vector k,
 *          lane r's low nibbles are row r's elements 4k..4k+3, its high nibbles 16+4k..;
 *   Q4_K:  all 36 words: d|dmin, the 3 words of packed 6-bit scales and mins, then qs
 *          (vector 4 + 8c + k: lane r's low nibbles are sub-block 2c's elements 4k..4k+3,
 *          its high nibbles sub-block 2c+1's);
 *   Q5_K:  all 44 words: as Q4_K with qh's 8 words (4..11) before the codes (12..43).
 * Groups follow each other; a matrix keeps its size.
 *
 * Results: each row is computed as the scalar reference (dot_scalar.c) computes it from the
 * plain layout - integer block sums, then one float expression per block added in block
 * order, unfused - so the SIMD x8 kernels, the scalar x8 kernel and ak_vec_dot on the
 * scalar path agree bit for bit (tests/quant/test_quant_repack.c). The plain AVX2 kernels
 * sum 8 lanes per row instead and differ from them in float rounding only. */
#include <string.h>

#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/kernels.h"

/* A type's x8 layout: each row's plain block (block bytes, elems values) is `head` bytes
 * kept whole, then 4-byte words; the group block is the 8 rows' heads, then their words
 * interleaved (word w of row r at 8 head + 32 w + 4 r). max_cols: the most activation
 * columns its SIMD kernel takes at once (more accumulators would spill). */
typedef struct {
    size_t block, head;
    int64_t elems;
    int max_cols;
} x8_shape;

static int x8_shape_of(ak_type t, x8_shape *sh) {
    /* Q8_0 was tried (prefill of the DeepSeek-V2-Lite cut +15-20%): its results, in the
     * scalar reference's order, moved a chaotic K=1 perplexity pin 0.75% from llama.cpp's,
     * whose Q8_0 dot our plain AVX2 kernel equals bit for bit (llama.cpp does not repack
     * Q8_0 on x86; BENCHMARKS.md, session 10) */
    if (t == AK_TYPE_MXFP4) *sh = (x8_shape){sizeof(blk_mxfp4), 1, QK32, AK_DOTN_MAX};
    else if (t == AK_TYPE_Q4_K) *sh = (x8_shape){sizeof(blk_q4_k), 0, QKK, 4};
    else if (t == AK_TYPE_Q5_K) *sh = (x8_shape){sizeof(blk_q5_k), 0, QKK, 4};
    else return 0;
    return 1;
}

int ak_repack_supported(ak_type t, int64_t n_in, int64_t n_out) {
    x8_shape sh;
    return x8_shape_of(t, &sh) && n_out > 0 && n_out % AK_X8_ROWS == 0 && n_in > 0 && n_in % sh.elems == 0 &&
           n_in / QK32 <= AK_X8_MAX_BLOCKS;
}

/* The interleave of one row: row r's plain block into group block b (pack), or back (unpack). */
static void x8_pack(const x8_shape *sh, const uint8_t *plain, uint8_t *b, int r) {
    memcpy(b + sh->head * (size_t)r, plain, sh->head);
    for (size_t w = 0; w < (sh->block - sh->head) / 4; w++)
        memcpy(b + AK_X8_ROWS * sh->head + 32 * w + 4 * (size_t)r, plain + sh->head + 4 * w, 4);
}

static void x8_unpack(const x8_shape *sh, const uint8_t *b, int r, uint8_t *plain) {
    memcpy(plain, b + sh->head * (size_t)r, sh->head);
    for (size_t w = 0; w < (sh->block - sh->head) / 4; w++)
        memcpy(plain + sh->head + 4 * w, b + AK_X8_ROWS * sh->head + 32 * w + 4 * (size_t)r, 4);
}

void ak_repack_x8(ak_type t, const void *src, void *dst, int64_t n_in, int64_t n_out) {
    x8_shape sh;
    if (!ak_repack_supported(t, n_in, n_out) || !x8_shape_of(t, &sh)) return;
    const int64_t nb = n_in / sh.elems;
    const uint8_t *a = src;
    uint8_t *o = dst;
    for (int64_t g = 0; g < n_out / AK_X8_ROWS; g++)
        for (int64_t i = 0; i < nb; i++, o += AK_X8_ROWS * sh.block)
            for (int r = 0; r < AK_X8_ROWS; r++)
                x8_pack(&sh, a + ((size_t)(g * AK_X8_ROWS + r) * (size_t)nb + (size_t)i) * sh.block, o, r);
}

/* The scalar x8 kernel: one group (8 rows) with one activation column, each row's blocks
 * unpacked and taken by the scalar reference one block at a time, summed in block order -
 * exactly what the reference computes for the whole row. */
static void x8_group_scalar(ak_type t, const x8_shape *sh, int64_t nb, const uint8_t *grp, const uint8_t *y,
                            float *out) {
    const size_t yb = ak_type_block_bytes(ak_vec_dot_type(t));
    uint8_t plain[sizeof(blk_q5_k)];
    for (int r = 0; r < AK_X8_ROWS; r++) {
        float s = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            x8_unpack(sh, grp + (size_t)i * AK_X8_ROWS * sh->block, r, plain);
            s += ak_dot_scalar[t](sh->elems, plain, y + (size_t)i * yb);
        }
        out[r] = s;
    }
}

/* What the SIMD kernels read of each activation block besides its codes, computed once per
 * call: Q8_0 (MXFP4): the scale as a float and the codes' sum times AK_X8_MXFP4_OFFSET (the
 * kernels multiply unsigned levels, level + offset, and subtract this); Q8_K (Q4_K, Q5_K): the scale and the
 * 8 sub-block sums of 32 codes (bsums pairwise). */
static void x8_prepare(ak_type t, int64_t nb, const uint8_t *x, size_t xs, int nc, ak_x8_prep *p) {
    for (int c = 0; c < nc; c++) {
        if (t == AK_TYPE_Q4_K || t == AK_TYPE_Q5_K) {
            const blk_q8_k *y = (const blk_q8_k *)(x + (size_t)c * xs);
            for (int64_t i = 0; i < nb; i++) {
                p->yd[c][i] = y[i].d;
                for (int sb = 0; sb < 8; sb++) p->ysum16[c][8 * i + sb] = (int16_t)(y[i].bsums[2 * sb] + y[i].bsums[2 * sb + 1]);
            }
            continue;
        }
        const blk_q8_0 *y = (const blk_q8_0 *)(x + (size_t)c * xs);
        for (int64_t i = 0; i < nb; i++) {
            int sum = 0;
            for (int j = 0; j < QK32; j++) sum += y[i].qs[j];
            p->yd[c][i] = half_to_f32(y[i].d);
            p->ysum_off[c][i] = sum * AK_X8_MXFP4_OFFSET;
        }
    }
}

static ak_x8_fn x8_simd(ak_type t) {
    if (ak_quant_simd() != AK_SIMD_AVX2) return NULL;
    return ak_quant_vnni() ? ak_x8_vnni[t] : ak_x8_avx2[t];
}

/* Rows r0..r1-1 of a repacked matrix; groups cut by r0 or r1 are computed whole into a
 * scratch and only their rows in range copied out. */
void ak_matmul_x8(ak_type t, const void *W, int64_t n, int64_t r0, int64_t r1, const void *X_enc, size_t xs,
                  int n_cols, float *Y, int64_t y_stride) {
    x8_shape sh;
    if (!x8_shape_of(t, &sh) || n <= 0 || n % sh.elems || n / QK32 > AK_X8_MAX_BLOCKS || r0 >= r1) return;
    const int64_t nb = n / sh.elems;
    const size_t group_bytes = (size_t)nb * AK_X8_ROWS * sh.block;
    const ak_x8_fn simd = x8_simd(t);
    const uint8_t *x = X_enc;
    ak_x8_prep prep;
    for (int j = 0; j < n_cols; j += sh.max_cols) {
        const int nc = n_cols - j < sh.max_cols ? n_cols - j : sh.max_cols;
        const uint8_t *xj = x + (size_t)j * xs;
        float *yj = Y + (size_t)j * (size_t)y_stride;
        if (simd) x8_prepare(t, nb, xj, xs, nc, &prep);
        for (int64_t g = r0 / AK_X8_ROWS; g * AK_X8_ROWS < r1; g++) {
            const uint8_t *grp = (const uint8_t *)W + (size_t)g * group_bytes;
            const int64_t g0 = g * AK_X8_ROWS;
            const int whole = g0 >= r0 && g0 + AK_X8_ROWS <= r1;
            float scratch[AK_DOTN_MAX * AK_X8_ROWS];
            float *out = whole ? yj + g0 : scratch;
            const size_t os = whole ? (size_t)y_stride : AK_X8_ROWS;
            if (simd)
                simd(nb, grp, xj, xs, &prep, out, os, nc);
            else
                for (int c = 0; c < nc; c++) x8_group_scalar(t, &sh, nb, grp, xj + (size_t)c * xs, out + (size_t)c * os);
            if (whole) continue;
            for (int c = 0; c < nc; c++)
                for (int64_t r = g0 > r0 ? g0 : r0; r < g0 + AK_X8_ROWS && r < r1; r++)
                    yj[(size_t)c * (size_t)y_stride + (size_t)r] = scratch[c * AK_X8_ROWS + (r - g0)];
        }
    }
}
