/* logits.h - router logits for the routing commands: a .npy file ([tokens][experts] or
 * [layers][tokens][experts], float32 or float16) or raw little-endian float32 values
 * with the expert count given by the caller. */
#ifndef AK_IO_LOGITS_H
#define AK_IO_LOGITS_H

#include "adaptivek.h" /* ak_error */
#include "io/npy.h"

#define AK_MAX_LAYERS 4096

typedef struct {
    int n_layers; /* 1 for 2-D input */
    int n_tokens;
    int n_experts;
    int is_npy;
    ak_dtype source_dtype;
    const float *data; /* [n_layers][n_tokens][n_experts] */
    ak_f32_array array_;
} ak_logits;

/* n_experts: 0 to take it from the .npy shape; required (> 0) for raw input, and for
 * .npy input it must match the last dimension. A file is .npy if it starts with the
 * .npy magic. Errors name the file. */
ak_status ak_logits_load(const char *path, int n_experts, ak_logits *out, ak_error *err);
void ak_logits_free(ak_logits *l);

static inline const float *ak_logits_layer(const ak_logits *l, int layer) {
    return l->data + (size_t)layer * (size_t)l->n_tokens * (size_t)l->n_experts;
}

#endif
