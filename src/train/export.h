/* export.h - writes the trained model as a GGUF file that llama.cpp's olmoe loader and
 * our engine read: olmoe.* hyper-parameters, the BPE vocabulary (tokenizer.ggml.model
 * "gpt2", pre "olmo": llama.cpp's name for the GPT-2 split that OLMoE files use), and the
 * weights in F32, F16 or Q8_0 (norms and the router stay F32, as llama.cpp's quantizer
 * keeps them). */
#ifndef AK_TRAIN_EXPORT_H
#define AK_TRAIN_EXPORT_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>

#include "bpe.h"
#include "moe_model.h"

/* type: 0 (f32), 1 (f16) or 8 (q8_0), the ggml type ids. 0 on success. */
int ak_moe_export_gguf(ak_moe_model *m, const ak_bpe *vocab, const char *path, int type, const char *name,
                       ak_error *err);

#endif
