/* Router config: JSON round trip, strict parsing with positions, validation, presets. */
#include <stdlib.h>
#include <unistd.h>

#include "adaptivek.h"
#include "../check.h"

static const char *good =
    "{\n"
    "  \"name\": \"test-moe\",\n"
    "  \"provenance\": \"hand-written \\\"test\\\" \\u00e9\",\n"
    "  \"n_experts\": 64,\n"
    "  \"k_native\": 8,\n"
    "  \"renormalize\": false,\n"
    "  \"default_policy\": {\"kind\": \"entropy\", \"k_values\": [1, 2, 4],\n"
    "                     \"thresholds\": [0.6, 1.2], \"unit\": \"nats\"},\n"
    "  \"layers\": [\n"
    "    {\"kind\": \"fixed\", \"k\": 8},\n"
    "    {\"kind\": \"top-p\", \"top_p\": 0.9, \"k_min\": 1, \"k_max\": 8},\n"
    "    {\"kind\": \"ratio\", \"ratio\": 0.125, \"k_min\": 2, \"k_max\": 6},\n"
    "    {\"kind\": \"threshold\", \"p_min\": 0.0625, \"k_min\": 1, \"k_max\": 7},\n"
    "    {\"kind\": \"entropy\", \"k_values\": [2, 4, 6, 8], \"thresholds\": [0.1, 0.5, 0.9],\n"
    "     \"unit\": \"normalized\"}\n"
    "  ]\n"
    "}\n";

static void check_good(const ak_router_config *c) {
    CHECK(strcmp(c->name, "test-moe") == 0);
    CHECK(strcmp(c->provenance, "hand-written \"test\" \xc3\xa9") == 0);
    CHECK_EQ_INT(c->n_experts, 64);
    CHECK_EQ_INT(c->k_native, 8);
    CHECK_EQ_INT(c->renormalize, 0);
    CHECK_EQ_INT(c->default_policy.kind, AK_POLICY_ENTROPY);
    CHECK_EQ_INT(c->default_policy.n_levels, 3);
    CHECK_EQ_INT(c->default_policy.k_values[2], 4);
    CHECK(c->default_policy.thresholds[1] == 1.2f);
    CHECK_EQ_INT(c->n_layers, 5);
    if (c->n_layers != 5) return;
    CHECK(c->layers[0].kind == AK_POLICY_FIXED && c->layers[0].k == 8);
    CHECK(c->layers[1].kind == AK_POLICY_TOP_P && c->layers[1].top_p == 0.9f);
    CHECK(c->layers[2].kind == AK_POLICY_RATIO && c->layers[2].ratio == 0.125f);
    CHECK(c->layers[2].k_min == 2 && c->layers[2].k_max == 6);
    CHECK(c->layers[3].kind == AK_POLICY_THRESHOLD && c->layers[3].p_min == 0.0625f);
    CHECK(c->layers[3].k_min == 1 && c->layers[3].k_max == 7);
    CHECK(c->layers[4].unit == AK_ENTROPY_NORMALIZED && c->layers[4].n_levels == 4);
    CHECK(c->layers[4].thresholds[2] == 0.9f);
    CHECK(ak_config_layer_policy(c, 1) == &c->layers[1]);
    CHECK(ak_config_layer_policy(c, 5) == &c->default_policy);
}

static void test_round_trip(void) {
    ak_router_config c, d;
    ak_error e;
    CHECK(ak_config_from_json(good, strlen(good), &c, &e) == AK_OK);
    check_good(&c);
    char *text = NULL;
    CHECK(ak_config_to_json(&c, &text, &e) == AK_OK);
    CHECK(text && ak_config_from_json(text, strlen(text), &d, &e) == AK_OK);
    check_good(&d);
    /* odd float values survive exactly */
    c.layers[1].top_p = 0.1f + 0.2f;
    c.default_policy.thresholds[0] = 1e-7f;
    char *text2 = NULL;
    ak_router_config f;
    CHECK(ak_config_to_json(&c, &text2, &e) == AK_OK);
    CHECK(ak_config_from_json(text2, strlen(text2), &f, &e) == AK_OK);
    CHECK(f.layers[1].top_p == 0.1f + 0.2f);
    CHECK(f.default_policy.thresholds[0] == 1e-7f);

    char path[] = "/tmp/ak_router_cfg_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    ak_router_config g;
    CHECK(ak_config_save(path, &c, &e) == AK_OK);
    CHECK(ak_config_load(path, &g, &e) == AK_OK);
    CHECK(g.layers && g.layers[1].top_p == 0.1f + 0.2f);
    unlink(path);
    CHECK_ERR(ak_config_load("/nonexistent/dir/x.json", &g, &e), AK_ERR_IO, e, "cannot open");
    free(text);
    free(text2);
    ak_config_free(&c);
    ak_config_free(&d);
    ak_config_free(&f);
    ak_config_free(&g);

    /* no layers: n_layers = 0, no "layers" key written */
    const char *small = "{\"name\":\"s\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
                        "\"default_policy\":{\"kind\":\"fixed\",\"k\":2}}";
    CHECK(ak_config_from_json(small, strlen(small), &c, &e) == AK_OK);
    CHECK(c.n_layers == 0 && c.layers == NULL && c.renormalize == 1 && c.provenance[0] == 0);
    CHECK(ak_config_to_json(&c, &text, &e) == AK_OK);
    CHECK(!strstr(text, "layers"));
    free(text);
    CHECK(ak_config_set_layers(&c, 3, &e) == AK_OK);
    CHECK(c.n_layers == 3 && c.layers[2].kind == AK_POLICY_FIXED && c.layers[2].k == 2);
    ak_config_free(&c);
}

typedef struct {
    const char *json;
    ak_status code;
    const char *needle;
} bad_case;

static void test_malformed(void) {
    const bad_case cases[] = {
        {"", AK_ERR_JSON, "line 1, column 1"},
        {"{", AK_ERR_JSON, "end of input"},
        {"{\"name\": \"x\",}", AK_ERR_JSON, "expected a string key"},
        {"{\"name\" \"x\"}", AK_ERR_JSON, "expected ':'"},
        {"[1, 2", AK_ERR_JSON, "expected ',' or ']'"},
        {"{} x", AK_ERR_JSON, "trailing characters"},
        {"{\"a\": 01}", AK_ERR_JSON, "expected ',' or '}'"},
        {"{\"a\": 1.}", AK_ERR_JSON, "digit after '.'"},
        {"{\"a\": -}", AK_ERR_JSON, "invalid number"},
        {"{\"a\": 1e}", AK_ERR_JSON, "exponent"},
        {"{\"a\": tru}", AK_ERR_JSON, "invalid literal"},
        {"{\"a\": \"x\ty\"}", AK_ERR_JSON, "control character"},
        {"{\"a\": \"\\q\"}", AK_ERR_JSON, "invalid escape"},
        {"{\"a\": \"\\ud800\"}", AK_ERR_JSON, "surrogate"},
        {"{\"a\": \"\xff\"}", AK_ERR_JSON, "UTF-8"},
        {"{\"a\": 1, \"a\": 2}", AK_ERR_JSON, "duplicate key"},
        {"{\"a\": 1e999}", AK_ERR_JSON, "out of range"},
        {"\n\n   @", AK_ERR_JSON, "line 3, column 4"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         AK_ERR_JSON, "nesting too deep"},
        /* well-formed JSON, wrong config */
        {"[]", AK_ERR_JSON, "top level must be an object"},
        {"{\"n_experts\":8}", AK_ERR_JSON, "missing required key \"name\""},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":1,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":2}}",
         AK_ERR_JSON, "\"renormalize\" must be a boolean"},
        {"{\"name\":\"x\",\"n_experts\":8.5,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":2}}",
         AK_ERR_JSON, "\"n_experts\" must be an integer"},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,\"extra\":1,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":2}}",
         AK_ERR_JSON, "unknown key \"extra\""},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fancy\",\"k\":2}}",
         AK_ERR_JSON, "unknown policy kind \"fancy\""},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":2,\"top_p\":0.5}}",
         AK_ERR_JSON, "unknown key \"top_p\""},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"entropy\",\"k_values\":[1,2],\"thresholds\":[]}}",
         AK_ERR_JSON, "one entry fewer"},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"entropy\",\"k_values\":[1,2],\"thresholds\":[0.5],"
         "\"unit\":\"furlongs\"}}",
         AK_ERR_JSON, "unknown unit"},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":2},\"layers\":{}}",
         AK_ERR_JSON, "\"layers\" must be an array"},
        /* parses, but the values are invalid */
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":9}}",
         AK_ERR_CONFIG, "k=9"},
        {"{\"name\":\"x\",\"n_experts\":2000,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":1}}",
         AK_ERR_CONFIG, "n_experts=2000"},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"entropy\",\"k_values\":[1,2,4],\"thresholds\":[1.2,0.6]}}",
         AK_ERR_CONFIG, "strictly ascending"},
        {"{\"name\":\"x\",\"n_experts\":8,\"k_native\":2,\"renormalize\":true,"
         "\"default_policy\":{\"kind\":\"fixed\",\"k\":2},"
         "\"layers\":[{\"kind\":\"fixed\",\"k\":2},{\"kind\":\"top-p\",\"top_p\":2,"
         "\"k_min\":1,\"k_max\":2}]}",
         AK_ERR_CONFIG, "layer 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ak_router_config c;
        ak_error e = {AK_OK, ""};
        ak_status st = ak_config_from_json(cases[i].json, strlen(cases[i].json), &c, &e);
        if (st != cases[i].code || !strstr(e.msg, cases[i].needle)) {
            fprintf(stderr, "malformed case %zu: got %s \"%s\", want %s containing \"%s\"\n", i,
                    ak_status_str(st), e.msg, ak_status_str(cases[i].code), cases[i].needle);
            failures++;
        }
        if (st == AK_OK) ak_config_free(&c);
    }
    /* every truncation of a valid document is an error, never a crash */
    size_t n = strlen(good);
    for (size_t len = 0; len < n - 2; len++) {
        ak_router_config c;
        ak_error e;
        ak_status st = ak_config_from_json(good, len, &c, &e);
        if (st == AK_OK) {
            fprintf(stderr, "truncated config of %zu bytes accepted\n", len);
            failures++;
            ak_config_free(&c);
        }
    }
}

/* Random byte edits of a valid document: every result is a clean accept or a clean error
 * (run under ASan/UBSan in the sanitizer build). */
static void test_mutations(void) {
    size_t n = strlen(good);
    char *buf = malloc(n + 1);
    test_rng rng = {99};
    const char alphabet[] = "{}[]\":,.-+eE0123456789 \\utrfalsn\x01\xff";
    int accepted = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, good, n + 1);
        int edits = 1 + (int)(3 * rng_uniform(&rng));
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(rng_uniform(&rng) * (double)n);
            buf[at] = alphabet[(size_t)(rng_uniform(&rng) * (sizeof alphabet - 1))];
        }
        ak_router_config c;
        ak_error err = {AK_OK, ""};
        ak_status st = ak_config_from_json(buf, n, &c, &err);
        if (st == AK_OK) {
            accepted++;
            CHECK(ak_config_validate(&c, NULL) == AK_OK);
            ak_config_free(&c);
        } else {
            CHECK(err.msg[0] != '\0');
        }
    }
    printf("mutations: %d of 3000 edited documents still valid\n", accepted);
    free(buf);
}

static void test_presets(void) {
    struct {
        const char *name;
        int n_experts, k_native, renorm;
    } want[] = {{"olmoe-1b-7b", 64, 8, 0},
                {"qwen1.5-moe-a2.7b", 60, 4, 0},
                {"qwen3-30b-a3b", 128, 8, 1},
                {"mixtral-8x7b", 8, 2, 1},
                {"gpt-oss-20b", 32, 4, 1},
                {"deepseek-v2-lite", 64, 6, 0},
                {"deepseek-v3", 256, 8, 1},
                {"qwen3.6-35b-a3b", 256, 8, 1},
                {"nemotron-3-nano-30b-a3b", 128, 6, 1}};
    const int n_want = (int)(sizeof want / sizeof want[0]);
    CHECK_EQ_INT(ak_preset_count(), n_want);
    for (int i = 0; i < n_want; i++) {
        ak_router_config c;
        ak_error e;
        CHECK(strcmp(ak_preset_name(i), want[i].name) == 0);
        CHECK(ak_preset_get(want[i].name, &c, &e) == AK_OK);
        CHECK_EQ_INT(c.n_experts, want[i].n_experts);
        CHECK_EQ_INT(c.k_native, want[i].k_native);
        CHECK_EQ_INT(c.renormalize, want[i].renorm);
        CHECK(ak_config_validate(&c, &e) == AK_OK);
        CHECK(strstr(c.provenance, "config.json") && strstr(c.provenance, "uncalibrated"));
        CHECK(c.default_policy.kind == AK_POLICY_ENTROPY && c.default_policy.n_levels == 3);
        CHECK(c.default_policy.k_values[2] == 4 && c.default_policy.thresholds[0] == 0.6f);
        char *text;
        ak_router_config d;
        CHECK(ak_config_to_json(&c, &text, &e) == AK_OK);
        CHECK(ak_config_from_json(text, strlen(text), &d, &e) == AK_OK);
        CHECK(strcmp(d.provenance, c.provenance) == 0 && d.n_experts == c.n_experts);
        free(text);
    }
    CHECK(ak_preset_name(n_want) == NULL);
    ak_router_config c;
    ak_error e;
    CHECK_ERR(ak_preset_get("gpt-5", &c, &e), AK_ERR_INVALID_ARG, e, "olmoe-1b-7b");
}

static void test_validate(void) {
    ak_router_config c;
    ak_error e;
    CHECK(ak_preset_get("mixtral-8x7b", &c, &e) == AK_OK);
    c.k_native = 9;
    CHECK_ERR(ak_config_validate(&c, &e), AK_ERR_CONFIG, e, "k_native=9");
    c.k_native = 2;
    c.n_layers = 2; /* without an array */
    CHECK_ERR(ak_config_validate(&c, &e), AK_ERR_CONFIG, e, "n_layers=2");
    c.n_layers = 0;
    CHECK_ERR(ak_config_set_layers(&c, 0, &e), AK_ERR_INVALID_ARG, e, "n_layers=0");
    CHECK(ak_config_set_layers(&c, 32, &e) == AK_OK);
    c.layers[31] = ak_policy_fixed(0);
    CHECK_ERR(ak_config_validate(&c, &e), AK_ERR_CONFIG, e, "layer 31");
    char *text = (char *)1;
    CHECK_ERR(ak_config_to_json(&c, &text, &e), AK_ERR_CONFIG, e, "layer 31");
    CHECK(text == NULL);
    ak_config_free(&c);
    CHECK(c.layers == NULL && c.n_layers == 0);
}

int main(void) {
    test_round_trip();
    test_malformed();
    test_mutations();
    test_presets();
    test_validate();
    return check_finish("test_config");
}
