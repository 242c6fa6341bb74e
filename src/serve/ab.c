/* ab.c - A/B variants, assignment and results. */
#include "base/errfmt.h"
#include "serve/ab.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/textutil.h"
#include "serve/welch.h"

int ak_ab_parse(const char *spec, ak_variant *v, int max, int *n, ak_error *err) {
    *n = 0;
    double total = 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[512];
        if (len == 0 || len >= sizeof item) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: empty or too long item in '%s'", spec);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = 0;
        char *eq = strchr(item, '='), *colon = strrchr(item, ':');
        if (!eq || !colon || colon < eq) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: '%s' is not NAME=POLICY:SHARE", item);
            return -1;
        }
        if (*n >= max) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: at most %d variants", max);
            return -1;
        }
        ak_variant *x = &v[*n];
        memset(x, 0, sizeof *x);
        *eq = 0;
        *colon = 0;
        size_t nl = strlen(item);
        if (nl == 0 || nl >= sizeof x->name || strspn(item, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != nl) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: variant name '%s' must be 1-31 characters of [A-Za-z0-9_-]", item);
            return -1;
        }
        if (!strcmp(item, "custom") || !strcmp(item, "none")) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: variant names 'custom' and 'none' are reserved");
            return -1;
        }
        for (int i = 0; i < *n; i++)
            if (!strcmp(v[i].name, item)) {
                ak_failf(err, AK_ERR_INVALID_ARG, "--ab: variant '%s' given twice", item);
                return -1;
            }
        strcpy(x->name, item);
        if (!eq[1] || strlen(eq + 1) >= sizeof x->policy) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: variant '%s' has no policy", item);
            return -1;
        }
        strcpy(x->policy, eq + 1);
        char *e2;
        double share = strtod(colon + 1, &e2);
        if (e2 == colon + 1 || *e2 || !(share > 0) || !isfinite(share)) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--ab: share of '%s' must be a number > 0, not '%s'", item, colon + 1);
            return -1;
        }
        x->share = share;
        total += share;
        (*n)++;
        if (!end) break;
        p = end + 1;
    }
    if (*n == 0) {
        ak_failf(err, AK_ERR_INVALID_ARG, "--ab: no variants");
        return -1;
    }
    for (int i = 0; i < *n; i++) v[i].share /= total;
    return 0;
}

int ak_ab_assign(const ak_variant *v, int n, const char *key, size_t len) {
    double u = ak_hash_unit(ak_fnv1a64(key, len)), cum = 0;
    for (int i = 0; i < n; i++) {
        cum += v[i].share;
        if (u < cum) return i;
    }
    return n - 1;
}

/* ---------------------------------------------------------------- samples */

enum { S_LATENCY, S_TPS, S_AVGK, S_LOGPROB, N_SERIES };
static const char *series_name[N_SERIES] = {"latency_s", "tokens_per_s", "avg_k", "mean_logprob"};

/* A series keeps what the results need in bounded memory, however long the server runs
 * (it kept every sample: 32 bytes per request, regression_ab_samples_grow_without_bound):
 * the running mean and variance of all samples (Welford; exact, for the Welch intervals),
 * and for the percentiles a uniform reservoir of at most AK_AB_RESERVOIR samples (all of
 * them until there are more). */
typedef struct {
    ak_running_summary all;
    double *x; /* the reservoir */
    int n, cap;
    uint64_t rng;
} series;

struct ak_ab_stats {
    pthread_mutex_t mu;
    int n_variants;
    series *s; /* [n_variants][N_SERIES] */
};

ak_ab_stats *ak_ab_stats_new(int n_variants) {
    ak_ab_stats *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->s = calloc((size_t)n_variants * N_SERIES, sizeof *a->s);
    if (!a->s) {
        free(a);
        return NULL;
    }
    a->n_variants = n_variants;
    for (int i = 0; i < n_variants * N_SERIES; i++) a->s[i].rng = 0x9e3779b97f4a7c15ull + (uint64_t)i;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void ak_ab_stats_free(ak_ab_stats *a) {
    if (!a) return;
    for (int i = 0; i < a->n_variants * N_SERIES; i++) free(a->s[i].x);
    free(a->s);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

size_t ak_ab_stats_bytes(ak_ab_stats *a) {
    pthread_mutex_lock(&a->mu);
    size_t b = sizeof *a + (size_t)a->n_variants * N_SERIES * sizeof *a->s;
    for (int i = 0; i < a->n_variants * N_SERIES; i++) b += (size_t)a->s[i].cap * sizeof(double);
    pthread_mutex_unlock(&a->mu);
    return b;
}

static uint64_t next_random(uint64_t *r) {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

static void push(series *s, double x) {
    ak_running_add(&s->all, x);
    if (s->n == s->cap && s->cap < AK_AB_RESERVOIR) {
        int cap = s->cap ? 2 * s->cap : 64;
        double *y = realloc(s->x, (size_t)cap * sizeof *y);
        if (y) s->x = y, s->cap = cap; /* else a sample lost under memory pressure */
    }
    if (s->n < s->cap) {
        s->x[s->n++] = x;
        return;
    }
    uint64_t j = next_random(&s->rng) % (uint64_t)s->all.n; /* Algorithm R: keep x with chance cap / seen */
    if (j < (uint64_t)s->n) s->x[j] = x;
}

void ak_ab_record(ak_ab_stats *a, int variant, double latency_s, double tokens_per_s, double avg_k,
                  double mean_logprob, int has_logprob) {
    if (variant < 0 || variant >= a->n_variants) return;
    pthread_mutex_lock(&a->mu);
    series *s = a->s + (size_t)variant * N_SERIES;
    push(&s[S_LATENCY], latency_s);
    push(&s[S_TPS], tokens_per_s);
    push(&s[S_AVGK], avg_k);
    if (has_logprob) push(&s[S_LOGPROB], mean_logprob);
    pthread_mutex_unlock(&a->mu);
}

static void num(ak_sbuf *o, double x) {
    if (isfinite(x)) ak_sbuf_printf(o, "%.9g", x);
    else ak_sbuf_puts(o, "null");
}

int ak_ab_results_json(ak_ab_stats *a, const ak_variant *v, int n, ak_sbuf *o) {
    if (n > a->n_variants) n = a->n_variants;
    pthread_mutex_lock(&a->mu);
    ak_sample_summary sum[AK_MAX_VARIANTS][N_SERIES];
    ak_sbuf_puts(o, "{\"object\":\"ab.results\",\"confidence\":0.95,\"variants\":[");
    for (int i = 0; i < n; i++) {
        series *s = a->s + (size_t)i * N_SERIES;
        for (int k = 0; k < N_SERIES; k++) sum[i][k] = ak_running_get(&s[k].all);
        double p50 = 0, p95 = 0;
        if (s[S_LATENCY].n) {
            double *tmp = malloc((size_t)s[S_LATENCY].n * sizeof *tmp);
            if (tmp) {
                memcpy(tmp, s[S_LATENCY].x, (size_t)s[S_LATENCY].n * sizeof *tmp);
                p50 = ak_percentile_sorted(tmp, s[S_LATENCY].n, 0.50);
                p95 = ak_percentile_sorted(tmp, s[S_LATENCY].n, 0.95);
                free(tmp);
            }
        }
        ak_sbuf_printf(o, "%s{\"name\":", i ? "," : "");
        ak_sbuf_json_string(o, v[i].name, strlen(v[i].name));
        ak_sbuf_puts(o, ",\"policy\":");
        ak_sbuf_json_string(o, v[i].policy, strlen(v[i].policy));
        ak_sbuf_printf(o, ",\"share\":%.6g,\"requests\":%d,\"latency_s\":{\"mean\":", v[i].share, s[S_LATENCY].all.n);
        num(o, sum[i][S_LATENCY].mean);
        ak_sbuf_puts(o, ",\"p50\":");
        num(o, p50);
        ak_sbuf_puts(o, ",\"p95\":");
        num(o, p95);
        ak_sbuf_puts(o, "},\"tokens_per_s\":");
        num(o, sum[i][S_TPS].mean);
        ak_sbuf_puts(o, ",\"avg_k\":");
        num(o, sum[i][S_AVGK].mean);
        ak_sbuf_puts(o, ",\"mean_logprob\":");
        if (s[S_LOGPROB].all.n) num(o, sum[i][S_LOGPROB].mean);
        else ak_sbuf_puts(o, "null");
        ak_sbuf_puts(o, "}");
    }
    ak_sbuf_puts(o, "],\"comparisons\":[");
    for (int i = 1; i < n; i++) {
        ak_sbuf_printf(o, "%s{\"variant\":", i > 1 ? "," : "");
        ak_sbuf_json_string(o, v[i].name, strlen(v[i].name));
        ak_sbuf_puts(o, ",\"baseline\":");
        ak_sbuf_json_string(o, v[0].name, strlen(v[0].name));
        for (int k = 0; k < N_SERIES; k++) {
            ak_welch_ci ci;
            ak_sbuf_printf(o, ",\"%s\":", series_name[k]);
            if (ak_welch(&sum[i][k], &sum[0][k], 0.95, &ci)) {
                ak_sbuf_puts(o, "{\"diff\":null,\"ci95\":null,\"df\":null,\"note\":\"needs 2 samples per variant\"}");
                continue;
            }
            ak_sbuf_puts(o, "{\"diff\":");
            num(o, ci.diff);
            ak_sbuf_puts(o, ",\"ci95\":[");
            num(o, ci.lo);
            ak_sbuf_puts(o, ",");
            num(o, ci.hi);
            ak_sbuf_puts(o, "],\"df\":");
            num(o, ci.df);
            ak_sbuf_printf(o, ",\"significant\":%s}", (ci.lo > 0 || ci.hi < 0) ? "true" : "false");
        }
        ak_sbuf_puts(o, "}");
    }
    ak_sbuf_puts(o, "]}");
    pthread_mutex_unlock(&a->mu);
    return o->s ? 0 : -1;
}
