/* check.h - minimal assertions for the engine tests. */
#ifndef AK_TEST_CHECK_H
#define AK_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int g_failures;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fprintf(stderr, "\n");                                               \
            g_failures++;                                                        \
        }                                                                        \
    } while (0)

/* A unique temporary path for a fixture file. */
static inline void tmp_path(char *buf, size_t len, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/ak_model_%s_%d.gguf", dir && *dir ? dir : "/tmp", tag, (int)getpid());
}

static inline int finish(const char *name) {
    if (g_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, g_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
