/* attention.h - causal attention of a batch of queries over the KV cache (internal).
 *
 * ak_attend computes c->att from c->q (rotated) and the layer's cached keys and values:
 * for each query head, softmax(q . k / sqrt(head_dim)) over the keys it may see, times V.
 * gpt-oss: a per-head sink logit joins each softmax's denominator (a key whose value is
 * zero: the state starts at m = sink, l = 1), and windowed layers see only the last n_swa
 * positions. The work is cut into items of one KV head x a block of ATTN_QB tokens (all the query heads
 * that share the KV head: the keys and values are read once for all of them); a decode step
 * (one token) also splits its keys into parts of at least ATTN_PART and merges them: as
 * few parts as give ATTN_DECODE_ITEMS items over the KV heads (parts fixed by the key count
 * and the model's KV heads, so the thread count never changes a result).
 *
 * The kernel (attn_kernel.h) walks the keys in tiles of ATTN_KT with an online softmax
 * (running max and sum, flash-attention style): compiled for baseline x86-64 and for
 * AVX2+FMA+F16C, chosen with the quant kernels (ak_quant_simd). It is not bit-identical to
 * the reference (the per-key loop the engine used before, kept for tests): exp is the
 * vector polynomial of base/v8exp.h and sums run in another order. test_attention checks
 * the kernel against attention computed in double (within 2e-6 of the output's scale) and
 * the engine's logits with it against the reference loop's (within 5e-5 of their scale;
 * measured <= 1.1e-5). With a quantised K cache, q is rounded to the K type's vec-dot
 * type first, as llama.cpp's q.k computes it. */
#ifndef AK_MODEL_ATTENTION_H
#define AK_MODEL_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#define ATTN_KT 32      /* keys per tile */
#define ATTN_QB 16      /* tokens per item in prefill */
#define ATTN_PART 256   /* fewest keys per part of a decode step's split keys */
#define ATTN_DECODE_ITEMS 32 /* KV heads x parts a decode step aims at (2 per thread at 16) */
#define ATTN_SPLITS 16  /* most parts the keys of one decode item are split into */

typedef struct {
    int hd;                /* head_dim, a multiple of 8 */
    int type_k, type_v;    /* cache types (ak_type) */
    size_t k_row, v_row;   /* bytes of one cached row */
} attn_cache;

/* One item's rows against keys [key_lo, key_hi) of one KV head (rows k, v of that head).
 * q: [n_rows][hd], already multiplied by 1/sqrt(hd); row r sees keys vis_lo[r]..vis_hi[r]-1
 * (causal: vis_hi = position + 1; a sliding window raises vis_lo).
 * m, l, acc: [n_rows], [n_rows], [n_rows][hd]: the online-softmax state (running max,
 * sum of exp, unnormalised output), updated in place; start from -inf, 0, 0.
 * work: ak_attn_work_floats(hd) floats. */
typedef void (*attn_kernel_fn)(const attn_cache *d, const uint8_t *k, const uint8_t *v, int n_rows, const float *q,
                               const int *vis_lo, const int *vis_hi, int key_lo, int key_hi, float *m, float *l,
                               float *acc, float *work);

size_t ak_attn_work_floats(int hd);
void ak_attn_kernel_generic(const attn_cache *d, const uint8_t *k, const uint8_t *v, int n_rows, const float *q,
                            const int *vis_lo, const int *vis_hi, int key_lo, int key_hi, float *m, float *l,
                            float *acc, float *work);
void ak_attn_kernel_avx2(const attn_cache *d, const uint8_t *k, const uint8_t *v, int n_rows, const float *q,
                         const int *vis_lo, const int *vis_hi, int key_lo, int key_hi, float *m, float *l, float *acc,
                         float *work);
int ak_attn_avx2_built(void);

struct ak_context;
/* Per-thread scratch floats and the split buffer a context needs for ak_attend. */
size_t ak_attn_scratch_floats(const struct ak_context *c);
size_t ak_attn_split_floats(const struct ak_context *c);
void ak_attend(struct ak_context *c, int layer, int n_tok);

/* Tests: 1 makes ak_attend use the reference per-key loop (exact expf, one query at a time). */
void ak_attn_use_reference(struct ak_context *c, int on);

#endif
