/* Loader errors: each bad file gives NULL and a message naming what is wrong. */
#include <math.h>
#include <sched.h>
#include <string.h>

#include "helpers.h"
#include "fixture.h"
#include "model/model.h"
#include "model/threadpool.h"
#include "quant/quant.h"

static void expect_error(const fx_model *fm, const fx_faults *f, const char *tag, const char *must1,
                         const char *must2) {
    char path[256];
    ak_error err = {0};
    tmp_path(path, sizeof path, tag);
    CHECK(fx_write(fm, path, AK_TYPE_F32, f) == 0, "writing %s", tag);
    ak_model *m = ak_model_load(path, &err);
    CHECK(m == NULL, "%s: load should fail", tag);
    CHECK(err.code == AK_ERR_FORMAT, "%s: status %s, expected a format error", tag, ak_status_str(err.code));
    CHECK(strstr(err.msg, must1) != NULL, "%s: message '%s' lacks '%s'", tag, err.msg, must1);
    if (must2) CHECK(strstr(err.msg, must2) != NULL, "%s: message '%s' lacks '%s'", tag, err.msg, must2);
    ak_model_free(m);
    remove(path);
}

/* A good file loads, with the hyperparameters it was written with. */
static void test_good(const fx_model *fm) {
    char path[256];
    ak_error err = {0};
    tmp_path(path, sizeof path, "good");
    ak_model *m = test_write_load(fm, path, AK_TYPE_F32, "good file");
    if (m) {
        const ak_hparams *hp = ak_model_hparams(m);
        CHECK(!strcmp(hp->arch, "olmoe"), "arch %s", hp->arch);
        CHECK(hp->n_layer == 2 && hp->n_embd == 64 && hp->n_head == 4 && hp->n_head_kv == 2, "dims");
        CHECK(hp->head_dim == 16 && hp->n_vocab == 40 && hp->n_expert == 6 && hp->n_expert_used == 2, "dims2");
        CHECK(hp->n_ff_exp == 32 && hp->rope_neox == 1 && hp->renormalize == 0 && hp->qk_norm == 1, "arch flags");
        CHECK(ak_model_gguf(m) != NULL, "gguf handle");
        /* expert tensors: 2 layers x 3 x 6 experts x 32 x 64 f32 */
        CHECK(ak_model_expert_bytes(m) == 2ull * 3 * 6 * 32 * 64 * 4, "expert bytes %llu",
              (unsigned long long)ak_model_expert_bytes(m));
        /* a context with a router config for the wrong expert count is refused */
        ak_router_config rc;
        memset(&rc, 0, sizeof rc);
        rc.n_experts = 8;
        rc.k_native = 2;
        rc.default_policy = ak_policy_fixed(2);
        ak_context_params cp = ak_context_default_params();
        cp.routing = &rc;
        cp.n_threads = 1;
        ak_context *c = ak_context_new(m, &cp, &err);
        CHECK(c == NULL && strstr(err.msg, "8 experts"), "wrong-size config: %s", err.msg);
        ak_context_free(c);
        cp.routing = NULL;
        c = ak_context_new(m, &cp, &err);
        CHECK(c != NULL, "context: %s", err.msg);
        if (c) {
            int32_t bad = 40;
            CHECK(ak_decode(c, &bad, 1, &err) == -1 && strstr(err.msg, "out of range"), "bad token: %s", err.msg);
            CHECK(ak_context_n_past(c) == 0, "failed decode leaves the cache");
        }
        ak_context_free(c);
    }
    ak_model_free(m);
    remove(path);
}

/* Run-time errors: too many tokens, a full cache, NaN router logits. */
static void test_run_errors(const fx_params *p, const fx_model *fm) {
    char path[256];
    ak_error err = {0};
    fx_model *nm = fx_build(p);
    for (int i = 0; i < nm->n_tensors; i++)
        if (!strcmp(nm->t[i].name, "blk.1.ffn_gate_inp.weight")) nm->t[i].data[5] = NAN;
    tmp_path(path, sizeof path, "nan");
    ak_model *m = test_write_load(nm, path, AK_TYPE_F32, "nan model");
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = 4;
    cp.n_batch = 2;
    cp.n_threads = 2;
    ak_context *c = m ? ak_context_new(m, &cp, &err) : NULL;
    CHECK(c != NULL, "context: %s", err.msg);
    if (c) {
        int32_t toks[3] = {1, 2, 3};
        /* more than n_batch tokens run in batches; the first fails, the cache is untouched */
        CHECK(ak_decode(c, toks, 3, &err) == -1 && strstr(err.msg, "layer 1"), "split batch: %s", err.msg);
        CHECK(ak_context_n_past(c) == 0, "failed split decode leaves the cache");
        CHECK(ak_decode(c, toks, 5, &err) == -1 && strstr(err.msg, "context full"), "5 > n_ctx: %s", err.msg);
        CHECK(ak_decode(c, toks, 0, &err) == -1, "zero tokens");
        CHECK(ak_decode(c, toks, 1, &err) == -1 && strstr(err.msg, "layer 1"), "NaN router: %s", err.msg);
        CHECK(ak_context_n_past(c) == 0 && ak_get_logits(c, -1) == NULL, "failed decode keeps state");
    }
    ak_context_free(c);
    ak_model_free(m);
    remove(path);
    fx_free(nm);

    tmp_path(path, sizeof path, "full");
    m = test_write_load(fm, path, AK_TYPE_F32, "full");
    c = m ? ak_context_new(m, &cp, &err) : NULL;
    if (c) {
        int32_t toks[2] = {1, 2};
        CHECK(ak_decode(c, toks, 2, &err) == 0 && ak_decode(c, toks, 2, &err) == 0, "fill");
        CHECK(ak_decode(c, toks, 1, &err) == -1 && strstr(err.msg, "context full"), "full: %s", err.msg);
        CHECK(ak_context_n_past(c) == 4, "n_past after full");
        CHECK(ak_context_truncate(c, 3, &err) == 0, "truncate: %s", err.msg);
        CHECK(ak_context_truncate(c, 7, &err) == -1 && strstr(err.msg, "holds"), "truncate past n_past: %s", err.msg);
        CHECK(ak_decode(c, toks, 1, &err) == 0, "after truncate: %s", err.msg);
    }
    ak_context_free(c);
    ak_model_free(m);
    remove(path);
}

/* The default thread count follows the CPUs this process may use. */
static void test_cpu_count(void) {
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) == 0) {
        CHECK(ak_cpu_count() == CPU_COUNT(&all), "ak_cpu_count %d, affinity %d", ak_cpu_count(), CPU_COUNT(&all));
        CPU_ZERO(&one);
        for (int i = 0; i < CPU_SETSIZE; i++)
            if (CPU_ISSET(i, &all)) {
                CPU_SET(i, &one);
                break;
            }
        if (sched_setaffinity(0, sizeof one, &one) == 0) {
            CHECK(ak_cpu_count() == 1, "pinned to one CPU, ak_cpu_count %d", ak_cpu_count());
            sched_setaffinity(0, sizeof all, &all);
        }
    }
}

int main(void) {
    ak_error err = {0};
    CHECK(ak_model_load("/nonexistent/model.gguf", &err) == NULL, "missing file");
    CHECK(err.msg[0] != 0, "missing file gives a message");

    fx_params p = fx_default("olmoe");
    fx_model *fm = fx_build(&p);

    fx_faults f = {0};
    f.arch_override = "gpt2";
    expect_error(fm, &f, "arch", "unsupported architecture 'gpt2'", NULL);

    memset(&f, 0, sizeof f);
    f.skip = "blk.1.ffn_up_exps.weight";
    expect_error(fm, &f, "missing", "missing tensor blk.1.ffn_up_exps.weight", "[64, 32, 6]");

    memset(&f, 0, sizeof f);
    f.transpose = "blk.0.attn_k.weight";
    expect_error(fm, &f, "shape2", "tensor blk.0.attn_k.weight has shape [32, 64], expected [64, 32]", NULL);

    memset(&f, 0, sizeof f);
    f.legacy_experts = 1;
    expect_error(fm, &f, "legacy", "blk.0.ffn_gate.0.weight", "merged");

    memset(&f, 0, sizeof f);
    f.expert_used_override = 7; /* more than the 6 experts */
    expect_error(fm, &f, "kused", "expert_used_count", "out of range");

    test_good(fm);
    test_run_errors(&p, fm);
    fx_free(fm);
    test_cpu_count();
    return check_finish("test_model_load");
}
