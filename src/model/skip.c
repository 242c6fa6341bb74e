/* skip.c - early exit and prompt-token pruning (model.h, ak_skip_params): which tokens
 * skip which layers. The forward pass asks three things of this file: where each token of
 * a batch stops (tok_last), whether a token exits after a layer (the model's own head on
 * its hidden state), and which prompt tokens leave the batch after the prune layer. What
 * the skipped work would have cost is counted by the ledger (ledger.c). */
#include <math.h>
#include <string.h>

#include "base/errfmt.h"
#include "model/model_internal.h"

ak_skip_params ak_skip_default_params(void) {
    ak_skip_params p = {0};
    p.exit_every = 1;
    return p;
}

ak_skip_params ak_context_skip(const ak_context *c) { return c->skip; }

void ak_context_set_exit_probe(ak_context *c, ak_exit_probe_fn fn, void *user) {
    c->probe = fn;
    c->probe_user = user;
}

int ak_skip_check(const ak_model *m, const ak_skip_params *p, ak_error *err) {
    const ak_hparams *hp = &m->hp;
    const int last = hp->n_layer - 2; /* a check or a prune after the last layer would skip nothing */
    if (!p) return ak_failf(err, AK_ERR_INVALID_ARG, "no skip parameters given");
    if (!(p->exit_threshold >= 0.0f && p->exit_threshold <= 1.0f))
        return ak_failf(err, AK_ERR_INVALID_ARG, "exit threshold %g: use a probability in (0, 1], or 0 for no early exit",
                        (double)p->exit_threshold);
    if (p->exit_threshold > 0.0f && (p->exit_layer < 0 || p->exit_layer > last))
        return ak_failf(err, AK_ERR_INVALID_ARG, "exit layer %d: tokens may exit after layers 0 to %d of this %d-layer model",
                        p->exit_layer, last, hp->n_layer);
    if (p->exit_every < 1) return ak_failf(err, AK_ERR_INVALID_ARG, "exit checks every %d layers: use 1 or more", p->exit_every);
    if (p->exit_measure != AK_EXIT_TOP1 && p->exit_measure != AK_EXIT_SATURATION)
        return ak_failf(err, AK_ERR_INVALID_ARG, "exit measure %d: use top-1 probability (%d) or saturation (%d)",
                        p->exit_measure, AK_EXIT_TOP1, AK_EXIT_SATURATION);
    if (!(p->prune_ratio >= 0.0f && p->prune_ratio < 1.0f))
        return ak_failf(err, AK_ERR_INVALID_ARG, "prune ratio %g: use a fraction in [0, 1)", (double)p->prune_ratio);
    if (p->prune_by != AK_PRUNE_ATTENTION && p->prune_by != AK_PRUNE_OLDEST)
        return ak_failf(err, AK_ERR_INVALID_ARG, "prune by %d: use attention (%d) or oldest (%d)", p->prune_by,
                        AK_PRUNE_ATTENTION, AK_PRUNE_OLDEST);
    if (p->prune_ratio > 0.0f) {
        if (p->prune_layer < 0 || p->prune_layer > last)
            return ak_failf(err, AK_ERR_INVALID_ARG, "prune layer %d: pruning may follow layers 0 to %d of this %d-layer model",
                            p->prune_layer, last, hp->n_layer);
        if (m->layers[p->prune_layer].mixer != AK_MIXER_ATTENTION)
            return ak_failf(err, AK_ERR_INVALID_ARG, "prune layer %d has no attention to rank tokens by (a recurrent "
                            "block): choose an attention layer", p->prune_layer);
        if (hp->n_swa)
            return ak_failf(err, AK_ERR_INVALID_ARG, "prompt pruning with sliding-window attention (%s) is not supported: "
                            "a window counts positions, and pruned positions are gone", hp->arch);
    }
    return 0;
}

int ak_context_set_skip(ak_context *c, const ak_skip_params *p, ak_error *err) {
    if (ak_skip_check(c->model, p, err)) return -1;
    if (c->kv_gap && p->prune_ratio > 0.0f && p->prune_layer != c->gap_layer)
        return ak_failf(err, AK_ERR_INVALID_ARG, "prune layer %d: this context's cache already lacks %d tokens past "
                        "layer %d; reset it before pruning at another layer", p->prune_layer, c->kv_gap, c->gap_layer);
    c->skip = *p;
    return 0;
}

void ak_skip_batch_start(ak_context *c, int n_tok) {
    for (int r = 0; r < c->runs.n_runs; r++) {
        const ak_context *sq = c->runs.seq[r];
        for (int t = c->runs.start[r]; t < c->runs.start[r + 1]; t++) c->tok_pos[t] = sq->n_past + t - c->runs.start[r];
        c->runs.pruned[r] = 0;
    }
    for (int t = 0; t < n_tok; t++) c->tok_last[t] = c->hp.n_layer - 1, c->tok_checks[t] = 0;
    c->n_exited = c->n_pruned = 0;
}

/* ---------------------------------------------------------------- early exit */

static int checks_after(const ak_context *sq, int il) {
    const ak_skip_params *p = &sq->skip;
    if (!(p->exit_threshold > 0.0f || sq->probe) || il > sq->hp.n_layer - 2 || il < p->exit_layer) return 0;
    return (il - p->exit_layer) % p->exit_every == 0;
}

uint64_t ak_exit_check_macs(const ak_context *sq) {
    return sq->skip.exit_measure == AK_EXIT_SATURATION ? 3ull * (uint64_t)sq->hp.n_embd
                                                       : (uint64_t)sq->hp.n_embd * (uint64_t)sq->hp.n_vocab;
}

static int saturation_checks_after(const ak_context *c, int il) {
    for (int r = 0; r < c->runs.n_runs; r++) {
        const ak_context *sq = c->runs.seq[r];
        if (sq->skip.exit_measure == AK_EXIT_SATURATION && checks_after(sq, il)) return 1;
    }
    return 0;
}

void ak_exit_layer_start(ak_context *c, int il, int n_tok) {
    if (!saturation_checks_after(c, il)) return;
    memcpy(c->x_prev, c->x, (size_t)n_tok * (size_t)c->hp.n_embd * sizeof *c->x);
}

/* cos(x_before, x_after) of token t: how little layer il changed its hidden state. */
static float saturation(const ak_context *c, int t) {
    const size_t E = (size_t)c->hp.n_embd;
    const float *a = c->x_prev + (size_t)t * E, *b = c->x + (size_t)t * E;
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < E; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return aa > 0 && bb > 0 ? (float)(ab / sqrt(aa * bb)) : 0.0f;
}

/* The probability softmax gives the largest of n logits. */
static float top1_prob(const float *logits, int n) {
    float mx = logits[0];
    for (int i = 1; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += expf(logits[i] - mx);
    return (float)(1.0 / sum);
}

/* Token t's check after layer il found confidence p: counted, probed, and an exit when p
 * reaches its sequence's threshold. */
static void decide(ak_context *c, int t, int il, float p) {
    ak_context *sq = ak_run_seq(c, t);
    c->tok_checks[t]++;
    if (sq->probe) sq->probe(sq->probe_user, il, c->tok_pos[t], p);
    if (sq->skip.exit_threshold > 0.0f && p >= sq->skip.exit_threshold) {
        c->tok_last[t] = il;
        c->n_exited++;
    }
}

/* The live tokens whose sequence checks after layer il: saturation from the states kept
 * before the layer; the top-token probability through the final norm and the
 * head (in groups of as many rows as the logits buffer holds); a token whose top
 * probability reaches its sequence's threshold runs no further layer in full. */
void ak_exit_check(ak_context *c, int il, int n_tok) {
    const ak_model *m = c->model;
    const int E = c->hp.n_embd, V = c->hp.n_vocab;
    int n = 0;
    for (int t = 0; t < n_tok; t++) {
        ak_context *sq = ak_run_seq(c, t);
        if (!ak_tok_live(c, t, il + 1) || !checks_after(sq, il)) continue;
        if (sq->skip.exit_measure == AK_EXIT_SATURATION) decide(c, t, il, saturation(c, t));
        else c->tok_list[n++] = t;
    }
    for (int g0 = 0; g0 < n; g0 += c->logit_rows) {
        const int g = n - g0 < c->logit_rows ? n - g0 : c->logit_rows;
        for (int i = 0; i < g; i++)
            ak_rms_norm(c->x + (size_t)c->tok_list[g0 + i] * E, m->output_norm, c->xn + (size_t)i * E, E, c->hp.rms_eps);
        const ak_mat *wh[1] = {&m->output};
        float *yh[1] = {c->logits};
        ak_enc_invalidate(c); /* xn holds new rows */
        ak_batch_matmul(c, c->xn, E, g, wh, yh, 1);
        ak_enc_invalidate(c);
        for (int i = 0; i < g; i++) decide(c, c->tok_list[g0 + i], il, top1_prob(c->logits + (size_t)i * V, V));
    }
}

/* ---------------------------------------------------------------- prompt pruning */

int ak_prune_here(const ak_context *c, int il) {
    for (int r = 0; r < c->runs.n_runs; r++) {
        const ak_context *sq = c->runs.seq[r];
        if (sq->skip.prune_ratio > 0.0f && sq->skip.prune_layer == il && c->runs.start[r + 1] - c->runs.start[r] > 1)
            return 1;
    }
    return 0;
}

/* Marks (tok_list[t] = 1, the marks cleared by the caller) the n_drop tokens of lowest
 * score among rows t0..t1-2, never the run's last one; ties go to the earlier token. */
static void mark_lowest(ak_context *c, int t0, int t1, int n_drop) {
    for (int d = 0; d < n_drop; d++) {
        int lo = -1;
        for (int t = t0; t < t1 - 1; t++)
            if (!c->tok_list[t] && (lo < 0 || c->tok_score[t] < c->tok_score[lo])) lo = t;
        c->tok_list[lo] = 1;
    }
}

/* Batch row `from` moved to row `to` (to <= from), with what follows a token through the
 * layers: its hidden state, position, run, exit state. */
static void move_token(ak_context *c, int to, int from) {
    const size_t E = (size_t)c->hp.n_embd;
    if (to == from) return;
    memcpy(c->x + (size_t)to * E, c->x + (size_t)from * E, E * sizeof *c->x);
    c->tok_pos[to] = c->tok_pos[from];
    c->tok_run[to] = c->tok_run[from];
    c->tok_last[to] = c->tok_last[from];
    c->tok_checks[to] = c->tok_checks[from];
    memcpy(c->x_prev + (size_t)to * E, c->x_prev + (size_t)from * E, E * sizeof *c->x_prev);
}

int ak_prune_batch(ak_context *c, int il, int n_tok) {
    for (int t = 0; t < n_tok; t++) c->tok_list[t] = 0;
    for (int r = 0; r < c->runs.n_runs; r++) {
        ak_context *sq = c->runs.seq[r];
        const int t0 = c->runs.start[r], t1 = c->runs.start[r + 1];
        if (!(sq->skip.prune_ratio > 0.0f && sq->skip.prune_layer == il && t1 - t0 > 1)) continue;
        const int n_drop = (int)floorf(sq->skip.prune_ratio * (float)(t1 - t0 - 1));
        if (!n_drop) continue;
        if (sq->skip.prune_by == AK_PRUNE_OLDEST)
            for (int t = t0; t < t1; t++) c->tok_score[t] = (float)(t - t0);
        else
            ak_attention_of_token(c, il, t1 - 1, c->tok_score + t0);
        mark_lowest(c, t0, t1, n_drop);
        c->runs.pruned[r] = n_drop;
        c->n_pruned += n_drop;
        sq->gap_layer = il;
        for (int t = t0; t < t1; t++)
            if (c->tok_list[t]) ak_ledger_count_pruned(c, r, c->tok_pos[t], c->tok_last[t], c->tok_checks[t], il);
    }
    int kept = 0;
    for (int r = 0; r < c->runs.n_runs; r++) {
        const int t0 = c->runs.start[r], t1 = c->runs.start[r + 1];
        c->runs.start[r] = kept;
        for (int t = t0; t < t1; t++) {
            if (!c->tok_list[t]) {
                move_token(c, kept++, t);
            } else if (c->tok_last[t] < il + 1) {
                c->n_exited--; /* an exited token pruned: no longer in the batch */
            }
        }
    }
    c->runs.start[c->runs.n_runs] = kept;
    return kept;
}
