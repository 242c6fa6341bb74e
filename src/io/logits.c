/* logits.c - loading router logits from .npy or raw float32 files. */
#include "io/logits.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/errfmt.h"

static int starts_with_npy_magic(const char *path, ak_error *err, int *is_npy) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ak_error_setf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char b[6] = {0};
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    *is_npy = n >= 1 && b[0] == 0x93 && (n < 6 || !memcmp(b + 1, "NUMPY", 5));
    return AK_OK;
}

ak_status ak_logits_load(const char *path, int n_experts, ak_logits *out, ak_error *err) {
    memset(out, 0, sizeof *out);
    if (n_experts < 0 || n_experts > AK_MAX_EXPERTS)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "--experts %d is outside 1..%d", n_experts, AK_MAX_EXPERTS);
    int is_npy = 0;
    ak_status s = starts_with_npy_magic(path, err, &is_npy);
    if (s) return s;
    ak_f32_array *a = &out->array_;
    if (is_npy) {
        s = ak_npy_load_f32(path, a, err);
    } else {
        if (n_experts == 0)
            return ak_error_setf(err, AK_ERR_INVALID_ARG,
                              "%s: not a .npy file; raw float32 input needs --experts N", path);
        s = ak_raw_load_f32(path, n_experts, a, err);
    }
    if (s) return s;
    int64_t layers = 1, tokens, experts;
    if (a->ndim == 2) {
        tokens = a->shape[0];
        experts = a->shape[1];
    } else if (a->ndim == 3) {
        layers = a->shape[0];
        tokens = a->shape[1];
        experts = a->shape[2];
    } else {
        int ndim = a->ndim;
        ak_f32_array_free(a);
        return ak_error_setf(err, AK_ERR_IO,
                          "%s: has %d dimension(s); need [tokens][experts] or [layers][tokens][experts]", path, ndim);
    }
    const char *bad = NULL;
    if (experts < 1 || experts > AK_MAX_EXPERTS) bad = "experts per row outside 1..1024";
    else if (tokens < 1 || tokens > INT_MAX) bad = "token count outside 1..2^31-1";
    else if (layers < 1 || layers > AK_MAX_LAYERS) bad = "layer count outside 1..4096";
    if (bad) {
        ak_f32_array_free(a);
        return ak_error_setf(err, AK_ERR_IO, "%s: %s", path, bad);
    }
    if (n_experts && experts != n_experts) {
        ak_f32_array_free(a);
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "%s: rows have %lld experts but --experts says %d", path,
                          (long long)experts, n_experts);
    }
    out->n_layers = (int)layers;
    out->n_tokens = (int)tokens;
    out->n_experts = (int)experts;
    out->is_npy = is_npy;
    out->source_dtype = a->source_dtype;
    out->data = a->data;
    return AK_OK;
}

void ak_logits_free(ak_logits *l) {
    if (!l) return;
    ak_f32_array_free(&l->array_);
    memset(l, 0, sizeof *l);
}
