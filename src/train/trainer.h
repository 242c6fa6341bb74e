/* trainer.h - the training loop: data, batches, schedule, evaluation, progress,
 * checkpoints (resumable; SIGINT/SIGTERM save and stop) and the final GGUF export. */
#ifndef AK_TRAIN_TRAINER_H
#define AK_TRAIN_TRAINER_H

#include <stdint.h>

#include "moe_model.h"

typedef struct {
    const char *vocab_path;  /* ak-bpe file from train-tokenizer */
    const char *train_path;  /* training text */
    const char *valid_path;  /* validation text (may be NULL) */
    const char *ckpt_path;   /* checkpoint file (may be NULL: no checkpoints) */
    const char *out_path;    /* GGUF written at the end (may be NULL) */
    const char *out_type;    /* "f32", "f16" or "q8_0" */
    int resume;              /* continue from ckpt_path if it exists */
    int export_only;         /* load ckpt_path and export, no training */
    ak_moe_config model;     /* n_vocab is taken from the vocabulary */
    int n_seq;               /* sequences per batch */
    int64_t steps;
    int64_t warmup;
    float lr, min_lr_ratio, weight_decay, clip;
    uint64_t seed;
    int eval_every, eval_batches, save_every;
} ak_train_options;

void ak_train_default_options(ak_train_options *o);
/* Runs the whole thing; returns a process exit status (0 done, 130 interrupted). */
int ak_train_run(const ak_train_options *o);

#endif
