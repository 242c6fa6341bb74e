/* accounting.c - per-layer compute accounting from the router-logits sink (see accounting.h). */
#include "eval/accounting.h"
#include "base/errfmt.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int ak_accounting_set_routing(ak_accounting *a, const ak_router_config *routing, char *err, size_t errlen) {
    if (a->has_cfg) ak_config_free(&a->cfg);
    memset(&a->cfg, 0, sizeof a->cfg);
    a->has_cfg = 0;
    int slots = a->k_native;
    if (routing) {
        a->cfg = *routing;
        a->cfg.layers = NULL;
        a->cfg.n_layers = 0;
        ak_error e = {0};
        if (routing->n_layers > 0) {
            if (ak_config_set_layers(&a->cfg, routing->n_layers, &e))
                return ak_errorf(err, errlen, "accounting: %s", e.msg);
            memcpy(a->cfg.layers, routing->layers, (size_t)routing->n_layers * sizeof *routing->layers);
        }
        a->has_cfg = 1;
        for (int l = 0; l < a->n_layer; l++) {
            int mk = ak_policy_max_k(ak_config_layer_policy(&a->cfg, l), a->n_expert);
            if (mk > slots) slots = mk;
        }
    }
    if (slots > a->slots) {
        free(a->ids);
        free(a->w);
        a->ids = malloc((size_t)a->n_batch * (size_t)slots * sizeof *a->ids);
        a->w = malloc((size_t)a->n_batch * (size_t)slots * sizeof *a->w);
        a->slots = slots;
        if (!a->ids || !a->w) return ak_errorf(err, errlen, "accounting: out of memory");
    }
    return 0;
}

int ak_accounting_init(ak_accounting *a, const ak_model *m, int n_batch, const ak_router_config *routing, char *err,
                       size_t errlen) {
    memset(a, 0, sizeof *a);
    const ak_hparams *hp = ak_model_hparams(m);
    a->n_layer = hp->n_layer;
    a->n_expert = hp->n_expert;
    a->k_native = hp->n_expert_used;
    a->n_batch = n_batch;
    a->renormalize = hp->renormalize;
    a->macs_per_expert = 3ull * (uint64_t)hp->n_embd * (uint64_t)hp->n_ff_exp;
    a->bytes_per_expert = calloc((size_t)a->n_layer, sizeof *a->bytes_per_expert);
    a->layers = calloc((size_t)a->n_layer, sizeof *a->layers);
    a->k = malloc((size_t)n_batch * sizeof *a->k);
    a->mark = malloc((size_t)a->n_expert);
    if (!a->bytes_per_expert || !a->layers || !a->k || !a->mark) {
        ak_accounting_free(a);
        return ak_errorf(err, errlen, "accounting: out of memory");
    }
    const gguf_file *g = ak_model_gguf(m);
    for (int l = 0; l < a->n_layer; l++) {
        static const char *const parts[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
        for (int p = 0; p < 3; p++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p]);
            const gguf_tensor *t = gguf_find_tensor(g, name);
            if (!t) {
                ak_accounting_free(a);
                return ak_errorf(err, errlen, "accounting: tensor %s is missing", name);
            }
            a->bytes_per_expert[l] += t->nbytes / (uint64_t)a->n_expert;
        }
    }
    if (ak_accounting_set_routing(a, routing, err, errlen)) {
        ak_accounting_free(a);
        return -1;
    }
    return 0;
}

void ak_accounting_reset(ak_accounting *a) {
    memset(a->layers, 0, (size_t)a->n_layer * sizeof *a->layers);
    a->error[0] = 0;
}

void ak_accounting_free(ak_accounting *a) {
    if (a->has_cfg) ak_config_free(&a->cfg);
    free(a->bytes_per_expert);
    free(a->layers);
    free(a->k);
    free(a->ids);
    free(a->w);
    free(a->mark);
    memset(a, 0, sizeof *a);
}

/* Routes the batch with policy p; returns the number of distinct experts chosen and adds
 * the chosen K to *k_sum. -1 on a routing error. */
static int route_unique(ak_accounting *a, const ak_policy *p, const float *logits, int n_tokens, uint64_t *k_sum) {
    ak_route_out ro = {n_tokens, a->slots, a->k, a->ids, a->w, NULL};
    ak_error e = {0};
    if (ak_route(p, logits, n_tokens, a->n_expert, a->renormalize, &ro, &e) != AK_OK) {
        if (!a->error[0]) snprintf(a->error, sizeof a->error, "accounting: %s", e.msg);
        return -1;
    }
    memset(a->mark, 0, (size_t)a->n_expert);
    int n = 0;
    for (int t = 0; t < n_tokens; t++) {
        *k_sum += (uint64_t)a->k[t];
        for (int s = 0; s < a->k[t]; s++) {
            const int32_t e_id = a->ids[(size_t)t * a->slots + s];
            if (!a->mark[e_id]) a->mark[e_id] = 1, n++;
        }
    }
    return n;
}

void ak_accounting_sink(void *user, int layer, const float *logits, int n_tokens, int n_experts) {
    ak_accounting *a = user;
    if (layer < 0 || layer >= a->n_layer || n_experts != a->n_expert || n_tokens < 1 || n_tokens > a->n_batch) {
        if (!a->error[0])
            snprintf(a->error, sizeof a->error, "accounting: unexpected batch (layer %d, %d tokens, %d experts)", layer,
                     n_tokens, n_experts);
        return;
    }
    ak_layer_compute *lc = &a->layers[layer];
    const ak_policy native = ak_policy_fixed(a->k_native);
    const ak_policy *p = a->has_cfg ? ak_config_layer_policy(&a->cfg, layer) : &native;
    uint64_t k_native_sum = 0;
    const int n_native = route_unique(a, &native, logits, n_tokens, &k_native_sum);
    const int n_run = route_unique(a, p, logits, n_tokens, &lc->k_sum);
    if (n_native < 0 || n_run < 0) return;
    lc->tokens += (uint64_t)n_tokens;
    lc->expert_macs_native += k_native_sum * a->macs_per_expert;
    lc->expert_bytes_native += (uint64_t)n_native * a->bytes_per_expert[layer];
    lc->expert_bytes += (uint64_t)n_run * a->bytes_per_expert[layer];
    lc->expert_macs = lc->k_sum * a->macs_per_expert;
}

void ak_accounting_total(const ak_accounting *a, ak_layer_compute *out) {
    memset(out, 0, sizeof *out);
    for (int l = 0; l < a->n_layer; l++) {
        const ak_layer_compute *c = &a->layers[l];
        if (c->tokens > out->tokens) out->tokens = c->tokens;
        out->k_sum += c->k_sum;
        out->expert_macs += c->expert_macs;
        out->expert_macs_native += c->expert_macs_native;
        out->expert_bytes += c->expert_bytes;
        out->expert_bytes_native += c->expert_bytes_native;
    }
}

static double per(uint64_t v, uint64_t n) { return n ? (double)v / (double)n : 0.0; }
static double saved(uint64_t v, uint64_t native) { return native ? 100.0 * (1.0 - (double)v / (double)native) : 0.0; }

void ak_accounting_print(const ak_accounting *a, FILE *out) {
    fprintf(out, "compute per layer, per token (native = the model's top-%d):\n", a->k_native);
    fprintf(out, "  layer  avg K  expert MACs (native)   saved  expert bytes read (native)   saved\n");
    ak_layer_compute tot;
    ak_accounting_total(a, &tot);
    for (int l = 0; l <= a->n_layer; l++) {
        const ak_layer_compute *c = l < a->n_layer ? &a->layers[l] : &tot;
        const uint64_t n = l < a->n_layer ? c->tokens : tot.tokens;
        if (l < a->n_layer) fprintf(out, "  %5d", l);
        else fprintf(out, "    all");
        fprintf(out, "  %5.3f  %9.4g (%9.4g)  %5.1f%%  %11.4g (%11.4g)  %5.1f%%\n",
                l < a->n_layer ? per(c->k_sum, c->tokens) : per(c->k_sum, n * (uint64_t)a->n_layer),
                per(c->expert_macs, n), per(c->expert_macs_native, n), saved(c->expert_macs, c->expert_macs_native),
                per(c->expert_bytes, n), per(c->expert_bytes_native, n),
                saved(c->expert_bytes, c->expert_bytes_native));
    }
    if (a->error[0]) fprintf(out, "  (incomplete: %s)\n", a->error);
}
