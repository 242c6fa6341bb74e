/* engine_cli.c - the text, routing and session set-up of the engine commands. */
#include "quant/quant.h"
#include "base/file.h"
#include "base/errfmt.h"
#include "engine_cli.h"

#include <stdlib.h>
#include <string.h>

char *ak_cli_read_text(const char *path, size_t *len, ak_error *err) {
    char *text = ak_read_file(path, len, err);
    if (text && *len && text[*len - 1] == '\n') text[--*len] = 0;
    return text;
}

int ak_cli_session_routing(void *user, const ak_hparams *hp, ak_router_config *cfg, ak_error *err) {
    const ak_cli_args *args = user;
    if (!args->n_routing) return 0;
    ak_error aerr = {0};
    if (ak_routing_flags_build_for_model(args->routing, hp->n_expert, hp->n_layer, hp->n_expert_used, cfg, &aerr)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "%s", aerr.msg);
        return -1;
    }
    return 1;
}

int ak_cli_session_open(ak_session *s, const char *cmd, const char *model_path, const char *text_path,
                        ak_session_opts *o) {
    ak_error err = {0};
    char *text = NULL;
    memset(s, 0, sizeof *s);
    if (text_path && !(text = ak_cli_read_text(text_path, &o->text_len, &err))) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    if (text) o->text = text;
    int rc = ak_session_open(s, model_path, o, &err);
    if (text) o->text = NULL;
    free(text);
    if (rc) fprintf(stderr, "%s: %s\n", cmd, err.msg);
    else { /* as llama.cpp's "KV self size" line */
        uint64_t kv = ak_kv_cache_bytes(s->model, s->n_ctx, s->type_k, s->type_v);
        fprintf(stderr, "%s: KV cache %.2f MiB for %d tokens (%.1f KiB per token; K %s, V %s)\n", cmd,
                kv / 1048576.0, s->n_ctx, kv / 1024.0 / s->n_ctx, ak_type_name(s->type_k), ak_type_name(s->type_v));
    }
    return rc ? 1 : 0;
}

int ak_cli_kv_types(const char *cmd, const char *k_name, const char *v_name, int *type_k, int *type_v) {
    const char *names[2] = {k_name, v_name};
    int *types[2] = {type_k, type_v};
    for (int i = 0; i < 2; i++) {
        *types[i] = names[i] ? ak_type_from_name(names[i]) : AK_TYPE_F16; /* llama.cpp's default too */
        if (*types[i] < 0) {
            fprintf(stderr, "%s: %s %s: not a type (f32, f16, bf16, q8_0, q4_0)\n", cmd, i ? "-ctv" : "-ctk", names[i]);
            return -1;
        }
    }
    return 0;
}
