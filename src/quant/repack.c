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
 * of 8 plain blocks) is the 8 rows' scales, then their codes 4 bytes at a time:
 *   MXFP4: e[8] (E8M0 exponents), qs[128]: qs[32 k + 4 r + b] = row r's qs[4 k + b] (k 0..3),
 *          so in vector k lane r's low nibbles are row r's elements 4k..4k+3 and its high
 *          nibbles elements 16+4k..16+4k+3.
 * Groups follow each other; a matrix keeps its size.
 *
 * Results: each row is computed as the scalar reference (dot_scalar.c) computes it from the
 * plain layout - integer block sums, then s += sumi * (da * yd) in block order - so the
 * SIMD x8 kernels, the scalar x8 kernel and ak_vec_dot on the scalar path agree bit for bit
 * (tests/quant/test_quant_repack.c). */
#include <string.h>

#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/kernels.h"

/* A type's x8 layout: each row's block holds `scale` bytes of scale then `codes` bytes of
 * codes; the group block is the 8 rows' scales, then their codes 4 bytes at a time. */
typedef struct {
    size_t block, scale, codes;
} x8_shape;

static int x8_shape_of(ak_type t, x8_shape *sh) {
    /* Q8_0 was tried (prefill of the DeepSeek-V2-Lite cut +15-20%): its results, in the
     * scalar reference's order, moved a chaotic K=1 perplexity pin 0.75% from llama.cpp's,
     * whose Q8_0 dot our plain AVX2 kernel equals bit for bit (BENCHMARKS.md, session 10) */
    if (t != AK_TYPE_MXFP4) return 0;
    *sh = (x8_shape){sizeof(blk_mxfp4), 1, QK32 / 2};
    return 1;
}

int ak_repack_supported(ak_type t, int64_t n_in, int64_t n_out) {
    x8_shape sh;
    return x8_shape_of(t, &sh) && n_out > 0 && n_out % AK_X8_ROWS == 0 && n_in > 0 && n_in % QK32 == 0 &&
           n_in / QK32 <= AK_X8_MAX_BLOCKS;
}

void ak_repack_x8(ak_type t, const void *src, void *dst, int64_t n_in, int64_t n_out) {
    x8_shape sh;
    if (!ak_repack_supported(t, n_in, n_out) || !x8_shape_of(t, &sh)) return;
    const int64_t nb = n_in / QK32;
    const uint8_t *a = src;
    uint8_t *o = dst;
    for (int64_t g = 0; g < n_out / AK_X8_ROWS; g++)
        for (int64_t i = 0; i < nb; i++, o += AK_X8_ROWS * sh.block)
            for (int r = 0; r < AK_X8_ROWS; r++) {
                const uint8_t *b = a + ((size_t)(g * AK_X8_ROWS + r) * (size_t)nb + (size_t)i) * sh.block;
                memcpy(o + sh.scale * (size_t)r, b, sh.scale);
                for (size_t k = 0; k < sh.codes / 4; k++)
                    memcpy(o + AK_X8_ROWS * (sh.scale + 4 * k) + 4 * (size_t)r, b + sh.scale + 4 * k, 4);
            }
}

/* Row r's weight j (0..31) of a group block, and its scale, as the scalar reference
 * decodes the plain block (dot_scalar.c). */
static int x8_weight(const uint8_t *b, int r, int j) {
    const int jj = j % 16;
    const uint8_t q = b[AK_X8_ROWS * (1 + 4 * (jj / 4)) + 4 * r + jj % 4];
    return mxfp4_levels()[j < 16 ? q & 0xF : q >> 4];
}

static float x8_scale(const uint8_t *b, int r) { return mxfp4_half_scale(b[r]); }

/* The scalar x8 kernel: one group (8 rows) with one activation column. */
static void x8_group_scalar(size_t block, int64_t nb, const uint8_t *grp, const blk_q8_0 *y, float *out) {
    for (int r = 0; r < AK_X8_ROWS; r++) {
        float s = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *b = grp + (size_t)i * AK_X8_ROWS * block;
            int sumi = 0;
            for (int j = 0; j < QK32; j++) sumi += x8_weight(b, r, j) * y[i].qs[j];
            s += (float)sumi * (x8_scale(b, r) * half_to_f32(y[i].d));
        }
        out[r] = s;
    }
}

/* What the SIMD kernels read of each activation block besides its codes, computed once per
 * call: the scale as a float and the codes' sum times the type's level offset (the SIMD
 * kernels multiply unsigned levels, level + offset, and subtract this). */
static void x8_prepare(ak_type t, int64_t nb, const uint8_t *x, size_t xs, int nc, ak_x8_prep *p) {
    const int offset = ak_x8_offset(t);
    for (int c = 0; c < nc; c++) {
        const blk_q8_0 *y = (const blk_q8_0 *)(x + (size_t)c * xs);
        for (int64_t i = 0; i < nb; i++) {
            int sum = 0;
            for (int j = 0; j < QK32; j++) sum += y[i].qs[j];
            p->yd[c][i] = half_to_f32(y[i].d);
            p->ysum_off[c][i] = sum * offset;
        }
    }
}

int ak_x8_offset(ak_type t) { return t == AK_TYPE_MXFP4 ? 12 : 0; }

static ak_x8_fn x8_simd(ak_type t) {
    if (ak_quant_simd() != AK_SIMD_AVX2) return NULL;
    return ak_quant_vnni() ? ak_x8_vnni[t] : ak_x8_avx2[t];
}

/* Rows r0..r1-1 of a repacked matrix; groups cut by r0 or r1 are computed whole into a
 * scratch and only their rows in range copied out. */
void ak_matmul_x8(ak_type t, const void *W, int64_t n, int64_t r0, int64_t r1, const void *X_enc, size_t xs,
                  int n_cols, float *Y, int64_t y_stride) {
    x8_shape sh;
    if (!x8_shape_of(t, &sh) || n <= 0 || n % QK32 || n / QK32 > AK_X8_MAX_BLOCKS || r0 >= r1) return;
    const int64_t nb = n / QK32;
    const size_t group_bytes = (size_t)nb * AK_X8_ROWS * sh.block;
    const ak_x8_fn simd = x8_simd(t);
    const uint8_t *x = X_enc;
    ak_x8_prep prep;
    for (int j = 0; j < n_cols; j += AK_DOTN_MAX) {
        const int nc = n_cols - j < AK_DOTN_MAX ? n_cols - j : AK_DOTN_MAX;
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
                for (int c = 0; c < nc; c++)
                    x8_group_scalar(sh.block, nb, grp, (const blk_q8_0 *)(xj + (size_t)c * xs),
                                    out + (size_t)c * os);
            if (whole) continue;
            for (int c = 0; c < nc; c++)
                for (int64_t r = g0 > r0 ? g0 : r0; r < g0 + AK_X8_ROWS && r < r1; r++)
                    yj[(size_t)c * (size_t)y_stride + (size_t)r] = scratch[c * AK_X8_ROWS + (r - g0)];
        }
    }
}
