/* fuzz_router_config - the router config JSON reader on arbitrary bytes.
 * Properties: a config that does not parse fails with a message; one that parses and
 * validates writes JSON that reads back to the same JSON (a fixed point), and routes a few
 * rows of logits through every layer's policy without error. */
#include <string.h>

#include "fuzz.h"
#include "adaptivek.h"

static void route_rows(const ak_router_config *c) {
    enum { T = 3 };
    int n = c->n_experts;
    float *logits = malloc(sizeof *logits * T * (size_t)n);
    int32_t *ids = malloc(sizeof *ids * T * (size_t)n);
    float *w = malloc(sizeof *w * T * (size_t)n);
    int k[T];
    if (!logits || !ids || !w) abort();
    for (int i = 0; i < T * n; i++) logits[i] = (float)((i * 37) % 11) * 0.3f - (float)(i % 3);
    int layers = c->n_layers > 0 ? c->n_layers : 1;
    for (int l = 0; l < layers; l++) {
        ak_route_out out = {T, n, k, ids, w, NULL};
        ak_error err = {0};
        FUZZ_CHECK(ak_route(ak_config_layer_policy(c, l), logits, T, n, c->renormalize, &out, &err) == AK_OK);
        for (int t = 0; t < T; t++) FUZZ_CHECK(k[t] >= 1 && k[t] <= n);
    }
    free(logits);
    free(ids);
    free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ak_router_config c;
    memset(&c, 0, sizeof c);
    ak_error err = {0};
    if (ak_config_from_json((const char *)data, size, &c, &err) != AK_OK) {
        FUZZ_CHECK(err.msg[0]);
        return 0;
    }
    if (ak_config_validate(&c, &err) == AK_OK) {
        char *j1 = NULL, *j2 = NULL;
        ak_router_config c2;
        memset(&c2, 0, sizeof c2);
        FUZZ_CHECK(ak_config_to_json(&c, &j1, &err) == AK_OK);
        FUZZ_CHECK(ak_config_from_json(j1, strlen(j1), &c2, &err) == AK_OK);
        FUZZ_CHECK(ak_config_to_json(&c2, &j2, &err) == AK_OK);
        FUZZ_CHECK(strcmp(j1, j2) == 0);
        route_rows(&c);
        free(j1);
        free(j2);
        ak_config_free(&c2);
    }
    ak_config_free(&c);
    return 0;
}
