/* session.c - model, tokenizer and context set-up shared by the engine commands. */
#include "model/threadpool.h"
#include "eval/session.h"
#include "base/errfmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int ak_session_load(ak_session *s, const char *model_path, const ak_model_params *mp, ak_error *err) {
    memset(s, 0, sizeof *s);
    s->model = ak_model_load_with(model_path, mp, err);
    if (!s->model) return -1;
    s->tok = ak_tokenizer_load(ak_model_gguf(s->model), err);
    if (!s->tok) {
        ak_model_free(s->model);
        s->model = NULL;
        return -1;
    }
    return 0;
}

int ak_session_start(ak_session *s, int n_ctx, int n_batch, int n_threads, const ak_router_config *routing,
                     ak_error *err) {
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = ak_threads_within_cpus(n_threads, "adaptive-k");
    cp.routing = routing;
    cp.type_k = s->type_k, cp.type_v = s->type_v;
    cp.logits_last = s->logits_last;
    s->ctx = ak_context_new(s->model, &cp, err);
    return s->ctx ? 0 : -1;
}

int ak_session_open(ak_session *s, const char *model_path, const ak_session_opts *o, ak_error *err) {
    ak_model_params mp = ak_model_default_params();
    if (o->no_repack) mp.repack = 0;
    if (ak_session_load(s, model_path, &mp, err)) return -1;
    const ak_hparams *hp = ak_model_hparams(s->model);
    s->n_ctx = o->n_ctx;
    if (o->ctx_at_most_train && hp->n_ctx_train > 0 && s->n_ctx > hp->n_ctx_train) s->n_ctx = hp->n_ctx_train;
    s->n_batch = o->n_batch > 0 && o->n_batch < s->n_ctx ? o->n_batch : s->n_ctx;
    s->type_k = o->type_k, s->type_v = o->type_v;
    s->logits_last = o->logits_last;
    if (o->routing) {
        int r = o->routing(o->routing_user, hp, &s->routing, err);
        if (r < 0) return -1;
        s->has_routing = r > 0;
    }
    if (ak_session_start(s, s->n_ctx, s->n_batch, o->n_threads, s->has_routing ? &s->routing : NULL, err))
        return -1;
    if (!o->text) return 0;
    s->n_tokens = ak_session_tokenize(s, o->text, o->text_len, ak_tokenizer_add_bos(s->tok), &s->tokens, err);
    return s->n_tokens < 0 ? -1 : 0;
}

void ak_session_close(ak_session *s) {
    free(s->tokens);
    if (s->has_routing) ak_config_free(&s->routing);
    ak_context_free(s->ctx);
    ak_tokenizer_free(s->tok);
    ak_model_free(s->model);
    memset(s, 0, sizeof *s);
}

int ak_session_tokenize(const ak_session *s, const char *text, size_t len, int add_bos, int32_t **out, ak_error *err) {
    *out = NULL;
    if (len > (size_t)INT32_MAX / 2) {
        ak_failf(err, AK_ERR_INVALID_ARG, "text of %zu bytes is too long to tokenise", len);
        return -1;
    }
    int cap = (int)len + 16;
    int32_t *t = malloc((size_t)cap * sizeof *t);
    if (!t) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return -1;
    }
    int n = ak_tokenize(s->tok, text, len, add_bos, 0, t, cap);
    if (n < 0 && n != INT32_MIN) { /* more tokens than bytes: possible with special tokens */
        cap = -n;
        int32_t *bigger = realloc(t, (size_t)cap * sizeof *t);
        if (!bigger) {
            free(t);
            ak_failf(err, AK_ERR_NOMEM, "out of memory");
            return -1;
        }
        t = bigger;
        n = ak_tokenize(s->tok, text, len, add_bos, 0, t, cap);
    }
    if (n < 0) {
        free(t);
        ak_failf(err, AK_ERR_INVALID_ARG, "the text could not be tokenised");
        return -1;
    }
    *out = t;
    return n;
}

double ak_session_avg_k(const ak_session *s) { return ak_context_avg_k(s->ctx); }

static double saved(uint64_t used, uint64_t native) { return native ? 1.0 - (double)used / (double)native : 0.0; }

void ak_session_print_routing(const ak_session *s, FILE *out) {
    const ak_hparams *hp = ak_model_hparams(s->model);
    ak_compute_counters cc;
    ak_context_counters(s->ctx, &cc);
    fprintf(out, "routing: average K %.3f per token and layer (native top-%d of %d experts)\n", ak_session_avg_k(s),
            hp->n_expert_used, hp->n_expert);
    fprintf(out, "average K per layer:");
    for (int l = 0; l < hp->n_layer; l++) {
        const ak_layer_stats *st = ak_context_layer_stats(s->ctx, l);
        fprintf(out, " %.2f", st ? ak_stats_avg_k(st) : 0.0);
    }
    fprintf(out, "\n");
    fprintf(out, "compute saved vs native top-%d: expert MACs %.1f%%, whole model MACs %.1f%%, expert bytes read %.1f%%\n",
            hp->n_expert_used, 100.0 * saved(cc.expert_macs, cc.expert_macs_native),
            100.0 * saved(cc.model_macs, cc.model_macs_native),
            100.0 * saved(cc.expert_bytes_read, cc.expert_bytes_read_native));
    if (cc.tokens)
        fprintf(out, "per token: %.3g expert MACs (native %.3g), %.3g model MACs (native %.3g)\n",
                (double)cc.expert_macs / (double)cc.tokens, (double)cc.expert_macs_native / (double)cc.tokens,
                (double)cc.model_macs / (double)cc.tokens, (double)cc.model_macs_native / (double)cc.tokens);
    if (cc.exit_checks || cc.pruned_tokens) {
        const double native = (double)cc.model_macs_native;
        fprintf(out, "early exit: %llu of %llu tokens exited, %.3f layers per token of %d (%llu checks); pruned: %llu tokens\n",
                (unsigned long long)cc.exit_tokens, (unsigned long long)cc.tokens,
                cc.tokens ? (double)cc.layers_run / (double)cc.tokens : 0.0, hp->n_layer,
                (unsigned long long)cc.exit_checks, (unsigned long long)cc.pruned_tokens);
        fprintf(out, "whole model MACs saved, each once: adaptive K %.1f%%, early exit %.1f%% (net of checks and fill), "
                "pruning %.1f%%\n", native ? 100.0 * (double)(cc.expert_macs_native - cc.expert_macs) / native : 0.0,
                native ? 100.0 * (double)cc.macs_saved_exit / native : 0.0,
                native ? 100.0 * (double)cc.macs_saved_prune / native : 0.0);
    }
}

ak_ppl_params ak_session_ppl_params(const ak_session *s, int n_ctx, int n_batch, int n_chunks) {
    ak_ppl_params pp = ak_ppl_default_params();
    pp.n_vocab = ak_model_hparams(s->model)->n_vocab;
    pp.n_ctx = n_ctx;
    pp.n_batch = n_batch;
    pp.n_chunks = n_chunks;
    pp.bos = ak_tokenizer_add_bos(s->tok) ? ak_tokenizer_bos(s->tok) : -1;
    return pp;
}
