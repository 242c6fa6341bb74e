/* test_train_loop.c - a tiny model learns a repeating sequence (loss falls far below the
 * uniform ln V), the schedule has the promised shape, and a checkpoint restores the
 * exact parameters and optimizer state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/moe_model.h"
#include "../check.h"


static void test_schedule(void) {
    /* warm-up 10 steps to 1.0, cosine to 0.1 at step 110 */
    CHECK(fabsf(ak_lr_schedule(0, 10, 110, 1.0f, 0.1f) - 0.1f) < 1e-6f);
    CHECK(fabsf(ak_lr_schedule(9, 10, 110, 1.0f, 0.1f) - 1.0f) < 1e-6f);
    CHECK(fabsf(ak_lr_schedule(10, 10, 110, 1.0f, 0.1f) - 1.0f) < 1e-6f);
    CHECK(fabsf(ak_lr_schedule(60, 10, 110, 1.0f, 0.1f) - 0.55f) < 1e-5f); /* half-way: 0.1 + 0.9/2 */
    CHECK(fabsf(ak_lr_schedule(110, 10, 110, 1.0f, 0.1f) - 0.1f) < 1e-6f);
}

static void test_learns_and_checkpoints(void) {
    ak_moe_config cfg = {16, 8, 32, 2, 2, 4, 2, 32, 10000.0f, 1e-5f, 0.01f, 0.001f};
    ak_error err = {0};
    ak_moe_model *m = ak_moe_model_new(&cfg, 4, 3, &err);
    CHECK(m != NULL);
    if (!m) return;
    /* sequences of a fixed cycle 0,1,...,15: the next token is fully determined */
    int32_t in[32], tg[32];
    for (int s = 0; s < 4; s++)
        for (int t = 0; t < 8; t++) in[s * 8 + t] = (s * 3 + t) % 16, tg[s * 8 + t] = (s * 3 + t + 1) % 16;
    ak_adamw opt = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 1.0f};
    double first = 0, last = 0;
    for (int step = 0; step < 150; step++) {
        ak_moe_model_zero_grad(m);
        double ce = ak_moe_model_step(m, in, tg, 1, NULL, NULL);
        if (step == 0) first = ce;
        last = ce;
        ak_moe_model_adamw(m, &opt, step);
    }
    printf("tiny model: loss %.3f -> %.3f (uniform %.3f)\n", first, last, log(16.0));
    CHECK(fabs(first - log(16.0)) < 0.3);
    CHECK(last < 0.1);

    float load[2 * 4];
    ak_moe_model_expert_load(m, load);
    float sum = 0;
    for (int i = 0; i < 4; i++) sum += load[i];
    CHECK(fabsf(sum - 1.0f) < 1e-5f);

    const char *path = "test_train_loop.ckpt";
    CHECK(ak_moe_checkpoint_save(m, path, 150, 77, &err) == 0);
    ak_moe_model *r = ak_moe_model_new(&cfg, 4, 999, &err);
    int64_t step = 0;
    uint64_t rng = 0;
    CHECK(r && ak_moe_checkpoint_load(r, path, &step, &rng, &err) == 0);
    if (r) {
        CHECK(step == 150 && rng == 77);
        CHECK(!memcmp(ak_moe_model_params(m), ak_moe_model_params(r), ak_moe_model_n_params(m) * sizeof(float)));
        /* identical moments: one more step keeps both models identical */
        ak_moe_model_zero_grad(m);
        ak_moe_model_zero_grad(r);
        ak_moe_model_step(m, in, tg, 1, NULL, NULL);
        ak_moe_model_step(r, in, tg, 1, NULL, NULL);
        ak_moe_model_adamw(m, &opt, 150);
        ak_moe_model_adamw(r, &opt, 150);
        CHECK(!memcmp(ak_moe_model_params(m), ak_moe_model_params(r), ak_moe_model_n_params(m) * sizeof(float)));
        ak_moe_model_free(r);
    }
    /* a model of another shape refuses the checkpoint */
    cfg.n_ff = 64;
    ak_moe_model *other = ak_moe_model_new(&cfg, 4, 1, &err);
    CHECK(other && ak_moe_checkpoint_load(other, path, &step, &rng, &err) != 0);
    ak_moe_model_free(other);
    remove(path);
    CHECK(ak_moe_checkpoint_load(m, "/nonexistent.ckpt", &step, &rng, &err) != 0 &&
          strstr(err.msg, "/nonexistent.ckpt"));
    ak_moe_model_free(m);

    cfg.n_ff = 30; /* not a multiple of 32 */
    CHECK(ak_moe_model_new(&cfg, 4, 1, &err) == NULL && strstr(err.msg, "n_ff"));
}

int main(void) {
    test_schedule();
    test_learns_and_checkpoints();
    return check_finish("test_train_loop");
}
