/* test_routing_flags.c - the shared routing flags: parsing, policy inference, overrides of
 * a router config, and errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "routing_flags.h"
#include "../check.h"


static char config_path[64];

/* Parses a space-separated flag string; returns the build status (or -1 on a parse error,
 * -2 when an argument is not a routing flag). */
static int build(const char *args, int n_experts, int n_layers, int for_calibration, ak_router_config *c,
                 ak_error *err) {
    char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *tok = strtok(buf, " "); tok && argc < 32; tok = strtok(NULL, " "))
        argv[argc++] = strcmp(tok, "CONFIG") ? tok : config_path;
    ak_routing_flags f;
    ak_routing_flags_init(&f);
    for (int i = 0; i < argc; i++) {
        int used = ak_routing_flags_parse(&f, argc, argv, i, err);
        if (used < 0) return -1;
        if (used == 0) return -2;
        i += used - 1;
    }
    return ak_routing_flags_build(&f, n_experts, n_layers, for_calibration, c, err);
}

static void test_defaults_and_inference(void) {
    ak_router_config c;
    ak_error err = {0};
    CHECK(build("", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.kind == AK_POLICY_ENTROPY && c.default_policy.n_levels == 3);
    CHECK(c.default_policy.k_values[0] == 1 && c.default_policy.k_values[2] == 4);
    CHECK(c.default_policy.thresholds[0] == 0.6f && c.default_policy.thresholds[1] == 1.2f);
    CHECK(c.n_experts == 64 && c.renormalize == 0 && c.n_layers == 0);
    CHECK(ak_config_max_k(&c) == 4);
    ak_config_free(&c);

    CHECK(build("--k 3", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.kind == AK_POLICY_FIXED && c.default_policy.k == 3);
    CHECK(ak_config_max_k(&c) == 3);
    ak_config_free(&c);
    CHECK(build("--policy=fixed --k=5 --renormalize", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.kind == AK_POLICY_FIXED && c.default_policy.k == 5 && c.renormalize == 1);
    ak_config_free(&c);

    CHECK(build("--top-p 0.9", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.kind == AK_POLICY_TOP_P && c.default_policy.top_p == 0.9f);
    CHECK(c.default_policy.k_min == 1 && c.default_policy.k_max == 64);
    ak_config_free(&c);
    CHECK(build("--policy ratio --ratio 0.25 --k-min 2 --k-max 8", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.kind == AK_POLICY_RATIO && c.default_policy.ratio == 0.25f);
    CHECK(c.default_policy.k_min == 2 && c.default_policy.k_max == 8 && ak_config_max_k(&c) == 8);
    ak_config_free(&c);

    CHECK(build("--k-values 1,2,4,8 --thresholds 0.5,1,1.5", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.n_levels == 4 && c.default_policy.k_values[3] == 8 && c.default_policy.thresholds[2] == 1.5f);
    ak_config_free(&c);

    /* changing only the unit keeps the thresholds' meaning: 0.6 nats = 0.6 / ln 2 bits */
    CHECK(build("--threshold-unit bits", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.unit == AK_ENTROPY_BITS);
    CHECK(fabsf(c.default_policy.thresholds[0] - 0.6f / 0.69314718f) < 1e-5f);
    CHECK(fabsf(c.default_policy.thresholds[1] - 1.2f / 0.69314718f) < 1e-5f);
    ak_config_free(&c);
    /* given thresholds are read in the given unit */
    CHECK(build("--thresholds 0.1,0.2 --threshold-unit normalized", 64, 1, 0, &c, &err) == AK_OK);
    CHECK(c.default_policy.unit == AK_ENTROPY_NORMALIZED && c.default_policy.thresholds[1] == 0.2f);
    ak_config_free(&c);

    /* calibration may start without thresholds: evenly spaced in normalised entropy,
     * here 1/4, 2/4, 3/4 of ln 16 nats */
    CHECK(build("--k-values 1,2,3,4", 16, 1, 0, &c, &err) != AK_OK && strstr(err.msg, "add --thresholds"));
    CHECK(build("--k-values 1,2,3,4", 16, 1, 1, &c, &err) == AK_OK);
    for (int i = 0; i < 3; i++) CHECK(fabsf(c.default_policy.thresholds[i] - (i + 1) * logf(16.0f) / 4) < 1e-5f);
    ak_config_free(&c);

    /* not a routing flag */
    ak_routing_flags f;
    ak_routing_flags_init(&f);
    char *argv[] = {"--out", "x.npy", "--kk", "2", "--k"};
    CHECK(ak_routing_flags_parse(&f, 2, argv, 0, &err) == 0);
    CHECK(ak_routing_flags_parse(&f, 4, argv, 2, &err) == 0);
    CHECK(ak_routing_flags_parse(&f, 5, argv, 4, &err) == -1 && strstr(err.msg, "--k needs a value"));
}

static void test_errors(void) {
    ak_router_config c;
    ak_error err = {0};
    struct {
        const char *args, *want;
        int status;
    } cases[] = {
        {"--k 0", "--k '0' is not a positive integer", -1},
        {"--k 2.5", "--k '2.5'", -1},
        {"--policy nope", "unknown policy 'nope'", -1},
        {"--threshold-unit furlongs", "--threshold-unit 'furlongs'", -1},
        {"--thresholds 0.6,,1", "--thresholds '0.6,,1'", -1},
        {"--thresholds 0.6,", "--thresholds '0.6,'", -1},
        {"--k-values 1,x", "--k-values '1,x'", -1},
        {"--k-values 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "--k-values", -1},
        {"--top-p nan", "--top-p 'nan'", -1},
        {"--k 2 --ratio 0.1", "select different policies", AK_ERR_CONFIG},
        {"--policy entropy --k 2", "--k does not apply to --policy entropy", AK_ERR_CONFIG},
        {"--policy fixed", "--policy fixed needs --k", AK_ERR_CONFIG},
        {"--policy ratio", "--policy ratio needs --ratio", AK_ERR_CONFIG},
        {"--k-min 2", "apply to the top-p and ratio", AK_ERR_CONFIG},
        {"--k-values 1,2,4 --thresholds 1", "3 k-values need 2 thresholds", AK_ERR_CONFIG},
        {"--thresholds 1,2,3", "3 k-values need 2 thresholds, --thresholds gives 3", AK_ERR_CONFIG},
        {"--thresholds 1.2,0.6", "invalid policy", AK_ERR_CONFIG},
        {"--k 9", "invalid policy", AK_ERR_CONFIG},
        {"--top-p 1.5", "invalid policy", AK_ERR_CONFIG},
        {"--ratio 0.5 --k-min 4 --k-max 2", "invalid policy", AK_ERR_CONFIG},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&err, 0, sizeof err);
        int s = build(cases[i].args, 8, 1, 0, &c, &err);
        int ok = cases[i].status == -1 ? s == -1 : s != AK_OK && s != -1 && s != -2;
        if (!ok || !strstr(err.msg, cases[i].want)) {
            fprintf(stderr, "'%s': status %d, message '%s', expected '%s'\n", cases[i].args, s, err.msg, cases[i].want);
            failures++;
        }
        if (s == AK_OK) ak_config_free(&c);
    }
}

static void test_config_overrides(void) {
    ak_router_config saved;
    memset(&saved, 0, sizeof saved);
    ak_error err = {0};
    snprintf(saved.name, sizeof saved.name, "test");
    saved.n_experts = 8;
    saved.k_native = 2;
    saved.renormalize = 1;
    saved.default_policy = ak_policy_fixed(2);
    CHECK(ak_config_set_layers(&saved, 3, &err) == AK_OK);
    saved.layers[1] = ak_policy_fixed(3);
    CHECK(ak_config_save(config_path, &saved, &err) == AK_OK);
    ak_config_free(&saved);

    ak_router_config c;
    CHECK(build("--router-config CONFIG", 8, 3, 0, &c, &err) == AK_OK);
    CHECK(c.n_layers == 3 && c.layers[0].k == 2 && c.layers[1].k == 3 && c.k_native == 2 && c.renormalize == 1);
    ak_config_free(&c);
    /* flags after the config override every layer; flags before it are discarded */
    CHECK(build("--router-config CONFIG --k 1 --no-renormalize", 8, 3, 0, &c, &err) == AK_OK);
    CHECK(c.layers[0].k == 1 && c.layers[1].k == 1 && c.layers[2].k == 1 && c.default_policy.k == 1);
    CHECK(c.renormalize == 0);
    ak_config_free(&c);
    CHECK(build("--k 1 --no-renormalize --router-config CONFIG", 8, 3, 0, &c, &err) == AK_OK);
    CHECK(c.layers[1].k == 3 && c.renormalize == 1);
    ak_config_free(&c);
    /* switching the kind after a config: fresh policy of that kind in every layer */
    CHECK(build("--router-config CONFIG --policy entropy", 8, 3, 0, &c, &err) == AK_OK);
    CHECK(c.layers[2].kind == AK_POLICY_ENTROPY && c.layers[2].n_levels == 3);
    ak_config_free(&c);
    /* --policy fixed without --k takes the config's k_native */
    CHECK(build("--router-config CONFIG --top-p 0.5", 8, 3, 0, &c, &err) == AK_OK);
    CHECK(c.layers[0].kind == AK_POLICY_TOP_P && c.layers[0].k_max == 8);
    ak_config_free(&c);
    CHECK(build("--router-config CONFIG", 16, 3, 0, &c, &err) != AK_OK && strstr(err.msg, "is for 8 experts"));
    CHECK(build("--router-config CONFIG", 8, 4, 0, &c, &err) != AK_OK && strstr(err.msg, "has 3 layer policies"));
    /* presets: real expert counts and native top-k */
    CHECK(build("--preset olmoe-1b-7b", 64, 16, 0, &c, &err) == AK_OK);
    CHECK(c.k_native == 8 && c.renormalize == 0 && c.default_policy.kind == AK_POLICY_ENTROPY);
    ak_config_free(&c);
    CHECK(build("--preset mixtral-8x7b --k 1", 8, 32, 0, &c, &err) == AK_OK);
    CHECK(c.k_native == 2 && c.renormalize == 1 && c.default_policy.kind == AK_POLICY_FIXED && c.default_policy.k == 1);
    ak_config_free(&c);
    CHECK(build("--preset olmoe-1b-7b", 8, 16, 0, &c, &err) != AK_OK && strstr(err.msg, "is for 64 experts"));
    CHECK(build("--preset nope", 8, 16, 0, &c, &err) != AK_OK && strstr(err.msg, "nope"));
    CHECK(build("--router-config /nonexistent/cfg.json", 8, 3, 0, &c, &err) != AK_OK &&
          strstr(err.msg, "/nonexistent/cfg.json"));
}

int main(void) {
    snprintf(config_path, sizeof config_path, "test_routing_flags_%d.json", (int)getpid());
    test_defaults_and_inference();
    test_errors();
    test_config_overrides();
    remove(config_path);
    return check_finish("routing flags");
}
