/* calibrate_allocate.c - see calibrate_allocate.h. */
#include "base/errfmt.h"
#include "calibrate_allocate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cli.h"
#include "eval/allocate.h"

static int parse_rules(const char *rule, int *use) {
    memset(use, 0, AK_RULE_COUNT * sizeof *use);
    if (!strcmp(rule, "auto")) {
        for (int r = 0; r < AK_RULE_COUNT; r++) use[r] = 1;
        return 0;
    }
    ak_alloc_rule r;
    if (ak_alloc_rule_parse(rule, &r)) return -1;
    use[r] = 1;
    return 0;
}

static void print_result(const ak_allocate_opts *o, const ak_profile *p, const ak_allocation *a,
                         const ak_router_config *cfg) {
    printf("rule %s, predicted cost %.5f%s; per-layer budgets (average K) and policies:\n", ak_alloc_rule_name(a->rule),
           a->predicted, " (summed over layers)");
    for (int l = 0; l < a->n_layer; l++) {
        char desc[200];
        ak_policy_describe(&cfg->layers[p->layer_of[l]], desc, sizeof desc);
        printf("  layer %d: %.4f  %s\n", p->layer_of[l], a->budget[l], desc);
    }
    printf("achieved average K %.4f on the profiled router logits (target %.4f, %+.2f%%), %.1f%% expert compute saved "
           "vs top-%d\nwrote %s\n",
           a->achieved, o->target, 100.0 * (a->achieved - o->target) / o->target,
           100.0 * (1.0 - a->achieved / cfg->k_native), cfg->k_native, o->out_path);
}

typedef struct {
    ak_session s;
    int32_t *tokens;
    int n_tokens;
    ak_profile p;
    ak_allocation a;
    ak_router_config cfg;
} state;

static int allocate(const ak_allocate_opts *o, state *st, int n_profile, int n_hold, ak_error *err) {
    int use[AK_RULE_COUNT];
    if (parse_rules(o->rule, use)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "--rule takes auto, fixed, ratio, top-p, threshold or entropy, not '%s'", o->rule);
        return 2;
    }
    ak_profile_opts po = o->prof;
    po.n_chunks = n_profile;
    fprintf(stderr, "calibrate: profiling %d chunks of %d tokens%s\n", n_profile, po.n_ctx,
            n_hold ? ", the rest chooses the rule" : "");
    if (ak_cli_profile_run(&st->s, &po, st->tokens, (int64_t)n_profile * po.n_ctx, &st->p, stderr, err))
        return 1;
    if (!n_hold) {
        ak_alloc_rule r;
        ak_alloc_rule_parse(o->rule, &r);
        return ak_allocate(&st->p, r, o->target, &st->a, &st->cfg, err) ? 1 : 0;
    }
    ak_ppl_params pp = ak_session_ppl_params(&st->s, po.n_ctx, po.n_ctx, n_hold);
    const int32_t *hold = st->tokens + (size_t)n_profile * po.n_ctx;
    printf("choosing the rule on %d held-out chunks (%s):\n", n_hold, po.data_free ? "mean KL to native" : "mean NLL");
    return ak_allocate_choose(&st->p, use, o->target, po.data_free, st->s.ctx, hold, (int64_t)n_hold * po.n_ctx, &pp,
                              &st->a, &st->cfg, stdout, err) ? 1 : 0;
}

static int run(const ak_allocate_opts *o, state *st, ak_error *err) {
    ak_profile_opts po = o->prof;
    ak_session_opts so = {.n_ctx = po.n_ctx, .ctx_at_most_train = 1, .n_threads = o->n_threads};
    if (ak_session_open(&st->s, o->model_path, &so, err)) return 1;
    po.n_ctx = st->s.n_ctx;
    if ((st->n_tokens = ak_cli_profile_tokens(&st->s, &po, &st->tokens, err)) < 0) return 1;
    int total = st->n_tokens / po.n_ctx;
    if (po.n_chunks > 0 && po.n_chunks < total) total = po.n_chunks;
    int n_hold = strcmp(o->rule, "auto") ? 0 : o->holdout_chunks >= 0 ? o->holdout_chunks : total / 4;
    if (total - n_hold < 2 || (!strcmp(o->rule, "auto") && n_hold < 1)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "the calibration text has %d chunks of %d tokens: too few to profile%s", total, po.n_ctx,
                 n_hold ? " and keep chunks out to choose the rule" : "");
        return 1;
    }
    ak_allocate_opts oo = *o;
    oo.prof = po;
    int rc = allocate(&oo, st, total - n_hold, n_hold, err);
    if (rc) return rc;
    snprintf(st->cfg.name, sizeof st->cfg.name, "%s", o->name ? o->name : "allocated");
    snprintf(st->cfg.provenance, sizeof st->cfg.provenance,
             "adaptive-k calibrate --allocate on %.60s (%d chunks of %d, exact %d) with %.50s: rule %s, target avg K %g",
             po.data_free ? "random tokens" : po.text_path, total - n_hold, po.n_ctx, po.exact_chunks, o->model_path,
             ak_alloc_rule_name(st->a.rule), o->target);
    ak_error aerr = {0};
    if (ak_config_save(o->out_path, &st->cfg, &aerr)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "%s", aerr.msg);
        return 1;
    }
    print_result(o, &st->p, &st->a, &st->cfg);
    return 0;
}

int ak_cli_calibrate_allocate(const ak_allocate_opts *o) {
    state st;
    memset(&st, 0, sizeof st);
    ak_error err = {0};
    int rc = run(o, &st, &err);
    if (rc) fprintf(stderr, "calibrate: %s\n", err.msg);
    free(st.tokens);
    ak_allocation_free(&st.a);
    ak_config_free(&st.cfg);
    ak_profile_free(&st.p);
    ak_session_close(&st.s);
    return rc;
}
