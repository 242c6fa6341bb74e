/* test_kl.c - KL divergence statistics on distributions whose values are known by hand,
 * and the log-probs file: round trip within the documented quantisation, and clear
 * errors for corrupt, truncated and foreign files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "eval/kl.h"
#include "eval/logprobs.h"

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

static void logs(const double *p, float *out, int n) {
    for (int i = 0; i < n; i++) out[i] = (float)log(p[i]);
}

static void test_kl_by_hand(void) {
    const double LN2 = log(2.0);
    /* base p = (1/2, 1/4, 1/4), run q = (1/4, 1/2, 1/4):
     * KL = 1/2 ln 2 + 1/4 ln(1/2) + 0 = ln2 / 4; top-1 differs (0 vs 1) */
    double p[3] = {0.5, 0.25, 0.25}, q[3] = {0.25, 0.5, 0.25};
    float lp[3], lq[3];
    logs(p, lp, 3);
    logs(q, lq, 3);
    /* logits need not be normalised: shift q's by +7 */
    float lq_shift[3] = {lq[0] + 7, lq[1] + 7, lq[2] + 7};
    ak_kl_stats s;
    ak_kl_init(&s);
    double k1 = ak_kl_add(&s, lp, -1, NAN, lq_shift, 3, 2);
    CHECK(NEAR(k1, LN2 / 4, 1e-6), "KL %.9f want %.9f", k1, LN2 / 4);
    /* second position: identical distributions, KL 0, same top */
    double k2 = ak_kl_add(&s, lp, 0, NAN, lp, 3, 0);
    CHECK(NEAR(k2, 0, 1e-7), "KL of identical distributions %.3g", k2);
    ak_kl_summary o;
    ak_kl_summarize(&s, &o);
    CHECK(o.count == 2, "count %lld", (long long)o.count);
    CHECK(NEAR(o.kld, LN2 / 8, 1e-6), "mean KL %.9f want %.9f", o.kld, LN2 / 8);
    /* two values a, b: sd of the mean = |a - b| / 2 */
    CHECK(NEAR(o.kld_err, LN2 / 8, 1e-6), "KL uncertainty %.9f want %.9f", o.kld_err, LN2 / 8);
    CHECK(NEAR(o.same_top, 0.5, 1e-12), "same top %.3f", o.same_top);
    CHECK(NEAR(o.same_top_err, 0.5, 1e-12), "same top err %.3f want sqrt(0.25/1)", o.same_top_err);
    /* NLL: run -ln(1/4) and -ln(1/2); base -ln(1/4) and -ln(1/2): equal means, ratio 1 */
    CHECK(NEAR(o.ln_ratio, 0, 1e-6), "ln ratio %.9f", o.ln_ratio);
    CHECK(NEAR(o.ratio, 1, 1e-6), "ratio %.9f", o.ratio);
    CHECK(NEAR(o.ppl, exp((log(4.0) + log(2.0)) / 2), 1e-5), "ppl %.6f want sqrt(8)", o.ppl);

    /* a run worse on every token by ln 2: ln ratio = ln 2 exactly, no uncertainty because
     * the differences are constant (cov = var) */
    ak_kl_init(&s);
    double pb[2] = {0.5, 0.5}, pr[2] = {0.25, 0.75};
    float lb[2], lr[2];
    logs(pb, lb, 2);
    logs(pr, lr, 2);
    ak_kl_add(&s, lb, 0, NAN, lr, 2, 0);   /* nll run ln4, base ln2 */
    double pr2[2] = {0.75, 0.25};
    float lr2[2];
    logs(pr2, lr2, 2);
    ak_kl_add(&s, lb, 0, NAN, lr2, 2, 1); /* nll run ln4, base ln2 */
    ak_kl_summarize(&s, &o);
    CHECK(NEAR(o.ln_ratio, LN2, 1e-6), "ln ratio %.9f want ln 2", o.ln_ratio);
    CHECK(NEAR(o.ratio, 2.0, 1e-5), "ratio %.6f want 2", o.ratio);
    CHECK(o.ln_ratio_err < 1e-4, "ln ratio err %.3g want 0", o.ln_ratio_err);
    /* KL(0.5,0.5 || 0.25,0.75) = 0.5 ln 2 + 0.5 ln(2/3) for both positions */
    const double want = 0.5 * LN2 + 0.5 * log(2.0 / 3.0);
    CHECK(NEAR(o.kld, want, 1e-6), "KL %.9f want %.9f", o.kld, want);
    CHECK(o.kld_err < 1e-6, "KL err %.3g want 0", o.kld_err);
    /* top-1: base ties go to id 0; run 1 picks 1, run 2 picks 0 */
    CHECK(s.n_same_top == 1, "same top count %lld want 1", (long long)s.n_same_top);

    /* p_base = 0 entries contribute nothing */
    ak_kl_init(&s);
    float lz[3] = {0.0f, -INFINITY, -INFINITY};
    float lu[3] = {0, 0, 0};
    double k = ak_kl_add(&s, lz, 0, NAN, lu, 3, 0);
    CHECK(NEAR(k, log(3.0), 1e-6), "KL to uniform %.9f want ln 3", k);
}

static void tmpname(char *buf, size_t len, const char *tag) {
    const char *d = getenv("TMPDIR");
    snprintf(buf, len, "%s/ak_eval_%s_%d.lp", d && *d ? d : "/tmp", tag, (int)getpid());
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void test_logprobs_file(void) {
    enum { V = 6, CTX = 8, CHUNKS = 2 };
    char path[512], bad[512];
    ak_error err = {0};
    tmpname(path, sizeof path, "ok");
    tmpname(bad, sizeof bad, "bad");
    ak_logprobs lp;
    CHECK(ak_logprobs_init(&lp, V, CTX, CHUNKS, &err) == 0, "%s", err.msg);
    CHECK(lp.rows_per_chunk == 3, "rows per chunk %d want 8 - 1 - 4", lp.rows_per_chunk);
    CHECK(ak_logprobs_row(&lp, 0, 3) == -1 && ak_logprobs_row(&lp, 0, 7) == -1, "positions 3 and 7 are not scored");
    CHECK(ak_logprobs_row(&lp, 1, 5) == 4, "row of chunk 1 pos 5 = %lld", (long long)ak_logprobs_row(&lp, 1, 5));
    float logits[6][V];
    for (int r = 0; r < 6; r++)
        for (int i = 0; i < V; i++) logits[r][i] = (float)(0.37 * r * i - 0.5 * i + 0.1 * (r % 3)) + 3.0f;
    logits[2][4] = -100.0f; /* more than 24 nats below the top: stored as p = 0 */
    int32_t tok[6] = {1, 2, 3, 4, 5, 0};
    for (int c = 0; c < CHUNKS; c++)
        for (int pos = 4; pos <= 6; pos++) {
            int64_t r = ak_logprobs_row(&lp, c, pos);
            ak_logprobs_put(&lp, r, logits[r], tok[r]);
        }
    lp.tokens_hash = ak_tokens_hash((const int32_t[]){1, 2, 3}, 3);
    CHECK(ak_logprobs_save(&lp, path, &err) == 0, "%s", err.msg);
    ak_logprobs in;
    CHECK(ak_logprobs_load(&in, path, &err) == 0, "%s", err.msg);
    CHECK(in.n_vocab == V && in.n_ctx == CTX && in.n_chunks == CHUNKS && in.n_rows == 6, "shape");
    CHECK(in.tokens_hash == lp.tokens_hash, "hash");
    const double step = 24.0 / 65535.0;
    for (int r = 0; r < 6 && in.rows; r++) {
        float got[V];
        int32_t am, nx;
        double nll;
        ak_logprobs_get(&in, r, got, &am, &nx, &nll);
        double mx = logits[r][0];
        int want_am = 0;
        for (int i = 1; i < V; i++)
            if (logits[r][i] > mx) mx = logits[r][i], want_am = i;
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp(logits[r][i] - mx);
        CHECK(am == want_am && nx == tok[r], "row %d argmax %d/%d next %d/%d", r, am, want_am, nx, tok[r]);
        CHECK(NEAR(nll, log(sum) - (logits[r][tok[r]] - mx), 1e-5), "row %d nll %.6f", r, nll);
        for (int i = 0; i < V; i++) {
            double want = logits[r][i] - mx - log(sum);
            if (r == 2 && i == 4) CHECK(got[i] == -INFINITY, "floored entry %.3f", got[i]);
            else CHECK(NEAR(got[i], want, step / 2 + 1e-5), "row %d token %d: %.7f want %.7f", r, i, got[i], want);
        }
    }
    ak_logprobs_free(&in);

    size_t n = 0;
    unsigned char *b = read_bytes(path, &n);
    CHECK(b && n == 64 + 6 * (16 + 2 * V), "file size %zu", n);
    if (b) {
        CHECK(ak_logprobs_load(&in, "/nonexistent/x.lp", &err) != 0 && strstr(err.msg, "x.lp"), "missing: %s",
              err.msg);
        write_bytes(bad, b, n - 1);
        CHECK(ak_logprobs_load(&in, bad, &err) != 0 && strstr(err.msg, "truncated"), "truncated: %s", err.msg);
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        c[0] = 'X';
        write_bytes(bad, c, n);
        CHECK(ak_logprobs_load(&in, bad, &err) != 0 && strstr(err.msg, "not a log-probs file"), "magic: %s",
              err.msg);
        memcpy(c, b, n);
        c[8] = 2;
        write_bytes(bad, c, n);
        CHECK(ak_logprobs_load(&in, bad, &err) != 0 && strstr(err.msg, "version"), "version: %s", err.msg);
        memcpy(c, b, n);
        c[16] = 10; /* n_ctx 10 -> 4 rows per chunk, header says 3 */
        write_bytes(bad, c, n);
        CHECK(ak_logprobs_load(&in, bad, &err) != 0 && strstr(err.msg, "inconsistent"), "header: %s", err.msg);
        memcpy(c, b, n);
        c[64 + 4] = 99; /* row 0 argmax out of range */
        write_bytes(bad, c, n);
        CHECK(ak_logprobs_load(&in, bad, &err) != 0 && strstr(err.msg, "row 0"), "row: %s", err.msg);
        memcpy(c, b, n);
        c[64 + 16 + 2 * 2 + 1] ^= 0x80; /* a code of row 0 changed: the top code moves */
        memset(c + 64 + 16, 0, 2 * V);  /* no 65535 code at the argmax */
        write_bytes(bad, c, n);
        CHECK(ak_logprobs_load(&in, bad, &err) != 0 && strstr(err.msg, "corrupt"), "codes: %s", err.msg);
        free(c);
        free(b);
    }
    ak_logprobs_free(&lp);
    remove(path);
    remove(bad);
}

int main(void) {
    test_kl_by_hand();
    test_logprobs_file();
    return check_finish("test_kl");
}
