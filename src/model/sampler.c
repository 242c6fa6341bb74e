/* sampler.c - greedy / temperature / top-k / top-p sampling (see sampler.h). */
#include "model/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float logit;
    int32_t id;
} candidate;

struct ak_sampler {
    ak_sampler_params p;
    int n_vocab;
    uint64_t rng;
    candidate *cand; /* [n_vocab] */
    double *prob;    /* [n_vocab] */
};

ak_sampler_params ak_sampler_default_params(void) {
    ak_sampler_params p = {0.8f, 40, 0.95f, 1};
    return p;
}

ak_sampler *ak_sampler_new(int n_vocab, const ak_sampler_params *p) {
    if (n_vocab < 1 || !p || isnan(p->temp) || isnan(p->top_p) || p->top_p <= 0) return NULL;
    ak_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->rng = p->seed ^ 0x853C49E6748FEA9Bull;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    if (!s->cand || !s->prob) {
        ak_sampler_free(s);
        return NULL;
    }
    return s;
}

void ak_sampler_free(ak_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->prob);
    free(s);
}

double ak_sampler_uniform(ak_sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}

/* Descending logit, then ascending id, so results do not depend on the sort's stability. */
static int better(const candidate *a, const candidate *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Min-heap on `better` of the k best candidates seen so far (root: the worst kept). */
static void sift_down(candidate *h, int n, int i) {
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(&h[w], &h[l])) w = l;
        if (r < n && better(&h[w], &h[r])) w = r;
        if (w == i) return;
        candidate t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Best first, in place (qsort may allocate; this never does). */
static void heap_sort(candidate *c, int n) {
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(c, n, i);
    for (int end = n - 1; end > 0; end--) {
        candidate t = c[0];
        c[0] = c[end];
        c[end] = t;
        sift_down(c, end, 0);
    }
}

static int select_top_k(candidate *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (better(&c[i], &c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    return k;
}

int32_t ak_sampler_sample(ak_sampler *s, const float *logits) {
    const int V = s->n_vocab;
    if (s->p.temp <= 0) { /* greedy: the first of the largest finite logits (better's order) */
        int best = 0;
        float top = -INFINITY;
        for (int i = 0; i < V; i++)
            if (isfinite(logits[i]) && logits[i] > top) top = logits[i], best = i;
        return best;
    }
    int n = 0;
    for (int i = 0; i < V; i++) {
        float l = isfinite(logits[i]) ? logits[i] : -INFINITY;
        s->cand[n++] = (candidate){l, i};
    }
    if (s->p.top_k > 0 && s->p.top_k < n) n = select_top_k(s->cand, n, s->p.top_k);
    heap_sort(s->cand, n);
    if (!isfinite(s->cand[0].logit)) return s->cand[0].id;
    const float max_logit = s->cand[0].logit;
    if (s->p.top_p < 1.0f) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += s->prob[i] = exp((double)(s->cand[i].logit - max_logit));
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i] / sum;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) sum += s->prob[i] = exp((double)(s->cand[i].logit - max_logit) / s->p.temp);
    double u = ak_sampler_uniform(s) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (u < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}
