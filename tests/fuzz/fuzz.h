/* fuzz.h - what the harnesses in tests/fuzz share.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput. Built by clang with
 * -fsanitize=fuzzer (cmake -DAK_FUZZ=ON, scripts/fuzz.sh) it is a libFuzzer binary; built
 * with replay.c (the ordinary test suite, gcc or clang, with or without sanitizers) it
 * replays files and folders: the seed corpus and every input in regressions/<name>/.
 * A harness aborts (FUZZ_CHECK) when a property it checks fails, so libFuzzer keeps the
 * input as a crash exactly as for a sanitizer report. */
#ifndef AK_FUZZ_H
#define AK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* A small random-weight model (gen_model.h defaults, 32-wide, 4 experts), as GGUF bytes in
 * a malloc'd buffer; vocab "none" | "bytes" | "gpt2" | "llama". NULL on failure. */
uint8_t *fuzz_tiny_model(const char *arch, int type, const char *vocab, size_t *len);

/* data copied to a 64-byte aligned buffer (what mmap gives the engine): the caller frees. */
uint8_t *fuzz_aligned_copy(const uint8_t *data, size_t size);

typedef struct ak_server ak_server;
/* A server (no listener, no workers) on a tiny gpt2-vocabulary model, made once per
 * process: what request parsing and jobs need. Aborts if it cannot be made. */
ak_server *fuzz_server(void);

#endif
