/* fixture.c - builds and writes the tiny test models (see fixture.h). */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

fx_params fx_default(const char *arch) {
    fx_params p = {arch, 2, 64, 4, 2, 16, 32, 0, 6, 2, 40, 64, 0, 1234, 0};
    if (!strcmp(arch, "qwen2moe")) p.n_ff_shexp = 64;
    if (!strcmp(arch, "qwen3moe")) p.head_dim = 32; /* n_head * head_dim != n_embd, as in Qwen3 */
    return p;
}

static uint32_t rng_next(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static float rng_uniform(uint32_t *s) { return (float)(rng_next(s) >> 8) / 16777216.0f * 2.0f - 1.0f; }

static void add(fx_model *m, uint32_t *rng, const char *name, int nd, int64_t n0, int64_t n1, int64_t n2,
                float scale, float offset) {
    fx_tensor *t = &m->t[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->nd = nd;
    t->ne[0] = n0;
    t->ne[1] = n1;
    t->ne[2] = n2;
    size_t n = (size_t)(n0 * n1 * n2);
    t->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) t->data[i] = offset + scale * rng_uniform(rng);
}

fx_model *fx_build(const fx_params *p) {
    fx_model *m = calloc(1, sizeof *m);
    m->p = *p;
    uint32_t rng = p->seed ? p->seed : 1;
    const int64_t E = p->n_embd, q = (int64_t)p->n_head * p->head_dim, kv = (int64_t)p->n_head_kv * p->head_dim;
    const float sE = 1.0f / sqrtf((float)E);
    int olmoe = !strcmp(p->arch, "olmoe"), q2 = !strcmp(p->arch, "qwen2moe"), q3 = !strcmp(p->arch, "qwen3moe");
    add(m, &rng, "token_embd.weight", 2, E, p->n_vocab, 1, 1.0f, 0.0f);
    add(m, &rng, "output_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
    if (!p->tied) add(m, &rng, "output.weight", 2, E, p->n_vocab, 1, 2.0f * sE, 0.0f);
    char n[64];
    for (int il = 0; il < p->n_layer; il++) {
#define N(s) (snprintf(n, sizeof n, "blk.%d.%s", il, s), n)
        add(m, &rng, N("attn_norm.weight"), 1, E, 1, 1, 0.2f, 1.0f);
        add(m, &rng, N("attn_q.weight"), 2, E, q, 1, sE, 0.0f);
        add(m, &rng, N("attn_k.weight"), 2, E, kv, 1, sE, 0.0f);
        add(m, &rng, N("attn_v.weight"), 2, E, kv, 1, sE, 0.0f);
        add(m, &rng, N("attn_output.weight"), 2, q, E, 1, 1.0f / sqrtf((float)q), 0.0f);
        if (q2) {
            add(m, &rng, N("attn_q.bias"), 1, q, 1, 1, 0.1f, 0.0f);
            add(m, &rng, N("attn_k.bias"), 1, kv, 1, 1, 0.1f, 0.0f);
            add(m, &rng, N("attn_v.bias"), 1, kv, 1, 1, 0.1f, 0.0f);
        }
        if (olmoe) {
            add(m, &rng, N("attn_q_norm.weight"), 1, q, 1, 1, 0.2f, 1.0f);
            add(m, &rng, N("attn_k_norm.weight"), 1, kv, 1, 1, 0.2f, 1.0f);
        }
        if (q3) {
            add(m, &rng, N("attn_q_norm.weight"), 1, p->head_dim, 1, 1, 0.2f, 1.0f);
            add(m, &rng, N("attn_k_norm.weight"), 1, p->head_dim, 1, 1, 0.2f, 1.0f);
        }
        add(m, &rng, N("ffn_norm.weight"), 1, E, 1, 1, 0.2f, 1.0f);
        /* a strong router so that top-k choices are far from ties */
        add(m, &rng, N("ffn_gate_inp.weight"), 2, E, p->n_expert, 1, 3.0f * sE, 0.0f);
        add(m, &rng, N("ffn_gate_exps.weight"), 3, E, p->n_ff, p->n_expert, sE, 0.0f);
        add(m, &rng, N("ffn_up_exps.weight"), 3, E, p->n_ff, p->n_expert, sE, 0.0f);
        add(m, &rng, N("ffn_down_exps.weight"), 3, p->n_ff, E, p->n_expert, 1.0f / sqrtf((float)p->n_ff), 0.0f);
        if (q2) {
            add(m, &rng, N("ffn_gate_inp_shexp.weight"), 1, E, 1, 1, sE, 0.0f);
            add(m, &rng, N("ffn_gate_shexp.weight"), 2, E, p->n_ff_shexp, 1, sE, 0.0f);
            add(m, &rng, N("ffn_up_shexp.weight"), 2, E, p->n_ff_shexp, 1, sE, 0.0f);
            add(m, &rng, N("ffn_down_shexp.weight"), 2, p->n_ff_shexp, E, 1, 1.0f / sqrtf((float)p->n_ff_shexp), 0.0f);
        }
#undef N
    }
    return m;
}

void fx_free(fx_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_tensors; i++) free(m->t[i].data);
    free(m);
}

const fx_tensor *fx_get(const fx_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->t[i].name, name)) return &m->t[i];
    return NULL;
}

int fx_write(const fx_model *m, const char *path, int wtype, const fx_faults *f) {
    const fx_params *p = &m->p;
    gguf_writer *w = gguf_writer_new();
    char key[128];
    const char *arch = f && f->arch_override ? f->arch_override : p->arch;
    gguf_set_str(w, "general.architecture", arch);
#define K(s) (snprintf(key, sizeof key, "%s.%s", arch, s), key)
    gguf_set_u32(w, K("block_count"), (uint32_t)p->n_layer);
    gguf_set_u32(w, K("embedding_length"), (uint32_t)p->n_embd);
    gguf_set_u32(w, K("attention.head_count"), (uint32_t)p->n_head);
    gguf_set_u32(w, K("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    gguf_set_u32(w, K("attention.key_length"), (uint32_t)p->head_dim);
    gguf_set_u32(w, K("attention.value_length"), (uint32_t)p->head_dim);
    gguf_set_u32(w, K("context_length"), (uint32_t)p->n_ctx);
    gguf_set_u32(w, K("expert_count"), (uint32_t)p->n_expert);
    gguf_set_u32(w, K("expert_used_count"),
                 (uint32_t)(f && f->expert_used_override > 0 ? f->expert_used_override : p->n_expert_used));
    if (!strcmp(p->arch, "olmoe") || !strcmp(p->arch, "llama")) {
        gguf_set_u32(w, K("feed_forward_length"), (uint32_t)p->n_ff);
    } else {
        gguf_set_u32(w, K("feed_forward_length"), (uint32_t)(p->n_ff * 3));
        gguf_set_u32(w, K("expert_feed_forward_length"), (uint32_t)p->n_ff);
    }
    if (p->n_ff_shexp) gguf_set_u32(w, K("expert_shared_feed_forward_length"), (uint32_t)p->n_ff_shexp);
    gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
    gguf_set_f32(w, K("rope.freq_base"), 10000.0f);
    if (p->vocab_none) {
        gguf_set_str(w, "tokenizer.ggml.model", "none");
        gguf_set_u32(w, K("vocab_size"), (uint32_t)p->n_vocab);
    }
#undef K

    void *bufs[260];
    int nbufs = 0, rc = 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const fx_tensor *t = &m->t[i];
        if (f && f->skip && !strcmp(f->skip, t->name)) continue;
        int type = t->nd == 1 ? AK_TYPE_F32 : wtype;
        int64_t ne[3] = {t->ne[0], t->ne[1], t->ne[2]};
        size_t row = ak_row_bytes((ak_type)type, ne[0]);
        size_t rows = (size_t)(ne[1] * ne[2]);
        if (row == 0) {
            fprintf(stderr, "fx_write: cannot write %s as type %d\n", t->name, type);
            rc = -1;
            break;
        }
        uint8_t *d = malloc(row * rows);
        for (size_t r = 0; r < rows; r++) {
            if (type == AK_TYPE_F32)
                memcpy(d + r * row, t->data + r * (size_t)ne[0], row);
            else
                ak_quantize_row((ak_type)type, t->data + r * (size_t)ne[0], d + r * row, ne[0]);
        }
        if (f && f->transpose && !strcmp(f->transpose, t->name)) {
            int64_t tmp = ne[0];
            ne[0] = ne[1];
            ne[1] = tmp;
        }
        bufs[nbufs++] = d;
        rc = gguf_add_tensor(w, t->name, type, (uint32_t)t->nd, ne, d, row * rows);
    }
    static float legacy[64 * 64];
    if (!rc && f && f->legacy_experts) {
        int64_t ne[2] = {p->n_embd, p->n_ff};
        rc = gguf_add_tensor(w, "blk.0.ffn_gate.0.weight", AK_TYPE_F32, 2, ne, legacy,
                             (uint64_t)(p->n_embd * p->n_ff) * 4);
    }
    ak_error err = {0};
    if (!rc && gguf_writer_write(w, path, &err)) {
        fprintf(stderr, "fx_write %s: %s\n", path, err.msg);
        rc = -1;
    }
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    gguf_writer_free(w);
    return rc;
}
