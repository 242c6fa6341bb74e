/* Non-finite weights give an error naming the problem, never NaN logits or a silent
 * garbage token: a NaN in the router (caught by libadaptivek), in the output head, in an
 * expert (caught by the engine's check of the logits), and an Inf in the embeddings. The
 * context stays usable: the failed batch is not kept in the KV cache. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "fixture.h"
#include "model/model.h"
#include "quant/quant.h"

/* Element 3 of row 1: the embedding of token 1, which every test decodes. */
static void poison(fx_model *fm, const char *tensor, float value) {
    fx_tensor *t = (fx_tensor *)fx_get(fm, tensor);
    CHECK(t != NULL, "fixture has no %s", tensor);
    if (t) t->data[t->ne[0] + 3] = value;
}

/* Writes the poisoned model, decodes 4 tokens and expects an error containing want. */
static void expect_error(const char *tensor, float value, int wtype, const char *want) {
    fx_params p = fx_default("olmoe");
    fx_model *fm = fx_build(&p);
    poison(fm, tensor, value);
    char path[256];
    ak_error err = {0};
    tmp_path(path, sizeof path, "nonfinite");
    CHECK(fx_write(fm, path, wtype, NULL) == 0, "%s: write", tensor);
    ak_model *m = ak_model_load(path, &err);
    CHECK(m != NULL, "%s: load: %s", tensor, err.msg);
    ak_context *c = m ? test_context(m, 16, 4, 2, NULL) : NULL;
    if (c) {
        const int32_t toks[4] = {1, 2, 3, 4};
        err.msg[0] = 0;
        int rc = ak_decode(c, toks, 4, &err);
        CHECK(rc != 0, "%s = %g: decode succeeded", tensor, value);
        CHECK(strstr(err.msg, want) != NULL, "%s: error '%s' lacks '%s'", tensor, err.msg, want);
        CHECK(ak_context_n_past(c) == 0, "%s: the failed batch stayed in the cache (%d)", tensor,
              ak_context_n_past(c));
        ak_context_free(c);
    }
    ak_model_free(m);
    fx_free(fm);
    remove(path);
}

int main(void) {
    expect_error("blk.0.ffn_gate_inp.weight", NAN, AK_TYPE_F32, "NaN");
    expect_error("output.weight", NAN, AK_TYPE_F32, "not finite");
    expect_error("blk.1.ffn_down_exps.weight", NAN, AK_TYPE_F32, "not finite");
    expect_error("token_embd.weight", INFINITY, AK_TYPE_F32, "NaN"); /* reaches the router first */
    expect_error("output.weight", NAN, AK_TYPE_F16, "not finite");
    return check_finish("test_model_nonfinite");
}
