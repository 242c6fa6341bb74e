/* cmd_train.c - adaptive-k train: train the small OLMoE-architecture model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "train/trainer.h"

static void usage(FILE *out, const ak_train_options *d) {
    fprintf(out,
            "usage: adaptive-k train --vocab VOCAB --train TEXT [options]\n"
            "  --vocab FILE       ak-bpe vocabulary from train-tokenizer\n"
            "  --train FILE       training text;  --valid FILE  validation text\n"
            "  --ckpt FILE        checkpoint (saved every --save-every steps and on Ctrl-C)\n"
            "  --resume           continue from --ckpt if it exists\n"
            "  --out FILE         GGUF written at the end;  --type f32|f16|q8_0 (default %s)\n"
            "  --export-only      load --ckpt and write --out, no training\n"
            "  model:  --layers %d --embd %d --heads %d --experts %d --top-k %d --ff %d --ctx %d\n"
            "          --aux-coef %g --z-coef %g --rope-theta %g\n"
            "  optim:  --steps %lld --batch %d --lr %g --warmup %lld --min-lr-ratio %g\n"
            "          --weight-decay %g --clip %g --seed %llu\n"
            "  --eval-every %d --eval-batches %d --save-every %d\n"
            "OpenBLAS threads: OPENBLAS_NUM_THREADS.\n",
            d->out_type, d->model.n_layer, d->model.n_embd, d->model.n_head, d->model.n_expert,
            d->model.n_expert_used, d->model.n_ff, d->model.n_ctx, d->model.aux_coef, d->model.z_coef,
            d->model.rope_theta, (long long)d->steps, d->n_seq, d->lr, (long long)d->warmup, d->min_lr_ratio,
            d->weight_decay, d->clip, (unsigned long long)d->seed, d->eval_every, d->eval_batches, d->save_every);
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "train: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_train(int argc, char **argv) {
    ak_train_options o;
    ak_train_default_options(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, &o);
            return 0;
        }
        if (!strcmp(a, "--resume")) {
            o.resume = 1;
            continue;
        }
        if (!strcmp(a, "--export-only")) {
            o.export_only = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "train: unknown option or missing value: '%s'\n", a);
            return 2;
        }
        const char *v = argv[++i];
        double x = 0;
        struct {
            const char *name;
            const char **str;
            double lo, hi;
            int *i32;
            int64_t *i64;
            float *f32;
        } opts[] = {
            {"--vocab", &o.vocab_path, 0, 0, NULL, NULL, NULL},
            {"--train", &o.train_path, 0, 0, NULL, NULL, NULL},
            {"--valid", &o.valid_path, 0, 0, NULL, NULL, NULL},
            {"--ckpt", &o.ckpt_path, 0, 0, NULL, NULL, NULL},
            {"--out", &o.out_path, 0, 0, NULL, NULL, NULL},
            {"--type", &o.out_type, 0, 0, NULL, NULL, NULL},
            {"--layers", NULL, 1, 64, &o.model.n_layer, NULL, NULL},
            {"--embd", NULL, 32, 8192, &o.model.n_embd, NULL, NULL},
            {"--heads", NULL, 1, 256, &o.model.n_head, NULL, NULL},
            {"--experts", NULL, 1, 256, &o.model.n_expert, NULL, NULL},
            {"--top-k", NULL, 1, 256, &o.model.n_expert_used, NULL, NULL},
            {"--ff", NULL, 32, 65536, &o.model.n_ff, NULL, NULL},
            {"--ctx", NULL, 2, 8192, &o.model.n_ctx, NULL, NULL},
            {"--batch", NULL, 1, 4096, &o.n_seq, NULL, NULL},
            {"--eval-every", NULL, 0, 1e9, &o.eval_every, NULL, NULL},
            {"--eval-batches", NULL, 1, 1e6, &o.eval_batches, NULL, NULL},
            {"--save-every", NULL, 0, 1e9, &o.save_every, NULL, NULL},
            {"--steps", NULL, 1, 1e12, NULL, &o.steps, NULL},
            {"--warmup", NULL, 0, 1e12, NULL, &o.warmup, NULL},
            {"--lr", NULL, 0, 10, NULL, NULL, &o.lr},
            {"--min-lr-ratio", NULL, 0, 1, NULL, NULL, &o.min_lr_ratio},
            {"--weight-decay", NULL, 0, 10, NULL, NULL, &o.weight_decay},
            {"--clip", NULL, 0, 1e6, NULL, NULL, &o.clip},
            {"--aux-coef", NULL, 0, 100, NULL, NULL, &o.model.aux_coef},
            {"--z-coef", NULL, 0, 100, NULL, NULL, &o.model.z_coef},
            {"--rope-theta", NULL, 2, 1e9, NULL, NULL, &o.model.rope_theta},
        };
        int found = 0;
        for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !found; k++) {
            if (strcmp(a, opts[k].name)) continue;
            found = 1;
            if (opts[k].str) {
                *opts[k].str = v;
                continue;
            }
            if (parse_num(a, v, opts[k].lo, opts[k].hi, &x)) return 2;
            if (opts[k].i32) *opts[k].i32 = (int)x;
            if (opts[k].i64) *opts[k].i64 = (int64_t)x;
            if (opts[k].f32) *opts[k].f32 = (float)x;
        }
        if (!strcmp(a, "--seed")) {
            if (parse_num(a, v, 0, 1e18, &x)) return 2;
            o.seed = (uint64_t)x;
            found = 1;
        }
        if (!found) {
            fprintf(stderr, "train: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!o.vocab_path || (!o.train_path && !o.export_only)) {
        usage(stderr, &o);
        return 2;
    }
    return ak_train_run(&o);
}
