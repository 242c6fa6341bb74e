/* helpers.h - the engine tests' helpers: fixture file paths and contexts (with the shared
 * CHECK of tests/check.h). */
#ifndef AK_TEST_MODEL_HELPERS_H
#define AK_TEST_MODEL_HELPERS_H

#include "adaptivek.h" /* ak_error */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../check.h"
#include "fixture.h"
#include "model/gen_model.h"
#include "model/model.h"

/* A unique temporary path for a fixture file. */
static inline void tmp_path(char *buf, size_t len, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/ak_model_%s_%d.gguf", dir && *dir ? dir : "/tmp", tag, (int)getpid());
}

/* A context for the engine tests with K and V caches of kv_type; NULL (and a failed check)
 * if it cannot be made. */
static inline ak_context *test_context_kv(ak_model *m, int n_ctx, int n_batch, int n_threads,
                                          const ak_router_config *routing, int kv_type) {
    ak_error err = {0};
    ak_context_params cp = ak_context_default_params();
    cp.type_k = cp.type_v = kv_type;
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    cp.routing = routing;
    ak_context *c = ak_context_new(m, &cp, &err);
    CHECK(c != NULL, "context (n_ctx %d, n_batch %d, %d threads): %s", n_ctx, n_batch, n_threads, err.msg);
    return c;
}

/* The same with the default cache types (f16). */
static inline ak_context *test_context(ak_model *m, int n_ctx, int n_batch, int n_threads,
                                       const ak_router_config *routing) {
    return test_context_kv(m, n_ctx, n_batch, n_threads, routing, ak_context_default_params().type_k);
}

/* Writes fm with weights of type wtype to path (see tmp_path) and loads it; NULL (and a
 * failed check naming what) when either fails. */
static inline ak_model *test_write_load(const fx_model *fm, const char *path, int wtype, const char *what) {
    ak_error err = {0};
    CHECK(fx_write(fm, path, wtype, NULL) == 0, "%s: write", what);
    ak_model *m = ak_model_load(path, &err);
    CHECK(m != NULL, "%s: load: %s", what, err.msg);
    return m;
}

/* The default olmoe fixture written as wtype to a temporary file named after `name` and
 * loaded (the start of several tests' main); NULL after a failed CHECK. */
static inline ak_model *test_default_model(const char *name, int wtype, char *path, size_t path_len) {
    fx_params p = fx_default("olmoe");
    fx_model *fm = fx_build(&p);
    tmp_path(path, path_len, name);
    ak_model *m = test_write_load(fm, path, wtype, name);
    fx_free(fm);
    return m;
}

/* gen-model's model of gp written to a temporary file named after tag and loaded; NULL
 * after a failed CHECK. */
static inline ak_model *test_gen_write_load(const ak_gen_params *gp, const char *tag, char *path, size_t len) {
    ak_error err = {0};
    tmp_path(path, len, tag);
    CHECK(ak_gen_model_write(gp, path, 1, &err) == 0, "%s (%s) fixture: %s", tag, gp->arch, err.msg);
    ak_model *m = ak_model_load(path, &err);
    CHECK(m != NULL, "%s (%s): load: %s", tag, gp->arch, err.msg);
    return m;
}

/* The same for arch's small default model (byte vocabulary; n_layer if > 0). */
static inline ak_model *test_gen_model(const char *arch, int n_layer, const char *tag, char *path, size_t len) {
    ak_gen_params gp;
    ak_gen_params_default(&gp, arch);
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "bytes");
    if (n_layer > 0) gp.n_layer = n_layer;
    return test_gen_write_load(&gp, tag, path, len);
}

#endif
