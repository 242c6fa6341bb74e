/* ledger.c - the routing ledger (model.h): per layer, the K the tokens chose and what the
 * routed experts cost, against what the native top-k would have cost. Kept out of the
 * forward pass, which only calls ak_ledger_record once per MoE layer and batch. */
#include <string.h>

#include "base/errfmt.h"
#include "model/model_internal.h"

/* Distinct experts among n tokens' choices (k[t] ids each, rows of `stride`): what a batch
 * of those tokens reads, each expert once. */
static int distinct_experts(ak_context *c, int n, const int *k, const int32_t *ids, int stride) {
    memset(c->mark, 0, (size_t)c->hp.n_expert);
    int d = 0;
    for (int t = 0; t < n; t++)
        for (int s = 0; s < k[t]; s++) {
            int e = ids[(size_t)t * stride + s];
            if (!c->mark[e]) c->mark[e] = 1, d++;
        }
    return d;
}

/* The native top-k's routing of tokens [t0, t0 + n) into native_k / native_ids (rows of
 * n_expert_used): a copy when the sequence routes natively, else routed again. */
static int route_native(ak_context *c, const ak_context *sq, int il, int t0, int n, ak_error *err) {
    const int K = c->hp.n_expert_used, S = c->slots;
    int *nk = c->native_k + t0;
    int32_t *nid = c->native_ids + (size_t)t0 * K;
    if (sq->native_policy) {
        for (int t = 0; t < n; t++) {
            nk[t] = c->route_k[t0 + t];
            memcpy(nid + (size_t)t * K, c->route_ids + (size_t)(t0 + t) * S, (size_t)K * sizeof(int32_t));
        }
        return 0;
    }
    ak_route_out no = {n, K, nk, nid, c->native_w + (size_t)t0 * K, c->native_h + t0};
    return ak_gate_route(c, il, &c->native, c->router_logits + (size_t)t0 * c->hp.n_expert, n, &no, err);
}

/* Adds tokens [t0, t0 + n) of the batch to a ledger and its counters: their K, the experts
 * they ran, and (native: 1) what the native top-k would have run. */
static void account(ak_context *c, ak_layer_ledger *lg, ak_compute_counters *cn, int il, int t0, int n, int native) {
    const ak_layer *l = &c->model->layers[il];
    const uint64_t per_expert = (l->gate_exps.data ? 3ull : 2ull) * (uint64_t)c->hp.n_embd_moe * (uint64_t)c->hp.n_ff_exp;
    const uint64_t expert_bytes = l->gate_exps.mat_bytes + l->up_exps.mat_bytes + l->down_exps.mat_bytes;
    const int S = c->slots, K = c->hp.n_expert_used;
    ak_route_out ro = {n, S, c->route_k + t0, c->route_ids + (size_t)t0 * S, c->route_w + (size_t)t0 * S,
                       c->route_h + t0};
    uint64_t n_assign = 0;
    for (int t = 0; t < n; t++) n_assign += (uint64_t)ro.k[t];
    const uint64_t bytes = (uint64_t)distinct_experts(c, n, ro.k, ro.ids, S) * expert_bytes;
    ak_stats_add(&lg->k, &ro);
    lg->expert_macs += n_assign * per_expert;
    lg->expert_bytes += bytes;
    cn->expert_macs += n_assign * per_expert;
    cn->model_macs += n_assign * per_expert;
    cn->expert_bytes_read += bytes;
    if (!native) return;
    const uint64_t macs_native = (uint64_t)n * (uint64_t)K * per_expert;
    const uint64_t bytes_native =
        (uint64_t)distinct_experts(c, n, c->native_k + t0, c->native_ids + (size_t)t0 * K, K) * expert_bytes;
    lg->expert_macs_native += macs_native;
    lg->expert_bytes_native += bytes_native;
    cn->expert_macs_native += macs_native;
    cn->model_macs_native += macs_native;
    cn->expert_bytes_read_native += bytes_native;
}

/* Each sequence's ledger gets its own tokens (experts read: as if its tokens ran alone);
 * a group's executing context gets the whole batch, whose experts are read once for all
 * sequences (what batching saves, and what adaptive K saves on top of it). */
int ak_ledger_record(ak_context *c, int il, int n_tok, ak_error *err) {
    const int grouped = c->runs.grouped, group_native = grouped && c->native_baseline;
    for (int r = 0; r < c->runs.n_runs; r++) {
        ak_context *sq = c->runs.seq[r];
        const int t0 = c->runs.start[r], n = c->runs.start[r + 1] - t0;
        if ((sq->native_baseline || group_native) && route_native(c, sq, il, t0, n, err)) return -1;
        account(c, &sq->ledger[il], &sq->counters, il, t0, n, sq->native_baseline);
    }
    if (grouped) account(c, &c->ledger[il], &c->counters, il, 0, n_tok, group_native);
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
    int routed_layers = 0;
    for (int l = 0; l <= L; l++) {
        const ak_layer_ledger *g = l < L ? &c->ledger[l] : &tot;
        const uint64_t n = l < L ? g->k.n_tokens : tokens;
        const ak_layer *ly = l < L ? &c->model->layers[l] : NULL;
        if (ly && ly->ffn != AK_FFN_MOE) { /* no experts: deepseek2's leading layers, a hybrid's other blocks */
            fprintf(out, "  %5d  %s\n", l, ly->ffn == AK_FFN_DENSE ? "dense" : ly->mixer == AK_MIXER_SSM ? "mamba-2" : "attention");
            continue;
        }
        if (l < L) {
            routed_layers++;
            fprintf(out, "  %5d", l);
            tot.k.k_sum += g->k.k_sum;
            tot.expert_macs += g->expert_macs, tot.expert_macs_native += g->expert_macs_native;
            tot.expert_bytes += g->expert_bytes, tot.expert_bytes_native += g->expert_bytes_native;
            if (g->k.n_tokens > tokens) tokens = g->k.n_tokens;
        } else {
            fprintf(out, "    all");
        }
        fprintf(out, "  %5.3f  %9.4g (%9.4g)  %5.1f%%  %11.4g (%11.4g)  %5.1f%%\n",
                l < L ? per(g->k.k_sum, n) : per(g->k.k_sum, n * (uint64_t)routed_layers), per(g->expert_macs, n),
                per(g->expert_macs_native, n), saved(g->expert_macs, g->expert_macs_native), per(g->expert_bytes, n),
                per(g->expert_bytes_native, n), saved(g->expert_bytes, g->expert_bytes_native));
    }
}
