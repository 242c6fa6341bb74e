/* types.c - the type table: names, block geometry, vec-dot types. */
#include <string.h>
#include <strings.h>

#include "quant/blocks.h"
#include "quant/quant.h"

typedef struct {
    const char *name;
    int64_t block_elems;
    size_t block_bytes;
    ak_type vec_dot_type;
    int weight; /* 1 if we have a dot kernel with this as weight type */
} type_info;

static const type_info k_types[AK_TYPE_COUNT] = {
    [AK_TYPE_F32] = {"f32", 1, 4, AK_TYPE_F32, 1},
    [AK_TYPE_F16] = {"f16", 1, 2, AK_TYPE_F16, 1},
    [AK_TYPE_BF16] = {"bf16", 1, 2, AK_TYPE_BF16, 1},
    [AK_TYPE_Q4_0] = {"q4_0", QK32, sizeof(blk_q4_0), AK_TYPE_Q8_0, 1},
    [AK_TYPE_Q8_0] = {"q8_0", QK32, sizeof(blk_q8_0), AK_TYPE_Q8_0, 1},
    [AK_TYPE_Q2_K] = {"q2_K", QKK, sizeof(blk_q2_k), AK_TYPE_Q8_K, 1},
    [AK_TYPE_Q3_K] = {"q3_K", QKK, sizeof(blk_q3_k), AK_TYPE_Q8_K, 1},
    [AK_TYPE_Q4_K] = {"q4_K", QKK, sizeof(blk_q4_k), AK_TYPE_Q8_K, 1},
    [AK_TYPE_Q5_K] = {"q5_K", QKK, sizeof(blk_q5_k), AK_TYPE_Q8_K, 1},
    [AK_TYPE_Q6_K] = {"q6_K", QKK, sizeof(blk_q6_k), AK_TYPE_Q8_K, 1},
    [AK_TYPE_Q8_K] = {"q8_K", QKK, sizeof(blk_q8_k), AK_TYPE_Q8_K, 0},
    [AK_TYPE_IQ4_XS] = {"iq4_xs", QKK, sizeof(blk_iq4_xs), AK_TYPE_Q8_K, 1},
    [AK_TYPE_MXFP4] = {"mxfp4", QK32, sizeof(blk_mxfp4), AK_TYPE_Q8_0, 1},
    [AK_TYPE_Q5_0] = {"q5_0", QK32, sizeof(blk_q5_0), AK_TYPE_Q8_0, 1},
    [AK_TYPE_IQ4_NL] = {"iq4_nl", QK32, sizeof(blk_iq4_nl), AK_TYPE_Q8_0, 1},
};

static const type_info *info(int t) {
    if (t < 0 || t >= AK_TYPE_COUNT || !k_types[t].name) return NULL;
    return &k_types[t];
}

int ak_type_supported(int type) { return info(type) != NULL; }

int ak_type_is_weight(int type) {
    const type_info *ti = info(type);
    return ti && ti->weight;
}

const char *ak_type_name(int type) {
    const type_info *ti = info(type);
    return ti ? ti->name : "unknown";
}

int ak_type_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < AK_TYPE_COUNT; t++)
        if (k_types[t].name && strcasecmp(k_types[t].name, name) == 0) return t;
    return -1;
}

int64_t ak_type_block_elems(ak_type t) {
    const type_info *ti = info((int)t);
    return ti ? ti->block_elems : 0;
}

size_t ak_type_block_bytes(ak_type t) {
    const type_info *ti = info((int)t);
    return ti ? ti->block_bytes : 0;
}

size_t ak_row_bytes(ak_type t, int64_t n) {
    const type_info *ti = info((int)t);
    if (!ti || n < 0 || n % ti->block_elems) return 0;
    return (size_t)(n / ti->block_elems) * ti->block_bytes;
}

ak_type ak_vec_dot_type(ak_type weight_type) {
    const type_info *ti = info((int)weight_type);
    return ti ? ti->vec_dot_type : AK_TYPE_F32;
}

size_t ak_encoded_row_bytes(ak_type weight_type, int64_t n) {
    return ak_row_bytes(ak_vec_dot_type(weight_type), n);
}
