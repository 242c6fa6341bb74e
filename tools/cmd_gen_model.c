/* cmd_gen_model.c - adaptive-k gen-model: writes a random-weight MoE model as GGUF. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "model/gen_model.h"
#include "quant/quant.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k gen-model -o FILE\n"
            "         [--arch olmoe|qwen2moe|qwen3moe|mixtral|gpt-oss|deepseek2|nemotron_h_moe|qwen35moe]\n"
            "         [--type f32|f16|bf16|q8_0|q4_0|q5_0|q4_k|q5_k|q6_k|q2_k|q3_k|iq4_xs|iq4_nl|mxfp4]\n"
            "         [--preset %s]\n"
            "         [--layers N --embd N --heads N --heads-kv N --head-dim N --experts N --top-k N\n"
            "          --ff N --ff-shexp N --vocab N --ctx N --vocab-kind gpt2|llama|bytes|none --seed S] [--quiet]\n"
            "         [--rope-scaling linear|yarn --rope-factor F [--rope-orig-ctx N] [--rope-log-mul F]]\n"
            "         deepseek2: [--q-lora N (0: one attn_q) --kv-lora N --qk-nope N --qk-rope N --v-head N\n"
            "          --dense-layers N --ff-dense N --shared-experts N --gating softmax|sigmoid --groups N\n"
            "          --groups-used N --weights-norm 0|1 --weights-scale F]\n"
            "         nemotron_h_moe: [--pattern KINDS (M Mamba-2, * attention, E experts; e.g. MEM*E)\n"
            "          --ssm-heads N --ssm-head-dim N --ssm-groups N --ssm-state N --ssm-conv N --ff-shexp N\n"
            "          --weights-norm 0|1 --weights-scale F --moe-latent N (experts in a latent space)]\n"
            "         qwen35moe: [--ssm-heads N (value heads) --ssm-groups N (key heads) --ssm-head-dim N\n"
            "          --ssm-conv N --ff-shexp N --rope-dims N] (Gated DeltaNet, every 4th layer attention)\n"
            "  Random weights with the keys, tensor names, shapes and types llama.cpp expects, so\n"
            "  llama.cpp loads the file too. Deterministic for a seed. A preset sets full-size shapes\n"
            "  (the other flags still apply). Matrices whose rows do not fit the type's blocks are\n"
            "  written as q8_0 (or f16). Vocabulary: gpt2/llama are the tokenizer module's tiny\n"
            "  vocabularies (default: llama for mixtral, else gpt2); bytes has ids = bytes (BOS 256);\n"
            "  none writes only a vocabulary size (llama.cpp loads it but cannot tokenise).\n",
            ak_gen_preset_names());
}

int cmd_gen_model(int argc, char **argv) {
    const char *out = NULL, *arch = "olmoe", *preset = NULL, *type_name = "f32";
    /* two passes: the architecture or preset sets defaults, the other flags override them */
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (ak_cli_flag_value(argc, argv, &i, "--arch", &v) == 1) arch = v;
        else if (ak_cli_flag_value(argc, argv, &i, "--preset", &v) == 1) preset = v;
    }
    ak_gen_params p;
    if (preset) {
        if (ak_gen_params_preset(&p, preset)) {
            fprintf(stderr, "gen-model: unknown preset '%s' (%s)\n", preset, ak_gen_preset_names());
            return 2;
        }
    } else if (ak_gen_params_default(&p, arch)) {
        fprintf(stderr, "gen-model: unknown architecture '%s' (olmoe, qwen2moe, qwen3moe, mixtral, gpt-oss, deepseek2, "
                "nemotron_h_moe, qwen35moe)\n", arch);
        return 2;
    }
    int quiet = 0;
    const ak_cli_str_flag strs[] = {
        {"-o", NULL, &out}, {"--type", NULL, &type_name}, {"--arch", NULL, &arch}, {"--preset", NULL, &preset},
        {"--rope-scaling", NULL, &p.rope_scaling}, {"--pattern", NULL, &p.pattern}};
    const ak_cli_int_flag ints[] = {
        {"--layers", NULL, &p.n_layer, INT_MIN, INT_MAX},      {"--embd", NULL, &p.n_embd, INT_MIN, INT_MAX},
        {"--heads", NULL, &p.n_head, INT_MIN, INT_MAX},        {"--heads-kv", NULL, &p.n_head_kv, INT_MIN, INT_MAX},
        {"--head-dim", NULL, &p.head_dim, INT_MIN, INT_MAX},   {"--experts", NULL, &p.n_expert, INT_MIN, INT_MAX},
        {"--top-k", NULL, &p.n_expert_used, INT_MIN, INT_MAX}, {"--ff", NULL, &p.n_ff, INT_MIN, INT_MAX},
        {"--ff-shexp", NULL, &p.n_ff_shexp, INT_MIN, INT_MAX}, {"--vocab", NULL, &p.n_vocab, INT_MIN, INT_MAX},
        {"--ctx", NULL, &p.n_ctx_train, INT_MIN, INT_MAX},    {"--rope-orig-ctx", NULL, &p.rope_orig_ctx, 0, 1 << 24},
        {"--q-lora", NULL, &p.q_lora, 0, 1 << 16},            {"--kv-lora", NULL, &p.kv_lora, 0, 1 << 16},
        {"--qk-nope", NULL, &p.qk_nope, 0, 4096},             {"--qk-rope", NULL, &p.qk_rope, 0, 4096},
        {"--v-head", NULL, &p.v_head, 0, 4096},               {"--dense-layers", NULL, &p.n_layer_dense, 0, 1024},
        {"--ff-dense", NULL, &p.n_ff_dense, 0, 1 << 20},      {"--shared-experts", NULL, &p.n_expert_shared, 0, 64},
        {"--groups", NULL, &p.n_group, 0, 1024},              {"--groups-used", NULL, &p.n_group_used, 0, 1024},
        {"--weights-norm", NULL, &p.weights_norm, 0, 1},      {"--ssm-heads", NULL, &p.ssm_heads, 0, 1 << 16},
        {"--ssm-head-dim", NULL, &p.ssm_head_dim, 0, 4096},   {"--ssm-groups", NULL, &p.ssm_groups, 0, 1 << 16},
        {"--ssm-state", NULL, &p.ssm_state, 0, 4096},         {"--ssm-conv", NULL, &p.ssm_conv, 0, 64},
        {"--rope-dims", NULL, &p.rope_dims, 0, 4096},         {"--moe-latent", NULL, &p.moe_latent, 0, 65536},
    };
    const ak_cli_bool_flag bools[] = {{"--quiet", &quiet, 1}};
    ak_cli_args args = {.cmd = "gen-model", .usage = usage, .usage_after_unknown = 1,
                        .strs = strs, .n_strs = AK_CLI_COUNT(strs), .ints = ints, .n_ints = AK_CLI_COUNT(ints),
                        .bools = bools, .n_bools = AK_CLI_COUNT(bools)};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--vocab-kind", &v))) {
            if (r < 0) return 2;
            if (strlen(v) >= sizeof p.vocab_kind) {
                fprintf(stderr, "gen-model: unknown vocabulary kind '%s' (gpt2, llama, bytes, none)\n", v);
                return 2;
            }
            snprintf(p.vocab_kind, sizeof p.vocab_kind, "%s", v);
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--rope-factor", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_float(v, &p.rope_factor) || !(p.rope_factor > 0)) {
                fprintf(stderr, "gen-model: --rope-factor needs a number > 0, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--gating", &v))) {
            if (r < 0) return 2;
            if (strcmp(v, "softmax") && strcmp(v, "sigmoid")) {
                fprintf(stderr, "gen-model: --gating softmax|sigmoid, not '%s'\n", v);
                return 2;
            }
            p.sigmoid = !strcmp(v, "sigmoid");
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--rope-log-mul", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_float(v, &p.rope_log_mul) || !(p.rope_log_mul >= 0)) {
                fprintf(stderr, "gen-model: --rope-log-mul needs a number >= 0, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--weights-scale", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_float(v, &p.weights_scale) || !(p.weights_scale >= 0)) {
                fprintf(stderr, "gen-model: --weights-scale needs a number >= 0, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--seed", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_seed(v, &p.seed)) {
                fprintf(stderr, "gen-model: --seed needs a non-negative integer, not '%s'\n", v);
                return 2;
            }
            continue;
        }
        if ((r = ak_cli_args_take(&args, argc, argv, &i)) >= 0) return r;
    }
    if (!out) {
        fprintf(stderr, "gen-model: -o FILE is required\n");
        usage(stderr);
        return 2;
    }
    p.type = ak_type_from_name(type_name);
    if (p.type < 0 || !ak_type_is_weight(p.type)) {
        fprintf(stderr, "gen-model: unknown weight type '%s' (f32, f16, bf16, q8_0, q4_0, q5_0, q4_k, q5_k, q6_k, q2_k, q3_k, "
                "iq4_xs, iq4_nl, mxfp4)\n",
                type_name);
        return 2;
    }
    ak_error err = {0};
    if (ak_gen_model_write(&p, out, quiet, &err)) {
        fprintf(stderr, "gen-model: %s\n", err.msg);
        return 1;
    }
    if (!quiet)
        printf("wrote %s: %s, %s, %d layers, embd %d, %d experts top-%d, ff %d, seed %llu\n", out, p.arch,
               ak_type_name(p.type), p.n_layer, p.n_embd, p.n_expert, p.n_expert_used, p.n_ff,
               (unsigned long long)p.seed);
    return 0;
}
