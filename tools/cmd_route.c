/* cmd_route.c - `adaptive-k route`: route recorded router logits through a policy, write
 * the decisions (JSON lines or .npy) and print a summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "commands.h"
#include "io/logits.h"
#include "logits_args.h"
#include "route_stats.h"

static void route_help(FILE *out) {
    fputs("usage: adaptive-k route INPUT [--experts N] [routing flags] [--out FILE] [--k-native N] [--quiet]\n"
          "\n"
          "Routes router logits through a policy: every token of every layer gets K experts.\n"
          "INPUT is a .npy file, float32 or float16, [tokens][experts] or [layers][tokens][experts]\n"
          "(layer l uses the router config's policy for layer l), or raw little-endian float32\n"
          "values [tokens][experts] with --experts N.\n"
          "\n"
          "options:\n"
          "  --experts N      experts per token (required for raw input; checked for .npy)\n"
          "  --out FILE       write the decisions: FILE.npy -> FILE.ids.npy (int32 [layers][tokens][slots],\n"
          "                   -1 = unused), FILE.weights.npy (float32, same shape, 0 = unused), FILE.k.npy\n"
          "                   (int32 [layers][tokens]) and FILE.entropy.npy (float32 [layers][tokens], nats);\n"
          "                   any other name (or - for stdout) -> JSON lines, one per token:\n"
          "                   {\"layer\":l,\"token\":t,\"k\":K,\"entropy\":H,\"ids\":[...],\"weights\":[...]}\n"
          "  --k-native N     baseline top-k for 'compute saved' (default: the config's k_native, else the\n"
          "                   largest K the policy can choose)\n"
          "  --quiet          no summary\n"
          "\n",
          out);
    ak_routing_flags_help(out);
}

typedef struct {
    FILE *jsonl;
    ak_npy_writer ids, weights, k, entropy;
    int is_npy;
    int32_t *k32; /* [n_tokens] */
} route_output;

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static ak_status output_open(route_output *o, const char *path, const char *input, const ak_route_run *r,
                             ak_error *err) {
    if (same_file(path, input)) {
        snprintf(err->msg, sizeof err->msg, "--out %s would overwrite the input", path);
        return err->code = AK_ERR_INVALID_ARG;
    }
    if (!has_suffix(path, ".npy")) {
        o->jsonl = strcmp(path, "-") ? fopen(path, "w") : stdout;
        if (!o->jsonl) {
            snprintf(err->msg, sizeof err->msg, "%s: cannot create: %s", path, strerror(errno));
            return err->code = AK_ERR_IO;
        }
        return AK_OK;
    }
    o->is_npy = 1;
    size_t base = strlen(path) - 4;
    char name[1100];
    if (base + 16 > sizeof name) {
        snprintf(err->msg, sizeof err->msg, "--out path is too long");
        return err->code = AK_ERR_INVALID_ARG;
    }
    const int64_t shape3[3] = {r->n_layers, r->n_tokens, r->slots};
    struct {
        ak_npy_writer *w;
        const char *suffix;
        ak_dtype dtype;
        int ndim;
    } files[4] = {{&o->ids, ".ids.npy", AK_DTYPE_I32, 3},
                  {&o->weights, ".weights.npy", AK_DTYPE_F32, 3},
                  {&o->k, ".k.npy", AK_DTYPE_I32, 2},
                  {&o->entropy, ".entropy.npy", AK_DTYPE_F32, 2}};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%.*s%s", (int)base, path, files[i].suffix);
        if (same_file(name, input)) {
            snprintf(err->msg, sizeof err->msg, "--out %.200s would overwrite the input", name);
            return err->code = AK_ERR_INVALID_ARG;
        }
        ak_status s = ak_npy_writer_open(files[i].w, name, files[i].dtype, files[i].ndim, shape3, err);
        if (s) return s;
    }
    o->k32 = malloc((size_t)r->n_tokens * sizeof *o->k32);
    if (!o->k32) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->code = AK_ERR_NOMEM;
    }
    return AK_OK;
}

static ak_status output_close(route_output *o, ak_error *err) {
    ak_status s = AK_OK;
    if (o->jsonl) {
        if (fflush(o->jsonl) || ferror(o->jsonl)) {
            snprintf(err->msg, sizeof err->msg, "writing the JSON lines failed");
            s = err->code = AK_ERR_IO;
        }
        if (o->jsonl != stdout) fclose(o->jsonl);
        o->jsonl = NULL;
    }
    ak_npy_writer *w[4] = {&o->ids, &o->weights, &o->k, &o->entropy};
    for (int i = 0; i < 4; i++) {
        ak_error e;
        ak_status c = ak_npy_writer_close(w[i], &e);
        if (c && !s) {
            *err = e;
            s = c;
        }
    }
    free(o->k32);
    o->k32 = NULL;
    return s;
}

/* On failure: close everything and remove what was written. */
static void output_abort(route_output *o, const char *path) {
    if (o->jsonl && o->jsonl != stdout) {
        fclose(o->jsonl);
        remove(path);
    }
    o->jsonl = NULL;
    ak_npy_writer_abort(&o->ids);
    ak_npy_writer_abort(&o->weights);
    ak_npy_writer_abort(&o->k);
    ak_npy_writer_abort(&o->entropy);
    free(o->k32);
    o->k32 = NULL;
}

static int write_layer(void *ctx, int layer, const ak_route_out *out, ak_error *err) {
    route_output *o = ctx;
    if (o->is_npy) {
        size_t n = (size_t)out->n_tokens * (size_t)out->slots;
        for (int t = 0; t < out->n_tokens; t++) o->k32[t] = out->k[t];
        if (ak_npy_write(&o->ids, out->ids, n, err) || ak_npy_write(&o->weights, out->weights, n, err) ||
            ak_npy_write(&o->k, o->k32, (size_t)out->n_tokens, err) ||
            ak_npy_write(&o->entropy, out->entropy, (size_t)out->n_tokens, err))
            return -1;
        return 0;
    }
    for (int t = 0; t < out->n_tokens; t++) {
        const int32_t *ids = out->ids + (size_t)t * (size_t)out->slots;
        const float *w = out->weights + (size_t)t * (size_t)out->slots;
        fprintf(o->jsonl, "{\"layer\":%d,\"token\":%d,\"k\":%d,\"entropy\":%.7g,\"ids\":[", layer, t, out->k[t],
                (double)out->entropy[t]);
        for (int i = 0; i < out->k[t]; i++) fprintf(o->jsonl, i ? ",%d" : "%d", ids[i]);
        fputs("],\"weights\":[", o->jsonl);
        for (int i = 0; i < out->k[t]; i++) fprintf(o->jsonl, i ? ",%.7g" : "%.7g", (double)w[i]);
        fputs("]}\n", o->jsonl);
    }
    if (ferror(o->jsonl)) {
        snprintf(err->msg, sizeof err->msg, "writing the JSON lines failed");
        err->code = AK_ERR_IO;
        return -1;
    }
    return 0;
}

static void print_header(FILE *out, const char *input, const ak_logits *lg, const ak_router_config *c, int k_native,
                         const char *k_native_source, int k_native_derived) {
    char desc[200];
    fprintf(out, "adaptive-k route: %s\n", input);
    fprintf(out, "  input     %d layer%s x %d tokens x %d experts (%s%s)\n", lg->n_layers, lg->n_layers == 1 ? "" : "s",
            lg->n_tokens, lg->n_experts, ak_dtype_name(lg->source_dtype), lg->is_npy ? " .npy" : ", raw");
    if (c->n_layers == 0) {
        ak_policy_describe(&c->default_policy, desc, sizeof desc);
        fprintf(out, "  policy    %s%s\n", desc, lg->n_layers > 1 ? " (every layer)" : "");
    } else {
        for (int l = 0; l < c->n_layers; l++) {
            ak_policy_describe(&c->layers[l], desc, sizeof desc);
            fprintf(out, "  %s layer %d: %s\n", l ? "         " : "policy   ", l, desc);
        }
    }
    fprintf(out, "  weights   %s\n",
            c->renormalize ? "renormalised over the chosen experts" : "softmax over all experts (not renormalised)");
    fprintf(out, "  baseline  native top-%d (%s)\n", k_native, k_native_source);
    if (k_native_derived && k_native == lg->n_experts)
        fprintf(out, "            i.e. all %d experts: pass the model's top-k with --k-native N or --preset NAME\n",
                k_native);
}

int cmd_route(int argc, char **argv) {
    const char *out_path = NULL;
    int quiet = 0;
    ak_logits_args a;
    ak_logits_args_init(&a, "adaptive-k route", route_help, "adaptive-k route --help");
    ak_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if ((r = ak_cli_flag_value(argc, argv, &i, "--out", &v)) || (r = ak_cli_flag_value(argc, argv, &i, "-o", &v))) {
            if (r < 0) {
                fprintf(stderr, "adaptive-k route: --out needs a file name\n");
                return 2;
            }
            out_path = v;
        } else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if ((r = ak_logits_args_take(&a, argc, argv, &i)) >= 0) {
            return r;
        }
    }
    const char *input = a.input;
    int k_native = a.k_native;
    if (!input) {
        fprintf(stderr, "adaptive-k route: no INPUT file (see adaptive-k route --help)\n");
        return 2;
    }

    ak_logits lg;
    if (ak_logits_args_load(&a, &lg)) return 1;
    ak_router_config cfg;
    if (ak_logits_args_build(&a, &lg, 0, &cfg)) return 2;
    const char *k_native_source = "--k-native";
    int k_native_derived = !k_native && !a.flags.config_path[0] && !a.flags.preset[0];
    if (!k_native) {
        k_native = cfg.k_native;
        k_native_source = a.flags.config_path[0] ? "the router config's k_native"
                          : a.flags.preset[0]    ? "the preset's k_native"
                                                 : "the largest K the policy can choose; set with --k-native";
    }

    int rc = 1;
    ak_route_run run;
    route_output o;
    memset(&o, 0, sizeof o);
    if (ak_route_run_init(&run, &cfg, lg.n_layers, lg.n_tokens, lg.n_experts, &err)) {
        fprintf(stderr, "adaptive-k route: %s\n", err.msg);
        goto done_cfg;
    }
    if (out_path && output_open(&o, out_path, input, &run, &err)) {
        fprintf(stderr, "adaptive-k route: %s\n", err.msg);
        output_abort(&o, out_path);
        goto done;
    }
    ak_status s = ak_route_run_all(&run, &cfg, lg.data, out_path ? write_layer : NULL, &o, &err);
    if (s) {
        fprintf(stderr, "adaptive-k route: %s: %s\n", input, err.msg);
        if (out_path) output_abort(&o, out_path);
        goto done;
    }
    if (out_path && output_close(&o, &err)) {
        fprintf(stderr, "adaptive-k route: %s\n", err.msg);
        goto done;
    }
    if (!quiet) {
        FILE *sum = out_path && !strcmp(out_path, "-") ? stderr : stdout;
        print_header(sum, input, &lg, &cfg, k_native, k_native_source, k_native_derived);
        ak_route_run_print_summary(&run, k_native, sum);
        if (out_path && strcmp(out_path, "-")) {
            if (has_suffix(out_path, ".npy"))
                fprintf(sum, "  decisions written to %.*s.{ids,weights,k,entropy}.npy\n", (int)(strlen(out_path) - 4),
                        out_path);
            else
                fprintf(sum, "  decisions written to %s (JSON lines)\n", out_path);
        }
    }
    rc = 0;
done:
    ak_route_run_free(&run);
done_cfg:
    ak_config_free(&cfg);
    ak_logits_free(&lg);
    return rc;
}
