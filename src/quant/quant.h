/*
 * quant.h - tensor element types, (de)quantisation and dot-product kernels.
 *
 * Type ids and block layouts are those of GGUF files (ggml's numbering), so a tensor's
 * bytes in a mapped file are used as they are. Dot products follow llama.cpp's scheme:
 * the activation vector is first converted to the weight type's "vec-dot type"
 * (F32 -> F32, F16 -> F16, BF16 -> BF16, Q4_0/Q8_0 -> Q8_0, Q4_K/Q5_K/Q6_K -> Q8_K) and
 * the dot product runs on the two encoded rows. Matching that scheme is what makes our
 * perplexity match llama.cpp's on quantised files.
 *
 * Kernels: AVX2/FMA and scalar, chosen once at run time (ak_quant_simd); the scalar path
 * is the reference the SIMD path is tested against.
 *
 * Callers validate shapes (ak_row_bytes() != 0, ak_type_is_weight()) when loading; the row
 * functions below do nothing (ak_vec_dot returns 0) for an unknown type or an n that is not
 * a multiple of the block size. All functions are reentrant and allocate nothing.
 */
#ifndef AK_QUANT_H
#define AK_QUANT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    AK_TYPE_F32 = 0,
    AK_TYPE_F16 = 1,
    AK_TYPE_Q4_0 = 2,
    AK_TYPE_Q8_0 = 8,
    AK_TYPE_Q2_K = 10,
    AK_TYPE_Q3_K = 11,
    AK_TYPE_Q4_K = 12,
    AK_TYPE_Q5_K = 13,
    AK_TYPE_Q6_K = 14,
    AK_TYPE_Q8_K = 15, /* activations only */
    AK_TYPE_Q5_0 = 6,  /* what llama-quantize writes for Q4_K rows that are not a multiple of 256 */
    AK_TYPE_IQ4_NL = 20, /* ... and for IQ4_XS rows */
    AK_TYPE_IQ4_XS = 23,
    AK_TYPE_BF16 = 30,
    AK_TYPE_MXFP4 = 39,
    AK_TYPE_COUNT = 41 /* one past the largest ggml type id we know of */
} ak_type;

typedef enum { AK_SIMD_SCALAR = 0, AK_SIMD_AVX2 = 1 } ak_simd_level;

/* 1 if we can compute with this type id (any id in 0..AK_TYPE_COUNT-1 may be asked). */
int ak_type_supported(int type);
int ak_type_is_weight(int type); /* 1 if a dot kernel exists with this weight type (not Q8_K) */
const char *ak_type_name(int type); /* "f32", "q8_0", ...; "unknown" otherwise */
int ak_type_from_name(const char *name); /* -1 if unknown */
int64_t ak_type_block_elems(ak_type t);  /* 1 for f32/f16/bf16, 32 for q4_0/q8_0, 256 for k-quants */
size_t ak_type_block_bytes(ak_type t);
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t ak_row_bytes(ak_type t, int64_t n);
ak_type ak_vec_dot_type(ak_type weight_type);

/* Element conversions. */
float ak_f16_to_f32(uint16_t h);
uint16_t ak_f32_to_f16(float f);
float ak_bf16_to_f32(uint16_t h);
uint16_t ak_f32_to_bf16(float f); /* round to nearest even, as ggml does */

/* Whole rows: n must be a multiple of the type's block size. */
void ak_dequantize_row(ak_type t, const void *src, float *dst, int64_t n);
/* Weight quantiser: Q4_0/Q8_0/Q8_K exactly as ggml's reference; K-quants use a simpler
 * min/max fit (valid encoding, somewhat larger error than llama-quantize; docs/quant.md).
 * F16/BF16 round to nearest even. */
void ak_quantize_row(ak_type t, const float *src, void *dst, int64_t n);

/* Activation encoding: x (n floats) into ak_vec_dot_type(weight_type), as llama.cpp's CPU
 * backend does it on x86 (Q8_0 uses scale 127/amax and ties-to-even like ggml's AVX2
 * path; Q8_K with bsums; F16/BF16 round to nearest even; F32 copied). dst must hold
 * ak_encoded_row_bytes(weight_type, n) bytes. */
size_t ak_encoded_row_bytes(ak_type weight_type, int64_t n);
void ak_encode_activation(ak_type weight_type, const float *x, void *dst, int64_t n);

/* Dot product of one weight row (type t) with an activation row already encoded in
 * ak_vec_dot_type(t). n elements. */
float ak_vec_dot(ak_type t, int64_t n, const void *w_row, const void *x_enc);

/* y[r] = dot(W[r], x) for rows r0..r1-1 (y is indexed by absolute row, so threads
 * can share one output). W rows are contiguous, row_bytes apart. */
void ak_matvec(ak_type t, const void *W, size_t row_bytes, int64_t n, const void *x_enc,
               float *y, int64_t r0, int64_t r1);

/* Batched matvec for prefill: for each activation column j in 0..n_cols_x-1 (encoded rows
 * x_stride_bytes apart starting at X_enc) and each row r in r0..r1-1,
 *   Y[j*y_stride + r] = dot(W[r], X_j).
 * Rows are walked outermost in small tiles, so a weight row is read from memory once for
 * all columns. Results equal ak_matvec's bit for bit. */
void ak_matmul(ak_type t, const void *W, size_t row_bytes, int64_t n, int64_t r0, int64_t r1,
               const void *X_enc, size_t x_stride_bytes, int n_cols_x, float *Y, int64_t y_stride);

/* Repacked weights (repack.c): rows in groups of AK_X8_ROWS, each block of the 8 rows side
 * by side, for kernels that compute the 8 rows at once. MXFP4, Q4_K and Q5_K, rows of at most
 * AK_X8_MAX_BLOCKS blocks; a matrix keeps its size. ak_matmul_x8 has ak_matmul's contract
 * (any r0..r1, any number of columns, y indexed by absolute row) on a repacked matrix, and
 * each result equals the scalar ak_vec_dot of the plain row bit for bit. */
enum { AK_X8_ROWS = 8, AK_X8_MAX_BLOCKS = 512 };
int ak_repack_supported(ak_type t, int64_t n_in, int64_t n_out);
void ak_repack_x8(ak_type t, const void *src, void *dst, int64_t n_in, int64_t n_out);
void ak_matmul_x8(ak_type t, const void *W, int64_t n, int64_t r0, int64_t r1, const void *X_enc,
                  size_t x_stride_bytes, int n_cols_x, float *Y, int64_t y_stride);

/* Run-time kernel choice. ak_quant_simd() reports the level in use (the best the CPU has,
 * unless AK_SIMD=scalar is set in the environment or ak_quant_set_simd forced one). */
ak_simd_level ak_quant_simd(void);
void ak_quant_set_simd(ak_simd_level level); /* tests use this to compare paths */
const char *ak_simd_name(ak_simd_level level);

#endif
