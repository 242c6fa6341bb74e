/* gguf_types.c - value types and the ggml tensor type table (block sizes from ggml's
 * type_traits), plus the shape -> byte size rule shared by reader and writer. */
#include <stdio.h>

#include "base/errfmt.h"
#include "gguf/gguf.h"

typedef struct {
    const char *name;
    int64_t block_elems; /* 0: id not in use (never assigned, or removed from ggml) */
    size_t block_bytes;
} ggml_type_row;

static const ggml_type_row ggml_types[] = {
    [0] = {"f32", 1, 4},        [1] = {"f16", 1, 2},       [2] = {"q4_0", 32, 18},
    [3] = {"q4_1", 32, 20},     [6] = {"q5_0", 32, 22},    [7] = {"q5_1", 32, 24},
    [8] = {"q8_0", 32, 34},     [9] = {"q8_1", 32, 36},    [10] = {"q2_K", 256, 84},
    [11] = {"q3_K", 256, 110},  [12] = {"q4_K", 256, 144}, [13] = {"q5_K", 256, 176},
    [14] = {"q6_K", 256, 210},  [15] = {"q8_K", 256, 292}, [16] = {"iq2_xxs", 256, 66},
    [17] = {"iq2_xs", 256, 74}, [18] = {"iq3_xxs", 256, 98}, [19] = {"iq1_s", 256, 50},
    [20] = {"iq4_nl", 32, 18},  [21] = {"iq3_s", 256, 110}, [22] = {"iq2_s", 256, 82},
    [23] = {"iq4_xs", 256, 136}, [24] = {"i8", 1, 1},      [25] = {"i16", 1, 2},
    [26] = {"i32", 1, 4},       [27] = {"i64", 1, 8},      [28] = {"f64", 1, 8},
    [29] = {"iq1_m", 256, 56},  [30] = {"bf16", 1, 2},     [34] = {"tq1_0", 256, 54},
    [35] = {"tq2_0", 256, 66},  [39] = {"mxfp4", 32, 17},  [40] = {"nvfp4", 64, 36},
    [41] = {"q1_0", 128, 18},   [42] = {"q2_0", 64, 18},
};
#define N_GGML_TYPES ((int)(sizeof ggml_types / sizeof ggml_types[0]))

int gguf_ggml_type_info(int type, const char **name, int64_t *block_elems, size_t *block_bytes) {
    if (type < 0 || type >= N_GGML_TYPES || ggml_types[type].block_elems == 0) return 0;
    if (name) *name = ggml_types[type].name;
    if (block_elems) *block_elems = ggml_types[type].block_elems;
    if (block_bytes) *block_bytes = ggml_types[type].block_bytes;
    return 1;
}

int gguf_tensor_nbytes(int type, uint32_t n_dims, const int64_t *ne, uint64_t *nbytes, ak_error *err) {
    int64_t blk;
    size_t bsize;
    if (!gguf_ggml_type_info(type, NULL, &blk, &bsize)) {
        ak_failf(err, AK_ERR_FORMAT, "unknown ggml type %d", type);
        return -1;
    }
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        ak_failf(err, AK_ERR_FORMAT, "n_dims %u is not in 1..%d", n_dims, GGUF_MAX_DIMS);
        return -1;
    }
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 0) {
            ak_failf(err, AK_ERR_FORMAT, "ne[%u] = %lld is negative", d, (long long)ne[d]);
            return -1;
        }
    }
    if (ne[0] % blk != 0) {
        ak_failf(err, AK_ERR_FORMAT, "ne[0] = %lld is not a multiple of the %s block size %lld",
                 (long long)ne[0], ggml_types[type].name, (long long)blk);
        return -1;
    }
    /* Element count must fit int64 (ggml's nelements), and the byte count uint64. */
    int64_t nelem = 1;
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)(ne[0] / blk), (uint64_t)bsize, &bytes)) goto overflow;
    for (uint32_t d = 0; d < n_dims; d++)
        if (__builtin_mul_overflow(nelem, ne[d], &nelem)) goto overflow;
    for (uint32_t d = 1; d < n_dims; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)ne[d], &bytes)) goto overflow;
    *nbytes = bytes;
    return 0;
overflow:
    ak_failf(err, AK_ERR_FORMAT, "shape [%lld, %lld, %lld, %lld] overflows", (long long)ne[0],
             (long long)(n_dims > 1 ? ne[1] : 1), (long long)(n_dims > 2 ? ne[2] : 1),
             (long long)(n_dims > 3 ? ne[3] : 1));
    return -1;
}

const char *gguf_type_name(gguf_type t) {
    static const char *const names[GGUF_TYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                       "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

size_t gguf_type_size(gguf_type t) {
    static const size_t sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return (unsigned)t < GGUF_TYPE_COUNT ? sizes[t] : 0;
}

int gguf_str_eq(gguf_str s, const char *c) {
    size_t n = 0;
    while (c[n]) n++;
    if (s.len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (s.ptr[i] != c[i]) return 0;
    return 1;
}
