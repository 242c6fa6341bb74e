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
    if (ak_gate_route(c, il, &c->native, c->router_logits + (size_t)t0 * c->hp.n_expert, n, &no, err)) return -1;
    for (int t = 0; t < n; t++) /* an exited token would not have run this layer natively either */
        if (!ak_tok_live(c, t0 + t, il)) nk[t] = 0;
    return 0;
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
    uint64_t n_assign = 0, n_live = 0;
    for (int t = 0; t < n; t++) n_live += (uint64_t)ak_tok_live(c, t0 + t, il);
    for (int t = 0; t < n; t++) n_assign += (uint64_t)ro.k[t];
    const uint64_t bytes = (uint64_t)distinct_experts(c, n, ro.k, ro.ids, S) * expert_bytes;
    if (!c->n_exited) {
        ak_stats_add(&lg->k, &ro);
    } else { /* tokens that exited before this layer have no K here (their route_k is 0) */
        for (int t = 0; t < n; t++) {
            if (!ak_tok_live(c, t0 + t, il)) continue;
            ak_route_out one = {1, S, ro.k + t, ro.ids + (size_t)t * S, ro.weights + (size_t)t * S, ro.entropy + t};
            ak_stats_add(&lg->k, &one);
        }
    }
    lg->expert_macs += n_assign * per_expert;
    lg->expert_bytes += bytes;
    cn->expert_macs += n_assign * per_expert;
    cn->model_macs += n_assign * per_expert;
    cn->expert_bytes_read += bytes;
    if (!native) return;
    const uint64_t macs_native = n_live * (uint64_t)K * per_expert;
    const uint64_t bytes_native =
        (uint64_t)distinct_experts(c, n, c->native_k + t0, c->native_ids + (size_t)t0 * K, K) * expert_bytes;
    lg->expert_macs_native += macs_native;
    lg->expert_bytes_native += bytes_native;
    cn->expert_macs_native += macs_native; /* (model_macs_native: ak_ledger_count_batch) */
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

/* ---------------------------------------------------------------- compute outside the experts */

/* One token of run r (position pos, row rank past its run's first in layers whose cache
 * lacks pruned positions) into the counters: layers 0..run_last computed in full, layers
 * run_last+1..kept_last filled for an exit (K/V projections or a recurrent mixer), layers past
 * kept_last not at all (pruned); `checks` head evaluations for exit decisions, `head` rows
 * of the final head (head_native: without pruning, which keeps the last token's only).
 * Native: every layer at native K, keys up to pos, the head. */
static void count_token(ak_context *c, int r, int pos, int rank, int run_last, int kept_last, int checks, int head,
                        int head_native) {
    const ak_hparams *hp = &c->hp;
    ak_context *sq = c->runs.seq[r];
    const uint64_t qk = 2ull * (uint64_t)hp->n_head * (uint64_t)hp->head_dim, head_macs = (uint64_t)hp->n_embd * hp->n_vocab;
    uint64_t run = 0, native = 0, filled = 0, skipped = 0, attended_less = 0, pruned = 0;
    int full_layers = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const ak_layer *l = &c->model->layers[il];
        const int attn = l->mixer == AK_MIXER_ATTENTION;
        const uint64_t keys_native = (uint64_t)pos + 1;
        const uint64_t keys = il > sq->gap_layer ? (uint64_t)ak_kv_base(sq, il) + (uint64_t)rank + 1 : keys_native;
        const uint64_t layer_native = l->macs + l->expert_macs_native + (attn ? qk * keys_native : 0);
        native += layer_native;
        if (il <= run_last) { /* (the routed experts: ak_ledger_record) */
            run += l->macs + (attn ? qk * keys : 0);
            attended_less += attn ? qk * (keys_native - keys) : 0;
            full_layers++;
        } else if (il <= kept_last) {
            filled += l->fill_macs;
            skipped += layer_native;
        } else {
            pruned += layer_native;
        }
    }
    const uint64_t check_macs = (uint64_t)checks * ak_exit_check_macs(sq);
    run += filled + check_macs + (uint64_t)head * head_macs;
    native += (uint64_t)head_native * head_macs;
    pruned += (uint64_t)(head_native - head) * head_macs;
    ak_compute_counters *cn[2] = {&sq->counters, c->runs.grouped ? &c->counters : NULL};
    for (int i = 0; i < 2 && cn[i]; i++) {
        cn[i]->model_macs += run;
        cn[i]->model_macs_native += native;
        cn[i]->tokens++;
        cn[i]->layers_run += (uint64_t)full_layers;
        cn[i]->layers_native += (uint64_t)hp->n_layer;
        cn[i]->exit_tokens += run_last < kept_last;
        cn[i]->exit_checks += (uint64_t)checks;
        cn[i]->pruned_tokens += kept_last < hp->n_layer - 1;
        cn[i]->macs_saved_exit += (int64_t)skipped - (int64_t)filled - (int64_t)check_macs;
        cn[i]->macs_saved_prune += pruned + attended_less;
    }
}

void ak_ledger_count_pruned(ak_context *c, int r, int pos, int last, int checks, int il) {
    count_token(c, r, pos, 0, last < il ? last : il, il, checks, 0, ak_head_every_token(c));
}

/* The batch's tokens (after pruning) and their head rows: every token's, or each run's
 * last one (a group, logits_last, or a batch that pruned). */
void ak_ledger_count_batch(ak_context *c) {
    const int every = ak_head_every_token(c), last_only = ak_head_last_only(c);
    for (int r = 0; r < c->runs.n_runs; r++) {
        const int t0 = c->runs.start[r], t1 = c->runs.start[r + 1];
        for (int t = t0; t < t1; t++)
            count_token(c, r, c->tok_pos[t], t - t0, c->tok_last[t], c->hp.n_layer - 1, c->tok_checks[t],
                        !last_only || t == t1 - 1, every || t == t1 - 1);
    }
}
