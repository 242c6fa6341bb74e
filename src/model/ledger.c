/* ledger.c - the routing ledger (model.h): per layer, the K the tokens chose and what the
 * routed experts cost, against what the native top-k would have cost. Kept out of the
 * forward pass, which only calls ak_ledger_record once per MoE layer and batch. */
#include <string.h>

#include "base/errfmt.h"
#include "model/model_internal.h"

/* Distinct experts of the native routing of the batch (each is read once per batch). */
static int native_unique(ak_context *c, int n_tok) {
    const int X = c->hp.n_expert, K = c->hp.n_expert_used;
    memset(c->mark, 0, (size_t)X);
    int n = 0;
    for (int t = 0; t < n_tok; t++)
        for (int s = 0; s < c->native_k[t]; s++) {
            int e = c->native_ids[(size_t)t * K + s];
            if (!c->mark[e]) c->mark[e] = 1, n++;
        }
    return n;
}

/* The native top-k's routing of the same logits into native_k / native_ids. */
static int route_native(ak_context *c, int il, int n_tok, const ak_route_out *ro, ak_error *err) {
    const int K = c->hp.n_expert_used;
    if (c->native_policy) {
        for (int t = 0; t < n_tok; t++) {
            c->native_k[t] = ro->k[t];
            memcpy(c->native_ids + (size_t)t * K, ro->ids + (size_t)t * ro->slots, (size_t)K * sizeof(int32_t));
        }
        return 0;
    }
    ak_route_out no = {n_tok, K, c->native_k, c->native_ids, c->native_w, c->native_h};
    ak_error e;
    if (ak_route(&c->native, c->router_logits, n_tok, c->hp.n_expert, c->hp.renormalize, &no, &e) != AK_OK)
        return ak_failf(err, e.code, "layer %d native routing: %s", il, e.msg);
    return 0;
}

int ak_ledger_record(ak_context *c, int il, int n_tok, const ak_route_out *ro, ak_error *err) {
    const ak_layer *l = &c->model->layers[il];
    const uint64_t per_expert = 3ull * (uint64_t)c->hp.n_embd * (uint64_t)c->hp.n_ff_exp;
    const uint64_t expert_bytes = l->gate_exps.mat_bytes + l->up_exps.mat_bytes + l->down_exps.mat_bytes;
    const uint64_t n_assign = (uint64_t)c->exp_off[c->hp.n_expert];
    ak_layer_ledger *lg = &c->ledger[il];
    ak_compute_counters *cn = &c->counters;
    ak_stats_add(&lg->k, ro);
    lg->expert_macs += n_assign * per_expert;
    lg->expert_bytes += (uint64_t)c->n_active * expert_bytes;
    cn->expert_macs += n_assign * per_expert;
    cn->model_macs += n_assign * per_expert;
    cn->expert_bytes_read += (uint64_t)c->n_active * expert_bytes;
    if (!c->native_baseline) return 0;
    if (route_native(c, il, n_tok, ro, err)) return -1;
    const uint64_t macs_native = (uint64_t)n_tok * (uint64_t)c->hp.n_expert_used * per_expert;
    const uint64_t bytes_native = (uint64_t)native_unique(c, n_tok) * expert_bytes;
    lg->expert_macs_native += macs_native;
    lg->expert_bytes_native += bytes_native;
    cn->expert_macs_native += macs_native;
    cn->model_macs_native += macs_native;
    cn->expert_bytes_read_native += bytes_native;
    return 0;
}

double ak_context_avg_k(const ak_context *c) {
    uint64_t k = 0, n = 0;
    for (int l = 0; l < c->hp.n_layer; l++) k += c->ledger[l].k.k_sum, n += c->ledger[l].k.n_tokens;
    return n ? (double)k / (double)n : 0.0;
}

static double per(uint64_t v, uint64_t n) { return n ? (double)v / (double)n : 0.0; }
static double saved(uint64_t v, uint64_t native) { return native ? 100.0 * (1.0 - (double)v / (double)native) : 0.0; }

void ak_context_print_ledger(const ak_context *c, FILE *out) {
    const int L = c->hp.n_layer;
    fprintf(out, "compute per layer, per token (native = the model's top-%d):\n", c->hp.n_expert_used);
    fprintf(out, "  layer  avg K  expert MACs (native)   saved  expert bytes read (native)   saved\n");
    ak_layer_ledger tot;
    memset(&tot, 0, sizeof tot);
    uint64_t tokens = 0;
    for (int l = 0; l <= L; l++) {
        const ak_layer_ledger *g = l < L ? &c->ledger[l] : &tot;
        const uint64_t n = l < L ? g->k.n_tokens : tokens;
        if (l < L) {
            fprintf(out, "  %5d", l);
            tot.k.k_sum += g->k.k_sum;
            tot.expert_macs += g->expert_macs, tot.expert_macs_native += g->expert_macs_native;
            tot.expert_bytes += g->expert_bytes, tot.expert_bytes_native += g->expert_bytes_native;
            if (g->k.n_tokens > tokens) tokens = g->k.n_tokens;
        } else {
            fprintf(out, "    all");
        }
        fprintf(out, "  %5.3f  %9.4g (%9.4g)  %5.1f%%  %11.4g (%11.4g)  %5.1f%%\n",
                l < L ? per(g->k.k_sum, n) : per(g->k.k_sum, n * (uint64_t)L), per(g->expert_macs, n),
                per(g->expert_macs_native, n), saved(g->expert_macs, g->expert_macs_native), per(g->expert_bytes, n),
                per(g->expert_bytes_native, n), saved(g->expert_bytes, g->expert_bytes_native));
    }
}
