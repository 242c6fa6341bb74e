/* logprobs.c - compact log-probabilities of scored positions (see logprobs.h). The host is
 * assumed little-endian (x86-64, AArch64), as for the GGUF reader. */
#include "eval/logprobs.h"
#include "base/errfmt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_HEAD 16
static const char MAGIC[8] = {'A', 'K', 'L', 'O', 'G', 'P', 'R', '1'};

uint64_t ak_tokens_hash(const int32_t *tokens, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int64_t i = 0; i < n; i++) {
        uint32_t t = (uint32_t)tokens[i];
        for (int b = 0; b < 4; b++) {
            h ^= (t >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return h;
}

static int set_shape(ak_logprobs *lp, int n_vocab, int n_ctx, int n_chunks, ak_error *err) {
    if (n_vocab < 1 || n_vocab > (1 << 24) || n_ctx < 4 || n_chunks < 1) {
        ak_failf(err, AK_ERR_INVALID_ARG, "log-probs: bad shape (n_vocab %d, n_ctx %d, n_chunks %d)", n_vocab, n_ctx, n_chunks);
        return -1;
    }
    lp->n_vocab = n_vocab;
    lp->n_ctx = n_ctx;
    lp->n_chunks = n_chunks;
    lp->rows_per_chunk = n_ctx - 1 - n_ctx / 2;
    lp->row_bytes = ROW_HEAD + 2 * (size_t)n_vocab;
    lp->n_rows = (int64_t)n_chunks * lp->rows_per_chunk;
    return 0;
}

int ak_logprobs_init(ak_logprobs *lp, int n_vocab, int n_ctx, int n_chunks, ak_error *err) {
    memset(lp, 0, sizeof *lp);
    if (set_shape(lp, n_vocab, n_ctx, n_chunks, err)) return -1;
    lp->rows = calloc((size_t)lp->n_rows, lp->row_bytes);
    if (!lp->rows) {
        ak_failf(err, AK_ERR_NOMEM, "log-probs: out of memory for %lld rows of %zu bytes", (long long)lp->n_rows,
                lp->row_bytes);
        return -1;
    }
    return 0;
}

void ak_logprobs_free(ak_logprobs *lp) {
    free(lp->rows);
    memset(lp, 0, sizeof *lp);
}

int64_t ak_logprobs_row(const ak_logprobs *lp, int chunk, int pos) {
    const int first = lp->n_ctx / 2;
    if (chunk < 0 || chunk >= lp->n_chunks || pos < first || pos >= lp->n_ctx - 1) return -1;
    return (int64_t)chunk * lp->rows_per_chunk + (pos - first);
}

void ak_logprobs_put(ak_logprobs *lp, int64_t r, const float *logits, int32_t next_token) {
    const int n = lp->n_vocab;
    unsigned char *row = lp->rows + (size_t)r * lp->row_bytes;
    int32_t imax = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[imax]) imax = i;
    const float max = logits[imax];
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - max);
    const double lse = log(sum); /* log p_i = logits[i] - max - lse */
    const float top = (float)-lse;
    const float nll_next = (float)(lse - ((double)logits[next_token] - max));
    memcpy(row, &top, 4);
    memcpy(row + 4, &imax, 4);
    memcpy(row + 8, &next_token, 4);
    memcpy(row + 12, &nll_next, 4);
    uint16_t *codes = (uint16_t *)(row + ROW_HEAD);
    const double per_nat = 65535.0 / AK_LOGPROB_RANGE;
    for (int i = 0; i < n; i++) {
        const double below = (double)max - logits[i]; /* nats below the top token */
        const double c = 65535.0 - below * per_nat;
        codes[i] = c <= 0.5 ? 0 : (uint16_t)lrint(c);
    }
}

void ak_logprobs_get(const ak_logprobs *lp, int64_t r, float *logp, int32_t *argmax, int32_t *next, double *nll_next) {
    const unsigned char *row = lp->rows + (size_t)r * lp->row_bytes;
    float top, nll;
    memcpy(&top, row, 4);
    if (argmax) memcpy(argmax, row + 4, 4);
    if (next) memcpy(next, row + 8, 4);
    memcpy(&nll, row + 12, 4);
    if (nll_next) *nll_next = nll;
    if (!logp) return;
    const uint16_t *codes = (const uint16_t *)(row + ROW_HEAD);
    const float nats_per_code = AK_LOGPROB_RANGE / 65535.0f;
    for (int i = 0; i < lp->n_vocab; i++)
        logp[i] = codes[i] ? top - nats_per_code * (float)(65535 - codes[i]) : -INFINITY;
}

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

int ak_logprobs_save(const ak_logprobs *lp, const char *path, ak_error *err) {
    unsigned char h[AK_LOGPROB_HEADER] = {0};
    memcpy(h, MAGIC, 8);
    put_u32(h + 8, 1);
    put_u32(h + 12, (uint32_t)lp->n_vocab);
    put_u32(h + 16, (uint32_t)lp->n_ctx);
    put_u32(h + 20, (uint32_t)lp->n_chunks);
    put_u32(h + 24, (uint32_t)lp->rows_per_chunk);
    put_u32(h + 28, (uint32_t)lp->row_bytes);
    put_u64(h + 32, lp->tokens_hash);
    put_u64(h + 40, (uint64_t)lp->n_rows);
    FILE *f = fopen(path, "wb");
    if (!f) {
        ak_failf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    int bad = fwrite(h, 1, sizeof h, f) != sizeof h ||
              fwrite(lp->rows, lp->row_bytes, (size_t)lp->n_rows, f) != (size_t)lp->n_rows;
    bad |= fclose(f) != 0;
    if (bad) {
        remove(path);
        ak_failf(err, AK_ERR_IO, "%s: write failed", path);
        return -1;
    }
    return 0;
}

int ak_logprobs_load(ak_logprobs *lp, const char *path, ak_error *err) {
    memset(lp, 0, sizeof *lp);
    FILE *f = fopen(path, "rb");
    if (!f) {
        ak_failf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char h[AK_LOGPROB_HEADER];
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        ak_failf(err, AK_ERR_IO, "%s: cannot determine the file size", path);
        goto fail;
    }
    if ((size_t)size < sizeof h || fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, MAGIC, 8)) {
        ak_failf(err, AK_ERR_FORMAT, "%s: not a log-probs file (no AKLOGPR1 header; write one with perplexity --save-logits)",
                path);
        goto fail;
    }
    if (get_u32(h + 8) != 1) {
        ak_failf(err, AK_ERR_FORMAT, "%s: log-probs version %u is not supported (1 is)", path, get_u32(h + 8));
        goto fail;
    }
    uint32_t n_vocab = get_u32(h + 12), n_ctx = get_u32(h + 16), n_chunks = get_u32(h + 20);
    if (n_vocab > (1u << 24) || n_ctx > (1u << 24) || n_chunks > (1u << 24) ||
        set_shape(lp, (int)n_vocab, (int)n_ctx, (int)n_chunks, NULL) ||
        get_u32(h + 24) != (uint32_t)lp->rows_per_chunk || get_u32(h + 28) != (uint32_t)lp->row_bytes ||
        get_u64(h + 40) != (uint64_t)lp->n_rows) {
        ak_failf(err, AK_ERR_FORMAT, "%s: inconsistent header (n_vocab %u, n_ctx %u, n_chunks %u, rows/chunk %u, row %u bytes)",
                path, n_vocab, n_ctx, n_chunks, get_u32(h + 24), get_u32(h + 28));
        goto fail;
    }
    lp->tokens_hash = get_u64(h + 32);
    const uint64_t want = AK_LOGPROB_HEADER + (uint64_t)lp->n_rows * lp->row_bytes;
    if ((uint64_t)size != want) {
        ak_failf(err, AK_ERR_FORMAT, "%s: %ld bytes, but the header describes %llu (truncated or corrupt)", path, size,
                (unsigned long long)want);
        goto fail;
    }
    lp->rows = malloc((size_t)lp->n_rows * lp->row_bytes);
    if (!lp->rows) {
        ak_failf(err, AK_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fread(lp->rows, lp->row_bytes, (size_t)lp->n_rows, f) != (size_t)lp->n_rows) {
        ak_failf(err, AK_ERR_IO, "%s: read failed", path);
        goto fail;
    }
    for (int64_t r = 0; r < lp->n_rows; r++) {
        const unsigned char *row = lp->rows + (size_t)r * lp->row_bytes;
        int32_t am = (int32_t)get_u32(row + 4), nx = (int32_t)get_u32(row + 8);
        float top, nll;
        memcpy(&top, row, 4);
        memcpy(&nll, row + 12, 4);
        const uint16_t *codes = (const uint16_t *)(row + ROW_HEAD);
        if (am < 0 || am >= lp->n_vocab || nx < 0 || nx >= lp->n_vocab || !(top <= 0.0f) || !isfinite(top) ||
            !(nll >= -1e-5f) || !isfinite(nll) || codes[am] != 65535) {
            ak_failf(err, AK_ERR_FORMAT, "%s: row %lld is corrupt (token ids, log-probabilities or top code out of range)", path,
                    (long long)r);
            goto fail;
        }
    }
    fclose(f);
    return 0;
fail:
    fclose(f);
    free(lp->rows);
    memset(lp, 0, sizeof *lp);
    return -1;
}
