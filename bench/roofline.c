/* roofline.c - see roofline.h. */
#include "roofline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "gguf/gguf.h"

#define BW_BYTES ((size_t)1 << 30)

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} slice;

/* Four independent sums, so the loop is bound by loads, not by one addition chain. */
static void *sum_slice(void *v) {
    slice *s = v;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= s->n; i += 4) a += s->p[i], b += s->p[i + 1], c += s->p[i + 2], d += s->p[i + 3];
    s->sum = a + b + c + d;
    return NULL;
}

double ak_read_bandwidth(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
    uint64_t *buf = aligned_alloc(64, BW_BYTES);
    if (!buf) return 0;
    memset(buf, 1, BW_BYTES); /* faulted in before timing */
    size_t words = BW_BYTES / 8, per = words / (size_t)n_threads;
    slice s[256];
    pthread_t th[256];
    double best = 0;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = ak_now();
        for (int i = 0; i < n_threads; i++) {
            s[i] = (slice){buf + per * (size_t)i, per, 0};
            if (i) pthread_create(&th[i], NULL, sum_slice, &s[i]);
        }
        sum_slice(&s[0]);
        for (int i = 1; i < n_threads; i++) pthread_join(th[i], NULL);
        double bw = (double)(per * (size_t)n_threads * 8) / (ak_now() - t0);
        for (int i = 0; i < n_threads; i++) sink += s[i].sum;
        if (bw > best) best = bw;
    }
    (void)sink;
    free(buf);
    return best;
}

int ak_decode_roofline(const ak_context *c, int n_threads, double avg_past, ak_roofline *r) {
    const ak_model *m = ak_context_model(c);
    const ak_hparams *hp = ak_model_hparams(m);
    ak_compute_counters cc;
    ak_context_counters(c, &cc);
    if (!cc.tokens) return -1;
    double dense = (double)(ak_model_weight_bytes(m) - ak_model_expert_bytes(m));
    const gguf_tensor *emb = gguf_find_tensor(ak_model_gguf(m), "token_embd.weight");
    if (emb && !hp->tied_output) /* one row of the table is read, not all of it */
        dense -= (double)emb->nbytes - (double)emb->nbytes / (double)hp->n_vocab;
    r->dense_bytes = dense;
    r->expert_bytes = (double)cc.expert_bytes_read / (double)cc.tokens;
    r->kv_bytes = avg_past * (double)ak_context_kv_bytes_per_token(c); /* in the cache's types */
    r->bandwidth = ak_read_bandwidth(n_threads);
    r->tps = r->bandwidth > 0 ? r->bandwidth / (r->dense_bytes + r->expert_bytes + r->kv_bytes) : 0;
    return 0;
}
