/* check.h - the engine tests: the shared CHECK (tests/check.h) and fixture file paths. */
#ifndef AK_TEST_CHECK_H
#define AK_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../check.h"

/* A unique temporary path for a fixture file. */
static inline void tmp_path(char *buf, size_t len, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/ak_model_%s_%d.gguf", dir && *dir ? dir : "/tmp", tag, (int)getpid());
}

#endif
