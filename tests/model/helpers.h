/* helpers.h - the engine tests' helpers: fixture file paths and contexts (with the shared
 * CHECK of tests/check.h). */
#ifndef AK_TEST_MODEL_HELPERS_H
#define AK_TEST_MODEL_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../check.h"
#include "model/model.h"

/* A unique temporary path for a fixture file. */
static inline void tmp_path(char *buf, size_t len, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/ak_model_%s_%d.gguf", dir && *dir ? dir : "/tmp", tag, (int)getpid());
}

/* A context for the engine tests; NULL (and a failed check) if it cannot be made. */
static inline ak_context *test_context(ak_model *m, int n_ctx, int n_batch, int n_threads,
                                       const ak_router_config *routing) {
    char err[512];
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    cp.routing = routing;
    ak_context *c = ak_context_new(m, &cp, err, sizeof err);
    CHECK(c != NULL, "context (n_ctx %d, n_batch %d, %d threads): %s", n_ctx, n_batch, n_threads, err);
    return c;
}

#endif
