/* seeds.c - writes the seed corpora of the harnesses from the project's own valid files:
 * small generated models of every architecture and weight type, the tokenizer module's
 * tiny vocabularies with texts, .npy files the writer makes, every shipped router config
 * and built-in preset, and request bodies of every kind the server documents.
 * Usage: fuzz_seeds OUT_DIR SOURCE_DIR   (writes OUT_DIR/<harness>/seed-N) */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "base/file.h"
#include "gguf/gguf.h"
#include "io/npy.h"
#include "quant/quant.h"
#include "tokenizer/tokenizer.h"

static const char *g_out;

static void put(const char *harness, int i, const void *a, size_t na, const void *b, size_t nb) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_out, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/seed-%03d", g_out, harness, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f)) {
        fprintf(stderr, "fuzz_seeds: cannot write %s\n", path);
        exit(1);
    }
}

static void model_seeds(void) {
    static const char *archs[] = {"olmoe", "qwen2moe", "qwen3moe", "mixtral", "gpt-oss", "deepseek2", "nemotron_h_moe",
                                  "qwen35moe"};
    static const int types[] = {AK_TYPE_F32, AK_TYPE_F16, AK_TYPE_Q8_0, AK_TYPE_Q4_0, AK_TYPE_MXFP4};
    int n = 0;
    for (int a = 0; a < (int)(sizeof archs / sizeof archs[0]); a++)
        for (int t = 0; t < 5; t++) {
            size_t len;
            uint8_t *b = fuzz_tiny_model(archs[a], types[t], t == 0 ? "bytes" : "none", &len);
            if (!b) exit(1);
            put("gguf_model", n++, b, len, NULL, 0);
            free(b);
        }
}

static const char *const texts[] = {
    "Hello world", "  leading spaces and\ttabs\n\nnew lines", "<s>special</s> <|endoftext|> tokens",
    "numbers 1234567 and 3.14, punctuation!?", "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
    "\xff\xfe invalid \xc3 utf8",
};

static void tokenizer_seeds(void) {
    static const char *kinds[] = {"gpt2", "llama", "gpt2"};
    int n = 0;
    for (int k = 0; k < 3; k++) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/ak_fuzz_vocab_%d.gguf", (int)getpid());
        gguf_writer *w = gguf_writer_new();
        ak_error err = {0};
        if (ak_tokenizer_write_tiny_vocab(w, kinds[k], 300)) exit(1);
        if (k == 2) gguf_set_str(w, "tokenizer.ggml.pre", "gpt-4o"); /* o200k pre-tokenizer */
        if (gguf_writer_write(w, path, &err)) exit(1);
        gguf_writer_free(w);
        size_t len;
        char *b = ak_read_file(path, &len, &err);
        unlink(path);
        if (!b) exit(1);
        uint8_t *in = malloc(4 + len);
        uint32_t L = (uint32_t)len;
        memcpy(in, &L, 4);
        memcpy(in + 4, b, len);
        for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) put("tokenizer", n++, in, 4 + len, texts[t], strlen(texts[t]));
        free(in);
        free(b);
    }
}

static void npy_seeds(void) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/ak_fuzz_%d.npy", (int)getpid());
    float f[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    int32_t i[4] = {0, 1, -1, 7};
    int64_t s2[2] = {2, 3}, s1[1] = {4};
    ak_error err = {0};
    int n = 0;
    for (int k = 0; k < 3; k++) {
        ak_status st = k == 0   ? ak_npy_save(path, AK_DTYPE_F32, 2, s2, f, &err)
                       : k == 1 ? ak_npy_save(path, AK_DTYPE_I32, 1, s1, i, &err)
                                : ak_npy_save(path, AK_DTYPE_F32, 0, NULL, f, &err);
        size_t len;
        char *b = st == AK_OK ? ak_read_file(path, &len, &err) : NULL;
        if (!b) {
            fprintf(stderr, "fuzz_seeds: npy: %s\n", err.msg);
            exit(1);
        }
        put("npy", n++, b, len, NULL, 0);
        free(b);
    }
    unlink(path);
    /* a float16 file by hand (the writer writes float32 and int32 only) */
    static const char f16[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }";
    char hdr[128 + 4];
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, f16, sizeof f16 - 1);
    hdr[127] = '\n';
    memcpy(hdr + 128, "\x00\x3c\x00\xc0", 4); /* 1.0, -2.0 */
    put("npy", n++, hdr, sizeof hdr, NULL, 0);
}

static void config_seeds(const char *src) {
    int n = 0;
    static const char *files[] = {"models/olmoe-sotu-best-avgk3.json", "models/olmoe64-sotu-best-avgk6.json"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", src, files[i]);
        size_t len;
        ak_error err = {0};
        char *b = ak_read_file(path, &len, &err);
        if (b) put("router_config", n++, b, len, NULL, 0);
        free(b);
    }
    static const char *presets[] = {"olmoe-1b-7b", "qwen1.5-moe-a2.7b", "qwen3-30b-a3b", "mixtral-8x7b"};
    for (int i = 0; i < 4; i++) {
        ak_router_config c;
        memset(&c, 0, sizeof c);
        char *json = NULL;
        if (ak_preset_get(presets[i], &c, NULL) == AK_OK && ak_config_to_json(&c, &json, NULL) == AK_OK)
            put("router_config", n++, json, strlen(json), NULL, 0);
        free(json);
        ak_config_free(&c);
    }
}

static const char *const requests[] = {
    "{\"prompt\":\"Once upon a time\",\"max_tokens\":8}",
    "{\"prompt\":\"x\",\"max_tokens\":4,\"temperature\":0.7,\"top_p\":0.9,\"seed\":42,\"stop\":[\"\\n\",\"END\"],"
    "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"u1\"}",
    "{\"prompt\":\"y\",\"adaptive_k\":{\"policy\":\"entropy\",\"k_values\":[1,2,4],\"thresholds\":[0.6,1.2],"
    "\"threshold_unit\":\"nats\",\"trace\":true}}",
    "{\"prompt\":\"z\",\"adaptive_k\":{\"policy\":\"top-p\",\"top_p\":0.8,\"k_min\":1,\"k_max\":2}}",
    "{\"prompt\":\"w\",\"adaptive_k\":{\"policy\":\"fixed\",\"k\":1}}",
    "{\"prompt\":\"v\",\"adaptive_k\":{\"variant\":\"a\"}}",
    "{\"prompt\":\"u\",\"adaptive_k\":{\"policy\":\"ratio\",\"ratio\":0.3},\"logprobs\":2}",
    "{\"prompt\":\"s\",\"skip\":{\"exit_threshold\":0.9,\"exit_measure\":\"saturation\",\"exit_layer\":0,"
    "\"exit_every\":1,\"prune_ratio\":0.5,\"prune_layer\":0,\"prune_by\":\"oldest\"}}",
    "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],"
    "\"max_tokens\":8,\"stop\":\"\\n\"}",
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"parts\"}]},"
    "{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"again\"}],\"n\":1,\"echo\":false}",
    "{\"model\":\"m\",\"prompt\":\"\\u00e9\\ud83d\\ude00\",\"max_tokens\":1,\"frequency_penalty\":0,\"presence_penalty\":0}",
};

static void request_seeds(void) {
    for (size_t i = 0; i < sizeof requests / sizeof *requests; i++) put("request", (int)i, requests[i], strlen(requests[i]), NULL, 0);
}

static void stream_seeds(void) {
    /* sizeof - 1: the seeds hold NUL bytes */
#define SEED(lit) {sizeof(lit) - 1, lit}
    static const struct {
        size_t n;
        const char *b;
    } s[] = {
        SEED("\x00Hello\xff world\xff!\xff end"),
        SEED("\x03\x03" "END" "\x00Once\xff upon\xff E\xff" "ND more"),
        SEED("\x05\x01\n\x02" "ab" "\x00\xc3\xff\xa9t\xc3\xff\xa9 a\xff" "b\n\xff tail"),
    };
#undef SEED
    for (int i = 0; i < 3; i++) put("stream", i, s[i].b, s[i].n, NULL, 0);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_seeds OUT_DIR SOURCE_DIR\n");
        return 2;
    }
    g_out = argv[1];
    mkdir(g_out, 0755);
    model_seeds();
    tokenizer_seeds();
    npy_seeds();
    config_seeds(argv[2]);
    request_seeds();
    stream_seeds();
    return 0;
}
