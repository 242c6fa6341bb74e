/* exit_calib.c - the early-exit threshold for a target average of layers (exit_calib.h). */
#include "eval/exit_calib.h"

#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"

typedef struct {
    int n_layer, first, every, n_checks;
    float *conf;     /* [n_checks][cap] */
    int64_t *count;  /* [n_checks] */
    int64_t cap;
    int overflow;
} probe_log;

static void on_probe(void *user, int layer, int pos, float p) {
    probe_log *g = user;
    (void)pos;
    if (layer < g->first || (layer - g->first) % g->every) return;
    const int j = (layer - g->first) / g->every;
    if (j >= g->n_checks) return;
    if (g->count[j] >= g->cap) {
        g->overflow = 1;
        return;
    }
    g->conf[(size_t)j * (size_t)g->cap + (size_t)g->count[j]++] = p;
}

/* Average layers per token at threshold t: token i stops after its first check with
 * probability >= t. */
static double avg_layers(const probe_log *g, int64_t n, float t) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        int layers = g->n_layer;
        for (int j = 0; j < g->n_checks; j++)
            if (g->conf[(size_t)j * (size_t)g->cap + (size_t)i] >= t) {
                layers = g->first + j * g->every + 1;
                break;
            }
        sum += layers;
    }
    return n ? sum / (double)n : 0.0;
}

int ak_exit_calibrate(ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *pp,
                      const ak_skip_params *shape, double target_layers, float *threshold, double *estimate,
                      ak_error *err) {
    const int L = ak_model_hparams(ak_context_model(c))->n_layer;
    const int exit_layer = shape->exit_layer, exit_every = shape->exit_every;
    if (exit_layer < 0 || exit_layer > L - 2 || exit_every < 1)
        return ak_failf(err, AK_ERR_INVALID_ARG, "exit layer %d (every %d): tokens may exit after layers 0 to %d", exit_layer,
                        exit_every, L - 2);
    if (!(target_layers >= exit_layer + 1 && target_layers <= L))
        return ak_failf(err, AK_ERR_INVALID_ARG, "target of %g layers per token: exits after layer %d or later give %d to %d",
                        target_layers, exit_layer, exit_layer + 1, L);
    probe_log g = {L, exit_layer, exit_every, (L - 2 - exit_layer) / exit_every + 1, NULL, NULL, 0, 0};
    const int n_chunk = (int)(n_tokens / pp->n_ctx), per = pp->n_chunks > 0 && pp->n_chunks < n_chunk ? pp->n_chunks : n_chunk;
    g.cap = (int64_t)per * pp->n_ctx;
    g.conf = malloc((size_t)g.n_checks * (size_t)(g.cap > 0 ? g.cap : 1) * sizeof *g.conf);
    g.count = calloc((size_t)g.n_checks, sizeof *g.count);
    if (!g.conf || !g.count) {
        free(g.conf);
        free(g.count);
        return ak_failf(err, AK_ERR_NOMEM, "exit calibration: out of memory for %lld tokens", (long long)g.cap);
    }
    const ak_skip_params saved = ak_context_skip(c);
    ak_skip_params off = ak_skip_default_params(); /* the checks only, through the probe */
    off.exit_measure = shape->exit_measure, off.exit_layer = exit_layer, off.exit_every = exit_every;
    if (ak_context_set_skip(c, &off, err)) {
        free(g.conf);
        free(g.count);
        return -1;
    }
    ak_context_set_exit_probe(c, on_probe, &g);
    ak_ppl_params p = *pp;
    p.progress = NULL, p.on_logits = NULL;
    ak_ppl_result r;
    int rc = ak_perplexity(c, tokens, n_tokens, &p, &r, err);
    ak_context_set_exit_probe(c, NULL, NULL);
    ak_context_set_skip(c, &saved, NULL);
    const int64_t n = g.count[0];
    if (!rc && (g.overflow || n == 0)) rc = ak_failf(err, AK_ERR_INVALID_ARG, "exit calibration: no tokens recorded");
    if (!rc) { /* the average rises with t: the largest t whose average stays <= target */
        float lo = 0.0f, hi = 1.0f;
        for (int it = 0; it < 40; it++) {
            const float mid = 0.5f * (lo + hi);
            if (avg_layers(&g, n, mid) <= target_layers) lo = mid;
            else hi = mid;
        }
        *threshold = lo > 0.0f ? lo : 1e-6f;
        *estimate = avg_layers(&g, n, *threshold);
    }
    free(g.conf);
    free(g.count);
    return rc;
}
