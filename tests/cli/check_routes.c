/* check_routes.c - independent check of `adaptive-k route` output.
 *
 *   check_routes LOGITS.npy BASE POLICY...
 *     reads BASE.jsonl (JSON lines, parsed with cJSON) and BASE.{ids,weights,k,entropy}.npy
 *     and checks them against a recomputation from the logits in double precision:
 *     entropy, the chosen K for POLICY, the ids (top-K by logit) and the weights
 *     (softmax over all experts). POLICY: "fixed K" or "entropy T1 T2" (k = 1, 2, 4, nats).
 *     Prints "avg_k A p10 P p50 P p90 P" (entropy percentiles, all layers, numpy 'linear'). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"

static int failures;
#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            if (failures++ < 20) {                         \
                fprintf(stderr, "check failed: " __VA_ARGS__); \
                fputc('\n', stderr);                       \
            }                                              \
        }                                                  \
    } while (0)

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n) return sorted[n - 1];
    return sorted[lo] + (pos - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

/* The JSON line of token t of layer l says the same as the arrays. */
static void check_json_line(FILE *jf, char **line, size_t *cap, const char *path, int l, int t, int k, double h,
                            const int32_t *id, const float *wt) {
    ssize_t n = getline(line, cap, jf);
    CHECK(n > 0, "%s: missing line for layer %d token %d", path, l, t);
    if (n <= 0) return;
    cJSON *j = cJSON_Parse(*line);
    CHECK(j != NULL, "line for layer %d token %d is not JSON: %s", l, t, *line);
    if (!j) return;
    cJSON *jl = cJSON_GetObjectItemCaseSensitive(j, "layer"), *jt = cJSON_GetObjectItemCaseSensitive(j, "token"),
          *jk = cJSON_GetObjectItemCaseSensitive(j, "k"), *jh = cJSON_GetObjectItemCaseSensitive(j, "entropy"),
          *ji = cJSON_GetObjectItemCaseSensitive(j, "ids"), *jw = cJSON_GetObjectItemCaseSensitive(j, "weights");
    CHECK(cJSON_IsNumber(jl) && jl->valueint == l && cJSON_IsNumber(jt) && jt->valueint == t,
          "line order at layer %d token %d", l, t);
    CHECK(cJSON_IsNumber(jk) && jk->valueint == k, "JSON k at layer %d token %d", l, t);
    CHECK(cJSON_IsNumber(jh) && fabs(jh->valuedouble - h) < 1e-4, "JSON entropy at layer %d token %d", l, t);
    CHECK(cJSON_IsArray(ji) && cJSON_GetArraySize(ji) == k && cJSON_IsArray(jw) && cJSON_GetArraySize(jw) == k,
          "JSON ids/weights length at layer %d token %d", l, t);
    for (int i = 0; i < k && cJSON_IsArray(ji) && cJSON_GetArraySize(ji) == k; i++) {
        CHECK(cJSON_GetArrayItem(ji, i)->valueint == id[i], "JSON id %d at layer %d token %d", i, l, t);
        CHECK(fabs(cJSON_GetArrayItem(jw, i)->valuedouble - wt[i]) < 1e-6, "JSON weight %d", i);
    }
    cJSON_Delete(j);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: check_routes LOGITS.npy BASE fixed K | entropy T1 T2\n");
        return 2;
    }
    const char *base = argv[2];
    int fixed = !strcmp(argv[3], "fixed");
    int fixed_k = fixed ? atoi(argv[4]) : 0;
    double t1 = fixed ? 0 : atof(argv[4]), t2 = (!fixed && argc > 5) ? atof(argv[5]) : 0;

    ak_error err;
    ak_f32_array lg;
    if (ak_npy_load_f32(argv[1], &lg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    int L = lg.ndim == 3 ? (int)lg.shape[0] : 1, T = (int)lg.shape[lg.ndim - 2], E = (int)lg.shape[lg.ndim - 1];
    char path[1024];
    ak_i32_array ids, ks;
    ak_f32_array w, ent;
    snprintf(path, sizeof path, "%s.ids.npy", base);
    if (ak_npy_load_i32(path, &ids, &err)) return fprintf(stderr, "%s\n", err.msg), 2;
    snprintf(path, sizeof path, "%s.k.npy", base);
    if (ak_npy_load_i32(path, &ks, &err)) return fprintf(stderr, "%s\n", err.msg), 2;
    snprintf(path, sizeof path, "%s.weights.npy", base);
    if (ak_npy_load_f32(path, &w, &err)) return fprintf(stderr, "%s\n", err.msg), 2;
    snprintf(path, sizeof path, "%s.entropy.npy", base);
    if (ak_npy_load_f32(path, &ent, &err)) return fprintf(stderr, "%s\n", err.msg), 2;
    int S = (int)ids.shape[2];
    CHECK(ids.ndim == 3 && ids.shape[0] == L && ids.shape[1] == T, "ids shape");
    CHECK(w.ndim == 3 && w.shape[0] == L && w.shape[1] == T && w.shape[2] == S, "weights shape");
    CHECK(ks.ndim == 2 && ks.shape[0] == L && ks.shape[1] == T, "k shape");
    CHECK(ent.ndim == 2 && ent.shape[0] == L && ent.shape[1] == T, "entropy shape");
    if (failures) return 1;

    snprintf(path, sizeof path, "%s.jsonl", base);
    FILE *jf = fopen(path, "r");
    if (!jf) return fprintf(stderr, "%s: cannot open\n", path), 2;
    char *line = NULL;
    size_t cap = 0;

    double *all_h = malloc((size_t)L * T * sizeof *all_h), *p = malloc((size_t)E * sizeof *p);
    long k_sum = 0;
    for (int l = 0; l < L; l++) {
        for (int t = 0; t < T; t++) {
            const float *z = lg.data + ((size_t)l * T + t) * E;
            double m = z[0], sum = 0, h = 0;
            for (int e = 1; e < E; e++) m = z[e] > m ? z[e] : m;
            for (int e = 0; e < E; e++) sum += p[e] = exp((double)z[e] - m);
            for (int e = 0; e < E; e++) {
                p[e] /= sum;
                if (p[e] > 0) h -= p[e] * log(p[e]);
            }
            all_h[(size_t)l * T + t] = h;
            size_t lt = (size_t)l * T + t;
            CHECK(fabs(ent.data[lt] - h) < 1e-4, "layer %d token %d: entropy %g, recomputed %g", l, t, ent.data[lt], h);
            int k = ks.data[lt];
            int want_k = fixed ? fixed_k : (h < t1 ? 1 : h < t2 ? 2 : 4);
            int near_edge = !fixed && (fabs(h - t1) < 1e-4 || fabs(h - t2) < 1e-4);
            CHECK(k == want_k || near_edge, "layer %d token %d: K %d, expected %d (H %g)", l, t, k, want_k, h);
            k_sum += k;
            const int32_t *id = ids.data + lt * S;
            const float *wt = w.data + lt * S;
            for (int i = 0; i < S; i++) {
                if (i >= k) {
                    CHECK(id[i] == -1 && wt[i] == 0, "layer %d token %d slot %d should be unused", l, t, i);
                    continue;
                }
                CHECK(id[i] >= 0 && id[i] < E, "layer %d token %d: id %d out of range", l, t, id[i]);
                if (id[i] < 0 || id[i] >= E) continue;
                CHECK(fabs(wt[i] - p[id[i]]) < 1e-5, "layer %d token %d: weight %g, softmax %g", l, t, wt[i], p[id[i]]);
                /* rank: exactly i experts have a larger logit (ties aside) */
                int larger = 0;
                for (int e = 0; e < E; e++) larger += z[e] > z[id[i]];
                CHECK(larger == i, "layer %d token %d: slot %d holds rank %d", l, t, i, larger);
            }
            check_json_line(jf, &line, &cap, path, l, t, k, h, id, wt);
        }
    }
    CHECK(getline(&line, &cap, jf) <= 0, "%s: extra lines", path);
    fclose(jf);
    free(line);
    qsort(all_h, (size_t)L * T, sizeof *all_h, cmp_double);
    size_t n = (size_t)L * T;
    printf("avg_k %.3f p10 %.2f p50 %.2f p90 %.2f\n", (double)k_sum / (double)n, percentile(all_h, n, 0.1),
           percentile(all_h, n, 0.5), percentile(all_h, n, 0.9));
    free(all_h);
    free(p);
    ak_i32_array_free(&ids);
    ak_i32_array_free(&ks);
    ak_f32_array_free(&w);
    ak_f32_array_free(&ent);
    ak_f32_array_free(&lg);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
