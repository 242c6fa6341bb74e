/* cmd_serve.c - adaptive-k serve: the OpenAI-compatible HTTP server (src/serve, docs/serving.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cli_util.h"
#include "commands.h"
#include "engine_cli.h"
#include "serve/serve.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k serve -m FILE.gguf [--port 8080] [--host 127.0.0.1] [-t THREADS] [-c CTX] [-ctk T -ctv T]\n"
            "         [--parallel 1] [--queue 16] [--timeout 120] [--max-prompt-tokens N] [--max-tokens 512]\n"
            "         [--max-body BYTES] [--min-k N] [--max-k N] [--ab NAME=POLICY:SHARE,...] [--trace]\n"
            "         [--log-file FILE] [--port-file FILE] [--alias NAME] [--calibration-file TEXT] [--no-repack]\n"
            "         [routing flags]\n"
            "  Serves POST /v1/completions and /v1/chat/completions (\"stream\": true for server-sent events),\n"
            "  GET /v1/models, /health, /metrics (Prometheus) and /v1/ab/results until SIGTERM or SIGINT,\n"
            "  then finishes the requests it holds (at most --timeout seconds) and exits 0.\n"
            "  -ctk/-ctv: KV cache types (f16 default, f32, bf16, q8_0, q4_0).\n"
            "  --parallel: workers, each with its own context; -t: threads in total (default: the CPUs this\n"
            "  process may use), shared out among the workers (at least one each); --queue: requests that may\n"
            "  wait beyond the running ones (more get 429). --port 0 picks a free port (printed, and written\n"
            "  to --port-file). --min-k/--max-k bound what a request's \"adaptive_k\" routing may choose.\n"
            "  --ab POLICY: native, fixed, fixed@K, entropy, entropy@AVGK (fitted), top-p@P, ratio@R,\n"
            "  default (the routing flags below) or a router-config JSON file. --trace prints each request's\n"
            "  per-layer entropy and K as bars to stderr. One JSON line per request goes to --log-file\n"
            "  (default stderr). Routing flags set the default routing (default: the model's own top-k).\n"
            "  --no-repack: compute on the weights as the file lays them out (default: MXFP4, Q4_K, Q5_K are\n"
            "  repacked at load for faster kernels, docs/engine.md).\n"
            "  The early-exit and pruning flags below set every request's default; a request's \"skip\"\n"
            "  object may choose its own within --min-exit-threshold P (default 1: no lower threshold) and\n"
            "  --max-prune-ratio R (default 0: no pruning) (docs/serving.md).\n\n");
    ak_routing_flags_help(out);
    ak_skip_flags_help(out);
}

int cmd_serve(int argc, char **argv) {
    ak_serve_options o;
    ak_serve_default_options(&o);
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    ak_skip_flags sf;
    ak_skip_flags_init(&sf);
    int max_body = (int)o.max_body_bytes;
    const char *ctk = NULL, *ctv = NULL;
    const ak_cli_str_flag strs[] = {
        {"-m", "--model", &o.model_path},       {"--host", NULL, &o.host},           {"--ab", NULL, &o.ab_spec},
        {"--log-file", NULL, &o.log_file},      {"--port-file", NULL, &o.port_file}, {"--alias", NULL, &o.model_name},
        {"--calibration-file", NULL, &o.calibration_file}, {"-ctk", "--cache-type-k", &ctk},
        {"-ctv", "--cache-type-v", &ctv}};
    const ak_cli_int_flag ints[] = {{"--port", NULL, &o.port, 0, 65535},
                                    {"-t", "--threads", &o.n_threads, 1, 4096},
                                    {"-c", "--ctx-size", &o.n_ctx, 0, 1 << 20},
                                    {"--parallel", "-np", &o.n_parallel, 1, 256},
                                    {"--queue", NULL, &o.queue_size, 0, 1 << 16},
                                    {"--max-prompt-tokens", NULL, &o.max_prompt_tokens, 1, 1 << 20},
                                    {"--max-tokens", NULL, &o.max_tokens, 1, 1 << 20},
                                    {"--max-body", NULL, &max_body, 64, 1 << 30},
                                    {"--min-k", NULL, &o.min_k, 1, AK_MAX_EXPERTS},
                                    {"--max-k", NULL, &o.max_k, 1, AK_MAX_EXPERTS}};
    int no_repack = 0;
    const ak_cli_bool_flag bools[] = {{"--trace", &o.trace, 1}, {"--no-repack", &no_repack, 1}};
    ak_cli_args args = {.cmd = "serve", .usage = usage, .usage_after_unknown = 1,
                        .strs = strs, .n_strs = AK_CLI_COUNT(strs), .ints = ints, .n_ints = AK_CLI_COUNT(ints),
                        .bools = bools, .n_bools = AK_CLI_COUNT(bools), .routing = &rf,
                        .skip = &sf};
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = ak_cli_args_value(&args, argc, argv, &i, "--timeout", &v))) {
            if (r < 0) return 2;
            if (ak_cli_parse_double(v, &o.timeout_s) || !(o.timeout_s > 0) || o.timeout_s > 86400) {
                fprintf(stderr, "serve: --timeout needs seconds in (0, 86400], not '%s'\n", v);
                return 2;
            }
            continue;
        }
        const char *limit_names[2] = {"--min-exit-threshold", "--max-prune-ratio"};
        float *limits[2] = {&o.min_exit_threshold, &o.max_prune_ratio};
        int taken = 0;
        for (int k = 0; k < 2 && !taken; k++) {
            if (!(r = ak_cli_args_value(&args, argc, argv, &i, limit_names[k], &v))) continue;
            if (r < 0 || ak_cli_parse_float(v, limits[k])) {
                if (r > 0) fprintf(stderr, "serve: %s needs a number, not '%s'\n", limit_names[k], v);
                return 2;
            }
            taken = 1;
        }
        if (taken) continue;
        if ((r = ak_cli_args_take(&args, argc, argv, &i)) >= 0) return r;
    }
    if (sf.target_layers > 0 || sf.calib_path) {
        fprintf(stderr, "serve: --exit-target-layers is not calibrated by the server: find the threshold with "
                        "perplexity or sweep and pass --exit-threshold\n");
        return 2;
    }
    o.skip = sf.p;
    o.max_body_bytes = (size_t)max_body;
    if (ak_cli_kv_types("serve", ctk, ctv, &o.type_k, &o.type_v)) return 2;
    if (!o.model_path) {
        fprintf(stderr, "serve: -m FILE is required\n");
        usage(stderr);
        return 2;
    }
    ak_error err = {0};
    ak_session s;
    ak_model_params mp = ak_model_default_params();
    if (no_repack) mp.repack = 0;
    if (ak_session_load(&s, o.model_path, &mp, &err)) {
        fprintf(stderr, "serve: %s\n", err.msg);
        return 1;
    }
    ak_router_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = 1;
    if (ak_cli_session_routing(&args, ak_model_hparams(s.model), &cfg, &err) < 0) {
        fprintf(stderr, "serve: %s\n", err.msg);
        goto done;
    }
    if (ak_serve_run(&o, s.model, s.tok, args.n_routing ? &cfg : NULL, &err)) {
        fprintf(stderr, "serve: %s\n", err.msg);
        goto done;
    }
    rc = 0;
done:
    if (args.n_routing) ak_config_free(&cfg);
    ak_session_close(&s);
    return rc;
}
