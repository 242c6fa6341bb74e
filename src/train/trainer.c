/* trainer.c - the training loop around ak_moe_model. */
#include "trainer.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "export.h"
#include "base/clock.h"
#include "base/file.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

void ak_train_default_options(ak_train_options *o) {
    memset(o, 0, sizeof *o);
    o->out_type = "f16";
    o->model = (ak_moe_config){4096, 256, 256, 6, 4, 16, 4, 128, 10000.0f, 1e-5f, 0.01f, 0.001f};
    o->n_seq = 16;
    o->steps = 2000;
    o->warmup = 100;
    o->lr = 3e-3f;
    o->min_lr_ratio = 0.1f;
    o->weight_decay = 0.1f;
    o->clip = 1.0f;
    o->seed = 1;
    o->eval_every = 200;
    o->eval_batches = 8;
    o->save_every = 100;
}

static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int32_t *encode_file(ak_bpe *vocab, const char *path, size_t *n) {
    ak_error err = {0};
    size_t len;
    char *text = ak_read_file(path, &len, &err);
    if (!text) {
        fprintf(stderr, "train: %s\n", err.msg);
        return NULL;
    }
    int32_t *ids = NULL;
    if (ak_bpe_encode(vocab, text, len, &ids, n)) fprintf(stderr, "train: out of memory encoding %s\n", path);
    free(text);
    return ids;
}

/* A window of T+1 tokens from the stream; the first input is BOS, as llama-perplexity
 * does with each chunk it scores. */
static void make_sequence(int32_t *in, int32_t *tg, const int32_t *tok, size_t start, int T, int bos) {
    for (int i = 0; i < T; i++) {
        in[i] = i == 0 ? bos : tok[start + (size_t)i];
        tg[i] = tok[start + (size_t)i + 1];
    }
}

/* Mean cross-entropy over the first eval_batches batches of consecutive windows. */
static double evaluate(ak_moe_model *m, const int32_t *tok, size_t n_tok, int n_seq, int T, int bos,
                       int n_batches, int32_t *in, int32_t *tg) {
    double sum = 0;
    int done = 0;
    for (int b = 0; b < n_batches; b++) {
        size_t first = (size_t)b * n_seq * T;
        if (first + (size_t)n_seq * T + 1 > n_tok) break;
        for (int s = 0; s < n_seq; s++)
            make_sequence(in + (size_t)s * T, tg + (size_t)s * T, tok, first + (size_t)s * T, T, bos);
        sum += ak_moe_model_step(m, in, tg, 0, NULL, NULL);
        done++;
    }
    return done ? sum / done : NAN;
}

static void format_eta(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) s = 0;
    snprintf(buf, cap, "%d:%02d:%02d", (int)(s / 3600), (int)fmod(s / 60, 60), (int)fmod(s, 60));
}

/* With --resume or --export-only and an existing checkpoint, the model's shape from it: 1;
 * 0 when training starts afresh; -1 once the message is printed. */
static int resume_config(const ak_train_options *o, ak_moe_config *cfg) {
    ak_error err = {0};
    if ((o->resume || o->export_only) && o->ckpt_path && access(o->ckpt_path, F_OK) == 0) {
        if (ak_moe_checkpoint_read_config(o->ckpt_path, cfg, &err)) {
            fprintf(stderr, "train: %s\n", err.msg);
            return -1;
        }
        return 1;
    }
    if (o->export_only) {
        fprintf(stderr, "train: --export-only needs an existing --ckpt\n");
        return -1;
    }
    return 0;
}

/* The training and validation texts encoded, and the batch buffers (n_seq x T tokens). 0, or
 * -1 once the message is printed. */
static int load_data(const ak_train_options *o, ak_bpe *vocab, int n_seq, int T, int32_t **train, size_t *n_train,
                     int32_t **valid, size_t *n_valid, int32_t **in, int32_t **tg) {
    double t_enc = ak_now();
    if (!(*train = encode_file(vocab, o->train_path, n_train))) return -1;
    if (o->valid_path && !(*valid = encode_file(vocab, o->valid_path, n_valid))) return -1;
    if (*n_train < (size_t)T + 2) {
        fprintf(stderr, "train: %s has %zu tokens, fewer than one context of %d\n", o->train_path, *n_train, T);
        return -1;
    }
    *in = malloc((size_t)n_seq * T * sizeof **in);
    *tg = malloc((size_t)n_seq * T * sizeof **tg);
    if (!*in || !*tg) {
        fprintf(stderr, "train: out of memory\n");
        return -1;
    }
    printf("train: %zu training tokens, %zu validation tokens (encoded in %.1f s)\n", *n_train, *n_valid,
           ak_now() - t_enc);
    return 0;
}

static void print_plan(const ak_train_options *o, const ak_moe_config *cfg, const ak_moe_model *m, int n_seq,
                       size_t n_train) {
    const int T = cfg->n_ctx;
    printf("train: olmoe %d layers, width %d, %d heads, %d experts (top-%d, width %d), context %d, vocab %d\n",
           cfg->n_layer, cfg->n_embd, cfg->n_head, cfg->n_expert, cfg->n_expert_used, cfg->n_ff, cfg->n_ctx,
           cfg->n_vocab);
    printf("train: %.2fM parameters, %.2fM active per token; %lld steps x %d x %d = %.1fM tokens (%.2f epochs)\n",
           ak_moe_model_n_params(m) / 1e6, ak_moe_model_n_active(m) / 1e6, (long long)o->steps, n_seq, T,
           (double)o->steps * n_seq * T / 1e6, (double)o->steps * n_seq * T / (double)n_train);
}

/* The progress line: a bar, the loss, the learning rate, speed and time left (eta_s seconds). */
static void print_progress(const ak_train_options *o, int tty, int64_t step, double ce, double ema, double aux,
                           float lr, double gnorm, double tps, double eta_s) {
    char eta[32];
    format_eta(eta, sizeof eta, eta_s);
    int width = 24, fill = (int)(width * step / o->steps);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    printf("%s[%s] %lld/%lld loss %.3f (avg %.3f) aux %.3f lr %.2e |g| %.2f %.0f tok/s ETA %s%s", tty ? "\r" : "", bar,
           (long long)step, (long long)o->steps, ce, ema, aux, lr, gnorm, tps, eta, tty ? "  " : "\n");
    fflush(stdout);
}

/* The checkpoint with the best validation loss so far, as CKPT.best. */
static void save_best(ak_moe_model *m, const char *ckpt_path, int64_t step, uint64_t rng) {
    char best[4096];
    ak_error err = {0};
    snprintf(best, sizeof best, "%s.best", ckpt_path);
    if (ak_moe_checkpoint_save(m, best, step, rng, &err)) fprintf(stderr, "train: %s\n", err.msg);
}

/* Writes the GGUF file of --out. 0, or -1 once the message is printed. */
static int export_model(const ak_train_options *o, ak_moe_model *m, ak_bpe *vocab) {
    ak_error err = {0};
    int type = !strcmp(o->out_type, "f32") ? 0 : !strcmp(o->out_type, "f16") ? 1 : !strcmp(o->out_type, "q8_0") ? 8 : -1;
    if (type < 0) {
        fprintf(stderr, "train: unknown --type '%s' (f32, f16, q8_0)\n", o->out_type);
        return -1;
    }
    if (ak_moe_export_gguf(m, vocab, o->out_path, type, "adaptive-k OLMoE-tiny (SOTU)", &err)) {
        fprintf(stderr, "train: %s\n", err.msg);
        return -1;
    }
    printf("train: wrote %s (%s)\n", o->out_path, o->out_type);
    return 0;
}

int ak_train_run(const ak_train_options *o) {
    ak_error err = {0};
    int status = 1;
    ak_bpe *vocab = ak_bpe_load(o->vocab_path, &err);
    if (!vocab) {
        fprintf(stderr, "train: %s\n", err.msg);
        return 1;
    }
    ak_moe_config cfg = o->model;
    cfg.n_vocab = ak_bpe_n_tokens(vocab);
    int resuming = resume_config(o, &cfg);
    if (resuming < 0) {
        ak_bpe_free(vocab);
        return 1;
    }
    int n_seq = o->export_only ? 1 : o->n_seq, T = cfg.n_ctx, bos = ak_bpe_eot(vocab);
    ak_moe_model *m = ak_moe_model_new(&cfg, n_seq, o->seed, &err);
    int32_t *train = NULL, *valid = NULL, *in = NULL, *tg = NULL;
    size_t n_train = 0, n_valid = 0;
    if (!m) {
        fprintf(stderr, "train: %s\n", err.msg);
        goto done;
    }
    int64_t step = 0;
    uint64_t rng = o->seed * 0x2545F4914F6CDD1DULL + 1;
    if (resuming) {
        if (ak_moe_checkpoint_load(m, o->ckpt_path, &step, &rng, &err)) {
            fprintf(stderr, "train: %s\n", err.msg);
            goto done;
        }
        fprintf(stderr, "train: resumed from %s at step %lld\n", o->ckpt_path, (long long)step);
    }
    if (o->export_only) goto export;

    if (load_data(o, vocab, n_seq, T, &train, &n_train, &valid, &n_valid, &in, &tg)) goto done;
    print_plan(o, &cfg, m, n_seq, n_train);
    fflush(stdout);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int tty = isatty(fileno(stdout));
    ak_adamw opt = {o->lr, 0.9f, 0.95f, 1e-8f, o->weight_decay, o->clip};
    double t_start = ak_now(), ema = NAN, best_valid = INFINITY;
    int64_t first_step = step;
    while (step < o->steps && !stop_requested) {
        for (int s = 0; s < n_seq; s++) {
            size_t start = (size_t)(next_rand(&rng) % (n_train - (size_t)T - 1));
            make_sequence(in + (size_t)s * T, tg + (size_t)s * T, train, start, T, bos);
        }
        ak_moe_model_zero_grad(m);
        double aux;
        double ce = ak_moe_model_step(m, in, tg, 1, &aux, NULL);
        opt.lr = ak_lr_schedule(step, o->warmup, o->steps, o->lr, o->min_lr_ratio);
        double gnorm = ak_moe_model_adamw(m, &opt, step);
        step++;
        ema = isnan(ema) ? ce : 0.95 * ema + 0.05 * ce;
        double elapsed = ak_now() - t_start, tps = (double)(step - first_step) * n_seq * T / elapsed;
        if (tty || step % 10 == 0 || step == o->steps)
            print_progress(o, tty, step, ce, ema, aux, opt.lr, gnorm, tps, (double)(o->steps - step) * n_seq * T / tps);
        if (valid && o->eval_every > 0 && (step % o->eval_every == 0 || step == o->steps)) {
            double vl = evaluate(m, valid, n_valid, n_seq, T, bos, o->eval_batches, in, tg);
            printf("%sstep %lld: validation loss %.4f, perplexity %.2f\n", tty ? "\n" : "", (long long)step, vl,
                   exp(vl));
            if (o->ckpt_path && vl < best_valid) save_best(m, o->ckpt_path, step, rng), best_valid = vl;
            fflush(stdout);
        }
        if (o->ckpt_path && o->save_every > 0 && step % o->save_every == 0 &&
            ak_moe_checkpoint_save(m, o->ckpt_path, step, rng, &err))
            fprintf(stderr, "\ntrain: %s\n", err.msg);
    }
    if (tty) printf("\n");
    if (o->ckpt_path) {
        if (ak_moe_checkpoint_save(m, o->ckpt_path, step, rng, &err)) {
            fprintf(stderr, "train: %s\n", err.msg);
            goto done;
        }
        printf("train: checkpoint at step %lld saved to %s\n", (long long)step, o->ckpt_path);
    }
    if (stop_requested) {
        printf("train: interrupted; resume with the same command and --resume\n");
        status = 130;
        goto done;
    }
    printf("train: %lld steps in %.1f min\n", (long long)(step - first_step), (ak_now() - t_start) / 60);
export:
    if (o->out_path && export_model(o, m, vocab)) goto done;
    status = 0;
done:
    free(in);
    free(tg);
    free(train);
    free(valid);
    ak_moe_model_free(m);
    ak_bpe_free(vocab);
    return status;
}
