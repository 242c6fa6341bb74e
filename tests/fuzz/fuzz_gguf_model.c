/* fuzz_gguf_model - the GGUF reader and the whole model loader on arbitrary bytes.
 * Properties: a buffer that does not open fails with a message; one that opens can be read
 * in full (gguf_walk) and then loads as a model or fails with a status and a message; a
 * model that loads runs one token (or fails with a message) without a sanitizer report. */
#include <string.h>

#include "fuzz.h"
#include "../gguf/gguf_walk.h"
#include "model/model.h"

/* One token through a 4-position context, when the file's weights are small enough that
 * an input costs milliseconds, not seconds (the loader has bounded every shape by the file). */
static void run_one_token(const ak_model *m) {
    if (ak_model_weight_bytes(m) > (8u << 20)) return;
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = 4;
    cp.n_batch = 2;
    cp.n_threads = 1;
    ak_error err = {0};
    ak_context *c = ak_context_new(m, &cp, &err);
    if (!c) {
        FUZZ_CHECK(err.msg[0] && err.code != AK_OK);
        return;
    }
    int32_t tok = ak_model_hparams(m)->n_vocab > 1 ? 1 : 0;
    if (ak_decode(c, &tok, 1, &err)) FUZZ_CHECK(err.msg[0]);
    ak_context_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = fuzz_aligned_copy(data, size); /* as mmap would place it */
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(buf, size, &err);
    if (!f) {
        FUZZ_CHECK(err.msg[0] && err.code != AK_OK);
        free(buf);
        return 0;
    }
    int bad = 0;
    gguf_walk(f, &bad);
    FUZZ_CHECK(bad == 0);
    gguf_close(f);
    ak_model *m = ak_model_load_buffer(buf, size, &err);
    if (m) {
        run_one_token(m);
        ak_model_free(m);
    } else {
        FUZZ_CHECK(err.msg[0] && err.code != AK_OK);
    }
    free(buf);
    return 0;
}
