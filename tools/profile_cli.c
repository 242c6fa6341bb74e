/* profile_cli.c - the input and run of a sensitivity profile (see profile_cli.h). */
#include "base/errfmt.h"
#include "profile_cli.h"

#include <stdlib.h>

#include "engine_cli.h"

int ak_cli_profile_tokens(const ak_session *s, const ak_profile_opts *o, int32_t **out, ak_error *err) {
    if (o->data_free) {
        const int64_t n = (int64_t)o->random_chunks * o->n_ctx;
        if (!(*out = malloc((size_t)n * sizeof **out))) {
            ak_failf(err, AK_ERR_NOMEM, "out of memory for %lld random tokens", (long long)n);
            return -1;
        }
        ak_profile_random_tokens(*out, n, ak_model_hparams(s->model)->n_vocab, (uint64_t)o->seed);
        return (int)n;
    }
    size_t len = 0;
    char *text = ak_cli_read_text(o->text_path, &len, err);
    if (!text) return -1;
    int n = ak_session_tokenize(s, text, len, ak_tokenizer_add_bos(s->tok), out, err);
    free(text);
    return n;
}

int ak_cli_profile_run(ak_session *s, const ak_profile_opts *o, const int32_t *tokens, int64_t n, ak_profile *p,
                       FILE *log, ak_error *err) {
    ak_ppl_params pp = ak_session_ppl_params(s, o->n_ctx, o->n_ctx, o->n_chunks);
    if (ak_profile_init(p, s->model, n, err)) return -1;
    if (ak_profile_run(p, s->ctx, tokens, n, &pp, o->exact_chunks, log, err)) return -1;
    ak_profile_set_objective(p, (ak_objective)o->objective);
    return 0;
}
