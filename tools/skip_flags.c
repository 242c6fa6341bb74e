/* skip_flags.c - the early-exit and pruning flags (skip_flags.h). */
#include "skip_flags.h"

#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"
#include "cli_util.h"
#include "engine_cli.h"
#include "eval/exit_calib.h"

void ak_skip_flags_init(ak_skip_flags *f) {
    memset(f, 0, sizeof *f);
    f->p = ak_skip_default_params();
}

int ak_skip_flags_parse(ak_skip_flags *f, int argc, char **argv, int i, ak_error *err) {
    static const char *const names[] = {"--exit-threshold", "--exit-layer",  "--exit-every", "--exit-target-layers",
                                        "--exit-calib",     "--prune-ratio", "--prune-layer", "--exit-measure",
                                        "--prune-by"};
    const char *eq = strchr(argv[i], '='); /* "--flag=value" or "--flag value" */
    const size_t len = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
    int k = 0;
    while (k < 9 && !(strlen(names[k]) == len && !strncmp(argv[i], names[k], len))) k++;
    if (k == 9) return 0;
    if (!eq && i + 1 >= argc) return ak_failf(err, AK_ERR_INVALID_ARG, "%s needs a value", names[k]), -1;
    const char *v = eq ? eq + 1 : argv[i + 1];
    float x = 0.0f;
    int bad = 0;
    switch (k) {
    case 0: bad = ak_cli_parse_float(v, &f->p.exit_threshold); break;
    case 1: bad = ak_cli_parse_int(v, &f->p.exit_layer); break;
    case 2: bad = ak_cli_parse_int(v, &f->p.exit_every); break;
    case 3: bad = ak_cli_parse_float(v, &x) || !(x > 0.0f), f->target_layers = x; break;
    case 4: f->calib_path = v; break;
    case 5: bad = ak_cli_parse_float(v, &f->p.prune_ratio); break;
    case 6: bad = ak_cli_parse_int(v, &f->p.prune_layer); break;
    case 7:
        if (!strcmp(v, "top1")) f->p.exit_measure = AK_EXIT_TOP1;
        else if (!strcmp(v, "saturation")) f->p.exit_measure = AK_EXIT_SATURATION;
        else return ak_failf(err, AK_ERR_INVALID_ARG, "--exit-measure '%s': use top1 or saturation", v), -1;
        break;
    case 8:
        if (!strcmp(v, "attention")) f->p.prune_by = AK_PRUNE_ATTENTION;
        else if (!strcmp(v, "oldest")) f->p.prune_by = AK_PRUNE_OLDEST;
        else return ak_failf(err, AK_ERR_INVALID_ARG, "--prune-by '%s': use attention or oldest", v), -1;
        break;
    }
    if (bad) return ak_failf(err, AK_ERR_INVALID_ARG, "%s '%s' is not a %s", names[k], v,
                             k == 1 || k == 2 || k == 6 ? "layer count or index" : "positive number"), -1;
    f->given = 1;
    return eq ? 1 : 2;
}

void ak_skip_flags_help(FILE *out) {
    fprintf(out,
            "early exit and prompt pruning (docs/stacking.md; off by default):\n"
            "  --exit-threshold P     a token whose confidence reaches P after a checked layer skips the\n"
            "                         layers after it (its K/V there filled from its state)\n"
            "  --exit-measure M       top1: the top token's probability (final norm + head on the hidden\n"
            "                         state; a check costs a head), or saturation: cos(state before the\n"
            "                         layer, after it) (a check costs 3 n_embd) (default top1)\n"
            "  --exit-layer L         the first layer checked (0-based; default 0), up to n_layer - 2\n"
            "  --exit-every N         check every N layers from there (default 1)\n"
            "  --exit-target-layers X calibrate P for X layers per token on average, on --exit-calib's text\n"
            "  --exit-calib FILE      the calibration text (a validation text, not the one measured)\n"
            "  --prune-ratio R        drop this fraction of a prompt's tokens (the last one is kept) after\n"
            "  --prune-layer L        layer L, ranked by the last token's attention there (LazyLLM-style)\n"
            "  --prune-by B           attention (default) or oldest: drop the earliest tokens instead (the\n"
            "                         static alternative, a shorter context at the same compute)\n");
}

int ak_skip_flags_apply(ak_skip_flags *f, ak_session *s, int n_ctx, const char *cmd, FILE *out) {
    ak_error err = {0};
    if (f->target_layers > 0.0) {
        if (!f->calib_path) {
            fprintf(stderr, "%s: --exit-target-layers needs --exit-calib FILE (a validation text)\n", cmd);
            return -1;
        }
        size_t len = 0;
        char *text = ak_cli_read_text(f->calib_path, &len, &err);
        int32_t *toks = NULL;
        int n = text ? ak_session_tokenize(s, text, len, 1, &toks, &err) : -1;
        free(text);
        ak_ppl_params pp = ak_session_ppl_params(s, n_ctx, n_ctx < s->n_batch ? n_ctx : s->n_batch, -1);
        float thr = 0.0f;
        double est = 0.0;
        if (n < 0 || ak_exit_calibrate(s->ctx, toks, n, &pp, &f->p, f->target_layers, &thr, &est, &err)) {
            fprintf(stderr, "%s: --exit-calib %s: %s\n", cmd, f->calib_path, err.msg);
            free(toks);
            return -1;
        }
        free(toks);
        f->p.exit_threshold = thr;
        ak_context_reset_stats(s->ctx);
        fprintf(out, "early exit: threshold %.9g calibrated on %s for %.3g layers per token (%.3f there)\n", (double)thr,
                f->calib_path, f->target_layers, est);
    } else if (f->calib_path) {
        fprintf(stderr, "%s: --exit-calib needs --exit-target-layers X\n", cmd);
        return -1;
    }
    if (ak_context_set_skip(s->ctx, &f->p, &err)) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return -1;
    }
    return 0;
}
