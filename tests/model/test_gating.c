/* test_gating.c - deepseek2's router (src/model/gating.c) against a brute-force reference
 * written here: sigmoid scores, selection by score + exp_probs_b within the best groups
 * (two best scores per group), weights the unbiased scores normalised; every policy along
 * that selection order on q (eligible scores normalised); and with a softmax, no bias and
 * no groups, the same decisions as libadaptivek's ak_route. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/gen_model.h"
#include "model/model_internal.h"

enum { X = 8, SLOTS = 8, N_TOK = 64 };

static uint64_t rng = 12345;
static float frand(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

/* The reference: eligible experts (best groups) in selection order into order, their
 * count returned; score[] the sigmoids. */
static int reference_order(const ak_hparams *hp, const float *bias, const float *z, float *score, int *order) {
    float sel[X];
    int keep[X] = {0}, per = hp->n_group > 1 ? X / hp->n_group : X, groups = hp->n_group > 1 ? hp->n_group : 1;
    for (int i = 0; i < X; i++) score[i] = 1.0f / (1.0f + expf(-z[i])), sel[i] = score[i] + (bias ? bias[i] : 0.0f);
    float gs[X];
    for (int g = 0; g < groups; g++) { /* the two best of the group, by sorting it */
        float v[X];
        for (int i = 0; i < per; i++) v[i] = sel[g * per + i];
        for (int a = 0; a < per; a++)
            for (int b = a + 1; b < per; b++)
                if (v[b] > v[a]) { float t = v[a]; v[a] = v[b], v[b] = t; }
        gs[g] = v[0] + v[1];
    }
    for (int u = 0; u < (hp->n_group > 1 ? hp->n_group_used : 1); u++) {
        int best = -1;
        for (int g = 0; g < groups; g++)
            if (!keep[g] && (best < 0 || gs[g] > gs[best])) best = g;
        keep[best] = 1;
    }
    int n = 0;
    for (int i = 0; i < X; i++)
        if (keep[i / per]) order[n++] = i;
    for (int a = 0; a < n; a++) /* descending sel, ties by index */
        for (int b = a + 1; b < n; b++)
            if (sel[order[b]] > sel[order[a]]) { int t = order[a]; order[a] = order[b], order[b] = t; }
    return n;
}

/* deepseek2 (V3-like: 8 experts in 4 groups, 2 used; sigmoid; bias; norm) or
 * nemotron_h_moe (the same router without groups; its first MoE layer is layer 1). */
static void check_sigmoid_groups(const char *arch) {
    ak_gen_params p;
    ak_gen_params_default(&p, arch);
    p.seed = 7;
    char path[256];
    ak_model *m = test_gen_write_load(&p, arch[0] == 'd' ? "gating_v3" : "gating_nh", path, sizeof path);
    if (!m) return;
    ak_context *c = test_context(m, 16, 4, 1, NULL);
    const ak_hparams *hp = ak_model_hparams(m);
    int il = 0;
    while (il < hp->n_layer && !ak_model_layer_has_experts(m, il)) il++;
    const int groups = arch[0] == 'd', eligible = groups ? 4 : X;
    const float *bias = m->layers[il].exp_probs_b;
    CHECK(c && bias && hp->n_group == (groups ? 4 : 1) && hp->gating == AK_GATING_DS_SIGMOID,
          "%s fixture: sigmoid, bias, %s", arch, groups ? "4 groups" : "no groups");
    if (!c || !bias) return;
    float z[N_TOK * X];
    for (int i = 0; i < N_TOK * X; i++) z[i] = 3.0f * frand();
    int k[N_TOK];
    int32_t ids[N_TOK * SLOTS];
    float w[N_TOK * SLOTS], h[N_TOK];
    ak_route_out ro = {N_TOK, SLOTS, k, ids, w, h};
    ak_error err = {0};
    const ak_policy pols[] = {ak_policy_fixed(hp->n_expert_used), ak_policy_fixed(1), ak_policy_top_p(0.6f, 1, X),
                              ak_policy_ratio(0.8f, 1, X), ak_policy_threshold(0.3f, 1, X),
                              ak_policy_entropy_default()};
    for (size_t pi = 0; pi < sizeof pols / sizeof pols[0]; pi++) {
        CHECK(ak_gate_route(c, il, &pols[pi], z, N_TOK, &ro, &err) == 0, "policy %zu: %s", pi, err.msg);
        for (int t = 0; t < N_TOK; t++) {
            float score[X], q[X];
            int order[X];
            const int n = reference_order(hp, bias, z + t * X, score, order);
            CHECK(n == eligible, "%s: %d experts are eligible (%d)", arch, eligible, n);
            double s = 0, ent = 0;
            for (int j = 0; j < n; j++) s += score[order[j]];
            for (int j = 0; j < n; j++) q[j] = (float)(score[order[j]] / s), ent -= q[j] * log(q[j]);
            const int want_k = ak_select_k(&pols[pi], q, n, (float)ent);
            CHECK(k[t] == (want_k < n ? want_k : n), "policy %zu token %d: K %d, want %d", pi, t, k[t], want_k);
            CHECK(fabsf(h[t] - (float)ent) < 1e-5f, "token %d: entropy of q", t);
            float wsum = 0;
            for (int j = 0; j < k[t]; j++) wsum += score[order[j]];
            for (int j = 0; j < k[t]; j++) {
                CHECK(ids[t * SLOTS + j] == order[j], "policy %zu token %d slot %d: expert %d, want %d", pi, t, j,
                      ids[t * SLOTS + j], order[j]);
                CHECK(fabsf(w[t * SLOTS + j] - score[order[j]] / wsum) < 1e-6f, "token %d slot %d: weight", t, j);
            }
            for (int j = k[t]; j < SLOTS; j++) CHECK(ids[t * SLOTS + j] == -1 && w[t * SLOTS + j] == 0.0f, "unused slot");
        }
    }
    z[5] = NAN;
    CHECK(ak_gate_route(c, il, &pols[0], z, N_TOK, &ro, &err) == -1 && err.code == AK_ERR_NONFINITE,
          "a NaN logit is refused (%s)", err.msg);
    ak_context_free(c);
    ak_model_free(m);
    remove(path);
}

/* A softmax router without bias or groups routes as ak_route does. */
static void check_softmax_equals_route(void) {
    ak_gen_params p;
    ak_gen_params_default(&p, "deepseek2");
    p.sigmoid = 0, p.n_group = 0, p.n_group_used = 0, p.weights_norm = 0, p.q_lora = 0;
    char path[256];
    ak_model *m = test_gen_write_load(&p, "gating_v2", path, sizeof path);
    if (!m) return;
    ak_context *c = test_context(m, 16, 4, 1, NULL);
    const ak_hparams *hp = ak_model_hparams(m);
    CHECK(hp->gating == AK_GATING_DS_SOFTMAX && !m->layers[hp->n_layer_dense].exp_probs_b, "fixture: plain softmax");
    if (!c) return;
    float z[N_TOK * X];
    for (int i = 0; i < N_TOK * X; i++) z[i] = 2.0f * frand();
    int k1[N_TOK], k2[N_TOK];
    int32_t id1[N_TOK * SLOTS], id2[N_TOK * SLOTS];
    float w1[N_TOK * SLOTS], w2[N_TOK * SLOTS];
    ak_route_out a = {N_TOK, SLOTS, k1, id1, w1, NULL}, b = {N_TOK, SLOTS, k2, id2, w2, NULL};
    ak_error err = {0};
    const ak_policy pols[] = {ak_policy_fixed(2), ak_policy_top_p(0.5f, 1, X), ak_policy_ratio(0.5f, 1, X),
                              ak_policy_threshold(0.15f, 1, X)};
    for (size_t pi = 0; pi < sizeof pols / sizeof pols[0]; pi++) {
        CHECK(ak_gate_route(c, hp->n_layer_dense, &pols[pi], z, N_TOK, &a, &err) == 0, "gate route: %s", err.msg);
        CHECK(ak_route(&pols[pi], z, N_TOK, X, 0, &b, &err) == AK_OK, "ak_route: %s", err.msg);
        for (int t = 0; t < N_TOK; t++) {
            CHECK(k1[t] == k2[t], "policy %zu token %d: K %d vs ak_route's %d", pi, t, k1[t], k2[t]);
            for (int j = 0; j < k1[t] && k1[t] == k2[t]; j++)
                CHECK(id1[t * SLOTS + j] == id2[t * SLOTS + j] && fabsf(w1[t * SLOTS + j] - w2[t * SLOTS + j]) < 1e-6f,
                      "policy %zu token %d slot %d: expert/weight differ from ak_route", pi, t, j);
        }
    }
    ak_context_free(c);
    ak_model_free(m);
    remove(path);
}

int main(void) {
    check_sigmoid_groups("deepseek2");
    check_sigmoid_groups("nemotron_h_moe");
    check_softmax_equals_route();
    return check_finish("test_gating");
}
