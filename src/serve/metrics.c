/* metrics.c - counters and histograms, rendered in the Prometheus text format. */
#include "serve/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double h_fractions[AK_METRICS_H_BUCKETS] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
static const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define N_LAT ((int)(sizeof latency_bounds / sizeof latency_bounds[0]))
static const int statuses[] = {200, 400, 404, 405, 413, 429, 500, 503, 504};
#define N_STATUS ((int)(sizeof statuses / sizeof statuses[0]) + 1) /* + "other" */

typedef struct {
    uint64_t count[N_LAT + 1];
    double sum;
    uint64_t n;
} lat_hist;

typedef struct {
    char name[40];
    uint64_t requests[N_STATUS];
    uint64_t prompt_tokens, completion_tokens;
    uint64_t k_sum, routed, macs, macs_native;
    lat_hist latency, ttft;
} variant_stats;

struct ak_metrics {
    pthread_mutex_t mu;
    int n_layer, n_expert, n_variants;
    int n_kb;          /* K bucket bounds */
    int *k_bounds;
    double h_bounds[AK_METRICS_H_BUCKETS];
    uint64_t *k_hist;  /* [n_layer][n_expert + 1] */
    uint64_t *h_hist;  /* [n_layer][AK_METRICS_H_BUCKETS + 1] */
    double *h_sum;     /* [n_layer] */
    variant_stats *v;
    /* continuous batching: forward passes, their sequences and tokens, expert bytes read
     * by the batch (each chosen expert once per pass and layer) and by the native top-k */
    uint64_t steps, step_seqs, step_tokens, step_bytes, step_bytes_native;
    ak_metrics_skip skip; /* early exit and pruning, summed over requests */
};

static int is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

ak_metrics *ak_metrics_new(int n_layer, int n_expert, int n_variants, const char *const *variant_names) {
    ak_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->n_layer = n_layer;
    m->n_expert = n_expert;
    m->n_variants = n_variants;
    m->k_bounds = calloc((size_t)n_expert + 1, sizeof *m->k_bounds);
    m->k_hist = calloc((size_t)n_layer * (size_t)(n_expert + 1), sizeof *m->k_hist);
    m->h_hist = calloc((size_t)n_layer * (AK_METRICS_H_BUCKETS + 1), sizeof *m->h_hist);
    m->h_sum = calloc((size_t)n_layer, sizeof *m->h_sum);
    m->v = calloc((size_t)n_variants, sizeof *m->v);
    if (!m->k_bounds || !m->k_hist || !m->h_hist || !m->h_sum || !m->v) {
        ak_metrics_free(m);
        return NULL;
    }
    /* every K up to 8, then powers of two and their midpoints (12, 16, 24, 32, 48, ...) */
    for (int k = 1; k <= n_expert; k++)
        if (k <= 8 || is_pow2(k) || (k % 3 == 0 && is_pow2(k / 3))) m->k_bounds[m->n_kb++] = k;
    if (m->k_bounds[m->n_kb - 1] != n_expert) m->k_bounds[m->n_kb++] = n_expert;
    double hmax = n_expert > 1 ? log((double)n_expert) : 1.0;
    for (int i = 0; i < AK_METRICS_H_BUCKETS; i++) m->h_bounds[i] = h_fractions[i] * hmax;
    for (int i = 0; i < n_variants; i++) snprintf(m->v[i].name, sizeof m->v[i].name, "%s", variant_names[i]);
    return m;
}

void ak_metrics_free(ak_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m->k_bounds);
    free(m->k_hist);
    free(m->h_hist);
    free(m->h_sum);
    free(m->v);
    free(m);
}

int ak_metrics_entropy_bucket(const ak_metrics *m, float h) {
    for (int i = 0; i < AK_METRICS_H_BUCKETS; i++)
        if ((double)h <= m->h_bounds[i]) return i;
    return AK_METRICS_H_BUCKETS;
}

void ak_metrics_add_routing(ak_metrics *m, const uint64_t *k_hist, const uint64_t *h_hist, const double *h_sum) {
    pthread_mutex_lock(&m->mu);
    size_t nk = (size_t)m->n_layer * (size_t)(m->n_expert + 1), nh = (size_t)m->n_layer * (AK_METRICS_H_BUCKETS + 1);
    for (size_t i = 0; i < nk; i++) m->k_hist[i] += k_hist[i];
    for (size_t i = 0; i < nh; i++) m->h_hist[i] += h_hist[i];
    for (int l = 0; l < m->n_layer; l++) m->h_sum[l] += h_sum[l];
    pthread_mutex_unlock(&m->mu);
}

static void lat_add(lat_hist *h, double x) {
    int i = 0;
    while (i < N_LAT && x > latency_bounds[i]) i++;
    h->count[i]++;
    h->sum += x;
    h->n++;
}

static int status_index(int status) {
    for (int i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status) return i;
    return N_STATUS - 1;
}

void ak_metrics_add_request(ak_metrics *m, int variant, int status, double latency_s, double ttft_s,
                            int prompt_tokens, int completion_tokens, uint64_t k_sum, uint64_t routed,
                            uint64_t expert_macs, uint64_t expert_macs_native) {
    if (variant < 0 || variant >= m->n_variants) return;
    pthread_mutex_lock(&m->mu);
    variant_stats *v = &m->v[variant];
    v->requests[status_index(status)]++;
    v->prompt_tokens += (uint64_t)(prompt_tokens > 0 ? prompt_tokens : 0);
    v->completion_tokens += (uint64_t)(completion_tokens > 0 ? completion_tokens : 0);
    v->k_sum += k_sum;
    v->routed += routed;
    v->macs += expert_macs;
    v->macs_native += expert_macs_native;
    lat_add(&v->latency, latency_s);
    if (ttft_s >= 0) lat_add(&v->ttft, ttft_s);
    pthread_mutex_unlock(&m->mu);
}

static void render_lat(ak_sbuf *o, const char *name, const char *help, const ak_metrics *m, int ttft) {
    ak_sbuf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int vi = 0; vi < m->n_variants; vi++) {
        const lat_hist *h = ttft ? &m->v[vi].ttft : &m->v[vi].latency;
        uint64_t cum = 0;
        for (int i = 0; i < N_LAT; i++) {
            cum += h->count[i];
            ak_sbuf_printf(o, "%s_bucket{variant=\"%s\",le=\"%g\"} %llu\n", name, m->v[vi].name, latency_bounds[i],
                           (unsigned long long)cum);
        }
        cum += h->count[N_LAT];
        ak_sbuf_printf(o, "%s_bucket{variant=\"%s\",le=\"+Inf\"} %llu\n", name, m->v[vi].name, (unsigned long long)cum);
        ak_sbuf_printf(o, "%s_sum{variant=\"%s\"} %.9g\n", name, m->v[vi].name, h->sum);
        ak_sbuf_printf(o, "%s_count{variant=\"%s\"} %llu\n", name, m->v[vi].name, (unsigned long long)h->n);
    }
}

void ak_metrics_add_step(ak_metrics *m, int n_seq, int n_tok, uint64_t expert_bytes, uint64_t expert_bytes_native) {
    pthread_mutex_lock(&m->mu);
    m->steps++;
    m->step_seqs += (uint64_t)n_seq;
    m->step_tokens += (uint64_t)n_tok;
    m->step_bytes += expert_bytes;
    m->step_bytes_native += expert_bytes_native;
    pthread_mutex_unlock(&m->mu);
}

void ak_metrics_add_skip(ak_metrics *m, const ak_metrics_skip *k) {
    pthread_mutex_lock(&m->mu);
    ak_metrics_skip *t = &m->skip;
    t->layers_run += k->layers_run, t->layers_native += k->layers_native;
    t->exit_tokens += k->exit_tokens, t->exit_checks += k->exit_checks, t->pruned_tokens += k->pruned_tokens;
    t->model_macs += k->model_macs, t->model_macs_native += k->model_macs_native;
    t->saved_k += k->saved_k, t->saved_exit += k->saved_exit, t->saved_prune += k->saved_prune;
    pthread_mutex_unlock(&m->mu);
}

/* A metric's HELP and TYPE lines (the caller prints its samples); a counter without labels
 * with its value. */
static void header(ak_sbuf *o, const char *name, const char *type, const char *help) {
    ak_sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
static void counter(ak_sbuf *o, const char *name, const char *help, uint64_t v) {
    header(o, name, "counter", help);
    ak_sbuf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void render_skip(const ak_metrics *m, ak_sbuf *o) {
    const ak_metrics_skip *k = &m->skip;
    const double n = k->model_macs_native ? (double)k->model_macs_native : 1.0;
    header(o, "adaptive_k_layers_total", "counter",
           "Token-layers computed in full (run) and of the whole model (native); early exit makes run smaller.");
    ak_sbuf_printf(o, "adaptive_k_layers_total{kind=\"run\"} %llu\nadaptive_k_layers_total{kind=\"native\"} %llu\n",
                   (unsigned long long)k->layers_run, (unsigned long long)k->layers_native);
    counter(o, "adaptive_k_exit_tokens_total", "Tokens that left the model before its last layer.", k->exit_tokens);
    counter(o, "adaptive_k_exit_checks_total", "Early-exit checks run.", k->exit_checks);
    counter(o, "adaptive_k_pruned_tokens_total", "Prompt tokens dropped by pruning.", k->pruned_tokens);
    header(o, "adaptive_k_model_compute_saved_ratio", "gauge",
           "Whole-model multiply-accumulates saved against the native model since start, each saving counted once, "
           "by technique (early exit net of its checks).");
    const char *by[4] = {"adaptive_k", "early_exit", "pruning", "all"};
    const double v[4] = {(double)k->saved_k / n, (double)k->saved_exit / n, (double)k->saved_prune / n,
                         k->model_macs_native ? 1.0 - (double)k->model_macs / (double)k->model_macs_native : 0.0};
    for (int i = 0; i < 4; i++) ak_sbuf_printf(o, "adaptive_k_model_compute_saved_ratio{by=\"%s\"} %.6f\n", by[i], v[i]);
}

static void render_batching(const ak_metrics *m, ak_sbuf *o) {
    counter(o, "adaptive_k_batch_steps_total", "Batched forward passes (continuous batching).", m->steps);
    counter(o, "adaptive_k_batch_sequences_total", "Requests in those passes, summed over the passes.", m->step_seqs);
    counter(o, "adaptive_k_batch_tokens_total", "Tokens in those passes (prompt chunks and generated).", m->step_tokens);
    header(o, "adaptive_k_batch_expert_bytes_total", "counter",
           "Expert weight bytes the passes read (each expert chosen by any token of a pass once per layer), with the "
           "routing used and with the native top-k.");
    ak_sbuf_printf(o,
                   "adaptive_k_batch_expert_bytes_total{routing=\"chosen\"} %llu\n"
                   "adaptive_k_batch_expert_bytes_total{routing=\"native\"} %llu\n",
                   (unsigned long long)m->step_bytes, (unsigned long long)m->step_bytes_native);
}

int ak_metrics_render(ak_metrics *m, ak_sbuf *o, int queue_depth, int running) {
    pthread_mutex_lock(&m->mu);
    const int E = m->n_expert;
    ak_sbuf_puts(o, "# HELP adaptive_k_selected Experts run (K) per token and MoE layer.\n"
                    "# TYPE adaptive_k_selected histogram\n");
    for (int l = 0; l < m->n_layer; l++) {
        const uint64_t *kh = m->k_hist + (size_t)l * (size_t)(E + 1);
        uint64_t cum = 0, sum = 0;
        int k = 0;
        for (int b = 0; b < m->n_kb; b++) {
            for (; k <= m->k_bounds[b]; k++) {
                cum += kh[k];
                sum += (uint64_t)k * kh[k];
            }
            ak_sbuf_printf(o, "adaptive_k_selected_bucket{layer=\"%d\",le=\"%d\"} %llu\n", l, m->k_bounds[b],
                           (unsigned long long)cum);
        }
        ak_sbuf_printf(o, "adaptive_k_selected_bucket{layer=\"%d\",le=\"+Inf\"} %llu\n", l, (unsigned long long)cum);
        ak_sbuf_printf(o, "adaptive_k_selected_sum{layer=\"%d\"} %llu\n", l, (unsigned long long)sum);
        ak_sbuf_printf(o, "adaptive_k_selected_count{layer=\"%d\"} %llu\n", l, (unsigned long long)cum);
    }
    ak_sbuf_puts(o, "# HELP adaptive_k_entropy Router entropy per token and MoE layer, in nats.\n"
                    "# TYPE adaptive_k_entropy histogram\n");
    for (int l = 0; l < m->n_layer; l++) {
        const uint64_t *hh = m->h_hist + (size_t)l * (AK_METRICS_H_BUCKETS + 1);
        uint64_t cum = 0;
        for (int b = 0; b < AK_METRICS_H_BUCKETS; b++) {
            cum += hh[b];
            ak_sbuf_printf(o, "adaptive_k_entropy_bucket{layer=\"%d\",le=\"%.6g\"} %llu\n", l, m->h_bounds[b],
                           (unsigned long long)cum);
        }
        cum += hh[AK_METRICS_H_BUCKETS];
        ak_sbuf_printf(o, "adaptive_k_entropy_bucket{layer=\"%d\",le=\"+Inf\"} %llu\n", l, (unsigned long long)cum);
        ak_sbuf_printf(o, "adaptive_k_entropy_sum{layer=\"%d\"} %.9g\n", l, m->h_sum[l]);
        ak_sbuf_printf(o, "adaptive_k_entropy_count{layer=\"%d\"} %llu\n", l, (unsigned long long)cum);
    }
    render_lat(o, "adaptive_k_latency_seconds", "Request latency from arrival to the end of the response.", m, 0);
    render_lat(o, "adaptive_k_time_to_first_token_seconds", "Time from arrival to the first generated token.", m, 1);

    ak_sbuf_puts(o, "# HELP adaptive_k_avg_k Average K per token and layer since start.\n"
                    "# TYPE adaptive_k_avg_k gauge\n");
    for (int vi = 0; vi < m->n_variants; vi++)
        if (m->v[vi].routed)
            ak_sbuf_printf(o, "adaptive_k_avg_k{variant=\"%s\"} %.6f\n", m->v[vi].name,
                           (double)m->v[vi].k_sum / (double)m->v[vi].routed);
    ak_sbuf_puts(o, "# HELP adaptive_k_compute_saved_ratio Expert multiply-accumulates saved against the model's "
                    "own top-k since start.\n# TYPE adaptive_k_compute_saved_ratio gauge\n");
    for (int vi = 0; vi < m->n_variants; vi++)
        if (m->v[vi].macs_native)
            ak_sbuf_printf(o, "adaptive_k_compute_saved_ratio{variant=\"%s\"} %.6f\n", m->v[vi].name,
                           1.0 - (double)m->v[vi].macs / (double)m->v[vi].macs_native);

    ak_sbuf_puts(o, "# HELP adaptive_k_requests_total Completion requests answered, by HTTP status and A/B variant.\n"
                    "# TYPE adaptive_k_requests_total counter\n");
    for (int vi = 0; vi < m->n_variants; vi++)
        for (int si = 0; si < N_STATUS; si++) {
            uint64_t c = m->v[vi].requests[si];
            if (!c && si != 0) continue;
            if (si == N_STATUS - 1)
                ak_sbuf_printf(o, "adaptive_k_requests_total{status=\"other\",variant=\"%s\"} %llu\n", m->v[vi].name,
                               (unsigned long long)c);
            else
                ak_sbuf_printf(o, "adaptive_k_requests_total{status=\"%d\",variant=\"%s\"} %llu\n", statuses[si],
                               m->v[vi].name, (unsigned long long)c);
        }
    ak_sbuf_puts(o, "# HELP adaptive_k_tokens_total Tokens processed, by kind (prompt, completion) and A/B variant.\n"
                    "# TYPE adaptive_k_tokens_total counter\n");
    for (int vi = 0; vi < m->n_variants; vi++) {
        ak_sbuf_printf(o, "adaptive_k_tokens_total{kind=\"prompt\",variant=\"%s\"} %llu\n", m->v[vi].name,
                       (unsigned long long)m->v[vi].prompt_tokens);
        ak_sbuf_printf(o, "adaptive_k_tokens_total{kind=\"completion\",variant=\"%s\"} %llu\n", m->v[vi].name,
                       (unsigned long long)m->v[vi].completion_tokens);
    }
    render_batching(m, o);
    render_skip(m, o);
    ak_sbuf_printf(o, "# HELP adaptive_k_queue_depth Requests waiting for a slot.\n# TYPE adaptive_k_queue_depth gauge\n"
                      "adaptive_k_queue_depth %d\n",
                   queue_depth);
    ak_sbuf_printf(o, "# HELP adaptive_k_requests_running Requests being generated.\n"
                      "# TYPE adaptive_k_requests_running gauge\nadaptive_k_requests_running %d\n",
                   running);
    pthread_mutex_unlock(&m->mu);
    return o->s ? 0 : -1;
}
