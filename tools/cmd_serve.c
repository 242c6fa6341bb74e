/* cmd_serve.c - adaptive-k serve: the OpenAI-compatible HTTP server (src/serve, docs/serving.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "commands.h"
#include "eval/session.h"
#include "routing_flags.h"
#include "serve/serve.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k serve -m FILE.gguf [--port 8080] [--host 127.0.0.1] [-t THREADS] [-c CTX]\n"
            "         [--parallel 1] [--queue 16] [--timeout 120] [--max-prompt-tokens N] [--max-tokens 512]\n"
            "         [--max-body BYTES] [--min-k N] [--max-k N] [--ab NAME=POLICY:SHARE,...] [--trace]\n"
            "         [--log-file FILE] [--port-file FILE] [--alias NAME] [--calibration-file TEXT] [routing flags]\n"
            "  Serves POST /v1/completions and /v1/chat/completions (\"stream\": true for server-sent events),\n"
            "  GET /v1/models, /health, /metrics (Prometheus) and /v1/ab/results until SIGTERM or SIGINT,\n"
            "  then finishes the requests it holds (at most --timeout seconds) and exits 0.\n"
            "  --parallel: workers, each with its own context (-t threads each); --queue: requests that may\n"
            "  wait beyond the running ones (more get 429). --port 0 picks a free port (printed, and written\n"
            "  to --port-file). --min-k/--max-k bound what a request's \"adaptive_k\" routing may choose.\n"
            "  --ab POLICY: native, fixed, fixed@K, entropy, entropy@AVGK (fitted), top-p@P, ratio@R,\n"
            "  default (the routing flags below) or a router-config JSON file. --trace prints each request's\n"
            "  per-layer entropy and K as bars to stderr. One JSON line per request goes to --log-file\n"
            "  (default stderr). Routing flags set the default routing (default: the model's own top-k).\n\n");
    ak_routing_flags_help(out);
}

int cmd_serve(int argc, char **argv) {
    ak_serve_options o;
    ak_serve_default_options(&o);
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    int n_routing = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--trace")) {
            o.trace = 1;
            continue;
        }
        struct { const char *a, *b; const char **dst; } strs[] = {
            {"-m", "--model", &o.model_path}, {"--host", "--host", &o.host}, {"--ab", "--ab", &o.ab_spec},
            {"--log-file", "--log-file", &o.log_file}, {"--port-file", "--port-file", &o.port_file},
            {"--alias", "--alias", &o.model_name}, {"--calibration-file", "--calibration-file", &o.calibration_file}};
        int matched = 0;
        for (size_t k = 0; k < sizeof strs / sizeof strs[0] && !matched; k++) {
            if (!(r = ak_cli_flag_value(argc, argv, &i, strs[k].a, &v)) &&
                !(r = ak_cli_flag_value(argc, argv, &i, strs[k].b, &v)))
                continue;
            if (r < 0) goto missing;
            *strs[k].dst = v;
            matched = 1;
        }
        if (matched) continue;
        int max_body = (int)o.max_body_bytes;
        struct { const char *a, *b; int *dst, min, max; } ints[] = {
            {"--port", "--port", &o.port, 0, 65535},
            {"-t", "--threads", &o.n_threads, 1, 4096},
            {"-c", "--ctx-size", &o.n_ctx, 0, 1 << 20},
            {"--parallel", "-np", &o.n_parallel, 1, 256},
            {"--queue", "--queue", &o.queue_size, 0, 1 << 16},
            {"--max-prompt-tokens", "--max-prompt-tokens", &o.max_prompt_tokens, 1, 1 << 20},
            {"--max-tokens", "--max-tokens", &o.max_tokens, 1, 1 << 20},
            {"--max-body", "--max-body", &max_body, 64, 1 << 30},
            {"--min-k", "--min-k", &o.min_k, 1, AK_MAX_EXPERTS},
            {"--max-k", "--max-k", &o.max_k, 1, AK_MAX_EXPERTS}};
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !matched; k++) {
            if (!(r = ak_cli_flag_value(argc, argv, &i, ints[k].a, &v)) &&
                !(r = ak_cli_flag_value(argc, argv, &i, ints[k].b, &v)))
                continue;
            if (r < 0) goto missing;
            if (ak_cli_parse_int(v, ints[k].dst) || *ints[k].dst < ints[k].min || *ints[k].dst > ints[k].max) {
                fprintf(stderr, "serve: %s needs an integer in %d..%d, not '%s'\n", ints[k].a, ints[k].min,
                        ints[k].max, v);
                return 2;
            }
            matched = 1;
        }
        o.max_body_bytes = (size_t)max_body;
        if (matched) continue;
        if ((r = ak_cli_flag_value(argc, argv, &i, "--timeout", &v))) {
            if (r < 0) goto missing;
            if (ak_cli_parse_double(v, &o.timeout_s) || !(o.timeout_s > 0) || o.timeout_s > 86400) {
                fprintf(stderr, "serve: --timeout needs seconds in (0, 86400], not '%s'\n", v);
                return 2;
            }
            continue;
        }
        ak_error aerr = {0};
        if ((r = ak_routing_flags_parse(&rf, argc, argv, i, &aerr)) != 0) {
            if (r < 0) {
                fprintf(stderr, "serve: %s\n", aerr.msg);
                return 2;
            }
            i += r - 1;
            n_routing++;
            continue;
        }
        fprintf(stderr, "serve: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    missing:
        fprintf(stderr, "serve: %s needs a value\n", argv[i]);
        return 2;
    }
    if (!o.model_path) {
        fprintf(stderr, "serve: -m FILE is required\n");
        usage(stderr);
        return 2;
    }
    char err[512];
    ak_session s;
    if (ak_session_load(&s, o.model_path, err, sizeof err)) {
        fprintf(stderr, "serve: %s\n", err);
        return 1;
    }
    const ak_hparams *hp = ak_model_hparams(s.model);
    ak_router_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = 1;
    if (n_routing) {
        ak_error aerr = {0};
        if (ak_routing_flags_build(&rf, hp->n_expert, hp->n_layer, 0, &cfg, &aerr) != AK_OK) {
            fprintf(stderr, "serve: %s\n", aerr.msg);
            goto done;
        }
        if (!cfg.k_native) cfg.k_native = hp->n_expert_used;
    }
    if (ak_serve_run(&o, s.model, s.tok, n_routing ? &cfg : NULL, err, sizeof err)) {
        fprintf(stderr, "serve: %s\n", err);
        goto done;
    }
    rc = 0;
done:
    if (n_routing) ak_config_free(&cfg);
    ak_session_close(&s);
    return rc;
}
