/* test_perplexity_method.c - ak_perplexity follows llama-perplexity's method: disjoint
 * chunks, BOS replacing each chunk's first token, only the second half scored, running
 * values and the uncertainty formula. The engine is replaced by a mock context whose
 * logits are chosen so that every NLL is known by hand. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/errfmt.h"
#include "../check.h"
#include "eval/perplexity.h"


/* ---------------------------------------------------------------- mock engine */

#define V 5   /* tokens 0..3 plus BOS = 4 */
#define BOS 4
#define MAX_CTX 64

struct ak_context {
    int n_ctx, n_batch, n_past, n_resets, n_last;
    int logits_last, n_calls, split; /* split: test_two_chunks with split_context */
    ak_skip_params skip;
    int pruned_scored;    /* a decode of a scored position ran with pruning on */
    int32_t seq[MAX_CTX]; /* tokens decoded since the last reset */
    float logits[MAX_CTX][V];
    int bad_order;
};

int ak_context_n_ctx(const ak_context *c) { return c->n_ctx; }
int ak_context_n_batch(const ak_context *c) { return c->n_batch; }
void ak_context_reset(ak_context *c) {
    c->n_past = 0;
    c->n_resets++;
}

/* After token t the model favours (t + 1) % 4 with logit ln 3 over 0 for the rest, but
 * only in a sequence that starts with BOS; otherwise all logits are 0 (uniform). */
int ak_decode(ak_context *c, const int32_t *tokens, int n, ak_error *err) {
    if (n < 1 || n > c->n_batch || c->n_past + n > c->n_ctx) {
        ak_failf(err, AK_ERR_INVALID_ARG, "mock: bad batch");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        c->seq[c->n_past + i] = tokens[i];
        for (int j = 0; j < V; j++) c->logits[i][j] = 0;
        if (c->seq[0] == BOS && tokens[i] != BOS) c->logits[i][(tokens[i] + 1) % 4] = logf(3.0f);
    }
    if (c->n_past > c->n_ctx / 2 && c->skip.prune_ratio > 0) c->pruned_scored = 1;
    if (c->split && c->n_past <= c->n_ctx / 2 && c->n_past + n > c->n_ctx / 2 + 1) c->bad_order = 1;
    c->n_past += n;
    c->n_last = n;
    c->n_calls++;
    return 0;
}

const float *ak_get_logits(const ak_context *c, int i) {
    if (c->logits_last && i != c->n_last - 1) return NULL;
    return i >= 0 && i < c->n_last ? c->logits[i] : NULL;
}
ak_skip_params ak_context_skip(const ak_context *c) { return c->skip; }
int ak_context_set_skip(ak_context *c, const ak_skip_params *p, ak_error *err) {
    (void)err;
    c->skip = *p;
    return 0;
}
int ak_context_set_logits_last(ak_context *c, int on, ak_error *err) {
    (void)err;
    c->logits_last = on;
    return 0;
}

/* ---------------------------------------------------------------- tests */

static int32_t tokens[20];

static void setup_tokens(void) {
    for (int i = 0; i < 20; i++) tokens[i] = i % 4;
    tokens[6] = 3; /* breaks the +1 pattern inside chunk 0's scored half */
}

static int64_t n_seen;
static void count_logits(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next) {
    (void)logits;
    (void)n_vocab;
    int *ok = user;
    if (pos < 4 || pos > 6 || next != tokens[chunk * 8 + pos + 1]) *ok = 0;
    n_seen++;
}

/* split: the context half [0, 4] as its own decodes (last logits only, pruning on), the
 * scored half after it without pruning: the same numbers. */
static void test_two_chunks(int n_batch, int split) {
    ak_context c = {.n_ctx = 8, .n_batch = n_batch, .split = split};
    c.skip.prune_ratio = 0.5f;
    ak_ppl_params p = ak_ppl_default_params();
    p.n_vocab = V, p.n_ctx = 8, p.n_batch = n_batch, p.bos = BOS, p.split_context = split;
    int ok = 1;
    p.on_logits = count_logits, p.user = &ok;
    n_seen = 0;
    ak_ppl_result r;
    ak_error err = {0};
    CHECK(ak_perplexity(&c, tokens, 20, &p, &r, &err) == 0, "%s", err.msg);
    /* 20 tokens, n_ctx 8: 2 chunks (the last 4 tokens dropped); positions 4, 5, 6 scored.
     * p(match) = 3 / (3 + 4) -> NLL ln(7/3); a miss -> NLL ln 7.
     * chunk 0 (0 1 2 3 0 1 3 3): 0->1 match, 1->3 miss, 3->3 miss
     * chunk 1 (0 1 2 3 0 1 2 3): three matches */
    const double hit = log(7.0 / 3.0), miss = log(7.0);
    const double mean = (4 * hit + 2 * miss) / 6, mean2 = (4 * hit * hit + 2 * miss * miss) / 6;
    const double ppl = exp(mean), unc = sqrt((mean2 - mean * mean) / 5) * ppl;
    CHECK(r.n_chunks == 2 && r.n_scored == 6, "chunks %d scored %lld", r.n_chunks, (long long)r.n_scored);
    CHECK(fabs(r.ppl - ppl) < 1e-5 * ppl, "batch %d: PPL %.6f, want %.6f", n_batch, r.ppl, ppl);
    CHECK(fabs(r.ppl_err - unc) < 1e-5 * unc, "batch %d: +/- %.6f, want %.6f", n_batch, r.ppl_err, unc);
    CHECK(c.n_resets == 2, "KV cache cleared before each chunk (%d)", c.n_resets);
    if (split)
        CHECK(!c.pruned_scored && !c.bad_order && c.skip.prune_ratio == 0.5f && !c.logits_last,
              "split: the scored half unpruned, after a context decode ending at position 4; settings restored");
    CHECK(ok && n_seen == 6, "callback saw %lld scored positions with their next tokens", (long long)n_seen);
    /* the second chunk went in with BOS in place of its first token, the rest unchanged */
    CHECK(c.seq[0] == BOS, "BOS first");
    for (int i = 1; i < 8; i++) CHECK(c.seq[i] == tokens[8 + i], "chunk 1 token %d", i);

    /* one chunk only: (ln(7/3) + 2 ln 7) / 3 */
    p.n_chunks = 1;
    p.on_logits = NULL;
    CHECK(ak_perplexity(&c, tokens, 20, &p, &r, &err) == 0, "%s", err.msg);
    CHECK(fabs(r.ppl - exp((hit + 2 * miss) / 3)) < 1e-5, "one chunk PPL %.6f", r.ppl);
}

static void test_no_bos_and_errors(void) {
    ak_context c = {.n_ctx = 8, .n_batch = 8};
    ak_ppl_params p = ak_ppl_default_params();
    p.n_vocab = V, p.n_ctx = 8, p.n_batch = 8, p.bos = -1;
    ak_ppl_result r;
    ak_error err = {0};
    /* without BOS the mock is uniform: PPL = V exactly, spread 0 */
    CHECK(ak_perplexity(&c, tokens, 20, &p, &r, &err) == 0, "%s", err.msg);
    CHECK(fabs(r.ppl - V) < 1e-6 && r.ppl_err == 0, "uniform PPL %.6f +/- %.6f", r.ppl, r.ppl_err);
    CHECK(c.seq[0] == tokens[8], "no BOS: the chunk's own first token");

    CHECK(ak_perplexity(&c, tokens, 15, &p, &r, &err) != 0 && strstr(err.msg, "at least 16"),
          "too few tokens: %s", err.msg);
    p.n_ctx = 16;
    CHECK(ak_perplexity(&c, tokens, 20, &p, &r, &err) != 0 && strstr(err.msg, "context"),
          "chunk larger than the context: %s", err.msg);
    p.n_ctx = 8, p.n_vocab = 0;
    CHECK(ak_perplexity(&c, tokens, 20, &p, &r, &err) != 0, "n_vocab 0 rejected");
}

static void test_nll_and_sums(void) {
    const float lg[3] = {1, 2, 3};
    /* -log softmax(1,2,3)[0] = log(e + e^2 + e^3) - 1 */
    double want = log(exp(1.0) + exp(2.0) + exp(3.0)) - 1.0;
    CHECK(fabs(ak_token_nll(lg, 3, 0) - want) < 1e-6, "nll %.8f want %.8f", ak_token_nll(lg, 3, 0), want);
    const float big[2] = {1000.0f, 999.0f}; /* no overflow: log(1 + e^-1) */
    CHECK(fabs(ak_token_nll(big, 2, 0) - log(1 + exp(-1.0))) < 1e-5, "large logits");
    double ppl, unc;
    /* NLLs 1 and 3: mean 2, E[x^2] 5, var 1, sqrt(1 / 1) -> PPL e^2 +/- e^2 */
    ak_ppl_from_sums(4, 10, 2, &ppl, &unc);
    CHECK(fabs(ppl - exp(2.0)) < 1e-9 && fabs(unc - exp(2.0)) < 1e-9, "sums: %.6f +/- %.6f", ppl, unc);
}

int main(void) {
    setup_tokens();
    test_two_chunks(8, 0);
    test_two_chunks(3, 0); /* batches of 3, 3, 2 give the same numbers */
    test_two_chunks(8, 1);
    test_two_chunks(3, 1);
    test_no_bos_and_errors();
    test_nll_and_sums();
    return check_finish("test_perplexity_method");
}
