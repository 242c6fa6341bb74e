/* Runs `adaptive-k gguf-info` (path in argv[1]) on a small file written here and checks the
 * lines it must print; then on a truncated copy, which must fail naming the problem. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "gguf/gguf.h"

static size_t run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    pclose(p);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (access(argv[1], X_OK) != 0) {
        fprintf(stderr, "%s: not an executable\n", argv[1]);
        return 1;
    }
    char path[64], cmd[512];
    ak_error err = {0};
    snprintf(path, sizeof path, "info_%d.gguf", (int)getpid());
    static uint8_t q8[3 * 2 * 34], f32[16];
    const char *toks[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    gguf_writer *w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "olmoe");
    gguf_set_u32(w, "olmoe.block_count", 16);
    gguf_set_f32(w, "olmoe.eps", 0.5f);
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 10);
    int64_t ne_q[2] = {96, 2}, ne_f[1] = {4};
    gguf_add_tensor(w, "blk.0.ffn_up_exps.weight", 8, 2, ne_q, q8, sizeof q8);
    gguf_add_tensor(w, "output_norm.weight", 0, 1, ne_f, f32, sizeof f32);
    CHECK(gguf_writer_write(w, path, &err) == 0);
    gguf_writer_free(w);

    static char out[16384];
    snprintf(cmd, sizeof cmd, "'%s' gguf-info %s 2>&1", argv[1], path);
    run(cmd, out, sizeof out);
    CHECK(strstr(out, "GGUF v3") && strstr(out, "alignment 32") && strstr(out, "4 key/values, 2 tensors"));
    CHECK(strstr(out, "\"general.architecture\" str = \"olmoe\""));
    CHECK(strstr(out, "\"olmoe.block_count\" u32 = 16"));
    CHECK(strstr(out, "\"olmoe.eps\" f32 = 0.5"));
    CHECK(strstr(out, "\"tokenizer.ggml.tokens\" arr[str, 10] = [\"a\", \"b\""));
    CHECK(strstr(out, "q8_0") && strstr(out, "[96, 2]") && strstr(out, "204 bytes"));
    CHECK(strstr(out, "blk.0.ffn_up_exps.weight") && strstr(out, "offset 224"));
    CHECK(strstr(out, "total         2 tensors            220 bytes"));

    snprintf(cmd, sizeof cmd, "head -c 300 %s > %s.cut && '%s' gguf-info %s.cut 2>&1; echo rc=$?", path, path,
             argv[1], path);
    run(cmd, out, sizeof out);
    CHECK(strstr(out, ".cut: ") && strstr(out, "rc=1"));
    snprintf(cmd, sizeof cmd, "%s.cut", path);
    unlink(cmd);
    unlink(path);
    if (failures) fprintf(stderr, "output was:\n%s\n", out);
    return check_finish("test_gguf_info_cli");
}
