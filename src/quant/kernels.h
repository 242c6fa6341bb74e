/* kernels.h - per-path dot kernels (internal). */
#ifndef AK_QUANT_KERNELS_H
#define AK_QUANT_KERNELS_H

#include "quant/quant.h"

typedef float (*ak_dot_fn)(int64_t n, const void *w, const void *x);

/* Table indexed by weight type; NULL where the path has no kernel. */
extern const ak_dot_fn ak_dot_scalar[AK_TYPE_COUNT];
/* Filled only when the AVX2 file is built; ak_dot_available_avx2() says so. The _vnni set
 * is the same code built with AVX512-VNNI/VL/BW (dot_vnni.c), bit-identical results. */
extern const ak_dot_fn ak_dot_avx2[AK_TYPE_COUNT];
int ak_dot_available_avx2(void);
extern const ak_dot_fn ak_dot_vnni[AK_TYPE_COUNT];
int ak_dot_available_vnni(void);

/* f16 row -> f32 with F16C (NULL when not built): exact, equal to the scalar conversion. */
typedef void (*ak_f16_row_fn)(const uint16_t *h, float *dst, int64_t n);
extern const ak_f16_row_fn ak_f16_row_avx2, ak_f16_row_vnni;
/* f32 row -> f16 with F16C (NULL when not built): rounds to nearest even as the scalar
 * ak_f32_to_f16 does, the same bits for every input but NaN payloads. */
typedef void (*ak_f16_pack_fn)(const float *src, uint16_t *h, int64_t n);
extern const ak_f16_pack_fn ak_f16_pack_avx2, ak_f16_pack_vnni;

/* Up to AK_DOTN_MAX activation columns at once (x rows x_stride bytes apart), nc >= 1:
 * out[c] = dot(w, x_c), bit for bit what the single-column kernel of the same path returns;
 * each weight block is decoded once for all nc columns. */
#define AK_DOTN_MAX 8
typedef void (*ak_dotn_fn)(int64_t n, const void *w, const void *x, size_t x_stride, float *out, int nc);
extern const ak_dotn_fn ak_dotn_avx2[AK_TYPE_COUNT];
extern const ak_dotn_fn ak_dotn_vnni[AK_TYPE_COUNT];
/* The 32-value types (activations in Q8_0) with the activation blocks' scales widened
 * beforehand: yd[c * AK_YD_BLOCKS + i] is column c's block i scale as a float (n <=
 * 32 * AK_YD_BLOCKS); otherwise ak_dotn_fn's contract, bit for bit the same results. */
enum { AK_YD_BLOCKS = 512 };
typedef void (*ak_dotn_scaled_fn)(int64_t n, const void *w, const void *x, size_t x_stride, const float *yd,
                                  float *out, int nc);
extern const ak_dotn_scaled_fn ak_dotn_scaled_avx2[AK_TYPE_COUNT], ak_dotn_scaled_vnni[AK_TYPE_COUNT];
/* Fills yd as ak_dotn_scaled_fn reads it, for nc Q8_0 activation columns of nb blocks. */
typedef void (*ak_widen_scales_fn)(const void *x, size_t x_stride, int nc, int64_t nb, float *yd);
extern const ak_widen_scales_fn ak_widen_q8_0_scales_avx2, ak_widen_q8_0_scales_vnni;

/* The x8 kernels (repack.c): one group of AK_X8_ROWS repacked rows with nc <= AK_DOTN_MAX
 * activation columns; out[c * os + r] for row r of the group. prep holds what they read of
 * each activation block besides its codes (filled by repack.c for the same columns). */
typedef struct {
    float yd[AK_DOTN_MAX][AK_X8_MAX_BLOCKS];         /* block scales */
    int32_t ysum_off[AK_DOTN_MAX][AK_X8_MAX_BLOCKS]; /* Q8_0: sum of codes x AK_X8_MXFP4_OFFSET */
    int16_t ysum16[AK_DOTN_MAX][AK_X8_MAX_BLOCKS];   /* Q8_K: [8 i + s] sum of sub-block s (|sum| <=
                                                      * 32 x 128), int16 so a 32-bit load takes two */
} ak_x8_prep;
/* What makes MXFP4's doubled E2M1 levels (-12..12) unsigned for vpdpbusd */
enum { AK_X8_MXFP4_OFFSET = 12 };
typedef void (*ak_x8_fn)(int64_t nb, const uint8_t *grp, const uint8_t *x, size_t xs, const ak_x8_prep *prep,
                         float *out, size_t os, int nc);
extern const ak_x8_fn ak_x8_avx2[AK_TYPE_COUNT], ak_x8_vnni[AK_TYPE_COUNT];

/* One block of an activation row encoded (Q8_K: 256 values, Q8_0: 32) exactly as
 * quantize.c's scalar encoder does; -1 (nothing written) for a block with a NaN or an
 * infinity, which the scalar encoder then takes. ak_encode_simd gives the path's function
 * for a vec-dot type, or NULL (scalar path, or none built). */
typedef int (*ak_encode_block_fn)(const float *x, void *dst);
extern const ak_encode_block_fn ak_encode_q8_k_avx2, ak_encode_q8_k_vnni, ak_encode_q8_0_avx2, ak_encode_q8_0_vnni;
ak_encode_block_fn ak_encode_simd(ak_type vec_dot_type);

/* Within the AVX2 level, use the VNNI build when the CPU has it (default) or not (0):
 * lets tests compare the two builds and benchmarks time either. AK_SIMD=avx2 in the
 * environment also turns it off. */
void ak_quant_set_vnni(int on);
int ak_quant_vnni(void);

#endif
